"""The live search line: every keystroke re-queries (in a worker, latest wins)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input


class SearchBox(Input):
    BINDINGS = [
        Binding("escape", "leave", show=False),
        Binding("down", "leave", show=False),
    ]

    def action_leave(self) -> None:
        """Back to the table, keeping the search (Esc again there clears it)."""
        self.screen.focus_next("TicketTable")
