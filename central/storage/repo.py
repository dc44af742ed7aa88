"""Queries and writes over the central tables. Callers hold the connection and the transaction.

The one rule to keep: every change to a ticket (its state, a note, an event, leaving a unit)
is stamped with a commit-order number taken by :func:`take_seqs` as the LAST statement before
the transaction commits — see docs/protocol.md "Guarantees".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central.storage import tables as t
from schemas.calendar import HolidayTable, beijing_date
from schemas.ticket import Ticket, liaison_copy

#: Most bound parameters one ``IN (...)`` list gets (SQLite's limit is far above; PG has none).
IN_CHUNK = 900


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def chunks(items: Sequence, size: int = IN_CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- meta and the counter --------------------------------------------------------------------


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()


def set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(t.meta.insert().values(key=key, value=value))


def take_seqs(conn: Connection, k: int) -> int:
    """Reserve ``k`` commit-order numbers; returns the FIRST. Call it last, right before commit.

    The counter row stays locked until this transaction ends, so whoever takes the next numbers
    waits for this commit: a number is never visible before every smaller one is.
    """
    last = conn.execute(
        sa.text("UPDATE counter SET v = v + :k WHERE id = 1 RETURNING v"), {"k": k}
    ).scalar_one()
    return last - k + 1


def current_seq(conn: Connection) -> int:
    """The highest committed commit-order number (every smaller one is committed too)."""
    return conn.execute(sa.select(t.counter.c.v).where(t.counter.c.id == 1)).scalar_one()


# --- tickets ---------------------------------------------------------------------------------


def _day(moment: dt.datetime | None) -> str | None:
    return beijing_date(moment).isoformat() if moment is not None else None


def ticket_values(ticket: Ticket, change_seq: int, scope_since: int, changed_by: str | None) -> dict:
    """The row of ``ticket``: the indexed columns, the full JSON and the liaison's masked JSON."""
    return {
        "id": ticket.id,
        "unit_id": ticket.unit_id,
        "status": ticket.status.value,
        "change_seq": change_seq,
        "scope_since": scope_since,
        "county": ticket.county,
        "township": ticket.township,
        "assigned_on": _day(ticket.assigned_at),
        "accepted_on": _day(ticket.accepted_at),
        "sign_due": ticket.sign_due.isoformat() if ticket.sign_due else None,
        "handle_due": ticket.handle_due.isoformat() if ticket.handle_due else None,
        "resolved_on": _day(ticket.resolved_at),
        "satisfaction": ticket.satisfaction.value if ticket.satisfaction else None,
        "reworks": ticket.counters.reworks,
        "updated_at": iso(ticket.updated_at),
        "changed_by": changed_by,
        "data": ticket.model_dump_json(),
        "liaison_data": liaison_copy(ticket).model_dump_json(),
    }


@dataclass
class StoredTicket:
    ticket: Ticket
    scope_since: int
    changed_by: str | None


def load_tickets(conn: Connection, ids: Iterable[str], *, lock: bool) -> dict[str, StoredTicket]:
    """The tickets with these ids; ``lock`` takes their row locks in id order (PostgreSQL)."""
    found: dict[str, StoredTicket] = {}
    wanted = sorted(set(ids))
    for part in chunks(wanted):
        query = (
            sa.select(t.tickets.c.data, t.tickets.c.scope_since, t.tickets.c.changed_by)
            .where(t.tickets.c.id.in_(part))
            .order_by(t.tickets.c.id)
        )
        if lock and conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already serialises
            query = query.with_for_update()
        for row in conn.execute(query):
            ticket = Ticket.model_validate_json(row.data)
            found[ticket.id] = StoredTicket(ticket, row.scope_since, row.changed_by)
    return found


def ticket_bundle(
    conn: Connection, ticket_id: str, *, masked: bool
) -> tuple[str, list[str], list[str]] | None:
    """A ticket's JSON (masked or full), and all its notes' and events' JSON, oldest first."""
    row = conn.execute(
        sa.select(t.tickets.c.data, t.tickets.c.liaison_data).where(t.tickets.c.id == ticket_id)
    ).first()
    if row is None:
        return None
    notes = conn.execute(
        sa.select(t.notes.c.data).where(t.notes.c.ticket_id == ticket_id).order_by(t.notes.c.seq)
    ).scalars()
    events = conn.execute(
        sa.select(t.events.c.data).where(t.events.c.ticket_id == ticket_id).order_by(t.events.c.seq)
    ).scalars()
    return (row.liaison_data if masked else row.data), list(notes), list(events)


# --- calendar --------------------------------------------------------------------------------


def calendar_tables(conn: Connection) -> list[HolidayTable]:
    rows = conn.execute(sa.select(t.calendar.c.data).order_by(t.calendar.c.year)).scalars()
    return [HolidayTable.model_validate_json(data) for data in rows]


def calendar_version(conn: Connection) -> int:
    return int(get_meta(conn, "calendar_version") or 0)
