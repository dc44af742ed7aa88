"""The workflow: the transition table as data, and the one rule that decides every action.

This module is the conflict rule of SPEC §4, stated once. The central service calls
:func:`decide` to apply an action for real; the liaison's replica calls the same function to
show an optimistic view of its unsent actions. Because it is pure (the clock and the calendar
are arguments) both sides reach the same answer from the same inputs.

How a liaison's offline action is judged, in order:

1. the actor's role must be allowed to make this kind of action, else ``NOT_ALLOWED`` (this
   looks at the action only, so it reveals nothing about the ticket);
2. the ticket must exist and be one the liaison's unit holds or held, else ``NOT_FOUND`` —
   the same answer as for a number that does not exist, so nothing leaks;
3. a note is always accepted (append-only, never a conflict);
4. the ticket must still be with the liaison's unit, else ``REASSIGNED``;
5. the assignment epoch must equal the one the action was based on, else the reason the epoch
   moved: ``REASSIGNED``, ``REOPENED`` (citizen dissatisfied) or ``REPLY_REJECTED``;
6. the current status must allow the action (not the base status: a request to return an
   assigned ticket that a colleague meanwhile signed for is still fine), else
   ``ALREADY_RESOLVED`` for a second reply — which is kept as a note — or ``STATUS_CHANGED``
   (``NOT_ALLOWED`` when the status is the one the action was based on: nothing moved).
   Signing for a ticket a colleague already signed for is applied as a no-op. A second
   extension request while one is pending is ``STATUS_CHANGED``.

Central actions win: they are decided against the current state, refused only when the table
does not allow them from the current status (``NOT_ALLOWED``) or their content is unusable.
Flags (urge, supervise, escalate) and notes never move the epoch, so they never make a
liaison's action stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas.actions import (
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
from schemas.calendar import WorkCalendar, beijing_date
from schemas.enums import EpochCause, Reason, Role, Satisfaction, Status
from schemas.ticket import Event, ExtensionRequest, Note, Ticket

S = Status
OPEN_STATUSES = frozenset({S.REGISTERED, S.ASSIGNED, S.IN_PROGRESS, S.RETURN_REQUESTED, S.RESOLVED})
ALL_STATUSES = frozenset(Status)
#: Statuses in which a ticket is with a unit (has an assigned unit and deadlines).
WITH_UNIT = frozenset({S.ASSIGNED, S.IN_PROGRESS, S.RETURN_REQUESTED, S.RESOLVED, S.CLOSED, S.ARCHIVED})


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the workflow table (SPEC §3)."""

    action: str  #: the action kind
    variant: str | None  #: for actions with more than one outcome (approve/refuse, satisfied/...)
    role: Role
    from_statuses: frozenset[Status | None]  #: None: the ticket does not exist yet
    to_status: Status | None  #: None: the status does not change
    epoch_cause: EpochCause | None  #: set when the transition moves the assignment epoch
    meaning: str

    @property
    def key(self) -> str:
        return f"{self.action}:{self.variant}" if self.variant else self.action


def _row(action, variant, role, frm, to, cause, meaning) -> Transition:
    return Transition(action, variant, role, frozenset(frm), to, cause, meaning)


C, L = Role.CENTRAL, Role.LIAISON
E = EpochCause

