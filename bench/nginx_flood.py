"""A flooding token against a normal liaison's latency, through the production layout.

The layout of deploy/ as tests/deploy/ runs it: Debian's nginx with the shipped config (TLS,
per-token rate limit), two ``fycli serve`` on one throwaway PostgreSQL database. A normal
liaison syncs at a steady pace (a pull page, then a one-note push, ``--rate`` requests a
second: under its own token's limit) once with the service quiet and once while another
token, from another address, floods ``GET /v1/sync/pull`` from ``--flooders`` threads as fast
as nginx answers. The figure is the normal liaison's p99 per request in each phase, phases
alternating ``--runs`` times; budget: the flooded p99 within 20% of the quiet p99.

    python -m bench.nginx_flood                 # ~2 minutes on the 2-core machine
    python -m bench.nginx_flood --requests 40 --runs 1   # a quick look
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.harness import percentile
from tests.deploy.layout import Layout, run_layout
from tests.pki import make_pki
from tests.servers import fresh_pg_database, liaison_action, push_body

BUDGET_RATIO = 1.2


def _client(layout: Layout, token: str, source: str) -> httpx.Client:
    trust = ssl.create_default_context(cafile=str(layout.pki / "ca.pem"))
    transport = httpx.HTTPTransport(verify=trust, local_address=source)
    return httpx.Client(base_url=layout.nginx.url, transport=transport, timeout=30.0,
                        headers={"Authorization": f"Bearer {token}"})  # fmt: skip


def _flood(url: str, ca: str, token: str, source: str, threads: int, stop, counts) -> None:
    """The flooding token, in its own process (own interpreter: its threads do not take the
    normal liaison's GIL): ``threads`` loops of ``GET /v1/sync/pull`` until ``stop`` is set."""
    # On a deployment the flooder's own CPU is on its own machine; here it shares the 2 cores.
    # Lowest priority: what its requests cost nginx and the app is still paid in full.
    os.nice(19)
    trust = ssl.create_default_context(cafile=ca)
    tally: Counter[int] = Counter()
    lock = threading.Lock()

    def loop() -> None:
        transport = httpx.HTTPTransport(verify=trust, local_address=source)
        with httpx.Client(base_url=url, transport=transport, timeout=30.0,
                          headers={"Authorization": f"Bearer {token}"}) as http:  # fmt: skip
            while not stop.is_set():
                status = http.get("/v1/sync/pull", params={"limit": 100}).status_code
                with lock:
                    tally[status] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    counts.update({str(k): v for k, v in tally.items()})


def _normal_phase(http: httpx.Client, ticket_id: str, n: int, rate: float, seq: list[int]) -> list[float]:
    """``n`` paced requests (pull, push, pull, …); their latencies in ms. Any non-200 aborts."""
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)  # the liaison's pace, not a wait for work
        began = time.perf_counter()
        if i % 2 == 0:
            response = http.get("/v1/sync/pull", params={"limit": 100})
        else:
            ticket = http.get(f"/v1/tickets/{ticket_id}").json()["ticket"]
            seq[0] += 1
            note = liaison_action("note", ticket, text=f"第{seq[0]}次跟进")
            response = http.post("/v1/sync/push", json=push_body("bench-normal-pc", [note], seq[0]))
        latencies.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"the normal liaison got {response.status_code}: {response.text[:200]}")
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=80, help="normal requests per phase")
    parser.add_argument("--rate", type=float, default=6.0, help="normal requests per second")
    parser.add_argument("--runs", type=int, default=3, help="quiet/flooded phase pairs")
    parser.add_argument("--flooders", type=int, default=4, help="threads of the flooding token")
    args = parser.parse_args(argv)
    spawn = multiprocessing.get_context("spawn")

    with tempfile.TemporaryDirectory(prefix="fybench-nginx-") as tmp, fresh_pg_database() as pg_url:
        d = Path(tmp)
        with run_layout(d, pg_url, make_pki(d / "pki")) as layout:
            admin = layout.apps[0]
            admin.add_unit("t-xq", "西湖镇人民政府")
            normal, flooder = admin.add_liaison("t-xq", "张三"), admin.add_liaison("t-xq", "刷接口")
            ids = admin.register_and_assign("t-xq", 50)
            quiet: list[float] = []
            flooded: list[float] = []
            flood_statuses: Counter[int] = Counter()
            seq = [0]
            with _client(layout, normal, "127.0.0.21") as http:
                for run in range(args.runs):
                    print(f"run {run + 1}/{args.runs}: quiet", file=sys.stderr)
                    quiet += _normal_phase(http, ids[0], args.requests, args.rate, seq)
                    stop, counts = spawn.Event(), spawn.Manager().dict()
                    flooding = spawn.Process(target=_flood, args=(layout.nginx.url, str(layout.pki / "ca.pem"),
                                             flooder, "127.0.0.22", args.flooders, stop, counts))  # fmt: skip
                    flooding.start()
                    print(f"run {run + 1}/{args.runs}: flooded", file=sys.stderr)
                    try:
                        flooded += _normal_phase(http, ids[0], args.requests, args.rate, seq)
                    finally:
                        stop.set()
                        flooding.join(60)
                    flood_statuses.update({int(k): v for k, v in counts.items()})
    q99, f99 = percentile(quiet, 99), percentile(flooded, 99)
    ratio = f99 / q99
    verdict = "ok" if ratio <= BUDGET_RATIO else "MISSED"
    print(f"machine: {os.cpu_count()} cpus, load {Path('/proc/loadavg').read_text().split()[0]}")
    print("| figure | value |\n|---|---|")
    print(f"| normal liaison p50, quiet | {percentile(quiet, 50):.1f} ms |")
    print(f"| normal liaison p99, quiet | {q99:.1f} ms |")
    print(f"| normal liaison p50, flooded | {percentile(flooded, 50):.1f} ms |")
    print(f"| normal liaison p99, flooded | {f99:.1f} ms |")
    print(f"| flooded p99 ÷ quiet p99 | {ratio:.2f} × (budget ≤ {BUDGET_RATIO} ×: {verdict}) |")
    total = sum(flood_statuses.values())
    print(f"| flood requests (status: count) | {dict(flood_statuses)} of {total} |")
    print(f"| samples per phase kind | {len(quiet)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
