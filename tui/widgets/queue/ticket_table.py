"""The queue's table: a window of at most two pages of rows, refilled as the cursor moves.

The table never holds the whole list. When the cursor would leave the window it posts
:class:`TicketTable.NeedWindow` and the queue screen loads the right window in a worker; the
table only renders what it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from local_db.api import TicketRow
from tui.core.pager import Window
from tui.i18n import Translator

#: (column key, i18n key, width in terminal cells). Fixed widths: a page change never makes
#: the columns jump, and a Chinese title is cut at a character boundary with "…".
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("mark", "col.mark", 2),
    ("id", "col.id", 15),
    ("title", "col.title", 34),
    ("category", "col.category", 8),
    ("village", "col.village", 10),
    ("status", "col.status", 8),
    ("due", "col.due", 5),
    ("left", "col.left", 10),
    ("flags", "col.flags", 8),
    ("sync", "col.sync", 6),
)

MARK = Text("●", style="bold cyan")
NO_MARK = Text(" ")


def urgency_style(days_left: int | None) -> str:
    """Overdue red, due today orange, tomorrow yellow, later green; closed tickets dim."""
    if days_left is None:
        return "dim"
    if days_left < 0:
        return "bold red"
    if days_left == 0:
        return "bold dark_orange"
    if days_left == 1:
        return "yellow"
    if days_left <= 3:
        return ""
    return "green"


def flags_text(row: TicketRow, t: Translator) -> Text:
    text = Text(no_wrap=True)
    if row.urged:
        text.append(t("flag.urged"), style="bold yellow")
        if row.urged > 1:
            text.append(str(row.urged), style="yellow")
    if row.supervised:
        text.append(t("flag.supervised"), style="bold dark_orange")
    if row.listed:
        text.append(t("flag.listed"), style="bold red")
    if row.escalated:
        text.append(t("flag.escalated"), style="bold magenta")
    return text


def badge_text(badge: str, t: Translator) -> Text:
    if badge == "pending":
        return Text(t("badge.pending"), style="yellow", no_wrap=True, overflow="ellipsis")
    if badge == "conflict":
        return Text(t("badge.conflict"), style="bold magenta", no_wrap=True)
    return Text("✓", style="dim green")


def row_cells(row: TicketRow, marked: bool, t: Translator) -> list[Text]:
    def cell(value: str, style: str = "") -> Text:
        return Text(value, style=style, no_wrap=True, overflow="ellipsis")

    return [
        MARK if marked else NO_MARK,
        cell(row.id, "bold" if row.badge != "synced" else ""),
        cell(row.title),
        cell(t.category(row.category)),
        cell(row.village or "—", "dim" if not row.village else ""),
        cell(t.status(row.status)),
        cell(row.due.strftime("%m-%d") if row.due else "—"),
        cell(t.days_left(row.days_left), urgency_style(row.days_left)),
        flags_text(row, t),
        badge_text(row.badge, t),
    ]


class TicketTable(DataTable):
    BINDINGS = [
        Binding("down", "cursor_down", show=False),
        Binding("up", "cursor_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("ctrl+home,home", "first", show=False),
    ]

    @dataclass
    class NeedWindow(Message):
        """Show the window holding list position ``target``."""

        table: TicketTable
        target: int
        upward: bool

    def __init__(self, t: Translator, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.t = t
        self.window: Window | None = None
        self._requested: int | None = None

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(Text(self.t(label), style="bold", no_wrap=True), width=width, key=key)

    # -- what the screen calls ---------------------------------------------------------------
    def show_window(self, window: Window, cursor: int, is_marked: Callable[[TicketRow], bool]) -> None:
        self.window = window
        self._requested = None
        self.clear()
        for row in window.rows:
            self.add_row(*row_cells(row, is_marked(row), self.t), key=row.id)
        if window.rows:
            self.move_cursor(row=cursor - window.start, animate=False)

    def refresh_marks(self, is_marked: Callable[[TicketRow], bool]) -> None:
        if self.window is None:
            return
        for row in self.window.rows:
            self.update_cell(row.id, "mark", MARK if is_marked(row) else NO_MARK)

    @property
    def position(self) -> int:
        """The cursor's position in the whole list."""
        start = self.window.start if self.window else 0
        return start + self.cursor_row

    @property
    def current(self) -> TicketRow | None:
        if self.window is None or not self.window.rows:
            return None
        index = self.cursor_row
        return self.window.rows[index] if 0 <= index < len(self.window.rows) else None

    def rows_between(self, a: int, b: int) -> list[TicketRow]:
        """Rows at list positions ``a..b`` (inclusive, either order) that are in the window."""
        if self.window is None:
            return []
        low, high = sorted((a, b))
        low, high = max(low, self.window.start), min(high, self.window.end - 1)
        return list(self.window.rows[low - self.window.start : high - self.window.start + 1])

    # -- moving past the window's edges asks for another window ---------------------------------
    def _ask(self, target: int, upward: bool) -> None:
        if self._requested == target:
            return
        self._requested = target
        self.post_message(self.NeedWindow(self, target, upward))

    def action_cursor_down(self) -> None:
        w = self.window
        if w is not None and self.cursor_row >= len(w.rows) - 1 and w.has_more:
            self._ask(self.position + 1, upward=False)
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        w = self.window
        if w is not None and self.cursor_row == 0 and w.start > 0:
            self._ask(self.position - 1, upward=True)
        else:
            super().action_cursor_up()

    def _page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - (self.header_height if self.show_header else 0))

    def action_page_down(self) -> None:
        w = self.window
        target = self.position + self._page_height()
        if w is not None and target >= w.end and w.has_more:
            self._ask(target, upward=False)
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        w = self.window
        target = self.position - self._page_height()
        if w is not None and target < w.start and w.start > 0:
            self._ask(max(0, target), upward=True)
        else:
            super().action_page_up()

    def action_first(self) -> None:
        if self.window is not None and self.window.start > 0:
            self._ask(0, upward=True)
        else:
            self.move_cursor(row=0)
