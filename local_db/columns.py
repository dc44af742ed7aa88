"""What the replica extracts from a ticket at write time: the narrow columns lists sort and filter on.

Two paths give the same columns: :func:`check_raw_ticket` from a pulled ticket's decoded JSON
(the 100,000-ticket pull: cheap checks, no pydantic), and :func:`columns_of` from a
:class:`~schemas.ticket.Ticket` model (the liaison's view after :func:`schemas.workflow.decide`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from schemas.enums import CATEGORIES, Channel, Complexity, Status
from schemas.ticket import Ticket

#: The sort key of a ticket without a deadline that matters: after every real date.
NO_DUE = "9999-12-31"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_STATUSES = frozenset(s.value for s in Status)
_CHANNELS = frozenset(c.value for c in Channel)
_COMPLEXITIES = frozenset(c.value for c in Complexity)
_CATEGORIES = frozenset(CATEGORIES)
#: Statuses whose sign-for deadline matters, and those whose handling deadline does.
_SIGN_DUE = "assigned"
_HANDLE_DUE = frozenset({"in_progress", "return_requested"})

#: The order of the values :func:`check_raw_ticket` and :func:`columns_of` return, after ``rid``.
COLUMNS = (
    "id",
    "status",
    "unit_id",
    "epoch",
    "revision",
    "category",
    "channel",
    "complexity",
    "village",
    "title",
    "due",
    "due_sort",
    "updated_us",
    "urged",
    "supervised",
    "listed",
    "escalated",
    "has_ext",
)


def search_text(ticket_id: str, title: str, description: str, address: str) -> str:
    """What search looks in: lower-cased, so a number or Latin text matches in any case."""
    return f"{ticket_id}\n{title}\n{address}\n{description}".lower()


def micros(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def columns_of(t: Ticket) -> tuple:
    """The narrow columns of a ticket model (see :data:`COLUMNS`)."""
    status = t.status.value
    due = t.sign_due if status == _SIGN_DUE else (t.handle_due if status in _HANDLE_DUE else None)
    due_iso = due.isoformat() if due is not None else None
    f = t.flags
    return (
        t.id,
        status,
        t.unit_id,
        t.epoch,
        t.revision,
        t.category,
        t.channel.value,
        t.complexity.value,
        t.village,
        t.title,
        due_iso,
        due_iso or NO_DUE,
        micros(t.updated_at),
        f.urged,
        int(f.supervised),
        int(f.listed),
        int(f.escalated),
        int(t.extension is not None),
    )


class BadTicket(ValueError):
    """A pulled ticket that is not a ticket: the whole page is refused."""


def _str(d: dict, key: str, *, optional: bool = False, allowed: frozenset | None = None) -> Any:
    value = d.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BadTicket(f"{key!r} must be a string, got {type(value).__name__}")
    if allowed is not None and value not in allowed:
        raise BadTicket(f"{key!r} has an unknown value {value[:40]!r}")
    return value


def _int(d: dict, key: str, default: int | None = None) -> int:
    value = d.get(key, default)
    if type(value) is not int or value < 0:
        raise BadTicket(f"{key!r} must be a non-negative integer, got {value!r:.40}")
    return value


def _date(d: dict, key: str) -> str | None:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 10:
        raise BadTicket(f"{key!r} must be a date YYYY-MM-DD, got {value!r:.40}")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise BadTicket(f"{key!r} must be a date YYYY-MM-DD, got {value!r:.40}") from None
    return value


def check_raw_ticket(d: Any) -> tuple[tuple, str]:
    """Check a pulled ticket's essential fields cheaply; return its columns and its search text.

    Not a full validation (the model is parsed when the ticket is read): it checks what the
    replica stores in columns and relies on, so garbage is refused before anything is stored.
    """
    if not isinstance(d, dict):
        raise BadTicket(f"a ticket must be an object, got {type(d).__name__}")
    ticket_id = d.get("id")
    if not isinstance(ticket_id, str) or not _ID.fullmatch(ticket_id):
        raise BadTicket(f"'id' is not a ticket number: {ticket_id!r:.60}")
    status = _str(d, "status", allowed=_STATUSES)
    title = _str(d, "title")
    description = _str(d, "description")
    address = _str(d, "address")
    updated = _str(d, "updated_at")
    try:
        updated_at = dt.datetime.fromisoformat(updated)
    except ValueError:
        raise BadTicket(f"'updated_at' is not a timestamp: {updated!r:.40}") from None
    if updated_at.tzinfo is None:
        raise BadTicket("'updated_at' has no time zone")
    flags = d.get("flags") or {}
    if not isinstance(flags, dict):
        raise BadTicket("'flags' must be an object")
    extension = d.get("extension")
    if extension is not None and not isinstance(extension, dict):
        raise BadTicket("'extension' must be an object or null")
    sign_due = _date(d, "sign_due")
    handle_due = _date(d, "handle_due")
    due = sign_due if status == _SIGN_DUE else (handle_due if status in _HANDLE_DUE else None)
    columns = (
        ticket_id,
        status,
        _str(d, "unit_id", optional=True),
        _int(d, "epoch", 0),
        _int(d, "revision", 0),
        _str(d, "category", allowed=_CATEGORIES),
        _str(d, "channel", allowed=_CHANNELS),
        _str(d, "complexity", allowed=_COMPLEXITIES),
        _str(d, "village", optional=True),
        title,
        due,
        due or NO_DUE,
        micros(updated_at),
        _int(flags, "urged", 0),
        int(flags.get("supervised") is True),
        int(flags.get("listed") is True),
        int(flags.get("escalated") is True),
        int(extension is not None),
    )
    return columns, search_text(ticket_id, title, description, address)
