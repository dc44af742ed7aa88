"""Queries and writes over the central tables. Callers hold the connection and the transaction.

The one rule to keep: every change to a ticket (its state, a note, an event, leaving a unit)
is stamped with a commit-order number taken from the counter row as the LAST statement before
the transaction commits — see docs/protocol.md "Guarantees". On SQLite (one writer at a time)
:func:`take_seqs` takes them; on PostgreSQL the rows are written with :func:`placeholder`
numbers and :func:`stamp_seqs` takes the numbers and stamps them in one statement, sent with
the ``COMMIT``, so the counter's lock is held for one server-side step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central.storage import tables as t
from schemas.calendar import HolidayTable, beijing_date
from schemas.ticket import Event, Note, Ticket, liaison_copy

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


def get_metas(conn: Connection, *keys: str) -> dict[str, str]:
    """Several meta facts in one query (absent keys are left out)."""
    rows = conn.execute(sa.select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.in_(keys)))
    return {row.key: row.value for row in rows}


def set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(t.meta.update().where(t.meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(t.meta.insert().values(key=key, value=value))


def take_seqs(conn: Connection, k: int) -> int:
    """Reserve ``k`` commit-order numbers; returns the FIRST. Take them as late as possible;
    nothing but the writes they number may follow before the commit (SQLite's writers wait for
    the whole transaction anyway; on PostgreSQL prefer :func:`stamp_seqs`).

    The counter row stays locked until this transaction ends, so whoever takes the next numbers
    waits for this commit: a number is never visible before every smaller one is.
    """
    last = conn.execute(
        sa.text("UPDATE counter SET v = v + :k WHERE id = 1 RETURNING v"), {"k": k}
    ).scalar_one()
    return last - k + 1


def placeholder(offset: int) -> int:
    """The stand-in number of the ``offset``-th (from 0) ticket changed by a transaction, until
    :func:`stamp_seqs` replaces it: negative, so it never collides with a real number (committed
    rows never carry one: the stamp is in the same transaction)."""
    return -(offset + 1)


def _stamp_sql(notes: bool, events: bool, exits: bool) -> str:
    """The one statement of :func:`stamp_seqs`: take ``k`` numbers (``base`` + 1 … ``base`` + k)
    and turn every placeholder ``p`` of this transaction into ``base - p``."""
    parts = [
        "n AS (UPDATE counter SET v = v + %(k)s WHERE id = 1 RETURNING v - %(k)s AS base)",
        "s_tickets AS (UPDATE tickets SET change_seq = n.base - tickets.change_seq, scope_since = CASE"
        " WHEN tickets.scope_since < 0 THEN n.base - tickets.scope_since ELSE tickets.scope_since END"
        " FROM n WHERE tickets.id = ANY(%(tickets)s))",
    ]
    # Notes and events by (ticket_id, change_seq < 0): a range of their (ticket_id, change_seq)
    # index holding only this transaction's rows.
    for table, wanted in (("notes", notes), ("events", events)):
        if wanted:
            parts.append(
                f"s_{table} AS (UPDATE {table} SET change_seq = n.base - {table}.change_seq FROM n"
                f" WHERE {table}.ticket_id = ANY(%(tickets)s) AND {table}.change_seq < 0)"
            )
    if exits:  # a scope exit always comes with its departure (tables.departures)
        parts.append(
            "s_exits AS (UPDATE scope_exits SET change_seq = n.base - scope_exits.change_seq FROM n"
            " WHERE scope_exits.unit_id = ANY(%(units)s) AND scope_exits.change_seq < 0)"
        )
        parts.append(
            "s_departures AS (UPDATE departures SET history_seq = n.base - departures.history_seq FROM n"
            " WHERE departures.ticket_id = ANY(%(tickets)s) AND departures.history_seq < 0)"
        )
    return "WITH " + ",\n".join(parts) + "\nSELECT base FROM n"


def stamp_seqs(
    conn: Connection,
    writes: Sequence[tuple[sa.Executable, list[dict]]],
    ticket_ids: Sequence[str],
    *,
    notes: bool,
    events: bool,
    exit_units: Sequence[str],
    commit: bool,
) -> None:
    """PostgreSQL: run ``writes`` (statement, rows — rows numbered with :func:`placeholder`),
    then take ``len(ticket_ids)`` commit-order numbers and stamp the placeholders in ONE
    statement (``ticket_ids`` in placeholder order; notes/events: whether any were written;
    ``exit_units``: the units of the scope exits written).

    Everything — the writes, the stamp and, with ``commit``, the ``COMMIT`` — leaves in one
    send (psycopg pipeline mode): the counter row is locked from the stamp to the end of the
    commit with no client round trip in between, so the other writers wait for one
    server-side step, not for this process's thread scheduling. After ``commit`` the
    transaction is over (SQLAlchemy's own commit then finds nothing to do): nothing may be
    executed on ``conn`` before it ends.
    """
    stamp = _stamp_sql(notes, events, bool(exit_units)) if ticket_ids else None
    params = {"k": len(ticket_ids), "tickets": list(ticket_ids), "units": sorted(set(exit_units))}
    raw = conn.connection.dbapi_connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with raw.pipeline(), raw.cursor() as cur:
            for stmt, rows in writes:
                cur.executemany(str(stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))), rows)
            if stamp is not None:
                cur.execute(stamp, params)
            if commit:
                raw.commit()
    except dbapi_error as exc:  # raised as SQLAlchemy would: Service.write retries lost races
        what = f"{len(writes)} writes, the stamp{' and COMMIT' if commit else ''} (one pipeline)"
        raise sa.exc.DBAPIError.instance(what, None, exc, dbapi_error) from exc


def current_seq(conn: Connection) -> int:
    """The highest committed commit-order number (every smaller one is committed too)."""
    return conn.execute(sa.select(t.counter.c.v).where(t.counter.c.id == 1)).scalar_one()


def stamp_boot(conn: Connection, boot_id: str, now: dt.datetime) -> int:
    """Record a server start at the counter's current value (returned), read under the
    counter's row lock: no number is taken while the start is not yet committed."""
    query = sa.select(t.counter.c.v).where(t.counter.c.id == 1)
    if conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already serialises writers
        query = query.with_for_update()
    seq = conn.execute(query).scalar_one()
    conn.execute(t.boots.insert().values(start_seq=seq, id=boot_id, started_at=iso(now)))
    return seq


def boot_at(conn: Connection, seq: int) -> str | None:
    """The id of the newest server start stamped BELOW ``seq`` (None: none was).

    Strictly below: a start committed after a cursor for ``seq`` was issued read a counter at
    or above ``seq`` (it waits for every writer before it, and they for it), so it never
    changes this answer — only a restore, whose next start stamps a number the lost timeline
    had handed out, does.
    """
    b = t.boots.c
    query = sa.select(b.id).where(b.start_seq < seq).order_by(b.start_seq.desc(), b.id.desc()).limit(1)
    return conn.execute(query).scalar()


# --- tickets ---------------------------------------------------------------------------------


def _day(moment: dt.datetime | None) -> str | None:
    return beijing_date(moment).isoformat() if moment is not None else None


#: The ticket columns :func:`ticket_row` fills, in its order (the commit-order numbers
#: ``change_seq`` and ``scope_since`` are the caller's).
TICKET_COLUMNS = (
    "id", "unit_id", "status", "county", "township", "assigned_on", "accepted_on", "sign_due",
    "handle_due", "resolved_on", "satisfaction", "reworks", "updated_at", "changed_by", "liaison_data",
    "citizen",
)  # fmt: skip
EVENT_COLUMNS = ("id", "ticket_id", "action", "unit_id", "at", "data")
NOTE_COLUMNS = ("id", "ticket_id", "data")


def ticket_row(ticket: Ticket, changed_by: str | None) -> tuple:
    """The values of ``ticket``'s row in :data:`TICKET_COLUMNS` order: the indexed columns, the
    liaison's masked JSON and what the mask hides."""
    masked = liaison_copy(ticket)
    citizen = None
    if masked is not ticket:
        citizen = orjson.dumps({f: getattr(ticket, f) for f in CITIZEN_FIELDS}).decode()
    return (
        ticket.id,
        ticket.unit_id,
        ticket.status.value,
        ticket.county,
        ticket.township,
        _day(ticket.assigned_at),
        _day(ticket.accepted_at),
        ticket.sign_due.isoformat() if ticket.sign_due else None,
        ticket.handle_due.isoformat() if ticket.handle_due else None,
        _day(ticket.resolved_at),
        ticket.satisfaction.value if ticket.satisfaction else None,
        ticket.counters.reworks,
        iso(ticket.updated_at),
        changed_by,
        masked.model_dump_json(),
        citizen,
    )


#: The fields :func:`schemas.ticket.liaison_copy` masks.
CITIZEN_FIELDS = ("citizen_phone", "citizen_name")


def full_json(liaison_data: str, citizen: str | None) -> str:
    """The full ticket JSON from a row's masked copy and hidden fields."""
    if citizen is None:
        return liaison_data
    return orjson.dumps({**orjson.loads(liaison_data), **orjson.loads(citizen)}).decode()


def full_ticket(liaison_data: str, citizen: str | None) -> Ticket:
    ticket = Ticket.model_validate_json(liaison_data)
    return ticket if citizen is None else ticket.evolve(**orjson.loads(citizen))


def ticket_values(ticket: Ticket, change_seq: int, scope_since: int, changed_by: str | None) -> dict:
    """:func:`ticket_row` as a dict, with the commit-order numbers."""
    values = dict(zip(TICKET_COLUMNS, ticket_row(ticket, changed_by), strict=True))
    values["change_seq"], values["scope_since"] = change_seq, scope_since
    return values


def event_row(ticket: Ticket, event: Event) -> tuple:
    """An event's row in :data:`EVENT_COLUMNS` order (its unit: the event's, else the ticket's)."""
    return (event.id, ticket.id, event.action, event.unit_id or ticket.unit_id, iso(event.at),
            event.model_dump_json())  # fmt: skip


def note_row(ticket_id: str, note: Note) -> tuple:
    return (note.id, ticket_id, note.model_dump_json())


def insert_rows(conn: Connection, table: sa.Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert many rows of value tuples at driver speed (SQLite ``executemany``, PostgreSQL
    ``COPY``), bypassing SQLAlchemy's per-row parameter processing — for bulk loads."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
        return
    with (
        conn.connection.dbapi_connection.cursor() as cur,
        cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


@dataclass
class StoredTicket:
    ticket: Ticket
    scope_since: int
    changed_by: str | None
    change_seq: int = 0


def load_tickets(conn: Connection, ids: Iterable[str], *, lock: bool) -> dict[str, StoredTicket]:
    """The tickets with these ids; ``lock`` takes their row locks in id order (PostgreSQL)."""
    found: dict[str, StoredTicket] = {}
    wanted = sorted(set(ids))
    for part in chunks(wanted):
        query = (
            sa.select(
                t.tickets.c.liaison_data,
                t.tickets.c.citizen,
                t.tickets.c.scope_since,
                t.tickets.c.changed_by,
                t.tickets.c.change_seq,
            )
            .where(t.tickets.c.id.in_(part))
            .order_by(t.tickets.c.id)
        )
        if lock and conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already serialises
            query = query.with_for_update()
        for row in conn.execute(query):
            ticket = full_ticket(row.liaison_data, row.citizen)
            found[ticket.id] = StoredTicket(ticket, row.scope_since, row.changed_by, row.change_seq)
    return found


def ticket_bundle(
    conn: Connection, ticket_id: str, *, masked: bool
) -> tuple[str, list[str], list[str]] | None:
    """A ticket's JSON (masked or full), and all its notes' and events' JSON, oldest first."""
    row = conn.execute(
        sa.select(t.tickets.c.liaison_data, t.tickets.c.citizen).where(t.tickets.c.id == ticket_id)
    ).first()
    if row is None:
        return None
    notes = conn.execute(
        sa.select(t.notes.c.data).where(t.notes.c.ticket_id == ticket_id).order_by(t.notes.c.seq)
    ).scalars()
    events = conn.execute(
        sa.select(t.events.c.data).where(t.events.c.ticket_id == ticket_id).order_by(t.events.c.seq)
    ).scalars()
    ticket = row.liaison_data if masked else full_json(row.liaison_data, row.citizen)
    return ticket, list(notes), list(events)


def departed_tickets(conn: Connection, ticket_ids: Sequence[str], unit_id: str) -> dict[str, str]:
    """Ticket id → the JSON of the ticket as it was when it left ``unit_id`` (those that did)."""
    d = t.departures.c
    found: dict[str, str] = {}
    for part in chunks(sorted(set(ticket_ids))):
        query = sa.select(d.ticket_id, d.data).where(d.unit_id == unit_id, d.ticket_id.in_(part))
        found.update({row.ticket_id: row.data for row in conn.execute(query)})
    return found


def departed_bundle(
    conn: Connection, ticket_id: str, unit_id: str
) -> tuple[str, list[str], list[str]] | None:
    """What ``unit_id`` may read of a ticket it held and no longer does: the ticket as it was
    when it left (just reassigned away, masked) and the notes and events up to then (None: it
    never held it, or it left before departures were recorded — its replica keeps its copy)."""
    d = t.departures.c
    row = conn.execute(
        sa.select(d.data, d.history_seq).where(d.ticket_id == ticket_id, d.unit_id == unit_id)
    ).first()
    if row is None:
        return None
    history = []
    for table in (t.notes, t.events):
        c = table.c
        query = sa.select(c.data).where(c.ticket_id == ticket_id, c.change_seq <= row.history_seq)
        history.append(list(conn.execute(query.order_by(c.seq)).scalars()))
    return row.data, history[0], history[1]


# --- calendar --------------------------------------------------------------------------------


def calendar_tables(conn: Connection) -> list[HolidayTable]:
    rows = conn.execute(sa.select(t.calendar.c.data).order_by(t.calendar.c.year)).scalars()
    return [HolidayTable.model_validate_json(data) for data in rows]


def calendar_version(conn: Connection) -> int:
    return int(get_meta(conn, "calendar_version") or 0)