#: The whole workflow. Tests walk every row, for every actor and every status.
TRANSITIONS: tuple[Transition, ...] = (
    _row("register", None, C, {None}, S.REGISTERED, None, "受理 intake from a channel, classified"),
    _row("assign", None, C, {S.REGISTERED}, S.ASSIGNED, E.ASSIGN, "交办 to a unit; sets both deadlines"),
    _row("accept", None, L, {S.ASSIGNED}, S.IN_PROGRESS, None, "签收 sign for it"),
    _row("request_return", None, L, {S.ASSIGNED, S.IN_PROGRESS}, S.RETURN_REQUESTED, None,
         "申请退回 not our jurisdiction, reason required"),
    _row("reassign", None, C, {S.ASSIGNED, S.IN_PROGRESS, S.RETURN_REQUESTED}, S.ASSIGNED, E.REASSIGN,
         "改派 to another unit"),
    _row("decide_return", "approve", C, {S.RETURN_REQUESTED}, S.ASSIGNED, E.REASSIGN,
         "return granted: reassigned to another unit"),
    _row("decide_return", "refuse", C, {S.RETURN_REQUESTED}, S.IN_PROGRESS, None,
         "return refused: the unit works on"),
    _row("resolve", None, L, {S.IN_PROGRESS}, S.RESOLVED, None, "办结 with the reply to the citizen"),
    _row("reject_reply", None, C, {S.RESOLVED}, S.IN_PROGRESS, E.REJECT_REPLY, "回退 the reply is incomplete"),
    _row("record_feedback", "satisfied", C, {S.RESOLVED}, S.CLOSED, None, "回访 citizen satisfied"),
    _row("record_feedback", "basically_satisfied", C, {S.RESOLVED}, S.CLOSED, None,
         "回访 citizen basically satisfied"),
    _row("record_feedback", "dissatisfied", C, {S.RESOLVED, S.CLOSED}, S.IN_PROGRESS, E.REWORK,
         "重办 citizen dissatisfied; the ticket comes back"),
    _row("request_extension", None, L, {S.IN_PROGRESS}, None, None, "申请延期 extension request"),
    _row("decide_extension", "approve", C, {S.IN_PROGRESS}, None, None, "extension granted"),
    _row("decide_extension", "refuse", C, {S.IN_PROGRESS}, None, None, "extension refused"),
    _row("urge", None, C, OPEN_STATUSES, None, None, "催办 flag"),
    _row("supervise", None, C, OPEN_STATUSES, None, None, "督办 / 挂牌督办 flag"),
    _row("escalate", None, C, OPEN_STATUSES, None, None, "提级调度 flag"),
    _row("note", None, L, ALL_STATUSES, None, None, "a handling note: append-only"),
    _row("archive", None, C, {S.CLOSED}, S.ARCHIVED, None, "归档 file a closed ticket"),
)  # fmt: skip

TRANSITIONS_BY_KEY: dict[str, Transition] = {t.key: t for t in TRANSITIONS}
ACTION_ROLES: dict[str, Role] = {t.action: t.role for t in TRANSITIONS}


def transition_for(action) -> Transition:
    """The table row an action falls under (its variant chosen from its content)."""
    variant: str | None = None
    if isinstance(action, DecideReturn | DecideExtension):
        variant = "approve" if action.approve else "refuse"
    elif isinstance(action, RecordFeedback):
        variant = action.result.value
    return TRANSITIONS_BY_KEY[f"{action.kind}:{variant}" if variant else action.kind]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes an action: a liaison of a unit, or the central platform."""

    role: Role
    name: str
    unit_id: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    ticket: Ticket
    events: tuple[Event, ...] = ()
    notes: tuple[Note, ...] = ()
    #: True when the action was already in effect (a colleague signed for it first): nothing changes.
    noop: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    message: str
    #: Records kept even though the action was refused: a second reply is kept as a note.
    notes: tuple[Note, ...] = field(default=())


Decision = Applied | Rejected


def stale_reason(ticket: Ticket, base: Base, actor_unit: str | None) -> Rejected | None:
    """Why ``ticket`` no longer matches what an action was based on, or None if it still does."""
    if ticket.unit_id != base.unit_id or (actor_unit is not None and ticket.unit_id != actor_unit):
        return Rejected(Reason.REASSIGNED, f"the ticket is now with unit {ticket.unit_id}")
    if ticket.epoch != base.epoch:
        if ticket.epoch_cause is EpochCause.REWORK:
            return Rejected(
                Reason.REOPENED, "the citizen was dissatisfied and the ticket was reopened for rework"
            )
        if ticket.epoch_cause is EpochCause.REJECT_REPLY:
            return Rejected(Reason.REPLY_REJECTED, "the reply was sent back as incomplete")
        return Rejected(Reason.REASSIGNED, "the ticket was reassigned since")
    return None


def decide(
    ticket: Ticket | None,
    action,
    actor: Actor,
    now: dt.datetime,
    calendar: WorkCalendar,
) -> Decision:
    """Decide ``action`` by ``actor`` against ``ticket``'s current state (None: no such ticket)."""
    row = transition_for(action)
    if actor.role is not row.role:
        return Rejected(Reason.NOT_ALLOWED, f"the {actor.role.value} may not {action.kind}")
    if isinstance(action, Register):
        if ticket is not None:
            return Rejected(Reason.ALREADY_EXISTS, f"ticket {action.ticket_id} exists")
        return _apply(None, action, actor, now, calendar, row)
    if ticket is None or ticket.id != action.ticket_id:
        return Rejected(Reason.NOT_FOUND, f"no ticket {action.ticket_id}")

    if actor.role is Role.LIAISON:
        return _decide_liaison(ticket, action, actor, now, calendar, row)

    if action.base is not None and (stale := stale_reason(ticket, action.base, None)):
        return stale
    if action.base is not None and ticket.status is not action.base.status:
        return Rejected(Reason.STATUS_CHANGED, f"the ticket is now {ticket.status.value}")
    if ticket.status not in row.from_statuses:
        return Rejected(Reason.NOT_ALLOWED, f"cannot {row.key} a ticket that is {ticket.status.value}")
    return _apply(ticket, action, actor, now, calendar, row)


