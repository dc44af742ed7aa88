"""The sync protocol's messages: what the liaison's client and the central service exchange.

See docs/protocol.md for the exchange itself. Every body is JSON (gzip allowed both ways).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from schemas.actions import ActionId, LiaisonActionT
from schemas.calendar import HolidayTable
from schemas.enums import Reason
from schemas.ticket import Event, Model, Note, Ticket, TicketId, UnitId

PROTOCOL_VERSION = 1
#: Most actions one push may carry; a client splits a larger outbox into several pushes.
MAX_PUSH_ACTIONS = 500
#: Most tickets one pull page may carry.
MAX_PULL_LIMIT = 5000


class QueuedAction(Model):
    """One action from the liaison's outbox, numbered in the order the liaison made them."""

    seq: int = Field(ge=1, description="Per-client sequence number, increasing.")
    action: LiaisonActionT


class PushRequest(Model):
    client_id: Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    actions: list[QueuedAction] = Field(max_length=MAX_PUSH_ACTIONS)


class ActionResult(Model):
    action_id: ActionId
    seq: int
    outcome: Literal["applied", "duplicate", "rejected"]
    #: For a duplicate: what the first delivery's outcome was.
    original_outcome: Literal["applied", "rejected"] | None = None
    reason: Reason | None = None
    message: str | None = None
    #: The ticket as it is now on the server (masked for the liaison), when the liaison may see it.
    ticket: Ticket | None = None
    #: Who last changed the ticket, and when: shown beside a conflict.
    changed_by: str | None = None
    changed_at: dt.datetime | None = None


class PushResponse(Model):
    results: list[ActionResult]
    #: Highest ``seq`` of this client the server has decided (all of them, not only this batch).
    acked_seq: int


class UnitMetrics(Model):
    """三率 for one unit and month. A rate is None ("—") when nothing was due for it."""

    unit_id: UnitId
    unit_name: str
    month: str = Field(pattern=r"^\d{4}-\d{2}$")
    assigned: int
    signed_on_time: int
    due: int
    resolved: int
    resolved_on_time: int
    evaluated: int
    satisfied: int
    returns: int
    reworks: int
    response_rate: float | None
    resolution_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    return_rate: float | None
    rework_rate: float | None
    rank: int | None = Field(None, description="Among peer units (same level), best first.")
    peers: int = 0


class PullResponse(Model):
    """One page of changes for the liaison's unit, in commit order."""

    cursor: str = Field(description="Opaque. Send it back to continue after this page.")
    has_more: bool
    #: True: the cursor is from another server generation or too old: drop the pulled state
    #: (keep the unsent outbox) and pull again from no cursor.
    reset: bool = False
    tickets: list[Ticket] = Field(default_factory=list, description="Full current state, masked.")
    notes: list[Note] = Field(default_factory=list, description="New notes of the tickets in this page.")
    events: list[Event] = Field(default_factory=list, description="New events of the tickets in this page.")
    removed: list[TicketId] = Field(default_factory=list, description="Tickets that left the unit's scope.")
    #: The holiday tables, sent when the client's calendar_version is not the server's.
    calendar: list[HolidayTable] | None = None
    calendar_version: int = 0
    #: The unit's metrics, on the last page, when they changed since the client's metrics_etag.
    metrics: list[UnitMetrics] | None = None
    metrics_etag: str | None = None


class Me(Model):
    liaison_id: str
    name: str
    unit_id: UnitId
    unit_name: str
    server_id: str


class ErrorBody(Model):
    """Every 4xx/5xx answer. ``error`` is a stable code; ``message`` says what to do."""

    error: str
    message: str
    detail: list[dict] | None = None
