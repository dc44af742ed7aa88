"""A long outage, work on both sides meanwhile, then recovery: everything converges (SPEC §4).

During the outage the liaison signs for tickets, writes notes and resolves tickets offline,
and syncs that fail (work kept); the platform urges tickets, reassigns some away (one of them
a ticket the liaison signed for offline: a conflict) and registers new ones. When the link
comes back one sync brings both sides together: no action lost or doubled, the stale one in
the conflict inbox with its payload, and the replica equal to a fresh pull of the server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bench.netem.fault_proxy import FaultProxy, LinkProfile
from local_db.api import TicketQuery, View
from local_db.replica import Replica
from sync.client import RetryPolicy, SyncClient
from sync.engine import sync
from sync.errors import Unreachable
from tests.field.conftest import Village

N = 400
LINK = LinkProfile(latency_ms=60, jitter_ms=20)
FAST_GIVE_UP = RetryPolicy(attempts=2, base=0.05, cap=0.1)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _snapshot(replica: Replica) -> dict[str, dict]:
    """Every ticket of the replica as the server last sent it (in and out of scope)."""
    out = {}
    for view in (View.ALL, View.OUT_OF_SCOPE):
        for tid in replica.ids_matching(TicketQuery(view=view)):
            detail = replica.detail(tid)
            assert detail is not None
            out[tid] = {
                "ticket": detail.server_ticket.model_dump(mode="json"),
                "in_scope": detail.in_scope,
                "notes": sorted(n.id for n in detail.notes),
            }
    return out


@pytest.mark.netns
def test_long_outage_then_recovery_converges(village: Village, tmp_path: Path) -> None:
    _unit_id, token, in_unit = village.seed_unit(N)
    village.call(
        "POST", "/v1/admin/units", json={"id": "other-unit", "name": "邻镇人民政府", "kind": "township"}
    )

    replica = Replica.open(tmp_path / "replica.db", create=True)
    try:
        with FaultProxy(village.upstream, LINK, seed=3) as proxy:
            url = f"http://127.0.0.1:{proxy.port}"
            with SyncClient(url, token) as client:
                sync(replica, client)
            assigned = list(replica.ids_matching(TicketQuery(view=View.ASSIGNED)))
            working = list(replica.ids_matching(TicketQuery(view=View.IN_PROGRESS)))
            assert len(assigned) >= 20 and len(working) >= 35, "the seed must give open tickets"

            proxy.cut()  # the outage begins
            accepted = assigned[:20]
            noted, resolved, urged, moved = working[:10], working[10:20], working[20:30], working[30:35]
            assert all(r.ok for r in replica.accept(accepted))
            for tid in noted:
                assert replica.add_note(tid, "电话联系了反映人，约定明天上门。").ok
            assert all(r.ok for r in replica.resolve(resolved, "已现场处理，路灯已修复。"))
            stale = accepted[-1]  # signed for offline, but the platform gives it away meanwhile
            queued = replica.pending_count()
            assert queued == 20 + 10 + 10

            for attempt in range(3):  # the liaison keeps trying; every try fails, nothing is lost
                with SyncClient(url, token, retry=FAST_GIVE_UP) as client, pytest.raises(Unreachable):
                    sync(replica, client)
                assert replica.pending_count() == queued, attempt
            assert replica.state().last_error

            # Meanwhile at the platform (not through the village link).
            for tid in urged:
                assert village.act(tid, "urge", comment="请尽快办理")["outcome"] == "applied"
            for tid in [*moved, stale]:
                assert (
                    village.act(tid, "reassign", unit_id="other-unit", reason="属地调整")["outcome"]
                    == "applied"
                )
            new_in_unit = village.seed(7, seed=9)  # new appeals for the unit

            proxy.restore()  # the link is back
            with SyncClient(url, token) as client:
                report = sync(replica, client)
    finally:
        mine = _snapshot(replica)
        state = replica.state()
        conflicts = replica.conflicts()
        replica.close()

    # Every queued action was decided exactly once; only the stale sign-for was refused.
    assert report.pushed == queued
    assert report.applied + report.rejected == queued and report.duplicates == 0
    assert state.pending == 0
    assert [c.ticket_id for c in conflicts] == [stale]
    assert conflicts[0].kind == "accept"

    # The server has the liaison's work.
    for tid in resolved:
        assert village.ticket(tid)["ticket"]["status"] == "resolved"
    for tid in set(accepted) - {stale}:
        assert village.ticket(tid)["ticket"]["status"] == "in_progress"
    for tid in noted:
        assert any("上门" in n["text"] for n in village.ticket(tid)["notes"])
    for tid in urged:
        assert village.ticket(tid)["ticket"]["flags"]["urged"] >= 1

    # And the replica equals what a fresh replica pulls from the server now.
    fresh = Replica.open(tmp_path / "fresh.db", create=True)
    try:
        with SyncClient(village.url, token, allow_insecure_http=True) as client:
            sync(fresh, client)
        theirs = _snapshot(fresh)
    finally:
        fresh.close()
    in_scope = {tid for tid, v in mine.items() if v["in_scope"]}
    assert in_scope == {tid for tid, v in theirs.items() if v["in_scope"]}
    assert len(in_scope) == in_unit + new_in_unit - len(moved) - 1
    for tid in in_scope:
        assert mine[tid]["ticket"] == theirs[tid]["ticket"], tid
        assert mine[tid]["notes"] == theirs[tid]["notes"], tid
    for tid in [*moved, stale]:
        assert tid in mine and not mine[tid]["in_scope"]  # gone from the list, history kept
