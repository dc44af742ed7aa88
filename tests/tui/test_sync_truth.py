"""The sync bar tells the truth, undo has a real window, and quitting says what is unsent.

Issue 9, defects 2, 10 and 11, against a real ``fycli serve`` on 127.0.0.1 (and a server that
answers garbage), a real replica file and the app under pilot. The undo window is driven by
the app's clock, never by sleeping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from textual import messages
from textual.worker import WorkerCancelled

from local_db.replica import Replica
from sync.client import SyncClient
from tests.tui.conftest import SIZE, make_app, settle
from tui.core.sync_runner import APP_RETRY, SyncRunner
from tui.messages import SyncFinished
from tui.screens.dialogs.quit import QuitDialog
from tui.widgets.queue.ticket_table import TicketTable
from tui.widgets.sync_bar import render_sync_bar

pytestmark = pytest.mark.anyio


class MovableClock:
    """A clock the test moves forward by hand (the undo window is read from it)."""

    def __init__(self) -> None:
        self.at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


class Garbage(BaseHTTPRequestHandler):
    """Answers every request with an HTML page: not fycli's protocol."""

    def do_GET(self) -> None:
        self._page()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._page()

    def _page(self) -> None:
        body = b"<html><body>Portal login</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garbage_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def township(central_server, tmp_path):
    """Unit t1 with 4 assigned tickets, its liaison, and a synced replica; the URL can move."""
    server = central_server
    server.add_unit("t1", "西湖镇人民政府")
    token = server.add_liaison("t1", "王联络员")
    ids = server.register_and_assign("t1", 4, prefix="XH")
    path = tmp_path / "replica.db"
    Replica.open(path, create=True).close()
    where = {"url": server.url}
    clock = MovableClock()
    runner = SyncRunner(path, lambda: SyncClient(where["url"], token, retry=APP_RETRY), clock=clock)
    assert runner.run().ok
    return server, path, runner, ids, where, clock


async def settle_until_exit(pilot) -> None:
    """Settle an app that is asked to exit: its last workers may be cancelled on the way out."""
    with contextlib.suppress(WorkerCancelled):
        await settle(pilot)


def bar(app) -> str:
    return render_sync_bar(app.sync_status, app.t, app.now()).plain


def outbox(path):
    with Replica.open(path) as r:
        return r.outbox(limit=1000)


async def test_a_failing_background_sync_shows_on_the_bar_until_one_succeeds(township, garbage_url, tmp_path):
    server, path, runner, ids, where, clock = township
    finished: list[SyncFinished] = []
    app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0)
    hook = lambda m: isinstance(m, SyncFinished) and finished.append(m)  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        app.run_sync(manual=False)
        await settle(pilot)
        assert "同步失败" not in bar(app)

        where["url"] = garbage_url  # a captive portal answering HTML
        app.run_sync(manual=False)
        await settle(pilot)
        assert finished[-1].outcome.failure == "error" and not finished[-1].manual
        assert "同步失败：服务器应答异常" in bar(app), bar(app)
        clock.advance(5)
        assert "同步失败" in bar(app), "the failure stays on the bar"

        server.stop()  # the server goes away
        where["url"] = server.url
        app.run_sync(manual=False)
        await settle(pilot)
        assert finished[-1].outcome.failure == "unreachable"
        assert "○ 离线" in bar(app) and "同步失败：无法连接服务器" in bar(app), bar(app)

    # a new server on the same data: the next sync succeeds and the bar is clean again
    from tests.servers import CentralServer

    with CentralServer.start(tmp_path / "again", server.db_url, admin_token=server.admin_token) as again:
        where["url"] = again.url
        app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.run_sync(manual=False)
            await settle(pilot)
            assert "● 在线" in bar(app) and "同步失败" not in bar(app), bar(app)


async def test_the_background_sync_holds_an_action_for_the_undo_window(township):
    server, path, runner, ids, where, clock = township
    finished: list[SyncFinished] = []
    app = make_app(path, clock=clock, sync_runner=runner, auto_sync=3600, undo_grace=10)
    hook = lambda m: isinstance(m, SyncFinished) and finished.append(m)  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        app.run_sync(manual=False)  # online now
        await settle(pilot)
        first = app.screen.query_one(TicketTable).current.id
        await pilot.press("s")  # sign for the row: queued, not sent
        await settle(pilot)
        app._auto_sync()  # the background sync, 5 s later: still inside the window
        clock.advance(5)
        await settle(pilot)
        assert [a.outcome for a in finished[-1].outcome.actions] == ["unsent"]
        assert server.ticket(first)["ticket"]["status"] == "assigned"
        await pilot.press("u")  # inside the window: undo works
        await settle(pilot)
        assert app.sync_status.unsent == 0 and outbox(path) == []

        second = app.screen.query_one(TicketTable).current.id
        await pilot.press("s")
        await settle(pilot)
        clock.advance(11)  # past the window: the background sync sends it
        app._auto_sync()
        await settle(pilot)
        assert [a.outcome for a in finished[-1].outcome.actions] == ["applied"]
        assert server.ticket(second)["ticket"]["status"] == "in_progress"

        third = app.screen.query_one(TicketTable).current.id
        await pilot.press("s", "r")  # `r` sends at once, window or not
        await settle(pilot)
        assert finished[-1].manual and [a.outcome for a in finished[-1].outcome.actions] == ["applied"]
        assert server.ticket(third)["ticket"]["status"] == "in_progress"


