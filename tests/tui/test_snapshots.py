"""Snapshots of the main screens, in Chinese and English (fixed data, clock and size).

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs (``snapshot_report.html``) before committing them.
"""

from __future__ import annotations

import pytest

from local_db.api import TicketQuery, View
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock
from tests.tui.conftest import SIZE, make_app, make_conflict, settle

LANGS = ["zh", "en"]


def first_in(path, view: View) -> str:
    with Replica.open(path, clock=fixed_clock) as r:
        return r.query(TicketQuery(view=view), limit=1)[0].id


def snap(snap_compare, app, *keys: str) -> bool:
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return snap_compare(app, run_before=run_before, terminal_size=SIZE)


@pytest.mark.parametrize("lang", LANGS)
def test_queue(snap_compare, replica_path, lang):
    assert snap(snap_compare, make_app(replica_path, lang=lang), "space", "space", "down")


@pytest.mark.parametrize("lang", LANGS)
def test_detail(snap_compare, replica_path, lang):
    assert snap(snap_compare, make_app(replica_path, lang=lang), "2", "enter")


@pytest.mark.parametrize("lang", LANGS)
def test_bulk_confirmation(snap_compare, replica_path, lang):
    assert snap(snap_compare, make_app(replica_path, lang=lang), "space", "space", "space", "s")


@pytest.mark.parametrize("lang", LANGS)
def test_conflicts(snap_compare, replica_path, lang):
    make_conflict(replica_path, first_in(replica_path, View.IN_PROGRESS))
    assert snap(snap_compare, make_app(replica_path, lang=lang), "x")


@pytest.mark.parametrize("lang", LANGS)
def test_dashboard(snap_compare, replica_path, lang):
    assert snap(snap_compare, make_app(replica_path, lang=lang), "d")


@pytest.mark.parametrize("lang", LANGS)
def test_bulk_confirmation_with_tickets_apart_and_a_typed_count(snap_compare, replica_path, lang):
    # 全部, mark all, then 办结: 待签收 tickets behind their own box, 50+ so the count is typed
    assert snap(snap_compare, make_app(replica_path, lang=lang), "8", "asterisk", "c")


@pytest.mark.parametrize("lang", LANGS)
def test_quit_with_unsent_actions(snap_compare, replica_path, lang):
    assert snap(snap_compare, make_app(replica_path, lang=lang), "s", "q")