def kept_reply_id(action_id: str) -> str:
    """The id of the note that keeps a refused second reply: server-made, so it carries a ':'
    that no client-chosen id (:data:`schemas.actions.ActionId`) may — they can never collide."""
    return f"{action_id}:reply"


def _decide_liaison(ticket, action, actor, now, calendar, row) -> Decision:
    # A liaison without a unit holds nothing (``None == None`` must not match a registered ticket).
    held = actor.unit_id is not None and ticket.unit_id == actor.unit_id
    ever_held = held or (actor.unit_id is not None and actor.unit_id in ticket.past_units)
    if not ever_held:
        # Never reveal a ticket of another unit, not even that it exists.
        return Rejected(Reason.NOT_FOUND, f"no ticket {ticket.id}")
    if not held:
        # A unit that held it reads it as it left, and adds nothing: not even a note (the unit
        # holding it now would pull it), nor learns where it went.
        return Rejected(
            Reason.REASSIGNED, "the ticket was reassigned away from your unit; it is read-only for you now"
        )
    if isinstance(action, AddNote):
        return _apply(ticket, action, actor, now, calendar, row)
    if (stale := stale_reason(ticket, action.base, actor.unit_id)) is not None:
        return stale
    if ticket.status not in row.from_statuses:
        if isinstance(action, Resolve) and ticket.status in (S.RESOLVED, S.CLOSED, S.ARCHIVED):
            kept = Note(
                id=kept_reply_id(action.action_id),
                ticket_id=ticket.id,
                kind="reply_kept",
                text=action.reply,
                author=actor.name,
                unit_id=actor.unit_id,
                created_at=now,
            )
            return Rejected(
                Reason.ALREADY_RESOLVED,
                f"resolved first by {ticket.replied_by}; this reply was kept as a note",
                notes=(kept,),
            )
        if isinstance(action, Accept) and ticket.status is S.IN_PROGRESS:
            return Applied(ticket, noop=True)
        if action.base.status is ticket.status:
            # Nothing moved since the action was made: the table never allows it from here.
            return Rejected(Reason.NOT_ALLOWED, f"cannot {row.key} a ticket that is {ticket.status.value}")
        return Rejected(Reason.STATUS_CHANGED, f"the ticket is now {ticket.status.value}")
    if isinstance(action, RequestExtension) and ticket.extension is not None:
        return Rejected(Reason.STATUS_CHANGED, "an extension request is already pending")
    return _apply(ticket, action, actor, now, calendar, row)


def _deadlines(calendar: WorkCalendar, now: dt.datetime, complexity) -> dict:
    today = beijing_date(now)
    sign = calendar.sign_for_deadline(today)
    handle = calendar.handling_deadline(today, complexity)
    return {
        "sign_due": sign.due,
        "handle_due": handle.due,
        "deadline_provisional": sign.provisional or handle.provisional,
    }


def _moved_to(ticket: Ticket, unit_id: str, cause: EpochCause, calendar, now) -> dict:
    # past_units are the units that held it before and do not hold it now: a ticket reassigned
    # back to an earlier unit takes that unit off the list (it holds it again).
    past = [unit for unit in ticket.past_units if unit != unit_id]
    if ticket.unit_id and ticket.unit_id not in past:
        past.append(ticket.unit_id)
    return {
        "unit_id": unit_id,
        "past_units": past,
        "epoch": ticket.epoch + 1,
        "epoch_cause": cause,
        "assigned_at": now,
        "accepted_at": None,
        "return_reason": None,
        "extension": None,
        **_deadlines(calendar, now, ticket.complexity),
    }


