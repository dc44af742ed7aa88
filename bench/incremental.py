"""Incremental syncs: after 1% of the unit changed centrally, and with nothing changed.

Both run in this process (a real ``SyncClient`` and the real engine) against a copy of the
replica the first pull made, through the fault proxy in "perfect" mode, which counts every
byte of HTTP (request and response, headers included) at the TCP level.
"""

from __future__ import annotations

from bench.context import Context
from bench.fixtures import copy_replica
from bench.harness import Figure, log, median, timed
from bench.netem.fault_proxy import FaultProxy

NAME = "incremental"


def run(ctx: Context) -> list[Figure]:
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.engine import sync

    s = ctx.settings
    central = ctx.central()
    unit = ctx.big_unit()
    template = ctx.synced()
    db = copy_replica(template, ctx.work.sub(NAME) / "replica.db")
    changed = max(1, int(unit.tickets * s.changed_share))
    all_ids = central.open_ticket_ids(unit.unit_id, changed * s.runs)

    inc_seconds: list[float] = []
    inc_bytes: list[float] = []
    inc_requests: list[int] = []
    pulled: list[int] = []
    idle_bytes: list[float] = []
    idle_requests: list[int] = []
    idle_seconds: list[float] = []
    replica = Replica.open(db)
    try:
        with FaultProxy(("127.0.0.1", central.server.port), "perfect") as proxy:
            url = f"http://127.0.0.1:{proxy.port}"

            def counted_sync() -> tuple[float, int, int, int]:
                before = proxy.stats
                with SyncClient(url, unit.liaison_token) as client, timed() as t:
                    report = sync(replica, client)
                proxy.wait_until(lambda st: st.active == 0, timeout=10)
                after = proxy.stats
                wire = after.bytes_up + after.bytes_down - before.bytes_up - before.bytes_down
                return t(), wire, report.requests, report.pulled_tickets

            counted_sync()  # settle: anything that changed since the template was made
            for i in range(s.runs):
                ids = all_ids[i * changed : (i + 1) * changed]
                with timed() as t:
                    central.urge(ids, comment=f"第{i + 1}次催办")
                log(f"{NAME}: urged {len(ids)} tickets centrally in {t():.1f} s")
                secs, wire, requests, got = counted_sync()
                inc_seconds.append(secs)
                inc_bytes.append(wire)
                inc_requests.append(requests)
                pulled.append(got)
                for _ in range(3 if s.quick else 5):
                    secs, wire, requests, got = counted_sync()
                    if got:
                        raise RuntimeError(f"a sync with nothing changed pulled {got} tickets")
                    idle_seconds.append(secs)
                    idle_bytes.append(wire)
                    idle_requests.append(requests)
    finally:
        replica.close()

    per_changed = [b / max(1, p) for b, p in zip(inc_bytes, pulled, strict=True)]
    first = ctx.shared.get("first_pull_tcp_bytes_per_ticket")
    figures = [
        Figure(
            NAME,
            f"sync after {changed:,} tickets changed ({s.changed_share:.0%})",
            median(inc_seconds),
            "s",
            runs=len(inc_seconds),
            samples=inc_seconds,
        ),
        Figure(NAME, "  tickets pulled", median(pulled), "", runs=len(pulled)),
        Figure(NAME, "  requests", median(inc_requests), "", runs=len(inc_requests)),
        Figure(
            NAME,
            "  bytes on the wire per changed ticket",
            median(per_changed),
            "B",
            runs=len(per_changed),
            budget="∝ change: ≤ 2× first-pull B/ticket" if first else "",
            limit=2 * first if first else None,
            note=f"first pull: {first:.0f} B/ticket" if first else "first_pull not run",
        ),
        Figure(
            NAME,
            "sync with no changes: requests",
            median(idle_requests),
            "",
            budget="1 round trip",
            limit=1,
            runs=len(idle_requests),
            note=f"max {max(idle_requests)}",
        ),
        Figure(
            NAME,
            "sync with no changes: bytes on the wire",
            median(idle_bytes),
            "B",
            budget="< 2 KB (2048 B)",
            ok=max(idle_bytes) < 2048,
            runs=len(idle_bytes),
            note=f"max {max(idle_bytes):.0f} B, request+response incl. headers",
        ),
        Figure(NAME, "sync with no changes: time", median(idle_seconds), "s", runs=len(idle_seconds)),
    ]
    return figures
