"""Opening the central database: URL rules, SQLite pragmas, migrations at start.

One code path for SQLite (the zero-set-up default) and PostgreSQL (psycopg 3). Every
process that opens the database runs the migrations first; on PostgreSQL an advisory lock
makes several processes starting at once take turns.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine

from central.storage import repo
from central.storage import tables as t

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
#: Any constant: the key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK = 0x6679636C69


class StorageError(Exception):
    """The database cannot be used; the message says what to do."""


def normalize_url(url: str) -> str:
    """Accept the spellings people type: ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite:", "postgresql+psycopg:")):
        return url
    if "://" not in url:  # a plain path
        return "sqlite:///" + str(Path(url).expanduser().resolve())
    raise StorageError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


@dataclass
class Database:
    """The engines of one central database.

    ``write`` starts every transaction with the write lock taken (SQLite ``BEGIN IMMEDIATE``:
    no deadlock-prone lock upgrades); ``read`` is for pulls and reports. On PostgreSQL both
    are the same engine.
    """

    url: str
    write: Engine
    read: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.write.dialect.name == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or self.write.url.database in (None, "", ":memory:"):
            return None
        return Path(self.write.url.database)

    def dispose(self) -> None:
        self.write.dispose()
        if self.read is not self.write:
            self.read.dispose()


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=8,
        max_overflow=8,
        hide_parameters=True,  # a failing statement's parameters are citizens' data: keep them out of errors
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Take transaction control from the driver so BEGIN is ours (and savepoints work).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(begin)

    return engine


def _private_sqlite_file(path: Path) -> None:
    """Make the database file owner-only (0600) before SQLite opens it: it holds citizens'
    unmasked names and phones. A new directory is made 0700; SQLite gives its -wal and -shm
    files the database file's mode. An existing file others could read is tightened."""
    if os.name == "nt":  # the user's profile folders are private there; no mode bits
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)  # an empty file is an empty SQLite database
    except FileExistsError:
        pass
    except OSError as exc:
        raise StorageError(
            f"cannot create the database file {path} ({exc.strerror}); give another --db"
        ) from exc
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = file.stat()
            if info.st_mode & 0o077 and info.st_uid == os.getuid():
                file.chmod(0o600)
        except FileNotFoundError:
            pass


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open (creating and migrating when needed) the database at ``url``."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            _private_sqlite_file(Path(path))
        db = Database(url, _sqlite_engine(url, "BEGIN IMMEDIATE"), _sqlite_engine(url, "BEGIN"))
    else:
        engine = sa.create_engine(
            url, pool_size=10, max_overflow=20, pool_pre_ping=True, hide_parameters=True
        )
        db = Database(url, engine, engine)
    try:
        with db.write.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        db.dispose()
        raise StorageError(f"cannot open the database {url}: {exc.orig}") from exc
    except sa.exc.DatabaseError as exc:  # e.g. a file that is not SQLite
        db.dispose()
        raise StorageError(f"{url} is not a usable database ({exc.orig}); give another --db") from exc
    if migrate:
        run_migrations(db)
    return db


def run_migrations(db: Database) -> None:
    """Bring the schema to the newest revision and make sure the meta facts exist."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.write.begin() as conn:
        if not db.is_sqlite:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, "head")
        except Exception as exc:
            raise StorageError(
                f"cannot migrate the database {db.url}: {exc}. Is it another program's database?"
            ) from exc
        existing = {r.key for r in conn.execute(sa.select(t.meta.c.key))}
        defaults = {"server_id": secrets.token_hex(8), "calendar_version": "0"}
        for key, value in defaults.items():
            if key not in existing:
                conn.execute(t.meta.insert().values(key=key, value=value))
    # A start of its own, after the migrations: a cursor issued before a restore is told apart
    # from one issued since (see tables.boots).
    with db.write.begin() as conn:
        repo.stamp_boot(conn, secrets.token_hex(8), repo.utcnow())
