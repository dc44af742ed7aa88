"""One line of text: a note, or the reason for a return."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPrompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel", show=False, id="dialog_cancel")]

    def __init__(self, title: str, placeholder: str, *, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)
            yield Input(placeholder=self.placeholder, id="text")
            yield Static("", id="error", classes="dialog-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self.query_one("#error", Static).update(self.app.t("dialog.required"))  # type: ignore[attr-defined]
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
