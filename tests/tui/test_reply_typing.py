"""Typing a reply at once: Tab and the text that arrive together right after the reply dialog
opens (a liaison typing on while the app is busy: the terminal delivers them in one read) all
land in the reply box. Seen in the real app in tmux: ~1 in 3 replies lost their first keys."""

from __future__ import annotations

import pytest
from textual import events
from textual.widgets import TextArea

from tests.tui.conftest import SIZE, make_app, settle
from tui.screens.dialogs.reply import ReplyDialog

pytestmark = pytest.mark.anyio


def burst(app, keys: list[str]) -> None:
    """Post ``keys`` to the app in one go, as a terminal read of several keys does (the pilot's
    press() waits for each key to be handled: that hides the race this test is about)."""
    for key in keys:
        character = {"tab": "\t"}.get(key, key)
        app.post_message(events.Key(key, character))


async def open_reply(pilot) -> ReplyDialog:
    await settle(pilot)
    await pilot.press("2")  # 办理中
    await settle(pilot)
    await pilot.press("c")  # the row under the cursor: no bulk confirmation
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ReplyDialog) and dialog.templates  # the template list has the focus
    return dialog


async def test_tab_then_text_typed_at_once_all_reach_the_reply(replica_path):
    app = make_app(replica_path)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await open_reply(pilot)
        burst(app, ["tab", *"race"])
        await settle(pilot)
        assert app.screen is dialog
        assert dialog.query_one("#reply", TextArea).text == "race"
        assert app.focused is dialog.query_one("#reply", TextArea)
