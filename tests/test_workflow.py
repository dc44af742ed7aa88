"""The workflow table and ``decide()``: every row, by each actor, from every status; the epoch rule.

Tickets in a given status are made by running real ``decide()`` sequences from ``register``
(see :data:`ROUTES`), never written by hand, so every fixture is itself a legal history.
The helpers here are reused by ``test_workflow_properties.py``.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools

import pytest

from schemas.actions import (
    LIAISON_KINDS,
    Accept,
    AddNote,
    Archive,
    Assign,
    Base,
    DecideExtension,
    DecideReturn,
    Escalate,
    Reassign,
    RecordFeedback,
    Register,
    RejectReply,
    RequestExtension,
    RequestReturn,
    Resolve,
    Supervise,
    Urge,
)
from schemas.calendar import BEIJING, WorkCalendar
from schemas.enums import (
    AppealType,
    Channel,
    Complexity,
    EpochCause,
    Reason,
    Role,
    Satisfaction,
    Status,
)
from schemas.ticket import Event, Ticket
from schemas.workflow import (
    ACTION_ROLES,
    TRANSITIONS,
    Actor,
    Applied,
    Decision,
    Rejected,
    Transition,
    base_of,
    decide,
    invariant_violations,
    is_legal_event,
)

CAL = WorkCalendar()
#: Monday 2 March 2026, 09:00 in Beijing: an ordinary working week, far from any holiday.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=BEIJING)
TICKET_ID = "FY20260302-0001"
UNIT_A, UNIT_B, UNIT_C = "unit-a", "unit-b", "unit-c"
CENTRAL = Actor(Role.CENTRAL, "dispatcher")

_ids = itertools.count(1)


def liaison(unit: str | None, name: str | None = None) -> Actor:
    return Actor(Role.LIAISON, name or f"liaison-of-{unit}", unit)


def other_unit(ticket: Ticket | None) -> str:
    """A unit the ticket is not with now (for reassign / granted return)."""
    return UNIT_B if ticket is None or ticket.unit_id != UNIT_B else UNIT_A


REGISTER_FIELDS = {
    "channel": Channel.HOTLINE_12345,
    "appeal_type": AppealType.COMPLAINT,
    "category": "城市管理",
    "title": "小区门口占道经营",
    "description": "晚上八点后小区门口有多家摊位占道经营，噪音大，影响通行。",
    "citizen_name": "张三",
    "citizen_phone": "13812345678",
    "address": "颍州区清河街道某小区",
    "county": "颍州区",
    "township": "清河街道",
    "complexity": Complexity.GENERAL,
}

_FRESH = object()  #: base the liaison action on the ticket as it is now


def make_action(key: str, ticket: Ticket | None, *, at: dt.datetime = T0, base=_FRESH, **fields):
    """A valid action for table row ``key`` ("kind" or "kind:variant") against ``ticket``.

    Liaison actions are based on ``ticket`` as it is now unless ``base`` is given; ``fields``
    override the content.
    """
    kind, _, variant = key.partition(":")
    common = {
        "ticket_id": TICKET_ID if ticket is None else ticket.id,
        "created_at": at,
        "action_id": fields.pop("action_id", f"act{next(_ids):06d}"),
    }
    if kind in LIAISON_KINDS:
        if base is _FRESH:
            base = (
                base_of(ticket)
                if ticket is not None
                else Base(status=Status.ASSIGNED, unit_id=UNIT_A, epoch=1)
            )
        common["base"] = base
    elif base is not _FRESH:
        common["base"] = base
    match kind:
        case "register":
            return Register(**common, **(REGISTER_FIELDS | fields))
        case "assign":
            return Assign(**common, **({"unit_id": UNIT_A} | fields))
        case "reassign":
            return Reassign(**common, **({"unit_id": other_unit(ticket), "reason": "属地调整"} | fields))
        case "decide_return":
            approve = variant == "approve"
            unit = other_unit(ticket) if approve else None
            return DecideReturn(**common, **({"approve": approve, "unit_id": unit} | fields))
        case "decide_extension":
            return DecideExtension(**common, **({"approve": variant == "approve"} | fields))
        case "urge":
            return Urge(**common, **({"comment": "请尽快办理"} | fields))
        case "supervise":
            return Supervise(**common, **fields)
        case "escalate":
            return Escalate(**common, **({"comment": "协调组调度"} | fields))
        case "reject_reply":
            return RejectReply(**common, **({"reason": "答复未说明处理结果"} | fields))
        case "record_feedback":
            return RecordFeedback(**common, **({"result": Satisfaction(variant)} | fields))
        case "archive":
            return Archive(**common, **fields)
        case "accept":
            return Accept(**common, **fields)
        case "note":
            return AddNote(**common, **({"text": "已电话联系群众，约定明天上门"} | fields))
        case "resolve":
            return Resolve(**common, **({"reply": "已联系城管中队清理摊位，并设置巡查点。"} | fields))
        case "request_return":
            return RequestReturn(**common, **({"reason": "该地址属于相邻街道辖区"} | fields))
        case "request_extension":
            return RequestExtension(**common, **({"days": 3, "reason": "需协调多个部门"} | fields))
    raise AssertionError(f"no such action {key}")


def assert_legal(decision: Decision, before: Ticket | None = None) -> None:
    """Whatever ``decide`` answered is a legal outcome: clean state, legal events, valid models."""
    if isinstance(decision, Rejected):
        assert isinstance(decision.reason, Reason)
        for note in decision.notes:
            assert note.kind == "reply_kept"
        return
    ticket = decision.ticket
    assert invariant_violations(ticket) == [], (ticket, invariant_violations(ticket))
    # decide builds states with model_copy (no validation): check the result is a valid Ticket.
    assert Ticket.model_validate(ticket.model_dump()) == ticket
    for event in decision.events:
        assert is_legal_event(event), event
        assert Event.model_validate(event.model_dump()) == event
        assert event.ticket_id == ticket.id
        assert event.to_status is ticket.status
        assert event.from_status is (before.status if before is not None else None)
        assert event.epoch == ticket.epoch
    if before is not None:
        assert ticket.id == before.id
        assert ticket.epoch >= before.epoch


def actor_for(who: str, ticket: Ticket | None) -> Actor:
    """``"C"``: the platform; ``"L"``: a liaison of the unit the ticket is with; ``"L2"``: another one."""
    if who == "C":
        return CENTRAL
    unit = ticket.unit_id if ticket is not None else None
    return liaison(unit, f"{who}-of-{unit}")


def step(ticket: Ticket | None, key: str, who: str, at: dt.datetime, **fields) -> Ticket:
    """Decide one action that must be applied; check the result is legal; return the new state."""
    decision = decide(ticket, make_action(key, ticket, at=at, **fields), actor_for(who, ticket), at, CAL)
    assert isinstance(decision, Applied), (key, decision)
    assert_legal(decision, ticket)
    return decision.ticket


#: Ways to reach each state, as (row key, who) steps from nothing. Several routes end in the same
#: status by different histories (reassigned, refused return, rejected reply, rework ...).
ROUTES: dict[str, tuple[tuple[str, str], ...]] = {}
ROUTES["registered"] = (("register", "C"),)
ROUTES["assigned"] = (*ROUTES["registered"], ("assign", "C"))
ROUTES["in_progress"] = (*ROUTES["assigned"], ("accept", "L"))
ROUTES["in_progress_ext_pending"] = (*ROUTES["in_progress"], ("request_extension", "L"))
ROUTES["return_requested_unsigned"] = (*ROUTES["assigned"], ("request_return", "L"))
ROUTES["return_requested"] = (*ROUTES["in_progress"], ("request_return", "L"))
ROUTES["resolved"] = (*ROUTES["in_progress"], ("resolve", "L"))
ROUTES["closed"] = (*ROUTES["resolved"], ("record_feedback:satisfied", "C"))
ROUTES["closed_basically"] = (*ROUTES["resolved"], ("record_feedback:basically_satisfied", "C"))
ROUTES["archived"] = (*ROUTES["closed"], ("archive", "C"))
ROUTES["reassigned"] = (*ROUTES["in_progress"], ("reassign", "C"))
ROUTES["return_granted"] = (*ROUTES["return_requested"], ("decide_return:approve", "C"))
ROUTES["reassigned_back"] = (*ROUTES["assigned"], ("reassign", "C"), ("reassign", "C"))
ROUTES["return_refused"] = (*ROUTES["return_requested"], ("decide_return:refuse", "C"))
ROUTES["reply_rejected"] = (*ROUTES["resolved"], ("reject_reply", "C"))
ROUTES["reopened"] = (*ROUTES["resolved"], ("record_feedback:dissatisfied", "C"))
ROUTES["reopened_from_closed"] = (*ROUTES["closed"], ("record_feedback:dissatisfied", "C"))
ROUTES["reopened_resolved"] = (*ROUTES["reopened_from_closed"], ("resolve", "L"))
ROUTES["extension_granted"] = (*ROUTES["in_progress_ext_pending"], ("decide_extension:approve", "C"))
ROUTES["extension_refused"] = (*ROUTES["in_progress_ext_pending"], ("decide_extension:refuse", "C"))
ROUTES["flagged"] = (*ROUTES["in_progress"], ("urge", "C"), ("supervise", "C"), ("escalate", "C"))


@functools.cache
def history(route: str, start: dt.datetime = T0) -> tuple[Ticket, ...]:
    """Every state along ``route``, one step an hour from ``start``.

    Cached: the walk below asks for the same routes hundreds of times, and tickets are frozen.
    """
    states: list[Ticket] = []
    ticket = None
    for i, (key, who) in enumerate(ROUTES[route]):
        ticket = step(ticket, key, who, start + dt.timedelta(hours=i))
        states.append(ticket)
    return tuple(states)


def drive(route: str, start: dt.datetime = T0) -> Ticket:
    """A ticket brought to the end of ``route`` by real decisions."""
    return history(route, start)[-1]


def later(ticket: Ticket | None) -> dt.datetime:
    """A moment after everything that happened to ``ticket``."""
    return (ticket.updated_at if ticket is not None else T0) + dt.timedelta(hours=1)


# --- the table itself ----------------------------------------------------------------------------


def test_table_names_every_action_once_per_variant_with_one_role() -> None:
    keys = [t.key for t in TRANSITIONS]
    assert len(keys) == len(set(keys))
    assert {k for k, role in ACTION_ROLES.items() if role is Role.LIAISON} == set(LIAISON_KINDS)
    for row in TRANSITIONS:
        assert all(t.role is row.role for t in TRANSITIONS if t.action == row.action)
    assert {t.key for t in TRANSITIONS if t.epoch_cause is not None} == {
        "assign",
        "reassign",
        "decide_return:approve",
        "reject_reply",
        "record_feedback:dissatisfied",
    }


def test_every_route_reaches_the_status_it_is_named_for() -> None:
    reached = {route: drive(route).status for route in ROUTES}
    assert reached["archived"] is Status.ARCHIVED
    assert reached["reassigned_back"] is Status.ASSIGNED
    assert {reached[r] for r in ("reply_rejected", "reopened", "return_refused")} == {Status.IN_PROGRESS}
    assert set(reached.values()) == set(Status)  # every status is covered by the walk below


# --- every row × every state × both roles ------------------------------------------------------


def expected_outcome(row: Transition, role: Role, ticket: Ticket | None) -> Reason | str:
    """What the table says should happen: "applied", "noop", or the refusal's reason."""
    if role is not row.role:
        return Reason.NOT_ALLOWED
    status = ticket.status if ticket is not None else None
    if role is Role.CENTRAL:
        if row.action == "register":
            return "applied" if ticket is None else Reason.ALREADY_EXISTS
        if ticket is None:
            return Reason.NOT_FOUND
        if status not in row.from_statuses:
            return Reason.NOT_ALLOWED
        if row.action == "decide_extension" and ticket.extension is None:
            return Reason.NOT_ALLOWED  # nothing to decide
        return "applied"
    # A liaison only sees tickets its unit holds or held; a registered one is nobody's yet.
    if ticket is None or ticket.unit_id is None:
        return Reason.NOT_FOUND
    if row.action == "note" or status in row.from_statuses:
        if row.action == "request_extension" and ticket.extension is not None:
            return Reason.STATUS_CHANGED  # one request at a time
        return "applied"
    if row.action == "resolve" and status in (Status.RESOLVED, Status.CLOSED, Status.ARCHIVED):
        return Reason.ALREADY_RESOLVED
    if row.action == "accept" and status is Status.IN_PROGRESS:
        return "noop"
    return Reason.NOT_ALLOWED  # the walk bases every action on the current state: nothing moved


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("route", [None, *ROUTES], ids=lambda r: r or "no_ticket")
@pytest.mark.parametrize("row", TRANSITIONS, ids=lambda t: t.key)
def test_every_row_from_every_state_by_each_role(row: Transition, route: str | None, role: Role) -> None:
    ticket = drive(route) if route else None
    now = later(ticket)
    actor = CENTRAL if role is Role.CENTRAL else actor_for("L", ticket)
    if role is Role.LIAISON and actor.unit_id is None:
        actor = liaison(UNIT_A)  # the unit a registered ticket will be assigned to
    action = make_action(row.key, ticket, at=now)
    decision = decide(ticket, action, actor, now, CAL)
    expected = expected_outcome(row, role, ticket)
    assert_legal(decision, ticket)

    if isinstance(expected, Reason):
        assert isinstance(decision, Rejected), decision
        assert decision.reason is expected, decision
        assert decision.message
        if expected is Reason.ALREADY_RESOLVED:
            (kept,) = decision.notes
            assert (kept.kind, kept.text, kept.author) == ("reply_kept", action.reply, actor.name)
            assert kept.unit_id == actor.unit_id and kept.ticket_id == ticket.id
        else:
            assert decision.notes == ()
        return

    assert isinstance(decision, Applied), decision
    new = decision.ticket
    if expected == "noop":
        assert decision.noop and new == ticket and decision.events == () and decision.notes == ()
        return
    assert not decision.noop
    if row.action == "note":
        (note,) = decision.notes
        assert decision.events == () and new == ticket
        assert (note.id, note.text, note.author, note.unit_id) == (
            action.note_id,
            action.text,
            actor.name,
            actor.unit_id,
        )
        return

    (event,) = decision.events
    assert event.action == row.key and event.id == action.action_id
    assert (event.role, event.actor, event.unit_id, event.at) == (role, actor.name, actor.unit_id, now)
    assert new.status is (row.to_status or ticket.status)
    assert new.updated_at == now
    if ticket is None:
        assert (new.id, new.epoch, new.revision) == (action.ticket_id, 0, 0)
        return
    assert new.revision == ticket.revision + 1
    if row.epoch_cause is not None:
        assert (new.epoch, new.epoch_cause) == (ticket.epoch + 1, row.epoch_cause)
    else:
        assert (new.epoch, new.epoch_cause) == (ticket.epoch, ticket.epoch_cause)
        assert new.unit_id == ticket.unit_id and new.past_units == ticket.past_units


