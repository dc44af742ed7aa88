"""The terminal app: a liaison's day over the local replica, offline, keyboard first.

Layout of ``tui/``: ``core/`` is headless (no Textual: marks, paging, the replica gateway,
the sync runner, config); ``screens/`` and ``widgets/`` are the UI. Every replica call and
every network call runs in a thread worker that posts a message back; the UI thread only
renders. Started by ``fycli tui`` / ``fycli`` (see tui/commands.py), never imported elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Protocol

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import get_current_worker

from local_db.api import LocalResult, TicketQuery
from local_db.replica import Replica
from schemas.terminal import safe, safe_text
from tui.core import bulk
from tui.core.bulk import BulkPlan
from tui.core.config import AppConfig
from tui.core.gateway import ReplicaGateway
from tui.core.marks import Marks
from tui.core.status import SyncStatus
from tui.core.sync_runner import SyncOutcome, SyncRunner
from tui.i18n import Lang, Translator
from tui.messages import ActionsDone, BulkPlanned, SyncFinished, SyncProgressed
from tui.screens.conflicts import ConflictsScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.detail import DetailScreen
from tui.screens.dialogs.bulk_confirm import BulkConfirmDialog
from tui.screens.dialogs.extension import ExtensionDialog
from tui.screens.dialogs.outcome import OutcomeDialog, OutcomeLine
from tui.screens.dialogs.quit import QuitDialog
from tui.screens.dialogs.reply import ReplyDialog
from tui.screens.dialogs.text_prompt import TextPrompt
from tui.screens.help import HelpScreen
from tui.screens.queue import QueueScreen

#: Seconds of typing pause before a search runs again (the first keystroke after a pause runs
#: at once). Keystrokes in between are folded into one query instead of queueing one each.
SEARCH_DELAY = 0.12

#: From this many marks, planning a bulk action takes long enough (~2.5 s for 14,000 marks on
#: 100,000 tickets) to say that it is under way.
PLANNING_NOTICE_FROM = 5000

#: Most lines an outcome list shows (failures first); the rest is summed up in its title.
OUTCOME_LINES = 500


class NetworkSwitch(Protocol):
    """The demo's way to cut the link to the server and bring it back."""

    @property
    def is_cut(self) -> bool: ...
    def cut(self) -> None: ...
    def restore(self) -> None: ...


class FycliApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "fycli"
    BINDINGS = [
        Binding("r", "sync", "action.sync", id="sync"),
        Binding("x", "conflicts", "action.conflicts", id="conflicts"),
        Binding("d", "dashboard", "action.dashboard", id="dashboard"),
        Binding("question_mark", "help", "action.help", id="help"),
        Binding("q", "quit", "action.quit", id="quit", show=False),
        Binding("f9,ctrl+o", "toggle_network", "action.network", id="network"),
    ]

    sync_status: reactive[SyncStatus] = reactive(SyncStatus, always_update=True)

    def __init__(
        self,
        replica_path: Path | str,
        *,
        lang: Lang = "zh",
        config: AppConfig | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        sync_runner: SyncRunner | None = None,
        auto_sync: float | None = 60.0,
        network: NetworkSwitch | None = None,
        sync_on_start: bool = True,
        search_delay: float = SEARCH_DELAY,
        undo_grace: float | None = None,
        replica_is_temporary: bool = False,
    ) -> None:
        super().__init__()
        self.replica_path = Path(replica_path)
        self.t = Translator(lang)
        self.config = config or AppConfig()
        self.clock = clock
        self.sync_runner = sync_runner
        self.auto_sync = auto_sync
        self.network = network
        self.sync_on_start = sync_on_start
        self.search_delay = search_delay
        #: Seconds an action waits before the background sync sends it (the undo window).
        self.undo_grace = self.config.undo_grace if undo_grace is None else undo_grace
        #: The demo: the replica lives in a temporary directory removed on exit.
        self.replica_is_temporary = replica_is_temporary
        self._quit_after_sync = False
        # Every action the app queues carries its undo window (``hold_until``): any sync, the
        # app's or a cron `fycli sync`, leaves it unsent until the window ends.
        self.gateway = ReplicaGateway(
            lambda: Replica.open(self.replica_path, clock=clock, hold=max(self.undo_grace, 0.0))
        )
        self.undo_stack: list[list[str]] = []
        self.queue_screen = QueueScreen()
        self.last_sync: SyncOutcome | None = None
        self.title = self.t("app.title")

    def now(self) -> dt.datetime:
        return self.clock() if self.clock else dt.datetime.now(dt.UTC)

    # -- start and stop -----------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        if self.config.problem:
            self.notify(self.config.problem, severity="warning", timeout=10)
        self.sync_status = SyncStatus(
            connectivity="unknown" if self.sync_runner else "unconfigured",
            network_cut=bool(self.network and self.network.is_cut),
        )
        self.push_screen(self.queue_screen)
        self.refresh_status()
        if self.sync_runner is not None:
            if self.sync_on_start:
                self.run_sync(manual=False)
            if self.auto_sync:
                self.set_interval(self.auto_sync, self._auto_sync)

    def on_unmount(self) -> None:
        self.gateway.close()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast (screens' too: theirs call this) shows its text as text: a server's
        message may hold an escape sequence or look like markup (``[b]``); neither is obeyed."""
        super().notify(
            safe_text(message), title=safe(title), severity=severity, timeout=timeout, markup=markup
        )

    def key_of(self, binding_id: str, default: str) -> str:
        """The key the user presses for ``binding_id`` now (their keymap, else the default)."""
        return self.config.keymap.get(binding_id, default).split(",")[0]

    def action_help_quit(self) -> None:
        """ctrl+c: say (in the app's language) how to quit, as Textual does in English."""
        self.notify(self.t("notify.quit_hint", press=self.key_of("quit", "q")))

    async def action_quit(self) -> None:
        """q / ctrl+q: with unsent actions, say how many and what becomes of them first."""
        if isinstance(self.screen, QuitDialog):
            return  # asked already: the answer is y, r or Esc (q twice must not discard work)
        n = self.sync_status.unsent
        if n == 0:
            self.exit()
            return
        t = self.t
        if self.replica_is_temporary:
            message = t("quit.unsent_demo", n=n)
        elif self.sync_runner is None:
            message = t("quit.unsent_unconfigured", n=n)
        else:
            message = t("quit.unsent", n=n)

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self.exit()
            elif choice == "sync":
                if self.sync_status.running:
                    self.notify(t("sync.running"))
                    return
                self._quit_after_sync = True
                self.run_sync(manual=True)

        self.push_screen(
            QuitDialog(message, can_sync=self.sync_runner is not None, discards=self.replica_is_temporary),
            chosen,
        )

    # -- navigation ---------------------------------------------------------------------------
    def open_detail(self, ticket_id: str) -> None:
        self.push_screen(DetailScreen(ticket_id))

    def action_conflicts(self) -> None:
        if not isinstance(self.screen, ConflictsScreen):
            self.push_screen(ConflictsScreen())

    def action_dashboard(self) -> None:
        if not isinstance(self.screen, DashboardScreen):
            self.push_screen(DashboardScreen())

    def action_help(self) -> None:
        self.push_screen(
            HelpScreen(
                [
                    ("app", list(self.BINDINGS)),
                    ("queue", list(QueueScreen.BINDINGS)),
                    ("detail", list(DetailScreen.BINDINGS)),
                    ("conflicts", list(ConflictsScreen.BINDINGS)),
                    ("dashboard", list(DashboardScreen.BINDINGS)),
                ]
            )
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_network":
            return self.network is not None
        if action == "sync":
            return self.sync_runner is not None
        return True

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        t = self.t
        hint = t("palette.help")
        if self.sync_runner is not None:
            yield SystemCommand(t("action.sync"), hint, self.action_sync)
        yield SystemCommand(t("action.conflicts"), hint, self.action_conflicts)
        yield SystemCommand(t("action.dashboard"), hint, self.action_dashboard)
        yield SystemCommand(t("action.help"), hint, self.action_help)
        yield SystemCommand(t("action.undo"), hint, self.undo_last)
        if isinstance(screen, QueueScreen):
            for kind, key in (
                ("accept", "action.accept"),
                ("resolve", "action.resolve"),
                ("note", "action.note"),
                ("request_return", "action.return"),
                ("request_extension", "action.extend"),
            ):
                yield SystemCommand(
                    screen.key_label(Binding("", "", key, id=kind)), hint, partial(screen.action_act, kind)
                )
            for action, key in (
                ("mark_all", "action.mark_all"),
                ("invert", "action.invert"),
                ("clear", "action.clear"),
                ("filter", "action.filter"),
                ("search", "action.search"),
            ):
                yield SystemCommand(t(key), hint, getattr(screen, f"action_{action}"))
            from tui.widgets.queue.view_tabs import VIEW_ORDER

            for view in VIEW_ORDER:
                yield SystemCommand(t(f"view.{view.value}"), hint, partial(screen.action_view, view.value))
        if self.network is not None:
            yield SystemCommand(t("action.network"), hint, self.action_toggle_network)
        yield from super().get_system_commands(screen)

    # -- local actions ------------------------------------------------------------------------
    def act(self, kind: str, *, ids: list[str] | None = None, marks: Marks | None = None,
            view: TicketQuery | None = None) -> None:  # fmt: skip
        """Act on ``ids`` (the row), or on the ``marks`` seen in ``view``: planned in a worker,
        confirmed once with the count by status, then asked what the action needs."""
        if marks is not None and view is not None:
            if marks.count >= PLANNING_NOTICE_FROM:  # ~2 s on 100,000 tickets: say it is coming
                self.notify(self.t("bulk.planning", n=marks.count), timeout=3)
            self._plan_bulk(kind, marks, view)
            return
        if not ids:
            self.notify(self.t("notify.none_marked"), severity="warning")
            return
        self._ask_and_make(kind, list(ids), bulk=False)

    @work(thread=True, exclusive=True, group="bulk-plan")
    def _plan_bulk(self, kind: str, marks: Marks, view: TicketQuery) -> None:
        gateway = self.gateway

        def view_rows():
            after = None
            while True:  # keyset pages of the whole view: rows carry their status
                page = gateway.call(lambda r, after=after: r.query(view, after=after, limit=2000))
                yield from page
                if len(page) < 2000:
                    return
                after = page[-1].key

        def matching(q: TicketQuery):
            return iter(gateway.call(lambda r: list(r.ids_matching(q))))

        def base_ids() -> frozenset[str]:
            assert marks.base is not None
            return frozenset(matching(marks.base))

        planned = bulk.plan(
            kind, marks, view_rows(), lambda: marks.ids(matching), base_ids, base_is_view=marks.base == view
        )
        self.post_message(BulkPlanned(planned))

    def on_bulk_planned(self, message: BulkPlanned) -> None:
        plan = message.plan
        if not plan.targets and not plan.needs_first:
            self.notify(self.t("notify.none_in_view", n=plan.outside), severity="warning")
            return

        def confirmed(chosen: tuple[str, ...] | None) -> None:
            if chosen:
                self._ask_and_make(plan.kind, list(chosen), bulk=True, plan=plan)

        self.push_screen(BulkConfirmDialog(plan, self.t(f"kind.{plan.kind}")), confirmed)

    def _ask_and_make(self, kind: str, ids: list[str], *, bulk: bool, plan: BulkPlan | None = None) -> None:
        """Ask what the action needs (a reply, a reason …), then make it in a worker."""
        t = self.t
        count = len(ids)
        suffix = f" ({count})" if count > 1 else ""

        def run(params: dict | None) -> None:
            if params is not None:
                self._make_actions(kind, ids, params, bulk, plan)

        if kind == "resolve":
            self.push_screen(
                ReplyDialog(count, self.config.templates),
                lambda reply: run({"reply": reply} if reply else None),
            )
        elif kind == "note":
            self.push_screen(
                TextPrompt(t("dialog.note_title") + suffix, t("dialog.note_placeholder")),
                lambda text: run({"text": text} if text else None),
            )
        elif kind == "request_return":
            self.push_screen(
                TextPrompt(t("dialog.return_title") + suffix, t("dialog.reason_placeholder")),
                lambda reason: run({"reason": reason} if reason else None),
            )
        elif kind == "request_extension":
            self.push_screen(
                ExtensionDialog(suffix.strip()),
                lambda got: run({"days": got[0], "reason": got[1]} if got else None),
            )
        elif kind == "accept":
            run({})
        else:
            raise ValueError(f"unknown action {kind!r}")

    @work(thread=True, group="actions")
    def _make_actions(
        self, kind: str, targets: list[str], params: dict, bulk: bool, plan: BulkPlan | None
    ) -> None:

        def make(r: Replica) -> list[LocalResult]:
            if kind == "accept":
                return r.accept(targets)
            if kind == "resolve":
                return r.resolve(targets, params["reply"])
            if kind == "note":
                return [r.add_note(i, params["text"]) for i in targets]
            if kind == "request_return":
                return [r.request_return(i, params["reason"]) for i in targets]
            return [r.request_extension(i, params["days"], params["reason"]) for i in targets]

        results = self.gateway.call(make)
        kept = plan.outside_ids if plan is not None else frozenset()
        self.post_message(ActionsDone(kind, results, bulk, kept))

    def on_actions_done(self, message: ActionsDone) -> None:
        t = self.t
        # A reply to a ticket already resolved is queued as a note, not as the resolve asked
        # for: counted and said apart, never as "saved" (the CLI's "kept as a note instead").
        kept = [r for r in message.results if r.kept_as_note]
        queued = [r for r in message.results if r.ok and r.action_id and not r.kept_as_note]
        # ok without an action id: already in effect (signed for), nothing was queued
        noop = [r for r in message.results if r.ok and not r.action_id]
        failed = [r for r in message.results if not r.ok]
        self.remember_undo([r.action_id for r in queued + kept if r.action_id])
        label = t(f"kind.{message.kind}")
        if message.bulk:
            self.queue_screen.after_bulk([r.ticket_id for r in failed], message.kept_marked)
            lines = [
                OutcomeLine(r.ticket_id, False, label, self._why(r.reason, r.message)) for r in failed
            ] + [OutcomeLine(r.ticket_id, True, label, t("outcome.noop")) for r in noop]
            lines += [OutcomeLine(r.ticket_id, True, label, t("outcome.kept_as_note")) for r in kept]
            lines += [OutcomeLine(r.ticket_id, True, label, t("outcome.ok")) for r in queued]
            counts = {"ok": len(queued), "noop": len(noop), "failed": len(failed)}
            if kept:
                title = t("outcome.title_local_kept", kept=len(kept), **counts)
            else:
                title = t("outcome.title_local", **counts)
            self.push_screen(OutcomeDialog(title, lines[:OUTCOME_LINES]))
        elif failed:
            self.notify(
                f"{label} {failed[0].ticket_id}: {self._why(failed[0].reason, failed[0].message)}",
                severity="error",
            )
        elif kept and not queued:
            self.notify(t("notify.kept_as_note", action=label, id=kept[0].ticket_id), severity="warning")
        elif noop:
            self.notify(t("notify.noop", action=label, id=noop[0].ticket_id), severity="warning")
        elif self.sync_runner is not None and self.auto_sync and self.undo_grace > 0:
            self.notify(
                t(
                    "notify.queued_grace",
                    action=label,
                    n=len(queued),
                    s=f"{self.undo_grace:g}",
                    press=self.key_of("undo", "u"),
                )
            )
        else:
            self.notify(t("notify.queued", action=label, n=len(queued)))
        self.data_changed()
        if (queued or kept) and self.sync_status.connectivity == "online" and self.auto_sync:
            self._sync_when_window_ends()

    def _sync_when_window_ends(self) -> None:
        """Background-sync once the newest action's undo window is over (at once without one)."""
        if self.undo_grace <= 0:
            self._auto_sync()
        else:
            self.set_timer(self.undo_grace + 0.5, self._auto_sync)

    def _why(self, reason, message: str) -> str:
        text = self.t.reason(reason) if reason else self.t("outcome.failed")
        detail = self.t.server_message(message) if reason else message  # without a reason it is all we have
        return f"{text}: {detail}" if detail else text

    # -- undo ---------------------------------------------------------------------------------
    def remember_undo(self, action_ids: list[str]) -> None:
        if action_ids:
            self.undo_stack.append(action_ids)

    def undo_last(self) -> None:
        if not self.undo_stack:
            self.notify(self.t("notify.nothing_to_undo"), severity="warning")
            return
        self.undo_actions(self.undo_stack.pop())

    @work(thread=True, group="undo")
    def undo_actions(self, action_ids: list[str]) -> None:
        undone = self.gateway.call(lambda r: sum(1 for a in action_ids if r.undo(a)))
        self.call_from_thread(self._undone, undone, len(action_ids) - undone)

    def _undone(self, undone: int, late: int) -> None:
        # An action that may have left (its push was cut before the answer) is one state with
        # one wording everywhere: it may already have reached the platform.
        if undone and late:
            self.notify(self.t("notify.undone_some", n=undone, late=late), severity="warning")
        elif undone:
            self.notify(self.t("notify.undone", n=undone))
        else:
            self.notify(self.t("notify.undo_too_late"), severity="warning")
        self.data_changed()

    # -- refreshing ---------------------------------------------------------------------------
    @work(thread=True, group="warm", exit_on_error=False)
    def warm_search(self) -> None:
        """Load the replica's search text now (~0.25 s on 100,000 tickets), after the first
        screen, so the first "/" does not pay for it."""
        self.gateway.call(lambda r: r.warm_search())

    def data_changed(self, *, forget: bool = False) -> None:
        """The replica changed: every open screen reloads what it shows; the sync bar too."""
        for screen in self.screen_stack:
            reload = getattr(screen, "reload", None)
            if reload is not None and screen.is_mounted:
                reload(forget=forget) if isinstance(screen, QueueScreen) else reload()
        self.refresh_status()

    @work(thread=True, exclusive=True, group="status")
    def refresh_status(self) -> None:
        state = self.gateway.call(lambda r: r.state())
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._status_loaded, state)

    def _status_loaded(self, state) -> None:
        failure, failed_at = self.sync_status.failure, self.sync_status.failed_at
        if failure and failed_at and state.last_sync_at and state.last_sync_at > failed_at:
            failure = failed_at = None  # another process (cron's fycli sync) synced since
        self.sync_status = replace(
            self.sync_status,
            failure=failure,
            failed_at=failed_at,
            unsent=state.pending,
            conflicts=state.open_conflicts,
            last_sync_at=state.last_sync_at,
            unit_name=state.unit_name,
            liaison_name=state.liaison_name,
        )

    # -- sync ---------------------------------------------------------------------------------
    def action_sync(self) -> None:
        if self.sync_runner is None:
            return
        if self.sync_status.running:
            self.notify(self.t("sync.running"))
            return
        self.run_sync(manual=True)

    def _auto_sync(self) -> None:
        if not self.sync_status.running:
            self.run_sync(manual=False)

    def run_sync(self, *, manual: bool) -> None:
        self.sync_status = replace(self.sync_status, running=True, phase=None, done=0, total=None)
        self._sync_worker(manual)

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def _sync_worker(self, manual: bool) -> None:
        assert self.sync_runner is not None

        def progress(phase: str, done: int, total: int | None) -> None:
            self.post_message(SyncProgressed(phase, done, total))

        try:
            # While offline a background sync first checks the link with a pull: a push into a
            # dead link would leave its actions "may have reached the platform", past undoing.
            probe = not manual and self.sync_status.connectivity != "online"
            # The background sync honours the actions' undo holds; `r` sends everything now.
            outcome = self.sync_runner.run(progress, flush=manual, probe_first=probe)
        except Exception as exc:  # a bug or a broken file must not kill the app: report it
            outcome = SyncOutcome(
                ok=False, report=None, failure="local", error=str(exc), finished_at=self.now()
            )
        self.post_message(SyncFinished(outcome, manual))

    def on_sync_progressed(self, message: SyncProgressed) -> None:
        self.sync_status = replace(
            self.sync_status, phase=message.phase, done=message.done, total=message.total
        )

    def on_sync_finished(self, message: SyncFinished) -> None:
        t = self.t
        outcome = message.outcome
        if outcome.failure == "busy":
            # Another process's sync holds the replica: it brings the same news, and the bar
            # keeps what it knew (a busy lock is neither a success nor a failure of the link).
            self.sync_status = replace(self.sync_status, running=False)
            if self._quit_after_sync:  # the liaison asked to sync, then quit: say why not yet
                self._quit_after_sync = False
                self.notify(self.t("quit.sync_failed", error=self.t("sync.busy")), severity="error")
            elif message.manual:
                self.notify(self.t("sync.busy"), severity="warning", timeout=6)
            self.data_changed()
            return
        self.last_sync = outcome
        if outcome.failure == "local":  # the replica failed, not the link: that is unknown
            connectivity = self.sync_status.connectivity
        else:
            connectivity = "offline" if outcome.failure == "unreachable" else "online"
        self.sync_status = replace(
            self.sync_status,
            running=False,
            connectivity=connectivity,
            last_error=outcome.error,
            failure=outcome.failure,
            failed_at=None if outcome.ok else (outcome.finished_at or self.now()),
            network_cut=bool(self.network and self.network.is_cut),
        )
        report = outcome.report
        if self._quit_after_sync:
            self._quit_after_sync = False
            if outcome.ok and report is not None and report.pending == 0:
                self.exit()
                return
            self.notify(
                t(
                    "quit.sync_failed",
                    error=outcome.error or t("sync.unsent", n=report.pending if report else 0),
                ),
                severity="error",
                timeout=10,
            )
            self.data_changed()
            return
        if outcome.ok and report is not None:
            if report.rejected:  # a background sync too: refusals are work waiting for the liaison
                self.notify(
                    t("sync.refused", n=report.rejected, press=self.key_of("conflicts", "x")),
                    severity="warning",
                    timeout=12,
                )
            elif message.manual:
                self.notify(
                    t(
                        "sync.done",
                        sent=report.applied + report.duplicates,
                        pulled=report.pulled_tickets,
                        conflicts=report.conflicts,
                    )
                )
            if report.pending and self.auto_sync and self.undo_grace > 0 and not message.manual:
                self._sync_when_window_ends()  # held back for their undo window: send them after
        elif message.manual:
            self.notify(t("sync.failed", error=outcome.error or ""), severity="error", timeout=8)
        sent = [a for a in outcome.actions if a.outcome != "unsent"]
        if message.manual and sent:
            lines = [
                OutcomeLine(
                    a.ticket_id,
                    a.outcome == "applied",
                    t(f"kind.{a.kind}"),
                    t("badge.synced") if a.outcome == "applied" else self._why(a.reason, a.message),
                )
                for a in sent
            ]
            ok = sum(1 for line in lines if line.ok)
            self.push_screen(
                OutcomeDialog(t("outcome.title", ok=ok, failed=len(lines) - ok), lines[:OUTCOME_LINES])
            )
        self.data_changed(forget=bool(report and report.pulled_tickets))

    # -- the demo's network switch ------------------------------------------------------------
    def action_toggle_network(self) -> None:
        if self.network is None:
            return
        if self.network.is_cut:
            self.network.restore()
            self.notify(self.t("sync.net_restored"))
            self.sync_status = replace(self.sync_status, network_cut=False)
            self._auto_sync()
        else:
            self.network.cut()
            self.notify(self.t("sync.net_cut"), severity="warning")
            self.sync_status = replace(self.sync_status, network_cut=True, connectivity="offline")
