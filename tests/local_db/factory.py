"""Realistic replica data for tests, the terminal app's tests and the benchmarks.

* :func:`ticket_json` — one server ticket as the pull sends it (masked), with overrides;
* :func:`make_pages` — ``n`` realistic tickets of a unit as pull pages (decoded JSON);
* :func:`make_replica` — a replica file loaded with them through ``apply_pull_page_raw``.

Text comes from :func:`central.seed_data.generate_appeals` (real Fuyang places, Chinese titles
and descriptions); statuses are mixed and deadlines are counted on the working-day calendar
from ``today``, so every view (due soon, overdue, ...) has rows. Same seed, same data.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from pathlib import Path
from typing import Any

from central.seed_data import generate_appeals
from local_db.replica import Replica
from schemas.calendar import BEIJING, WorkCalendar
from schemas.enums import Complexity
from schemas.ticket import mask_name, mask_phone
from schemas.wire import Me

#: A fixed moment for tests: Wednesday 2025-06-11 10:00 Beijing (no holiday nearby).
FIXED_NOW = dt.datetime(2025, 6, 11, 10, 0, tzinfo=BEIJING)

_STATUS_WEIGHTS = (
    ("assigned", 20),
    ("in_progress", 35),
    ("return_requested", 3),
    ("resolved", 17),
    ("closed", 22),
    ("archived", 3),
)
_STATUS_TABLE = tuple(s for s, w in _STATUS_WEIGHTS for _ in range(w))
_REPLIES = (
    "已联系反映人，现场核实后已安排维修，问题已解决。",
    "经核查，已协调相关部门处理完毕，并向反映人做好解释。",
    "已督促责任单位整改到位，反映人表示认可。",
)


def fixed_clock() -> dt.datetime:
    return FIXED_NOW


def _ts(day: dt.date, hour: int = 9, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00+08:00"


def ticket_json(ticket_id: str = "FY0000001", **overrides: Any) -> dict[str, Any]:
    """One ticket as a liaison's pull carries it (a valid ``Ticket``), in progress with unit U1."""
    day = FIXED_NOW.date()
    base: dict[str, Any] = {
        "id": ticket_id,
        "channel": "hotline_12345",
        "appeal_type": "complaint",
        "category": "城市管理",
        "title": "人民路路灯不亮",
        "description": "颍州区人民路与颍河路交口附近三盏路灯连续一周不亮，夜间出行不便。",
        "citizen_name": "张**",
        "citizen_phone": "138****5678",
        "needs_callback": False,
        "address": "颍州区鼓楼街道人民路",
        "county": "颍州区",
        "township": "鼓楼街道",
        "village": "人民社区",
        "complexity": "general",
        "status": "in_progress",
        "unit_id": "U1",
        "epoch": 1,
        "epoch_cause": "assign",
        "past_units": [],
        "registered_at": _ts(day - dt.timedelta(days=2), 8),
        "assigned_at": _ts(day - dt.timedelta(days=2), 9),
        "sign_due": (day - dt.timedelta(days=1)).isoformat(),
        "handle_due": (day + dt.timedelta(days=5)).isoformat(),
        "deadline_provisional": False,
        "accepted_at": _ts(day - dt.timedelta(days=1), 10),
        "resolved_at": None,
        "closed_at": None,
        "reply": None,
        "replied_by": None,
        "return_reason": None,
        "extension": None,
        "flags": {
            "urged": 0,
            "supervised": False,
            "listed": False,
            "escalated": False,
            "escalation_note": None,
        },
        "satisfaction": None,
        "counters": {"returns": 0, "extensions": 0, "reworks": 0, "reply_rejections": 0},
        "updated_at": _ts(day - dt.timedelta(days=1), 10),
        "revision": 2,
    }
    if overrides.get("status") == "assigned" and "accepted_at" not in overrides:
        base["accepted_at"] = None
    base.update(overrides)
    return base


def page(tickets: list[dict], cursor: str = "c1", **fields: Any) -> dict[str, Any]:
    """A pull page around ``tickets``."""
    return {"cursor": cursor, "has_more": False, "tickets": tickets, **fields}


