"""The central service's operations, independent of HTTP: what the API routes call.

Holds no state that matters: everything is read from the database on each call (the only
in-process things are caches keyed by database facts), so several processes on one
PostgreSQL behave as one service.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from central import metrics as metrics_mod
from central.batch import Batch, Outcome
from central.limits import Limiter, RateLimits, retry_after
from central.storage import repo
from central.storage import tables as t
from central.storage.engine import Database
from schemas.actions import AddNote
from schemas.calendar import HolidayTable, WorkCalendar, beijing_date
from schemas.enums import Role
from schemas.ticket import Ticket, liaison_copy
from schemas.wire import MAX_PULL_LIMIT, QueuedAction, UnitMetrics
from schemas.workflow import Actor

T = TypeVar("T")
DEFAULT_PULL_LIMIT = 1000
#: How old (seconds) the other units' figures behind a liaison's rank may be.
PEER_FIGURES_TTL = 60.0
UNIT_KINDS = ("city", "county", "township", "department")
#: What a pruned rejected action's payload becomes.
PRUNED_PAYLOAD = '{"pruned":true}'
#: The earliest ``at`` an admin action may be back-filled to (the platform did not exist before).
EARLIEST_AT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: What a ticket id looks like (``schemas.ticket.TicketId``): anything else is no ticket.
TICKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


class ServiceError(Exception):
    """A refusal the API turns into an ``ErrorBody`` (nothing was changed)."""

    def __init__(self, status: int, error: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        #: Seconds, for a 429: sent as ``Retry-After``.
        self.retry_after = retry_after


@dataclass(frozen=True)
class Liaison:
    id: str
    name: str
    unit_id: str
    unit_name: str

    @property
    def actor(self) -> Actor:
        return Actor(Role.LIAISON, self.name, self.unit_id)


# --- cursors ---------------------------------------------------------------------------------


#: The largest commit-order number a database column holds (a signed 64-bit integer).
MAX_SEQ = 2**63 - 1


class Cursor(NamedTuple):
    """A decoded cursor: the server generation, the last commit number the client has, the
    newest server start stamped below that number when it was issued (None: none was, or a
    cursor from before boots existed), and, on the pages of a pull that began without a
    cursor, the counter value its first page saw (see :func:`_cursor_holds`)."""

    generation: str
    seq: int
    boot: str | None = None
    fresh_from: int | None = None


def encode_cursor(generation: str, seq: int, boot: str | None = None, fresh_from: int | None = None) -> str:
    data: dict[str, Any] = {"g": generation, "s": seq}
    if boot is not None:
        data["b"] = boot
    if fresh_from is not None:
        data["f"] = fresh_from
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    """The cursor's parts; raises ServiceError 422 ``invalid_cursor`` when it is not ours.

    ``s`` must be a JSON integer (not ``true``) from 0 to :data:`MAX_SEQ`; whether this server
    can have issued it (not ahead of its counter, not from before a restore) is the pull's call.
    A malformed ``f`` is ignored: the cursor is then judged as a plain one.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        generation, seq, boot, fresh = data["g"], data["s"], data.get("b"), data.get("f")
        if not isinstance(generation, str) or type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            raise ValueError
        if boot is not None and not isinstance(boot, str):
            raise ValueError
        fresh_from = fresh if type(fresh) is int and 0 <= fresh <= MAX_SEQ else None
        return Cursor(generation, seq, boot, fresh_from)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError):
        raise ServiceError(
            422, "invalid_cursor", "the cursor is malformed: pull again without a cursor"
        ) from None


def _is_retryable(exc: sa.exc.DBAPIError) -> bool:
    """Lost races that a fresh attempt resolves: a deadlock, a serialisation failure, SQLite's
    busy lock (a unique key taken meanwhile: see :meth:`Service.write`)."""
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


