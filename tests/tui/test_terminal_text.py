"""The app never sends a control character it was given to the terminal.

Issue 9, defect 15, on the app's side: text an older server could have sent (or an older
fycli stored) sits in the replica with an escape sequence in it. Rich's ``Text`` drops BEL
but passes ESC and U+009B (CSI for some terminals), so the app must escape them itself, the
way the command line does (``schemas/terminal.py``). Each test renders real screens over a
real replica file and reads every segment that would go to the terminal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from textual.widgets._toast import Toast

from local_db.replica import Replica
from schemas.enums import EpochCause, Reason, Status
from schemas.wire import ActionResult
from tests.local_db.factory import FIXED_NOW, fixed_clock, make_replica, page, ticket_json
from tests.tui.conftest import SIZE, make_app, settle
from tui.screens.conflicts import ConflictsScreen
from tui.screens.detail import DetailScreen
from tui.screens.dialogs.outcome import OutcomeDialog, OutcomeLine

pytestmark = pytest.mark.anyio

PWNED = "\x1b]0;pwned\x07"  # sets the terminal's title, then rings: an escape sequence
CSI = "\x9b2J"  # clears the screen on terminals that read C1 controls
HOSTILE = "FY9999001"
LISTED = "FY9999002"  # stays in the unit's lists (the first one's conflict moves it away)
#: Every control character a terminal would act on (newline and tab are layout, not commands).
CONTROLS = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def hostile_replica(path: Path) -> None:
    """A replica holding, as an older server could have sent it, a ticket whose every text field
    and note carries an escape sequence, and a refused reply whose server side does too."""
    make_replica(path, 3, seed=2).close()
    ticket = ticket_json(
        HOSTILE,
        title=f"路灯{PWNED}不亮",
        description=f"描述{PWNED}\n第二行{CSI}",
        address=f"人民路{PWNED}",
        citizen_name=f"张{PWNED}",
        village=f"人民{PWNED}",
        flags={"urged": 0, "supervised": False, "listed": False, "escalated": True,
               "escalation_note": f"升级{PWNED}"},
    )  # fmt: skip
    listed = ticket_json(LISTED, title=f"井盖{PWNED}缺失", village=f"东{CSI}村")
    note = {
        "id": "old-note",
        "ticket_id": HOSTILE,
        "kind": "note",
        "text": f"旧便签{PWNED}",
        "author": f"乙{CSI}",
        "created_at": (FIXED_NOW - dt.timedelta(hours=3)).isoformat(),
    }
    with Replica.open(path, clock=fixed_clock) as replica:
        replica.apply_pull_page_raw(page([ticket, listed], cursor="c2", notes=[note]))
        [result] = replica.resolve([HOSTILE], "已现场核实")
        assert result.ok, result
        [entry] = replica.outbox()
        server = replica.detail(HOSTILE).server_ticket.evolve(
            status=Status.ASSIGNED,
            unit_id="U9",
            epoch=2,
            epoch_cause=EpochCause.REASSIGN,
            past_units=["U1"],
            reply=f"他们的答复{PWNED}",
        )
        replica.apply_push_results(
            [
                ActionResult(
                    action_id=entry.action_id,
                    seq=entry.seq,
                    outcome="rejected",
                    reason=Reason.REASSIGNED,
                    message=f"已改派{PWNED}",
                    ticket=server,
                    changed_by=f"平台{CSI}",
                    changed_at=dt.datetime(2025, 6, 11, 9, 30, tzinfo=dt.UTC),
                )
            ]
        )
        assert "\x1b" in replica.detail(HOSTILE).notes[0].text  # stored as it came


def rendered(app) -> str:
    """Every character of every segment the current screen (with its toasts) would draw."""
    strips = app.screen._compositor.render_strips()
    return "".join(segment.text for strip in strips for segment in strip)


def assert_clean(text: str, where: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in CONTROLS})
    assert not found, f"{where}: control characters reach the terminal: {found}"


async def test_the_detail_screen_shows_hostile_text_escaped(tmp_path):
    path = tmp_path / "replica.db"
    hostile_replica(path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_detail(HOSTILE)
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        shown = rendered(app)
        assert_clean(shown, "detail")
        # Shown, not dropped: the liaison sees that something odd is in the text.
        assert "旧便签\\x1b]0;pwned\\x07" in shown
        assert "路灯\\x1b]0;pwned\\x07不亮" in shown


async def test_the_queue_table_shows_hostile_titles_escaped(tmp_path):
    path = tmp_path / "replica.db"
    hostile_replica(path)
    app = make_app(path)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        await pilot.press("8")  # the "all" view: every ticket of the replica
        await settle(pilot)
        shown = rendered(app)
        assert_clean(shown, "queue")
        assert "井盖\\x1b]0;pwned\\x07缺失" in shown and "东\\x9b2J村" in shown


async def test_the_conflict_inbox_shows_hostile_text_escaped(tmp_path):
    path = tmp_path / "replica.db"
    hostile_replica(path)
    app = make_app(path, lang="en")  # English shows the server's message too
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        app.action_conflicts()
        await settle(pilot)
        assert isinstance(app.screen, ConflictsScreen)
        shown = rendered(app)
        assert_clean(shown, "conflicts")
        assert "他们的答复\\x1b]0;pwned\\x07" in shown and "平台\\x9b2J" in shown


async def test_outcome_lists_and_toasts_show_hostile_text_escaped(tmp_path):
    path = tmp_path / "replica.db"
    hostile_replica(path)
    app = make_app(path, lang="en")
    async with app.run_test(size=SIZE, notifications=True) as pilot:  # toasts are drawn
        await settle(pilot)
        app.notify(f"sync failed: the server said {PWNED}", severity="error")
        await settle(pilot)
        for _ in range(20):  # the toast is mounted, then laid out, a few message rounds later
            if app.screen.query(Toast) and "said" in rendered(app):
                break
            await pilot.pause()
        toast = rendered(app)
        assert_clean(toast, "toast")
        assert "said \\x1b]0;pwned\\x07" in toast
        app.push_screen(
            OutcomeDialog(f"Result{CSI}", [OutcomeLine(HOSTILE, False, f"resolve{CSI}", f"refused: {PWNED}")])
        )
        await settle(pilot)
        listed = rendered(app)
        assert_clean(listed, "outcome list")
        assert "refused: \\x1b]0;pwned\\x07" in listed
