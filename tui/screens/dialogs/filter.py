"""Filters by category, channel, complexity and village, on top of the view and the search."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from local_db.api import TicketQuery
from schemas.enums import CATEGORIES, Channel, Complexity


class FilterDialog(ModalScreen[TicketQuery | None]):
    BINDINGS = [
        Binding("escape", "cancel", "cancel", show=False, id="dialog_cancel"),
        Binding("ctrl+s", "apply", "apply", show=False, id="dialog_submit"),
    ]

    def __init__(self, query: TicketQuery) -> None:
        super().__init__()
        self.query_value = query

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        q = self.query_value
        with Vertical(classes="dialog wide"):
            yield Label(t("filter.title"), classes="dialog-title")
            yield Label(t("filter.category"))
            yield Select(
                [(t.category(c), c) for c in CATEGORIES],
                value=q.category or Select.NULL,
                prompt=t("filter.any"),
                id="category",
            )
            yield Label(t("filter.channel"))
            yield Select(
                [(t.channel(c.value), c.value) for c in Channel],
                value=q.channel or Select.NULL,
                prompt=t("filter.any"),
                id="channel",
            )
            yield Label(t("filter.complexity"))
            yield Select(
                [(t.complexity(c), c.value) for c in Complexity],
                value=q.complexity or Select.NULL,
                prompt=t("filter.any"),
                id="complexity",
            )
            yield Label(t("filter.village"))
            yield Input(q.village or "", placeholder=t("filter.any"), id="village")
            with Horizontal(classes="dialog-buttons"):
                yield Button(t("filter.apply") + " (ctrl+s)", variant="primary", id="apply")
                yield Button(t("filter.clear"), id="clear")
                yield Button(t("dialog.cancel") + " (Esc)", id="cancel")

    def _value(self, widget_id: str) -> str | None:
        value = self.query_one(f"#{widget_id}", Select).value
        return None if value is Select.NULL else str(value)

    def action_apply(self) -> None:
        village = self.query_one("#village", Input).value.strip() or None
        self.dismiss(
            replace(
                self.query_value,
                category=self._value("category"),
                channel=self._value("channel"),
                complexity=self._value("complexity"),
                village=village,
            )
        )

    def on_input_submitted(self) -> None:
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "clear":
            self.dismiss(
                replace(self.query_value, category=None, channel=None, complexity=None, village=None)
            )
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
