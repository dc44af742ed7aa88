"""The central service on PostgreSQL under hundreds of liaisons syncing at once.

Set-up: a throwaway database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards), several
``fycli serve`` processes on it (different ports, one database), ``pg_units`` units seeded with
tickets and up to 300 liaisons spread over the units. Every liaison first pulls its unit
(warm-up, measured too), then at each load level N the first N liaisons loop as fast as they
can for ``pg_seconds``: push 1-3 actions (a note, and a sign-for while the ticket is still
assigned — two liaisons of one unit racing for a ticket get a normal ``rejected``), then pull
until ``has_more`` is false. Clients are spread round-robin over the server processes.

An *error* is anything but a 2xx answer or a transport failure; a ``rejected`` action is a
decision, not an error. Budget: 0 errors. Latency is per HTTP request, p50 and p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench.context import Context
from bench.fixtures import Central, start_central
from bench.harness import Figure, log, percentile, start_server

NAME = "pg_load"
PG_ADMIN_URL = os.environ.get("FYCLI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
SERVERS = 3


@contextlib.contextmanager
def throwaway_database() -> Iterator[str]:
    """CREATE DATABASE fybench_…; yields its URL; DROP … WITH (FORCE) afterwards."""
    import psycopg

    name = f"fybench_{os.getpid()}_{secrets.token_hex(3)}"
    admin_url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Liaison:
    token: str
    unit_id: str
    base_url: str
    client_id: str = field(default_factory=lambda: "bench" + uuid.uuid4().hex[:16])
    cursor: str | None = None
    seq: int = 0
    tickets: dict[str, dict] = field(default_factory=dict)  # id -> {status, unit_id, epoch}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    by_call: dict[str, list[float]] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    applied: int = 0
    rejected: int = 0
    syncs: int = 0
    tickets_pulled: int = 0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


async def _call(client: httpx.AsyncClient, tally: Tally, method: str, path: str, **kw) -> dict | None:
    start = time.perf_counter()
    try:
        resp = await client.request(method, path, **kw)
    except httpx.HTTPError as exc:
        tally.requests += 1
        tally.error(f"{method} {path}: {type(exc).__name__}: {exc}")
        return None
    took = time.perf_counter() - start
    tally.latencies.append(took)
    tally.by_call.setdefault(path.rsplit("/", 1)[-1], []).append(took)
    tally.requests += 1
    if resp.status_code >= 300:
        tally.error(f"{method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
        return None
    return orjson.loads(resp.content)


async def _pull_all(client: httpx.AsyncClient, who: Liaison, tally: Tally) -> None:
    while True:
        params = {"cursor": who.cursor} if who.cursor else {}
        page = await _call(client, tally, "GET", "/v1/sync/pull", params=params)
        if page is None:
            return
        if page.get("reset"):
            who.cursor, who.tickets = None, {}
            continue
        for tk in page.get("tickets", []):
            who.tickets[tk["id"]] = {"status": tk["status"], "unit_id": tk["unit_id"], "epoch": tk["epoch"]}
            tally.tickets_pulled += 1
        for tid in page.get("removed", []):
            who.tickets.pop(tid, None)
        who.cursor = page["cursor"]
        if not page.get("has_more"):
            return


def _actions(who: Liaison, rng: random.Random) -> list[dict]:
    now = dt.datetime.now(dt.UTC).isoformat()
    ids = list(who.tickets)
    if not ids:
        return []
    out = []
    for _ in range(rng.randint(1, 3)):
        tid = ids[int(rng.random() * len(ids))]
        base = who.tickets[tid]
        common = {"action_id": uuid.uuid4().hex, "ticket_id": tid, "created_at": now, "base": base}
        if base["status"] == "assigned" and rng.random() < 0.5:
            out.append({**common, "kind": "accept"})
        else:
            out.append(
                {
                    **common,
                    "kind": "note",
                    "note_id": uuid.uuid4().hex,
                    "text": "已到现场查看，正在协调处理。",
                }
            )
    return out


async def _push(client: httpx.AsyncClient, who: Liaison, tally: Tally, rng: random.Random) -> None:
    actions = _actions(who, rng)
    if not actions:
        return
    queued = []
    for action in actions:
        who.seq += 1
        queued.append({"seq": who.seq, "action": action})
    body = orjson.dumps({"client_id": who.client_id, "actions": queued})
    answer = await _call(
        client, tally, "POST", "/v1/sync/push", content=body, headers={"Content-Type": "application/json"}
    )
    if answer is None:
        return
    for result in answer.get("results", []):
        if result["outcome"] == "applied":
            tally.applied += 1
        elif result["outcome"] == "rejected":
            tally.rejected += 1


async def _liaison_loop(who: Liaison, tally: Tally, stop_at: float, seed: int, limit: httpx.Limits) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {who.token}"}
    async with httpx.AsyncClient(base_url=who.base_url, headers=headers, timeout=60, limits=limit) as client:
        while time.monotonic() < stop_at:
            await _push(client, who, tally, rng)
            await _pull_all(client, who, tally)
            tally.syncs += 1


async def _warm_up(liaisons: list[Liaison], tally: Tally) -> None:
    async def one(who: Liaison) -> None:
        headers = {"Authorization": f"Bearer {who.token}"}
        async with httpx.AsyncClient(base_url=who.base_url, headers=headers, timeout=120) as client:
            await _pull_all(client, who, tally)

    await asyncio.gather(*(one(w) for w in liaisons))


def _run_level(liaisons: list[Liaison], seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def main() -> float:
        start = time.monotonic()
        stop_at = start + seconds
        await asyncio.gather(*(_liaison_loop(w, tally, stop_at, i, limits) for i, w in enumerate(liaisons)))
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    return tally, elapsed


def _proc_cpu(pid: int, tick: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _postgres_pids() -> list[int]:
    """The PostgreSQL processes on this machine (read-only: their CPU counters)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _cpu_seconds(server_pids: list[int]) -> tuple[float, float, dict[int, float]]:
    """CPU seconds used so far by this process (the load generator), by the servers, and by
    each PostgreSQL process (compare two snapshots pid by pid: backends come and go)."""
    own = os.times()
    tick = os.sysconf("SC_CLK_TCK")
    servers = sum(_proc_cpu(pid, tick) for pid in server_pids)
    return own.user + own.system, servers, {pid: _proc_cpu(pid, tick) for pid in _postgres_pids()}


