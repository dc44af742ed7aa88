"""The replica file's layout, its versioned migrations, and the checks that refuse a foreign file.

A replica is marked with :data:`APPLICATION_ID` (``PRAGMA application_id``) and carries its
schema version in ``PRAGMA user_version``. :func:`inspect_file` looks at an existing file
without writing to it, so a file that is not ours (not SQLite, corrupt, another program's, or
from a newer fycli) is refused before anything could change a byte of it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from local_db.api import ReplicaError

#: "FYCL" — marks a SQLite file as a fycli replica (see https://www.sqlite.org/pragma.html#pragma_application_id).
APPLICATION_ID = 0x4659434C

# Why three ticket tables: ``tickets`` is narrow (a few dozen bytes a row) so that counts,
# filters and sorts over 100,000 rows scan little; the JSON documents and the search text are
# large and are read only for the rows on screen or while searching. They share ``rid``.
_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;

CREATE TABLE tickets (
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    unit_id TEXT,
    epoch INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    complexity TEXT NOT NULL,
    village TEXT,
    title TEXT NOT NULL,
    due TEXT,                -- the deadline that matters now (ISO date), NULL when none
    due_sort TEXT NOT NULL,  -- due, or '9999-12-31': the deadline sort key, NULLs last
    updated_us INTEGER NOT NULL,  -- updated_at as microseconds since the epoch (UTC)
    urged INTEGER NOT NULL,
    supervised INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    escalated INTEGER NOT NULL,
    has_ext INTEGER NOT NULL,      -- an extension request is pending
    in_scope INTEGER NOT NULL,     -- 0: reassigned away, kept readable
    pending INTEGER NOT NULL DEFAULT 0,   -- unsent actions on this ticket
    conflict INTEGER NOT NULL DEFAULT 0   -- open conflicts in the inbox
);
-- deadline sort and the due-soon/overdue ranges (in_scope last: covering, no row lookups)
CREATE INDEX tickets_due ON tickets (due_sort, id, in_scope);
-- the status views in deadline order, and the per-status counts
CREATE INDEX tickets_status ON tickets (status, in_scope, due_sort, id);
CREATE INDEX tickets_updated ON tickets (updated_us, id);
-- small partial indexes for the rare marks
CREATE INDEX tickets_out ON tickets (due_sort, id) WHERE in_scope = 0;
CREATE INDEX tickets_ext ON tickets (due_sort, id) WHERE has_ext = 1;
CREATE INDEX tickets_marked ON tickets (due_sort, id) WHERE conflict > 0;
CREATE INDEX tickets_pending ON tickets (id) WHERE pending > 0;

-- the server's last known state of each ticket, as pulled (masked), JSON text
CREATE TABLE docs (rid INTEGER PRIMARY KEY, json TEXT NOT NULL);
-- number, title, address and description (see columns.search_text): searched, and not kept twice in docs
CREATE TABLE search (rid INTEGER PRIMARY KEY, text TEXT NOT NULL);

-- append-only records, clustered by ticket (one b-tree each: cheap to insert 100,000 of)
CREATE TABLE notes (ticket_id TEXT NOT NULL, id TEXT NOT NULL, at TEXT NOT NULL, json TEXT NOT NULL,
                    PRIMARY KEY (ticket_id, id)) WITHOUT ROWID;
CREATE TABLE events (ticket_id TEXT NOT NULL, id TEXT NOT NULL, at TEXT NOT NULL, json TEXT NOT NULL,
                     PRIMARY KEY (ticket_id, id)) WITHOUT ROWID;

-- unsent actions in the order the liaison made them; seq never goes back (AUTOINCREMENT)
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id TEXT NOT NULL UNIQUE,
    group_id TEXT NOT NULL,   -- actions queued together (accept + resolve) are undone together
    ticket_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_ticket ON outbox (ticket_id, seq);

CREATE TABLE conflicts (
    action_id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    server_ticket TEXT,
    changed_by TEXT,
    changed_at TEXT,
    refused_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open'
);
CREATE INDEX conflicts_state ON conflicts (state, ticket_id);

CREATE TABLE calendar (year INTEGER PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE metrics (unit_id TEXT NOT NULL, month TEXT NOT NULL, json TEXT NOT NULL,
                      PRIMARY KEY (unit_id, month));
"""

# Why ``events.pos``: a ticket's history must read in the server's order. Sorting by time
# put a sign-for and the resolve queued with it (same instant) in the order of their random
# ids. Pull pages bring events in the server's sequence, so the order they arrive in is the
# server's: ``pos`` numbers them as they arrive (``meta.event_pos`` is the last one given).
# Events stored before it are numbered in their old order (time, then id): nothing better is known.
_V2 = """
ALTER TABLE events ADD COLUMN pos INTEGER;
UPDATE events SET pos = o.n
  FROM (SELECT ticket_id, id, row_number() OVER (ORDER BY at, id) AS n FROM events) AS o
  WHERE o.ticket_id = events.ticket_id AND o.id = events.id;
INSERT OR REPLACE INTO meta (key, value) SELECT 'event_pos', count(*) FROM events;
"""

# Why ``outbox.hold_until``: the app's undo window belongs to the action, not to one sync. An
# action the app queues is held until then (queued time + ``undo_grace``), and EVERY sync (the
# app's background one, a cron `fycli sync`) leaves it unsent until that moment unless the
# caller flushes (`r`, `fycli sync --now`). NULL: no hold (actions made by CLI commands, and
# every action queued before this column existed).
_V3 = """
ALTER TABLE outbox ADD COLUMN hold_until TEXT;
"""

