"""The queue's views as tabs, each with its count."""

from __future__ import annotations

from textual.widgets import Tab, Tabs

from local_db.api import View
from tui.i18n import Translator

VIEW_ORDER: tuple[View, ...] = (
    View.ASSIGNED,
    View.IN_PROGRESS,
    View.DUE_SOON,
    View.OVERDUE,
    View.RESOLVED,
    View.PENDING_DECISION,
    View.CONFLICTS,
    View.ALL,
    View.OUT_OF_SCOPE,
)


def tab_label(t: Translator, view: View, count: int | None) -> str:
    name = t(f"view.{view.value}")
    return name if count is None else f"{name} {count}"


class ViewTabs(Tabs):
    """Not focusable: tab/shift+tab and the digit keys switch views; focus stays on the table."""

    can_focus = False

    def __init__(self, t: Translator, active: View, **kwargs) -> None:
        self.t = t
        tabs = [Tab(tab_label(t, v, None), id=f"view-{v.value}") for v in VIEW_ORDER]
        super().__init__(*tabs, active=f"view-{active.value}", **kwargs)

    def set_counts(self, counts: dict[View, int]) -> None:
        for view in VIEW_ORDER:
            try:
                tab = self.get_tab(f"view-{view.value}")
            except Exception:  # not mounted yet
                continue
            tab.label = tab_label(self.t, view, counts.get(view))

    @staticmethod
    def view_of(tab_id: str | None) -> View | None:
        if not tab_id or not tab_id.startswith("view-"):
            return None
        return View(tab_id.removeprefix("view-"))
