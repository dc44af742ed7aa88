"""Sync times on emulated village links: 2G, 3G and a link that drops every 20 s.

The fault proxy (:mod:`bench.netem.fault_proxy`) adds latency, jitter, a bandwidth cap and
connection faults in front of the service. Where network namespaces work, one more profile
runs the service inside a namespace behind a veth pair rate-limited by ``tc tbf`` to
250 kbit/s (the kernel's own queueing), with the proxy adding only the 2G latency and faults.

Per profile and run: the platform urges 20 tickets of the small unit, then the liaison's
replica (already synced) syncs through the link. The client is the real ``SyncClient`` with
its default timeouts and retry policy, so a stalled connection costs what it costs in a village.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench.context import Context
from bench.harness import Figure, Server, log, median, start_server, timed
from bench.netem.fault_proxy import PROFILES, FaultProxy, LinkProfile
from bench.netem.netns import netns_available, village_link

NAME = "links"


@contextlib.contextmanager
def _upstream_in_namespace(ctx: Context, rate_kbit: int) -> Iterator[tuple[str, int]]:
    """A second ``fycli serve`` on the same database, inside a rate-limited namespace."""
    central = ctx.central()
    with village_link(rate_kbit) as link:
        server: Server = start_server(
            central.server.db_url,
            ctx.work.sub(NAME),
            host=link.ns_ip,
            port=8080,
            env={"FYCLI_ADMIN_TOKEN": central.admin_token},
            prefix=link.exec_prefix(),
            ready_timeout=90,
        )
        try:
            yield (link.ns_ip, server.port)
        finally:
            server.stop()


def run(ctx: Context) -> list[Figure]:
    from local_db.replica import Replica
    from sync.client import SyncClient
    from sync.engine import sync

    s = ctx.settings
    central = ctx.central()
    unit = ctx.small_unit()
    db = ctx.work.sub(NAME) / "replica.db"
    replica = Replica.open(db, create=True)
    with SyncClient(central.url, unit.liaison_token) as client:
        sync(replica, client)  # the starting point: in step, over loopback
    ids = central.open_ticket_ids(unit.unit_id, s.small_tickets)

    profiles: list[tuple[str, LinkProfile, int | None]] = [
        ("2G", PROFILES["2g"], None),
        ("3G", PROFILES["3g"], None),
        ("flaky (drops every 20 s)", PROFILES["flaky"], None),
    ]
    ok, why = netns_available()
    if ok:
        profiles.append(
            ("2G: netns tbf 250 kbit + proxy latency/faults", PROFILES["2g"].with_(bandwidth_bps=None), 250)
        )
    else:
        log(f"{NAME}: no network namespaces here ({why}); the tbf profile is skipped")

    figures: list[Figure] = []
    offset = 0
    try:
        for label, profile, tbf_kbit in profiles:
            upstream_cm = (
                _upstream_in_namespace(ctx, tbf_kbit)
                if tbf_kbit
                else contextlib.nullcontext(("127.0.0.1", central.server.port))
            )
            seconds: list[float] = []
            requests: list[int] = []
            retries: list[int] = []
            wire: list[int] = []
            with upstream_cm as upstream, FaultProxy(upstream, profile, seed=7) as proxy:
                url = f"http://{proxy.address[0]}:{proxy.port}"
                for _ in range(s.runs):
                    batch = [ids[(offset + j) % len(ids)] for j in range(s.link_changes)]
                    offset += s.link_changes
                    central.urge(batch, comment="村里路灯不亮，请尽快处理")
                    before = proxy.stats
                    with SyncClient(url, unit.liaison_token) as client, timed() as t:
                        report = sync(replica, client)
                    after = proxy.stats
                    if report.pulled_tickets < s.link_changes:
                        raise RuntimeError(f"{label}: pulled {report.pulled_tickets} < {s.link_changes}")
                    seconds.append(t())
                    requests.append(report.requests)
                    retries.append(report.retries)
                    wire.append(after.bytes_up + after.bytes_down - before.bytes_up - before.bytes_down)
                    log(f"{NAME}: {label}: {t():.2f} s, {report.requests} requests, {report.retries} retries")
            figures.append(
                Figure(
                    NAME,
                    f"sync of {s.link_changes} changed tickets, {label}",
                    median(seconds),
                    "s",
                    budget="seconds" if label.startswith("2G") else "",
                    limit=10.0 if label.startswith("2G") else None,
                    runs=len(seconds),
                    samples=seconds,
                    note=f"max {max(seconds):.1f} s; {median(requests):.0f} req, "
                    f"{sum(retries)} retries, {median(wire) / 1024:.1f} KiB",
                )
            )
    finally:
        replica.close()
    return figures
