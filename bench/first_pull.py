"""First full pull of the big unit into a new replica, against the raw limit of the same run.

Each timed pull runs ``python -m bench.pull_client`` (a new process: a fresh replica file, a
real ``SyncClient`` and the real sync engine over HTTP to ``fycli serve`` on loopback), so the
process's peak memory is the client's alone. The time is the sync call only (imports excluded).

The raw limit (:mod:`bench.rawlimit`) decodes the very bytes the server sent for the same
pages and bulk-inserts them into SQLite in one transaction. Pulls and limits alternate so a
slow phase of the machine hits both alike.

Bytes on the wire: the gzip bodies exactly as transferred (kept by the raw-limit fetch) plus
the requests' and responses' headers. (The no-change sync in :mod:`bench.incremental` counts at
the TCP level through the fault proxy; for a 30 MB pull the headers are noise, and a proxied
100k pull would cost another minute of the suite.)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.context import Context
from bench.fixtures import checkpoint
from bench.harness import Figure, log, median, run_json
from bench.rawlimit import decode_and_insert, fetch_pages

NAME = "first_pull"


def _pull(ctx: Context, url: str, db, timeout: float) -> dict:
    token = ctx.big_unit().liaison_token
    argv = [sys.executable, "-m", "bench.pull_client", "--url", url, "--token", token, "--db", str(db)]
    return run_json([*argv, "--create"], timeout=timeout)


def _remove_db(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)


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
    for i in range(s.runs):
        # Write-back of the previous run's hundreds of MB must not land in this measurement.
        os.sync()
        raw = work / f"raw-{i}.db"
        res = decode_and_insert(pages, raw)
        if res["tickets"] != n:
            raise RuntimeError(f"the pages hold {res['tickets']} tickets, expected {n}")
        limits.append(res["seconds"])
        _remove_db(raw)
        os.sync()
        db = work / f"replica-{i}.db"
        out = _pull(ctx, central.url, db, timeout)
        pulled = out["report"]["pulled_tickets"]
        if pulled != n:
            raise RuntimeError(f"the pull stored {pulled} tickets, expected {n}")
        pulls.append(out)
        log(f"{NAME}: run {i + 1}/{s.runs}: pull {out['seconds']:.2f} s, limit {limits[-1]:.2f} s")
        if i < s.runs - 1:
            _remove_db(db)
        else:
            checkpoint(db)
            ctx.synced_replica = db

    # The stdlib json decoder instead of orjson, once, for reference.
    os.sync()
    limit_json = decode_and_insert(pages, work / "rawjson.db", decoder="json")["seconds"]
    _remove_db(work / "rawjson.db")
    # Requests: each page's GET with its cursor, the request line and headers httpx sends.
    request_bytes = len(pages) * 250
    wire_bytes = wire_bodies + sum(p.header_bytes for p in pages) + request_bytes

    seconds = [p["seconds"] for p in pulls]
    ratios = [p / lim for p, lim in zip(seconds, limits, strict=True)]
    requests = pulls[-1]["report"]["requests"]
    rss = [p["maxrss_kib"] / 1024 for p in pulls]
    ctx.shared["first_pull_tcp_bytes_per_ticket"] = wire_bytes / n
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
        Figure(NAME, "raw limit with stdlib json (for reference)", limit_json, "s", runs=1),
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
        Figure(NAME, "bytes on the wire per ticket (bodies + headers)", wire_bytes / n, "B", runs=1),
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
