"""The replica's public types: what the sync engine, the commands and the terminal app use.

``local_db.replica.Replica`` implements the operations; these are the values it takes and
returns. Plain dataclasses, no I/O, no Textual.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from schemas.enums import Reason, Status
from schemas.ticket import Event, Note, Ticket


class ReplicaError(Exception):
    """The database cannot be used (corrupt, another program's, from a newer fycli, locked).

    The message says what is wrong and what to do; the file is left untouched.
    """


#: A search longer than this is refused with :class:`SearchTooLong`: SQLite itself fails on
#: ~500 words ("Expression tree is too large") and on one 50,000-character word ("LIKE or GLOB
#: pattern too complex"); a liaison's search is a few words.
MAX_SEARCH_WORDS = 16
MAX_SEARCH_CHARS = 200


class SearchTooLong(ValueError):
    """A search the replica will not run; the message says so and what to do (one line)."""


def search_problem(search: str) -> str | None:
    """Why ``search`` is too long to run, in one line, or None when it can be run.

    The terminal app asks before searching; the replica raises :class:`SearchTooLong` with it.
    """
    words = search.split()
    text = " ".join(words)
    if len(words) <= MAX_SEARCH_WORDS and len(text) <= MAX_SEARCH_CHARS:
        return None
    return (
        f"the search is too long ({len(words)} words, {len(text)} characters): search with at most "
        f"{MAX_SEARCH_WORDS} words and {MAX_SEARCH_CHARS} characters"
    )


class View(StrEnum):
    """The queue's tabs. Each is a filter over the liaison's working list."""

    ASSIGNED = "assigned"  # 待签收
    IN_PROGRESS = "in_progress"  # 办理中
    DUE_SOON = "due_soon"  # open, handling or sign-for deadline within 1 working day (not overdue)
    OVERDUE = "overdue"  # open and past its deadline
    RESOLVED = "resolved"  # 已办结 / 已回访
    PENDING_DECISION = "pending_decision"  # return requested or extension requested
    CONFLICTS = "conflicts"  # has an open conflict in the inbox
    ALL = "all"  # everything in scope
    OUT_OF_SCOPE = "out_of_scope"  # reassigned away: readable history, not in the working list


class SortKey(StrEnum):
    DEADLINE = "deadline"  # the next deadline that matters (sign-for while assigned, else handling)
    UPDATED = "updated"  # most recently changed first
    NUMBER = "number"


SyncBadge = Literal["synced", "pending", "conflict"]


@dataclass(frozen=True, slots=True)
class TicketQuery:
    view: View = View.ALL
    search: str = ""  # number, title, description, address; Chinese 1- and 2-character words too
    category: str | None = None
    channel: str | None = None
    complexity: str | None = None
    village: str | None = None
    sort: SortKey = SortKey.DEADLINE


@dataclass(frozen=True, slots=True)
class TicketRow:
    """One line of the queue: only what a list shows."""

    id: str
    title: str
    status: Status
    category: str
    complexity: str
    channel: str
    village: str | None
    due: dt.date | None  # the deadline that matters now (sign_due while assigned, else handle_due)
    days_left: int | None  # working days, negative when overdue; None when closed
    urged: int
    supervised: bool
    listed: bool
    escalated: bool
    badge: SyncBadge
    in_scope: bool
    #: The keyset-paging key of this row; pass it as ``after`` to get the next page.
    key: tuple


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    action_id: str
    ticket_id: str
    kind: str
    action_json: str  # the LiaisonAction as JSON
    created_at: dt.datetime
    #: Not to be sent before this moment unless the sync flushes (the app's undo window); None: no hold.
    hold_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """The whole ticket for the detail screen and ``fycli show``."""

    ticket: Ticket  # as the liaison sees it: server state with unsent actions applied
    server_ticket: Ticket  # the server's last known state
    notes: list[Note]  # server notes, then unsent ones
    events: list[Event]
    pending: list[OutboxEntry]
    badge: SyncBadge
    in_scope: bool
    days_left: int | None


@dataclass(frozen=True, slots=True)
class LocalResult:
    """The outcome of one local action on one ticket (bulk actions give one per ticket)."""

    ticket_id: str
    ok: bool
    action_id: str | None = None  # set when queued
    reason: Reason | None = None  # why it could not even be queued (e.g. already resolved locally)
    message: str = ""
    #: Every action id queued for this ticket, in order: resolving a 待签收 ticket queues an
    #: accept then the resolve (``action_id`` is the resolve's; undo of either undoes both).
    queued: tuple[str, ...] = ()
    #: The action itself could not be queued but its text was kept: queued as a note instead
    #: (a reply to a ticket resolved meanwhile). ``action_id`` is then the note's.
    kept_as_note: bool = False


@dataclass(frozen=True, slots=True)
class Conflict:
    """An action the server refused, kept with everything needed to act on it."""

    action_id: str
    ticket_id: str
    kind: str
    action_json: str  # the full payload: the reply typed in a village is never lost
    reason: Reason
    message: str
    server_ticket: Ticket | None  # the server's state when it refused
    changed_by: str | None
    changed_at: dt.datetime | None
    refused_at: dt.datetime
    #: "folded": a refused sign-for kept inside the conflict of the resolve it was queued for
    #: (one conflict per intent; its message names that conflict).
    state: Literal["open", "reapplied", "noted", "dropped", "folded"] = "open"


@dataclass(frozen=True, slots=True)
class SyncState:
    client_id: str
    server_url: str | None
    unit_id: str | None
    unit_name: str | None
    liaison_name: str | None
    cursor: str | None
    calendar_version: int
    metrics_etag: str | None
    last_sync_at: dt.datetime | None
    last_error: str | None
    pending: int  # unsent actions
    open_conflicts: int
    tickets: int  # in scope
    extra: dict = field(default_factory=dict)
