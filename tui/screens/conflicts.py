"""The conflict inbox: what the server refused, mine beside theirs; re-apply, keep as note, drop."""

from __future__ import annotations

import json

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from local_db.api import Conflict, LocalResult
from schemas.enums import Reason
from schemas.terminal import safe_text
from tui.core.units import UnitNames, unit_names
from tui.widgets.detail.ticket_view import when
from tui.widgets.key_bar import KeyBar
from tui.widgets.sync_bar import SyncBar


def action_text(conflict: Conflict) -> str:
    try:
        data = json.loads(conflict.action_json)
    except ValueError:
        return ""
    for key in ("reply", "text", "reason"):
        if data.get(key):
            extra = f"（{data['days']}）" if key == "reason" and data.get("days") else ""
            return safe_text(data[key]) + extra
    return ""


def render_sides(t, c: Conflict, units: UnitNames) -> Table:
    """Two columns: my refused action, and the ticket as the server has it."""
    grid = Table(expand=True, show_lines=False, box=None, padding=(0, 2))
    grid.add_column(t("conflicts.mine"), ratio=1, header_style="bold yellow")
    grid.add_column(t("conflicts.theirs"), ratio=1, header_style="bold green")
    base_status = base_unit = "—"
    try:
        base = json.loads(c.action_json).get("base") or {}
        base_status = t.status(base["status"]) if base.get("status") else "—"
        base_unit = units.label(t, base.get("unit_id"))
    except (ValueError, KeyError, AttributeError):
        pass
    mine = Text()
    mine.append(f"{t('conflicts.kind')}：", style="bold")
    mine.append(t(f"kind.{c.kind}") + "\n")
    mine.append(f"{t('conflicts.status')}：", style="bold")
    mine.append(f"{base_status}\n")
    mine.append(f"{t('conflicts.unit')}：", style="bold")
    mine.append(f"{base_unit}\n")
    mine.append(f"{t('conflicts.refused_at')}：", style="bold")
    mine.append(when(c.refused_at) + "\n")
    text = action_text(c)
    if text:
        mine.append(f"{t('conflicts.text')}：", style="bold")
        mine.append(text, style="yellow")
    theirs = Text()
    theirs.append(f"{t('conflicts.reason')}：", style="bold")
    theirs.append(t.reason(c.reason), style="bold red")
    detail = t.server_message(c.message)
    if detail:
        theirs.append(f"（{detail}）", style="dim")
    theirs.append("\n")
    st = c.server_ticket
    theirs.append(f"{t('conflicts.status')}：", style="bold")
    theirs.append((t.status(st.status) if st else t("conflicts.unknown")) + "\n")
    theirs.append(f"{t('conflicts.unit')}：", style="bold")
    theirs.append((units.label(t, st.unit_id) if st else t("conflicts.unknown")) + "\n")
    theirs.append(f"{t('conflicts.changed_by')}：", style="bold")
    theirs.append(t.actor(c.changed_by) + "\n")
    theirs.append(f"{t('conflicts.changed_at')}：", style="bold")
    theirs.append(when(c.changed_at) + "\n")
    if st is not None and st.reply:
        theirs.append(f"{t('detail.reply')}：", style="bold")
        theirs.append(safe_text(st.reply))
    grid.add_row(mine, theirs)
    return grid


class ConflictsScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "back", "action.back", id="back"),
        Binding("a", "handle('reapply')", "action.reapply", id="conflict_reapply"),
        Binding("n", "handle('note')", "action.keep_note", id="conflict_note"),
        Binding("d", "handle('drop')", "action.drop", id="conflict_drop"),
        Binding("enter", "open", "action.open", id="open", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="conflicts")
        self.items: list[Conflict] = []
        self.units = UnitNames()

    def compose(self) -> ComposeResult:
        yield Static("", id="conflicts-title", classes="screen-title")
        with Horizontal(id="conflicts-body"):
            yield DataTable(cursor_type="row", zebra_stripes=True, id="conflict-list")
            yield Static("", id="conflict-sides")
        yield KeyBar(id="keys")
        yield SyncBar(id="sync-bar")

    def on_mount(self) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        table = self.query_one("#conflict-list", DataTable)
        table.add_column(t("col.id"), width=12)
        table.add_column(t("conflicts.kind"), width=8)
        table.add_column(t("conflicts.reason"), width=12)
        table.focus()
        self.reload()

    def reload(self, **_: object) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="conflicts")
    def _load(self) -> None:
        items, units = self.app.gateway.call(lambda r: (r.conflicts(), unit_names(r)))  # type: ignore[attr-defined]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, items, units)

    def _show(self, items: list[Conflict], units: UnitNames) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        self.items = items
        self.units = units
        self.query_one("#conflicts-title", Static).update(t("conflicts.title", n=len(items)))
        table = self.query_one("#conflict-list", DataTable)
        row = table.cursor_row
        table.clear()
        for c in items:
            table.add_row(
                c.ticket_id, t(f"kind.{c.kind}"), Text(t.reason(c.reason), style="red"), key=c.action_id
            )
        if items:
            table.move_cursor(row=min(row, len(items) - 1))
        self._show_current()

    @on(DataTable.RowHighlighted, "#conflict-list")
    def _show_current(self) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        sides = self.query_one("#conflict-sides", Static)
        current = self.current
        if current is None:
            sides.update(Text(t("conflicts.empty"), style="dim italic"))
        else:
            sides.update(render_sides(t, current, self.units))

    @property
    def current(self) -> Conflict | None:
        table = self.query_one("#conflict-list", DataTable)
        if not self.items or not 0 <= table.cursor_row < len(self.items):
            return None
        return self.items[table.cursor_row]

    def action_handle(self, how: str) -> None:
        current = self.current
        if current is None:
            return
        if how in ("reapply", "note") and self._moved_away(current):
            # The replica keeps an out-of-scope ticket as it last had it, so its own rule would
            # queue this again; the server would only refuse it once more (a unit the ticket
            # left adds nothing to it, not even a note). The text stays in the inbox.
            t = self.app.t  # type: ignore[attr-defined]
            text = t("conflicts.not_done", why=t.reason(Reason.REASSIGNED)) + "\n" + t("conflicts.moved_hint")
            self.notify(text, severity="error", timeout=8)
            return
        self._resolve(current.action_id, how)

    def _moved_away(self, conflict: Conflict) -> bool:
        """The server said the ticket is now another unit's."""
        st = conflict.server_ticket
        return st is not None and self.units.own_id is not None and st.unit_id != self.units.own_id

    @work(thread=True, group="conflict-resolve")
    def _resolve(self, action_id: str, how: str) -> None:
        result: LocalResult = self.app.gateway.call(lambda r: r.resolve_conflict(action_id, how))  # type: ignore[attr-defined]
        self.app.call_from_thread(self._resolved, how, result)

    def _resolved(self, how: str, result: LocalResult) -> None:
        t = self.app.t  # type: ignore[attr-defined]
        if result.ok:
            self.notify(t("notify.conflict_resolved", how=t(f"conflicts.how.{how}")))
            if result.action_id:
                self.app.remember_undo([result.action_id])  # type: ignore[attr-defined]
        else:
            why = t.reason(result.reason) if result.reason else result.message
            detail = t.server_message(result.message) if result.reason else ""
            text = t("conflicts.not_done", why=why) + (f"（{detail}）" if detail else "")
            if result.reason == Reason.REASSIGNED:
                text += "\n" + t("conflicts.moved_hint")  # re-applying cannot work: say what can
            self.notify(text, severity="error", timeout=8)
        self.app.data_changed()  # type: ignore[attr-defined]

    def action_open(self) -> None:
        current = self.current
        if current is not None:
            self.app.open_detail(current.ticket_id)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()
