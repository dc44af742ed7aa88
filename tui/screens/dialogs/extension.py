"""An extension request: how many working days, and why."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ExtensionDialog(ModalScreen[tuple[int, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel", show=False, id="dialog_cancel")]

    def __init__(self, hint: str = "") -> None:
        super().__init__()
        self.hint = hint

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide"):
            yield Static(t("dialog.extend_title"), classes="dialog-title")
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            yield Input(placeholder=t("dialog.days_placeholder"), id="days", type="integer")
            yield Input(placeholder=t("dialog.reason_placeholder"), id="reason")
            yield Static("", id="error", classes="dialog-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#days", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        if event.input.id == "days":
            self.query_one("#reason", Input).focus()
            return
        error = self.query_one("#error", Static)
        try:
            days = int(self.query_one("#days", Input).value)
        except ValueError:
            days = 0
        if not 1 <= days <= 30:
            error.update(t("dialog.bad_days"))
            self.query_one("#days", Input).focus()
            return
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            error.update(t("dialog.required"))
            return
        self.dismiss((days, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
