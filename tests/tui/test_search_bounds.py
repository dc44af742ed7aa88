"""The app's search box on a search too long to run: a message, the list unchanged (issue 9, defect 16)."""

from __future__ import annotations

import pytest

from tests.tui.conftest import SIZE, make_app, settle
from tui.widgets.queue.search_box import SearchBox

pytestmark = pytest.mark.anyio


async def test_a_pasted_search_of_500_words_is_refused_with_a_message(replica_path):
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("8")
        await settle(pilot)
        queue = app.screen
        before = queue.total
        queue.query_one(SearchBox).value = " ".join(f"wifi{i}" for i in range(500))  # a paste
        await settle(pilot)
        assert app.is_running and app.screen is queue
        assert queue.q.search == "" and queue.total == before  # nothing was searched
        shown = [n.message for n in app._notifications]
        assert any("too long" in m and "at most 16 words" in m for m in shown), shown