def _apply(ticket, action, actor: Actor, now, calendar, row: Transition) -> Decision:
    """Carry out an action the checks above allowed. Returns the new state and what to record."""
    changes: dict = {}
    detail: dict = {}
    notes: tuple[Note, ...] = ()
    match action:
        case Register():
            fields = action.model_dump(exclude={"action_id", "ticket_id", "created_at", "base", "kind"})
            new = Ticket(
                id=action.ticket_id, status=S.REGISTERED, registered_at=now, updated_at=now, **fields
            )
            event = _event(action, actor, None, new, now, {"channel": action.channel.value})
            return Applied(new, (event,))
        case Assign():
            if action.complexity is not None:
                changes["complexity"] = action.complexity
            complexity = action.complexity or ticket.complexity
            changes |= {
                "unit_id": action.unit_id,
                "epoch": ticket.epoch + 1,
                "epoch_cause": EpochCause.ASSIGN,
                "assigned_at": now,
                **_deadlines(calendar, now, complexity),
            }
            detail = {"unit_id": action.unit_id}
        case Reassign():
            if action.unit_id == ticket.unit_id:
                return Rejected(Reason.INVALID, "the ticket is already with that unit")
            changes = _moved_to(ticket, action.unit_id, EpochCause.REASSIGN, calendar, now)
            detail = {"from_unit": ticket.unit_id, "unit_id": action.unit_id, "reason": action.reason}
        case DecideReturn(approve=True):
            if not action.unit_id or action.unit_id == ticket.unit_id:
                return Rejected(Reason.INVALID, "granting a return needs the unit that takes the ticket")
            changes = _moved_to(ticket, action.unit_id, EpochCause.REASSIGN, calendar, now)
            changes["counters"] = ticket.counters.model_copy(update={"returns": ticket.counters.returns + 1})
            detail = {"from_unit": ticket.unit_id, "unit_id": action.unit_id, "comment": action.comment}
        case DecideReturn(approve=False):
            changes = {"return_reason": None, "accepted_at": ticket.accepted_at or now}
            detail = {"refused_reason": ticket.return_reason, "comment": action.comment}
        case Accept():
            changes = {"accepted_at": now}
        case RequestReturn():
            # Asking to give the ticket away withdraws a pending request for more time: an
            # extension is decided only while in progress, and a refused return starts afresh.
            changes = {"return_reason": action.reason, "extension": None}
            detail = {"reason": action.reason, "extension_withdrawn": ticket.extension is not None or None}
        case Resolve():
            changes = {"reply": action.reply, "replied_by": actor.name, "resolved_at": now, "extension": None}
        case RejectReply():
            changes = {
                "reply": None,
                "resolved_at": None,
                "epoch": ticket.epoch + 1,
                "epoch_cause": EpochCause.REJECT_REPLY,
                "counters": ticket.counters.model_copy(
                    update={"reply_rejections": ticket.counters.reply_rejections + 1}
                ),
            }
            detail = {"reason": action.reason, "rejected_reply": ticket.reply}
        case RecordFeedback(result=Satisfaction.DISSATISFIED):
            today = beijing_date(now)
            handle = calendar.handling_deadline(today, ticket.complexity)
            changes = {
                "satisfaction": Satisfaction.DISSATISFIED,
                "reply": None,
                "resolved_at": None,
                "closed_at": None,
                "epoch": ticket.epoch + 1,
                "epoch_cause": EpochCause.REWORK,
                "handle_due": handle.due,
                "deadline_provisional": handle.provisional,
                "counters": ticket.counters.model_copy(update={"reworks": ticket.counters.reworks + 1}),
            }
            detail = {"comment": action.comment, "previous_reply": ticket.reply}
        case RecordFeedback():
            changes = {"satisfaction": action.result, "closed_at": now}
            detail = {"result": action.result.value, "comment": action.comment}
        case RequestExtension():
            changes = {
                "extension": ExtensionRequest(
                    days=action.days, reason=action.reason, requested_at=now, requested_by=actor.name
                )
            }
            detail = {"days": action.days, "reason": action.reason}
        case DecideExtension():
            pending = ticket.extension
            if pending is None:
                return Rejected(Reason.NOT_ALLOWED, "no extension request is pending")
            changes = {"extension": None}
            if action.approve:
                days = action.days or pending.days
                due = calendar.add_working_days(ticket.handle_due, days)
                changes |= {
                    "handle_due": due.due,
                    "deadline_provisional": ticket.deadline_provisional or due.provisional,
                    "counters": ticket.counters.model_copy(
                        update={"extensions": ticket.counters.extensions + 1}
                    ),
                }
                detail = {"days": days, "comment": action.comment}
            else:
                detail = {"comment": action.comment}
        case Urge():
            changes = {"flags": ticket.flags.model_copy(update={"urged": ticket.flags.urged + 1})}
            detail = {"comment": action.comment}
        case Supervise():
            changes = {
                "flags": ticket.flags.model_copy(
                    update={"supervised": True, "listed": ticket.flags.listed or action.listed}
                )
            }
            detail = {"listed": action.listed, "comment": action.comment}
        case Escalate():
            changes = {
                "flags": ticket.flags.model_copy(
                    update={"escalated": True, "escalation_note": action.comment or None}
                )
            }
            detail = {"comment": action.comment}
        case AddNote():
            note = Note(
                id=action.note_id,
                ticket_id=ticket.id,
                kind=action.note_kind,
                text=action.text,
                author=actor.name,
                unit_id=actor.unit_id,
                created_at=now,
            )
            return Applied(ticket, (), (note,))
        case Archive():
            changes = {}
        case _:  # pragma: no cover - every action class is matched above
            raise TypeError(f"unknown action {action!r}")

    if row.to_status is not None:
        changes["status"] = row.to_status
    new = ticket.evolve(updated_at=now, revision=ticket.revision + 1, **changes)
    return Applied(new, (_event(action, actor, ticket, new, now, detail),), notes)


