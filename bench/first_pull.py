"""First full pull of the big unit into a new replica, against the raw limit of the same run.

Each timed pull runs ``python -m bench.pull_client`` (a new process: a fresh replica file, a
real ``SyncClient`` and the real sync engine over HTTP to ``fycli serve`` on loopback), so the
process's peak memory is the client's alone. The time is the sync call only (imports excluded).

The raw limit (:mod:`bench.rawlimit`) decodes the very bytes the server sent for the same
pages and bulk-inserts them into SQLite in one transaction. Pulls and limits alternate so a
slow phase of the machine hits both alike.

One more pull goes through the fault proxy in "perfect" mode, which counts the bytes on the
wire (HTTP headers and bodies, both directions) without changing them.
"""

from __future__ import annotations

import sys

from bench.context import Context
from bench.fixtures import checkpoint
from bench.harness import Figure, log, median, run_json
from bench.netem.fault_proxy import FaultProxy
from bench.rawlimit import decode_and_insert, fetch_pages

NAME = "first_pull"


def _pull(ctx: Context, url: str, db, timeout: float) -> dict:
    token = ctx.big_unit().liaison_token
    argv = [sys.executable, "-m", "bench.pull_client", "--url", url, "--token", token, "--db", str(db)]
    return run_json([*argv, "--create"], timeout=timeout)


def run(ctx: Context) -> list[Figure]:
    s = ctx.settings
    central = ctx.central()
    unit = ctx.big_unit()
    n = unit.tickets
    work = ctx.work.sub(NAME)
    timeout = 900.0

    log(f"{NAME}: fetching the pages once for the raw limit")
    pages = fetch_pages(central.url, unit.liaison_token)
    wire_bodies = sum(len(p.raw) for p in pages)

    pulls: list[dict] = []
    limits: list[float] = []
    limits_json: list[float] = []
    for i in range(s.runs):
        res = decode_and_insert(pages, work / f"raw-{i}.db")
        if res["tickets"] != n:
            raise RuntimeError(f"the pages hold {res['tickets']} tickets, expected {n}")
        limits.append(res["seconds"])
        limits_json.append(decode_and_insert(pages, work / f"rawjson-{i}.db", decoder="json")["seconds"])
        db = work / f"replica-{i}.db"
        out = _pull(ctx, central.url, db, timeout)
        pulled = out["report"]["pulled_tickets"]
        if pulled != n:
            raise RuntimeError(f"the pull stored {pulled} tickets, expected {n}")
        pulls.append(out)
        log(f"{NAME}: run {i + 1}/{s.runs}: pull {out['seconds']:.2f} s, limit {limits[-1]:.2f} s")
        if i < s.runs - 1:
            db.unlink()
            for suffix in ("-wal", "-shm"):
                db.with_name(db.name + suffix).unlink(missing_ok=True)
        else:
            checkpoint(db)
            ctx.synced_replica = db

    # The bytes on the wire, counted at the TCP level by the proxy (one more pull).
    with FaultProxy(("127.0.0.1", central.server.port), "perfect") as proxy:
        wired = _pull(ctx, f"http://127.0.0.1:{proxy.port}", work / "replica-proxied.db", timeout)
        proxy.wait_until(lambda st: st.active == 0, timeout=10)
        stats = proxy.stats
    tcp_bytes = stats.bytes_up + stats.bytes_down

    seconds = [p["seconds"] for p in pulls]
    ratios = [p / lim for p, lim in zip(seconds, limits, strict=True)]
    requests = wired["report"]["requests"]
    rss = [p["maxrss_kib"] / 1024 for p in pulls + [wired]]
    ctx.shared["first_pull_tcp_bytes_per_ticket"] = tcp_bytes / n
    ctx.shared["first_pull_seconds"] = median(seconds)
    size_mib = ctx.synced_replica.stat().st_size / 2**20 if ctx.synced_replica else None
    r = len(pulls)
    return [
        Figure(NAME, f"first pull of {n:,} tickets", median(seconds), "s", runs=r, samples=seconds),
        Figure(
            NAME,
            "raw limit: gunzip+decode+insert, 1 txn (orjson)",
            median(limits),
            "s",
            runs=r,
            samples=limits,
        ),
        Figure(NAME, "raw limit with stdlib json (for reference)", median(limits_json), "s", runs=r),
        Figure(
            NAME,
            "pull ÷ raw limit",
            median(ratios),
            "×",
            budget="≤ 2× (SPEC: ≤ 3×)",
            limit=2.0,
            runs=r,
            samples=ratios,
        ),
        Figure(NAME, "tickets per second", n / median(seconds), "/s", runs=r),
        Figure(NAME, "bytes on the wire per ticket (TCP, both ways)", tcp_bytes / n, "B", runs=1),
        Figure(NAME, "gzip body bytes per ticket", wire_bodies / n, "B", runs=1),
        Figure(
            NAME, "requests per 1,000 tickets", requests / (n / 1000), "", runs=1, note=f"{requests} requests"
        ),
        Figure(
            NAME,
            "client peak memory (ru_maxrss)",
            median(rss),
            "MiB",
            runs=len(rss),
            note=f"max {max(rss):.0f} MiB",
        ),
        Figure(NAME, "replica file size", size_mib, "MiB", runs=1),
    ]