async def test_offline_the_background_sync_leaves_unsent_work_undoable(township):
    server, path, runner, ids, where, clock = township
    app = make_app(path, clock=clock, sync_runner=runner, auto_sync=3600, undo_grace=10)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        where["url"] = "http://127.0.0.1:9"  # the link is gone (discard port: refused)
        app.run_sync(manual=False)
        await settle(pilot)
        assert app.sync_status.connectivity == "offline"
        await pilot.press("s")
        await settle(pilot)
        clock.advance(60)  # long past the undo window, background syncs keep failing
        app._auto_sync()
        await settle(pilot)
        assert app.last_sync.failure == "unreachable"
        await pilot.press("u")
        await settle(pilot)
        said = [str(n.message) for n in app._notifications]
        assert said[-1] == "已撤销 1 项未发送操作", said
    assert outbox(path) == []


async def test_undo_of_an_action_that_may_have_left_says_so(township):
    server, path, runner, ids, where, clock = township
    app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        # the push left as the link was cut: the action is marked sent, still in the outbox
        app.gateway.call(lambda r: r.mark_sent([e.action_id for e in r.outbox()]))
        await pilot.press("u")
        await settle(pilot)
        said = [str(n.message) for n in app._notifications]
        assert any("可能已送达平台" in text for text in said), said
        assert not any("已发送" in text for text in said), said


async def test_quit_with_unsent_actions_says_how_many_and_that_the_next_sync_sends_them(township):
    server, path, runner, ids, where, clock = township
    exits: list[messages.ExitApp] = []
    app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0)
    hook = lambda m: isinstance(m, messages.ExitApp) and exits.append(m)  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        await pilot.press("space", "space", "s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.sync_status.unsent == 2
        await pilot.press("q")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        assert "2 项操作尚未发送" in dialog.message and "下次同步" in dialog.message, dialog.message
        await pilot.press("escape")  # stay
        await settle(pilot)
        assert not exits and not isinstance(app.screen, QuitDialog)
        await pilot.press("q")
        await settle(pilot)
        await pilot.press("y")
        await settle_until_exit(pilot)
        assert len(exits) == 1
    assert len(outbox(path)) == 2, "the replica keeps them"


async def test_the_demo_asks_before_discarding_unsent_work_and_can_sync_first(township):
    server, path, runner, ids, where, clock = township
    exits: list[messages.ExitApp] = []
    app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0, replica_is_temporary=True)
    hook = lambda m: isinstance(m, messages.ExitApp) and exits.append(m)  # noqa: E731
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        first = app.screen.query_one(TicketTable).current.id
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("q")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        assert "1 项操作尚未发送" in dialog.message and "删除" in dialog.message, dialog.message
        assert not exits
        await pilot.press("r")  # sync first, then quit
        await settle_until_exit(pilot)
        assert len(exits) == 1
    assert outbox(path) == []
    assert server.ticket(first)["ticket"]["status"] == "in_progress"


async def test_a_sync_already_running_elsewhere_is_not_shown_as_a_failure(township):
    """A cron ``fycli sync`` holds the replica's sync lock: the app's sync waits, gives up,
    says so when the liaison asked (``r``), and never paints the bar red for it."""
    from sync.lock import sync_lock

    server, path, runner, ids, where, clock = township
    finished: list[SyncFinished] = []
    notices: list[str] = []
    app = make_app(path, clock=clock, sync_runner=runner, undo_grace=0)

    def hook(m) -> None:
        if isinstance(m, SyncFinished):
            finished.append(m)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await settle(pilot)
        app.notify = lambda text, **kw: notices.append(str(text))  # type: ignore[method-assign]
        with sync_lock(path, 1):  # another process's sync (a flock on its own descriptor)
            app.run_sync(manual=True)
            await settle(pilot)
        assert finished[-1].outcome.failure == "busy", finished[-1].outcome
        assert "同步失败" not in bar(app), bar(app)
        assert any("另一同步正在进行" in n for n in notices), notices
        app.run_sync(manual=True)  # the other sync ended: ours runs
        await settle(pilot)
        assert finished[-1].outcome.ok and "同步失败" not in bar(app)
