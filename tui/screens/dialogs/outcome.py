"""Per-ticket outcomes of a bulk action or of a sync: what was done, what was not, and why."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from schemas.terminal import safe


@dataclass(frozen=True, slots=True)
class OutcomeLine:
    ticket_id: str
    ok: bool
    what: str  # the action, as a person says it
    result: str  # "saved, waiting to send" / "applied" / "refused: reassigned" ...


class OutcomeDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "close", show=False, id="dialog_close")]

    def __init__(self, title: str, lines: list[OutcomeLine]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide tall"):
            yield Static(safe(self.title_text), classes="dialog-title", markup=False)
            table = DataTable(cursor_type="row", zebra_stripes=True, id="outcomes")
            yield table
            yield Static(t("outcome.close_hint"), classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one("#outcomes", DataTable)
        table.add_column("", width=2)
        table.add_column(self.app.t("col.id"), width=16)  # type: ignore[attr-defined]
        table.add_column("", width=10)
        table.add_column("", width=44)
        # Failures first: they are what the liaison must look at.
        for line in sorted(self.lines, key=lambda x: (x.ok, x.ticket_id)):
            mark = Text("✓", style="green") if line.ok else Text("✗", style="bold red")
            # The result may be the server's own message: escaped, like every text it sends.
            result = Text(safe(line.result), style="" if line.ok else "red")
            table.add_row(mark, safe(line.ticket_id), safe(line.what), result)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
