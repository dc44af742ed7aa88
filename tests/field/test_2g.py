"""On a 2G link (250 kbit/s by tc tbf, 300 ms RTT and connection faults by the proxy), a sync
of 20 tickets changed centrally completes, correctly, in one pull (SPEC §7).

No timing assertion (the benchmark ``python -m bench.run --only links`` reports the time):
the test checks what arrived and how many requests it took.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bench.netem.fault_proxy import PROFILES, FaultProxy
from local_db.replica import Replica
from sync.client import SyncClient
from sync.engine import sync
from tests.field.conftest import Village

N = 200
CHANGED = 20
#: The 2G profile without its bandwidth cap: the namespace's tbf does the rate limiting.
TWO_G_FAULTS = PROFILES["2g"].with_(bandwidth_bps=None)


@pytest.mark.netns
def test_2g_sync_of_20_changed_tickets(village: Village, tmp_path: Path) -> None:
    unit_id, token, _ = village.seed_unit(N)
    replica = Replica.open(tmp_path / "replica.db", create=True)
    try:
        with SyncClient(village.url, token, allow_insecure_http=True) as client:  # set-up over the fast link
            sync(replica, client)
        ids = [
            r["id"]
            for r in village.call(
                "GET",
                "/v1/admin/tickets",
                params={"unit_id": unit_id, "status": "in_progress", "limit": CHANGED},
            )["tickets"]
        ]
        assert len(ids) == CHANGED

        urged_before = {tid: replica.detail(tid).server_ticket.flags.urged for tid in ids}

        village.link.set_rate(250)  # now a 2G village
        qdisc = subprocess.run(
            ["tc", "qdisc", "show", "dev", village.link.host_if], capture_output=True, text=True
        )
        assert "250Kbit" in qdisc.stdout, qdisc.stdout
        for tid in ids:
            assert village.act(tid, "urge", comment="群众再次来电催促")["outcome"] == "applied"

        with FaultProxy(village.upstream, TWO_G_FAULTS, seed=5) as proxy:
            # A stalled connection costs one read timeout, then a retry on a new connection.
            with SyncClient(f"http://127.0.0.1:{proxy.port}", token, timeout=8) as client:
                report = sync(replica, client)
            stats = proxy.stats
        urged = {tid: replica.detail(tid).server_ticket.flags.urged for tid in ids}
    finally:
        replica.close()

    assert report.pulled_tickets == CHANGED
    assert report.pushed == 0 and report.pending == 0
    assert urged == {tid: n + 1 for tid, n in urged_before.items()}
    # Nothing to push: one pull page carries the 20 tickets (more only when a connection failed
    # and the client retried it).
    assert report.requests - report.retries == 1, report
    assert stats.accepted >= 1 and stats.bytes_down > 0
