"""Bulk close, a sync against a live ``fycli serve`` where one ticket was reassigned meanwhile,
per-ticket outcomes, then the conflict handled in the inbox. Real server, real HTTP, real SQLite."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox

from local_db.replica import Replica
from schemas.enums import Reason
from sync.client import SyncClient
from sync.config import DEFAULT_TEMPLATES
from tests.servers import liaison_action, push_body
from tests.tui.conftest import SIZE, make_app, settle
from tui.core.sync_runner import APP_RETRY, SyncRunner
from tui.screens.conflicts import ConflictsScreen
from tui.screens.dialogs.bulk_confirm import BulkConfirmDialog
from tui.screens.dialogs.outcome import OutcomeDialog
from tui.screens.dialogs.reply import ReplyDialog
from tui.screens.queue import QueueScreen
from tui.widgets.queue.ticket_table import TicketTable
from tui.widgets.queue.view_tabs import ViewTabs

#: What "enter" in the reply dialog puts in the text: the first template.
REPLY = DEFAULT_TEMPLATES[0].text

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
        # All six are still to sign: the confirmation lists them apart, they need their own tick.
        confirm = app.screen
        assert isinstance(confirm, BulkConfirmDialog) and len(confirm.plan.needs_first) == 6
        confirm.query_one("#needs-first", Checkbox).value = True
        await pilot.press("y")
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


def notifications(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def resolve_current(pilot) -> str:
    """Resolve the ticket under the queue's cursor with the first template; returns its id."""
    ticket_id = pilot.app.screen.query_one(TicketTable).current.id
    await pilot.press("c")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ReplyDialog)
    await pilot.press("enter", "ctrl+s")
    await settle(pilot)
    return ticket_id


async def choose_conflict(pilot, inbox: ConflictsScreen, kind: str) -> None:
    index = next(i for i, c in enumerate(inbox.items) if c.kind == kind)
    inbox.query_one("#conflict-list").move_cursor(row=index)
    await settle(pilot)
    assert inbox.current is not None and inbox.current.kind == kind


async def test_background_sync_surfaces_refusals_and_a_moved_ticket_takes_no_note(township):
    server, path, runner, ids = township
    # no undo window: the background sync sends the reply at once (the window has its own tests)
    app = make_app(path, clock=None, sync_runner=runner, undo_grace=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        target = await resolve_current(pilot)
        assert app.sync_status.unsent >= 1
        assert server.act(target, "reassign", unit_id="t2", reason="属地调整")["outcome"] == "applied"

        # A background sync (not `r`): the refusal is announced and counted, no dialog pops up.
        app.run_sync(manual=False)
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        refused = app.last_sync.report.rejected
        assert refused >= 1
        assert any(f"平台拒绝了 {refused} 项操作" in text for text in notifications(app)), notifications(app)
        assert app.sync_status.conflicts >= 1
        tab = app.screen.query_one(ViewTabs).get_tab("view-conflicts")
        assert str(tab.label).endswith(" 1"), tab.label  # one ticket in conflict

        # One conflict for the one thing the liaison did (the sign-for the close needed is
        # folded into it). Neither re-applying nor keeping the reply as a note can work on a
        # ticket that moved away: a unit the ticket left adds nothing to it (SPEC §8). The
        # screen says so, and the reply stays in the inbox until dropped: nothing lost.
        await pilot.press("x")
        await settle(pilot)
        inbox = app.screen
        assert isinstance(inbox, ConflictsScreen) and [c.kind for c in inbox.items] == ["resolve"]
        assert inbox.items[0].ticket_id == target
        await choose_conflict(pilot, inbox, "resolve")
        for key in ("a", "n"):
            await pilot.press(key)
            await settle(pilot)
            assert [c.kind for c in inbox.items] == ["resolve"], (notifications(app), app.sync_status)
            assert app.sync_status.unsent == 0, key
            hint = notifications(app)[-1]
            assert "不能再提交，也不能转为记录" in hint and "转为记录（n）" not in hint, hint
        await pilot.press("d")
        await settle(pilot)
        assert inbox.items == [] and app.sync_status.conflicts == 0 and app.sync_status.unsent == 0

    on_server = server.ticket(target)
    assert on_server["ticket"]["unit_id"] == "t2"
    assert not any(REPLY in note["text"] for note in on_server["notes"]), on_server["notes"]


async def test_reapply_a_reply_refused_because_the_platform_sent_a_reply_back(township):
    server, path, runner, ids = township
    app = make_app(path, clock=None, sync_runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        target = app.screen.query_one(TicketTable).current.id
        await pilot.press("s", "r")  # sign for it and send that
        await settle(pilot)
        assert server.ticket(target)["ticket"]["status"] == "in_progress"
        await pilot.press("escape")
        await pilot.press("2")  # 办理中
        await settle(pilot)
        assert app.screen.query_one(TicketTable).current.id == target
        await resolve_current(pilot)  # waiting to send

        # Meanwhile a colleague of the same unit resolves it, and the platform sends that reply back.
        colleague = server.add_liaison("t1", "李联络员")
        ticket = server.ticket(target)["ticket"]
        with server.client(colleague) as http:
            body = push_body("colleague-1", [liaison_action("resolve", ticket, reply="同事的答复")])
            response = http.post("/v1/sync/push", json=body)
            response.raise_for_status()
            assert response.json()["results"][0]["outcome"] == "applied"
        assert server.act(target, "reject_reply", reason="答复内容不完整")["outcome"] == "applied"

        await pilot.press("r")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, OutcomeDialog)
        assert [(line.ticket_id, line.ok) for line in dialog.lines] == [(target, False)]
        await pilot.press("escape", "x")
        await settle(pilot)
        inbox = app.screen
        assert isinstance(inbox, ConflictsScreen)
        assert [(c.ticket_id, c.kind, c.reason) for c in inbox.items] == [
            (target, "resolve", Reason.REPLY_REJECTED)
        ]
        await pilot.press("a")  # re-apply: the same reply, based on the ticket as it is now
        await settle(pilot)
        assert inbox.items == [] and app.sync_status.unsent == 1

        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, OutcomeDialog)
        assert [(line.ticket_id, line.ok) for line in app.screen.lines] == [(target, True)]

    on_server = server.ticket(target)["ticket"]
    assert on_server["status"] == "resolved" and on_server["reply"] == REPLY
