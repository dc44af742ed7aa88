"""The liaison's replica: a local SQLite copy of the unit's tickets, worked fully offline.

What it keeps (see local_db/schema.py for the tables): the server's last known state of each
ticket (the JSON as pulled, plus narrow columns for lists), notes and events, the outbox of
unsent actions, the conflict inbox, the sync state, the calendar and the unit's metrics.

What the liaison sees is the server state with the unsent actions of the outbox applied on
top, in order, through :func:`schemas.workflow.decide` (as a liaison of the replica's unit, at
the time each action was made, on the stored calendar). An unsent action the local rule
refuses stays queued — the server decides — but does not change the view. The view's columns
are rewritten for the affected tickets after every local action, push result and pulled page.

Threads: one :class:`Replica` may be shared by threads (calls are serialised by a lock), or
each thread may open its own on the same file (WAL: readers never wait for the writer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import sqlite_utils
from pydantic import TypeAdapter, ValidationError

from local_db import queries
from local_db.api import (
    Conflict,
    LocalResult,
    OutboxEntry,
    ReplicaError,
    SyncState,
    TicketDetail,
    TicketQuery,
    TicketRow,
    View,
)
from local_db.columns import (
    COLUMNS,
    check_raw_ticket,
    columns_of,
    doc_revision,
    due_of,
    join_doc,
    split_doc,
)
from local_db.files import check_writable, create_private_file, restrict_modes
from local_db.pages import PulledPage, check_page
from local_db.salvage import SavedWork
from local_db.schema import (
    DAMAGE_CODES,
    SCHEMA_VERSION,
    corrupt_error,
    error_code,
    error_for,
    inspect_file,
    is_locked,
    locked_error,
    migrate,
)
from local_db.textindex import TextIndex
from schemas.actions import (
    Accept,
    AddNote,
    Base,
    LiaisonActionT,
    RequestExtension,
    RequestReturn,
    Resolve,
)
from schemas.calendar import HolidayTable, WorkCalendar, beijing_date
from schemas.enums import Reason, Role, Status
from schemas.ticket import (
    CONTROL_CHARACTERS,
    MAX_TEXT,
    Event,
    Note,
    Ticket,
    describe_character,
    first_control_character,
    masked,
)
from schemas.wire import ActionResult, Me, PullResponse, UnitMetrics
from schemas.workflow import Actor, Applied, base_of, decide

_ACTION = TypeAdapter(LiaisonActionT)
_TABLES = TypeAdapter(list[HolidayTable])

#: How a folded conflict's message begins (then the lead's action id): see apply_push_results.
FOLDED_PREFIX = "folded into the conflict of "

#: How a refused action's text is kept when the liaison chooses "keep as a note".
NOTE_PREFIX = {
    "resolve": "【未能提交的答复】",
    "request_return": "【未能提交的退回申请】",
    "request_extension": "【未能提交的延期申请】",
    "note": "",
}

_UPSERT_TICKET = (
    f"INSERT INTO tickets (rid, {', '.join(COLUMNS)}, in_scope) "
    f"VALUES (?, {', '.join('?' for _ in COLUMNS)}, 1) "
    f"ON CONFLICT (rid) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS)}, in_scope = 1"
)
#: The same, with in_scope given (a pushed action's ticket may have left the unit).
_UPSERT_SERVER_TICKET = (
    f"INSERT INTO tickets (rid, {', '.join(COLUMNS)}, in_scope) "
    f"VALUES (?, {', '.join('?' for _ in COLUMNS)}, ?) "
    f"ON CONFLICT (rid) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in COLUMNS)}, "
    "in_scope = excluded.in_scope"
)
_UPDATE_VIEW = f"UPDATE tickets SET {', '.join(f'{c} = ?' for c in COLUMNS[1:])}, pending = ?, conflict = ? WHERE rid = ?"


class _Loaded(NamedTuple):
    """A stored ticket as the view code needs it."""

    rid: int
    server: Ticket  # the server's last known state, parsed
    pending: int  # unsent actions
    conflict: int  # open conflicts


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_dt(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _guarded(method: Callable) -> Callable:
    """Turn a database error met while working (a damaged page deep in the file, a file
    replaced under us or made read-only, a lock held too long) into a :class:`ReplicaError`
    that says what to do. Which one is decided by SQLite's result code (schema.error_for):
    "damaged" only when SQLite says the file is corrupt.

    Opening checks the header and schema; damage further in shows only when a query reads it.
    """

    @functools.wraps(method)
    def guarded(self: Replica, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.IntegrityError | sqlite3.ProgrammingError):
                raise
            error = error_for(self.path, e)
            if error is None:
                raise
            raise error from e

    return guarded


class Replica:
    """One replica file. Every liaison action is one local transaction and is queued."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, clock: Callable[[], dt.datetime], hold: float = 0.0
    ) -> None:
        self.path = path
        self._conn = conn
        self.db = sqlite_utils.Database(conn)
        self._clock = clock
        #: Seconds every action queued through this connection is held from any sync (the
        #: app's undo window); 0: sent by the next sync (CLI commands: `close && sync`).
        self.hold = hold
        self._lock = threading.RLock()
        self._calendar: WorkCalendar | None = None
        #: Bumped after every write transaction of this connection (other connections' commits
        #: show in ``PRAGMA data_version``): what cached answers are keyed on.
        self._writes = 0
        self._text = TextIndex()
        self._text_seen: tuple[int, int] | None = None
        self._counted: dict[tuple, int] = {}

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
        timeout: float = 5.0,
        hold: float = 0.0,
    ) -> Replica:
        """Open (or with ``create`` make) a replica. Raises ReplicaError for an unusable file.

        A file that is not a replica is refused *before* anything is written to it. ``timeout``
        is how long to wait for another process holding the write lock. ``clock`` returns an
        aware datetime (tests pass a fixed one). ``hold``: seconds each action queued through this
        connection waits before a sync may send it (the app's undo window, see :attr:`hold`).
        """
        path = Path(path)
        if path.exists():
            if path.is_dir():
                raise ReplicaError(f"{path} is a directory; give the path of the replica file")
            check_writable(path)  # before SQLite could make read-only -wal/-shm files
            version = inspect_file(path)
        elif create:
            if not path.parent.is_dir():
                raise ReplicaError(f"cannot create {path}: the directory {path.parent} does not exist")
            check_writable(path)
            create_private_file(path)  # 0600 from the start: it will hold citizens' data
            version = None
        else:
            raise ReplicaError(f"no replica at {path}; run `fycli init` to create one")
        if version is None and not create:
            raise ReplicaError(f"{path} is empty, not a replica; run `fycli init` to create one")
        try:
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise ReplicaError(f"cannot open {path}: {e}") from e
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across app crashes
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA cache_size = -32000")
            conn.execute("PRAGMA temp_store = MEMORY")
            # A ticket that left our scope has its citizen masked (_mask_departed): the old,
            # unmasked row must not linger in a freed part of a page either.
            conn.execute("PRAGMA secure_delete = ON")
            if (version or 0) < SCHEMA_VERSION:
                migrate(conn, version or 0)
            replica = cls(path, conn, clock or _utcnow, hold)
            with replica._tx():
                if replica._meta("client_id") is None:
                    replica._set_meta(client_id=uuid.uuid4().hex, calendar_version="0")
        except sqlite3.DatabaseError as e:
            conn.close()
            if error_code(e) in DAMAGE_CODES:
                raise corrupt_error(path, e) from e
            raise error_for(path, e) or ReplicaError(f"cannot open {path}: {e}") from e
        restrict_modes(path)  # a replica made by an older fycli was readable by everyone
        return replica

    def check(self) -> list[str]:
        """``PRAGMA quick_check`` of the whole file (seconds on 100,000 tickets): the problems
        found, or an empty list when the file is sound. For ``fycli status --check``."""
        with self._lock:
            try:
                rows = [r[0] for r in self._conn.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as e:  # damaged beyond what quick_check can walk
                return [str(e)]
        return [] if rows == ["ok"] else rows

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: a busy file fails here, before any work)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as e:
                if is_locked(e):
                    raise locked_error(self.path) from e
                raise
            self._masked_since_checkpoint = False
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._writes += 1
            if self._masked_since_checkpoint:
                # The unmasked state is still in old WAL frames: fold them into the file (its
                # freed space zeroed by secure_delete) and empty the WAL. Best effort: a reader
                # holding an old snapshot delays it to a later checkpoint.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._masked_since_checkpoint = False

    # -- meta -----------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, **values: Any) -> None:
        self._conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(k, None if v is None else str(v)) for k, v in values.items()],
        )

    def _all_meta(self) -> dict[str, str | None]:
        return dict(self._conn.execute("SELECT key, value FROM meta"))

    # -- identity and sync state --------------------------------------------------------
    def state(self) -> SyncState:
        with self._lock:
            m = self._all_meta()
            pending = self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            conflicts = self._conn.execute("SELECT count(*) FROM conflicts WHERE state = 'open'").fetchone()[
                0
            ]
            tickets = self._conn.execute("SELECT count(*) FROM tickets WHERE in_scope = 1").fetchone()[0]
        return SyncState(
            client_id=m["client_id"] or "",
            server_url=m.get("server_url"),
            unit_id=m.get("unit_id"),
            unit_name=m.get("unit_name"),
            liaison_name=m.get("liaison_name"),
            cursor=m.get("cursor"),
            calendar_version=int(m.get("calendar_version") or 0),
            metrics_etag=m.get("metrics_etag"),
            last_sync_at=_parse_dt(m.get("last_sync_at")),
            last_error=m.get("last_error"),
            pending=pending,
            open_conflicts=conflicts,
            tickets=tickets,
            extra={
                "liaison_id": m.get("liaison_id"),
                "server_id": m.get("server_id"),
                "acked_seq": int(m.get("acked_seq") or 0),
                "out_of_scope": self._count("SELECT count(*) FROM tickets WHERE in_scope = 0"),
                "schema_version": SCHEMA_VERSION,
            },
        )

    def _count(self, sql: str, params: Any = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()[0]

    def set_identity(self, me: Me, server_url: str) -> None:
        """Remember who this replica belongs to (from ``GET /v1/me``) and where the server is."""
        with self._tx():
            self._set_meta(
                server_url=server_url,
                unit_id=me.unit_id,
                unit_name=me.unit_name,
                liaison_name=me.name,
                liaison_id=me.liaison_id,
                server_id=me.server_id,
            )

    def record_sync(self, *, ok: bool, error: str | None = None) -> None:
        """After a sync: when it ended well, its time; otherwise the error to show."""
        with self._tx():
            if ok:
                self._set_meta(last_sync_at=_iso(self._clock()), last_error=None)
            else:
                self._set_meta(last_error=error or "sync failed")

    # -- the view: server state with the unsent actions applied ---------------------------
    def _actor(self, ticket: Ticket | None, me: tuple[str | None, str | None] | None = None) -> Actor:
        """The liaison of this replica's unit (before ``set_identity``: of the ticket's unit)."""
        unit, name = me if me is not None else self._me()
        return Actor(
            Role.LIAISON, name or "liaison", unit or (ticket.unit_id if ticket is not None else None)
        )

    def _me(self) -> tuple[str | None, str | None]:
        return self._meta("unit_id"), self._meta("liaison_name")

    def _replay(
        self, server: Ticket | None, actions: Iterable, actor: Actor
    ) -> tuple[Ticket | None, list[Note]]:
        """Apply queued actions on ``server`` in order; refused ones change nothing."""
        view, notes = server, []
        calendar = self.calendar()
        for action in actions:
            decision = decide(view, action, actor, action.created_at, calendar)
            if isinstance(decision, Applied):
                view = decision.ticket
                notes.extend(decision.notes)
        return view, notes

    def _load(self, ticket_ids: list[str]) -> dict[str, _Loaded]:
        """The given tickets that exist, each parsed once."""
        rows = self._conn.execute(
            "SELECT t.id, t.rid, d.json, s.text, t.pending, t.conflict FROM tickets t "
            "JOIN docs d ON d.rid = t.rid JOIN search s ON s.rid = t.rid "
            "WHERE t.id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(ticket_ids).decode(),),
        )
        out = {}
        validate = Ticket.model_validate
        for ticket_id, rid, doc, text, pending, conflict in rows:
            try:
                out[ticket_id] = _Loaded(rid, validate(join_doc(doc, text)), pending, conflict)
            except ValidationError as e:
                raise ReplicaError(
                    f"ticket {ticket_id} in {self.path} does not match the ticket schema ({e.error_count()} "
                    "errors); run `fycli sync` to pull it again"
                ) from e
        return out

    def _pending_actions(self, ticket_ids: Iterable[str]) -> dict[str, list]:
        out: dict[str, list] = {}
        rows = self._conn.execute(
            "SELECT ticket_id, json FROM outbox WHERE ticket_id IN (SELECT value FROM json_each(?)) ORDER BY seq",
            (orjson.dumps(list(ticket_ids)).decode(),),
        )
        for ticket_id, doc in rows:
            out.setdefault(ticket_id, []).append(_parse_action(doc))
        return out

    def _refresh(self, ticket_ids: Iterable[str]) -> None:
        """Recompute the view columns, pending and conflict counts of these tickets (inside a tx)."""
        ids = list(dict.fromkeys(ticket_ids))
        if not ids:
            return
        loaded = self._load(ids)
        if not loaded:
            return
        pending = self._pending_actions(loaded)
        conflicts = dict(
            self._conn.execute(
                "SELECT ticket_id, count(*) FROM conflicts WHERE state = 'open' "
                "AND ticket_id IN (SELECT value FROM json_each(?)) GROUP BY ticket_id",
                (orjson.dumps(list(loaded)).decode(),),
            )
        )
        updates = []
        me = self._me()
        for ticket_id, row in loaded.items():
            actions = pending.get(ticket_id, [])
            server = row.server
            view = self._replay(server, actions, self._actor(server, me))[0] if actions else server
            updates.append((*columns_of(view)[1:], len(actions), conflicts.get(ticket_id, 0), row.rid))
        self._conn.executemany(_UPDATE_VIEW, updates)

    # -- the liaison's actions: each one local transaction, queued in the outbox ----------
    def accept(self, ticket_ids: list[str]) -> list[LocalResult]:
        """签收 each ticket (bulk: one transaction, one result per ticket)."""
        ids, base = _fresh_action_ids(), _bases()

        def make(view: Ticket, now: dt.datetime) -> list:
            return [_accept(next(ids), view, base(view.status, view.unit_id, view.epoch), now)]

        return self._act(ticket_ids, make)

    def add_note(self, ticket_id: str, text: str, kind: str = "note") -> LocalResult:
        """Queue a handling note (``kind``: note, call or attachment). Notes never conflict."""
        text = text.strip()
        if not text:
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message="the note is empty")
        if (why := control_character_problem(text, "the note")) is not None:
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message=why)
        if kind not in ("note", "call", "attachment"):
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message=f"unknown note kind {kind!r}")
        text = text[:MAX_TEXT]

        def make(view: Ticket, now: dt.datetime) -> list:
            return [AddNote(ticket_id=view.id, base=base_of(view), created_at=now, text=text, note_kind=kind)]

        return self._act([ticket_id], make)[0]

    def resolve(self, ticket_ids: list[str], reply: str) -> list[LocalResult]:
        """办结 each ticket with ``reply`` (bulk). A ticket still 待签收 is signed for first:
        an accept and the resolve are queued together (and undone together)."""
        reply = reply.strip()
        if not reply or len(reply) > MAX_TEXT:
            why = "the reply is empty" if not reply else f"the reply is longer than {MAX_TEXT} characters"
            return [LocalResult(i, False, reason=Reason.INVALID, message=why) for i in ticket_ids]
        if (why := control_character_problem(reply, "the reply")) is not None:
            return [LocalResult(i, False, reason=Reason.INVALID, message=why) for i in ticket_ids]

        return self._act(ticket_ids, _resolver(reply))

    def request_return(self, ticket_id: str, reason: str) -> LocalResult:
        """申请退回: not this unit's jurisdiction (a reason is required)."""
        reason = reason.strip()
        if not reason:
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message="a reason is required")
        if (why := control_character_problem(reason, "the reason")) is not None:
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message=why)

        def make(view: Ticket, now: dt.datetime) -> list:
            return [
                RequestReturn(ticket_id=view.id, base=base_of(view), created_at=now, reason=reason[:MAX_TEXT])
            ]

        return self._act([ticket_id], make)[0]

    def request_extension(self, ticket_id: str, days: int, reason: str) -> LocalResult:
        """申请延期 by ``days`` working days (1..30); a reason is required."""
        reason = reason.strip()
        if not reason or not 1 <= days <= 30:
            why = "a reason is required" if not reason else "days must be between 1 and 30"
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message=why)
        if (why := control_character_problem(reason, "the reason")) is not None:
            return LocalResult(ticket_id, False, reason=Reason.INVALID, message=why)

        def make(view: Ticket, now: dt.datetime) -> list:
            return [
                RequestExtension(
                    ticket_id=view.id, base=base_of(view), created_at=now, days=days, reason=reason[:MAX_TEXT]
                )
            ]

        return self._act([ticket_id], make)[0]

    def _act(self, ticket_ids: list[str], make: Callable[[Ticket, dt.datetime], list]) -> list[LocalResult]:
        """Decide and queue actions on many tickets in ONE transaction, one result per ticket.

        A ticket that is missing or whose current view refuses the action gets ``ok=False`` with
        the reason; the others are queued. An error of the database itself rolls back the whole
        call (nothing queued) and is raised.
        """
        if len(ticket_ids) < self._BIG_BATCH:
            with self._tx():
                return self._act_in_tx(ticket_ids, make)
        with self._lock, _gc_paused():
            # A bulk close of 10,000 tickets writes ~22 MB of WAL; folding it into the file at
            # once (the automatic checkpoint) added 0.25-0.3 s to the keypress. The WAL already
            # holds the committed actions; the next write (usually the sync's mark_sent, in the
            # background) checkpoints it.
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            try:
                with self._tx():
                    return self._act_in_tx(ticket_ids, make)
            finally:
                self._conn.execute("PRAGMA wal_autocheckpoint = 1000")

    #: From this many tickets, a bulk action leaves its WAL to be checkpointed by the next write.
    _BIG_BATCH = 1000

    def _act_in_tx(self, ticket_ids: list[str], make: Callable) -> list[LocalResult]:
        ids = list(dict.fromkeys(ticket_ids))  # the same id twice is one action
        loaded = self._load(ids)
        prior = self._pending_actions([i for i, row in loaded.items() if row.pending > 0])
        calendar = self.calendar()
        now = self._clock()
        created_at = _iso(now)
        hold_until = _iso(now + dt.timedelta(seconds=self.hold)) if self.hold > 0 else None
        me = self._me()
        actors: dict[str | None, Actor] = {}  # one per unit (one in all, once the identity is set)
        to_json = _ActionJson()
        results: list[LocalResult] = []
        outbox_rows: list[tuple] = []
        updates: list[tuple] = []
        for ticket_id in ids:
            row = loaded.get(ticket_id)
            if row is None:
                results.append(
                    LocalResult(
                        ticket_id, False, reason=Reason.NOT_FOUND, message=f"no ticket {ticket_id} here"
                    )
                )
                continue
            server = row.server
            actor = actors.get(server.unit_id)
            if actor is None:
                actor = actors[server.unit_id] = self._actor(server, me)
            queued = prior.get(ticket_id, ())
            view = self._replay(server, queued, actor)[0] if queued else server
            new_actions = make(view, now)
            refused = None
            kept = []
            for action in new_actions:
                decision = decide(view, action, actor, now, calendar)
                if not isinstance(decision, Applied):
                    refused = decision
                    break
                if not decision.noop:  # already in effect (signed for): nothing to send
                    kept.append(action)
                view = decision.ticket
            if (
                refused is not None
                and refused.reason is Reason.ALREADY_RESOLVED
                and isinstance(action, Resolve)
            ):
                # A second reply: keep its text as a note (SPEC §4), or nothing when it is there already.
                note, result = self._second_reply(view, action, queued, now)
                results.append(result)
                if note is not None:
                    kept, view = [note], self._replay(view, [note], actor)[0] or view
                else:
                    continue
            elif refused is not None:
                results.append(LocalResult(ticket_id, False, reason=refused.reason, message=refused.message))
                continue
            if not kept:
                results.append(LocalResult(ticket_id, True, message="already done; nothing queued"))
                continue
            group = kept[-1].action_id
            for action in kept:
                outbox_rows.append(
                    (action.action_id, group, ticket_id, action.kind, to_json(action), created_at, hold_until)
                )
            updates.append((*columns_of(view)[1:], len(queued) + len(kept), row.conflict, row.rid))
            if refused is None:
                results.append(
                    LocalResult(
                        ticket_id,
                        True,
                        action_id=group,
                        message=" + ".join(a.kind for a in kept),
                        queued=tuple(a.action_id for a in kept),
                    )
                )
        self._conn.executemany(
            "INSERT INTO outbox (action_id, group_id, ticket_id, kind, json, created_at, hold_until) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            outbox_rows,
        )
        self._conn.executemany(_UPDATE_VIEW, updates)
        return results

    def _second_reply(
        self, view: Ticket, action: Resolve, queued: Iterable, now: dt.datetime
    ) -> tuple[AddNote | None, LocalResult]:
        """What a resolve of an already resolved ticket does: nothing when the ticket has this
        very reply, or this reply kept as a note, already (the same close run twice); else the
        note that keeps the reply, and a result that says so (never "resolved")."""
        ticket_id, reply = view.id, action.reply
        unsent = [a.action_id for a in queued if isinstance(a, Resolve)]
        who = "you (not sent yet)" if unsent else (view.replied_by or "someone")
        if (view.reply or "").strip() == reply:
            return None, LocalResult(
                ticket_id, True, message="already resolved with this reply; nothing queued"
            )
        text = _note_text(action)
        assert text is not None
        kept_before = any(isinstance(a, AddNote) and a.text == text for a in queued) or any(
            (n.kind == "reply_kept" and n.text == reply) or n.text == text
            for (doc,) in self._conn.execute("SELECT json FROM notes WHERE ticket_id = ?", (ticket_id,))
            for n in (Note.model_validate_json(doc),)
        )
        if kept_before:
            return None, LocalResult(
                ticket_id,
                True,
                message=f"already resolved by {who}; this reply is kept as a note on it already; nothing queued",
            )
        note = AddNote(ticket_id=ticket_id, base=base_of(view), created_at=now, text=text)
        hint = (
            f"; the first reply is not sent yet: to replace it, `fycli undo {unsent[-1]}` and close again"
            if unsent
            else ""
        )
        return note, LocalResult(
            ticket_id,
            True,
            action_id=note.action_id,
            reason=Reason.ALREADY_RESOLVED,
            message=f"already resolved by {who}: NOT resolved again; this reply was queued as a note instead{hint}",
            queued=(note.action_id,),
            kept_as_note=True,
        )

    def undo(self, action_id: str) -> bool:
        """Remove an unsent action and recompute the ticket's view. False if already sent.

        Actions queued together (the accept a resolve of a 待签收 ticket needed) go together,
        whichever of their ids is given.
        """
        with self._tx():
            row = self._conn.execute(
                "SELECT group_id, ticket_id FROM outbox WHERE action_id = ?", (action_id,)
            ).fetchone()
            if row is None:
                return False
            group, ticket_id = row
            if self._conn.execute(
                "SELECT 1 FROM outbox WHERE group_id = ? AND sent = 1", (group,)
            ).fetchone():
                return False
            self._conn.execute("DELETE FROM outbox WHERE group_id = ?", (group,))
            self._refresh([ticket_id])
            return True

    def undo_last(self) -> str | None:
        """Undo the most recent unsent action (with its group); its action id, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT group_id FROM outbox WHERE sent = 0 ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if row is None or not self.undo(row[0]):
                return None
            return row[0]

    # -- queries (keyset-paged; milliseconds on 100,000 tickets) -------------------------
    def _dates(self) -> tuple[dt.date, dt.date]:
        """Today (Beijing) and the last day that still counts as due soon (1 working day on)."""
        today = beijing_date(self._clock())
        return today, self.calendar().add_working_days(today, 1).due

    def _params(self) -> dict:
        today, soon = self._dates()
        return {"today": today.isoformat(), "soon": soon.isoformat()}

    _ROW_SELECT = (
        "t.id, t.title, t.status, t.category, t.complexity, t.channel, t.village, t.due, t.urged, "
        "t.supervised, t.listed, t.escalated, t.pending, t.conflict, t.in_scope, t.due_sort, t.updated_us"
    )

    def query(self, q: TicketQuery, *, after: tuple | None = None, limit: int = 50) -> list[TicketRow]:
        """One page of the queue; pass the last row's ``key`` as ``after`` for the next page."""
        params = self._params()
        with self._lock:
            how = self._search_plan(q, limit)
            sql = queries.page_sql(q, params, after=after, limit=limit, select=self._ROW_SELECT, **how)
            rows = self._conn.execute(sql, params).fetchall()
        today = dt.date.fromisoformat(params["today"])  # the day the SQL used: one clock read
        calendar = self.calendar()
        key_index = {"due_sort": 15, "updated_us": 16, "id": 0}
        key_columns = queries.SORT_SQL[q.sort][1]
        out = []
        for r in rows:
            due = dt.date.fromisoformat(r[7]) if r[7] else None
            out.append(
                TicketRow(
                    id=r[0],
                    title=r[1],
                    status=Status(r[2]),
                    category=r[3],
                    complexity=r[4],
                    channel=r[5],
                    village=r[6],
                    due=due,
                    days_left=calendar.working_days_left(today, due) if due is not None else None,
                    urged=r[8],
                    supervised=bool(r[9]),
                    listed=bool(r[10]),
                    escalated=bool(r[11]),
                    badge="conflict" if r[13] else ("pending" if r[12] else "synced"),
                    in_scope=bool(r[14]),
                    key=tuple(r[key_index[c]] for c in key_columns),
                )
            )
        return out

    def count(self, q: TicketQuery) -> int:
        """How many tickets ``q`` matches (remembered until the replica changes)."""
        params = self._params()
        with self._lock:
            key = (q, params["today"], self._data_token())
            total = self._counted.get(key)
            if total is None:
                how = self._search_plan(q, -1)
                total = self._count(
                    f"SELECT count(*) FROM tickets t WHERE {queries.where(q, params, **how)}", params
                )
                if len(self._counted) > 64:
                    self._counted.clear()
                self._counted[key] = total
            return total

    # -- search ---------------------------------------------------------------------------
    #: Up to this many hits, a page lists them (``rid IN``, then sorts); beyond, it walks the
    #: sort order testing each row, which LIMIT stops early (a common word is on every page).
    _LIST_HITS = 3000

    def _data_token(self) -> tuple[int, int]:
        """Changes whenever the file does: this connection's writes and everyone else's commits."""
        return self._writes, self._conn.execute("PRAGMA data_version").fetchone()[0]

    def _search_plan(self, q: TicketQuery, limit: int) -> dict:
        """How to search for ``q``'s words: keyword arguments for :func:`queries.where`."""
        words = [w for w in queries.search_words(q.search) if not queries.is_latin(w)]
        if not words:
            return {}  # nothing to search, or only Latin words: SQL's LIKE does those
        self._refresh_text()
        # A page of a common word walks, without listing its tens of thousands of hits. (A
        # village is a narrow filter the walk could cross the whole table to fill a page of.)
        page = limit >= 0 and q.village is None
        hits = self._text.hits(words, cap=self._LIST_HITS if page else None)
        return {"walk": True} if hits is None else {"hits": hits}

    def _refresh_text(self) -> None:
        """Bring the in-memory search text up to date when the file changed since last time."""
        token = self._data_token()
        if token != self._text_seen:
            version = self._meta("search_version") or "0"
            max_rid = self._conn.execute("SELECT max(rid) FROM search").fetchone()[0] or 0
            self._text.refresh(self._conn, version, max_rid)
            self._text_seen = token

    def warm_search(self) -> None:
        """Load the search text into memory now (~0.2 s for 100,000 tickets) rather than at the
        first search; the terminal app calls it in the background after its first screen."""
        with self._lock:
            self._refresh_text()
            self._text.hits([])

    def counts_by_view(self) -> dict[View, int]:
        """Every view's count: four small queries over covering or partial indexes."""
        params = self._params()
        with self._lock:
            c = self._conn
            by_status = c.execute("SELECT status, in_scope, count(*) FROM tickets GROUP BY status, in_scope")
            soon = c.execute(
                "SELECT count(*) FILTER (WHERE due_sort < :today), count(*) FILTER (WHERE due_sort >= :today) "
                "FROM tickets WHERE due_sort <= :soon AND in_scope = 1",
                params,
            ).fetchone()
            ext = c.execute(
                "SELECT count(*) FROM tickets WHERE has_ext = 1 AND in_scope = 1 AND status != 'return_requested'"
            ).fetchone()[0]
            conflicts = c.execute("SELECT count(*) FROM tickets WHERE conflict > 0").fetchone()[0]
            counts = dict.fromkeys(View, 0)
            for status, in_scope, n in by_status:
                if not in_scope:
                    counts[View.OUT_OF_SCOPE] += n
                    continue
                counts[View.ALL] += n
                if status == "assigned":
                    counts[View.ASSIGNED] += n
                elif status == "in_progress":
                    counts[View.IN_PROGRESS] += n
                elif status == "return_requested":
                    counts[View.PENDING_DECISION] += n
                elif status in queries.RESOLVED_STATUSES:
                    counts[View.RESOLVED] += n
        counts[View.OVERDUE], counts[View.DUE_SOON] = soon
        counts[View.PENDING_DECISION] += ext
        counts[View.CONFLICTS] = conflicts
        return counts

    def ids_matching(self, q: TicketQuery) -> Iterator[str]:
        """The ids of every ticket ``q`` matches, in its sort order ("mark all matching")."""
        params = self._params()
        with self._lock:
            sql = queries.page_sql(q, params, after=None, limit=-1, select="t.id", **self._search_plan(q, -1))
            rows = self._conn.execute(sql, params).fetchall()
        return iter([r[0] for r in rows])

    def detail(self, ticket_id: str) -> TicketDetail | None:
        """The whole ticket as the liaison sees it, or None when this replica never had it."""
        with self._lock:
            loaded = self._load([ticket_id])
            if ticket_id not in loaded:
                return None
            server, conflicts = loaded[ticket_id].server, loaded[ticket_id].conflict
            row = self._conn.execute("SELECT in_scope FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
            pending = self._outbox_entries("WHERE ticket_id = ? ORDER BY seq", (ticket_id,))
            actions = [_parse_action(e.action_json) for e in pending]
            view, local_notes = self._replay(server, actions, self._actor(server))
            notes = [
                Note.model_validate_json(doc)
                for (doc,) in self._conn.execute(
                    "SELECT json FROM notes WHERE ticket_id = ? ORDER BY at, id", (ticket_id,)
                )
            ]
            events = [
                Event.model_validate_json(doc)
                for (doc,) in self._conn.execute(
                    "SELECT json FROM events WHERE ticket_id = ? ORDER BY pos", (ticket_id,)
                )
            ]
        assert view is not None
        due = due_of(view)
        days_left = None
        if due is not None:
            days_left = self.calendar().working_days_left(beijing_date(self._clock()), due)
        return TicketDetail(
            ticket=view,
            server_ticket=server,
            notes=notes + local_notes,
            events=events,
            pending=pending,
            badge="conflict" if conflicts else ("pending" if pending else "synced"),
            in_scope=bool(row[0]),
            days_left=days_left,
        )

    # -- the outbox, for the sync engine --------------------------------------------------
    def _outbox_entries(self, clause: str, params: Any = ()) -> list[OutboxEntry]:
        rows = self._conn.execute(
            f"SELECT seq, action_id, ticket_id, kind, json, created_at, hold_until FROM outbox {clause}",
            params,
        )
        # An action an older fycli queued with control characters is sent without them: the
        # server refuses them now, and one such action would make every push fail.
        return [
            OutboxEntry(
                s, a, t, k, _without_control_characters(j), dt.datetime.fromisoformat(c), _parse_dt(h)
            )
            for s, a, t, k, j, c, h in rows
        ]

    def outbox(self, limit: int = 500) -> list[OutboxEntry]:
        """The oldest ``limit`` unsent actions, in the order they were made (by ``seq``)."""
        with self._lock:
            return self._outbox_entries("ORDER BY seq LIMIT ?", (limit,))

    def pending_count(self) -> int:
        return self._count("SELECT count(*) FROM outbox")

    def now(self) -> dt.datetime:
        """This replica's clock (what a sync measures holds against; tests move it)."""
        return self._clock()

    def held(self, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        """The actions a sync at ``now`` leaves unsent for their hold, and when the last hold ends.

        Actions are sent in order, so from the first action still held every later one waits
        too (a CLI action queued after an app action waits for it). ``(0, None)`` when none is held.
        """
        with self._lock:
            holds = self._conn.execute(
                "SELECT seq, hold_until FROM outbox WHERE hold_until IS NOT NULL ORDER BY seq"
            ).fetchall()
            still = [(seq, end) for seq, end in ((s, _parse_dt(h)) for s, h in holds) if end and end > now]
            if not still:
                return 0, None
            count = self._count("SELECT count(*) FROM outbox WHERE seq >= ?", (still[0][0],))
            return count, max(end for _, end in still)

    def mark_sent(self, action_ids: list[str]) -> list[str]:
        """Note that these actions are on their way to the server: they can no longer be undone.

        The sync engine calls it just before a push; entries stay in the outbox (and are sent
        again) until :meth:`apply_push_results` has their outcome. Returns the ids that were
        not marked before (what :meth:`unmark_sent` may take back).
        """
        with self._tx():
            rows = self._conn.execute(
                "UPDATE outbox SET sent = 1 WHERE sent = 0 AND action_id IN "
                "(SELECT value FROM json_each(?)) RETURNING action_id",
                (orjson.dumps(action_ids).decode(),),
            ).fetchall()
        return [action_id for (action_id,) in rows]

    def unmark_sent(self, action_ids: list[str]) -> None:
        """Undo :meth:`mark_sent` for a push that certainly never left this machine (the
        connection was refused): the actions are undoable again."""
        with self._tx():
            self._conn.execute(
                "UPDATE outbox SET sent = 0 WHERE action_id IN (SELECT value FROM json_each(?))",
                (orjson.dumps(action_ids).decode(),),
            )

    def apply_push_results(self, results: list[ActionResult], acked_seq: int | None = None) -> None:
        """Drop decided actions from the outbox; refused ones go to the conflict inbox.

        One transaction. Every result that carries the ticket (applied, rejected, or a
        duplicate of either) makes it the server state, unless the replica already holds a
        newer revision of the server's: a refusal because the ticket moved to another unit
        so leaves the working list at once (out of scope), instead of showing as ours until
        the next pull. Applied: removed from the outbox. Rejected: moved to the inbox with its
        full payload, the reason, the server's ticket and who changed it when. ``acked_seq``
        (the push answer's) is remembered in the sync state. The views are recomputed.
        """
        now = _iso(self._clock())
        with self._tx(), _gc_paused() if len(results) >= self._BIG_BATCH else contextlib.nullcontext():
            c = self._conn
            entries = {
                action_id: (ticket_id, kind, doc, group_id)
                for action_id, ticket_id, kind, doc, group_id in c.execute(
                    "SELECT action_id, ticket_id, kind, json, group_id FROM outbox "
                    "WHERE action_id IN (SELECT value FROM json_each(?))",
                    (orjson.dumps([r.action_id for r in results]).decode(),),
                )
            }
            leads = self._queued_leads(entries)
            newest: dict[str, Ticket] = {}  # the latest server state of each ticket in the answer
            for result in results:
                ticket = result.ticket
                if ticket is not None:
                    have = newest.get(ticket.id)
                    if have is None or ticket.revision >= have.revision:
                        newest[ticket.id] = ticket
            self._store_server_tickets(list(newest.values()))
            touched = list(newest)
            decided: list[tuple[str]] = []
            refused: list[tuple] = []
            for result in results:
                entry = entries.pop(result.action_id, None)
                if entry is None:
                    continue  # already handled (a result delivered twice)
                ticket_id, kind, doc, group_id = entry
                touched.append(ticket_id)
                decided.append((result.action_id,))
                outcome = result.original_outcome if result.outcome == "duplicate" else result.outcome
                if outcome == "rejected":
                    # One conflict per intent: the sign-for a resolve of a 待签收 ticket needed is
                    # kept (every refusal is), folded into the resolve's conflict, which carries
                    # the text and whose re-apply signs for it again when it needs to.
                    folded = group_id in leads and group_id != result.action_id
                    message = result.message or ""
                    refused.append(
                        (
                            result.action_id,
                            ticket_id,
                            kind,
                            doc,
                            (result.reason or Reason.INVALID).value,
                            f"{FOLDED_PREFIX}{group_id}: {message}" if folded else message,
                            self._conflict_ticket_json(result.ticket),
                            result.changed_by,
                            _iso(result.changed_at),
                            now,
                            "folded" if folded else "open",
                        )
                    )
            c.executemany("DELETE FROM outbox WHERE action_id = ?", decided)
            c.executemany(
                "INSERT OR REPLACE INTO conflicts (action_id, ticket_id, kind, json, reason, message, "
                "server_ticket, changed_by, changed_at, refused_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                refused,
            )
            if acked_seq is not None:
                self._set_meta(acked_seq=max(acked_seq, int(self._meta("acked_seq") or 0)))
            self._refresh(touched)

    def _conflict_ticket_json(self, ticket: Ticket | None) -> str | None:
        """The server's ticket a conflict keeps: masked when it left our unit (as the server
        itself shows a unit a ticket it left)."""
        if ticket is None:
            return None
        unit = self._meta("unit_id")
        if unit is not None and ticket.unit_id != unit:
            self._masked_since_checkpoint = True
            return masked(ticket).model_dump_json()
        return ticket.model_dump_json()

    def _mask_departed(self, ticket_ids: list[str]) -> None:
        """Mask the citizen of tickets that left our scope (inside a tx), in their stored server
        state and in the conflicts that keep it, with the server's own rule
        (``schemas.ticket.masked``, what a past unit is shown): a call-back ticket's phone was
        held unmasked while it was ours, and must not stay on this PC once it is not."""
        if not ticket_ids:
            return
        c = self._conn
        rows = c.execute(
            "SELECT t.rid, d.json, s.text FROM tickets t JOIN docs d ON d.rid = t.rid "
            "JOIN search s ON s.rid = t.rid WHERE t.id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(ticket_ids).decode(),),
        ).fetchall()
        docs = []
        for rid, doc, text in rows:
            ticket = masked(Ticket.model_validate(join_doc(doc, text)))
            docs.append((rid, split_doc(ticket.model_dump(mode="json"))))
        c.executemany("UPDATE docs SET json = ? WHERE rid = ?", [(d, r) for r, d in docs])
        held = c.execute(
            "SELECT action_id, server_ticket FROM conflicts WHERE server_ticket IS NOT NULL "
            "AND ticket_id IN (SELECT value FROM json_each(?))",
            (orjson.dumps(ticket_ids).decode(),),
        ).fetchall()
        c.executemany(
            "UPDATE conflicts SET server_ticket = ? WHERE action_id = ?",
            [(masked(Ticket.model_validate_json(s)).model_dump_json(), a) for a, s in held],
        )
        self._masked_since_checkpoint = True

    def _queued_leads(self, entries: dict[str, tuple]) -> set[str]:
        """The groups of ``entries`` whose lead action (the one that carries the intent: the
        resolve an accept was queued for) is still in the outbox, this push's or a later one.
        Only a dependent without text (a sign-for, ``accept``) is folded: a text is never hidden."""
        groups = {
            group
            for action_id, (_t, kind, _doc, group) in entries.items()
            if group != action_id and kind == "accept"
        }
        if not groups:
            return set()
        return {
            r[0]
            for r in self._conn.execute(
                "SELECT action_id FROM outbox WHERE action_id IN (SELECT value FROM json_each(?))",
                (orjson.dumps(sorted(groups)).decode(),),
            )
        }

    def _store_server_tickets(self, tickets: list[Ticket]) -> None:
        """Store tickets the server returned, each unless the replica holds a newer revision of
        the server's state (compared with the stored server doc: the row's own revision is the
        view's, ahead by the unsent actions). A ticket now with another unit leaves the working
        list; one already out of scope stays out until a pull brings it back."""
        if not tickets:
            return
        c = self._conn
        stored = {
            ticket_id: (rid, in_scope, doc, text)
            for ticket_id, rid, in_scope, doc, text in c.execute(
                "SELECT t.id, t.rid, t.in_scope, d.json, s.text FROM tickets t "
                "JOIN docs d ON d.rid = t.rid JOIN search s ON s.rid = t.rid "
                "WHERE t.id IN (SELECT value FROM json_each(?))",
                (orjson.dumps([t.id for t in tickets]).decode(),),
            )
        }
        unit = self._meta("unit_id")
        next_rid = self._next_rid()
        ticket_rows, doc_rows, search_rows = [], [], []
        text_changed = False
        for ticket in tickets:
            old = stored.get(ticket.id)
            if old is not None and doc_revision(old[2]) > ticket.revision:
                continue
            if unit is not None and ticket.unit_id != unit:
                ticket = masked(ticket)  # left our scope: kept as the server shows a past unit
            raw = ticket.model_dump(mode="json")
            columns, text = check_raw_ticket(raw)
            if old is None:
                rid, in_scope = next_rid, 1
                next_rid += 1
            else:
                rid, in_scope = old[0], old[1]
            if unit is not None and ticket.unit_id != unit:
                in_scope = 0
                self._masked_since_checkpoint = True
            ticket_rows.append((rid, *columns, in_scope))
            doc_rows.append((rid, split_doc(raw)))
            if old is None or old[3] != text:
                # The search text rarely changes here (not on a sign-for or a resolve): write it,
                # and invalidate in-memory copies, only when it does.
                search_rows.append((rid, text))
                text_changed = text_changed or old is not None
        if text_changed:
            self._bump_search_version()
        c.executemany(_UPSERT_SERVER_TICKET, ticket_rows)
        c.executemany("INSERT OR REPLACE INTO docs (rid, json) VALUES (?, ?)", doc_rows)
        c.executemany("INSERT OR REPLACE INTO search (rid, text) VALUES (?, ?)", search_rows)

    def _bump_search_version(self) -> None:
        """Say that an existing search text changed or went (in-memory copies reload)."""
        self._set_meta(search_version=int(self._meta("search_version") or 0) + 1)

    def _next_rid(self) -> int:
        return (self._conn.execute("SELECT max(rid) FROM tickets").fetchone()[0] or 0) + 1

    # -- pulled pages ---------------------------------------------------------------------
    def apply_pull_page(self, page: PullResponse) -> None:
        """Store one page and its cursor in one transaction; recompute affected views."""
        self.apply_pull_page_raw(orjson.loads(page.model_dump_json()))

    def apply_pull_page_raw(self, page: dict | bytes | str) -> None:
        """Store one pulled page, given as decoded JSON (or its bytes), in ONE transaction.

        The hot path of a 100,000-ticket pull: the envelope and each ticket's essential fields
        are checked cheaply (no pydantic per ticket) *before* anything is written; a bad page
        raises ValueError naming what is wrong, and nothing is stored. Tickets are stored as
        the JSON text they came as, plus the narrow columns; the model is parsed when read.

        Stores the tickets (in scope), notes, events, ``removed`` (kept readable, out of
        scope), the calendar, the metrics and the cursor, then recomputes the view of the
        page's tickets that have unsent actions or open conflicts. A page with ``reset: true``
        drops the pulled state (see :meth:`reset_pulled_state`) instead.
        """
        if isinstance(page, bytes | str):
            try:
                page = orjson.loads(page)
            except orjson.JSONDecodeError as e:
                raise ValueError(f"the pulled page is not JSON: {e}") from None
        plan = check_page(page)
        with self._lock:
            # A first pull is ~100 pages: checkpoint the WAL once at its end, not after every
            # page (rewriting the same index pages 100 times tripled the cost). The WAL is
            # checkpointed anyway by the last page, the next local write, or close().
            self._conn.execute("PRAGMA wal_autocheckpoint = 0")
            with self._tx():
                if plan.reset:
                    self._reset_in_tx()
                else:
                    self._store_page(plan)
            if not plan.has_more:
                self._end_of_pull()

    def _end_of_pull(self) -> None:
        """After the last page: fold the WAL back into the file, refresh the planner's statistics."""
        c = self._conn
        c.execute("PRAGMA wal_autocheckpoint = 1000")
        c.execute("PRAGMA wal_checkpoint(PASSIVE)")
        # Sampled statistics (cheap even on 100,000 rows) tell the planner that in_scope and
        # status are not selective, so a filter scans the table instead of 100,000 lookups.
        c.execute("PRAGMA analysis_limit = 400")
        c.execute("ANALYZE")

    def _store_page(self, plan: PulledPage) -> None:
        c = self._conn
        ids = [cols[0] for cols, _, _ in plan.tickets]
        existing = dict(
            c.execute(
                "SELECT id, rid FROM tickets WHERE id IN (SELECT value FROM json_each(?))",
                (orjson.dumps(ids).decode(),),
            )
        )
        if existing:
            # A changed search text of a known ticket invalidates the in-memory text index (new
            # tickets only extend it). Rare, and there is nothing to compare in a first pull.
            old_texts = dict(
                c.execute(
                    "SELECT rid, text FROM search WHERE rid IN (SELECT value FROM json_each(?))",
                    (orjson.dumps(list(existing.values())).decode(),),
                )
            )
            if any(old_texts.get(existing.get(cols[0]), text) != text for cols, text, _ in plan.tickets):
                self._bump_search_version()
        next_rid = self._next_rid()
        ticket_rows, doc_rows, search_rows = [], [], []
        for columns, text, raw in plan.tickets:
            rid = existing.get(columns[0])
            if rid is None:
                rid = existing[columns[0]] = next_rid
                next_rid += 1
            ticket_rows.append((rid, *columns))
            doc_rows.append((rid, split_doc(raw)))
            search_rows.append((rid, text))
        c.executemany(_UPSERT_TICKET, ticket_rows)
        c.executemany("INSERT OR REPLACE INTO docs (rid, json) VALUES (?, ?)", doc_rows)
        c.executemany("INSERT OR REPLACE INTO search (rid, text) VALUES (?, ?)", search_rows)
        if plan.notes:
            c.executemany(
                "INSERT OR REPLACE INTO notes (id, ticket_id, at, json) VALUES (?, ?, ?, ?)", plan.notes
            )
        if plan.events:
            self._store_events(plan.events)
        if plan.removed:
            # A ticket both in this page and removed: the state says whether it is still ours.
            unit = self._meta("unit_id")
            still_ours = {cols[0] for cols, _, _ in plan.tickets if unit is None or cols[2] == unit}
            gone = [(i,) for i in plan.removed if i not in still_ours]
            c.executemany("UPDATE tickets SET in_scope = 0 WHERE id = ?", gone)
            self._mask_departed([i for (i,) in gone])
        if plan.calendar is not None:
            c.execute("DELETE FROM calendar")
            c.executemany("INSERT INTO calendar (year, json) VALUES (?, ?)", plan.calendar)
            self._set_meta(calendar_version=plan.calendar_version)
            self._calendar = None
        if plan.metrics is not None:
            c.execute("DELETE FROM metrics")
            c.executemany("INSERT INTO metrics (unit_id, month, json) VALUES (?, ?, ?)", plan.metrics)
            self._set_meta(metrics_etag=plan.metrics_etag)
        self._set_meta(cursor=plan.cursor)
        if ids:
            # Tickets with unsent actions or open conflicts: their view is not the server state.
            affected = [
                r[0]
                for r in c.execute(
                    "SELECT ticket_id FROM outbox WHERE ticket_id IN (SELECT value FROM json_each(:ids)) "
                    "UNION SELECT ticket_id FROM conflicts WHERE state = 'open' "
                    "AND ticket_id IN (SELECT value FROM json_each(:ids))",
                    {"ids": orjson.dumps(ids).decode()},
                )
            ]
            self._refresh(affected)

    def _store_events(self, events: list[tuple]) -> None:
        """Store pulled events ``(id, ticket_id, at, json, place in the page)`` numbered in the
        order they came, which is the server's (see schema ``_V2``). An event pulled again
        keeps its place."""
        start = int(self._meta("event_pos") or 0)  # an int: safe to put in the SQL text
        self._conn.executemany(
            f"INSERT INTO events (id, ticket_id, at, json, pos) VALUES (?1, ?2, ?3, ?4, ?5 + {start}) "
            "ON CONFLICT (ticket_id, id) DO UPDATE SET at = excluded.at, json = excluded.json",
            events,
        )
        self._set_meta(event_pos=start + len(events))

    def reset_pulled_state(self) -> None:
        """Forget everything pulled (cursor too) but keep the outbox and the conflict inbox.

        The calendar and metrics stay usable offline until the next pull replaces them (their
        version and etag are cleared so that it does).
        """
        with self._tx():
            self._reset_in_tx()

    def _reset_in_tx(self) -> None:
        for table in ("tickets", "docs", "search", "notes", "events"):
            self._conn.execute(f"DELETE FROM {table}")
        self._bump_search_version()
        self._set_meta(cursor=None, calendar_version=0, metrics_etag=None)

    # -- the conflict inbox ---------------------------------------------------------------
    def conflicts(self, *, open_only: bool = True) -> list[Conflict]:
        """The inbox, oldest first."""
        where = "WHERE state = 'open'" if open_only else ""
        with self._lock:
            rows = self._conn.execute(
                "SELECT action_id, ticket_id, kind, json, reason, message, server_ticket, changed_by, "
                f"changed_at, refused_at, state FROM conflicts {where} ORDER BY refused_at, action_id"
            ).fetchall()
        return [
            Conflict(
                action_id=a,
                ticket_id=t,
                kind=k,
                action_json=j,
                reason=Reason(r),
                message=m,
                server_ticket=Ticket.model_validate_json(s) if s else None,
                changed_by=by,
                changed_at=_parse_dt(at),
                refused_at=dt.datetime.fromisoformat(refused),
                state=state,
            )
            for a, t, k, j, r, m, s, by, at, refused, state in rows
        ]

    def resolve_conflict(self, action_id: str, how: str) -> LocalResult:
        """``how``: "reapply" (queue it again, based on the current state), "note" (keep the
        text as a note), or "drop".

        "reapply" queues a fresh action (new id) of the same kind and content, based on the
        ticket as the liaison sees it now; "note" queues a note with the refused text, prefixed
        so it reads well (e.g. 【未能提交的答复】…). When the new action cannot even be queued
        (the local rule refuses it) the result says why and the conflict stays open.
        """
        if how not in ("reapply", "note", "drop"):
            raise ValueError(f"how must be reapply, note or drop, not {how!r}")
        with self._tx():
            row = self._conn.execute(
                "SELECT ticket_id, json, state FROM conflicts WHERE action_id = ?", (action_id,)
            ).fetchone()
            if row is None:
                return LocalResult("", False, reason=Reason.NOT_FOUND, message=f"no conflict {action_id}")
            ticket_id, doc, state = row
            if state == "folded":
                message = self._conn.execute(
                    "SELECT message FROM conflicts WHERE action_id = ?", (action_id,)
                ).fetchone()[0]
                lead = message.removeprefix(FOLDED_PREFIX).split(":", 1)[0]
                return LocalResult(
                    ticket_id,
                    False,
                    reason=Reason.INVALID,
                    message=f"this sign-for is part of the conflict of {lead}: resolve that one",
                )
            if state != "open":
                return LocalResult(
                    ticket_id, False, reason=Reason.INVALID, message=f"this conflict was {state}"
                )
            action = _parse_action(doc)
            result = LocalResult(ticket_id, True, message="dropped")
            if how == "reapply":
                result = self._act_in_tx([ticket_id], _reapplier(action))[0]
            elif how == "note":
                text = _note_text(action)
                if text is None:
                    return LocalResult(
                        ticket_id,
                        False,
                        reason=Reason.INVALID,
                        message="a sign-for has no text to keep as a note",
                    )

                def make(view: Ticket, now: dt.datetime) -> list:
                    return [AddNote(ticket_id=view.id, base=base_of(view), created_at=now, text=text)]

                result = self._act_in_tx([ticket_id], make)[0]
            if result.ok:
                new_state = {"reapply": "reapplied", "note": "noted", "drop": "dropped"}[how]
                if result.kept_as_note:  # re-applied on a ticket resolved meanwhile: a note
                    new_state = "noted"
                self._conn.execute(
                    "UPDATE conflicts SET state = ? WHERE action_id = ?", (new_state, action_id)
                )
                self._refresh([ticket_id])
            return result

    # -- unsent work saved from another replica (local_db/salvage.py) ----------------------
    def import_saved(self, saved: SavedWork) -> tuple[int, int, int]:
        """Queue the saved outbox again and put the saved conflicts back in the inbox, in ONE
        transaction; returns (actions queued, conflicts restored, entries already here).

        Actions keep their ids, order, group and "sent" mark (one that may have reached the
        server stays not undoable; the server's de-duplication keeps it from applying twice).
        An entry whose action id this replica already has is skipped: importing twice is safe.
        """
        with self._tx():
            unit = self._meta("unit_id")
            if saved.unit_id and unit and saved.unit_id != unit:
                raise ReplicaError(
                    f"the saved work is unit {saved.unit_id}'s, but {self.path} is unit {unit}'s; "
                    "import it into a replica of the same unit"
                )
            c = self._conn
            known = {
                a for (a,) in c.execute("SELECT action_id FROM outbox UNION SELECT action_id FROM conflicts")
            }
            queued = [e for e in saved.outbox if e["action_id"] not in known]
            restored = [e for e in saved.conflicts if e["action_id"] not in known]
            c.executemany(
                "INSERT INTO outbox (action_id, group_id, ticket_id, kind, json, created_at, sent) "
                "VALUES (:action_id, :group_id, :ticket_id, :kind, :json, :created_at, :sent)",
                [{**e, "sent": 1 if e["sent"] else 0} for e in queued],
            )
            c.executemany(
                "INSERT INTO conflicts (action_id, ticket_id, kind, json, reason, message, server_ticket, "
                "changed_by, changed_at, refused_at, state) VALUES (:action_id, :ticket_id, :kind, :json, "
                ":reason, :message, :server_ticket, :changed_by, :changed_at, :refused_at, 'open')",
                restored,
            )
            self._refresh([e["ticket_id"] for e in queued + restored])
        skipped = len(saved.outbox) + len(saved.conflicts) - len(queued) - len(restored)
        return len(queued), len(restored), skipped

    # -- calendar and metrics (offline) ---------------------------------------------------
    def calendar(self) -> WorkCalendar:
        """The working-day calendar: the platform's holiday tables as last pulled."""
        with self._lock:
            if self._calendar is None:
                docs = [orjson.loads(j) for (j,) in self._conn.execute("SELECT json FROM calendar")]
                self._calendar = WorkCalendar(_TABLES.validate_python(docs))
            return self._calendar

    def metrics(self) -> list[UnitMetrics]:
        """The unit's 三率 as last pulled (available offline)."""
        with self._lock:
            rows = self._conn.execute("SELECT json FROM metrics ORDER BY month DESC, unit_id").fetchall()
        return [UnitMetrics.model_validate_json(j) for (j,) in rows]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a bulk action makes ~300,000 short-lived objects
    (parsed tickets, actions, events), none in cycles, and the collector walking them (and
    the rest of the process's heap) took 0.15-0.4 s of a 10,000-ticket close."""
    if not gc.isenabled():  # another thread's bulk work paused it: that one resumes it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _fresh_action_ids() -> Iterator[str]:
    """Random action ids (uuid4, hex) from one ``urandom`` call per 1,024: a bulk close of 10,000
    tickets spent 0.15 s in 13,000 ``uuid4()`` system calls, then 0.05 s in ``uuid.UUID()``."""
    while True:
        raw = os.urandom(16 * 1024).hex()
        for i in range(0, len(raw), 32):
            h = raw[i : i + 32]
            # The version (4) and variant (10xx) bits, as uuid.UUID(version=4) sets them.
            yield f"{h[:12]}4{h[13:16]}{_UUID_VARIANT[h[16]]}{h[17:]}"


#: A random hex digit with its top two bits made 10 (the RFC 4122 variant).
_UUID_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def _accept(action_id: str, view: Ticket, base: Base, now: dt.datetime) -> Accept:
    """An accept of ``view`` (pydantic-core's validating constructor beats ``model_construct``)."""
    return Accept(action_id=action_id, ticket_id=view.id, base=base, created_at=now)


class _ActionJson:
    """``action.model_dump_json()``, the same text, for the actions of one bulk call: an accept
    or a resolve is written with orjson, the time and base they share serialised once (3.6 µs
    to 1 µs an action). Other kinds go through pydantic. A test holds the two equal."""

    def __init__(self) -> None:
        self._times: dict[dt.datetime, str] = {}
        self._bases: dict[int, tuple[Base, dict]] = {}  # by id(): the Base objects of _bases()

    def __call__(self, action: LiaisonActionT) -> str:
        kind = type(action)
        if kind is not Accept and kind is not Resolve:
            return action.model_dump_json()
        created = self._times.get(action.created_at)
        if created is None:
            created = self._times[action.created_at] = _DATETIME.dump_python(action.created_at, mode="json")
        cached = self._bases.get(id(action.base))
        if cached is None or cached[0] is not action.base:
            cached = self._bases[id(action.base)] = (action.base, action.base.model_dump(mode="json"))
        doc = {
            "action_id": action.action_id,
            "ticket_id": action.ticket_id,
            "created_at": created,
            "base": cached[1],
            "kind": action.kind,
        }
        if kind is Resolve:
            doc["reply"] = action.reply
        return orjson.dumps(doc).decode()


_DATETIME = TypeAdapter(dt.datetime)


def _bases() -> Callable[[Status, str | None, int], Base]:
    """A maker of :class:`Base` values that builds each distinct one once: the 10,000 actions of
    a bulk close share a handful (a Base is frozen, so sharing is safe)."""
    made: dict[tuple, Base] = {}

    def base(status: Status, unit_id: str | None, epoch: int) -> Base:
        key = (status, unit_id, epoch)
        found = made.get(key)
        if found is None:
            found = made[key] = Base(status=status, unit_id=unit_id, epoch=epoch)
        return found

    return base


def _resolver(reply: str) -> Callable[[Ticket, dt.datetime], list]:
    """A maker of the actions that resolve a ticket with ``reply``: a ticket still 待签收 is
    signed for first, and the resolve is based on the state that leads to."""
    ids, base = _fresh_action_ids(), _bases()

    def make(view: Ticket, now: dt.datetime) -> list:
        actions: list = []
        status = view.status
        if status is Status.ASSIGNED:
            actions.append(_accept(next(ids), view, base(status, view.unit_id, view.epoch), now))
            # The resolve is based on the state the accept leads to: in progress, same epoch.
            status = Status.IN_PROGRESS
        actions.append(
            Resolve(
                action_id=next(ids),
                ticket_id=view.id,
                base=base(status, view.unit_id, view.epoch),
                created_at=now,
                reply=reply,
            )
        )
        return actions

    return make


def _reapplier(action) -> Callable[[Ticket, dt.datetime], list]:
    """A maker of the same action again: new id, based on the current view."""
    if isinstance(action, Resolve):
        return _resolver(action.reply)
    fields = action.model_dump(exclude={"action_id", "base", "created_at", "kind", "note_id"})

    def make_same(view: Ticket, now: dt.datetime) -> list:
        return [type(action)(**fields, base=base_of(view), created_at=now)]

    return make_same


def _note_text(action) -> str | None:
    if isinstance(action, Resolve):
        body = action.reply
    elif isinstance(action, RequestReturn):
        body = action.reason
    elif isinstance(action, RequestExtension):
        body = f"（{action.days}个工作日）{action.reason}"
    elif isinstance(action, AddNote):
        body = action.text
    else:
        return None
    return (NOTE_PREFIX[action.kind] + body)[:MAX_TEXT]


def control_character_problem(text: str, what: str) -> str | None:
    """The one-line refusal of a text with a control character (the server would refuse it
    too, and a terminal that prints it runs it), or None when the text is clean."""
    char = first_control_character(text)
    if char is None:
        return None
    return (
        f"{what} contains the control character {describe_character(char)} at position "
        f"{text.index(char) + 1}; only newline and tab are allowed: remove it and try again"
    )


def _parse_action(doc: str) -> LiaisonActionT:
    """An action as stored in the outbox or the inbox. One queued by an older fycli may hold
    control characters the schema now refuses: they are dropped (the rest of the text is
    kept) rather than making the action unreadable, or every push of it refused."""
    try:
        return _ACTION.validate_json(doc)
    except ValidationError:
        cleaned = _without_control_characters(doc)
        if cleaned == doc:
            raise
        return _ACTION.validate_json(cleaned)


#: How a control character other than newline and tab is written in JSON text.
_ESCAPED_CONTROL = re.compile(r"\\u00(?:[01][0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|\\[bfr]")


def _without_control_characters(doc: str) -> str:
    """``doc`` (an action's JSON) with control characters dropped from its strings, or ``doc``
    itself when it has none (the common case costs one regex scan of the JSON text)."""
    # Most actions hold no backslash at all: the escape regex runs only on those that do.
    if ("\\" not in doc or not _ESCAPED_CONTROL.search(doc)) and not CONTROL_CHARACTERS.search(doc):
        return doc

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return CONTROL_CHARACTERS.sub("", value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    original = orjson.loads(doc)
    cleaned = clean(original)
    # The regex also matches an escaped backslash before "u001b" or "r": then nothing changed.
    return doc if cleaned == original else orjson.dumps(cleaned).decode()


# Every public operation reports a damaged file as a ReplicaError (open() does its own checks).
for _name, _member in list(vars(Replica).items()):
    if not _name.startswith("_") and _name not in ("open", "close", "check") and callable(_member):
        setattr(Replica, _name, _guarded(_member))
del _name, _member
