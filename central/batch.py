"""Deciding actions against stored tickets: one :class:`Batch` per transaction.

Every action is decided by :func:`schemas.workflow.decide` — never a rule of our own — against
the ticket's current state, which includes what earlier actions of the same batch did. A
decision only *stages* writes; :meth:`Batch.flush` writes them all at the end and numbers them
last, taking the commit-order counter ONCE per batch (see ``repo.stamp_seqs``), then commits.
Because nothing is written until the decision is made, an action that fails (rejected, or an
error while deciding it) leaves no trace but its own outcome: the effect of "each action in its
own savepoint", without the cost of one savepoint per action.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central.storage import repo
from central.storage import tables as t
from schemas.actions import AddNote
from schemas.calendar import WorkCalendar
from schemas.enums import Reason
from schemas.ticket import Event, Note, Ticket, masked
from schemas.workflow import Actor, Applied, Rejected, decide, kept_reply_id

#: Most characters of a rejected action's payload stored in ``actions`` (the rest is cut).
MAX_REJECTED_PAYLOAD = 1024


@dataclass
class Outcome:
    """What became of one action; the push and admin answers are built from it."""

    action_id: str
    outcome: str  # applied | rejected | duplicate
    original_outcome: str | None = None
    reason: Reason | None = None
    message: str | None = None
    ticket: Ticket | None = None  # the current state after the decision (unmasked)
    changed_by: str | None = None
    changed_at: dt.datetime | None = None
    client_seq: int | None = None


@dataclass
class _Slot:
    """A ticket as this batch sees it: stored state plus the batch's own staged changes."""

    ticket: Ticket | None
    scope_since: int
    changed_by: str | None
    exists: bool  # stored before this batch
    dirty: bool = False
    unit_changed: bool = False


