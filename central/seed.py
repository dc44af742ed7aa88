"""``fycli central seed``: fill a central database with realistic data, fast.

Units: the city, Fuyang's 8 counties/districts and their townships (ids ``city``,
``county-N``, ``township-N-MM``). Tickets: appeals from :mod:`central.seed_data`, each taken
through a realistic life by the workflow's own rule (:func:`schemas.workflow.decide`, with the
liaison's and the platform's actions at plausible past times) so every status occurs with real
working-day deadlines and a legal event history. Written in bulk straight through the storage
layer (thousands of rows per statement), with commit-order numbers taken last per chunk.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import sqlalchemy as sa

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
from schemas.enums import Role
from schemas.ticket import Event, Note, Ticket
from schemas.workflow import Actor, Applied, decide

CHUNK = 5000
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
    now: dt.datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Add the area's units (those missing) and ``n`` tickets. Returns a summary."""
    rng = random.Random(seed)
    now = now or service.clock()
    try:
        appeals = seed_data.generate_appeals(rng, n, county=county, township=township)
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
        calendar = service.work_calendar(conn)
    counts: dict[str, int] = {}
    batch: list[tuple[Ticket, list[Event], list[Note]]] = []
    for i, appeal in enumerate(appeals):
        ticket_id = f"FY{offset + i + 1:08d}"
        life = _live(ticket_id, appeal, unit_of[(appeal["county"], appeal["township"])], rng, now, calendar)
        counts[life[0].status.value] = counts.get(life[0].status.value, 0) + 1
        batch.append(life)
        if len(batch) >= CHUNK:
            service.write(lambda conn, b=batch: _write(conn, b))
            batch = []
    if batch:
        service.write(lambda conn, b=batch: _write(conn, b))

    def audit(conn) -> None:
        conn.execute(t.audit.insert().values(at=repo.iso(service.clock()), actor="admin", role="central",
                     what="seed", detail=json.dumps({"tickets": n, "seed": seed}, ensure_ascii=False)))  # fmt: skip

    service.write(audit)
    return {"units": len(units), "tickets": n, "by_status": counts}


def _live(ticket_id: str, appeal: dict, unit_id: str, rng: random.Random, now: dt.datetime, calendar):
    """Take one appeal through a life chosen by weight; returns (ticket, events, notes)."""
    r = rng.random
    fate = rng.choices([f for f, _ in FATES], [w for _, w in FATES])[0]
    # Open tickets are recent; finished ones older, so their deadlines have passed.
    age_days = 1 + r() * (6 if fate in ("registered", "assigned") else 20 if fate == "in_progress" else 75)
    at = now - dt.timedelta(days=age_days, minutes=r() * 600)
    events: list[Event] = []
    notes: list[Note] = []
    liaison = Actor(Role.LIAISON, "联络员" + ticket_id[-2:], unit_id)
    seq = 0

    def step(action_cls, actor: Actor, hours: float, ticket: Ticket | None, **fields) -> Ticket:
        nonlocal at, seq
        at = min(at + dt.timedelta(hours=hours), now)
        seq += 1
        common = {"action_id": f"{ticket_id}-{seq:02d}-seed", "ticket_id": ticket_id, "created_at": at}
        if ticket is not None and action_cls is not Register:
            common["base"] = Base(status=ticket.status, unit_id=ticket.unit_id, epoch=ticket.epoch)
        decision = decide(ticket, action_cls(**common, **fields), actor, at, calendar)
        assert isinstance(decision, Applied), (action_cls, decision)
        events.extend(decision.events)
        notes.extend(decision.notes)
        return decision.ticket

    ticket = step(Register, CENTRAL, 0, None, **appeal)
    if fate == "registered":
        return ticket, events, notes
    ticket = step(Assign, CENTRAL, 0.5 + r() * 3, ticket, unit_id=unit_id)
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
    ticket = step(Resolve, liaison, (150 if late else 20) + r() * 60, ticket, reply=rng.choice(REPLIES))
    if fate == "resolved":
        return ticket, events, notes
    if fate == "reworked":
        return step(RecordFeedback, CENTRAL, 24 + r() * 48, ticket, result="dissatisfied",
                    comment="群众表示问题未解决"), events, notes  # fmt: skip
    verdict = "satisfied" if r() < 0.85 else "basically_satisfied"
    ticket = step(RecordFeedback, CENTRAL, 24 + r() * 48, ticket, result=verdict)
    if fate == "archived":
        ticket = step(Archive, CENTRAL, 24 + r() * 96, ticket)
    return ticket, events, notes


def _write(conn, batch: list[tuple[Ticket, list[Event], list[Note]]]) -> None:
    first = repo.take_seqs(conn, len(batch))
    ticket_rows, event_rows, note_rows = [], [], []
    for offset, (ticket, events, notes) in enumerate(batch):
        seq = first + offset
        ticket_rows.append(repo.ticket_values(ticket, seq, seq, events[-1].actor))
        event_rows.extend(
            {"id": e.id, "ticket_id": ticket.id, "change_seq": seq, "action": e.action,
             "unit_id": e.unit_id or ticket.unit_id, "at": repo.iso(e.at), "data": e.model_dump_json()}
            for e in events
        )  # fmt: skip
        note_rows.extend(
            {"id": n.id, "ticket_id": ticket.id, "change_seq": seq, "data": n.model_dump_json()}
            for n in notes
        )
    conn.execute(t.tickets.insert(), ticket_rows)
    conn.execute(t.events.insert(), event_rows)
    if note_rows:
        conn.execute(t.notes.insert(), note_rows)
