"""The queue's table: a window of at most two pages of rows, drawn line by line.

The table never holds the whole list. When the cursor would leave the window it posts
:class:`TicketTable.NeedWindow` and the queue screen loads the right window in a worker; the
table only renders what it is given.

It is a Line API widget, not a DataTable: a page-down that brings a new window must cost
about as much as the keyset query behind it (~1 ms), and a DataTable measuring and rendering
hundreds of fresh Rich cells cost ~200–300 ms. Here a row is one :class:`Strip` built from
plain strings cut to fixed column widths (terminal cells, so Chinese characters count two),
built only when the row is on screen and cached until its row, mark, cursor or width changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from local_db.api import TicketRow
from schemas.enums import Status
from schemas.terminal import safe
from tui.core.pager import Window
from tui.i18n import CATEGORY_EN, Translator

#: (column key, i18n key, width in terminal cells). Fixed widths: a page change never makes the
#: columns jump, and a Chinese title is cut at a character boundary with "…". The title takes
#: whatever width is left over (at least its width here).
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
#: Blank cells left and right of every column.
PAD = 1
MARK = ("●", "bold cyan")

#: A cell is a few (text, style) spans: most cells have one, the flags several.
Spans = tuple[tuple[str, str], ...]


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


def flag_spans(row: TicketRow, t: Translator) -> Spans:
    spans: list[tuple[str, str]] = []
    if row.urged:
        spans.append((t("flag.urged"), "bold yellow"))
        if row.urged > 1:
            spans.append((str(row.urged), "yellow"))
    if row.supervised:
        spans.append((t("flag.supervised"), "bold dark_orange"))
    if row.listed:
        spans.append((t("flag.listed"), "bold red"))
    if row.escalated:
        spans.append((t("flag.escalated"), "bold magenta"))
    return tuple(spans)


def badge_spans(badge: str, t: Translator) -> Spans:
    if badge == "pending":
        return ((t("badge.pending"), "yellow"),)
    if badge == "conflict":
        return ((t("badge.conflict"), "bold magenta"),)
    return (("✓", "dim green"),)


def badge_text(badge: str, t: Translator) -> Text:
    return Text.assemble(*badge_spans(badge, t), no_wrap=True, overflow="ellipsis")


def row_spans(row: TicketRow, marked: bool, t: Translator) -> list[Spans]:
    """The row's cells, in COLUMNS order. Strips go to the terminal as they are (no Rich Text
    in between), so the replica's texts are escaped here."""
    return [
        (MARK,) if marked else (),
        ((row.id, "bold" if row.badge != "synced" else ""),),
        ((safe(row.title), ""),),
        ((t.category(row.category), ""),),
        ((safe(row.village), ""),) if row.village else (("—", "dim"),),
        ((t.status(row.status), ""),),
        ((row.due.strftime("%m-%d") if row.due else "—", ""),),
        ((t.days_left(row.days_left), urgency_style(row.days_left)),),
        flag_spans(row, t),
        badge_spans(row.badge, t),
    ]


def column_widths(t: Translator) -> list[int]:
    """COLUMNS' widths, widened (up to 12 cells) where this language's category or status names need it."""
    widths = [width for _, _, width in COLUMNS]
    names = {
        "category": [t.category(c) for c in CATEGORY_EN],
        "status": [t.status(s) for s in Status],
    }
    for i, (key, _, width) in enumerate(COLUMNS):
        if key in names:
            widths[i] = min(12, max(width, *(cell_len(n) for n in names[key])))
    return widths


_STYLES: dict[str, Style] = {}
_COLUMN_META = [Style(meta={"column": key}) for key, _, _ in COLUMNS]


def _style(name: str) -> Style:
    style = _STYLES.get(name)
    if style is None:
        style = _STYLES[name] = Style.parse(name) if name else Style()
    return style


def fit(spans: Spans, width: int) -> list[tuple[str, str]]:
    """The spans cut to ``width`` cells (with "…" when something was cut), padded to exactly ``width``."""
    total = sum(cell_len(text) for text, _ in spans)
    if total <= width:
        out = list(spans)
        if total < width:
            out.append((" " * (width - total), ""))
        return out
    out: list[tuple[str, str]] = []
    room = width - 1  # keep one cell for the ellipsis
    used = 0
    for text, style in spans:
        kept = []
        for ch in text:
            w = cell_len(ch)
            if used + w > room:
                break
            kept.append(ch)
            used += w
        else:
            out.append((text, style))
            continue
        out.append(("".join(kept) + "…", style))
        used += 1
        break
    if used < width:  # a wide character did not fit in the last cell
        out.append((" " * (width - used), ""))
    return out


