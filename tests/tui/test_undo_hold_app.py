"""The undo window of an action signed for in the app holds against a cron `fycli sync`.

Issue 9, defect 10 (follow-up, seen in tmux): sign for a ticket in the app, and a `fycli sync`
from another shell pushed it two seconds later, past undoing. Now the app queues it with a hold
(``undo_grace``) that every sync honours. A real ``fycli serve``, the replica `fycli init` made,
the app under pilot and the real `fycli` program as the cron job.
"""

from __future__ import annotations

import datetime as dt

import pytest

from sync.client import SyncClient
from tests.test_undo_hold import GRACE, machine  # noqa: F401 (the fixture)
from tests.tui.conftest import SIZE, make_app, settle
from tui.core.sync_runner import APP_RETRY, SyncRunner
from tui.widgets.queue.ticket_table import TicketTable

pytestmark = pytest.mark.anyio


def real_clock() -> dt.datetime:
    """The machine's clock: the cron sync in another process reads the same one."""
    return dt.datetime.now(dt.UTC)


async def test_a_cron_sync_leaves_an_app_action_in_its_undo_window(machine):  # noqa: F811
    m, ids = machine
    runner = SyncRunner(
        m.replica_path, lambda: SyncClient(m.server.url, m.token, retry=APP_RETRY), clock=real_clock
    )
    app = make_app(m.replica_path, clock=real_clock, sync_runner=runner, undo_grace=GRACE)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.screen.query_one(TicketTable).current.id
        await pilot.press("s")  # sign for the row in the app
        await settle(pilot)
        assert app.sync_status.unsent == 1

        report, _ = m.sync()  # the cron job in another shell, seconds later
        assert report["pushed"] == 0 and report["held"] == 1
        assert m.status(first) == "assigned", "the cron sync sent an action the app still holds for undo"

        await pilot.press("u")  # still inside the window: undo works in the app
        await settle(pilot)
        assert app.sync_status.unsent == 0
    report, _ = m.sync()
    assert report["pushed"] == 0 and report["pending"] == 0
    assert m.status(first) == "assigned"
