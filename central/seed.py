"""``fycli central seed``: fill a central database with realistic data, fast.

Units: the city, Fuyang's 8 counties/districts and their townships (ids ``city``,
``county-N``, ``township-N-MM``). Tickets: appeals from :mod:`central.seed_data`, each taken
through a realistic life by the workflow's own rule (:func:`schemas.workflow.decide`, with the
liaison's and the platform's actions at plausible past times) so every status occurs with real
working-day deadlines and a legal event history. Written in bulk straight through the storage
layer (thousands of rows per statement), with commit-order numbers taken last per chunk.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central import seed_data
from central.service import Service
from central.storage import repo
from central.storage import tables as t
from schemas.actions import (
    Accept,
    AddNote,
    Archive,
    Assign,
    Base,
    RecordFeedback,
    Register,
    RequestExtension,
    RequestReturn,
    Resolve,
    Urge,
)
from schemas.calendar import BEIJING, HANDLING_WORKING_DAYS, HolidayTable, WorkCalendar, beijing_date
from schemas.enums import Complexity, Role
from schemas.ticket import Event, Note, Ticket
from schemas.workflow import Actor, Applied, decide

CHUNK = 5000
#: From this many tickets on, worker processes make the tickets (starting them costs ~1 s).
PARALLEL_FROM = 20_000
CENTRAL = Actor(Role.CENTRAL, "市12345平台")
#: How a seeded ticket's life ends, with weights (out of 100).
FATES = (
    ("registered", 3), ("assigned", 12), ("in_progress", 22), ("return_requested", 3),
    ("extension", 3), ("resolved", 14), ("closed", 33), ("reworked", 4), ("archived", 6),
)  # fmt: skip
REPLIES = (
    "已联系申请人，现场核实后已安排维修，问题已解决。",
    "经村委会协调，双方已达成一致，申请人表示认可。",
    "已转交相关站所依法处理，并向申请人说明办理结果。",
    "已组织人员现场清理，后续纳入日常巡查。",
)
NOTES = ("已电话联系申请人，约定明天上午到现场。", "已到现场查看，情况属实。", "已与村干部沟通，正在协调。")


def township_unit_id(county_index: int, township_index: int) -> str:
    return f"township-{county_index}-{township_index:02d}"


def units_for(county: str | None = None, township: str | None = None) -> list[dict]:
    """The unit rows of the area: the city, the counties, their townships."""
    out = [{"id": "city", "name": "阜阳市12345政务服务便民热线", "kind": "city", "parent_id": None,
            "county": None, "township": None}]  # fmt: skip
    for ci, (cname, towns) in enumerate(seed_data.COUNTIES.items(), start=1):
        if county and cname != county:
            continue
        out.append({"id": f"county-{ci}", "name": f"{cname}两有三解分平台", "kind": "county",
                    "parent_id": "city", "county": cname, "township": None})  # fmt: skip
        for ti, tname in enumerate(towns, start=1):
            if township and tname != township:
                continue
            out.append({"id": township_unit_id(ci, ti), "name": seed_data.unit_name_for_township(cname, tname),
                        "kind": "township", "parent_id": f"county-{ci}", "county": cname, "township": tname})  # fmt: skip
    return out


def seed_service(
    service: Service, n: int, *, seed: int = 1, county: str | None = None, township: str | None = None,
    now: dt.datetime | None = None, workers: int | None = None, chunk: int = CHUNK,
    parallel_from: int = PARALLEL_FROM,
) -> dict[str, Any]:  # fmt: skip
    """Add the area's units (those missing) and ``n`` tickets. Returns a summary.

    The tickets' lives are made in chunks of ``chunk`` tickets (each with its own random stream,
    so the same ``seed`` and ``chunk`` give the same data however the chunks are spread); from
    ``parallel_from`` tickets on, by ``workers`` processes (default: one per CPU) while this one
    writes the chunks already made, in order, one transaction each.
    """
    rng = random.Random(seed)
    now = now or service.clock()
    try:
        appeals = list(seed_data.generate_appeals(rng, n, county=county, township=township))
    except ValueError as exc:
        from central.service import ServiceError

        raise ServiceError(422, "invalid_request", str(exc)) from exc
    units = units_for(county, township)
    unit_of = {(u["county"], u["township"]): u["id"] for u in units if u["kind"] == "township"}

    def add_units(conn) -> int:
        have = set(conn.execute(sa.select(t.units.c.id)).scalars())
        fresh = [{**u, "created_at": repo.iso(now)} for u in units if u["id"] not in have]
        if fresh:
            conn.execute(t.units.insert(), fresh)
        return len(have)

    service.write(add_units)
    with service.db.read.connect() as conn:
        offset = conn.execute(sa.select(sa.func.count()).select_from(t.tickets)).scalar_one()
        tables = [table.model_dump_json() for table in repo.calendar_tables(conn)]
    jobs = [
        _Job(offset + start, appeals[start : start + chunk], unit_of, seed * 1_000_003 + start, now, tables)
        for start in range(0, n, chunk)
    ]
    counts: dict[str, int] = {}
    workers = workers if workers is not None else (os.cpu_count() or 1)
    with contextlib.ExitStack() as stack:
        made: Iterator[_Rows] = map(_make_rows, jobs)
        if n >= parallel_from and workers > 1 and len(jobs) > 1:
            # spawn, not fork: this may run inside a threaded server (fork would copy held locks).
            context = multiprocessing.get_context("spawn")
            pool = stack.enter_context(ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context))
            made = _in_order(pool, jobs)
        with _bulk_connection(service) as conn:
            for rows in made:
                for status, count in rows.counts.items():
                    counts[status] = counts.get(status, 0) + count
                with conn.begin():
                    _write(conn, rows)

    def audit(conn) -> None:
        conn.execute(t.audit.insert().values(at=repo.iso(service.clock()), actor="admin", actor_id="admin",
                     role="central",
                     what="seed", detail=json.dumps({"tickets": n, "seed": seed}, ensure_ascii=False)))  # fmt: skip

    service.write(audit)
    return {"units": len(units), "tickets": n, "by_status": counts}


def _in_order(pool: ProcessPoolExecutor, jobs: list[_Job]) -> Iterator[_Rows]:
    """The jobs' rows in order, made by the pool — or here, from the first job the pool could
    not do (a worker that cannot start, e.g. a ``__main__`` script without the main guard)."""
    futures = [pool.submit(_make_rows, job) for job in jobs]
    for index, future in enumerate(futures):
        try:
            rows = future.result()
        except BrokenProcessPool:
            for job in jobs[index:]:
                yield _make_rows(job)
            return
        yield rows


@dataclass
class _Job:
    """One chunk of tickets to make (picklable: it crosses to a worker process)."""

    first_number: int  # the chunk's first ticket is FY{first_number + 1}
    appeals: list[dict]
    unit_of: dict[tuple[str, str], str]
    seed: int
    now: dt.datetime
    calendar_tables: list[str]


@dataclass
class _Rows:
    """A chunk's rows as value tuples, in ``repo.TICKET_COLUMNS``/``EVENT_COLUMNS``/
    ``NOTE_COLUMNS`` order except the trailing commit-order numbers, stamped when written."""

    tickets: list[tuple]
    events: list[list[tuple]]  # per ticket
    notes: list[list[tuple]]
    counts: dict[str, int]


_calendars: dict[tuple[str, ...], WorkCalendar] = {}


def _make_rows(job: _Job) -> _Rows:
    """Live every ticket of the chunk and turn it into rows (runs in a worker process)."""
    key = tuple(job.calendar_tables)
    calendar = _calendars.get(key)
    if calendar is None:
        calendar = _calendars[key] = WorkCalendar([HolidayTable.model_validate_json(x) for x in key])
    rng = random.Random(job.seed)
    days = _recent_days(calendar, beijing_date(job.now))
    late_ones = _Late(OVERDUE_SHARE)
    out = _Rows([], [], [], {})
    for i, appeal in enumerate(job.appeals):
        ticket_id = f"FY{job.first_number + i + 1:08d}"
        unit_id = job.unit_of[(appeal["county"], appeal["township"])]
        ticket, events, notes = _live(ticket_id, appeal, unit_id, rng, job.now, calendar, days, late_ones)
        out.counts[ticket.status.value] = out.counts.get(ticket.status.value, 0) + 1
        out.tickets.append(repo.ticket_row(ticket, events[-1].actor))
        out.events.append([repo.event_row(ticket, e) for e in events])
        out.notes.append([repo.note_row(ticket.id, note) for note in notes])
    return out


@contextlib.contextmanager
def _bulk_connection(service: Service) -> Iterator[Connection]:
    """One write connection for the whole seed. SQLite: without an fsync per chunk (a crash
    mid-seed leaves a consistent database with fewer tickets; the data is generated anyway)."""
    with service.db.write.connect() as conn:
        raw = conn.connection.dbapi_connection if service.db.is_sqlite else None
        if raw is not None:
            raw.execute("PRAGMA synchronous=OFF")  # on the driver: no transaction is begun
        try:
            yield conn
        finally:
            if raw is not None:
                raw.execute("PRAGMA synchronous=NORMAL")


#: The share of open tickets left past their deadline (a real queue has a handful, not a third).
OVERDUE_SHARE = 0.07
#: The fates that leave a ticket open with a deadline in the unit's queue.
OPEN_FATES = frozenset(("assigned", "in_progress", "return_requested", "extension", "reworked"))
#: How many working days back a seeded ticket may have been assigned (closed ones: up to ~3 months).
HISTORY_WORKING_DAYS = 64


def _recent_days(calendar: WorkCalendar, today: dt.date) -> list[dt.date]:
    """``[today, the working days before it, newest first]``: index ``b`` is "``b`` working days
    ago" — so a ticket assigned on day ``b <= handling days`` is not overdue today, and one
    assigned on day ``2`` was due for signing on day ``1``, before today, whatever today is."""
    days = [today]
    day = today
    while len(days) <= HISTORY_WORKING_DAYS:
        day -= dt.timedelta(days=1)
        if calendar.is_working_day(day):
            days.append(day)
    return days


class _Late:
    """Says which open tickets are left overdue: every ``1/share``-th, spread evenly (error
    diffusion), so even a 300-ticket township gets its share, not a lucky or unlucky draw."""

    def __init__(self, share: float) -> None:
        self.share, self.owed = share, 0.5

    def next(self) -> bool:
        self.owed += self.share
        if self.owed >= 1:
            self.owed -= 1
            return True
        return False


def _assigned_back(fate: str, handling: int, r, overdue: bool) -> tuple[int, int]:
    """``(b, k)``: the ticket was assigned ``b`` working days ago; for a finished or reworked
    one, ``k`` is when its last step (the reply, or the citizen's verdict) happened. ``overdue``:
    an open one is left past its deadline."""
    if fate == "assigned":  # sign-for is due the next working day: today or yesterday's work
        return (2 + int(r() * 3) if overdue else int(r() < 0.4)), 0
    if fate in ("in_progress", "return_requested"):  # mostly the last few days
        return (handling + 1 + int(r() * 3) if overdue else int(r() * r() * (handling + 1))), 0
    if fate == "extension":  # asked for near the deadline
        return (handling + 1 if overdue else max(0, handling - int(r() * 2))), 0
    if fate == "reworked":  # the citizen said no lately; the handling days restart from then
        k = handling + 1 if overdue else int(r() * r() * (handling + 1))
        return k + 2 + int(r() * 8), k
    if fate == "resolved":  # waiting for the citizen's callback, replied in the last days
        k = int(r() * 3)
        return k + 1 + int(r() * handling), k
    return 5 + int(r() * (HISTORY_WORKING_DAYS - 5)), 0  # closed, archived: weeks or months ago


def _live(ticket_id: str, appeal: dict, unit_id: str, rng: random.Random, now: dt.datetime, calendar,
          days: list[dt.date], late_ones: _Late):  # fmt: skip
    """Take one appeal through a life chosen by weight; returns (ticket, events, notes).

    The queue looks like a working day at ``now``: open tickets were assigned in the last few
    working days (``days``: see :func:`_recent_days`) so most are due today or soon and only
    :data:`OVERDUE_SHARE` of them (as ``late_ones`` says) are late; replied and closed ones are older.
    """
    r = rng.random
    fate = rng.choices([f for f, _ in FATES], [w for _, w in FATES])[0]
    handling = HANDLING_WORKING_DAYS[Complexity(appeal["complexity"])]
    overdue = fate in OPEN_FATES and late_ones.next()
    back, last_back = _assigned_back(fate, handling, r, overdue)

    def during_work(b: int) -> dt.datetime:
        """A moment in office hours ``b`` working days ago, never in the future."""
        moment = dt.datetime.combine(days[b], dt.time(8, 30), BEIJING) + dt.timedelta(minutes=r() * 540)
        return min(moment, now - dt.timedelta(minutes=1 + r() * 30))

    assigned_at = during_work(back)
    at = now - dt.timedelta(hours=0.2 + r() * 6) if fate == "registered" else assigned_at
    at -= dt.timedelta(hours=0.5 + r() * 3)  # registered before it was assigned
    events: list[Event] = []
    notes: list[Note] = []
    liaison = Actor(Role.LIAISON, "联络员" + ticket_id[-2:], unit_id)
    seq = 0

    def step(action_cls, actor: Actor, hours: float, ticket: Ticket | None, *, when: dt.datetime | None = None,
             **fields) -> Ticket:  # fmt: skip
        """Apply an action ``hours`` after the previous one (or at ``when``), never after now."""
        nonlocal at, seq
        at = min(max(when, at) if when else at + dt.timedelta(hours=hours), now)
        seq += 1
        common = {"action_id": f"{ticket_id}-{seq:02d}-seed", "ticket_id": ticket_id, "created_at": at}
        if ticket is not None and action_cls is not Register:
            common["base"] = Base(status=ticket.status, unit_id=ticket.unit_id, epoch=ticket.epoch)
        decision = decide(ticket, action_cls(**common, **fields), actor, at, calendar)
        assert isinstance(decision, Applied), (action_cls, decision)
        # Server-made ids carry a ':' (no client-chosen action id may): a liaison's action can
        # never take a seeded event's id.
        events.extend(e.model_copy(update={"id": f"seed:{ticket_id}:{seq:02d}"}) for e in decision.events)
        notes.extend(decision.notes)
        return decision.ticket

    ticket = step(Register, CENTRAL, 0, None, **appeal)
    if fate == "registered":
        return ticket, events, notes
    ticket = step(Assign, CENTRAL, 0, ticket, when=assigned_at, unit_id=unit_id)
    if r() < 0.15:
        ticket = step(Urge, CENTRAL, 2 + r() * 20, ticket, comment="请尽快签收办理")
    if fate == "assigned":
        return ticket, events, notes
    late = r() < 0.1  # a few units sign late, resolve late: the metrics are not all 100%
    ticket = step(Accept, liaison, (30 if late else 1) + r() * 12, ticket)
    if r() < 0.4:
        ticket = step(AddNote, liaison, 1 + r() * 24, ticket, text=rng.choice(NOTES))
    if fate == "return_requested":
        return (
            step(RequestReturn, liaison, 2 + r() * 10, ticket, reason="该地块属相邻乡镇管辖"),
            events,
            notes,
        )
    if fate == "extension":
        return (
            step(RequestExtension, liaison, 24 + r() * 48, ticket, days=5, reason="需协调多个部门"),
            events,
            notes,
        )
    if fate == "in_progress":
        return ticket, events, notes
    if fate in ("resolved", "reworked"):  # replied lately (reworked: a day or two before the verdict)
        reply_at = during_work(last_back + (1 + int(r() * 2) if fate == "reworked" else 0))
        ticket = step(Resolve, liaison, 0, ticket, when=reply_at, reply=rng.choice(REPLIES))
    else:
        ticket = step(Resolve, liaison, (150 if late else 20) + r() * 60, ticket, reply=rng.choice(REPLIES))
    if fate == "resolved":
        return ticket, events, notes
    if fate == "reworked":
        return step(RecordFeedback, CENTRAL, 0, ticket, when=during_work(last_back), result="dissatisfied",
                    comment="群众表示问题未解决"), events, notes  # fmt: skip
    verdict = "satisfied" if r() < 0.85 else "basically_satisfied"
    ticket = step(RecordFeedback, CENTRAL, 24 + r() * 48, ticket, result=verdict)
    if fate == "archived":
        ticket = step(Archive, CENTRAL, 24 + r() * 96, ticket)
    return ticket, events, notes


def _write(conn, rows: _Rows) -> None:
    first = repo.take_seqs(conn, len(rows.tickets))
    ticket_rows, event_rows, note_rows = [], [], []
    for offset, (ticket, events, notes) in enumerate(zip(rows.tickets, rows.events, rows.notes, strict=True)):
        seq = first + offset
        ticket_rows.append((*ticket, seq, seq))
        event_rows.extend((*e, seq) for e in events)
        note_rows.extend((*note, seq) for note in notes)
    repo.insert_rows(conn, t.tickets, (*repo.TICKET_COLUMNS, "change_seq", "scope_since"), ticket_rows)
    repo.insert_rows(conn, t.events, (*repo.EVENT_COLUMNS, "change_seq"), event_rows)
    repo.insert_rows(conn, t.notes, (*repo.NOTE_COLUMNS, "change_seq"), note_rows)
