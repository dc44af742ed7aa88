"""The end of the day: what every process reported as saved is on the server exactly once, the
replica file is sound, and the replica equals the server. Each check returns findings (one
line each); an empty list means it held. The central database is only read (mode=ro)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.multiproc.world import read_only


@dataclass(frozen=True)
class Claim:
    """One thing a process said it saved: the app's outcome list, or a command's --json."""

    source: str  # "app" or the command ("close", "note")
    kind: str  # accept, resolve, note
    ticket_id: str
    text: str | None = None  # the note's text or the reply
    action_ids: tuple[str, ...] = ()  # what the command said it queued (the app does not say)


@dataclass(frozen=True)
class CountedClaim:
    """A bulk action too big to read off the screen line by line: the count it said was saved."""

    source: str
    text: str  # the note's text, given to this action alone
    count: int


def integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.Error as exc:
        return [f"PRAGMA integrity_check on the replica failed: {exc}"]
    finally:
        conn.close()
    return [] if result == ["ok"] else [f"PRAGMA integrity_check: {'; '.join(result[:5])}"]


@dataclass
class ServerView:
    """What the central database holds of one liaison's work."""

    actions: dict[str, tuple[str, str, str, dict]]  # action id → (ticket, kind, outcome, payload)
    notes: Counter  # (ticket, text) → notes on the server

    @classmethod
    def read(cls, central_db: Path, liaison_id: str) -> ServerView:
        conn = read_only(central_db)
        try:
            actions = {
                action_id: (ticket, kind, outcome, json.loads(payload))
                for action_id, ticket, kind, outcome, payload in conn.execute(
                    "SELECT action_id, ticket_id, kind, outcome, payload FROM actions WHERE liaison_id = ?",
                    (liaison_id,),
                )
            }
            notes = Counter(
                (ticket, json.loads(data)["text"])
                for ticket, data in conn.execute("SELECT ticket_id, data FROM notes")
            )
        finally:
            conn.close()
        return cls(actions, notes)

    def applied(self, ticket: str, kind: str, text: str | None = None) -> int:
        """How many of our actions of ``kind`` on ``ticket`` (with this text) were applied."""
        field = {"note": "text", "resolve": "reply"}.get(kind)
        return sum(
            1
            for t, k, outcome, payload in self.actions.values()
            if t == ticket and k == kind and outcome == "applied"
            and (text is None or field is None or payload.get(field) == text)
        )  # fmt: skip


def claims_on_server(view: ServerView, claims: list[Claim]) -> list[str]:
    """Every claim reached the server, exactly once."""
    findings = []
    for claim in claims:
        where = f"{claim.source}: {claim.kind} {claim.ticket_id}" + (f" «{claim.text}»" if claim.text else "")
        for action_id in claim.action_ids:
            got = view.actions.get(action_id)
            if got is None:
                findings.append(f"{where}: reported queued as {action_id}, never reached the server")
            elif got[2] != "applied":
                findings.append(f"{where}: reported queued as {action_id}, the server {got[2]} it")
        if claim.action_ids and claim.kind != "note":
            continue  # its action ids are checked; a note's text is counted below as well
        applied = view.applied(claim.ticket_id, claim.kind, claim.text)
        if claim.kind == "note":
            on_server = view.notes[(claim.ticket_id, claim.text)]
            if on_server != 1:
                findings.append(f"{where}: reported saved; the server has it {on_server} times")
        elif applied != 1:
            findings.append(f"{where}: reported saved; the server applied it {applied} times")
    return findings


def counted_claims_on_server(view: ServerView, claims: list[CountedClaim]) -> list[str]:
    """A counted claim's text is on the server on exactly as many tickets as it said were saved
    (once on each: nothing_doubled looks at each ticket)."""
    findings = []
    for claim in claims:
        on_server = sum(n for (_, text), n in view.notes.items() if text == claim.text)
        if on_server != claim.count:
            findings.append(
                f"{claim.source}: note «{claim.text}» saved on {claim.count} tickets; the server has it {on_server} times"
            )
    return findings


def nothing_doubled(view: ServerView, texts: set[str]) -> list[str]:
    """No text of the day is on one ticket twice; no ticket was resolved or signed for twice."""
    findings = [
        f"note «{text}» on {ticket} is on the server {n} times"
        for (ticket, text), n in sorted(view.notes.items())
        if text in texts and n > 1
    ]
    per_ticket = Counter((t, k) for t, k, outcome, _ in view.actions.values() if outcome == "applied")
    findings += [
        f"{kind} on {ticket} applied {n} times"
        for (ticket, kind), n in sorted(per_ticket.items())
        if kind in ("accept", "resolve") and n > 1
    ]
    rejected = [(a, t, k) for a, (t, k, outcome, _) in view.actions.items() if outcome != "applied"]
    findings += [f"the server refused {kind} {action_id} on {ticket}" for action_id, ticket, kind in rejected]
    return findings


def replica_equals_server(db: Path, central_db: Path, unit_id: str) -> list[str]:
    """After the final sync the replica's tickets and notes are the server's."""
    from local_db.replica import Replica

    conn = read_only(central_db)
    try:
        theirs = {
            tid: json.loads(data)
            for tid, data in conn.execute(
                "SELECT id, liaison_data FROM tickets WHERE unit_id = ?", (unit_id,)
            )
        }
        server_notes: dict[str, set[str]] = {}
        for tid, note_id in conn.execute("SELECT ticket_id, id FROM notes"):
            server_notes.setdefault(tid, set()).add(note_id)
    finally:
        conn.close()
    findings = []
    try:
        with Replica.open(db) as replica:
            if replica.pending_count():
                findings.append(f"{replica.pending_count()} actions still unsent after the final sync")
            for tid, ticket in sorted(theirs.items()):
                mine = replica.detail(tid)
                if mine is None or not mine.in_scope:
                    findings.append(f"{tid}: on the server in the unit, not in the replica's scope")
                    continue
                got = mine.server_ticket.model_dump(mode="json")
                for key in ("status", "epoch", "revision", "reply", "flags", "counters"):
                    if got[key] != ticket[key]:
                        findings.append(
                            f"{tid}: {key} is {got[key]!r} in the replica, {ticket[key]!r} on the server"
                        )
                if {n.id for n in mine.notes} != server_notes.get(tid, set()):
                    findings.append(f"{tid}: the replica's notes are not the server's")
    except Exception as exc:  # a damaged replica is a finding, not a crash of the check
        findings.append(f"the replica could not be read after the day: {exc}")
    return findings[:50]
