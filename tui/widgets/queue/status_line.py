"""The line under the table: where the cursor is in the list, the filter, the marked count."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from local_db.api import TicketQuery
from tui.i18n import Translator


def filter_summary(t: Translator, q: TicketQuery) -> str:
    searching = t("queue.searching", text=q.search) + "   " if q.search else ""
    parts = []
    if q.category:
        parts.append(f"{t('filter.category')}={t.category(q.category)}")
    if q.channel:
        parts.append(f"{t('filter.channel')}={t.channel(q.channel)}")
    if q.complexity:
        parts.append(f"{t('filter.complexity')}={t.complexity(q.complexity)}")
    if q.village:
        parts.append(f"{t('filter.village')}={q.village}")
    return searching + (t("queue.filters", text=", ".join(parts)) if parts else t("queue.no_filters"))


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; color: $text-muted; }
    """

    def show(
        self,
        t: Translator,
        *,
        pos: int,
        total: int,
        query: TicketQuery,
        marked: int,
        by_filter: bool,
        outside: int = 0,
    ) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if total:
            text.append(t("queue.position", pos=pos, total=total))
        else:
            text.append(t("queue.empty"), style="italic")
        text.append("   ")
        text.append(filter_summary(t, query))
        if marked or outside:
            text.append("   ")
            key = "queue.marked_filter" if by_filter else "queue.marked"
            text.append(t(key, n=marked), style="bold cyan")
        if outside:
            text.append(t("queue.marked_outside", n=outside), style="yellow")
        text.append("   ")
        text.append(t("flag.legend"), style="dim")
        self.update(text, layout=False)  # one line, fixed height: no relayout per keypress
