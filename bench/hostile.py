"""The central service under hostile clients (issue 10): what an unauthenticated request may
cost, and whether a liaison still syncs while a thousand sockets hang on the server.

    python -m bench.hostile            # ~1 minute; the table goes to stdout (Markdown)
    python -m bench.hostile --runs 5   # more repetitions per figure

Figures (a real ``fycli serve`` with its default limits on a SQLite file, loopback only):

- **server CPU per unauthenticated request** (median over ``--runs`` batches of 20): a 61 KB
  gzip bomb inflating to 20 million ``{}``; a 16 MiB plain body; a 1 MiB plain body (read and
  dropped so the client reads its 401). Budget < 20 ms. Reported beside the floor: a
  ``GET /v1/health`` in the same run.
- **server peak-memory growth** (VmHWM from /proc, before → after all the batches of a kind).
  Budget < 10 MB.
- **a liaison's first sync** (``fycli sync`` as a process, 50 tickets) while 1,000 idle and 500
  slowloris sockets are open, beside the same sync with none. Budget < 2 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx

from bench.harness import FYCLI, Figure, Workdir, log, median, render_table, start_server

BATCH = 20
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def _bomb() -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"{}," * 1_000_000
    return b"".join([squeeze.compress(b"["), *(squeeze.compress(block) for _ in range(20)),
                     squeeze.compress(b"{}]"), squeeze.flush()])  # fmt: skip


def _raw_request(address: tuple[str, int], head: bytes, body: bytes) -> bytes:
    """Send ``head`` + ``body`` on a new socket (the server may close before it is all sent)
    and return the first bytes of the answer."""
    with socket.create_connection(address, timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)
        with contextlib.suppress(ConnectionResetError):
            return sock.recv(200)
    return b""


def _post_head(length: int, gzipped: bool = False) -> bytes:
    encoding = "Content-Encoding: gzip\r\n" if gzipped else ""
    return (f"POST /v1/sync/push HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"{encoding}Content-Length: {length}\r\n\r\n").encode()  # fmt: skip


def unauthenticated(url: str, pid: int, runs: int) -> list[Figure]:
    host, port = url.removeprefix("http://").split(":")
    address = (host, int(port))
    bomb = _bomb()
    cases = {
        f"gzip bomb ({len(bomb) // 1000} KB → 40 MB of {{}})": (_post_head(len(bomb), True), bomb),
        "16 MiB plain body": (_post_head(16 << 20), b"[" + b"[]," * ((16 << 20) // 3 - 1) + b"[]]"),
        "1 MiB plain body (drained)": (_post_head(1 << 20), b"[" * (1 << 20)),
    }
    figures = []
    with httpx.Client(base_url=url) as client:
        floor = []
        for _ in range(runs):
            start = _cpu_seconds(pid)
            for _ in range(BATCH):
                client.get("/v1/health").raise_for_status()
            floor.append((_cpu_seconds(pid) - start) / BATCH * 1000)
    figures.append(Figure("hostile", "server CPU: GET /v1/health (floor)", median(floor), "ms",
                          runs=runs, samples=floor))  # fmt: skip
    for name, (head, body) in cases.items():
        peak_before = _peak_kib(pid)
        per_request, statuses = [], set()
        for _ in range(runs):
            start = _cpu_seconds(pid)
            for _ in range(BATCH):
                statuses.add(_raw_request(address, head, body)[9:12].decode() or "closed")
            per_request.append((_cpu_seconds(pid) - start) / BATCH * 1000)
        grew = (_peak_kib(pid) - peak_before) / 1024
        answered = "answered " + "/".join(sorted(statuses))
        figures.append(Figure("hostile", f"server CPU: unauthenticated {name}", median(per_request), "ms",
                              budget="< 20 ms", limit=20.0, runs=runs, samples=per_request, note=answered))  # fmt: skip
        figures.append(Figure("hostile", f"server peak RSS growth: {name}", grew, "MB",
                              budget="< 10 MB", limit=10.0, note=f"{runs * BATCH} requests, {answered}"))  # fmt: skip
    return figures


def _liaison(url: str, admin_token: str, tickets: int) -> str:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60) as admin:
        admin.post("/v1/admin/units", json={"id": "t-bench", "name": "西湖镇人民政府"}).raise_for_status()
        token = admin.post("/v1/admin/liaisons", json={"name": "张三", "unit_id": "t-bench"}).json()["token"]
        for i in range(tickets):
            ticket_id = f"H-{i:05d}"
            admin.post("/v1/admin/tickets", json={
                "kind": "register", "ticket_id": ticket_id, "created_at": "2026-12-01T09:00:00+08:00",
                "channel": "hotline_12345", "appeal_type": "complaint", "category": "城市管理",
                "title": f"路灯不亮 {i}", "description": "王庄村路灯坏了三天。", "citizen_name": "王小明",
                "citizen_phone": "13812345678", "address": "西湖镇王庄村", "county": "颍州区",
                "township": "西湖镇", "complexity": "general",
            }).raise_for_status()  # fmt: skip
            admin.post(f"/v1/admin/tickets/{ticket_id}/actions", json={
                "kind": "assign", "ticket_id": ticket_id, "created_at": "2026-12-01T09:00:00+08:00",
                "unit_id": "t-bench"}).raise_for_status()  # fmt: skip
    return token


def _timed_sync(url: str, token: str, home: Path) -> float:
    env = {**os.environ, "FYCLI_CONFIG_DIR": str(home)}
    token_file = home.parent / f"{home.name}.token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    subprocess.run([*FYCLI, "init", "--server", url, "--token-file", str(token_file)], env=env,
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    start = time.perf_counter()
    subprocess.run([*FYCLI, "sync"], env=env, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - start


def sockets_while_syncing(url: str, admin_token: str, work: Path, runs: int) -> list[Figure]:
    token = _liaison(url, admin_token, 50)
    host, port = url.removeprefix("http://").split(":")
    quiet = [_timed_sync(url, token, work / f"quiet-{i}") for i in range(runs)]
    busy = []
    for i in range(runs):
        hostile = [socket.create_connection((host, int(port))) for _ in range(1000)]
        for _ in range(500):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: bench\r\nX-Slow: ")  # and never more
            hostile.append(sock)
        try:
            busy.append(_timed_sync(url, token, work / f"busy-{i}"))
        finally:
            for sock in hostile:
                sock.close()
    load = Path("/proc/loadavg").read_text().split()[0]
    return [
        Figure("hostile", "first sync of 50 tickets, no hostile sockets", median(quiet), "s", runs=runs,
               samples=quiet, note=f"`fycli sync` process; load average {load}"),
        Figure("hostile", "the same sync beside 1,000 idle + 500 slowloris sockets", median(busy), "s",
               budget="< 2 s", limit=2.0, runs=runs, samples=busy,
               note=f"{median(busy) / median(quiet):.2f}× the quiet sync"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = Workdir()
    admin_token = "fyadm_bench_" + secrets.token_hex(16)
    env = {"FYCLI_ADMIN_TOKEN": admin_token, "FYCLI_DATA_DIR": str(work.sub("data"))}
    server = start_server(f"sqlite:///{work.sub('db') / 'central.db'}", work.sub("logs"), env=env)
    try:
        log("unauthenticated requests …")
        figures = unauthenticated(server.url, server.proc.pid, args.runs)
        log("sync beside hostile sockets …")
        figures += sockets_while_syncing(server.url, admin_token, work.sub("liaisons"), args.runs)
    finally:
        server.stop()
    print(render_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
