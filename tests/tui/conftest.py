"""Fixtures for the terminal app's tests: a real replica file, the app at a fixed clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from local_db.api import OutboxEntry
from local_db.replica import Replica
from schemas.enums import EpochCause, Reason, Status
from schemas.wire import ActionResult
from tests.local_db.factory import fixed_clock, make_replica

#: The terminal size of every pilot and snapshot test (snapshots depend on it).
SIZE = (140, 40)


@pytest.fixture
def replica_path(tmp_path: Path) -> Path:
    """300 realistic tickets of unit U1 at FIXED_NOW (every view populated), same seed every run."""
    path = tmp_path / "replica.db"
    make_replica(path, 300, seed=1).close()
    return path


def make_app(path: Path, **kwargs):
    from tui.app import FycliApp

    kwargs.setdefault("clock", fixed_clock)
    kwargs.setdefault("auto_sync", None)
    kwargs.setdefault("sync_on_start", False)
    kwargs.setdefault("search_delay", 0)  # every keystroke searches at once: no timers in tests
    return FycliApp(path, **kwargs)


async def settle(pilot) -> None:
    """Wait until every worker is done and every message they posted is handled."""
    app = pilot.app
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return
    raise AssertionError("the app did not settle")


def make_conflict(path: Path, ticket_id: str, reply: str = "已现场核实，路灯已修复。") -> None:
    """Resolve ``ticket_id`` locally, then record the server refusing it (reassigned meanwhile)."""
    with Replica.open(path, clock=fixed_clock) as replica:
        [result] = replica.resolve([ticket_id], reply)
        assert result.ok, result
        entries: list[OutboxEntry] = replica.outbox()
        server = replica.detail(ticket_id).server_ticket.evolve(
            status=Status.ASSIGNED, unit_id="U9", epoch=2, epoch_cause=EpochCause.REASSIGN, past_units=["U1"]
        )
        replica.apply_push_results(
            [
                ActionResult(
                    action_id=e.action_id,
                    seq=e.seq,
                    outcome="rejected",
                    reason=Reason.REASSIGNED,
                    message="已改派至其他单位",
                    ticket=server,
                    changed_by="阜阳市12345平台",
                    changed_at=dt.datetime(2025, 6, 11, 9, 30, tzinfo=dt.UTC),
                )
                for e in entries
            ]
        )


@pytest.fixture
def anyio_backend() -> str:
    """The pilot tests are async: anyio's pytest plugin runs them on asyncio (Textual's loop)."""
    return "asyncio"