class Service:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], dt.datetime] = repo.utcnow,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        #: None: no limits (in-process use); ``fycli serve`` gives ``RateLimits.from_env()``.
        self.limiter = Limiter(rate_limits, self.write) if rate_limits else None
        self._calendar: tuple[int, WorkCalendar] | None = None
        self._metrics_cache: dict[tuple, list[UnitMetrics]] = {}
        self._own_metrics: dict[tuple, UnitMetrics] = {}
        #: (month, day, generation) -> (seq, monotonic time, every unit's figures, unit kinds)
        self._peers: dict[tuple, tuple[int, float, list[UnitMetrics], dict[str, str]]] = {}

    # --- transactions ------------------------------------------------------------------------

    def write(self, work: Callable[[Connection], T], attempts: int = 6) -> T:
        """Run ``work`` in one write transaction, again from scratch when it lost a race.

        A unique key taken is retried ONCE (a race with another writer resolves on the second
        try; the same failure twice is the request's own doing) and then answered 409: the
        request collides with a stored record, and a retry of the client's changes nothing.
        A value the database refuses (out of range, a NUL character) is a 422.
        """
        for attempt in range(attempts):
            try:
                with self.db.write.begin() as conn:
                    return work(conn)
            except sa.exc.IntegrityError as exc:
                if attempt >= 1:
                    raise ServiceError(
                        409, "conflict", "the request collides with a stored record (an id is taken): "
                        "send it with new ids"
                    ) from exc  # fmt: skip
            except sa.exc.DataError as exc:
                raise ServiceError(422, "invalid_request", "a value of the request is out of range or "
                                   "has a NUL character: fix it and send again") from exc  # fmt: skip
            except sa.exc.DBAPIError as exc:
                if attempt == attempts - 1 or not _is_retryable(exc):
                    raise
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read transaction that sees ONE snapshot for all its statements.

        Needed for pulls on PostgreSQL: under READ COMMITTED each statement sees a newer state,
        so a ticket row overwritten by a later commit between two statements would hide the
        earlier change it carried — and the cursor would move past it. SQLite's read
        transaction is a snapshot already.
        """
        with self.db.read.connect() as conn:
            if not self.db.is_sqlite:
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def check_rate(self, liaison: Liaison, budget: str) -> None:
        """Take one request of the liaison's ``budget`` ("pull" or "push"); a 429 when spent."""
        if self.limiter is None:
            return
        wait = self.limiter.wait_for(budget, liaison.id)
        if wait is not None:
            seconds = retry_after(wait)
            raise ServiceError(429, "rate_limited", f"too many {budget} requests from this liaison: "
                               f"wait {seconds} s (Retry-After) and try again", retry_after=seconds)  # fmt: skip

    # --- facts -------------------------------------------------------------------------------

    def server_id(self) -> str:
        with self.db.read.connect() as conn:
            return repo.get_meta(conn, "server_id") or ""

    def work_calendar(self, conn: Connection) -> WorkCalendar:
        """The calendar built from the stored holiday tables (cached per calendar version)."""
        version = repo.calendar_version(conn)
        if self._calendar is None or self._calendar[0] != version:
            self._calendar = (version, WorkCalendar(repo.calendar_tables(conn)))
        return self._calendar[1]

    # --- authentication ----------------------------------------------------------------------

    def ensure_admin_token(self, given: str | None) -> str | None:
        """Store ``given`` as the admin token, or create one on first start. Returns a token only
        when it was just created (to be shown once)."""
        if given:
            self.write(lambda c: repo.set_meta(c, "admin_token_hash", repo.hash_token(given)))
            return None
        with self.db.read.connect() as conn:
            if repo.get_meta(conn, "admin_token_hash"):
                return None
        token = "fyadm_" + secrets.token_urlsafe(32)

        def store(conn: Connection) -> bool:
            if repo.get_meta(conn, "admin_token_hash"):
                return False  # another process created it first
            repo.set_meta(conn, "admin_token_hash", repo.hash_token(token))
            return True

        return token if self.write(store) else None

    def is_admin(self, token: str) -> bool:
        with self.db.read.connect() as conn:
            stored = repo.get_meta(conn, "admin_token_hash")
        return bool(stored) and hmac.compare_digest(stored, repo.hash_token(token))

    def liaison_for(self, token: str) -> Liaison | None:
        query = (
            sa.select(t.liaisons.c.id, t.liaisons.c.name, t.liaisons.c.unit_id, t.units.c.name.label("unit"))
            .join(t.units, t.units.c.id == t.liaisons.c.unit_id)
            .where(t.liaisons.c.token_hash == repo.hash_token(token), t.liaisons.c.active.is_(True))
        )
        with self.db.read.connect() as conn:
            row = conn.execute(query).first()
        return Liaison(row.id, row.name, row.unit_id, row.unit) if row else None

    # --- units and liaisons ------------------------------------------------------------------

    def add_unit(self, values: dict, *, actor: str = "admin", remote_addr: str | None = None) -> dict:
        now = self.clock()

        def work(conn: Connection) -> dict:
            if _unit_exists(conn, values["id"]):
                raise ServiceError(409, "conflict", f"unit {values['id']} exists; choose another id")
            parent = values.get("parent_id")
            if parent and not _unit_exists(conn, parent):
                raise ServiceError(404, "not_found", f"no parent unit {parent}: add it first")
            row = {**values, "created_at": repo.iso(now)}
            conn.execute(t.units.insert().values(row))
            _audit(conn, now, actor, "add_unit", values["id"], values, remote_addr)
            return row

        return self.write(work)

    def list_units(self) -> list[dict]:
        with self.db.read.connect() as conn:
            return [r._asdict() for r in conn.execute(sa.select(t.units).order_by(t.units.c.id))]

    def add_liaison(
        self, name: str, unit_id: str, liaison_id: str | None = None, *, remote_addr: str | None = None
    ) -> tuple[str, str]:
        """Create a liaison of ``unit_id``; returns ``(liaison_id, token)`` — the only time the
        token exists in clear."""
        token = "fyl_" + secrets.token_urlsafe(32)
        liaison_id = liaison_id or "l-" + secrets.token_hex(6)
        now = self.clock()

        def work(conn: Connection) -> None:
            if not _unit_exists(conn, unit_id):
                raise ServiceError(
                    404, "not_found", f"no unit {unit_id}: add it with `fycli central add-unit`"
                )
            if conn.execute(sa.select(t.liaisons.c.id).where(t.liaisons.c.id == liaison_id)).first():
                raise ServiceError(409, "conflict", f"liaison {liaison_id} exists; choose another id")
            conn.execute(
                t.liaisons.insert().values(
                    id=liaison_id,
                    name=name,
                    unit_id=unit_id,
                    token_hash=repo.hash_token(token),
                    active=True,
                    created_at=repo.iso(now),
                )
            )
            _audit(
                conn, now, "admin", "add_liaison", liaison_id, {"unit_id": unit_id, "name": name}, remote_addr
            )

        self.write(work)
        return liaison_id, token

    def list_liaisons(self, unit_id: str | None = None) -> list[dict]:
        """Every liaison (no token, not even its hash), with whether their token still works."""
        c = t.liaisons.c
        query = sa.select(c.id, c.name, c.unit_id, c.active, c.created_at).order_by(c.unit_id, c.id)
        if unit_id:
            query = query.where(c.unit_id == unit_id)
        with self.db.read.connect() as conn:
            return [r._asdict() for r in conn.execute(query)]

    def token_retired(self, token: str) -> str | None:
        """``"revoked"`` or ``"rotated"`` when ``token`` was a liaison's and no longer is, else None."""
        query = sa.select(t.retired_tokens.c.why).where(
            t.retired_tokens.c.token_hash == repo.hash_token(token)
        )
        with self.db.read.connect() as conn:
            return conn.execute(query).scalar()

    def revoke_liaison(self, liaison_id: str, *, remote_addr: str | None = None) -> dict:
        """Stop the liaison's token at once (every later request with it is a 401 "token
        revoked"). Revoking twice changes nothing. ``rotate_token`` gives them a new one."""
        now = self.clock()

        def work(conn: Connection) -> dict:
            row = _liaison_row(conn, liaison_id)
            if row.active:
                conn.execute(t.liaisons.update().where(t.liaisons.c.id == liaison_id).values(active=False))
                _retire(conn, row.token_hash, liaison_id, "revoked", now)
                _audit(
                    conn, now, "admin", "revoke_liaison", liaison_id, {"unit_id": row.unit_id}, remote_addr
                )
            return {
                "liaison_id": liaison_id,
                "name": row.name,
                "unit_id": row.unit_id,
                "was_active": row.active,
            }

        return self.write(work)

    def rotate_token(self, liaison_id: str, *, remote_addr: str | None = None) -> str:
        """Give the liaison a new token (returned: shown once) and refuse the old one from now
        on. A revoked liaison is active again with the new token."""
        token = "fyl_" + secrets.token_urlsafe(32)
        now = self.clock()

        def work(conn: Connection) -> None:
            row = _liaison_row(conn, liaison_id)
            if row.active:
                _retire(conn, row.token_hash, liaison_id, "rotated", now)
            conn.execute(
                t.liaisons.update()
                .where(t.liaisons.c.id == liaison_id)
                .values(token_hash=repo.hash_token(token), active=True)
            )
            detail = {"unit_id": row.unit_id, "reactivated": not row.active}
            _audit(conn, now, "admin", "rotate_token", liaison_id, detail, remote_addr)

        self.write(work)
        return token

    # --- actions -----------------------------------------------------------------------------

    def push(
        self, liaison: Liaison, client_id: str, queued: list[QueuedAction], remote_addr: str | None = None
    ) -> dict:
        """Decide a liaison's batch; each action on its own. Returns the PushResponse as a dict
        whose tickets are pre-serialised JSON fragments. (Its rate token is taken at the
        HTTP door, before the body is read: ``central/app.py``.)"""
        now = self.clock()
        actor = liaison.actor

        def work(conn: Connection) -> tuple[list[Outcome], int, dict[str, str]]:
            batch = Batch(conn, self.work_calendar(conn), remote_addr)
            batch.prefetch(
                [q.action.ticket_id for q in queued],
                [q.action.action_id for q in queued],
                [q.action.note_id for q in queued if isinstance(q.action, AddNote)],
            )
            outcomes = [
                batch.decide(
                    q.action, actor, now, liaison_id=liaison.id, client_id=client_id, client_seq=q.seq
                )
                for q in queued
            ]
            acked = _ack(conn, liaison.id, client_id, max((q.seq for q in queued), default=0))
            left = [o.ticket.id for o in outcomes if o.ticket is not None and not _may_see(o.ticket, liaison)]
            departed = repo.departed_tickets(conn, left, liaison.unit_id) if left else {}
            batch.flush()  # numbers and commits: the transaction's last statement
            return outcomes, acked, departed

        outcomes, acked, departed = self.write(work)
        results = [_result(o, liaison, departed) for o in outcomes]
        return {"results": results, "acked_seq": acked}

    def admin_action(self, action: Any, *, at: dt.datetime | None = None, operator: str = "central",
                     remote_addr: str | None = None) -> Outcome:  # fmt: skip
        """Decide one central action (``at``: when it happened, for back-filled history)."""
        now = at or self.clock()
        earliest, latest = EARLIEST_AT, self.clock() + dt.timedelta(days=1)
        if not earliest <= now <= latest:
            raise ServiceError(422, "invalid_request", f"`at` must lie between {earliest.date()} and "
                               f"tomorrow ({latest.date()}): history is back-filled, not invented")  # fmt: skip
        actor = Actor(Role.CENTRAL, operator)

        def work(conn: Connection) -> Outcome:
            batch = Batch(conn, self.work_calendar(conn), remote_addr)
            target = getattr(action, "unit_id", None)
            if target and not _unit_exists(conn, target):
                raise ServiceError(404, "not_found", f"no unit {target}: add it first")
            # A retried call (same action_id) is answered `duplicate`, as a push is.
            batch.prefetch([action.ticket_id], [action.action_id])
            outcome = batch.decide(action, actor, now)
            batch.flush()
            return outcome

        return self.write(work)

    # --- reads -------------------------------------------------------------------------------

    def ticket_json(self, ticket_id: str, liaison: Liaison | None) -> bytes | None:
        """``{"ticket","notes","events"}`` or None when absent or not the liaison's to see."""
        if not TICKET_ID.fullmatch(ticket_id):
            return None  # no ticket has such an id (and PostgreSQL refuses a NUL in a query)
        with self.snapshot() as conn:
            if liaison is not None:
                query = sa.select(t.tickets.c.unit_id).where(t.tickets.c.id == ticket_id)
                if conn.execute(query).scalar() != liaison.unit_id:
                    # A unit that held it sees it as it was when it left; any other: no ticket.
                    bundle = repo.departed_bundle(conn, ticket_id, liaison.unit_id)
                else:
                    bundle = repo.ticket_bundle(conn, ticket_id, masked=True)
            else:
                bundle = repo.ticket_bundle(conn, ticket_id, masked=False)
        if bundle is None:
            return None
        ticket, notes, events = bundle
        return orjson.dumps(
            {
                "ticket": orjson.Fragment(ticket),
                "notes": [orjson.Fragment(n) for n in notes],
                "events": [orjson.Fragment(e) for e in events],
            }
        )

    def list_tickets(self, unit_id: str | None, status: str | None, limit: int, after: str | None) -> bytes:
        c = t.tickets.c
        query = sa.select(c.id, c.liaison_data, c.citizen).order_by(c.id).limit(limit)
        if unit_id:
            query = query.where(t.tickets.c.unit_id == unit_id)
        if status:
            query = query.where(t.tickets.c.status == status)
        if after:
            query = query.where(t.tickets.c.id > after)
        with self.db.read.connect() as conn:
            rows = conn.execute(query).all()
        return orjson.dumps(
            {
                "tickets": [orjson.Fragment(repo.full_json(r.liaison_data, r.citizen)) for r in rows],
                "next": rows[-1].id if len(rows) == limit else None,
            }
        )

    def pull(
        self,
        liaison: Liaison,
        cursor: str | None,
        limit: int,
        client_calendar_version: int | None,
        client_metrics_etag: str | None,
    ) -> bytes:
        """One PullResponse page, built by joining stored JSON (rate taken at the HTTP door)."""
        limit = max(1, min(limit, MAX_PULL_LIMIT))
        with self.snapshot() as conn:
            # One read of the meta facts the page needs (it is on every pull).
            facts = repo.get_metas(conn, "server_id", "min_retained_seq", "calendar_version")
            generation = facts.get("server_id") or ""
            version = int(facts.get("calendar_version") or 0)
            # In this snapshot every number up to the counter is committed (a number is taken
            # under the counter's row lock, held to commit), and none above it is visible.
            cap = repo.current_seq(conn)
            after = 0
            fresh_from: int | None = None
            if cursor:
                given = decode_cursor(cursor)
                after = given.seq
                if given.fresh_from is not None and after < given.fresh_from <= cap:
                    fresh_from = given.fresh_from  # still inside a pull that began from scratch
                if not _cursor_holds(conn, given, generation, cap, int(facts.get("min_retained_seq") or 0)):
                    return orjson.dumps(
                        {
                            "cursor": encode_cursor(generation, 0),
                            "has_more": False,
                            "reset": True,
                            "tickets": [],
                            "notes": [],
                            "events": [],
                            "removed": [],
                            "calendar_version": version,
                        }
                    )
            if after == 0:
                fresh_from = cap  # a pull from scratch: its pages may page on below a later prune
            c = t.tickets.c
            rows = conn.execute(
                sa.select(c.id, c.change_seq, c.scope_since, c.liaison_data)
                .where(c.unit_id == liaison.unit_id, c.change_seq > after, c.change_seq <= cap)
                .order_by(c.change_seq)
                .limit(limit + 1)
            ).all()
            has_more = len(rows) > limit
            rows = rows[:limit]
            end = rows[-1].change_seq if has_more else cap
            notes = _history(conn, t.notes, liaison.unit_id, after, end)
            events = _history(conn, t.events, liaison.unit_id, after, end)
            in_page = {r.id for r in rows}
            removed = [
                tid
                for tid in conn.execute(
                    sa.select(t.scope_exits.c.ticket_id)
                    .where(
                        t.scope_exits.c.unit_id == liaison.unit_id,
                        t.scope_exits.c.change_seq > after,
                        t.scope_exits.c.change_seq <= end,
                    )
                    .order_by(t.scope_exits.c.change_seq)
                ).scalars()
                if tid not in in_page
            ]
            body: dict[str, Any] = {
                # Once past where a pull from scratch began, its cursor is a plain one.
                "cursor": encode_cursor(
                    generation, end, repo.boot_at(conn, end), fresh_from if end < (fresh_from or 0) else None
                ),
                "has_more": has_more,
                "reset": False,
                "tickets": [orjson.Fragment(r.liaison_data) for r in rows],
                "notes": [orjson.Fragment(n) for n in notes],
                "events": [orjson.Fragment(e) for e in events],
                "removed": list(dict.fromkeys(removed)),
            }
            body["calendar_version"] = version
            if client_calendar_version != version:
                body["calendar"] = [table.model_dump(mode="json") for table in repo.calendar_tables(conn)]
            if not has_more:
                figures = self.unit_metrics(conn, liaison.unit_id, cap, facts.get("server_id"))
                etag = hashlib.sha256(orjson.dumps([m.model_dump(mode="json") for m in figures])).hexdigest()[
                    :16
                ]
                body["metrics_etag"] = etag
                if client_metrics_etag != etag:
                    body["metrics"] = [m.model_dump(mode="json") for m in figures]
        return orjson.dumps(body)

    def prune(self, older_than: dt.timedelta, remote_addr: str | None = None) -> dict:
        """Delete the scope exits written more than ``older_than`` ago (a cursor at or below the
        newest deleted one is expired from now on: its pull answers ``reset``), and clear the
        payloads of the rejected actions decided before then."""
        cutoff = repo.iso(self.clock() - older_than)
        now = self.clock()

        def work(conn: Connection) -> dict:
            x = t.scope_exits.c
            old = sa.or_(x.recorded_at < cutoff, x.recorded_at.is_(None))
            newest = conn.execute(sa.select(sa.func.max(x.change_seq)).where(old)).scalar()
            deleted = conn.execute(t.scope_exits.delete().where(old)).rowcount if newest else 0
            floor = int(repo.get_meta(conn, "min_retained_seq") or 0)
            if newest is not None and newest > floor:
                # A cursor equal to `newest` has seen that exit; one below it may have missed it.
                floor = newest
                repo.set_meta(conn, "min_retained_seq", str(floor))
            # A rejected action's payload is kept for the audit a while, not forever (the
            # liaison's conflict inbox has its own copy); its row stays: a resend is a duplicate.
            a = t.actions.c
            cleared = conn.execute(
                t.actions.update()
                .where(a.outcome == "rejected", a.decided_at < cutoff, a.payload != PRUNED_PAYLOAD)
                .values(payload=PRUNED_PAYLOAD)
            ).rowcount
            detail = {"before": cutoff, "deleted": deleted, "payloads_cleared": cleared}
            _audit(conn, now, "admin", "prune", None, detail, remote_addr)
            return {"deleted": deleted, "min_retained_seq": floor, "payloads_cleared": cleared}

        return self.write(work)

    # --- metrics -----------------------------------------------------------------------------

    def metrics(self, month: str, unit_id: str | None = None) -> list[UnitMetrics]:
        with self.snapshot() as conn:
            figures = self._all_metrics(conn, month, repo.current_seq(conn))
        return [m for m in figures if unit_id is None or m.unit_id == unit_id]

    def _all_metrics(self, conn: Connection, month: str, seq: int) -> list[UnitMetrics]:
        today = beijing_date(self.clock())
        key = (month, today, seq, repo.get_meta(conn, "server_id"))
        cached = self._metrics_cache.get(key)
        if cached is None:
            if len(self._metrics_cache) > 64:
                self._metrics_cache.clear()
            cached = self._metrics_cache[key] = metrics_mod.compute(conn, month, today)
        return cached

    def unit_metrics(
        self, conn: Connection, unit_id: str, seq: int, generation: str | None
    ) -> list[UnitMetrics]:
        """The unit's figures for last month and this one (what the liaison's dashboard shows).

        Computed on every last pull page, so cheap when nothing changed: the unit's own figures
        are recomputed only when one of its tickets changed (or left it) — two index look-ups
        tell — and its rank comes from every unit's figures refreshed at most every
        :data:`PEER_FIGURES_TTL` seconds (per process: no state that matters). ``generation``
        is the database's ``server_id``, which the caller has read already.
        """
        today = beijing_date(self.clock())
        this = today.replace(day=1)
        last = (this - dt.timedelta(days=1)).replace(day=1)
        mark = (
            conn.execute(sa.select(sa.func.max(t.tickets.c.change_seq)).where(t.tickets.c.unit_id == unit_id)).scalar(),
            conn.execute(sa.select(sa.func.max(t.scope_exits.c.change_seq)).where(t.scope_exits.c.unit_id == unit_id)).scalar(),
        )  # fmt: skip
        out = []
        for month in (last.strftime("%Y-%m"), this.strftime("%Y-%m")):
            key = (unit_id, month, today, generation, mark)
            own = self._own_metrics.get(key)
            if own is None:
                found = metrics_mod.figures_for(conn, month, today, unit_id)
                if not found:
                    continue
                if len(self._own_metrics) > 4096:
                    self._own_metrics.clear()
                own = self._own_metrics[key] = found[0]
            peers, kinds = self._peer_metrics(conn, month, today, generation, seq)
            out.append(metrics_mod.rank_among(own, kinds.get(unit_id, ""), peers, kinds))
        return out

    def _peer_metrics(
        self, conn: Connection, month: str, today: dt.date, generation: str | None, seq: int
    ) -> tuple[list[UnitMetrics], dict[str, str]]:
        key = (month, today, generation)
        cached = self._peers.get(key)
        moment = time.monotonic()
        if cached is None or (cached[0] != seq and moment - cached[1] > PEER_FIGURES_TTL):
            kinds = {u.id: u.kind for u in conn.execute(sa.select(t.units.c.id, t.units.c.kind))}
            if len(self._peers) > 64:
                self._peers.clear()
            cached = self._peers[key] = (seq, moment, metrics_mod.figures_for(conn, month, today), kinds)
        return cached[2], cached[3]

    # --- calendar ----------------------------------------------------------------------------

    def put_calendar(self, table: HolidayTable, remote_addr: str | None = None) -> int:
        """Store a year's holiday table; returns the new calendar version."""
        now = self.clock()

        def work(conn: Connection) -> int:
            data = table.model_dump_json()
            if conn.execute(t.calendar.update().where(t.calendar.c.year == table.year).values(
                    data=data, updated_at=repo.iso(now))).rowcount == 0:  # fmt: skip
                conn.execute(t.calendar.insert().values(year=table.year, data=data, updated_at=repo.iso(now)))
            version = repo.calendar_version(conn) + 1
            repo.set_meta(conn, "calendar_version", str(version))
            _audit(conn, now, "admin", "calendar", str(table.year), {"version": version}, remote_addr)
            return version

        return self.write(work)

    def calendar(self) -> tuple[int, list[HolidayTable]]:
        with self.db.read.begin() as conn:
            return repo.calendar_version(conn), repo.calendar_tables(conn)

    def audit_rows(self, limit: int = 100, target: str | None = None) -> list[dict]:
        query = sa.select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)
        if target:
            query = query.where(t.audit.c.target == target)
        with self.db.read.connect() as conn:
            return [r._asdict() for r in conn.execute(query)]