class TicketTable(Widget, can_focus=True):
    """The queue's rows: a window from the pager, a cursor in it, the visible slice drawn."""

    COMPONENT_CLASSES = {
        "ticket-table--header",
        "ticket-table--even-row",
        "ticket-table--odd-row",
        "ticket-table--cursor",
    }
    DEFAULT_CSS = """
    TicketTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .ticket-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .ticket-table--odd-row { }
        & > .ticket-table--even-row { background: $surface-lighten-1 50%; }
        & > .ticket-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:dark > .ticket-table--even-row { background: $surface-darken-1 40%; }
        &:focus {
            background-tint: $foreground 5%;
            & > .ticket-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
    }
    """

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

    @dataclass
    class CursorMoved(Message):
        """The cursor is on another row (or on a row of a new window)."""

        table: TicketTable

    @dataclass
    class Clicked(Message):
        """The row under the cursor was clicked again: open it."""

        table: TicketTable

    #: Index in the window's rows of the row under the cursor.
    cursor_row: reactive[int] = reactive(0, layout=False, repaint=False)

    def __init__(self, t: Translator, **kwargs) -> None:
        super().__init__(**kwargs)
        self.t = t
        self.window: Window | None = None
        self._requested: int | None = None
        self._top = 0  # index in the window's rows of the first row on screen
        self._marked: Callable[[TicketRow], bool] = lambda _row: False
        self._spans: dict[int, list[Spans]] = {}  # window index -> cells
        self._strips: dict[tuple[int, bool, int], Strip] = {}  # (index, cursor, width) -> line
        self._header: Strip | None = None
        self._base: Style | None = None
        self._base_widths = column_widths(t)

    # -- what the screen calls ---------------------------------------------------------------
    def show_window(self, window: Window, cursor: int, is_marked: Callable[[TicketRow], bool]) -> None:
        """Show ``window`` with the cursor on list position ``cursor``, on the same screen line if it can."""
        on_screen = self.cursor_row - self._top
        self.window = window
        self._requested = None
        self._marked = is_marked
        self._forget_rows()
        index = min(max(cursor - window.start, 0), max(0, len(window.rows) - 1))
        self._top = index - on_screen
        self._move(index)

    def refresh_marks(self, is_marked: Callable[[TicketRow], bool]) -> None:
        self._marked = is_marked
        self._forget_rows()
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.window.rows) if self.window else 0

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

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on window index ``row`` (clamped), scrolling as little as needed."""
        self._move(row)

    # -- the cursor ---------------------------------------------------------------------------
    @property
    def page_height(self) -> int:
        """Rows on screen (the header takes one line)."""
        return max(1, self.size.height - 1)

    def _move(self, index: int) -> None:
        count = self.row_count
        index = min(max(index, 0), max(0, count - 1))
        page = self.page_height
        top = min(self._top, index)
        if index >= top + page:
            top = index - page + 1
        self._top = max(0, min(top, max(0, count - page)))
        self.cursor_row = index
        self.refresh()
        self.post_message(self.CursorMoved(self))

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
            self._move(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        w = self.window
        if w is not None and self.cursor_row == 0 and w.start > 0:
            self._ask(self.position - 1, upward=True)
        else:
            self._move(self.cursor_row - 1)

    def action_page_down(self) -> None:
        w = self.window
        page = self.page_height
        target = self.position + page
        if w is not None and target >= w.end and w.has_more:
            self._ask(target, upward=False)
        else:
            self._top += page
            self._move(self.cursor_row + page)

    def action_page_up(self) -> None:
        w = self.window
        page = self.page_height
        target = self.position - page
        if w is not None and target < w.start and w.start > 0:
            self._ask(max(0, target), upward=True)
        else:
            self._top = max(0, self._top - page)
            self._move(self.cursor_row - page)

    def action_first(self) -> None:
        if self.window is not None and self.window.start > 0:
            self._ask(0, upward=True)
        else:
            self._move(0)

    # -- mouse --------------------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        index = self._top + event.y - 1
        if event.y < 1 or not 0 <= index < self.row_count:
            return
        if index == self.cursor_row:
            self.post_message(self.Clicked(self))
        else:
            self._move(index)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.action_cursor_down()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.action_cursor_up()

    # -- drawing ------------------------------------------------------------------------------
    def watch_cursor_row(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._forget_rows()
        self._header = None
        self._move(self.cursor_row)

    def notify_style_update(self) -> None:
        super().notify_style_update()  # focus, theme: the component styles changed
        self._strips = {}
        self._header = None
        self._base = None

    def _forget_rows(self) -> None:
        self._spans = {}
        self._strips = {}

    def _widths(self) -> list[int]:
        widths = list(self._base_widths)
        spare = self.size.width - sum(w + 2 * PAD for w in widths)
        if spare > 0:
            widths[2] += spare  # the title takes what is left
        return widths

    def _line(self, cells: list[Spans], base: Style, over: Style | None, widths: list[int]) -> Strip:
        segments: list[Segment] = []
        line_style = base + over if over is not None else base
        pad = Segment(" " * PAD, line_style)
        for column, (spans, width) in enumerate(zip(cells, widths, strict=True)):
            # The column in each cell's style keeps cells apart as segments: a terminal does
            # not care, but an SVG snapshot then places every cell at its own x (CJK glyphs
            # of a fallback font are not exactly two cells wide).
            meta = _COLUMN_META[column]
            segments.append(pad)
            for text, name in fit(spans, width):
                style = base + _style(name) if name else base
                if over is not None:
                    style += over
                segments.append(Segment(text, style + meta))
            segments.append(pad)
        return Strip(segments).adjust_cell_length(self.size.width, line_style)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._base
        if base is None:
            base = self._base = self.rich_style
        if y == 0:
            if self._header is None:
                header = self.get_component_rich_style("ticket-table--header")
                cells: list[Spans] = [((self.t(label), ""),) for _, label, _ in COLUMNS]
                self._header = self._line(cells, base + header, None, self._widths())
            return self._header
        index = self._top + y - 1
        if self.window is None or not 0 <= index < len(self.window.rows):
            return Strip.blank(width, base)
        cursor = index == self.cursor_row
        key = (index, cursor, width)
        strip = self._strips.get(key)
        if strip is None:
            cells = self._spans.get(index)
            if cells is None:
                row = self.window.rows[index]
                cells = self._spans[index] = row_spans(row, self._marked(row), self.t)
            odd = (self.window.start + index) % 2
            zebra = "ticket-table--even-row" if odd else "ticket-table--odd-row"
            row_style = base + self.get_component_rich_style(zebra)
            over = self.get_component_rich_style("ticket-table--cursor") if cursor else None
            strip = self._strips[key] = self._line(cells, row_style, over, self._widths())
        return strip
