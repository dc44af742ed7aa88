"""Profiles behind docs/performance.md: where a missed budget's time goes.

    python -m bench.profiles pull --tickets 50000     # cProfile of the client during a first pull
    python -m bench.profiles metrics --tickets 50000  # Service.pull after one central change

``pull`` seeds a SQLite central service, starts ``fycli serve``, and profiles ``sync()`` of a
new replica in this process (time in ``socket.recv`` is the client waiting for the server);
it also prints the raw limit of the same pages. ``metrics`` runs the service in-process and
profiles one pull with nothing but an urge changed since the previous one.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import sys
import time

from bench.harness import Workdir, log


def _profile_pull(tickets: int, work: Workdir) -> None:
    from bench.fixtures import BIG_COUNTY, BIG_TOWNSHIP, start_central
    from bench.rawlimit import decode_and_insert, fetch_pages
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.engine import sync

    central = start_central(work)
    try:
        unit = central.seed_unit(BIG_COUNTY, BIG_TOWNSHIP, tickets)
        pages = fetch_pages(central.url, unit.liaison_token)
        limit = decode_and_insert(pages, work.path / "raw.db")
        replica = Replica.open(work.path / "replica.db", create=True)
        with SyncClient(central.url, unit.liaison_token, timeout=300) as client:
            prof = cProfile.Profile()
            start = time.perf_counter()
            prof.enable()
            report = sync(replica, client)
            prof.disable()
            seconds = time.perf_counter() - start
        replica.close()
    finally:
        central.server.stop()
    print(
        f"pull of {report.pulled_tickets:,} tickets: {seconds:.2f} s; raw limit {limit['seconds']:.2f} s "
        f"({seconds / limit['seconds']:.2f}×)"
    )
    pstats.Stats(prof).sort_stats("tottime").print_stats(20)


def _profile_metrics(tickets: int, work: Workdir) -> None:
    import orjson
    import sqlalchemy as sa

    from central.seed import seed_service
    from central.service import Liaison, Service
    from central.storage import tables as t
    from central.storage.engine import open_database
    from schemas.actions import Urge

    db = open_database(f"sqlite:///{work.path / 'central.db'}")
    service = Service(db)
    seed_service(service, tickets, county="临泉县", township="杨桥镇")
    with db.read.connect() as conn:
        unit = conn.execute(sa.select(t.units.c.id).where(t.units.c.township == "杨桥镇")).scalar_one()
        ticket_id = conn.execute(
            sa.select(t.tickets.c.id).where(t.tickets.c.unit_id == unit, t.tickets.c.status == "in_progress")
        ).scalar()
    who = Liaison("bench", "bench", unit, unit)
    cursor = None
    while True:
        page = orjson.loads(service.pull(who, cursor, 5000, None, None))
        cursor = page["cursor"]
        if not page["has_more"]:
            break
    etag, version = page.get("metrics_etag"), page.get("calendar_version")
    start = time.perf_counter()
    service.pull(who, cursor, 1000, version, etag)
    log(f"pull with nothing changed: {time.perf_counter() - start:.3f} s")
    service.admin_action(Urge(ticket_id=ticket_id, created_at=dt.datetime.now(dt.UTC)))
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    service.pull(who, cursor, 1000, version, etag)
    prof.disable()
    print(f"pull after one urge: {time.perf_counter() - start:.3f} s")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(12)
    db.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["pull", "metrics"])
    ap.add_argument("--tickets", type=int, default=50_000)
    args = ap.parse_args(argv)
    work = Workdir()
    try:
        {"pull": _profile_pull, "metrics": _profile_metrics}[args.what](args.tickets, work)
    finally:
        work.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