def _cursor_holds(conn: Connection, given: Cursor, generation: str, cap: int, min_retained: int) -> bool:
    """Whether a pull may go on from ``given``; False: the client must start afresh (``reset``).

    Not when it is of another generation (the database was reset), older than the retained
    scope exits (pruned), ahead of the counter (this database cannot have issued it: restored
    from a dump taken before it), or when the newest server start below its number is not the
    one it names (see :func:`repo.boot_at`: only a restore changes that).
    """
    if given.generation != generation or given.seq > cap:
        return False
    # Why a pull from scratch may page on below ``min_retained_seq``: the only history a cursor
    # depends on that prune deletes is scope exits, and the only exits such a pull needs are
    # those of tickets it was sent. Each was in the unit at its page's snapshot, so its exit is
    # numbered above that snapshot's counter, which is at least ``fresh_from``. While
    # ``fresh_from`` is at or above ``min_retained`` every one of those exits is still kept.
    fresh = given.fresh_from
    from_scratch = fresh is not None and given.seq < fresh <= cap
    if 0 < given.seq < min_retained and not (from_scratch and fresh >= min_retained):
        return False
    return given.boot is None or repo.boot_at(conn, given.seq) == given.boot


def _history(conn: Connection, table: sa.Table, unit_id: str, after: int, end: int) -> list[str]:
    """The notes or events (JSON, oldest first) a pull page covering ``(after, end]`` carries.

    The page's tickets are the unit's with ``change_seq`` in that range. One that entered the
    unit after the cursor comes with its whole history. Of the others (the client has them),
    everything stamped in the range — also for a ticket whose newest change is beyond this page
    and which a later page brings: its earlier history would be below that page's cursor.
    All are index ranges, no id lists; see :func:`_stamped_in` for the second part.
    """
    h, tk = table.c, t.tickets.c
    joined = table.join(t.tickets, tk.id == h.ticket_id)
    parts = [
        sa.select(h.seq, h.data)
        .select_from(joined)
        .where(tk.unit_id == unit_id, tk.change_seq > after, tk.change_seq <= end, tk.scope_since > after)
    ]
    if after > 0:  # on a first pull every ticket is new
        parts.append(_stamped_in(conn, table, unit_id, after, end))
    both = sa.union_all(*parts).subquery()
    return conn.execute(sa.select(both.c.data).order_by(both.c.seq)).scalars().all()