def make_tickets(
    n: int, *, unit_id: str = "U1", seed: int = 0, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """``n`` realistic tickets of ``unit_id`` as pulled JSON (decoded), statuses mixed."""
    today = today or FIXED_NOW.date()
    rng = random.Random(seed)
    r = rng.random
    calendar = WorkCalendar()

    @functools.cache
    def deadlines(assigned_on: dt.date, complexity: str) -> tuple[str, str]:
        sign = calendar.sign_for_deadline(assigned_on).due
        handle = calendar.handling_deadline(assigned_on, Complexity(complexity)).due
        return sign.isoformat(), handle.isoformat()

    out = []
    for i, appeal in enumerate(generate_appeals(rng, n)):
        status = _STATUS_TABLE[int(r() * len(_STATUS_TABLE))]
        # Open tickets were assigned recently (some overdue); finished ones longer ago.
        back = int(r() * (12 if status in ("assigned", "in_progress", "return_requested") else 40))
        if status == "assigned":
            back = int(r() * 3)
        assigned_on = today - dt.timedelta(days=back)
        sign_due, handle_due = deadlines(assigned_on, appeal["complexity"])
        callback = appeal["needs_callback"]
        hour = 8 + int(r() * 9)
        t: dict[str, Any] = {
            "id": f"FY25{i:07d}",
            **appeal,
            "citizen_name": appeal["citizen_name"] if callback else mask_name(appeal["citizen_name"]),
            "citizen_phone": appeal["citizen_phone"] if callback else mask_phone(appeal["citizen_phone"]),
            "status": status,
            "unit_id": unit_id,
            "epoch": 1,
            "epoch_cause": "assign",
            "past_units": [],
            "registered_at": _ts(assigned_on, hour - 1 if hour > 8 else 8),
            "assigned_at": _ts(assigned_on, hour),
            "sign_due": sign_due,
            "handle_due": handle_due,
            "deadline_provisional": False,
            "accepted_at": None if status == "assigned" else _ts(assigned_on, hour, 30),
            "resolved_at": None,
            "closed_at": None,
            "reply": None,
            "replied_by": None,
            "return_reason": "不属于本单位管辖范围，请改派。" if status == "return_requested" else None,
            "extension": None,
            "flags": {
                "urged": int(r() * 3) if r() < 0.1 else 0,
                "supervised": r() < 0.05,
                "listed": r() < 0.01,
                "escalated": r() < 0.01,
                "escalation_note": None,
            },
            "satisfaction": None,
            "counters": {"returns": 0, "extensions": 0, "reworks": 0, "reply_rejections": 0},
            "updated_at": _ts(assigned_on, hour, 45),
            "revision": 2,
        }
        if status == "in_progress" and r() < 0.05:
            t["extension"] = {
                "days": 5,
                "reason": "需协调多个部门现场勘查。",
                "requested_at": _ts(assigned_on, hour, 50),
                "requested_by": "联络员",
            }
        if status in ("resolved", "closed", "archived"):
            done = assigned_on + dt.timedelta(days=1 + int(r() * 4))
            t |= {
                "reply": _REPLIES[int(r() * len(_REPLIES))],
                "replied_by": "联络员",
                "resolved_at": _ts(done, hour),
                "updated_at": _ts(done, hour),
                "revision": 3,
            }
            if status != "resolved":
                t |= {"satisfaction": "satisfied" if r() < 0.8 else "basically_satisfied"}
                t |= {"closed_at": _ts(done + dt.timedelta(days=2), hour), "revision": 4}
        out.append(t)
    return out


def make_pages(
    n: int,
    *,
    unit_id: str = "U1",
    seed: int = 0,
    page_size: int = 1000,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """``n`` tickets as the pages of a first full pull, with one event per ticket and some notes."""
    tickets = make_tickets(n, unit_id=unit_id, seed=seed, today=today)
    pages = []
    for start in range(0, max(n, 1), page_size):
        chunk = tickets[start : start + page_size]
        events = [
            {
                "id": f"{t['id']}-assign",
                "ticket_id": t["id"],
                "action": "assign",
                "actor": "阜阳市12345平台",
                "role": "central",
                "unit_id": None,
                "from_status": "registered",
                "to_status": "assigned",
                "epoch": 1,
                "at": t["assigned_at"],
                "detail": {"unit_id": unit_id},
            }
            for t in chunk
        ]
        notes = [
            {
                "id": f"{t['id']}-n1",
                "ticket_id": t["id"],
                "kind": "call",
                "text": "已电话联系反映人，约定上门核实时间。",
                "author": "联络员",
                "unit_id": unit_id,
                "created_at": t["updated_at"],
            }
            for t in chunk[::10]
        ]
        last = start + page_size >= n
        page_no = start // page_size + 1
        pages.append(
            {
                "cursor": f"cursor-{page_no}",
                "has_more": not last,
                "reset": False,
                "tickets": chunk,
                "notes": notes,
                "events": events,
                "removed": [],
                "calendar": [] if page_no == 1 else None,
                "calendar_version": 1,
                "metrics": [metrics_json(unit_id)] if last else None,
                "metrics_etag": "m1" if last else None,
            }
        )
    return pages


def metrics_json(unit_id: str = "U1", month: str = "2025-06") -> dict[str, Any]:
    return {
        "unit_id": unit_id,
        "unit_name": "鼓楼街道办事处",
        "month": month,
        "assigned": 120,
        "signed_on_time": 114,
        "due": 100,
        "resolved": 97,
        "resolved_on_time": 93,
        "evaluated": 80,
        "satisfied": 73,
        "returns": 3,
        "reworks": 2,
        "response_rate": 0.95,
        "resolution_rate": 0.97,
        "on_time_rate": 0.93,
        "satisfaction_rate": 0.9125,
        "return_rate": 0.025,
        "rework_rate": 0.02,
        "rank": 3,
        "peers": 12,
    }


def make_replica(
    path: Path | str,
    n: int,
    *,
    unit_id: str = "U1",
    seed: int = 0,
    clock=fixed_clock,
    page_size: int = 1000,
) -> Replica:
    """A new replica at ``path`` holding ``n`` realistic tickets of ``unit_id``, as if pulled.

    ``clock`` defaults to :data:`FIXED_NOW`, the day the deadlines were counted from, so the
    due-soon and overdue views are populated; pass ``None`` for the real clock.
    """
    replica = Replica.open(path, create=True, clock=clock)
    me = Me(liaison_id="L1", name="联络员", unit_id=unit_id, unit_name="鼓楼街道办事处", server_id="S1")
    replica.set_identity(me, "http://127.0.0.1:8080")
    today = clock().astimezone(BEIJING).date() if clock is not None else None
    for p in make_pages(n, unit_id=unit_id, seed=seed, page_size=page_size, today=today):
        replica.apply_pull_page_raw(p)
    return replica
