"""Asks once before a bulk action: how many, by status, what is apart, and (50+) the count typed.

Returns the ids to act on, or None when the liaison cancels. Tickets that need another action
first (a 待签收 ticket a resolve signs for first) are only included when their own box is
ticked; marked tickets outside the current view are named and left alone.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Static

from schemas.enums import Status
from tui.core.bulk import TYPED_CONSENT_FROM, BulkPlan


class BulkConfirmDialog(ModalScreen[tuple[str, ...] | None]):
    BINDINGS = [
        Binding("escape,n", "cancel", "cancel", show=False, id="dialog_cancel"),
        Binding("y", "ok", "ok", show=False, id="dialog_ok"),
    ]

    def __init__(self, plan: BulkPlan, action: str) -> None:
        super().__init__()
        self.plan = plan
        self.action = action

    @property
    def t(self):
        return self.app.t  # type: ignore[attr-defined]

    def chosen(self) -> tuple[str, ...]:
        """What the action would act on with the boxes as they are now."""
        if self.plan.needs_first and self.query_one("#needs-first", Checkbox).value:
            return self.plan.targets + self.plan.needs_first
        return self.plan.targets

    def compose(self) -> ComposeResult:
        t, plan = self.t, self.plan
        with Vertical(classes="dialog wide"):
            yield Static("", id="question", classes="dialog-title", markup=False)
            order = list(Status)  # the workflow's order: 待签收, 办理中, … 已归档
            by_status = sorted(plan.by_status.items(), key=lambda item: order.index(item[0]))
            statuses = " · ".join(f"{t.status(s)} {n}" for s, n in by_status)
            if statuses:
                yield Static(t("bulk.by_status", text=statuses), classes="dialog-hint", markup=False)
            if plan.needs_first:
                yield Checkbox(
                    t(f"bulk.needs_first.{plan.kind}", n=len(plan.needs_first)), False, id="needs-first"
                )
            if plan.outside:
                yield Static(t("bulk.outside", n=plan.outside), classes="dialog-hint", markup=False)
            yield Static(t("dialog.confirm_bulk_hint"), classes="dialog-hint", markup=False)
            yield Input(id="typed-count", type="integer")
            yield Static("", id="error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(t("dialog.ok"), variant="primary", id="ok")
                yield Button(t("dialog.cancel") + " (Esc)", id="cancel")

    def on_mount(self) -> None:
        self._update()

    def on_checkbox_changed(self) -> None:
        self._update()

    def _typed_needed(self) -> bool:
        return len(self.chosen()) >= TYPED_CONSENT_FROM

    def _update(self) -> None:
        n = len(self.chosen())
        self.query_one("#question", Static).update(self.t("dialog.confirm_bulk", n=n, action=self.action))
        box = self.query_one("#typed-count", Input)
        typed = self._typed_needed()
        box.display = typed
        box.placeholder = self.t("bulk.type_count", n=n)
        ok = self.query_one("#ok", Button)
        ok.label = self.t("dialog.ok") + (" (Enter)" if typed else " (y)")
        (box if typed else ok).focus()

    def on_input_submitted(self) -> None:
        self.action_ok()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_ok()
        else:
            self.dismiss(None)

    def action_ok(self) -> None:
        chosen = self.chosen()
        if not chosen:
            self.query_one("#error", Static).update(self.t("bulk.nothing_chosen"))
            return
        if self._typed_needed() and self.query_one("#typed-count", Input).value.strip() != str(len(chosen)):
            self.query_one("#error", Static).update(self.t("bulk.count_mismatch", n=len(chosen)))
            return
        self.dismiss(chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)