def _stamped_in(conn: Connection, table: sa.Table, unit_id: str, after: int, end: int) -> sa.Select:
    """History stamped in ``(after, end]`` of the unit's tickets the client already has.

    Two ways to find it; the cheaper one depends on the page. Walking the unit's tickets changed
    after the cursor costs one probe per such ticket — on page k of a 100,000-ticket first pull
    that is every ticket still to come (O(N) per page, O(N²) per pull: it was most of the
    server's time). Walking the history stamped in the page's commit range (``ix_*_seq``) costs
    one ticket look-up per row — a few per commit of any unit. So: count the unit's tickets
    changed after the cursor, stopping at the range's width, and walk whichever is smaller.
    """
    h, tk = table.c, t.tickets.c
    known = (tk.unit_id == unit_id, tk.change_seq > after, tk.scope_since <= after)
    stamped = (h.change_seq > after, h.change_seq <= end)
    width = end - after
    changed = sa.select(tk.id).where(tk.unit_id == unit_id, tk.change_seq > after).limit(width).subquery()
    if conn.execute(sa.select(sa.func.count()).select_from(changed)).scalar_one() < width:
        return (
            sa.select(h.seq, h.data)
            .select_from(table.join(t.tickets, tk.id == h.ticket_id))
            .where(*known, *stamped)
        )
    # EXISTS, not a join: the history's commit range drives, each row checks its ticket by key.
    return sa.select(h.seq, h.data).where(*stamped, sa.exists().where(tk.id == h.ticket_id, *known))


