"""What a bulk action will act on: the marked tickets of the view the liaison is looking at.

Marks survive view and filter changes (a liaison marks in one view, checks another, comes
back), but an action acts only on what is marked AND shown by the current view, search and
filter — never on tickets of another view the liaison cannot see (issue 9: a "mark all"
under 全部 closed 待签收 tickets from the 办理中 view). A ticket the action can only reach
through another action first (a resolve signs a 待签收 ticket for first) is kept apart: it
needs its own consent. Headless (no Textual); the app runs it in a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from local_db.api import TicketRow
from schemas.enums import Status
from tui.core.marks import Marks

#: From this many tickets a bulk action asks for the count to be typed, not just `y`.
TYPED_CONSENT_FROM = 50

#: Statuses an action reaches only through another action first, by action kind.
NEEDS_FIRST: dict[str, frozenset[Status]] = {"resolve": frozenset({Status.ASSIGNED})}


@dataclass(frozen=True, slots=True)
class BulkPlan:
    """The answer to "what will this key do?", computed before anything is asked or made."""

    kind: str
    #: Marked tickets of the current view the action acts on, in the view's order.
    targets: tuple[str, ...]
    #: How many of ``targets`` are in each status (shown in the confirmation).
    by_status: dict[Status, int] = field(default_factory=dict)
    #: Marked tickets of the current view that need another action first; only with consent.
    needs_first: tuple[str, ...] = ()
    #: Marked tickets outside the current view: kept marked, not acted on.
    outside: int = 0
    #: The ids of those outside tickets (they stay marked after the action).
    outside_ids: frozenset[str] = frozenset()


def marked_in(
    marks: Marks, ids: Iterable[str], base_ids: Callable[[], frozenset[str]], *, base_is_view: bool
) -> Iterator[str]:
    """The ids of ``ids`` (the current view's) that ``marks`` marks.

    ``base_ids`` lists what the marks' filter matches; it is only called when that filter is
    not the current view (then every row of the view matches it).
    """
    if marks.empty:
        return
    matched: frozenset[str] | None = None
    for ticket_id in ids:
        if ticket_id in marks.include:
            yield ticket_id
            continue
        if marks.base is None or ticket_id in marks.exclude:
            continue
        if base_is_view:
            yield ticket_id
            continue
        if matched is None:
            matched = base_ids()
        if ticket_id in matched:
            yield ticket_id


def plan(
    kind: str,
    marks: Marks,
    view_rows: Iterable[TicketRow],
    all_marked: Callable[[], Iterator[str]],
    base_ids: Callable[[], frozenset[str]],
    *,
    base_is_view: bool,
) -> BulkPlan:
    """Split the marked set into what the action acts on, what needs consent, and the rest.

    ``view_rows`` walks every row of the current view; ``all_marked`` every marked id
    (:meth:`Marks.ids`), for the tickets outside the view.
    """
    rows = {row.id: row for row in view_rows}
    inside = list(marked_in(marks, rows, base_ids, base_is_view=base_is_view))
    first = NEEDS_FIRST.get(kind, frozenset())
    targets = [i for i in inside if rows[i].status not in first]
    needs_first = tuple(i for i in inside if rows[i].status in first)
    by_status: dict[Status, int] = {}
    for ticket_id in targets:
        status = rows[ticket_id].status
        by_status[status] = by_status.get(status, 0) + 1
    seen = set(inside)
    outside_ids = frozenset(i for i in all_marked() if i not in seen)
    return BulkPlan(
        kind=kind,
        targets=tuple(targets),
        by_status=by_status,
        needs_first=needs_first,
        outside=len(outside_ids),
        outside_ids=outside_ids,
    )