# --- effects of each kind of transition ----------------------------------------------------------


def test_assign_sets_unit_epoch_and_both_deadlines() -> None:
    ticket = drive("registered")
    now = later(ticket)
    new = step(ticket, "assign", "C", now, unit_id=UNIT_C)
    assert (new.unit_id, new.epoch, new.epoch_cause, new.assigned_at) == (UNIT_C, 1, EpochCause.ASSIGN, now)
    # Monday 2 March 2026: sign for by Tuesday, handle (general: 5 working days) by next Monday.
    assert (new.sign_due, new.handle_due, new.deadline_provisional) == (
        dt.date(2026, 3, 3),
        dt.date(2026, 3, 9),
        False,
    )


def test_assign_may_reclassify_and_the_deadline_follows_the_new_complexity() -> None:
    ticket = drive("registered")
    new = step(ticket, "assign", "C", later(ticket), complexity=Complexity.URGENT)
    assert new.complexity is Complexity.URGENT
    assert new.handle_due == dt.date(2026, 3, 4)  # Monday + 2 working days


def test_assign_on_the_eve_of_national_day_counts_from_the_beijing_date() -> None:
    ticket = drive("registered", start=dt.datetime(2026, 9, 30, 8, 0, tzinfo=BEIJING))
    evening = dt.datetime(2026, 9, 30, 15, 30, tzinfo=dt.UTC)  # 23:30 in Beijing: still 30 Sept
    new = step(ticket, "assign", "C", evening)
    assert (new.sign_due, new.handle_due) == (dt.date(2026, 10, 8), dt.date(2026, 10, 13))
    after_midnight = dt.datetime(2026, 9, 30, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 October in Beijing
    new = step(ticket, "assign", "C", after_midnight)
    assert (new.sign_due, new.handle_due) == (dt.date(2026, 10, 8), dt.date(2026, 10, 13))


def test_reassign_moves_the_ticket_and_restarts_its_clock() -> None:
    ticket = drive("in_progress_ext_pending")
    now = later(ticket) + dt.timedelta(days=1)  # Tuesday
    new = step(ticket, "reassign", "C", now, unit_id=UNIT_C)
    assert (new.status, new.unit_id, new.past_units) == (Status.ASSIGNED, UNIT_C, [UNIT_A])
    assert (new.epoch, new.epoch_cause) == (ticket.epoch + 1, EpochCause.REASSIGN)
    assert (new.accepted_at, new.extension, new.assigned_at) == (None, None, now)
    assert (new.sign_due, new.handle_due) == (dt.date(2026, 3, 4), dt.date(2026, 3, 10))


def test_reassign_to_the_unit_that_has_it_is_invalid() -> None:
    ticket = drive("in_progress")
    decision = decide(ticket, make_action("reassign", ticket, unit_id=UNIT_A), CENTRAL, later(ticket), CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.INVALID


def test_reassign_away_and_back_keeps_the_past_units_clean() -> None:
    ticket = drive("reassigned_back")
    assert (ticket.unit_id, ticket.epoch, ticket.epoch_cause) == (UNIT_A, 3, EpochCause.REASSIGN)
    assert ticket.past_units == [UNIT_B]
    assert invariant_violations(ticket) == []


def test_granting_a_return_reassigns_and_counts_it() -> None:
    ticket = drive("return_requested")
    new = step(ticket, "decide_return:approve", "C", later(ticket), unit_id=UNIT_C)
    assert (new.status, new.unit_id, new.past_units) == (Status.ASSIGNED, UNIT_C, [UNIT_A])
    assert (new.epoch, new.epoch_cause, new.return_reason) == (ticket.epoch + 1, EpochCause.REASSIGN, None)
    assert new.counters.returns == ticket.counters.returns + 1 == 1


@pytest.mark.parametrize("unit", [None, UNIT_A])
def test_granting_a_return_needs_another_unit(unit: str | None) -> None:
    ticket = drive("return_requested")
    action = make_action("decide_return:approve", ticket, unit_id=unit)
    decision = decide(ticket, action, CENTRAL, later(ticket), CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.INVALID


def test_refusing_a_return_sends_the_unit_back_to_work() -> None:
    for route in ("return_requested", "return_requested_unsigned"):
        ticket = drive(route)
        now = later(ticket)
        new = step(ticket, "decide_return:refuse", "C", now)
        assert (new.status, new.unit_id, new.epoch, new.return_reason) == (
            Status.IN_PROGRESS,
            UNIT_A,
            ticket.epoch,
            None,
        )
        assert new.counters.returns == 0
        assert new.accepted_at == (ticket.accepted_at or now)


def test_reject_reply_bumps_the_epoch_and_counts() -> None:
    ticket = drive("resolved")
    new = step(ticket, "reject_reply", "C", later(ticket))
    assert (new.status, new.reply, new.resolved_at) == (Status.IN_PROGRESS, None, None)
    assert (new.epoch, new.epoch_cause) == (ticket.epoch + 1, EpochCause.REJECT_REPLY)
    assert new.counters.reply_rejections == 1


@pytest.mark.parametrize("route", ["resolved", "closed"])
def test_dissatisfied_feedback_reopens_for_rework(route: str) -> None:
    ticket = drive(route)
    now = later(ticket) + dt.timedelta(days=1)  # Tuesday 3 March
    new = step(ticket, "record_feedback:dissatisfied", "C", now)
    assert (new.status, new.satisfaction, new.reply, new.closed_at) == (
        Status.IN_PROGRESS,
        Satisfaction.DISSATISFIED,
        None,
        None,
    )
    assert (new.epoch, new.epoch_cause, new.counters.reworks) == (ticket.epoch + 1, EpochCause.REWORK, 1)
    assert new.handle_due == dt.date(2026, 3, 10)  # a fresh handling period from the reopening day


@pytest.mark.parametrize("result", [Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED])
def test_satisfied_feedback_closes(result: Satisfaction) -> None:
    ticket = drive("resolved")
    now = later(ticket)
    new = step(ticket, f"record_feedback:{result.value}", "C", now)
    assert (new.status, new.satisfaction, new.closed_at, new.epoch) == (
        Status.CLOSED,
        result,
        now,
        ticket.epoch,
    )


def test_resolve_records_the_reply_and_who_gave_it() -> None:
    ticket = drive("in_progress_ext_pending")
    now = later(ticket)
    new = step(ticket, "resolve", "L", now, reply="已处理完毕")
    assert (new.reply, new.replied_by, new.resolved_at, new.extension) == (
        "已处理完毕",
        f"L-of-{UNIT_A}",
        now,
        None,
    )


def _pending_extension_around_national_day() -> Ticket:
    """A general ticket assigned Thursday 24 Sept 2026, asking for 3 more days.

    Mid-autumn (25-27 Sept) and National Day (1-7 Oct) are off: due Friday 9 October.
    """
    start = dt.datetime(2026, 9, 24, 9, 0, tzinfo=BEIJING)
    ticket = drive("in_progress_ext_pending", start=start)
    assert ticket.handle_due == dt.date(2026, 10, 9)
    assert ticket.extension is not None and ticket.extension.days == 3
    return ticket


def test_granted_extension_adds_working_days_across_the_holiday() -> None:
    ticket = _pending_extension_around_national_day()
    new = step(ticket, "decide_extension:approve", "C", later(ticket))
    # 10 Oct (make-up Saturday), 12 Oct (Mon), 13 Oct (Tue).
    assert (new.handle_due, new.extension, new.counters.extensions) == (dt.date(2026, 10, 13), None, 1)
    assert new.status is Status.IN_PROGRESS and new.epoch == ticket.epoch


def test_granted_extension_may_grant_fewer_days_than_asked() -> None:
    ticket = _pending_extension_around_national_day()
    new = step(ticket, "decide_extension:approve", "C", later(ticket), days=1)
    assert new.handle_due == dt.date(2026, 10, 10)  # the make-up Saturday is a working day


def test_refused_extension_keeps_the_deadline() -> None:
    ticket = _pending_extension_around_national_day()
    new = step(ticket, "decide_extension:refuse", "C", later(ticket))
    assert (new.handle_due, new.extension, new.counters.extensions) == (ticket.handle_due, None, 0)


def test_deciding_an_extension_nobody_asked_for_is_not_allowed() -> None:
    ticket = drive("in_progress")
    decision = decide(ticket, make_action("decide_extension:approve", ticket), CENTRAL, later(ticket), CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.NOT_ALLOWED


def test_one_extension_request_at_a_time() -> None:
    ticket = drive("in_progress_ext_pending")
    action = make_action("request_extension", ticket)
    decision = decide(ticket, action, actor_for("L", ticket), later(ticket), CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.STATUS_CHANGED


def test_requesting_a_return_withdraws_a_pending_extension() -> None:
    ticket = drive("in_progress_ext_pending")
    new = step(ticket, "request_return", "L", later(ticket))
    assert (new.status, new.extension) == (Status.RETURN_REQUESTED, None)
    refused = step(new, "decide_return:refuse", "C", later(new))
    assert refused.status is Status.IN_PROGRESS and invariant_violations(refused) == []


def test_flags_accumulate_and_never_move_status_or_epoch() -> None:
    ticket = drive("in_progress")
    at = later(ticket)
    t = step(ticket, "urge", "C", at)
    t = step(t, "urge", "C", at)
    t = step(t, "supervise", "C", at, listed=True)
    t = step(t, "supervise", "C", at)  # plain supervision does not lift the listing
    t = step(t, "escalate", "C", at, comment="县协调组牵头")
    assert (t.flags.urged, t.flags.supervised, t.flags.listed, t.flags.escalated) == (2, True, True, True)
    assert t.flags.escalation_note == "县协调组牵头"
    assert (t.status, t.epoch, t.revision) == (ticket.status, ticket.epoch, ticket.revision + 5)


def test_register_creates_a_clean_ticket_once() -> None:
    ticket = drive("registered")
    assert (ticket.status, ticket.unit_id, ticket.epoch, ticket.handle_due) == (
        Status.REGISTERED,
        None,
        0,
        None,
    )
    assert ticket.registered_at == ticket.updated_at == T0 and ticket.citizen_phone == "13812345678"
    again = decide(ticket, make_action("register", None), CENTRAL, later(ticket), CAL)
    assert isinstance(again, Rejected) and again.reason is Reason.ALREADY_EXISTS


def test_an_action_for_another_ticket_number_is_not_found() -> None:
    ticket = drive("in_progress")
    for key, actor in (("urge", CENTRAL), ("resolve", liaison(UNIT_A))):
        action = make_action(key, ticket).model_copy(update={"ticket_id": "FY-OTHER"})
        decision = decide(ticket, action, actor, later(ticket), CAL)
        assert isinstance(decision, Rejected) and decision.reason is Reason.NOT_FOUND


def test_central_action_with_a_base_is_refused_when_the_ticket_moved_on() -> None:
    states = history("resolved")
    in_progress, resolved = states[-2], states[-1]
    stale = make_action("urge", resolved, base=base_of(in_progress))
    decision = decide(resolved, stale, CENTRAL, later(resolved), CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.STATUS_CHANGED
    reopened = step(resolved, "record_feedback:dissatisfied", "C", later(resolved))
    decision = decide(reopened, make_action("urge", reopened, base=base_of(in_progress)), CENTRAL, T0, CAL)
    assert isinstance(decision, Rejected) and decision.reason is Reason.REOPENED
    fresh = make_action("urge", reopened, base=base_of(reopened))
    assert isinstance(decide(reopened, fresh, CENTRAL, later(reopened), CAL), Applied)


# --- the epoch rule: stale offline actions -------------------------------------------------------


def _liaison_decides(
    ticket: Ticket, key: str, base: Base, unit: str = UNIT_A, name: str = "王敏"
) -> Decision:
    action = make_action(key, ticket, base=base)
    decision = decide(ticket, action, liaison(unit, name), later(ticket), CAL)
    assert_legal(decision, ticket)
    return decision


def test_stale_resolve_after_a_reopen_is_refused_reopened_even_though_status_matches() -> None:
    # Liaison 1 works offline on the ticket in progress; meanwhile a colleague resolves, the
    # citizen is satisfied, then changes their mind: the ticket is in progress again.
    offline_view = drive("in_progress")
    ticket = drive("reopened_from_closed")
    assert ticket.status is offline_view.status is Status.IN_PROGRESS and ticket.unit_id == UNIT_A
    decision = _liaison_decides(ticket, "resolve", base_of(offline_view))
    assert isinstance(decision, Rejected) and decision.reason is Reason.REOPENED
    assert decision.notes == ()  # not a second reply: the first was thrown out with the rework
    # Made against the reopened ticket, the same resolve is fine.
    assert isinstance(_liaison_decides(ticket, "resolve", base_of(ticket)), Applied)


def test_stale_resolve_after_reject_reply_is_refused_reply_rejected() -> None:
    offline_view = drive("in_progress")
    ticket = drive("reply_rejected")
    assert ticket.status is Status.IN_PROGRESS
    decision = _liaison_decides(ticket, "resolve", base_of(offline_view))
    assert isinstance(decision, Rejected) and decision.reason is Reason.REPLY_REJECTED


@pytest.mark.parametrize("key", ["accept", "resolve", "request_return", "request_extension"])
def test_stale_action_after_reassign_away_is_refused_reassigned(key: str) -> None:
    states = history("reassigned")
    offline_view, ticket = states[-2], states[-1]
    assert ticket.unit_id == UNIT_B and UNIT_A in ticket.past_units
    decision = _liaison_decides(ticket, key, base_of(offline_view))
    assert isinstance(decision, Rejected) and decision.reason is Reason.REASSIGNED


def test_stale_action_after_reassign_away_and_back_is_refused_reassigned() -> None:
    states = history("reassigned_back")
    offline_view, ticket = states[1], states[-1]  # assigned to A, then B, then A again
    assert (offline_view.status, offline_view.unit_id) == (Status.ASSIGNED, UNIT_A)
    assert (ticket.status, ticket.unit_id) == (Status.ASSIGNED, UNIT_A)
    for key in ("accept", "request_return"):
        decision = _liaison_decides(ticket, key, base_of(offline_view))
        assert isinstance(decision, Rejected) and decision.reason is Reason.REASSIGNED, key


@pytest.mark.parametrize("route", ["assigned", "in_progress", "resolved", "closed", "reassigned"])
@pytest.mark.parametrize("key", sorted(LIAISON_KINDS))
def test_a_unit_that_never_held_the_ticket_learns_nothing(route: str, key: str) -> None:
    ticket = drive(route)
    for base in (base_of(ticket), Base(status=Status.ASSIGNED, unit_id=UNIT_C, epoch=1)):
        decision = _liaison_decides(ticket, key, base, unit=UNIT_C)
        missing = decide(None, make_action(key, ticket, base=base), liaison(UNIT_C), later(ticket), CAL)
        assert isinstance(decision, Rejected) and decision.reason is Reason.NOT_FOUND
        # Exactly what it would hear if the ticket did not exist at all.
        assert (decision.message, decision.notes) == (missing.message, missing.notes)


def test_a_liaison_without_a_unit_sees_nothing() -> None:
    for route in ("registered", "assigned"):
        ticket = drive(route)
        decision = _liaison_decides(ticket, "note", base_of(ticket), unit=None)
        assert isinstance(decision, Rejected) and decision.reason is Reason.NOT_FOUND


@pytest.mark.parametrize(
    "route",
    sorted(r for r in set(ROUTES) - {"registered"} if drive(r).unit_id == UNIT_A),  # still held
)
def test_a_note_is_accepted_whatever_happened_since_its_base(route: str) -> None:
    stale_base = Base(status=Status.ASSIGNED, unit_id=UNIT_A, epoch=1)  # made right after assignment
    ticket = drive(route)
    decision = _liaison_decides(ticket, "note", stale_base, unit=UNIT_A)
    assert isinstance(decision, Applied) and decision.ticket == ticket
    (note,) = decision.notes
    assert (note.unit_id, note.author, note.kind) == (UNIT_A, "王敏", "note")


def test_a_note_from_the_unit_it_was_reassigned_away_from_is_refused() -> None:
    ticket = drive("return_granted")
    assert ticket.unit_id == UNIT_B and UNIT_A in ticket.past_units
    decision = _liaison_decides(ticket, "note", Base(status=Status.IN_PROGRESS, unit_id=UNIT_A, epoch=1))
    assert isinstance(decision, Rejected) and decision.reason is Reason.REASSIGNED
    assert UNIT_B not in decision.message  # the unit it left for is not the old unit's business


def test_two_liaisons_of_one_unit_resolving_the_second_reply_is_kept_as_a_note() -> None:
    ticket = drive("in_progress")
    base = base_of(ticket)
    first = make_action("resolve", ticket, base=base, reply="第一位联络员的答复")
    second = make_action("resolve", ticket, base=base, reply="第二位联络员的答复")
    won = decide(ticket, first, liaison(UNIT_A, "李一"), later(ticket), CAL)
    assert isinstance(won, Applied)
    resolved = won.ticket
    lost = decide(resolved, second, liaison(UNIT_A, "李二"), later(resolved), CAL)
    assert isinstance(lost, Rejected) and lost.reason is Reason.ALREADY_RESOLVED
    assert "李一" in lost.message
    (kept,) = lost.notes
    assert (kept.kind, kept.text, kept.author, kept.ticket_id) == (
        "reply_kept",
        "第二位联络员的答复",
        "李二",
        ticket.id,
    )
    assert kept.id.startswith(second.action_id)
    assert (resolved.reply, resolved.replied_by) == ("第一位联络员的答复", "李一")


def test_accept_after_a_colleague_accepted_is_a_noop() -> None:
    assigned = drive("assigned")
    accepted = step(assigned, "accept", "L", later(assigned))
    decision = _liaison_decides(accepted, "accept", base_of(assigned))
    assert isinstance(decision, Applied) and decision.noop
    assert decision.ticket == accepted and decision.events == ()


def test_return_request_on_a_ticket_a_colleague_signed_for_meanwhile_is_fine() -> None:
    assigned = drive("assigned")
    accepted = step(assigned, "accept", "L", later(assigned))
    decision = _liaison_decides(accepted, "request_return", base_of(assigned))
    assert isinstance(decision, Applied) and decision.ticket.status is Status.RETURN_REQUESTED


@pytest.mark.parametrize("flag", ["urge", "supervise", "escalate"])
def test_flags_and_notes_between_base_and_action_are_no_conflict(flag: str) -> None:
    ticket = drive("in_progress")
    base = base_of(ticket)
    flagged = step(ticket, flag, "C", later(ticket))
    noted = decide(flagged, make_action("note", flagged), liaison(UNIT_A, "李二"), later(flagged), CAL)
    assert isinstance(noted, Applied)
    for key in ("resolve", "request_return", "request_extension"):
        decision = _liaison_decides(noted.ticket, key, base)
        assert isinstance(decision, Applied), (key, decision)


def test_resolve_after_a_colleague_asked_to_return_is_status_changed() -> None:
    ticket = drive("in_progress")
    asked = step(ticket, "request_return", "L", later(ticket))
    decision = _liaison_decides(asked, "resolve", base_of(ticket))
    assert isinstance(decision, Rejected) and decision.reason is Reason.STATUS_CHANGED


# --- the checkers themselves can fail ------------------------------------------------------------


def test_is_legal_event_refuses_what_the_table_does_not_allow() -> None:
    ticket = drive("in_progress")
    decision = decide(ticket, make_action("resolve", ticket), liaison(UNIT_A), later(ticket), CAL)
    (event,) = decision.events
    assert is_legal_event(event)
    for bad in (
        {"role": Role.CENTRAL},
        {"from_status": Status.ASSIGNED},
        {"to_status": Status.CLOSED},
        {"action": "teleport"},
        {"action": "urge"},  # a flag never moves the status
        {"from_status": None},
    ):
        assert not is_legal_event(event.model_copy(update=bad)), bad
    urge = Event(
        **(event.model_dump() | {"action": "urge", "role": Role.CENTRAL, "to_status": Status.IN_PROGRESS})
    )
    assert is_legal_event(urge)


def test_invariant_violations_names_each_broken_rule() -> None:
    registered, in_progress = drive("registered"), drive("in_progress")
    resolved, closed = drive("resolved"), drive("closed")
    broken = {
        "registered with a unit": registered.evolve(unit_id=UNIT_A),
        "assigned without a unit": in_progress.evolve(unit_id=None),
        "assigned without deadlines": in_progress.evolve(handle_due=None),
        "assigned without sign-for deadline": in_progress.evolve(sign_due=None),
        "return reason while in progress": in_progress.evolve(return_reason="x"),
        "return requested without reason": in_progress.evolve(status=Status.RETURN_REQUESTED),
        "resolved without reply": resolved.evolve(reply=None),
        "closed, dissatisfied": closed.evolve(satisfaction=Satisfaction.DISSATISFIED),
        "extension while resolved": resolved.evolve(extension=drive("in_progress_ext_pending").extension),
        "current unit among past units": in_progress.evolve(past_units=[UNIT_A]),
        "epoch moved without a cause": in_progress.evolve(epoch_cause=None),
    }
    for what, ticket in broken.items():
        assert invariant_violations(ticket) != [], what
