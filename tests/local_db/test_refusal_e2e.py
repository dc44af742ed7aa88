"""A refusal because the ticket moved to another unit, end to end: a real ``fycli serve``, the
real sync engine, and the replica. The refusal carries the server's state; the replica must
show it at once (out of the working list), not the liaison's old view of it."""

from __future__ import annotations

from local_db.api import TicketQuery, View
from local_db.replica import Replica
from schemas.enums import Reason, Status
from sync.client import SyncClient
from sync.engine import sync
from tests.servers import CentralServer


def test_a_sign_for_refused_as_reassigned_leaves_the_working_list(tmp_path, central_server: CentralServer):
    central_server.add_unit("t1")
    central_server.add_unit("t2")
    token = central_server.add_liaison("t1")
    moved, kept = central_server.register_and_assign("t1", 2)
    with (
        Replica.open(tmp_path / "replica.db", create=True) as replica,
        SyncClient(central_server.url, token) as client,
    ):
        sync(replica, client)
        # Offline: sign for and resolve both (accept + resolve each); meanwhile the platform
        # gives one to another unit.
        assert all(r.ok for r in replica.resolve([moved, kept], "已现场处理完毕"))
        central_server.act(moved, "reassign", unit_id="t2", reason="不属于本镇")

        report = sync(replica, client, pull=False)  # the push alone: no pull to repair the state

        assert (report.applied, report.rejected) == (2, 2)
        detail = replica.detail(moved)
        assert detail.server_ticket.unit_id == "t2" and detail.ticket.unit_id == "t2"
        assert detail.ticket.status is Status.ASSIGNED and not detail.in_scope
        assert {c.reason for c in replica.conflicts()} == {Reason.REASSIGNED}
        working = {r.id for r in replica.query(TicketQuery(view=View.ALL))}
        assert moved not in working and kept in working
        assert moved in {r.id for r in replica.query(TicketQuery(view=View.OUT_OF_SCOPE))}
        # Signing for it again is refused here, as the server would refuse it.
        [again] = replica.accept([moved])
        assert not again.ok and again.reason is Reason.REASSIGNED
        assert replica.detail(kept).server_ticket.status is Status.RESOLVED
