"""The unit's dashboard: 三率 and rank from the cached metrics, counts by view, what is overdue.

Everything comes from the replica, so it works offline (the figures are as of the last sync).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from local_db.api import SyncState, TicketQuery, TicketRow, View
from schemas.terminal import safe
from schemas.wire import UnitMetrics
from tui.widgets.key_bar import KeyBar
from tui.widgets.queue.ticket_table import urgency_style
from tui.widgets.queue.view_tabs import VIEW_ORDER
from tui.widgets.sync_bar import SyncBar

OVERDUE_SHOWN = 15
RATES = (
    "response_rate",
    "resolution_rate",
    "on_time_rate",
    "satisfaction_rate",
    "return_rate",
    "rework_rate",
)
#: For these a high figure is bad.
LOWER_IS_BETTER = {"return_rate", "rework_rate"}


@dataclass(frozen=True, slots=True)
class DashboardData:
    state: SyncState
    metrics: list[UnitMetrics]
    counts: dict[View, int]
    overdue: list[TicketRow]


def rate_text(name: str, value: float | None) -> Text:
    if value is None:
        return Text("—", style="dim")  # nothing was due: not 100%
    good = value < 0.05 if name in LOWER_IS_BETTER else value >= 0.9
    bad = value > 0.15 if name in LOWER_IS_BETTER else value < 0.7
    style = "bold green" if good else "bold red" if bad else "bold yellow"
    return Text(f"{value * 100:.1f}%", style=style)


def render_dashboard(t, data: DashboardData) -> Group:
    mine = [m for m in data.metrics if m.unit_id == data.state.unit_id] or data.metrics
    latest = max(mine, key=lambda m: m.month) if mine else None
    unit = data.state.unit_name or (latest.unit_name if latest else "—")
    parts = []
    parts.append(Text(t("dash.title", unit=unit, month=latest.month if latest else "—"), style="bold"))
    if latest is None:
        parts.append(Text(t("dash.no_metrics"), style="dim italic"))
    else:
        rates = Table(box=None, padding=(0, 3), show_header=True, header_style="bold")
        for name in RATES:
            rates.add_column(t(f"dash.{name}"), justify="center")
        rates.add_row(*[rate_text(name, getattr(latest, name)) for name in RATES])
        parts.append(rates)
        if latest.rank is not None:
            parts.append(Text(t("dash.rank", rank=latest.rank, peers=latest.peers), style="bold cyan"))
        else:
            parts.append(Text(t("dash.no_rank"), style="dim"))
        parts.append(
            Text(
                t(
                    "dash.detail_line",
                    assigned=latest.assigned,
                    signed=latest.signed_on_time,
                    due=latest.due,
                    resolved=latest.resolved,
                    evaluated=latest.evaluated,
                ),
                style="dim",
            )
        )
    parts.append(Text(""))
    parts.append(Text(t("dash.counts"), style="bold"))
    counts = Table(box=None, padding=(0, 2), show_header=True, header_style="bold")
    shown = [v for v in VIEW_ORDER if v != View.OUT_OF_SCOPE]
    for view in shown:
        counts.add_column(t(f"view.{view.value}"), justify="right")
    counts.add_row(*[str(data.counts.get(v, 0)) for v in shown])
    parts.append(counts)
    parts.append(Text(""))
    parts.append(Text(t("dash.overdue"), style="bold"))
    if not data.overdue:
        parts.append(Text(t("dash.no_overdue"), style="dim italic"))
    else:
        overdue = Table(box=None, padding=(0, 2), show_header=False)
        overdue.add_column(no_wrap=True)
        overdue.add_column(no_wrap=True, max_width=40, overflow="ellipsis")
        overdue.add_column(no_wrap=True)
        overdue.add_column(no_wrap=True)
        for row in data.overdue:
            overdue.add_row(
                row.id,
                safe(row.title),
                t.status(row.status),
                Text(t.days_left(row.days_left), style=urgency_style(row.days_left)),
            )
        parts.append(overdue)
    return Group(*parts)


class DashboardScreen(Screen):
    BINDINGS = [Binding("escape,q", "back", "action.back", id="back")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dashboard-scroll"):
            yield Static("", id="dashboard")
        yield KeyBar(id="keys")
        yield SyncBar(id="sync-bar")

    def on_mount(self) -> None:
        self.reload()

    def reload(self, **_: object) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="dashboard")
    def _load(self) -> None:
        def gather(r) -> DashboardData:
            return DashboardData(
                state=r.state(),
                metrics=r.metrics(),
                counts=r.counts_by_view(),
                overdue=r.query(TicketQuery(view=View.OVERDUE), limit=OVERDUE_SHOWN),
            )

        data = self.app.gateway.call(gather)  # type: ignore[attr-defined]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, data)

    def _show(self, data: DashboardData) -> None:
        self.query_one("#dashboard", Static).update(render_dashboard(self.app.t, data))  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()
