"""The reply that resolves a ticket (or all the marked ones): pick a template, edit, send."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from sync.config import Template


class ReplyDialog(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape", "cancel", "cancel", show=False, id="dialog_cancel"),
        Binding("ctrl+s", "submit", "submit", show=False, id="dialog_submit"),
        # Tab from the template list to the reply, at once: as a plain binding it is handled
        # only after the key bubbles up from the list, and keys typed right after it (a
        # liaison typing on while the app is busy, delivered in one read) were already given to
        # the list, which drops them. A priority binding moves the focus before the next key.
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(self, count: int, templates: list[Template], initial: str = "") -> None:
        super().__init__()
        self.count = count
        self.templates = templates
        self.initial = initial

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        with Vertical(classes="dialog wide"):
            yield Static(t("dialog.reply_title", n=self.count), classes="dialog-title")
            if self.templates:
                yield Static(t("dialog.templates"), classes="dialog-hint")
                yield OptionList(
                    *[
                        Option(Text(f"{i}. {tpl.title}"), id=str(i))
                        for i, tpl in enumerate(self.templates, 1)
                    ],
                    id="templates",
                )
            area = TextArea(self.initial, id="reply", soft_wrap=True, show_line_numbers=False)
            area.placeholder = t("dialog.reply_placeholder")
            yield area
            yield Static("", id="error", classes="dialog-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(t("dialog.ok") + " (ctrl+s)", variant="primary", id="ok")
                yield Button(t("dialog.cancel") + " (Esc)", id="cancel")

    def on_mount(self) -> None:
        # Most replies start from a template: ↓/Enter picks one, then the text is there to edit.
        if self.templates and not self.initial:
            self.query_one("#templates", OptionList).focus()
        else:
            self.query_one("#reply", TextArea).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        template = self.templates[int(event.option.id or "1") - 1]
        area = self.query_one("#reply", TextArea)
        area.text = template.text
        area.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        text = self.query_one("#reply", TextArea).text.strip()
        if not text:
            self.query_one("#error", Static).update(self.app.t("dialog.required"))  # type: ignore[attr-defined]
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
