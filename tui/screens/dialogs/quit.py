"""Quitting with unsent actions: say how many, and what becomes of them.

A real replica keeps them (the next sync sends them); the demo's replica lives in a temporary
directory removed on exit, so there quitting would throw them away: it asks, offering to sync
first. Dismisses with "quit", "sync" (sync, then quit) or None (stay).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitDialog(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,n", "stay", "cancel", show=False, id="quit_stay"),
        Binding("y", "quit_now", "ok", show=False, id="quit_now"),
        Binding("r", "sync_first", "action.sync", show=False, id="quit_sync_first"),
    ]

    def __init__(self, message: str, *, can_sync: bool, discards: bool) -> None:
        super().__init__()
        self.message = message
        self.can_sync = can_sync
        self.discards = discards

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide"):
            yield Static(self.message, classes="dialog-title", markup=False)
            with Horizontal(classes="dialog-buttons"):
                if self.can_sync:
                    yield Button(t("quit.sync_first") + " (r)", variant="primary", id="sync")
                label = t("quit.discard") if self.discards else t("quit.quit")
                yield Button(label + " (y)", variant="error" if self.discards else "default", id="quit")
                yield Button(t("dialog.cancel") + " (Esc)", id="stay")

    def on_mount(self) -> None:
        self.query_one("#sync" if self.can_sync else "#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"sync": "sync", "quit": "quit"}.get(event.button.id or ""))

    def action_quit_now(self) -> None:
        self.dismiss("quit")

    def action_sync_first(self) -> None:
        if self.can_sync:
            self.dismiss("sync")

    def action_stay(self) -> None:
        self.dismiss(None)
