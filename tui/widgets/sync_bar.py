"""The sync bar at the bottom of every screen: online/offline, unsent, last sync, conflicts."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.widgets import Static

from schemas.terminal import safe
from tui.core.status import SyncStatus


class SyncBar(Static):
    """Renders the app's ``sync_status``; it never queries anything itself."""

    DEFAULT_CSS = """
    SyncBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "sync_status", self._show, init=True)

    def _show(self, status: SyncStatus) -> None:
        self.update(render_sync_bar(status, self.app.t, self.app.now()), layout=False)  # type: ignore[attr-defined]


def ago(t, when: dt.datetime, now: dt.datetime) -> str:
    seconds = max(0, (now - when).total_seconds())
    if seconds < 60:
        return t("sync.ago.now")
    if seconds < 3600:
        return t("sync.ago.min", n=int(seconds // 60))
    if seconds < 86400:
        return t("sync.ago.hour", n=int(seconds // 3600))
    return when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%m-%d %H:%M")


def render_sync_bar(status: SyncStatus, t, now: dt.datetime) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    sep = ("  │  ", "dim")
    if status.connectivity == "online":
        text.append(t("sync.online"), style="bold green")
    elif status.connectivity == "offline":
        text.append(t("sync.offline"), style="bold red")
    elif status.connectivity == "unconfigured":
        text.append(t("sync.not_configured"), style="yellow")
    else:
        text.append(t("sync.unknown"), style="dim")
    if status.network_cut:
        text.append(" (" + t("sync.net_cut") + ")", style="red")
    text.append(*sep)
    text.append(t("sync.unsent", n=status.unsent), style="bold yellow" if status.unsent else "")
    text.append(*sep)
    text.append(t("sync.conflicts", n=status.conflicts), style="bold magenta" if status.conflicts else "")
    text.append(*sep)
    if status.failure and not status.running:
        # A failed sync stays on the bar until one succeeds (issue 9: it was invisible).
        text.append(t("sync.failed_bar", why=t(f"sync.why.{status.failure}")), style="bold red")
        text.append(*sep)
    if status.running:
        if status.total:
            text.append(t("sync.progress", done=status.done, total=status.total), style="cyan")
        else:
            text.append(t("sync.running"), style="cyan")
    elif status.last_sync_at is not None:
        # after a failure, the time shown is that of the last sync that worked: say so
        key = "sync.last_ok" if status.failure else "sync.last"
        text.append(t(key, when=ago(t, status.last_sync_at, now)))
    else:
        text.append(t("sync.never"), style="dim")
    if status.unit_name:
        text.append(*sep)
        text.append(safe(status.unit_name), style="dim")  # the server's names
        if status.liaison_name:
            text.append(" · " + safe(status.liaison_name), style="dim")
    return text
