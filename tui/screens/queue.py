"""The queue: views with counts, live search, filters, a paged table, and bulk marks."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Tabs
from textual.worker import get_current_worker

from local_db.api import TicketQuery, TicketRow, View, search_problem
from local_db.replica import Replica
from tui.core.bulk import marked_in
from tui.core.marks import Marks
from tui.core.pager import Pager
from tui.messages import CountsLoaded, MarkedInView, TotalCounted, WindowLoaded
from tui.screens.dialogs.filter import FilterDialog
from tui.widgets.key_bar import KeyBar
from tui.widgets.queue.search_box import SearchBox
from tui.widgets.queue.status_line import StatusLine
from tui.widgets.queue.ticket_table import TicketTable
from tui.widgets.queue.view_tabs import VIEW_ORDER, ViewTabs
from tui.widgets.sync_bar import SyncBar

T = TypeVar("T")


class Superseded(Exception):
    """A newer query replaced this one while it waited for the database thread."""


#: Actions that act on the marked set when there is one (their key label shows the count).
BULK_ACTIONS = {"accept", "note", "resolve", "request_return", "request_extension"}


class QueueScreen(Screen):
    BINDINGS = [
        Binding("enter", "open", "action.open", id="open", show=False),
        Binding("space", "mark", "action.mark", id="mark"),
        Binding("v", "mark_range", "action.mark_range", id="mark_range"),
        Binding("asterisk", "mark_all", "action.mark_all", id="mark_all", show=False),
        Binding("i", "invert", "action.invert", id="invert", show=False),
        Binding("escape", "clear", "action.clear", id="clear", show=False),
        Binding("s", "act('accept')", "action.accept", id="accept"),
        Binding("c", "act('resolve')", "action.resolve", id="resolve"),
        Binding("n", "act('note')", "action.note", id="note"),
        Binding("t", "act('request_return')", "action.return", id="request_return", show=False),
        Binding("e", "act('request_extension')", "action.extend", id="request_extension", show=False),
        Binding("u", "undo", "action.undo", id="undo"),
        Binding("slash", "search", "action.search", id="search"),
        Binding("f", "filter", "action.filter", id="filter"),
        Binding("tab", "next_view", "action.next_view", id="next_view", show=False),
        Binding("shift+tab", "prev_view", "action.prev_view", id="prev_view", show=False),
        *[
            Binding(str(i + 1), f"view('{v.value}')", f"view.{v.value}", id=f"view_{v.value}", show=False)
            for i, v in enumerate(VIEW_ORDER)
        ],
    ]

    marked_count: reactive[int] = reactive(0)

    def __init__(self) -> None:
        super().__init__(id="queue")
        self.q = TicketQuery(view=View.ASSIGNED)
        self.marks = Marks()
        self.pager = Pager()
        self.total = 0
        self.counts: dict[View, int] = {}
        self._generation = 0
        self._anchor: int | None = None  # list position of the last row marked with space
        self._search_timer: Timer | None = None
        self._warmed = False  # the replica's search text is loaded after the first screen
        self._search_at = float("-inf")  # when the last search query was started (monotonic)
        #: How many marked tickets the current view shows (what an action acts on), or None
        #: while a worker counts them.
        self.marked_here: int | None = 0

    @property
    def t(self):
        return self.app.t  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield ViewTabs(self.t, self.q.view, id="views")
        search = SearchBox(placeholder=self.t("queue.search_placeholder"), id="search")
        yield search
        yield TicketTable(self.t, id="tickets")
        yield StatusLine(id="status-line")
        yield KeyBar(id="keys")
        yield SyncBar(id="sync-bar")

    def on_mount(self) -> None:
        self.query_one(TicketTable).focus()
        self.reload()

    # -- loading ------------------------------------------------------------------------------
    def reload(self, *, target: int | None = None, forget: bool = False) -> None:
        """Reload the window around the cursor (or ``target``) and the view counts."""
        self._counted = None  # the data changed: count again
        if forget:
            self.pager.forget()
        table = self.query_one(TicketTable)
        self._generation += 1
        self._load_window(self.q, table.position if target is None else target, False, self._generation)
        self._load_counts()

    @work(thread=True, exclusive=True, group="queue-window")
    def _load_window(self, q: TicketQuery, target: int, upward: bool, generation: int) -> None:
        # exclusive: a newer window request cancels this worker; a cancelled worker then skips
        # the queries it has not started, so fast typing never queues one search per keystroke.
        worker = get_current_worker()

        def unless_superseded(fn: Callable[[Replica], T]) -> T:
            def run(replica: Replica) -> T:
                if worker.is_cancelled:
                    raise Superseded
                return fn(replica)

            return self.app.gateway.call(run)  # type: ignore[attr-defined]

        def fetch(query: TicketQuery, after: tuple | None, limit: int) -> list[TicketRow]:
            return unless_superseded(lambda r: r.query(query, after=after, limit=limit))

        try:
            window, cursor = self.pager.window(fetch, q, target, upward=upward)
            if worker.is_cancelled:
                return
            self.post_message(WindowLoaded(window, cursor, generation))
            if q != self._counted:  # rows first: a count can cost more than a page
                total = unless_superseded(lambda r: r.count(q))
                if not worker.is_cancelled:
                    self.post_message(TotalCounted(total, generation))
        except Superseded:
            return

    _counted: TicketQuery | None = None

    def on_total_counted(self, message: TotalCounted) -> None:
        if message.generation == self._generation:
            self.total = message.total
            self._counted = self.q
            self._update_status()

    @work(thread=True, exclusive=True, group="queue-counts")
    def _load_counts(self) -> None:
        counts = self.app.gateway.call(lambda r: r.counts_by_view())  # type: ignore[attr-defined]
        if not get_current_worker().is_cancelled:
            self.post_message(CountsLoaded(counts))

    def on_window_loaded(self, message: WindowLoaded) -> None:
        if message.generation != self._generation:
            return  # an older query's answer arriving late
        table = self.query_one(TicketTable)
        table.show_window(message.window, message.cursor, self._is_marked)
        self._update_status()
        if not self._warmed:
            self._warmed = True
            self.app.warm_search()  # type: ignore[attr-defined]

    def on_counts_loaded(self, message: CountsLoaded) -> None:
        self.counts = message.counts
        self.query_one(ViewTabs).set_counts(message.counts)

    @on(TicketTable.NeedWindow)
    def _need_window(self, message: TicketTable.NeedWindow) -> None:
        self._generation += 1
        self._load_window(self.q, message.target, message.upward, self._generation)

    @on(TicketTable.CursorMoved)
    def _moved(self) -> None:
        self._update_status()

    def _update_status(self) -> None:
        table = self.query_one(TicketTable)
        self.query_one(StatusLine).show(
            self.t,
            pos=table.position + 1 if self.total else 0,
            total=self.total,
            query=self.q,
            marked=self.marked_here if self.marked_here is not None else self.marks.count,
            by_filter=self.marks.by_filter,
            outside=self.marks.count - self.marked_here if self.marked_here is not None else 0,
        )

    # -- marks --------------------------------------------------------------------------------
    def _in_base(self, row: TicketRow) -> bool:
        # Rows on screen match the current query; whether they match the marks' filter is only
        # known for free when that filter is the current one. Otherwise ask the marks' cache.
        base = self.marks.base
        if base is None:
            return False
        if base == self.q:
            return True
        return row.id in self._base_ids

    _base_ids: frozenset[str] = frozenset()

    def _is_marked(self, row: TicketRow) -> bool:
        return self.marks.is_marked(row.id, in_base=self._in_base(row))

    def set_marks(self, marks: Marks) -> None:
        self.marks = marks
        if marks.base is not None and marks.base != self.q:
            self._cache_base_ids(marks)
        self.marked_count = marks.count
        self.query_one(TicketTable).refresh_marks(self._is_marked)
        self._count_marked_here()
        self._update_status()
        self.query_one(KeyBar).redraw()

    def _count_marked_here(self) -> None:
        """How many marks the current view shows: at once when that is known, else in a worker."""
        marks = self.marks
        window_ids = {r.id for r in self.query_one(TicketTable).window.rows}
        if marks.empty:
            self.marked_here = 0
        elif marks.base == self.q:  # include ∩ matching(base) = ∅: only the filter's marks
            self.marked_here = marks.base_count - len(marks.exclude)
        elif marks.base is None and marks.include <= window_ids:  # all on the loaded rows
            self.marked_here = len(marks.include)
        else:
            self.marked_here = None
            self._count_marked_worker(marks, self.q)

    @work(thread=True, exclusive=True, group="marks-here")
    def _count_marked_worker(self, marks: Marks, q: TicketQuery) -> None:
        gateway = self.app.gateway  # type: ignore[attr-defined]
        here = gateway.call(lambda r: list(r.ids_matching(q)))

        def base_ids() -> frozenset[str]:
            assert marks.base is not None
            return frozenset(gateway.call(lambda r: list(r.ids_matching(marks.base))))

        n = sum(1 for _ in marked_in(marks, here, base_ids, base_is_view=False))
        if not get_current_worker().is_cancelled:
            self.post_message(MarkedInView(marks, q, n))

    def on_marked_in_view(self, message: MarkedInView) -> None:
        if message.marks == self.marks and message.query == self.q:
            self.marked_here = message.count
            self._update_status()
            self.query_one(KeyBar).redraw()

    @work(thread=True, exclusive=True, group="marks-cache")
    def _cache_base_ids(self, marks: Marks) -> None:
        """Which ids the marks' filter matches, for showing marks under another filter."""
        assert marks.base is not None
        ids = frozenset(self.app.gateway.call(lambda r: list(r.ids_matching(marks.base))))  # type: ignore[attr-defined]
        self.app.call_from_thread(self._base_ids_ready, marks, ids)

    def _base_ids_ready(self, marks: Marks, ids: frozenset[str]) -> None:
        if self.marks.base == marks.base:
            self._base_ids = ids
            self.query_one(TicketTable).refresh_marks(self._is_marked)

    def action_mark(self) -> None:
        table = self.query_one(TicketTable)
        row = table.current
        if row is None:
            return
        self._anchor = table.position
        self.set_marks(self.marks.toggle(row.id, in_base=self._in_base(row)))
        table.action_cursor_down()

    def action_mark_range(self) -> None:
        """Mark every row from the last one marked with space to the cursor."""
        table = self.query_one(TicketTable)
        if table.current is None:
            return
        anchor = self._anchor if self._anchor is not None else table.position
        rows = table.rows_between(anchor, table.position)
        by_id = {r.id: r for r in rows}
        self.set_marks(self.marks.mark(by_id, in_base=lambda i: self._in_base(by_id[i])))
        self._anchor = table.position

    def _current_total(self) -> int | None:
        """The row count of the current query, or None while it is still being counted."""
        return self.total if self._counted == self.q else None

    def action_mark_all(self) -> None:
        """Mark what the current view/search/filter matches (stored as the filter, with its count)."""
        total = self._current_total()
        if total is not None:
            self.set_marks(Marks.all_matching(self.q, total))
        else:  # right after a filter change the count may not be in yet: never use the old one
            self._mark_all_counted(self.q)

    @work(thread=True, exclusive=True, group="marks")
    def _mark_all_counted(self, q: TicketQuery) -> None:
        total = self.app.gateway.call(lambda r: r.count(q))  # type: ignore[attr-defined]
        self.app.call_from_thread(self.set_marks, Marks.all_matching(q, total))

    def action_invert(self) -> None:
        self._invert(self.q, self._current_total(), self.marks)

    @work(thread=True, exclusive=True, group="marks")
    def _invert(self, q: TicketQuery, total: int | None, marks: Marks) -> None:
        gateway = self.app.gateway  # type: ignore[attr-defined]

        def matching(query: TicketQuery):
            return iter(gateway.call(lambda r: list(r.ids_matching(query))))

        if total is None:
            total = gateway.call(lambda r: r.count(q))
        inverted = marks.invert(q, total, matching)
        self.app.call_from_thread(self.set_marks, inverted)

    def action_clear(self) -> None:
        if not self.marks.empty:
            self._anchor = None
            self.set_marks(Marks())
        elif self.q.search or self.q.category or self.q.channel or self.q.complexity or self.q.village:
            self._stop_search_timer()
            self.query_one(SearchBox).value = ""
            self._set_query(
                replace(self.q, search="", category=None, channel=None, complexity=None, village=None)
            )

    def key_label(self, binding: Binding) -> str:
        """A bulk key shows how many tickets it would act on: the marked ones of this view."""
        label = self.t(binding.description)
        if binding.id in BULK_ACTIONS and not self.marks.empty:
            n = "…" if self.marked_here is None else self.marked_here
            return self.t("action.with_count", label=label, n=n)
        return label

    def after_bulk(self, failed_ids: list[str], kept: frozenset[str] = frozenset()) -> None:
        """After a bulk action: what could not be done stays marked, and so do the marks
        outside the view it acted on; what was done is unmarked."""
        self.set_marks(Marks(include=frozenset(failed_ids) | kept))

    # -- actions ------------------------------------------------------------------------------
    def action_act(self, kind: str) -> None:
        table = self.query_one(TicketTable)
        if not self.marks.empty:
            self.app.act(kind, marks=self.marks, view=self.q)  # type: ignore[attr-defined]
        elif table.current is not None:
            self.app.act(kind, ids=[table.current.id])  # type: ignore[attr-defined]
        else:
            self.notify(self.t("notify.nothing_selected"), severity="warning")

    def action_undo(self) -> None:
        self.app.undo_last()  # type: ignore[attr-defined]

    def action_open(self) -> None:
        row = self.query_one(TicketTable).current
        if row is not None:
            self.app.open_detail(row.id)  # type: ignore[attr-defined]

    @on(TicketTable.Clicked)
    def _clicked(self) -> None:
        self.action_open()

    # -- search, filter, views ----------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one(SearchBox).focus()

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        """Search as you type: at once after a pause, else once typing pauses (``search_delay``)."""
        self._stop_search_timer()
        delay: float = self.app.search_delay  # type: ignore[attr-defined]
        if delay <= 0 or time.monotonic() - self._search_at >= delay:
            self._run_search()
        else:
            self._search_timer = self.set_timer(delay, self._run_search)

    def _run_search(self) -> None:
        self._search_timer = None
        self._search_at = time.monotonic()
        text = self.query_one(SearchBox).value.strip()
        if (problem := search_problem(text)) is not None:  # the replica would refuse it
            self.notify(problem, severity="warning")
            return
        self._set_query(replace(self.q, search=text))

    def _stop_search_timer(self) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
            self._search_timer = None

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        if self._search_timer is not None:
            self._run_search()  # Enter: search what is typed now
        self.query_one(TicketTable).focus()

    def action_filter(self) -> None:
        def apply(q: TicketQuery | None) -> None:
            if q is not None:
                self._set_query(q)

        self.app.push_screen(FilterDialog(self.q), apply)

    def _set_query(self, q: TicketQuery) -> None:
        if q == self.q:
            return
        self.q = q
        if self.marks.base is not None and self.marks.base != q:
            self._cache_base_ids(self.marks)
        self.reload(target=0)
        self._count_marked_here()
        self._update_status()
        self.query_one(KeyBar).redraw()

    def action_view(self, view: str) -> None:
        self.query_one(ViewTabs).active = f"view-{view}"

    @on(Tabs.TabActivated, "#views")
    def _tab(self, event: Tabs.TabActivated) -> None:
        view = ViewTabs.view_of(event.tab.id)
        if view is not None and view != self.q.view:
            self._set_query(replace(self.q, view=view))

    def _step_view(self, step: int) -> None:
        index = VIEW_ORDER.index(self.q.view)
        self.action_view(VIEW_ORDER[(index + step) % len(VIEW_ORDER)].value)

    def action_next_view(self) -> None:
        self._step_view(1)

    def action_prev_view(self) -> None:
        self._step_view(-1)