#: Migration ``n`` brings a file from version ``n - 1`` to ``n``. Append only; never edit one.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def inspect_file(path: Path) -> int | None:
    """The schema version of the replica at ``path``, or None for an empty file. Writes nothing.

    Raises :class:`ReplicaError` when the file is not SQLite, is corrupt, belongs to another
    program, or was written by a newer fycli.

    The file is read through SQLite only, never with ``open()``: POSIX advisory locks belong to
    the process, so closing ANY descriptor of the database file drops every SQLite lock this
    process holds on it (the app keeps a connection open while its sync opens another), and the
    next other process to close its connection would then delete the live WAL under it.
    """
    try:
        if path.stat().st_size == 0:  # stat opens nothing
            return None
    except OSError as e:
        raise ReplicaError(f"cannot read {path}: {e.strerror}") from e
    # Read-only and immutable=0: the check itself must never change the file.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=1.0)
    except sqlite3.Error as e:
        raise error_for(path, e) or ReplicaError(f"cannot open {path}: {e}") from e
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as e:
        if error_code(e) == sqlite3.SQLITE_NOTADB:
            raise ReplicaError(
                f"{path} is not a fycli replica (not a SQLite database); it was left untouched. "
                "Point fycli at another path, or move this file away (keep it if it was your "
                "replica) and run `fycli init`."
            ) from e
        raise error_for(path, e) or corrupt_error(path, e) from e
    finally:
        conn.close()
    if app_id != APPLICATION_ID:
        if app_id == 0 and not tables:
            return None  # an empty SQLite file: nothing to lose, make it a replica
        raise ReplicaError(
            f"{path} is another program's SQLite database, not a fycli replica; it was left untouched. "
            "Choose another path for the replica (FYCLI_DB or `fycli init --db`)."
        )
    if version > SCHEMA_VERSION:
        raise ReplicaError(
            f"{path} was written by a newer fycli (replica schema {version}, this fycli knows up to "
            f"{SCHEMA_VERSION}); it was left untouched. Upgrade fycli to use it."
        )
    return version


def error_code(error: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``error`` (SQLITE_CORRUPT, SQLITE_READONLY …), if known."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


#: What SQLite says when the file itself is damaged; only these make fycli call it "damaged".
DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def error_for(path: Path, error: sqlite3.Error) -> ReplicaError | None:
    """The ReplicaError (what is wrong, what to do) for a database error met on ``path``,
    by SQLite's result code; None for an error that is not about the file (a bug: re-raise)."""
    code = error_code(error)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (code is None and is_locked(error)):
        return locked_error(path)
    if code in DAMAGE_CODES:
        return damaged_error(path, error)
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_READONLY_DBMOVED:
        return ReplicaError(
            f"{path} was moved, replaced or deleted while fycli had it open; nothing more was "
            "written to it. Close fycli and start it again (your unsent work is in the file that "
            "was moved: `fycli --db THAT_FILE outbox export FILE` saves it)."
        )
    if code == sqlite3.SQLITE_READONLY:
        return readonly_error(path)
    if code == sqlite3.SQLITE_FULL:
        return ReplicaError(f"the disk holding {path} is full ({error}); free some space and try again.")
    if code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return ReplicaError(
            f"cannot read or write {path} ({error}); nothing was changed. Check that its disk is "
            f"attached and that {path.name}, its -wal and -shm files and its folder are yours and "
            "writable, then try again."
        )
    return None


def side_files(path: Path) -> list[Path]:
    """The files SQLite keeps beside the replica (write-ahead log, shared memory, journal)."""
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def readonly_error(path: Path) -> ReplicaError:
    """The replica (or a file beside it, or its folder) cannot be written by this user."""
    return ReplicaError(
        f"{path} is read-only for you, so fycli cannot save anything in it; nothing was changed. "
        f"Make it writable (as its owner: `chmod u+w {path}`, and the same for its -wal/-shm files "
        "if any), or run fycli as the user who owns it."
    )


#: The advice every "damaged" message starts with: save the unsent work before anything else.
SAVE_FIRST = (
    "First save your unsent work: `fycli outbox export FILE` (it reads what it still can). "
    "Then close fycli, move {name} aside (keep it), run `fycli init --force` and `fycli sync`, "
    "and re-queue the saved work with `fycli outbox import FILE`."
)


def corrupt_error(path: Path, error: Exception) -> ReplicaError:
    """The replica's header or schema is damaged (found on opening)."""
    return ReplicaError(
        f"{path} is damaged and cannot be read ({error}); it was left untouched. "
        + SAVE_FIRST.format(name=path.name)
    )


def damaged_error(path: Path, error: Exception) -> ReplicaError:
    """What to do about a replica found damaged while in use."""
    return ReplicaError(
        f"{path} is damaged ({error}). `fycli status --check` checks the whole file. "
        + SAVE_FIRST.format(name=path.name)
        + " (`fycli sync` pulls a fresh copy of your tickets.)"
    )


def is_locked(error: sqlite3.Error) -> bool:
    """Whether ``error`` means another connection holds the lock (not damage)."""
    code = error_code(error)
    if code is not None:
        return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(error)
    return "locked" in text or "busy" in text


def locked_error(path: Path) -> ReplicaError:
    return ReplicaError(
        f"{path} is locked by another fycli process (a sync or the app may be running). "
        "Wait for it to finish, or close it, and try again."
    )


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Bring an open replica (in autocommit mode) to :data:`SCHEMA_VERSION`, one step per transaction."""
    for version in range(from_version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version == 1:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    out, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return [s for s in out if s]