@dataclass
class Batch:
    conn: Connection
    calendar: WorkCalendar
    remote_addr: str | None = None
    _slots: dict[str, _Slot] = field(default_factory=dict)
    _notes: list[tuple[str, Note]] = field(default_factory=list)
    _events: list[tuple[str, Event]] = field(default_factory=list)
    _exits: list[tuple[str, str]] = field(default_factory=list)  # (unit_id, ticket_id)
    _departures: list[dict] = field(default_factory=list)  # rows of tables.departures
    _actions: list[dict] = field(default_factory=list)
    _audit: list[dict] = field(default_factory=list)
    _seen: dict[str, dict] = field(default_factory=dict)  # action_id -> stored outcome row
    _note_ids: set[str] = field(default_factory=set)  # staged in this batch
    _event_ids: set[str] = field(default_factory=set)  # staged in this batch
    #: id -> stored already? for the note/event ids looked up ahead (see :meth:`prefetch`)
    _stored: dict[tuple[str, str], bool] = field(default_factory=dict)

    def prefetch(self, ticket_ids: list[str], action_ids: list[str], note_ids: list[str] = ()) -> None:
        """Load (and lock) the tickets and the earlier outcomes of a batch, and find which of
        the ids its notes and events would take are stored already, in a few queries."""
        for tid, stored in repo.load_tickets(self.conn, ticket_ids, lock=True).items():
            self._slots[tid] = _Slot(stored.ticket, stored.scope_since, stored.changed_by, True)
        for part in repo.chunks(sorted(set(action_ids))):
            for row in self.conn.execute(sa.select(t.actions).where(t.actions.c.action_id.in_(part))):
                self._seen[row.action_id] = row._asdict()
        wanted = {
            "events": set(action_ids),
            "notes": {*note_ids, *(kept_reply_id(a) for a in action_ids)},
        }
        for name, ids in wanted.items():
            table = t.notes if name == "notes" else t.events
            self._stored.update({(name, i): False for i in ids})
            for part in repo.chunks(sorted(ids)):
                for found in self.conn.execute(sa.select(table.c.id).where(table.c.id.in_(part))).scalars():
                    self._stored[(name, found)] = True

    def _slot(self, ticket_id: str) -> _Slot:
        slot = self._slots.get(ticket_id)
        if slot is None:
            stored = repo.load_tickets(self.conn, [ticket_id], lock=True).get(ticket_id)
            slot = (
                _Slot(stored.ticket, stored.scope_since, stored.changed_by, True)
                if stored
                else _Slot(None, 0, None, False)
            )
            self._slots[ticket_id] = slot
        return slot

    def decide(
        self,
        action: Any,
        actor: Actor,
        now: dt.datetime,
        *,
        liaison_id: str | None = None,
        client_id: str | None = None,
        client_seq: int | None = None,
    ) -> Outcome:
        """Decide one action and stage its writes. Never raises for a business refusal."""
        slot = self._slot(action.ticket_id)
        seen = self._seen.get(action.action_id)
        if seen is not None:
            return self._duplicate(action, liaison_id, seen, slot, client_seq)
        if isinstance(action, AddNote) and self._taken("notes", action.note_id):
            decision: Applied | Rejected = Rejected(Reason.INVALID, f"note id {action.note_id} is taken")
        else:
            decision = decide(slot.ticket, action, actor, now, self.calendar)
            if self._ids_taken(decision):
                # An id of the history it would write is someone else's: refused here (a 4xx
                # in effect), never a unique-key failure of the whole transaction.
                decision = Rejected(
                    Reason.INVALID,
                    f"action id {action.action_id} is taken by another record: make the action again",
                )
        payload = action.model_dump_json()
        if isinstance(decision, Rejected) and len(payload) > MAX_REJECTED_PAYLOAD:
            # What a refused action may cost the database is bounded (the liaison keeps the
            # whole payload in their conflict inbox; a kept reply is a note, in full).
            payload = json.dumps({"truncated_from": len(payload), "head": payload[:MAX_REJECTED_PAYLOAD]},
                                 ensure_ascii=False)  # fmt: skip
        if isinstance(decision, Applied):
            outcome = self._stage_applied(slot, action, actor, decision, now)
        else:
            for note in decision.notes:
                self._stage_note(slot, note)
            outcome = Outcome(action.action_id, "rejected", reason=decision.reason, message=decision.message)
            outcome.ticket = slot.ticket
            outcome.changed_by = slot.changed_by
            outcome.changed_at = slot.ticket.updated_at if slot.ticket else None
        outcome.client_seq = client_seq
        row = {
            "action_id": action.action_id,
            "liaison_id": liaison_id,
            "client_id": client_id,
            "client_seq": client_seq,
            "ticket_id": action.ticket_id,
            "kind": action.kind,
            "outcome": outcome.outcome,
            "reason": outcome.reason.value if outcome.reason else None,
            "message": outcome.message,
            "payload": payload,
            "decided_at": repo.iso(now),
        }
        self._actions.append(row)
        self._seen[action.action_id] = row
        self._audit.append(
            {
                "at": repo.iso(now),
                "actor": actor.name,
                "actor_id": liaison_id or "admin",  # no liaison id: a central action, by the admin token
                "role": actor.role.value,
                "what": f"{action.kind}:{outcome.outcome}",
                "target": action.ticket_id,
                "client_id": client_id,
                "remote_addr": self.remote_addr,
                "detail": json.dumps(
                    {"action_id": action.action_id, "reason": row["reason"], "unit_id": actor.unit_id},
                    ensure_ascii=False,
                ),
            }
        )
        return outcome

    def _taken(self, name: str, record_id: str) -> bool:
        """Whether a note (``name`` "notes") or event ("events") id is staged or stored already."""
        if record_id in (self._note_ids if name == "notes" else self._event_ids):
            return True
        known = self._stored.get((name, record_id))
        if known is None:
            table = t.notes if name == "notes" else t.events
            known = (
                self.conn.execute(sa.select(table.c.id).where(table.c.id == record_id)).first() is not None
            )
            self._stored[(name, record_id)] = known
        return known

    def _ids_taken(self, decision: Applied | Rejected) -> bool:
        events = decision.events if isinstance(decision, Applied) else ()
        return any(self._taken("events", e.id) for e in events) or any(
            self._taken("notes", n.id) for n in decision.notes
        )

    def _duplicate(self, action, liaison_id: str | None, seen: dict, slot: _Slot, client_seq) -> Outcome:
        mine = seen["liaison_id"] == liaison_id
        same_kind = seen["kind"] == action.kind and seen["ticket_id"] == action.ticket_id
        if not (mine and same_kind):
            return Outcome(
                action.action_id,
                "rejected",
                reason=Reason.INVALID,
                message=f"action id {action.action_id} was used for another action",
                client_seq=client_seq,
            )
        return Outcome(
            action.action_id,
            "duplicate",
            original_outcome=seen["outcome"],
            reason=Reason(seen["reason"]) if seen["reason"] else None,
            message=seen["message"],
            ticket=slot.ticket,
            changed_by=slot.changed_by,
            changed_at=slot.ticket.updated_at if slot.ticket else None,
            client_seq=client_seq,
        )

    def _stage_note(self, slot: _Slot, note: Note) -> None:
        self._notes.append((note.ticket_id, note))
        self._note_ids.add(note.id)
        slot.dirty = True

    def _stage_applied(self, slot: _Slot, action, actor: Actor, decision: Applied, now) -> Outcome:
        old = slot.ticket
        new = decision.ticket
        if not decision.noop:
            if old is not None and old.unit_id and old.unit_id != new.unit_id:
                self._exits.append((old.unit_id, new.id))
                # What the unit it leaves may still read: the ticket as it was when it left
                # (just reassigned: nothing of the new unit's work yet), masked — also a call-back
                # ticket: the call is no longer that unit's to make.
                self._departures.append(
                    {"d_ticket": new.id, "d_unit": old.unit_id, "data": masked(new).model_dump_json()}
                )
            if old is None or old.unit_id != new.unit_id:
                slot.unit_changed = True
            if new is not old:
                slot.ticket = new
                slot.changed_by = actor.name
            for event in decision.events:
                self._events.append((new.id, event))
                self._event_ids.add(event.id)
            for note in decision.notes:
                self._stage_note(slot, note)
            slot.dirty = slot.dirty or bool(decision.events) or new is not old
        return Outcome(
            action.action_id,
            "applied",
            ticket=slot.ticket,
            changed_by=slot.changed_by,
            changed_at=slot.ticket.updated_at if slot.ticket else None,
        )

    def flush(self, *, commit: bool = True) -> None:
        """Write everything staged, numbered in commit order (docs/protocol.md "Guarantees").

        SQLite (one writer holds the database for its whole transaction): take the numbers,
        then write the rows with them. PostgreSQL: write the rows with placeholder numbers and
        then take the numbers and stamp the rows in ONE statement (:func:`repo.stamp_seqs`), all
        in one send: the counter row — which every writer of every server process waits for —
        is locked for one server-side step, not for this process's round trips.

        With ``commit`` (what the service does) the transaction is committed here, on PostgreSQL
        in the same send: this must be the transaction's last statement. ``commit=False``
        leaves the commit to the caller (tests that stall a numbered transaction).
        """
        conn = self.conn
        dirty = [tid for tid, s in self._slots.items() if s.dirty and s.ticket is not None]
        if conn.dialect.name != "sqlite":
            seq_of = {tid: repo.placeholder(i) for i, tid in enumerate(dirty)}
            repo.stamp_seqs(
                conn,
                self._writes(seq_of),
                dirty,
                notes=bool(self._notes),
                events=bool(self._events),
                exit_units=[unit for unit, _ in self._exits],
                commit=commit,
            )
            return
        first = repo.take_seqs(conn, len(dirty)) if dirty else 0
        for stmt, rows in self._writes({tid: first + i for i, tid in enumerate(dirty)}):
            conn.execute(stmt, rows)
        if commit:
            conn.connection.dbapi_connection.commit()  # SQLAlchemy's own commit finds nothing to do

    def _writes(self, seq_of: dict[str, int]) -> list[tuple[sa.Executable, list[dict]]]:
        """Every staged write as (statement, rows): the outcomes and audit rows, and the changed
        tickets, notes, events and scope exits numbered by ``seq_of``."""
        writes: list[tuple[sa.Executable, list[dict]]] = [
            (t.actions.insert(), self._actions),
            (t.audit.insert(), self._audit),
        ]
        inserts, updates = [], []
        for tid, seq in seq_of.items():
            slot = self._slots[tid]
            scope_since = seq if slot.unit_changed else slot.scope_since
            values = repo.ticket_values(slot.ticket, seq, scope_since, slot.changed_by)
            (updates if slot.exists else inserts).append(values)
        writes.append((t.tickets.insert(), inserts))
        if updates:
            cols = [c for c in updates[0] if c != "id"]
            stmt = (
                t.tickets.update()
                .where(t.tickets.c.id == sa.bindparam("b_id"))
                .values({c: sa.bindparam(c) for c in cols})
            )
            writes.append((stmt, [{**{c: u[c] for c in cols}, "b_id": u["id"]} for u in updates]))
        notes = [
            {"id": n.id, "ticket_id": tid, "change_seq": seq_of[tid], "data": n.model_dump_json()}
            for tid, n in self._notes
        ]
        events = [
            {
                "id": e.id,
                "ticket_id": tid,
                "change_seq": seq_of[tid],
                "action": e.action,
                "unit_id": e.unit_id or self._slots[tid].ticket.unit_id,
                "at": repo.iso(e.at),
                "data": e.model_dump_json(),
            }
            for tid, e in self._events
        ]
        written = repo.iso(repo.utcnow())  # a scope exit's wall clock, not a back-filled `at`
        exits = [
            {"change_seq": seq_of[tid], "unit_id": unit, "ticket_id": tid, "recorded_at": written}
            for unit, tid in self._exits
        ]
        writes += [(t.notes.insert(), notes), (t.events.insert(), events), (t.scope_exits.insert(), exits)]
        if self._departures:
            d = t.departures.c
            key = (d.ticket_id == sa.bindparam("d_ticket"), d.unit_id == sa.bindparam("d_unit"))
            gone = [{"d_ticket": r["d_ticket"], "d_unit": r["d_unit"]} for r in self._departures]
            # history_seq: the commit number of the move itself (its events are the last it saw)
            rows = [{"ticket_id": r["d_ticket"], "unit_id": r["d_unit"], "history_seq": seq_of[r["d_ticket"]],
                     "data": r["data"]} for r in self._departures]  # fmt: skip
            writes += [(t.departures.delete().where(*key), gone), (t.departures.insert(), rows)]
        return [(stmt, rows) for stmt, rows in writes if rows]
