"""``?``: every key of every screen, with the id to rebind it by in config.toml ``[keys]``."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


def binding_rows(app, where: list[tuple[str, list]]) -> list[tuple[str, str, str, str]]:
    """(where, keys, id, description) for every binding with an id, as the keymap has it now."""
    keymap: dict[str, str] = getattr(app, "_keymap", {}) or {}
    rows = []
    for area, bindings in where:
        for b in bindings:
            binding = b if isinstance(b, Binding) else Binding(*b)
            if not binding.id:
                continue
            keys = keymap.get(binding.id, binding.key)
            shown = ", ".join(app.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))
            rows.append((area, shown, binding.id, app.t(binding.description)))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "action.back", id="help_close")]

    def __init__(self, sections: list[tuple[str, list]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide tall"):
            yield Static(t("help.title"), classes="dialog-title", markup=False)
            yield DataTable(cursor_type="row", zebra_stripes=True, id="keys-table")

    def on_mount(self) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        table = self.query_one(DataTable)
        table.add_column(t("help.where"), width=8)
        table.add_column(t("help.key"), width=14)
        table.add_column(t("help.id"), width=20)
        table.add_column(t("help.what"), width=24)
        for area, keys, binding_id, what in binding_rows(self.app, self.sections):
            table.add_row(t(f"where.{area}"), keys, binding_id, what)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
