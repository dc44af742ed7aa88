"""The whole ticket as text: header, facts, description, reply, notes, history, unsent actions."""

from __future__ import annotations

import datetime as dt
import json

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from local_db.api import TicketDetail
from schemas.calendar import BEIJING
from schemas.terminal import safe, safe_text
from tui.core.units import UnitNames
from tui.i18n import Translator
from tui.widgets.queue.ticket_table import badge_text, urgency_style


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def flags_line(t: Translator, d: TicketDetail) -> Text:
    f = d.ticket.flags
    parts: list[tuple[str, str]] = []
    if f.urged:
        parts.append((t("detail.urged_n", n=f.urged), "bold yellow"))
    if f.supervised:
        parts.append((t("detail.supervised"), "bold dark_orange"))
    if f.listed:
        parts.append((t("detail.listed"), "bold red"))
    if f.escalated:
        note = f" ({safe(f.escalation_note)})" if f.escalation_note else ""
        parts.append((t("detail.escalated") + note, "bold magenta"))
    text = Text()
    if not parts:
        return Text(t("detail.no_flags"), style="dim")
    for i, (label, style) in enumerate(parts):
        if i:
            text.append("  ")
        text.append(label, style=style)
    return text


def pending_summary(t: Translator, kind: str, action_json: str) -> str:
    """The unsent action as a person says it, its text escaped (an older fycli may have queued
    control characters the replica now refuses)."""
    label = t(f"kind.{kind}")
    try:
        data = json.loads(action_json)
    except ValueError:
        return label
    for key in ("reply", "text", "reason"):
        if data.get(key):
            return f"{label}：{safe_text(data[key])}"
    return label


def render_detail(t: Translator, d: TicketDetail, units: UnitNames | None = None) -> RenderableType:
    """Every text held by the replica is the server's (or an older version's): each is shown
    through safe()/safe_text(), so an escape sequence in it is seen, never run."""
    tk = d.ticket
    header = Text()
    header.append(f"{tk.id}  ", style="bold")
    header.append(safe(tk.title), style="bold")
    header.append("   ")
    header.append_text(
        badge_text(d.badge, t) if d.badge != "synced" else Text(t("badge.synced"), style="green")
    )

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column()
    provisional = t("detail.provisional") if tk.deadline_provisional else ""
    left = Text(t.days_left(d.days_left), style=urgency_style(d.days_left))
    unit = (units or UnitNames()).label(t, tk.unit_id)
    facts.add_row(t("detail.status"), t.status(tk.status), t("detail.unit"), unit)
    facts.add_row(
        t("detail.channel"),
        t.channel(tk.channel),
        t("detail.type"),
        tk.appeal_type.label if t.lang == "zh" else tk.appeal_type.value,
    )
    facts.add_row(
        t("detail.category"), t.category(tk.category), t("detail.complexity"), t.complexity(tk.complexity)
    )
    facts.add_row(
        t("detail.sign_due"),
        (tk.sign_due.isoformat() if tk.sign_due else "—") + provisional,
        t("detail.handle_due"),
        (tk.handle_due.isoformat() if tk.handle_due else "—") + provisional,
    )
    facts.add_row(t("detail.left"), left, t("detail.flags"), flags_line(t, d))
    facts.add_row(
        t("detail.citizen"),
        safe(f"{tk.citizen_name}  {tk.citizen_phone}"),
        t("detail.address"),
        safe(tk.address),
    )
    counters = tk.counters
    facts.add_row(
        "",
        "",
        "",
        Text(
            t(
                "detail.counters",
                returns=counters.returns,
                extensions=counters.extensions,
                reworks=counters.reworks,
                rejections=counters.reply_rejections,
            ),
            style="dim",
        ),
    )
    if tk.satisfaction is not None:
        facts.add_row(
            t("detail.satisfaction"),
            tk.satisfaction.label if t.lang == "zh" else tk.satisfaction.value,
            "",
            "",
        )
    if tk.return_reason:
        facts.add_row(t("detail.return_reason"), safe_text(tk.return_reason), "", "")
    if tk.extension is not None:
        facts.add_row(
            t("detail.extension"),
            t("detail.extension_text", days=tk.extension.days, reason=tk.extension.reason),
            "",
            "",
        )

    parts: list[RenderableType] = [header]
    if not d.in_scope:
        parts.append(Text(t("detail.out_of_scope"), style="bold red"))
    parts.append(facts)
    parts.append(
        Panel(
            Text(safe_text(tk.description) or "—"),
            title=t("detail.description"),
            title_align="left",
            border_style="blue",
        )
    )
    reply = Text(safe_text(tk.reply)) if tk.reply else Text(t("detail.no_reply"), style="dim")
    parts.append(Panel(reply, title=t("detail.reply"), title_align="left", border_style="green"))
    if d.pending:
        pending = Text()
        for i, entry in enumerate(d.pending):
            if i:
                pending.append("\n")
            pending.append(f"{when(entry.created_at)}  ", style="dim")
            pending.append(pending_summary(t, entry.kind, entry.action_json), style="yellow")
        parts.append(Panel(pending, title=t("detail.pending"), title_align="left", border_style="yellow"))
    notes = Text()
    for i, note in enumerate(d.notes):
        if i:
            notes.append("\n")
        notes.append(f"{when(note.created_at)}  {safe(note.author)}  ", style="dim")
        notes.append(safe_text(note.text))
    if not d.notes:
        notes.append(t("detail.no_notes"), style="dim")
    parts.append(Panel(notes, title=t("detail.notes"), title_align="left", border_style="cyan"))
    history = Table.grid(padding=(0, 2))
    history.add_column(style="dim", no_wrap=True)
    history.add_column(no_wrap=True)
    history.add_column(no_wrap=True)
    history.add_column()
    for event in d.events:
        move = t.status(event.to_status)
        if event.from_status is not None and event.from_status != event.to_status:
            move = f"{t.status(event.from_status)} → {move}"
        history.add_row(when(event.at), t.event(event.action), move, t.actor(event.actor))
    parts.append(
        Panel(
            history if d.events else Text(t("detail.no_notes"), style="dim"),
            title=t("detail.history"),
            title_align="left",
            border_style="magenta",
        )
    )
    return Group(*parts)


class TicketView(Static):
    def show(self, t: Translator, detail: TicketDetail, units: UnitNames | None = None) -> None:
        self.update(render_detail(t, detail, units))
