"""A bulk action acts only on what the liaison sees marked, and says what it really did.

Issue 9, defects 3 and 9: "mark all" made under one view and filter must not act on tickets of
another view; a 待签收 ticket that a resolve would sign for first needs its own consent; a
bulk action over 50+ tickets asks for the count to be typed; a sign-for that changes nothing
says so instead of "saved, waiting to send". Real replica file (300 seeded tickets).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Select

from local_db.api import TicketQuery, View
from local_db.replica import Replica
from schemas.enums import Status
from tests.local_db.factory import fixed_clock
from tests.tui.conftest import SIZE, make_app, settle
from tui.messages import ActionsDone
from tui.screens.dialogs.bulk_confirm import BulkConfirmDialog
from tui.screens.dialogs.outcome import OutcomeDialog
from tui.screens.dialogs.reply import ReplyDialog
from tui.screens.queue import QueueScreen
from tui.widgets.queue.ticket_table import TicketTable

pytestmark = pytest.mark.anyio

CATEGORY = "城市管理"


def ids_of(path: Path, q: TicketQuery) -> list[str]:
    with Replica.open(path, clock=fixed_clock) as r:
        return list(r.ids_matching(q))


def statuses(path: Path, q: TicketQuery) -> dict[str, Status]:
    with Replica.open(path, clock=fixed_clock) as r:
        return {row.id: row.status for row in r.query(q, limit=10_000)}


def outbox(path: Path) -> list:
    with Replica.open(path, clock=fixed_clock) as r:
        return r.outbox(limit=10_000)


async def filter_category(pilot, category: str) -> None:
    """Set the category filter through the filter dialog, as a liaison does."""
    await pilot.press("f")
    await settle(pilot)
    pilot.app.screen.query_one("#category", Select).value = category
    await pilot.press("ctrl+s")
    await settle(pilot)


async def test_mark_all_under_one_view_acts_only_on_the_view_being_looked_at(replica_path):
    in_progress = set(ids_of(replica_path, TicketQuery(view=View.IN_PROGRESS, category=CATEGORY)))
    everything = ids_of(replica_path, TicketQuery(view=View.ALL, category=CATEGORY))
    assert 0 < len(in_progress) < len(everything)  # 17 of 42 in the seeded replica
    seen: list[ActionsDone] = []
    app = make_app(replica_path)
    async with app.run_test(
        size=SIZE, message_hook=lambda m: isinstance(m, ActionsDone) and seen.append(m)
    ) as pilot:
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        await pilot.press("8")  # 全部
        await settle(pilot)
        await filter_category(pilot, CATEGORY)
        await pilot.press("asterisk")
        await settle(pilot)
        resolve = next(b for b in QueueScreen.BINDINGS if b.id == "resolve")
        assert queue.key_label(resolve) == f"办结({len(everything)})"
        await pilot.press("2")  # 办理中: the marks stay, but only those seen here count
        await settle(pilot)
        assert queue.marks.count == len(everything), "marks outside the view are kept"
        assert queue.key_label(resolve) == f"办结({len(in_progress)})"
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmDialog)
        assert dialog.plan.targets == tuple(
            ids_of(replica_path, TicketQuery(view=View.IN_PROGRESS, category=CATEGORY))
        )
        assert dialog.plan.outside == len(everything) - len(in_progress)
        assert not dialog.plan.needs_first
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog) and app.screen.count == len(in_progress)
        await pilot.press("enter", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, OutcomeDialog)
        await pilot.press("escape")
        await settle(pilot)
        # what was done is unmarked; the marks outside the view are still there
        assert queue.marks.count == len(everything) - len(in_progress)
    assert [len(m.results) for m in seen] == [len(in_progress)]
    queued = outbox(replica_path)
    assert {e.ticket_id for e in queued} == in_progress
    assert {e.kind for e in queued} == {"resolve"}, "nothing outside 办理中 was signed for"


async def test_tickets_that_need_signing_for_first_need_their_own_consent(replica_path):
    q = TicketQuery(view=View.ALL, category=CATEGORY)
    by_id = statuses(replica_path, q)
    to_sign = {i for i, s in by_id.items() if s == Status.ASSIGNED}
    assert to_sign  # 6 in the seeded replica
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        await filter_category(pilot, CATEGORY)
        await pilot.press("asterisk", "c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmDialog)
        assert set(dialog.plan.needs_first) == to_sign
        assert to_sign.isdisjoint(dialog.plan.targets)
        counted = {s: n for s, n in dialog.plan.by_status.items()}
        expected = {}
        for ticket_id in dialog.plan.targets:
            expected[by_id[ticket_id]] = expected.get(by_id[ticket_id], 0) + 1
        assert counted == expected
        assert not dialog.query_one("#needs-first", Checkbox).value, "their consent is not given for them"
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog)
        assert app.screen.count == len(dialog.plan.targets)
        await pilot.press("enter", "ctrl+s")
        await settle(pilot)
    queued = outbox(replica_path)
    assert not any(e.kind == "accept" for e in queued)
    assert to_sign.isdisjoint(e.ticket_id for e in queued)


async def test_consenting_to_the_sign_for_first_tickets_includes_them(replica_path):
    q = TicketQuery(view=View.ASSIGNED, category=CATEGORY)
    to_sign = set(ids_of(replica_path, q))
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await filter_category(pilot, CATEGORY)  # 待签收 view
        await pilot.press("asterisk", "c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmDialog) and set(dialog.plan.needs_first) == to_sign
        dialog.query_one("#needs-first", Checkbox).value = True
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, ReplyDialog) and app.screen.count == len(to_sign)
        await pilot.press("enter", "ctrl+s")
        await settle(pilot)
    kinds = sorted((e.ticket_id, e.kind) for e in outbox(replica_path))
    assert kinds == sorted([(i, "accept") for i in to_sign] + [(i, "resolve") for i in to_sign])


async def test_a_bulk_action_over_fifty_tickets_asks_for_the_count_to_be_typed(replica_path):
    everything = ids_of(replica_path, TicketQuery(view=View.ALL))
    assert len(everything) >= 50
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8", "asterisk")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, BulkConfirmDialog)
        await pilot.press("y")  # typed into the count box: not a consent
        await settle(pilot)
        assert app.screen is dialog
        box = dialog.query_one("#typed-count", Input)
        box.value = str(len(everything) - 1)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog, "a wrong count is no consent"
        box.value = str(len(everything))
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, BulkConfirmDialog)
        await pilot.press(*"巡查记录", "enter")
        await settle(pilot)
    assert len([e for e in outbox(replica_path) if e.kind == "note"]) == len(everything)


async def test_a_sign_for_that_does_nothing_says_so(replica_path):
    seen: list[ActionsDone] = []
    app = make_app(replica_path)
    async with app.run_test(
        size=SIZE, message_hook=lambda m: isinstance(m, ActionsDone) and seen.append(m)
    ) as pilot:
        await settle(pilot)
        await pilot.press("2")  # 办理中: already signed for
        await settle(pilot)
        await pilot.press("space", "space", "s")
        await settle(pilot)
        assert isinstance(app.screen, BulkConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, OutcomeDialog)
        assert dialog.title_text == "执行结果：已保存 0，无需操作 2，未执行 0"
        assert [line.result for line in dialog.lines] == ["无需操作：已完成，未加入待发送"] * 2
        assert app.sync_status.unsent == 0
    assert [[r.action_id for r in m.results] for m in seen] == [[None, None]]
    assert outbox(replica_path) == []


def resolved_locally(path: Path, n: int) -> list[str]:
    """Resolve the first ``n`` 办理中 tickets in the replica (queued, unsent): a first close."""
    ids = ids_of(path, TicketQuery(view=View.IN_PROGRESS))[:n]
    with Replica.open(path, clock=fixed_clock) as r:
        assert all(res.ok for res in r.resolve(ids, "第一次答复"))
    return ids


async def reply_with_a_template(pilot) -> None:
    """The first template as the reply (not the first close's reply), then send."""
    assert isinstance(pilot.app.screen, ReplyDialog)
    await pilot.press("enter", "ctrl+s")
    await settle(pilot)


async def test_a_second_resolve_kept_as_a_note_says_so(replica_path):
    """Issue 9 follow-up: a reply to an already resolved ticket is queued as a note; the app
    said "办结 已保存，待发送" as if the ticket had been resolved with it."""
    first = resolved_locally(replica_path, 1)
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_detail(first[0])
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await reply_with_a_template(pilot)
        said = [str(n.message) for n in app._notifications]
        assert said[-1] == f"办结 {first[0]}：该工单已办结，未再次办结；这条答复已改存为便签，待发送"
        assert app.sync_status.unsent == 2
    notes = [e for e in outbox(replica_path) if e.kind == "note"]
    assert [e.ticket_id for e in notes] == first


async def test_a_bulk_second_resolve_lists_the_replies_kept_as_notes(replica_path):
    first = resolved_locally(replica_path, 2)
    app = make_app(replica_path, lang="en")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8")  # 全部
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, QueueScreen)
        table = queue.query_one(TicketTable)
        for _ in range(300):  # down the list, marking the two tickets (space moves on a row)
            if not set(first) - queue.marks.include:
                break
            await pilot.press("space" if table.current.id in first else "down")
            await settle(pilot)
        assert queue.marks.include == set(first)
        await pilot.press("c")
        await settle(pilot)
        if isinstance(app.screen, BulkConfirmDialog):
            await pilot.press("y")
            await settle(pilot)
        await reply_with_a_template(pilot)
        dialog = app.screen
        assert isinstance(dialog, OutcomeDialog)
        assert dialog.title_text == "Result: 0 saved, 2 kept as a note, 0 nothing to do, 0 not done"
        assert [line.result for line in dialog.lines] == [
            "already resolved: the reply was kept as a note instead, waiting to send"
        ] * 2