def _pg_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _townships(k: int) -> list[tuple[str, str]]:
    from central.seed_data import COUNTIES

    pairs = [(c, t) for c, towns in COUNTIES.items() for t in towns]
    names = [t for _, t in pairs]
    unique = [(c, t) for c, t in pairs if names.count(t) == 1]
    # Spread over the counties: take round-robin.
    by_county: dict[str, list[tuple[str, str]]] = {}
    for c, t in unique:
        by_county.setdefault(c, []).append((c, t))
    out: list[tuple[str, str]] = []
    while len(out) < k and any(by_county.values()):
        for towns in by_county.values():
            if towns and len(out) < k:
                out.append(towns.pop(0))
    return out


def run(ctx: Context) -> list[Figure]:
    s = ctx.settings
    n_max = max(s.pg_levels)
    servers_n = 2 if ctx.quick else SERVERS
    tickets_per_unit = 30 if ctx.quick else 100
    figures: list[Figure] = []
    with throwaway_database() as db_url:
        central: Central = start_central(ctx.work, db_url=db_url, name="pg-0")
        others = []
        try:
            with ThreadPoolExecutor(servers_n) as pool:
                others = list(
                    pool.map(
                        lambda i: start_server(
                            db_url, ctx.work.sub(f"pg-{i}"), env={"FYCLI_ADMIN_TOKEN": central.admin_token}
                        ),
                        range(1, servers_n),
                    )
                )
            urls = [central.url] + [o.url for o in others]
            procs = [central.server.proc.pid] + [o.proc.pid for o in others]
            townships = _townships(s.pg_units)
            log(f"{NAME}: {servers_n} servers on {db_url.rsplit('/', 1)[1]}; seeding {len(townships)} units")
            units = []
            for i, (county, township) in enumerate(townships):
                units.append(central.seed_unit(county, township, tickets_per_unit, seed=100 + i))
            liaisons: list[Liaison] = []
            with central.admin() as admin:
                for i in range(n_max):
                    unit = units[i % len(units)]
                    if i < len(units):
                        token = unit.liaison_token
                    else:
                        resp = admin.post(
                            "/v1/admin/liaisons", json={"name": f"联络员{i}", "unit_id": unit.unit_id}
                        )
                        resp.raise_for_status()
                        token = resp.json()["token"]
                    liaisons.append(Liaison(token, unit.unit_id, urls[i % len(urls)]))

            warm = Tally()
            t0 = time.monotonic()
            asyncio.run(_warm_up(liaisons, warm))
            warm_s = time.monotonic() - t0
            figures.append(
                Figure(
                    NAME,
                    f"warm-up: {n_max} liaisons' first pulls at once",
                    warm_s,
                    "s",
                    runs=1,
                    budget="0 errors",
                    ok=warm.errors == 0,
                    note=f"{warm.tickets_pulled:,} tickets, p99 {percentile(warm.latencies, 99) * 1000:.0f} ms, "
                    f"{warm.errors} errors",
                )
            )
            for n in s.pg_levels:
                log(f"{NAME}: {n} liaisons for {s.pg_seconds:.0f} s over {servers_n} servers")
                cpu_before = _cpu_seconds(procs)
                tally, elapsed = _run_level(liaisons[:n], s.pg_seconds)
                cpu_after = _cpu_seconds(procs)
                gen_cpu, srv_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
                pg_cpu = _pg_delta(cpu_before[2], cpu_after[2])
                rps = tally.requests / elapsed
                p50 = percentile(tally.latencies, 50) * 1000
                p99 = percentile(tally.latencies, 99) * 1000
                per_call = ", ".join(
                    f"{call} p50 {percentile(v, 50) * 1000:.0f} ms"
                    for call, v in sorted(tally.by_call.items())
                )
                note = (
                    f"{tally.syncs / elapsed:.0f} syncs/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms ({per_call}), "
                    f"{tally.applied} applied / {tally.rejected} rejected; CPU s: servers {srv_cpu:.0f}, "
                    f"PostgreSQL {pg_cpu:.0f}, load generator {gen_cpu:.0f}, of {2 * elapsed:.0f}"
                )
                figures += [
                    Figure(NAME, f"{n} liaisons: throughput", rps, "req/s", runs=1, note=note),
                    Figure(NAME, f"{n} liaisons: latency p50", p50, "ms", runs=1),
                    Figure(NAME, f"{n} liaisons: latency p99", p99, "ms", runs=1),
                    Figure(
                        NAME,
                        f"{n} liaisons: errors",
                        tally.errors,
                        "",
                        budget="0",
                        limit=0,
                        runs=1,
                        note="; ".join(tally.error_samples)[:200],
                    ),
                ]
        finally:
            for o in others:
                o.stop()
            central.server.stop()
    return figures
