"""The key bar: the keys of the current screen, as the keymap has them now.

Textual's Footer shows a binding's fixed description; here descriptions are i18n keys, and
the bulk action keys must show how many tickets they will act on ("办结(12)"), so the bar
asks its screen for each label (``key_label``).
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $boost; padding: 0 0; }
    """

    def on_mount(self) -> None:
        self.app.call_after_refresh(self.redraw)

    def label(self, binding: Binding) -> str:
        custom = getattr(self.screen, "key_label", None)
        if custom is not None:
            return custom(binding)
        return self.app.t(binding.description)  # type: ignore[attr-defined]

    def redraw(self, *_: object) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            text.append(f" {self.app.get_key_display(binding)} ", style="bold reverse")
            text.append(f" {self.label(binding)} ")
        self.update(text, layout=False)  # one line, fixed height: no relayout per keypress
