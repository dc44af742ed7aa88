"""A ticket that leaves the liaison's unit leaves no unmasked citizen behind on the liaison's
PC (issue 10, finding 6 follow-up): a call-back ticket's phone, held unmasked while the call
back was the unit's to make, is masked in the replica once the ticket is reassigned away —
in every table and in the file's raw bytes. End to end: a real ``fycli serve`` and the
``fycli`` commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from fycli import EXIT_CONFLICTS, EXIT_OK
from local_db.replica import Replica
from sync.client import SyncClient
from sync.engine import sync
from tests.servers import CentralServer
from tests.test_cli_e2e import Liaison

PHONE, MASKED = "13912345678", "139****5678"


def _every_value(db: Path) -> str:
    """Every value of every table of the replica, as one text."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def _raw_bytes(db: Path) -> bytes:
    """The database file and its WAL as they are on disk (after a checkpoint by a reader)."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("with_unsent_note", [False, True], ids=["pull", "push-then-pull"])
def test_a_call_back_ticket_reassigned_away_leaves_no_unmasked_phone_in_the_replica(
    tmp_path: Path, central_server: CentralServer, with_unsent_note: bool
) -> None:
    s = central_server
    s.add_unit("ua", "王店镇人民政府")
    s.add_unit("ub", "西湖镇人民政府")
    tid = "CB-00002"
    s.register(tid, needs_callback=True, citizen_phone=PHONE)
    assert s.act(tid, "assign", unit_id="ua")["outcome"] == "applied"
    a = Liaison(tmp_path, s, "ua", "甲")
    a.sync()
    assert a.show(tid)["ticket"]["citizen_phone"] == PHONE  # a call back is due: A may call
    (db,) = [p for p in a.dir.rglob("*.db")]
    assert PHONE in _every_value(db)  # the test sees the phone where it is
    assert s.act(tid, "reassign", unit_id="ub", reason="属西湖镇辖区")["outcome"] == "applied"
    if with_unsent_note:  # refused (REASSIGNED): the push answer says the ticket moved away
        a.run("note", tid, "--text", "甲：已联系反映人")
    a.sync(code=EXIT_CONFLICTS if with_unsent_note else EXIT_OK)
    assert a.show(tid)["ticket"]["citizen_phone"] == MASKED
    assert PHONE not in _every_value(db)
    assert PHONE.encode() not in _raw_bytes(db)


def test_an_open_replica_leaves_no_unmasked_phone_in_its_file_or_wal(
    tmp_path: Path, central_server: CentralServer
) -> None:
    """As the app holds it: one replica open across syncs, so its WAL is not removed at close.
    Many tickets pulled with it put its page late in the WAL, past what a later small write
    overwrites; the old page must not stay there, nor in the file's free space."""
    s = central_server
    s.add_unit("ua", "王店镇人民政府")
    s.add_unit("ub", "西湖镇人民政府")
    tid = "CB-00003"
    s.register(tid, needs_callback=True, citizen_phone=PHONE)
    assert s.act(tid, "assign", unit_id="ua")["outcome"] == "applied"
    s.register_and_assign("ua", 150)
    token = s.add_liaison("ua", "甲")
    db = tmp_path / "replica.db"
    replica = Replica.open(db, create=True)
    try:
        with SyncClient(s.url, token) as client:
            sync(replica, client)
            assert replica.detail(tid).server_ticket.citizen_phone == PHONE
            assert s.act(tid, "reassign", unit_id="ub", reason="属西湖镇辖区")["outcome"] == "applied"
            sync(replica, client)
        detail = replica.detail(tid)
        assert (detail.in_scope, detail.server_ticket.citizen_phone) == (False, MASKED)
        assert PHONE not in _every_value(db)
        assert PHONE.encode() not in _raw_bytes(db)
    finally:
        replica.close()


def test_a_conflict_kept_while_it_was_ours_is_masked_when_the_ticket_leaves(
    tmp_path: Path, central_server: CentralServer
) -> None:
    """The inbox keeps the server's ticket of a refused action; refused while the ticket was
    still the unit's (a call back due), it held the phone unmasked — until the ticket left."""
    s = central_server
    s.add_unit("ua", "王店镇人民政府")
    s.add_unit("ub", "西湖镇人民政府")
    tid = "CB-00004"
    s.register(tid, needs_callback=True, citizen_phone=PHONE)
    assert s.act(tid, "assign", unit_id="ua")["outcome"] == "applied"
    a = Liaison(tmp_path, s, "ua", "甲")
    a.sync()
    a.run("accept", tid)  # made on the old epoch: refused once the ticket came back anew
    for unit in ("ub", "ua"):
        assert s.act(tid, "reassign", unit_id=unit, reason="调整")["outcome"] == "applied"
    a.sync(code=EXIT_CONFLICTS)
    (conflict,) = a.json("conflicts")
    assert conflict["server_ticket"]["citizen_phone"] == PHONE  # still ours: the call back is due
    assert s.act(tid, "reassign", unit_id="ub", reason="属西湖镇辖区")["outcome"] == "applied"
    a.run("sync", code=EXIT_CONFLICTS)  # the refused accept is still in the inbox
    (conflict,) = a.json("conflicts")
    assert conflict["server_ticket"]["citizen_phone"] == MASKED
    (db,) = list(a.dir.rglob("*.db"))
    assert PHONE not in _every_value(db)