def _may_see(ticket: Ticket, liaison: Liaison) -> bool:
    """A liaison sees the current state of its unit's tickets only: a unit that held a ticket
    before reads it as it left (``ticket_json``), never what happened since."""
    return ticket.unit_id == liaison.unit_id


def _result(o: Outcome, liaison: Liaison, departed: dict[str, str]) -> dict:
    """A push result. A unit the ticket left gets it as it was when it left (``departed``:
    where it went, nothing since, no ``changed_by``); a unit that never held it, nothing."""
    visible = o.ticket is not None and _may_see(o.ticket, liaison)
    left = departed.get(o.ticket.id) if o.ticket is not None and not visible else None
    ticket = orjson.Fragment(liaison_copy(o.ticket).model_dump_json()) if visible else None
    return {
        "action_id": o.action_id,
        "seq": o.client_seq,
        "outcome": o.outcome,
        "original_outcome": o.original_outcome,
        "reason": o.reason.value if o.reason else None,
        "message": o.message,
        "ticket": orjson.Fragment(left) if left is not None else ticket,
        "changed_by": o.changed_by if visible else None,
        "changed_at": o.changed_at.isoformat() if visible and o.changed_at else None,
    }


def _ack(conn: Connection, liaison_id: str, client_id: str, seq: int) -> int:
    c = t.client_acks.c
    current = conn.execute(
        sa.select(c.acked_seq).where(c.liaison_id == liaison_id, c.client_id == client_id)
    ).scalar()
    if current is None:
        conn.execute(t.client_acks.insert().values(liaison_id=liaison_id, client_id=client_id, acked_seq=seq))
        return seq
    if seq > current:
        conn.execute(
            t.client_acks.update()
            .where(c.liaison_id == liaison_id, c.client_id == client_id)
            .values(acked_seq=seq)
        )
        return seq
    return current