def _event(action, actor: Actor, old: Ticket | None, new: Ticket, now: dt.datetime, detail: dict) -> Event:
    return Event(
        id=action.action_id,
        ticket_id=new.id,
        action=transition_for(action).key,
        actor=actor.name,
        role=actor.role,
        unit_id=actor.unit_id,
        from_status=old.status if old is not None else None,
        to_status=new.status,
        epoch=new.epoch,
        at=now,
        detail={k: v for k, v in detail.items() if v not in (None, "")},
    )


def is_legal_event(event: Event) -> bool:
    """True when a recorded event is a transition the table allows, by the role that made it."""
    row = TRANSITIONS_BY_KEY.get(event.action)
    if row is None or row.role is not event.role or event.from_status not in row.from_statuses:
        return False
    expected = row.to_status if row.to_status is not None else event.from_status
    return event.to_status is expected


def invariant_violations(ticket: Ticket) -> list[str]:
    """What is wrong with a ticket's state, if anything. Every state :func:`decide` makes is clean."""
    problems = []
    if ticket.status is S.REGISTERED and (ticket.unit_id is not None or ticket.epoch != 0):
        problems.append("a registered ticket has no unit and epoch 0")
    if ticket.status in WITH_UNIT and (
        ticket.unit_id is None or ticket.epoch < 1 or ticket.handle_due is None or ticket.sign_due is None
    ):
        problems.append("an assigned ticket has a unit, an epoch and deadlines")
    if (ticket.epoch == 0) != (ticket.epoch_cause is None):
        problems.append("the epoch has moved exactly when there is a cause for it")
    if (ticket.status is S.RETURN_REQUESTED) != (ticket.return_reason is not None):
        problems.append("a return reason exists exactly while a return is requested")
    if ticket.status in (S.RESOLVED, S.CLOSED, S.ARCHIVED) and not ticket.reply:
        problems.append("a resolved ticket has a reply")
    if ticket.status in (S.CLOSED, S.ARCHIVED) and ticket.satisfaction not in (
        Satisfaction.SATISFIED,
        Satisfaction.BASICALLY_SATISFIED,
    ):
        problems.append("a closed ticket has a satisfied verdict")
    if ticket.extension is not None and ticket.status is not S.IN_PROGRESS:
        problems.append("an extension is pending only while in progress")
    if ticket.unit_id in ticket.past_units:
        problems.append("the current unit is not among the past units")
    return problems


def base_of(ticket: Ticket) -> Base:
    """What an action made now against ``ticket`` is based on."""
    return Base(status=ticket.status, unit_id=ticket.unit_id, epoch=ticket.epoch)
