"""The liaison's actions: queued in one transaction each, the optimistic view through decide()."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import uuid

import orjson
import pytest

from local_db.api import TicketQuery, View
from schemas.enums import Reason, Status


def _kinds(replica) -> list[str]:
    return [e.kind for e in replica.outbox()]


def test_accept_queues_with_base_and_changes_the_view(replica):
    [result] = replica.accept(["A1"])
    assert result.ok and result.action_id
    [entry] = replica.outbox()
    action = orjson.loads(entry.action_json)
    assert action["kind"] == "accept"
    assert action["base"] == {"status": "assigned", "unit_id": "U1", "epoch": 1}
    detail = replica.detail("A1")
    assert detail.ticket.status is Status.IN_PROGRESS
    assert detail.server_ticket.status is Status.ASSIGNED
    assert detail.badge == "pending"
    [row] = [r for r in replica.query(TicketQuery(view=View.IN_PROGRESS)) if r.id == "A1"]
    assert row.badge == "pending"


def test_resolve_of_an_assigned_ticket_queues_accept_then_resolve(replica):
    [result] = replica.resolve(["A1"], "  已修复路灯。 ")
    assert result.ok and len(result.queued) == 2 and result.action_id == result.queued[1]
    accept, resolve = (orjson.loads(e.action_json) for e in replica.outbox())
    assert (accept["kind"], resolve["kind"]) == ("accept", "resolve")
    assert resolve["base"]["status"] == "in_progress" and resolve["reply"] == "已修复路灯。"
    assert replica.detail("A1").ticket.status is Status.RESOLVED
    # Undo either one undoes both.
    assert replica.undo(result.queued[0])
    assert replica.outbox() == [] and replica.detail("A1").ticket.status is Status.ASSIGNED


def test_bulk_gives_one_result_per_ticket_and_queues_the_others(replica):
    results = replica.resolve(["P1", "R1", "NOPE", "A1"], "已办结")
    by_id = {r.ticket_id: r for r in results}
    assert by_id["P1"].ok and by_id["A1"].ok
    # R1 is resolved already: not resolved again, its reply kept as a note (and said so).
    assert by_id["R1"].kept_as_note and by_id["R1"].reason is Reason.ALREADY_RESOLVED
    assert not by_id["NOPE"].ok and by_id["NOPE"].reason is Reason.NOT_FOUND
    assert _kinds(replica) == ["resolve", "note", "accept", "resolve"]


def test_empty_reply_is_refused_without_queueing(replica):
    results = replica.resolve(["P1", "A1"], "   ")
    assert [r.reason for r in results] == [Reason.INVALID, Reason.INVALID]
    assert replica.pending_count() == 0


def test_a_failure_mid_bulk_rolls_back_the_whole_call(replica, monkeypatch):
    import local_db.replica as mod

    real = mod.columns_of
    calls = {"n": 0}

    def failing(ticket):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(ticket)

    monkeypatch.setattr(mod, "columns_of", failing)
    with pytest.raises(RuntimeError):
        replica.resolve(["P1", "A1"], "已办结")
    monkeypatch.undo()
    assert replica.pending_count() == 0
    assert replica.detail("P1").ticket.status is Status.IN_PROGRESS


def test_actions_on_the_view_not_the_server_state(replica):
    assert replica.accept(["A1"])[0].ok
    # Signing for it again is already in effect in the view: fine, and nothing more is queued.
    [again] = replica.accept(["A1"])
    assert again.ok and again.action_id is None and replica.pending_count() == 1
    [resolved] = replica.accept(["R1"])
    assert not resolved.ok and resolved.reason is Reason.NOT_ALLOWED  # nothing moved: never allowed
    ext = replica.request_extension("A1", 3, "需要协调")
    assert ext.ok
    assert orjson.loads(replica.outbox()[-1].action_json)["base"]["status"] == "in_progress"
    assert replica.detail("A1").ticket.extension.days == 3


def test_note_return_and_extension(replica):
    assert replica.add_note("R1", "已回访", kind="call").ok
    assert not replica.add_note("R1", "  ").ok
    assert replica.request_return("P1", "不属于本单位").ok
    assert not replica.request_return("A1", "").ok
    assert not replica.request_extension("P1", 0, "x").ok
    detail = replica.detail("R1")
    assert detail.notes[-1].text == "已回访" and detail.notes[-1].kind == "call"
    assert replica.detail("P1").ticket.status is Status.RETURN_REQUESTED
    assert replica.count(TicketQuery(view=View.PENDING_DECISION)) == 1


def test_undo_only_unsent_and_undo_last(replica):
    first = replica.accept(["A1"])[0].action_id
    second = replica.add_note("P1", "现场查看").action_id
    assert replica.undo_last() == second
    replica.mark_sent([first])
    assert not replica.undo(first)
    assert replica.undo_last() is None
    assert not replica.undo("no-such-action")
    assert replica.pending_count() == 1


def test_seq_never_goes_back_after_undo(replica):
    a = replica.accept(["A1"])[0].action_id
    seq_a = replica.outbox()[0].seq
    replica.undo(a)
    replica.accept(["A1"])
    assert replica.outbox()[0].seq > seq_a


def test_a_big_bulk_action_defers_its_checkpoint_and_restores_the_setting(replica, monkeypatch):
    monkeypatch.setattr(replica, "_BIG_BATCH", 2)
    results = replica.resolve(["A1", "P1", "NOPE"], "已处理完毕")
    assert [r.ok for r in results] == [True, True, False]
    assert len({a for r in results for a in r.queued}) == 3  # accept + resolve, resolve: fresh ids
    assert replica._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert [e.kind for e in replica.outbox()] == ["accept", "resolve", "resolve"]
    assert replica.count(TicketQuery(view=View.RESOLVED)) == 3


def test_action_ids_are_random_uuid4_hex():
    from local_db.replica import _fresh_action_ids

    ids = list(itertools.islice(_fresh_action_ids(), 2100))  # crosses a refill of the random bytes
    assert len(set(ids)) == len(ids)
    for action_id in ids:
        u = uuid.UUID(action_id)
        assert u.hex == action_id and u.version == 4 and u.variant == uuid.RFC_4122


def test_a_big_bulk_action_pauses_garbage_collection_and_resumes_it_even_on_failure(replica, monkeypatch):
    import local_db.replica as mod

    monkeypatch.setattr(replica, "_BIG_BATCH", 2)
    real, seen, fail = mod.columns_of, [], [True]

    def spy(ticket):
        seen.append(gc.isenabled())
        if fail[0] and len(seen) == 2:
            raise RuntimeError("disk on fire")
        return real(ticket)

    monkeypatch.setattr(mod, "columns_of", spy)
    with pytest.raises(RuntimeError):
        replica.resolve(["A1", "P1"], "已处理完毕")
    assert seen == [False, False] and gc.isenabled() and replica.pending_count() == 0
    seen.clear()
    fail[0] = False
    assert all(r.ok for r in replica.resolve(["A1", "P1"], "已处理完毕"))
    assert seen == [False, False] and gc.isenabled()


@pytest.mark.parametrize(
    "created_at",
    [
        dt.datetime(2025, 6, 11, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        dt.datetime(2025, 6, 11, 2, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 31, 23, 59, 59, 1, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    ],
)
def test_bulk_action_json_is_the_models_own(created_at):
    from local_db.replica import _ActionJson, _bases
    from schemas.actions import Accept, AddNote, Resolve

    to_json, base = _ActionJson(), _bases()
    replies = ["已办结", '引号"\\反斜杠\n换行\t制表\u00a0控制 \u2028 emoji 😀', "x" * 4000]
    actions = [
        Accept(
            action_id="a" * 32, ticket_id="FY1", base=base(Status.ASSIGNED, "U1", 1), created_at=created_at
        ),
        Accept(
            action_id="b" * 32, ticket_id="FY2", base=base(Status.ASSIGNED, None, 0), created_at=created_at
        ),
        *(
            Resolve(
                action_id=f"r{i}" * 8,
                ticket_id="FY_3-x",
                base=base(Status.IN_PROGRESS, "U.2:x", 7),
                created_at=created_at,
                reply=reply,
            )
            for i, reply in enumerate(replies)
        ),
        AddNote(ticket_id="FY1", base=base(Status.RESOLVED, "U1", 1), created_at=created_at, text="便签"),
    ]
    for action in actions * 2:  # the second time from its caches
        assert to_json(action) == action.model_dump_json()
