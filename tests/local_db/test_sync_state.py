"""Pulled pages, push results, the conflict inbox and the sync state."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from local_db.api import TicketQuery, View
from schemas.enums import Reason, Status
from schemas.ticket import Ticket
from schemas.wire import ActionResult, PullResponse
from tests.local_db.factory import FIXED_NOW, metrics_json, page, ticket_json


def _server(ticket_id: str, **fields) -> Ticket:
    return Ticket.model_validate(ticket_json(ticket_id, **fields))


def _result(entry, outcome, **fields) -> ActionResult:
    return ActionResult(action_id=entry.action_id, seq=entry.seq, outcome=outcome, **fields)


# -- pull -----------------------------------------------------------------------------------


def test_pull_page_stores_everything_with_its_cursor(replica):
    replica.apply_pull_page_raw(
        page(
            [ticket_json("N1", status="assigned", title="噪音扰民")],
            cursor="c2",
            notes=[
                {
                    "id": "n1",
                    "ticket_id": "N1",
                    "kind": "call",
                    "text": "已联系",
                    "author": "王",
                    "unit_id": "U1",
                    "created_at": "2025-06-10T09:00:00+08:00",
                }
            ],
            events=[
                {
                    "id": "e1",
                    "ticket_id": "N1",
                    "action": "assign",
                    "actor": "平台",
                    "role": "central",
                    "unit_id": None,
                    "from_status": "registered",
                    "to_status": "assigned",
                    "epoch": 1,
                    "at": "2025-06-10T08:00:00+08:00",
                    "detail": {},
                }
            ],
            calendar=[{"year": 2031, "holidays": ["2031-10-08"], "workdays": []}],
            calendar_version=7,
            metrics=[metrics_json()],
            metrics_etag="etag-1",
        )
    )
    state = replica.state()
    assert (state.cursor, state.calendar_version, state.metrics_etag, state.tickets) == ("c2", 7, "etag-1", 4)
    detail = replica.detail("N1")
    assert detail.ticket.title == "噪音扰民" and detail.ticket.description.startswith("颍州区")
    assert [n.id for n in detail.notes] == ["n1"] and [e.id for e in detail.events] == ["e1"]
    assert not replica.calendar().is_working_day(dt.date(2031, 10, 8))  # a Wednesday, per the table
    assert replica.metrics()[0].satisfaction_rate == pytest.approx(0.9125)


def test_pydantic_page_path_is_the_same(replica):
    resp = PullResponse(cursor="c9", has_more=False, tickets=[_server("M1", title="路面破损")])
    replica.apply_pull_page(resp)
    assert replica.detail("M1").server_ticket == resp.tickets[0]
    assert replica.state().cursor == "c9"


@pytest.mark.parametrize(
    "bad",
    [
        "<html>502 Bad Gateway</html>",
        b'{"cursor": "c2", "has_more": false, "tickets": [',
        {"cursor": "c2"},
        {"cursor": "c2", "has_more": False, "tickets": {"id": "x"}},
        {
            "cursor": "c2",
            "has_more": False,
            "tickets": [ticket_json("OK1"), ticket_json("BAD", status="lost")],
        },
        {"cursor": "c2", "has_more": False, "tickets": [ticket_json("BAD", epoch="1")]},
        {"cursor": "c2", "has_more": False, "tickets": [ticket_json("BAD", handle_due="soon")]},
        {"cursor": "c2", "has_more": False, "tickets": [ticket_json("bad id!")]},
        {
            "cursor": "c2",
            "has_more": False,
            "tickets": [ticket_json("BAD", updated_at="2025-06-01T00:00:00")],
        },
        {"cursor": "c2", "has_more": False, "events": [{"id": "e"}]},
        {"cursor": "c2", "has_more": False, "calendar": [{"year": "soon"}]},
    ],
)
def test_garbage_pages_are_refused_and_nothing_is_stored(replica, bad):
    before = (replica.state(), replica.counts_by_view())
    with pytest.raises(ValueError):
        replica.apply_pull_page_raw(bad)
    assert (replica.state(), replica.counts_by_view()) == before
    assert replica.detail("OK1") is None


def test_a_crash_inside_the_page_transaction_keeps_cursor_and_data(replica, monkeypatch):
    import local_db.replica as mod

    def boom(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(mod.Replica, "_refresh", boom)  # the last step of storing a page
    with pytest.raises(OSError):
        replica.apply_pull_page_raw(page([ticket_json("P1", status="resolved", reply="x")], cursor="c2"))
    monkeypatch.undo()
    assert replica.state().cursor == "c1"
    assert replica.detail("P1").server_ticket.status is Status.IN_PROGRESS


def test_removed_tickets_leave_the_list_but_stay_readable(replica):
    replica.accept(["A1"])
    replica.apply_pull_page_raw(page([], cursor="c2", removed=["A1", "NEVER_SEEN"]))
    assert "A1" not in list(replica.ids_matching(TicketQuery(view=View.ALL)))
    assert list(replica.ids_matching(TicketQuery(view=View.OUT_OF_SCOPE))) == ["A1"]
    detail = replica.detail("A1")
    assert detail is not None and not detail.in_scope
    assert replica.state().tickets == 2
    # Back in scope when a later page brings it back.
    replica.apply_pull_page_raw(page([ticket_json("A1", status="assigned", revision=5)], cursor="c3"))
    assert replica.detail("A1").in_scope


def test_pull_recomputes_the_view_over_pending_actions(replica):
    [res] = replica.resolve(["P1"], "已处理")
    # The platform urged it meanwhile: no conflict, the view keeps the local resolve and shows the flag.
    flags = {"urged": 1, "supervised": False, "listed": False, "escalated": False, "escalation_note": None}
    replica.apply_pull_page_raw(page([ticket_json("P1", flags=flags, revision=3)], cursor="c2"))
    detail = replica.detail("P1")
    assert detail.ticket.status is Status.RESOLVED and detail.ticket.flags.urged == 1
    [row] = [r for r in replica.query(TicketQuery(view=View.RESOLVED)) if r.id == "P1"]
    assert row.urged == 1 and row.badge == "pending"
    # Then it was reassigned away: the queued resolve stays (the server decides) but no longer applies.
    replica.apply_pull_page_raw(
        page(
            [
                ticket_json(
                    "P1",
                    unit_id="U2",
                    epoch=2,
                    epoch_cause="reassign",
                    past_units=["U1"],
                    status="assigned",
                    revision=4,
                )
            ],
            cursor="c3",
        )
    )
    assert replica.pending_count() == 1
    assert replica.detail("P1").ticket.status is Status.ASSIGNED


def test_reset_keeps_outbox_and_inbox(replica):
    replica.accept(["A1"])
    replica.resolve(["P1"], "已处理")
    entry = replica.outbox()[-1]
    replica.apply_push_results([_result(entry, "rejected", reason=Reason.REASSIGNED, message="gone")])
    replica.reset_pulled_state()
    state = replica.state()
    assert (state.cursor, state.tickets, state.pending, state.open_conflicts) == (None, 0, 1, 1)
    replica.apply_pull_page_raw(page([ticket_json("A1", status="assigned"), ticket_json("P1")], cursor="n1"))
    assert replica.detail("A1").ticket.status is Status.IN_PROGRESS  # the queued accept applies again
    assert replica.detail("P1").badge == "conflict"


def test_reset_page_drops_pulled_state(replica):
    replica.apply_pull_page_raw({"cursor": "x", "has_more": False, "reset": True})
    assert replica.state().tickets == 0 and replica.state().cursor is None


# -- push results and the inbox -----------------------------------------------------------


def test_applied_results_drop_from_outbox_and_store_the_ticket(replica):
    replica.accept(["A1"])
    entry = replica.outbox()[0]
    server = _server("A1", status="in_progress", revision=3)
    replica.apply_push_results([_result(entry, "applied", ticket=server)], acked_seq=entry.seq)
    assert replica.pending_count() == 0
    detail = replica.detail("A1")
    assert detail.server_ticket == server and detail.badge == "synced"
    assert replica.state().extra["acked_seq"] == entry.seq


def test_duplicate_results_follow_their_original_outcome(replica):
    replica.accept(["A1"])
    replica.add_note("P1", "x")
    a, b = replica.outbox()
    replica.apply_push_results(
        [
            _result(a, "duplicate", original_outcome="applied"),
            _result(b, "duplicate", original_outcome="rejected", reason=Reason.NOT_FOUND, message="gone"),
        ]
    )
    assert replica.pending_count() == 0
    assert [c.action_id for c in replica.conflicts()] == [b.action_id]
    # The same results delivered again change nothing.
    replica.apply_push_results([_result(a, "applied")])
    assert len(replica.conflicts()) == 1


def test_rejected_goes_to_inbox_with_payload_and_server_state(replica):
    replica.resolve(["P1"], "村里的路灯已经修好")
    entry = replica.outbox()[0]
    server = _server("P1", status="in_progress", epoch=2, epoch_cause="reject_reply", revision=9)
    at = FIXED_NOW - dt.timedelta(hours=1)
    replica.apply_push_results(
        [
            _result(
                entry,
                "rejected",
                reason=Reason.REPLY_REJECTED,
                message="sent back",
                ticket=server,
                changed_by="市平台",
                changed_at=at,
            )
        ]
    )
    [conflict] = replica.conflicts()
    assert orjson.loads(conflict.action_json)["reply"] == "村里的路灯已经修好"
    assert (conflict.reason, conflict.changed_by, conflict.changed_at) == (
        Reason.REPLY_REJECTED,
        "市平台",
        at,
    )
    assert conflict.server_ticket == server
    assert replica.count(TicketQuery(view=View.CONFLICTS)) == 1
    assert replica.detail("P1").badge == "conflict" and replica.pending_count() == 0


def _conflicted(replica, **server_fields):
    replica.resolve(["P1"], "已修复")
    entry = replica.outbox()[0]
    server = _server("P1", revision=9, **server_fields)
    replica.apply_push_results(
        [_result(entry, "rejected", reason=Reason.REPLY_REJECTED, message="x", ticket=server)]
    )
    return entry.action_id


def test_resolve_conflict_reapply_queues_a_fresh_action_on_the_current_state(replica):
    action_id = _conflicted(replica, epoch=2, epoch_cause="reject_reply")
    result = replica.resolve_conflict(action_id, "reapply")
    assert result.ok and result.action_id != action_id
    action = orjson.loads(replica.outbox()[0].action_json)
    assert action["kind"] == "resolve" and action["reply"] == "已修复" and action["base"]["epoch"] == 2
    assert replica.conflicts() == [] and replica.conflicts(open_only=False)[0].state == "reapplied"
    assert replica.detail("P1").ticket.status is Status.RESOLVED


def test_resolve_conflict_note_keeps_the_text(replica):
    action_id = _conflicted(replica, epoch=2, epoch_cause="reject_reply")
    assert replica.resolve_conflict(action_id, "note").ok
    action = orjson.loads(replica.outbox()[0].action_json)
    assert action["kind"] == "note" and action["text"] == "【未能提交的答复】已修复"
    assert replica.conflicts(open_only=False)[0].state == "noted"
    assert replica.detail("P1").badge == "pending"


def test_resolve_conflict_drop(replica):
    action_id = _conflicted(replica, epoch=2, epoch_cause="reject_reply")
    assert replica.resolve_conflict(action_id, "drop").ok
    assert replica.pending_count() == 0 and replica.conflicts() == []
    assert replica.detail("P1").badge == "synced"
    assert not replica.resolve_conflict(action_id, "drop").ok  # already decided
    with pytest.raises(ValueError):
        replica.resolve_conflict(action_id, "shrug")


def test_reapply_refused_locally_keeps_the_conflict_open(replica):
    action_id = _conflicted(
        replica, unit_id="U2", epoch=2, epoch_cause="reassign", past_units=["U1"], status="assigned"
    )
    result = replica.resolve_conflict(action_id, "reapply")
    assert not result.ok and result.reason is Reason.REASSIGNED
    assert len(replica.conflicts()) == 1 and replica.pending_count() == 0


# -- sync state, metrics ----------------------------------------------------------------------


def test_record_sync_and_metrics_offline(replica, tmp_path):
    replica.record_sync(ok=False, error="server unreachable")
    assert replica.state().last_error == "server unreachable"
    replica.record_sync(ok=True)
    state = replica.state()
    assert state.last_error is None and state.last_sync_at == FIXED_NOW
    replica.apply_pull_page_raw(page([], cursor="c2", metrics=[metrics_json()], metrics_etag="e"))
    path = replica.path
    replica.close()
    from local_db.replica import Replica

    with Replica.open(path) as again:
        assert again.metrics()[0].rank == 3 and again.state().metrics_etag == "e"


def test_stored_docs_round_trip_compact_and_plain(replica):
    from local_db.columns import DOC_KEYS, TEXT_FIELDS

    # The compact form lists every field but the searched ones; a new model field must be added.
    assert set(DOC_KEYS) | set(TEXT_FIELDS) == set(Ticket.model_fields)
    odd = ticket_json("ODD", title="标题\x1f含分隔符")
    partial = {k: v for k, v in ticket_json("PART").items() if k not in ("past_units", "counters")}
    replica.apply_pull_page_raw(page([ticket_json("CMP"), odd, partial], cursor="c2"))
    assert replica.detail("CMP").server_ticket == _server("CMP")
    assert replica.detail("ODD").server_ticket.title == "标题\x1f含分隔符"
    assert replica.detail("PART").server_ticket.counters.reworks == 0


# -- the server's state from push results ------------------------------------------------------


def _reassigned_a1(revision: int = 3) -> Ticket:
    return _server(
        "A1",
        status="assigned",
        unit_id="U2",
        epoch=2,
        epoch_cause="reassign",
        past_units=["U1"],
        accepted_at=None,
        revision=revision,
    )


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_refusal_for_a_reassigned_ticket_stores_the_servers_state(replica, duplicate):
    # Signed for and resolved offline: the view's revision (2 + 2 local steps) is ahead of the
    # server's, which moved once (reassigned to U2, revision 3).
    assert replica.resolve(["A1"], "已处理")[0].ok
    accept, resolve = replica.outbox()
    server = _reassigned_a1()
    outcome = (
        {"outcome": "duplicate", "original_outcome": "rejected"} if duplicate else {"outcome": "rejected"}
    )
    replica.apply_push_results(
        [
            ActionResult(
                action_id=e.action_id,
                seq=e.seq,
                reason=Reason.REASSIGNED,
                message="now with U2",
                ticket=server,
                **outcome,
            )
            for e in (accept, resolve)
        ]
    )
    detail = replica.detail("A1")
    assert detail.server_ticket == server and detail.ticket == server
    assert not detail.in_scope and detail.badge == "conflict"
    assert "A1" not in {r.id for r in replica.query(TicketQuery(view=View.ASSIGNED))}
    assert "A1" in {r.id for r in replica.query(TicketQuery(view=View.OUT_OF_SCOPE))}
    assert replica.counts_by_view()[View.ASSIGNED] == 0
    # Signing for it again is refused here, as the server would.
    [again] = replica.accept(["A1"])
    assert not again.ok and again.reason is Reason.REASSIGNED and replica.pending_count() == 0


def test_a_result_older_than_the_stored_server_state_is_not_stored(replica):
    replica.accept(["A1"])
    [entry] = replica.outbox()
    newer = _reassigned_a1(revision=5)
    replica.apply_pull_page_raw(page([newer.model_dump(mode="json")], cursor="c2"))
    older = _server("A1", status="in_progress", revision=3)
    replica.apply_push_results([_result(entry, "duplicate", original_outcome="applied", ticket=older)])
    assert replica.detail("A1").server_ticket == newer


def test_an_applied_result_is_stored_while_later_actions_are_still_queued(replica):
    # accept then resolve queued; the accept's result comes back alone (the resolve waits).
    replica.resolve(["A1"], "已处理")
    accept, _ = replica.outbox()
    server = _server("A1", status="in_progress", revision=3)
    replica.apply_push_results([_result(accept, "applied", ticket=server)])
    detail = replica.detail("A1")
    assert detail.server_ticket == server
    assert detail.ticket.status is Status.RESOLVED and replica.pending_count() == 1
    assert replica.count(TicketQuery(view=View.RESOLVED)) == 2


def test_reapply_on_a_ticket_resolved_meanwhile_keeps_the_reply_as_a_note(replica):
    """Re-applying a refused reply when a colleague resolved the ticket since: not resolved
    again; the reply is queued as a note, and the conflict is marked noted (not re-applied)."""
    action_id = _conflicted(replica, status="resolved", reply="同事的答复", replied_by="李四", epoch=1)
    result = replica.resolve_conflict(action_id, "reapply")
    assert result.ok and result.kept_as_note and result.reason is Reason.ALREADY_RESOLVED
    assert "李四" in result.message and "NOT resolved again" in result.message
    (entry,) = replica.outbox()
    action = orjson.loads(entry.action_json)
    assert action["kind"] == "note" and action["text"] == "【未能提交的答复】已修复"
    assert replica.conflicts(open_only=False)[0].state == "noted"


def test_an_old_outbox_row_is_cleaned_only_of_real_control_characters():
    from local_db.replica import _without_control_characters

    # An escaped backslash before "u001b" or "r" is text (a Windows path), not a control character.
    plain = '{"kind":"note","text":"C:\\\\road\\\\u001b.txt"}'
    assert _without_control_characters(plain) is plain
    dirty = '{"kind":"note","text":"a\\u001b]0;x\\u0007b\\nc\\td\\u009b"}'
    assert orjson.loads(_without_control_characters(dirty)) == {"kind": "note", "text": "a]0;xb\nc\td"}
