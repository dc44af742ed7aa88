"""One ticket, whole: facts, description, reply, notes, history, what is waiting to be sent."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.worker import get_current_worker

from local_db.api import TicketDetail
from tui.core.units import UnitNames, unit_names
from tui.widgets.detail.ticket_view import TicketView
from tui.widgets.key_bar import KeyBar
from tui.widgets.sync_bar import SyncBar


class DetailScreen(Screen):
    BINDINGS = [
        Binding("escape,q", "back", "action.back", id="back"),
        # Same ids as the queue's keys: one rebinding in the config moves both.
        Binding("s", "act('accept')", "action.accept", id="accept"),
        Binding("c", "act('resolve')", "action.resolve", id="resolve"),
        Binding("n", "act('note')", "action.note", id="note"),
        Binding("t", "act('request_return')", "action.return", id="request_return"),
        Binding("e", "act('request_extension')", "action.extend", id="request_extension"),
        Binding("u", "undo", "action.undo", id="undo"),
    ]

    def __init__(self, ticket_id: str) -> None:
        super().__init__(id="detail")
        self.ticket_id = ticket_id
        self.detail: TicketDetail | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail-scroll"):
            yield TicketView(id="ticket-view")
        yield KeyBar(id="keys")
        yield SyncBar(id="sync-bar")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()
        self.reload()

    def reload(self, **_: object) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="detail")
    def _load(self) -> None:
        detail, units = self.app.gateway.call(lambda r: (r.detail(self.ticket_id), unit_names(r)))  # type: ignore[attr-defined]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, detail, units)

    def _show(self, detail: TicketDetail | None, units: UnitNames | None = None) -> None:
        self.detail = detail
        view = self.query_one(TicketView)
        if detail is None:
            view.update(self.app.t("detail.not_found", id=self.ticket_id))  # type: ignore[attr-defined]
            return
        view.show(self.app.t, detail, units)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_act(self, kind: str) -> None:
        if self.detail is not None and not self.detail.in_scope:
            self.notify(self.app.t("notify.read_only"), severity="warning")  # type: ignore[attr-defined]
            return
        self.app.act(kind, ids=[self.ticket_id])  # type: ignore[attr-defined]

    def action_undo(self) -> None:
        """Undo this ticket's latest unsent action."""
        if self.detail is None or not self.detail.pending:
            self.notify(self.app.t("notify.nothing_to_undo"), severity="warning")  # type: ignore[attr-defined]
            return
        self.app.undo_actions([self.detail.pending[-1].action_id])  # type: ignore[attr-defined]
