"""One sync from the app: runs in a worker thread on its own replica connection.

It also works out what happened to each action that was waiting, so the app can report per
ticket ("sent", "refused: reassigned", "still waiting") — the engine's report only counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from local_db.replica import Replica
from sync.client import RetryPolicy, SyncClient
from sync.engine import Progress, SyncReport, sync
from sync.errors import AuthRefused, SyncBusy, SyncError, Unreachable
from sync.lock import sync_lock

#: The app retries on its own schedule (background sync), so one sync gives up fast when the
#: link is down instead of holding the sync bar in "syncing…" for a minute.
APP_RETRY = RetryPolicy(attempts=2, base=0.3, cap=2.0, max_retry_after=10.0)
#: The background sync takes the replica's sync lock (sync/lock.py) like `fycli sync` does; when
#: a cron or script sync holds it, it gives up after this long (SyncBusy) and tries next round.
APP_LOCK_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    action_id: str
    ticket_id: str
    kind: str
    outcome: Literal["applied", "rejected", "unsent"]
    reason: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    ok: bool
    report: SyncReport | None
    #: "unreachable", "auth" or "error" (the server's answer) when not ok; "local" when the
    #: replica itself failed (the app sets that one).
    failure: Literal["unreachable", "auth", "error", "local", "busy"] | None = None
    error: str | None = None
    actions: list[ActionOutcome] = field(default_factory=list)
    finished_at: dt.datetime | None = None


ClientFactory = Callable[[], SyncClient]


class SyncRunner:
    def __init__(
        self,
        replica_path: Path,
        client_factory: ClientFactory,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.replica_path = Path(replica_path)
        self.client_factory = client_factory
        self.clock = clock

    def run(
        self,
        progress: Progress | None = None,
        *,
        flush: bool = False,
        probe_first: bool = False,
    ) -> SyncOutcome:
        """One sync. Actions still in their undo hold stay in the outbox, reported as unsent,
        unless ``flush`` (the liaison's `r`) sends everything now.

        ``probe_first``: pull before pushing, so that while the server is unreachable no action
        is marked as on its way (an action that may have left can no longer be undone)."""
        replica = Replica.open(self.replica_path, clock=self.clock)
        try:
            waiting = {e.action_id: e for e in replica.outbox(limit=1_000_000)}
            known_conflicts = {c.action_id for c in replica.conflicts(open_only=False)}
            report: SyncReport | None = None
            failure = error = None
            client = self.client_factory()
            try:
                # One lock for the probe and the sync: no other process's sync between them.
                with sync_lock(replica.path, APP_LOCK_WAIT):
                    if probe_first:
                        sync(replica, client, progress=progress, push=False)
                    report = sync(replica, client, progress=progress, flush=flush)
            except Unreachable as exc:
                failure, error = "unreachable", str(exc)
            except AuthRefused as exc:
                failure, error = "auth", str(exc)
            except SyncBusy as exc:  # another process (cron, a script) is syncing: not a failure
                failure, error = "busy", str(exc)
            except SyncError as exc:
                failure, error = "error", str(exc)
            finally:
                client.close()
            still = {e.action_id for e in replica.outbox(limit=1_000_000)}
            # All of them: a refused sign-for is kept "folded" into its resolve's conflict (one
            # per intent), and it must not count as applied for having left the outbox.
            refused = {
                c.action_id: c
                for c in replica.conflicts(open_only=False)
                if c.action_id not in known_conflicts
            }
            outcomes: list[ActionOutcome] = []
            for action_id, entry in waiting.items():
                if action_id in refused:
                    c = refused[action_id]
                    if c.state == "folded":
                        continue  # its resolve's line tells the outcome of the whole intent
                    outcomes.append(
                        ActionOutcome(action_id, entry.ticket_id, entry.kind, "rejected", c.reason, c.message)
                    )
                elif action_id in still:
                    outcomes.append(ActionOutcome(action_id, entry.ticket_id, entry.kind, "unsent"))
                else:
                    outcomes.append(ActionOutcome(action_id, entry.ticket_id, entry.kind, "applied"))
            return SyncOutcome(
                ok=failure is None,
                report=report,
                failure=failure,
                error=error,
                actions=outcomes,
                finished_at=self.clock() if self.clock else dt.datetime.now(dt.UTC),
            )
        finally:
            replica.close()


def client_factory_from_config(config_directory: Path | None = None) -> tuple[Path, ClientFactory]:
    """The replica path and a client maker from ``fycli init``'s config. Raises ConfigError."""
    from sync.config import config_dir, load_config

    config = load_config(config_directory or config_dir())

    def make() -> SyncClient:
        return SyncClient(
            config.server_url,
            config.token(),
            timeout=min(config.timeout, 30.0),
            connect_timeout=5.0,
            ca_bundle=config.ca_bundle,
            retry=APP_RETRY,
            allow_insecure_http=config.allow_insecure_http,
        )

    return config.database, make
