"""The ticket, its append-only notes and its event history.

A :class:`Ticket` is the *state* of one appeal. Notes and events are separate append-only
records that point at it: they never conflict, and a sync sends only the new ones.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from schemas.enums import (
    CATEGORIES,
    AppealType,
    Channel,
    Complexity,
    EpochCause,
    Role,
    Satisfaction,
    Status,
)

MAX_DESCRIPTION = 4000
MAX_TEXT = 4000  # replies, notes, reasons: a village reply can be long, but not unbounded

TicketId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$"),
]
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
#: A note's or event's id: a client-chosen action/note id (64 at most), or a server-made one
#: (that id plus a ':' suffix, e.g. a kept reply's ``<action id>:reply``).
HistoryId = Annotated[str, StringConstraints(min_length=1, max_length=80)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=MAX_TEXT)]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
RequiredText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT, strip_whitespace=True)]

#: Control characters (Unicode Cc) other than newline and tab. An escape sequence in a note
#: (``\x1b]0;…\x07``) would run in the terminal of every liaison who reads it; NUL and C1
#: controls (U+0080-U+009F: U+009B is CSI for some terminals) are no better.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x0D: "CR",
                  0x1B: "ESC", 0x7F: "DEL", 0x9B: "CSI"}  # fmt: skip


def describe_character(char: str) -> str:
    """``U+001B (ESC)``: how a message names a character the user cannot see."""
    name = _CONTROL_NAMES.get(ord(char))
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def first_control_character(text: str) -> str | None:
    """The first control character of ``text`` other than newline and tab, or None."""
    found = CONTROL_CHARACTERS.search(text)
    return found.group() if found else None


def refuse_control_characters(text: str) -> str:
    """Validator of text that comes in (actions, admin bodies): no control characters."""
    char = first_control_character(text)
    if char is not None:
        raise ValueError(
            f"contains the control character {describe_character(char)} at position "
            f"{text.index(char) + 1}; only newline and tab are allowed: remove it and send again"
        )
    return text


_Clean = AfterValidator(refuse_control_characters)
#: The same text types for what comes IN (every action and admin body): control characters
#: refused. Stored state (Ticket, Note, Event) keeps the plain types, so a replica or a
#: database holding such text from an older version still loads; output escapes it.
CleanShortText = Annotated[ShortText, _Clean]
CleanLongText = Annotated[LongText, _Clean]
CleanRequiredText = Annotated[RequiredText, _Clean]
CleanTitle = Annotated[str, StringConstraints(min_length=1, max_length=200), _Clean]
CleanDescription = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION), _Clean]


class Model(BaseModel):
    """Base of every wire model: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Flags(Model):
    """Supervision marks set by the platform. Flags are not statuses: they never block an action."""

    urged: int = Field(0, ge=0, description="How many times the platform urged (催办).")
    supervised: bool = Field(False, description="Under supervision (督办).")
    listed: bool = Field(False, description="Listed supervision (挂牌督办), the strongest form.")
    escalated: bool = Field(False, description="Escalated by the coordination group (提级调度).")
    escalation_note: str | None = Field(None, max_length=MAX_TEXT)


class Counters(Model):
    returns: int = Field(0, ge=0, description="Return requests granted (退回).")
    extensions: int = Field(0, ge=0, description="Extensions granted (延期).")
    reworks: int = Field(0, ge=0, description="Times reopened because the citizen was dissatisfied (重办).")
    reply_rejections: int = Field(0, ge=0, description="Times the reply was sent back (回退).")


class ExtensionRequest(Model):
    days: int = Field(ge=1, le=30)
    reason: RequiredText
    requested_at: dt.datetime
    requested_by: str


class Ticket(Model):
    """One citizen appeal as the platform knows it (SPEC §3)."""

    id: TicketId = Field(description="The platform number (平台编号), unique and permanent.")
    channel: Channel
    appeal_type: AppealType
    category: Category
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
    citizen_name: ShortText
    citizen_phone: ShortText = Field(
        description="Masked (138****5678) on a liaison's copy unless a call back is needed."
    )
    needs_callback: bool = Field(
        False, description="The unit must call the citizen back: the phone is not masked."
    )
    address: ShortText
    county: ShortText
    township: ShortText
    village: ShortText | None = None
    complexity: Complexity
    status: Status
    unit_id: UnitId | None = Field(None, description="The unit responsible now (承办单位).")
    epoch: int = Field(
        0, ge=0, description="Assignment epoch: changes on every assign, reassign, reopen and rejected reply."
    )
    epoch_cause: EpochCause | None = None
    past_units: list[UnitId] = Field(default_factory=list, description="Units that held the ticket before.")
    registered_at: dt.datetime
    assigned_at: dt.datetime | None = None
    sign_due: dt.date | None = Field(None, description="Sign for by the end of this day (Beijing).")
    handle_due: dt.date | None = Field(None, description="Resolve by the end of this day (Beijing).")
    deadline_provisional: bool = Field(
        False, description="A deadline crosses a year the calendar could only estimate."
    )
    accepted_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    reply: LongText | None = Field(None, description="The unit's reply to the citizen.")
    replied_by: str | None = None
    return_reason: LongText | None = Field(
        None, description="Why the unit asked to return it (while pending)."
    )
    extension: ExtensionRequest | None = Field(None, description="A pending extension request.")
    flags: Flags = Field(default_factory=Flags)
    satisfaction: Satisfaction | None = None
    counters: Counters = Field(default_factory=Counters)
    updated_at: dt.datetime
    revision: int = Field(0, ge=0, description="Bumped on every change; informative, never a conflict test.")

    def evolve(self, **changes: Any) -> Ticket:
        """A copy with ``changes`` applied. Internal: the decision rule only passes valid values."""
        return self.model_copy(update=changes)


class Note(Model):
    """An append-only handling note, call log or attachment reference. Notes never conflict."""

    id: HistoryId
    ticket_id: TicketId
    kind: str = Field("note", pattern=r"^(note|call|attachment|reply_kept|system)$")
    text: LongText
    author: str
    unit_id: UnitId | None = None
    created_at: dt.datetime


class Event(Model):
    """One recorded transition or flag change: the ticket's full history is its events."""

    id: HistoryId
    ticket_id: TicketId
    action: str = Field(description="The action kind that produced it.")
    actor: str
    role: Role
    unit_id: UnitId | None = Field(None, description="The actor's unit.")
    from_status: Status | None
    to_status: Status
    epoch: int
    at: dt.datetime
    detail: dict[str, Any] = Field(default_factory=dict)


_PHONE_DIGITS = re.compile(r"\d")


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits: ``13812345678`` → ``138****5678``."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """Keep the surname: ``张三丰`` → ``张**``."""
    return name[:1] + "*" * (len(name) - 1) if name else name


def masked(ticket: Ticket) -> Ticket:
    """The ticket with the citizen masked, whatever else (what a unit that held it keeps)."""
    return ticket.evolve(
        citizen_phone=mask_phone(ticket.citizen_phone), citizen_name=mask_name(ticket.citizen_name)
    )


def liaison_copy(ticket: Ticket) -> Ticket:
    """The ticket as a liaison's replica may hold it: the citizen masked unless a call back is due."""
    if ticket.needs_callback:
        return ticket
    return ticket.evolve(
        citizen_phone=mask_phone(ticket.citizen_phone), citizen_name=mask_name(ticket.citizen_name)
    )
