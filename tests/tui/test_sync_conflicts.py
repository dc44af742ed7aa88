"""Bulk close, a sync against a live ``fycli serve`` where one ticket was reassigned meanwhile,
per-ticket outcomes, then the conflict handled in the inbox. Real server, real HTTP, real SQLite."""

from __future__ import annotations

import pytest

from local_db.replica import Replica
from schemas.enums import Reason
from sync.client import SyncClient
from tests.tui.conftest import SIZE, make_app, settle
from tui.core.sync_runner import APP_RETRY, SyncRunner
from tui.screens.conflicts import ConflictsScreen
from tui.screens.dialogs.outcome import OutcomeDialog
from tui.screens.dialogs.reply import ReplyDialog
from tui.screens.queue import QueueScreen

pytestmark = pytest.mark.anyio


@pytest.fixture
def township(central_server, tmp_path):
    """Unit t1 with 6 assigned tickets, a liaison, and the liaison's replica synced from it."""
    server = central_server
    server.add_unit("t1", "西湖镇人民政府")
    server.add_unit("t2", "三合镇人民政府")
    token = server.add_liaison("t1", "王联络员")
    ids = server.register_and_assign("t1", 6, prefix="XH")
    path = tmp_path / "replica.db"
    Replica.open(path, create=True).close()
    runner = SyncRunner(path, lambda: SyncClient(server.url, token, retry=APP_RETRY))
    first = runner.run()
    assert first.ok, first.error
    return server, path, runner, ids


async def test_bulk_close_sync_reassigned_one_then_resolve_the_conflict(township):
    server, path, runner, ids = township
    app = make_app(path, clock=None, sync_runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, QueueScreen) and queue.total == 6
        assert app.sync_status.unit_name == "西湖镇人民政府"

        # Mark everything in 待签收 (stored as the filter), close all with one reply.
        await pilot.press("asterisk")
        assert queue.marks.count == 6
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog) and app.screen.count == 6
        await pilot.press("enter", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, OutcomeDialog) and all(line.ok for line in app.screen.lines)
        await pilot.press("escape")
        await settle(pilot)
        assert app.sync_status.unsent >= 6

        # Meanwhile the platform moves one of them to another township.
        moved = ids[2]
        assert server.act(moved, "reassign", unit_id="t2", reason="属地调整")["outcome"] == "applied"

        await pilot.press("r")
        await settle(pilot)
        assert app.last_sync is not None and app.last_sync.ok, app.last_sync
        dialog = app.screen
        assert isinstance(dialog, OutcomeDialog)
        failed = {line.ticket_id for line in dialog.lines if not line.ok}
        succeeded = {line.ticket_id for line in dialog.lines if line.ok}
        assert failed == {moved}
        assert succeeded == set(ids) - {moved}
        assert app.sync_status.unsent == 0 and app.sync_status.conflicts >= 1
        await pilot.press("escape")
        await settle(pilot)

        # The inbox: mine beside theirs; keep the typed reply as a note or drop it.
        await pilot.press("x")
        await settle(pilot)
        inbox = app.screen
        assert isinstance(inbox, ConflictsScreen)
        assert {c.ticket_id for c in inbox.items} == {moved}
        assert all(c.reason == Reason.REASSIGNED for c in inbox.items)
        resolve = next(c for c in inbox.items if c.kind == "resolve")
        assert resolve.server_ticket is not None and resolve.server_ticket.unit_id == "t2"
        while inbox.items:
            await pilot.press("d")
            await settle(pilot)
        assert app.sync_status.conflicts == 0

    server_states = {i: server.ticket(i)["ticket"] for i in ids}
    assert server_states[moved]["unit_id"] == "t2" and server_states[moved]["status"] == "assigned"
    assert all(server_states[i]["status"] == "resolved" for i in ids if i != moved)
