"""Properties of ``decide()`` over random legal histories and random (often stale) actions.

A ticket is grown from ``register`` by random actions that the table allows, decided for real;
then two more actions by either role, with bases taken from any moment of that history (so
usually stale), are decided in both orders.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas.actions import CENTRAL_KINDS, LIAISON_KINDS, Base
from schemas.calendar import BEIJING, WorkCalendar
from schemas.enums import Complexity, Role, Status
from schemas.ticket import Ticket
from schemas.workflow import TRANSITIONS, Applied, Decision, Rejected, base_of, decide
from tests.test_workflow import (
    CAL,
    CENTRAL,
    UNIT_A,
    UNIT_B,
    UNIT_C,
    assert_legal,
    drive,
    liaison,
    make_action,
)

UNITS = (UNIT_A, UNIT_B, UNIT_C)
NAMES = ("李一", "李二")
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Central flags and notes touch neither status, unit nor epoch ...
NEUTRAL = ("note", "urge", "supervise", "escalate")
#: ... so they commute with these (a flag's allowance depends only on the ticket being open,
#: and none of these closes it; a note depends only on who held the ticket).
COMMUTES_WITH = ("accept", "resolve", "request_return", "request_extension", *NEUTRAL)

_action_numbers = st.integers(min_value=0, max_value=10**9)


def _content(draw: st.DrawFn, key: str, ticket: Ticket | None) -> dict:
    """Random valid content for ``key``'s action against ``ticket``."""
    kind = key.partition(":")[0]
    others = [u for u in UNITS if ticket is None or u != ticket.unit_id]
    match kind:
        case "assign":
            return {
                "unit_id": draw(st.sampled_from(UNITS)),
                "complexity": draw(st.none() | st.sampled_from(Complexity)),
            }
        case "reassign":
            return {"unit_id": draw(st.sampled_from(others))}
        case "decide_return" if key.endswith("approve"):
            return {"unit_id": draw(st.sampled_from(others))}
        case "decide_extension":
            return {"days": draw(st.none() | st.integers(1, 30))}
        case "supervise":
            return {"listed": draw(st.booleans())}
        case "request_extension":
            return {"days": draw(st.integers(1, 30))}
    return {}


@st.composite
def legal_histories(draw: st.DrawFn) -> list[Ticket]:
    """Every state of one ticket from its registration through random allowed actions."""
    start = dt.datetime(2026, 1, 5, 9, 0, tzinfo=BEIJING) + dt.timedelta(days=draw(st.integers(0, 700)))
    at = start
    ticket = None
    states: list[Ticket] = []
    for i in range(draw(st.integers(0, 12)) + 1):
        if ticket is None:
            key, actor = "register", CENTRAL
        else:
            rows = [t for t in TRANSITIONS if ticket.status in t.from_statuses and t.action != "note"]
            if not rows:
                break
            # Mostly rows that move the ticket along, so histories reach every status.
            moving = [t for t in rows if t.to_status is not None] or rows
            row = draw(st.sampled_from(moving) if draw(st.integers(0, 3)) else st.sampled_from(rows))
            key = row.key
            actor = (
                CENTRAL if row.role is Role.CENTRAL else liaison(ticket.unit_id, draw(st.sampled_from(NAMES)))
            )
        fields = _content(draw, key, ticket) | {"action_id": f"hist{i:02d}-{draw(_action_numbers):09d}"}
        decision = decide(ticket, make_action(key, ticket, at=at, **fields), actor, at, CAL)
        assert_legal(decision, ticket)
        if isinstance(decision, Applied):
            ticket = decision.ticket
            states.append(ticket)
        at += dt.timedelta(hours=draw(st.integers(1, 96)))
    return states


@st.composite
def bases(draw: st.DrawFn, states: list[Ticket]) -> Base:
    """What an offline action was based on: often the latest state, else any earlier moment of
    the history, sometimes something invented."""
    seen = [base_of(t) for t in states if t.unit_id is not None]
    invented = st.builds(
        Base, status=st.sampled_from(Status), unit_id=st.sampled_from(UNITS), epoch=st.integers(0, 6)
    )
    if not seen:
        return draw(invented)
    choice = draw(st.integers(0, 5))
    if choice <= 2:
        return seen[-1]
    return draw(st.sampled_from(seen) if choice <= 4 else invented)


