"""Keyset paging for the queue: the table holds a window of two pages, never the whole list.

The replica pages forward only (``query(q, after=key)``), so the pager remembers where each
page it has seen starts (the key of the row before it). Moving down past the window loads the
next two pages from a known start; moving up reloads from an earlier known start. A jump of up
to one page beyond what is known walks forward page by page (keys only), which is what
page-down and ``End``-less scrolling need. Runs in a worker thread; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from local_db.api import TicketQuery, TicketRow

PAGE = 50
Fetch = Callable[[TicketQuery, "tuple | None", int], list[TicketRow]]


@dataclass(frozen=True, slots=True)
class Window:
    query: TicketQuery
    #: Position (0-based, in the whole list) of ``rows[0]``.
    start: int
    rows: tuple[TicketRow, ...]
    #: Rows exist after this window.
    has_more: bool

    @property
    def end(self) -> int:
        return self.start + len(self.rows)

    def contains(self, position: int) -> bool:
        return self.start <= position < self.end


class Pager:
    def __init__(self, page_size: int = PAGE) -> None:
        self.page_size = page_size
        self._lock = threading.Lock()
        self._query: TicketQuery | None = None
        self._starts: dict[int, tuple | None] = {0: None}

    def forget(self) -> None:
        """Drop the remembered page starts (the list changed a lot, e.g. after a sync)."""
        with self._lock:
            self._starts = {0: None}

    def window(
        self, fetch: Fetch, query: TicketQuery, target: int, *, upward: bool = False
    ) -> tuple[Window, int]:
        """The window holding list position ``target`` (clamped to the list) and the clamped target.

        ``upward``: the cursor is moving up, so put ``target`` in the window's first page (more
        rows above are then one reload away, below are already there), else in its second.
        """
        size = self.page_size
        with self._lock:
            if query != self._query:
                self._query = query
                self._starts = {0: None}
            target = max(0, target)
            page = target // size
            first = page if upward else max(0, page - 1)
            first = self._reach(fetch, query, first)
            rows = fetch(query, self._starts[first], 2 * size + 1)
            while first > 0 and len(rows) <= size:
                # Near the end of the list: start a page earlier so the window is not a stub.
                first -= 1
                rows = fetch(query, self._starts[first], 2 * size + 1)
            has_more = len(rows) > 2 * size
            rows = rows[: 2 * size]
            if len(rows) > size:
                self._starts[first + 1] = rows[size - 1].key
            if len(rows) == 2 * size:
                self._starts[first + 2] = rows[-1].key
            window = Window(query, first * size, tuple(rows), has_more)
            if not rows:
                return window, 0
            return window, min(max(target, window.start), window.end - 1)

    def _reach(self, fetch: Fetch, query: TicketQuery, page: int) -> int:
        """Learn the start of ``page`` by walking from the last known one; the last page if the list is shorter."""
        known = max(p for p in self._starts if p <= page)
        while known < page:
            rows = fetch(query, self._starts[known], self.page_size)
            if len(rows) < self.page_size:
                return known
            known += 1
            self._starts[known] = rows[-1].key
        return page
