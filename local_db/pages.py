"""Checking a pulled page before anything is stored.

A page from the server is decoded JSON; this checks its envelope and each record cheaply (no
per-ticket pydantic on the 100,000-ticket path) and turns it into the rows the replica stores.
Anything malformed raises ValueError saying what and where, so nothing of a bad page is written.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from local_db.columns import BadTicket, check_raw_ticket
from schemas.calendar import HolidayTable
from schemas.wire import UnitMetrics

_TABLES = TypeAdapter(list[HolidayTable])
_METRICS = TypeAdapter(list[UnitMetrics])


class PulledPage:
    """A pulled page, checked, as the rows to store."""

    __slots__ = (
        "has_more",
        "calendar",
        "calendar_version",
        "cursor",
        "events",
        "metrics",
        "metrics_etag",
        "notes",
        "removed",
        "reset",
        "tickets",
    )


def check_page(page: Any) -> PulledPage:
    """Check a decoded pull page; raise ValueError (what is wrong, where) or return what to store."""
    if not isinstance(page, dict):
        raise ValueError(f"the pulled page must be a JSON object, got {type(page).__name__}")
    plan = PulledPage()
    cursor = page.get("cursor")
    if not isinstance(cursor, str) or not cursor:
        raise ValueError("the pulled page has no cursor")
    if not isinstance(page.get("has_more"), bool):
        raise ValueError("the pulled page has no has_more flag")
    plan.cursor = cursor
    plan.has_more = page["has_more"]
    plan.reset = page.get("reset", False) is True
    tickets = page.get("tickets", [])
    if not isinstance(tickets, list):
        raise ValueError("the pulled page's tickets must be a list")
    plan.tickets = []
    for i, raw in enumerate(tickets):
        try:
            columns, text = check_raw_ticket(raw)
        except BadTicket as e:
            where = raw.get("id") if isinstance(raw, dict) else None
            raise ValueError(f"pulled ticket #{i} ({where!r:.50}) is malformed: {e}") from None
        plan.tickets.append((columns, text, raw))
    plan.notes = _records(page, "notes", "created_at")
    plan.events = _records(page, "events", "at", numbered=True)
    removed = page.get("removed", [])
    if not isinstance(removed, list) or not all(isinstance(r, str) for r in removed):
        raise ValueError("the pulled page's removed must be a list of ticket ids")
    plan.removed = removed
    plan.calendar, plan.calendar_version = None, page.get("calendar_version", 0)
    if type(plan.calendar_version) is not int:
        raise ValueError("the pulled page's calendar_version must be an integer")
    if page.get("calendar") is not None:
        try:
            tables = _TABLES.validate_python(page["calendar"])
        except ValidationError as e:
            raise ValueError(f"the pulled calendar is malformed: {e}") from None
        plan.calendar = [(t.year, t.model_dump_json()) for t in tables]
    plan.metrics, plan.metrics_etag = None, page.get("metrics_etag")
    if page.get("metrics") is not None:
        try:
            metrics = _METRICS.validate_python(page["metrics"])
        except ValidationError as e:
            raise ValueError(f"the pulled metrics are malformed: {e}") from None
        plan.metrics = [(m.unit_id, m.month, m.model_dump_json()) for m in metrics]
    return plan


def _records(page: dict, key: str, at_key: str, *, numbered: bool = False) -> list[tuple]:
    """``(id, ticket_id, at, json)`` of each record; ``numbered`` adds its place in the page
    (1, 2, …): events are stored in the order the server sent them."""
    items = page.get(key, [])
    if not isinstance(items, list):
        raise ValueError(f"the pulled page's {key} must be a list")
    out = []
    for i, item in enumerate(items):
        if not (
            isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and isinstance(item.get("ticket_id"), str)
            and isinstance(item.get(at_key), str)
        ):
            raise ValueError(f"pulled {key[:-1]} #{i} is malformed (needs id, ticket_id and {at_key})")
        row = (item["id"], item["ticket_id"], item[at_key], orjson.dumps(item).decode())
        out.append((*row, i + 1) if numbered else row)
    return out
