"""What the replica extracts from a ticket at write time: the narrow columns lists sort and filter on.

Two paths give the same columns: :func:`check_raw_ticket` from a pulled ticket's decoded JSON
(the 100,000-ticket pull: cheap checks, no pydantic), and :func:`columns_of` from a
:class:`~schemas.ticket.Ticket` model (the liaison's view after :func:`schemas.workflow.decide`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

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


#: Separates the fields of the search text; a title or address holding it keeps its full doc.
SEP = "\x1f"
#: The ticket fields kept in the search text instead of the stored JSON (not twice: a first
#: pull of 100,000 tickets is bound by the bytes it writes).
TEXT_FIELDS = ("title", "address", "description")


def search_text(ticket_id: str, title: str, address: str, description: str) -> str:
    """What search looks in: the number, title, address and description, as written."""
    return f"{ticket_id}{SEP}{title}{SEP}{address}{SEP}{description}"


#: The other ticket fields, in the order a compact stored doc lists their values. Frozen here
#: (not read from the model): a stored doc must decode the same after the model grows. A
#: ticket with any other set of keys is stored as a plain JSON object instead.
DOC_KEYS = (
    "id", "channel", "appeal_type", "category", "citizen_name", "citizen_phone", "needs_callback",
    "county", "township", "village", "complexity", "status", "unit_id", "epoch", "epoch_cause",
    "past_units", "registered_at", "assigned_at", "sign_due", "handle_due", "deadline_provisional",
    "accepted_at", "resolved_at", "closed_at", "reply", "replied_by", "return_reason", "extension",
    "flags", "satisfaction", "counters", "updated_at", "revision",
)  # fmt: skip
_DOC_SIZE = len(DOC_KEYS) + len(TEXT_FIELDS)


def split_doc(raw: dict) -> bytes:
    """The JSON to store for a checked ticket: a compact array of its values, without the
    fields its search text holds (a first pull of 100,000 tickets is bound by the bytes it
    writes, and the key names were half of them). Anything unusual is stored as it came."""
    if len(raw) == _DOC_SIZE and SEP not in raw["title"] and SEP not in raw["address"]:
        try:
            return orjson.dumps([raw[k] for k in DOC_KEYS])
        except KeyError:
            pass
    return orjson.dumps(raw)


def join_doc(doc: bytes | str, text: str) -> dict:
    """The full ticket JSON (decoded) from what :func:`split_doc` stored and its search text."""
    d = orjson.loads(doc)
    if type(d) is list:
        d = dict(zip(DOC_KEYS, d, strict=True))
        _, d["title"], d["address"], d["description"] = text.split(SEP, 3)
    return d


_REVISION = DOC_KEYS.index("revision")


def doc_revision(doc: bytes | str) -> int:
    """The revision of the server state :func:`split_doc` stored."""
    d = orjson.loads(doc)
    return d[_REVISION] if type(d) is list else d.get("revision", 0)


def micros(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def due_of(t: Ticket) -> dt.date | None:
    """The deadline that matters now: signing for while 待签收, handling while being handled."""
    status = t.status.value
    return t.sign_due if status == _SIGN_DUE else (t.handle_due if status in _HANDLE_DUE else None)


def columns_of(t: Ticket) -> tuple:
    """The narrow columns of a ticket model (see :data:`COLUMNS`)."""
    status = t.status.value
    due = due_of(t)
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
    Written flat on purpose: it runs 100,000 times in a first pull.
    """
    if type(d) is not dict:
        raise BadTicket(f"a ticket must be an object, got {type(d).__name__}")
    get = d.get
    ticket_id, status, title, description, address = (
        get("id"),
        get("status"),
        get("title"),
        get("description"),
        get("address"),
    )
    category, channel, complexity, unit_id, village = (
        get("category"),
        get("channel"),
        get("complexity"),
        get("unit_id"),
        get("village"),
    )
    epoch, revision, updated = get("epoch", 0), get("revision", 0), get("updated_at")
    if type(ticket_id) is not str or not _ID.fullmatch(ticket_id):
        raise BadTicket(f"'id' is not a ticket number: {ticket_id!r:.60}")
    if (
        status not in _STATUSES
        or category not in _CATEGORIES
        or channel not in _CHANNELS
        or complexity not in _COMPLEXITIES
        or type(title) is not str
        or type(description) is not str
        or type(address) is not str
        or type(updated) is not str
        or (unit_id is not None and type(unit_id) is not str)
        or (village is not None and type(village) is not str)
        or type(epoch) is not int
        or epoch < 0
        or type(revision) is not int
        or revision < 0
    ):
        _explain(d)
    try:
        updated_at = dt.datetime.fromisoformat(updated)
    except ValueError:
        raise BadTicket(f"'updated_at' is not a timestamp: {updated!r:.40}") from None
    if updated_at.tzinfo is None:
        raise BadTicket("'updated_at' has no time zone")
    flags = get("flags") or _NO_FLAGS
    extension = get("extension")
    if type(flags) is not dict or not (extension is None or type(extension) is dict):
        raise BadTicket("'flags' and 'extension' must be objects")
    urged = flags.get("urged", 0)
    if type(urged) is not int or urged < 0:
        raise BadTicket(f"'flags.urged' must be a non-negative integer, got {urged!r:.40}")
    sign_due = _date(d, "sign_due")
    handle_due = _date(d, "handle_due")
    due = sign_due if status == _SIGN_DUE else (handle_due if status in _HANDLE_DUE else None)
    columns = (
        ticket_id,
        status,
        unit_id,
        epoch,
        revision,
        category,
        channel,
        complexity,
        village,
        title,
        due,
        due or NO_DUE,
        micros(updated_at),
        urged,
        int(flags.get("supervised") is True),
        int(flags.get("listed") is True),
        int(flags.get("escalated") is True),
        int(extension is not None),
    )
    return columns, search_text(ticket_id, title, address, description)


_NO_FLAGS: dict = {}


def _explain(d: dict) -> None:
    """Raise the precise complaint about a ticket the fast check refused."""
    _str(d, "status", allowed=_STATUSES)
    _str(d, "category", allowed=_CATEGORIES)
    _str(d, "channel", allowed=_CHANNELS)
    _str(d, "complexity", allowed=_COMPLEXITIES)
    for key in ("title", "description", "address", "updated_at"):
        _str(d, key)
    _str(d, "unit_id", optional=True)
    _str(d, "village", optional=True)
    _int(d, "epoch", 0)
    _int(d, "revision", 0)
    raise BadTicket("malformed")  # pragma: no cover - one of the checks above raises