def _unit_exists(conn: Connection, unit_id: str) -> bool:
    return conn.execute(sa.select(t.units.c.id).where(t.units.c.id == unit_id)).first() is not None


def _liaison_row(conn: Connection, liaison_id: str):
    row = conn.execute(sa.select(t.liaisons).where(t.liaisons.c.id == liaison_id)).first()
    if row is None:
        raise ServiceError(404, "not_found", f"no liaison {liaison_id}: `fycli central liaisons` lists them")
    return row


def _retire(conn: Connection, token_hash: str, liaison_id: str, why: str, now: dt.datetime) -> None:
    """Remember a token that no longer opens anything (once: a revoked one stays revoked)."""
    known = sa.select(t.retired_tokens.c.token_hash).where(t.retired_tokens.c.token_hash == token_hash)
    if conn.execute(known).first() is None:
        conn.execute(t.retired_tokens.insert().values(token_hash=token_hash, liaison_id=liaison_id, why=why,
                                                      retired_at=repo.iso(now)))  # fmt: skip


def _audit(conn, now, actor: str, what: str, target: str | None, detail: dict, remote_addr) -> None:
    conn.execute(
        t.audit.insert().values(
            at=repo.iso(now),
            actor=actor,
            actor_id="admin",  # every caller is an admin-token endpoint
            role=Role.CENTRAL.value,
            what=what,
            target=target,
            remote_addr=remote_addr,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
        )
    )