@st.composite
def actions(draw: st.DrawFn, states: list[Ticket], kinds=None, central_base: bool = True):
    """(action, actor) by either role against the last state, with a possibly stale base."""
    ticket = states[-1]
    keys = [t.key for t in TRANSITIONS if (kinds is None or t.action in kinds) and t.action != "register"]
    key = draw(st.sampled_from(keys))
    kind = key.partition(":")[0]
    fields = _content(draw, key, ticket) | {"action_id": f"act-{draw(_action_numbers):09d}"}
    if kind in LIAISON_KINDS:
        # Mostly a liaison of the unit that holds it; else one that held it, a stranger, no unit.
        unit = ticket.unit_id
        if ticket.unit_id is None or not draw(st.integers(0, 3)):
            unit = draw(st.sampled_from([*ticket.past_units, *UNITS, None]))
        actor = liaison(unit, draw(st.sampled_from(NAMES)))
        fields["base"] = draw(bases(states))
    else:
        assert kind in CENTRAL_KINDS
        actor = CENTRAL
        if central_base and draw(st.booleans()):
            fields["base"] = draw(bases(states))
    return make_action(key, ticket, at=_now(ticket), **fields), actor


def _now(ticket: Ticket) -> dt.datetime:
    return ticket.updated_at + dt.timedelta(hours=2)


def _run(ticket: Ticket, steps) -> tuple[Ticket, list[Decision]]:
    """Decide ``steps`` one after the other at one fixed moment; every outcome must be legal."""
    now = _now(ticket)
    decisions = []
    for action, actor in steps:
        decision = decide(ticket, action, actor, now, CAL)
        assert_legal(decision, ticket)
        decisions.append(decision)
        if isinstance(decision, Applied):
            ticket = decision.ticket
    return ticket, decisions


def _outcome(decision: Decision) -> tuple:
    """What a decision said about its action, independent of the state it was applied to."""
    if isinstance(decision, Rejected):
        return ("rejected", decision.reason, tuple(n.model_dump_json() for n in decision.notes))
    return ("applied", decision.noop, tuple(n.model_dump_json() for n in decision.notes))


@SETTINGS
@given(st.data())
def test_random_histories_are_legal_and_any_two_actions_end_legal_in_either_order(data) -> None:
    states = data.draw(legal_histories())
    ticket = states[-1]
    first = data.draw(actions(states))
    second = data.draw(actions(states))
    _, decisions = _run(ticket, [first, second])
    _run(ticket, [second, first])
    event(f"ticket {ticket.status.value}")  # shown by --hypothesis-show-statistics
    for decision in decisions:
        event("applied" if isinstance(decision, Applied) else f"rejected {decision.reason.value}")


@SETTINGS
@given(st.data())
def test_neutral_actions_commute(data) -> None:
    states = data.draw(legal_histories())
    ticket = states[-1]
    neutral = data.draw(actions(states, kinds=NEUTRAL, central_base=False))
    other = data.draw(actions(states, kinds=COMMUTES_WITH, central_base=False))
    if neutral[0].kind == other[0].kind == "escalate":
        return  # the last escalation's note wins: two escalations do not commute
    one, (d1, d2) = _run(ticket, [neutral, other])
    two, (e2, e1) = _run(ticket, [other, neutral])
    assert one == two
    assert (_outcome(d1), _outcome(d2)) == (_outcome(e1), _outcome(e2))
    event(
        f"{neutral[0].kind}+{other[0].kind} both applied: {_outcome(d1)[0] == _outcome(d2)[0] == 'applied'}"
    )


@SETTINGS
@given(st.data())
def test_decide_is_deterministic(data) -> None:
    states = data.draw(legal_histories())
    ticket = states[-1]
    action, actor = data.draw(actions(states))
    now = _now(ticket)
    once = decide(ticket, action, actor, now, CAL)
    again = decide(ticket, action, actor, now, CAL)
    fresh_calendar = decide(ticket.model_copy(deep=True), action, actor, now, WorkCalendar())
    assert once == again == fresh_calendar


def test_commuting_pairs_named_in_the_brief_are_generated() -> None:
    """Guard the generator: the pairs the issue names are within the commuting set."""
    for pair in (
        ("note", "urge"),
        ("note", "supervise"),
        ("urge", "escalate"),
        ("note", "accept"),
        ("urge", "accept"),
        ("urge", "resolve"),
    ):
        assert pair[0] in NEUTRAL and pair[1] in COMMUTES_WITH


def test_actions_that_do_not_commute_are_told_apart() -> None:
    """The commutation check can fail: a resolve and a reassign end differently by order."""
    ticket = drive("in_progress")
    resolve = make_action("resolve", ticket, at=_now(ticket), action_id="resolve-0001")
    reassign = make_action("reassign", ticket, at=_now(ticket), action_id="reassign-001", unit_id=UNIT_B)
    one, _ = _run(ticket, [(resolve, liaison(UNIT_A)), (reassign, CENTRAL)])
    two, _ = _run(ticket, [(reassign, CENTRAL), (resolve, liaison(UNIT_A))])
    assert (one.status, one.unit_id) == (Status.RESOLVED, UNIT_A)
    assert (two.status, two.unit_id) == (Status.ASSIGNED, UNIT_B)
