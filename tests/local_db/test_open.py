"""Opening a replica: migrations, and refusal of files that are not ours (left byte-for-byte untouched)."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from local_db.api import ReplicaError, TicketQuery
from local_db.replica import Replica
from local_db.schema import APPLICATION_ID, SCHEMA_VERSION
from tests.local_db.factory import fixed_clock, make_replica, page, ticket_json


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_create_then_reopen_keeps_client_id(tmp_path):
    path = tmp_path / "r.db"
    with Replica.open(path, create=True) as r:
        client_id = r.state().client_id
        assert len(client_id) == 32 and int(client_id, 16) >= 0
    with Replica.open(path) as r:
        assert r.state().client_id == client_id
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_missing_file_without_create(tmp_path):
    with pytest.raises(ReplicaError, match="fycli init"):
        Replica.open(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


def _other_program_db(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('x')")
    conn.commit()
    conn.close()


def _newer_replica(path):
    Replica.open(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL in: the file alone is the database
    conn.close()


def _corrupt_replica(path):
    r = Replica.open(path, create=True, clock=fixed_clock)
    r.apply_pull_page_raw(page([ticket_json(f"T{i}") for i in range(200)]))
    r.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page after the header
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"<html>not a database</html>" * 10), "not a SQLite database"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 10), "not a SQLite database"),
        (_other_program_db, "another program"),
        (_newer_replica, "newer fycli"),
        (_corrupt_replica, "damaged"),
    ],
    ids=["text", "truncated", "foreign", "newer", "corrupt"],
)
def test_unusable_files_are_refused_and_untouched(tmp_path, make, message):
    path = tmp_path / "r.db"
    make(path)
    before = _sha(path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ReplicaError, match=message):
        Replica.open(path, create=True)
    assert _sha(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no -wal/-shm left behind


def test_locked_replica_gives_a_clear_message(tmp_path):
    path = tmp_path / "r.db"
    Replica.open(path, create=True, clock=fixed_clock).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ReplicaError, match="locked"):
            r = Replica.open(path, timeout=0.05, clock=fixed_clock)
            r.accept(["X"])  # if opening succeeded, the first write must say it clearly
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_empty_sqlite_file_becomes_a_replica_with_create(tmp_path):
    path = tmp_path / "r.db"
    path.write_bytes(b"")
    with pytest.raises(ReplicaError, match="empty"):
        Replica.open(path)
    with Replica.open(path, create=True) as r:
        assert r.state().tickets == 0


def _damage_table(path, table: str) -> None:
    """Overwrite every page of ``table`` but its root with garbage (the schema on page 1 stays)."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    pages = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,)) if p != root]
    conn.close()
    assert pages, "the table must span several pages"
    with path.open("r+b") as f:
        for p in pages:
            f.seek((p - 1) * page_size)
            f.write(b"\xa5" * page_size)


def test_damage_deep_in_the_file_is_a_replica_error_and_check_finds_it(tmp_path):
    path = tmp_path / "r.db"
    with make_replica(path, 600) as r:
        assert r.check() == []
    _damage_table(path, "tickets")
    with Replica.open(path, clock=fixed_clock) as r:  # the header and schema are fine
        for call in (
            lambda: r.query(TicketQuery()),
            lambda: r.count(TicketQuery(category="教育")),
            lambda: r.counts_by_view(),
            lambda: r.resolve(["FY250000001"], "已处理"),
        ):
            with pytest.raises(ReplicaError, match=r"damaged .*fycli status --check.*fycli sync"):
                call()
        problems = r.check()
        assert problems and problems != ["ok"]
