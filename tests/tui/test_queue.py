"""Pilot tests of the queue over a real replica: paging, search, marks, bulk, undo, rebinding."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_db.api import SortKey, TicketQuery, View
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock
from tests.tui.conftest import SIZE, make_app, settle
from tui.core.config import load_app_config
from tui.screens.dialogs.bulk_confirm import BulkConfirmDialog
from tui.screens.dialogs.outcome import OutcomeDialog
from tui.screens.dialogs.reply import ReplyDialog
from tui.screens.queue import QueueScreen
from tui.widgets.queue.ticket_table import TicketTable

pytestmark = pytest.mark.anyio


def replica_ids(path: Path, q: TicketQuery, limit: int = 1000) -> list[str]:
    with Replica.open(path, clock=fixed_clock) as r:
        return [row.id for row in r.query(q, limit=limit)]


def pending(path: Path) -> list:
    with Replica.open(path, clock=fixed_clock) as r:
        return r.outbox(limit=10_000)


@contextlib.contextmanager
def database_held(app) -> Iterator[None]:
    """Hold the app's database thread busy for the body; returns only once it really is held
    (a started thread alone may not have reached the gateway before the first keystroke)."""
    held, release = threading.Event(), threading.Event()

    def hold(_replica: Replica) -> None:
        held.set()
        assert release.wait(10), "the database thread was held too long"

    blocker = threading.Thread(target=lambda: app.gateway.call(hold))
    blocker.start()
    try:
        assert held.wait(10), "the database thread did not take the blocker"
        yield
    finally:
        release.set()
        blocker.join()


async def test_the_table_holds_a_window_and_pages_through_the_whole_list(replica_path):
    app = make_app(replica_path)
    expected = replica_ids(replica_path, TicketQuery(view=View.ALL, sort=SortKey.DEADLINE))
    assert len(expected) == 300
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8")  # the "all" view
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        table = queue.query_one(TicketTable)
        # Down the whole list by pages and single rows, crossing window edges both ways,
        # checking at each stop that the row under the cursor is the one the replica has there.
        moves = ["pagedown"] * 3 + ["down"] * 5 + ["pagedown"] * 3 + ["down"] * 3 + ["pagedown"] * 4
        moves += ["down"] * 2 + ["pageup"] * 4 + ["up"] * 5 + ["pageup"] * 3 + ["up"] * 3
        furthest = 0
        for key in moves:
            await pilot.press(key)
            await settle(pilot)
            assert table.row_count <= 100, "the table must hold a window, never the whole list"
            assert table.current.id == expected[table.position], key
            furthest = max(furthest, table.position)
        assert furthest == 299, "page-down reached the end of the list"
        assert table.position < 200 and table.window.start < 150


async def test_chinese_search_two_character_word(replica_path):
    expected = replica_ids(replica_path, TicketQuery(view=View.ALL, search="噪音"))
    assert 0 < len(expected) < 300
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8", "slash")
        for ch in "噪音":
            await pilot.press(ch)
        await settle(pilot)
        queue = app.screen
        assert queue.q.search == "噪音"
        assert queue.total == len(expected)
        table = queue.query_one(TicketTable)
        assert [r.id for r in table.window.rows] == expected[:100]
        # Esc back to the table, Esc again clears the search
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        assert queue.q.search == "" and queue.total == 300


async def test_mark_range_then_bulk_resolve_with_one_reply(replica_path):
    in_progress = replica_ids(replica_path, TicketQuery(view=View.IN_PROGRESS))
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")  # 办理中
        await settle(pilot)
        queue = app.screen
        await pilot.press("space")  # row 0 marked, cursor on row 1
        await pilot.press("down", "down", "down")
        await pilot.press("v")  # range 0..4
        assert queue.marks.count == 5
        assert queue.key_label(next(b for b in QueueScreen.BINDINGS if b.id == "resolve")).endswith("(5)")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, BulkConfirmDialog) and app.screen.plan.by_status == {"in_progress": 5}
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog) and app.screen.count == 5
        await pilot.press("enter")  # first template into the text
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, OutcomeDialog)
        assert len(app.screen.lines) == 5 and all(line.ok for line in app.screen.lines)
        await pilot.press("escape")
        await settle(pilot)
        assert queue.marks.empty
        assert app.sync_status.unsent == 5
    resolves = [e for e in pending(replica_path) if e.kind == "resolve"]
    assert sorted(e.ticket_id for e in resolves) == sorted(in_progress[:5])


async def test_mark_all_matching_is_a_filter_and_survives_view_changes(replica_path):
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        await pilot.press("asterisk")
        assert queue.marks.base == queue.q and not queue.marks.include
        assigned = queue.total
        assert queue.marks.count == assigned
        await pilot.press("space")  # unmark the first
        assert queue.marks.count == assigned - 1 and len(queue.marks.exclude) == 1
        await pilot.press("8")  # another view: marks stay
        await settle(pilot)
        assert queue.marks.count == assigned - 1
        # the bulk keys count what they would act on: the marks this view shows (all of them:
        # 全部 holds every 待签收 ticket)
        accept = next(b for b in QueueScreen.BINDINGS if b.id == "accept")
        assert queue.key_label(accept) == f"签收({assigned - 1})"
        await pilot.press("2")  # 办理中 shows none of them
        await settle(pilot)
        assert queue.key_label(accept) == "签收(0)" and queue.marks.count == assigned - 1
        await pilot.press("8")
        await settle(pilot)
        table = queue.query_one(TicketTable)
        marked_here = [r for r in table.window.rows if queue._is_marked(r)]
        assert marked_here and all(r.status == "assigned" for r in marked_here)
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("i")  # invert: only the one unmarked
        await settle(pilot)
        assert queue.marks.count == 1
        await pilot.press("escape")
        assert queue.marks.empty


async def test_bulk_sign_for_asks_once_with_the_count(replica_path):
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        await pilot.press("space", "space", "space")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, BulkConfirmDialog)
        assert len(app.screen.plan.targets) == 3 and app.screen.plan.by_status == {"assigned": 3}
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, OutcomeDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert queue.marks.empty
    assert len([e for e in pending(replica_path) if e.kind == "accept"]) == 3


async def test_undo_an_unsent_action(replica_path):
    assigned = replica_ids(replica_path, TicketQuery(view=View.ASSIGNED))
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        await pilot.press("s")  # sign for the ticket under the cursor
        await settle(pilot)
        assert app.sync_status.unsent == 1
        assert queue.total == len(assigned) - 1
        await pilot.press("u")
        await settle(pilot)
        assert app.sync_status.unsent == 0
        assert queue.total == len(assigned)
        assert queue.query_one(TicketTable).window.rows[0].id == assigned[0]
    assert pending(replica_path) == []


async def test_rebind_a_key_from_config(replica_path, tmp_path):
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "config.toml").write_text(
        'server_url = "http://127.0.0.1:9"\ndatabase = "replica.db"\n\n[keys]\nresolve = "ctrl+d"\n',
        encoding="utf-8",
    )
    config = load_app_config(config_dir)
    assert config.keymap == {"resolve": "ctrl+d"} and config.problem is None
    app = make_app(replica_path, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("c")  # no longer bound
        await settle(pilot)
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog)


async def test_detail_shows_the_ticket_and_its_unsent_action(replica_path):
    from tui.screens.detail import DetailScreen

    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ticket_id = app.screen.query_one(TicketTable).current.id
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DetailScreen) and detail.detail.ticket.id == ticket_id
        assert "*" in detail.detail.ticket.citizen_phone or detail.detail.ticket.needs_callback
        await pilot.press("n")
        await settle(pilot)
        for ch in "已电话联系":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        assert detail.detail.badge == "pending" and len(detail.detail.pending) == 1
        await pilot.press("u")
        await settle(pilot)
        assert detail.detail.pending == []


async def test_typing_fast_folds_keystrokes_into_one_search(replica_path):
    """With a typing delay, a keystroke right after another waits for the pause (or Enter)."""
    app = make_app(replica_path, search_delay=3600)  # a pause never comes in this test: Enter does it
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        await pilot.press("8", "slash", "噪")
        await settle(pilot)
        assert queue.q.search == "噪", "the first keystroke after a pause searches at once"
        await pilot.press("音")
        await settle(pilot)
        assert queue.q.search == "噪", "the next one waits for the typing to pause"
        await pilot.press("enter")
        await settle(pilot)
        assert queue.q.search == "噪音"
        assert isinstance(app.focused, TicketTable)


async def test_a_superseded_search_never_reaches_the_database(replica_path, monkeypatch):
    ran: list[str] = []
    original = Replica.query

    def spy(self, q, *args, **kwargs):
        if q.search:
            ran.append(q.search)
        return original(self, q, *args, **kwargs)

    monkeypatch.setattr(Replica, "query", spy)
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        await pilot.press("slash")
        # Hold the database thread busy while three searches are typed: the two older ones
        # are cancelled before their turn comes and must not run.
        with database_held(app):
            for ch in "噪音x":
                await pilot.press(ch)
            await pilot.pause()
        await settle(pilot)
        assert queue.q.search == "噪音x"
        assert ran == ["噪音x"], ran


async def test_mark_all_right_after_a_view_change_uses_the_new_count(replica_path):
    everything = len(replica_ids(replica_path, TicketQuery(view=View.ALL)))
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        queue = app.screen
        assigned = queue.total
        assert 0 < assigned < everything
        # Hold the database thread so the new view's count cannot arrive before `*`.
        with database_held(app):
            await pilot.press("8", "asterisk")
            assert queue.marks.count != assigned, "the 待签收 count must not be used for 全部"
        await settle(pilot)
        assert queue.marks.by_filter and queue.marks.base.view == View.ALL
        assert queue.marks.count == everything
        # and the confirmation asks with that count
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, BulkConfirmDialog) and len(app.screen.plan.targets) == everything


async def test_a_click_moves_the_cursor_and_a_second_click_opens_the_row(replica_path):
    from tui.screens.detail import DetailScreen

    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one(TicketTable)
        await pilot.click(TicketTable, offset=(20, 3))  # line 0 is the header: row index 2
        await settle(pilot)
        assert table.cursor_row == 2
        await pilot.click(TicketTable, offset=(20, 3))
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen) and app.screen.ticket_id == table.window.rows[2].id
