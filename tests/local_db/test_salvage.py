"""Unsent work survives a replica that must be replaced (issue 9, defect 5; SPEC §4 "No advice
fycli prints may throw away unsent work").

`fycli outbox export FILE` saves the outbox and the conflict inbox; after the replica is moved
aside and `fycli init --force` made a fresh one, `fycli outbox import FILE` queues the work
again and the next sync delivers it to a real `fycli serve` — once, however often it is imported.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner, Result

from fycli import cli
from local_db.api import TicketQuery
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock, make_replica
from tests.local_db.test_open import _damage_table
from tests.servers import CentralServer

REPLY = "已联系供电所更换路灯，现已恢复照明。"
NOTE = "已电话联系反映人，约定周五上门。"
LOST_REPLY = "村委会已调解完毕，双方满意。"


def run(home: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--config-dir", str(home), *args])
    assert result.exit_code == code, f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result


def test_exported_work_is_queued_again_in_a_fresh_replica_and_reaches_the_server_once(
    tmp_path, central_server: CentralServer
):
    server = central_server
    server.add_unit("u1", "王店镇人民政府")
    server.add_unit("u2", "西湖镇人民政府")
    t1, t2, t3 = server.register_and_assign("u1", 3)
    token_file = tmp_path / "token.txt"
    token_file.write_text(server.add_liaison("u1", "王") + "\n")
    token_file.chmod(0o600)
    home = tmp_path / "liaison"
    init = ("init", "--server", server.url, "--token-file", str(token_file))
    run(home, *init)
    run(home, "sync")
    run(home, "accept", t3)
    run(home, "sync")
    # A refused reply in the inbox: the ticket was moved to another township meanwhile.
    run(home, "close", t3, "--reply", LOST_REPLY)
    assert server.act(t3, "reassign", unit_id="u2", reason="属西湖镇")["outcome"] == "applied"
    run(home, "sync", code=5)
    # Unsent work made offline: a close of a 待签收 ticket (sign-for + resolve) and a note.
    run(home, "close", t1, "--reply", REPLY)
    run(home, "note", t2, "--text", NOTE)

    saved = tmp_path / "saved.json"
    exported = run(home, "outbox", "export", str(saved))
    assert "saved 3 unsent actions and 1 open conflicts" in exported.stderr
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 or os.name != "posix"
    doc = json.loads(saved.read_text(encoding="utf-8"))
    assert [e["kind"] for e in doc["outbox"]] == ["accept", "resolve", "note"]
    assert LOST_REPLY in doc["conflicts"][0]["json"]

    # The replica is replaced, as the "damaged" advice says.
    db = home / "replica.db"
    for name in ("replica.db", "replica.db-wal", "replica.db-shm"):
        if (home / name).exists():
            (home / name).rename(tmp_path / f"old-{name}")
    run(home, *init, "--force")
    run(home, "sync")
    assert json.loads(run(home, "status", "--json").stdout)["pending"] == 0

    first = json.loads(run(home, "outbox", "import", str(saved), "--json").stdout)
    assert first == {"queued": 3, "conflicts": 1, "already_here": 0}
    again = json.loads(run(home, "outbox", "import", str(saved), "--json").stdout)
    assert again == {"queued": 0, "conflicts": 0, "already_here": 4}

    report = json.loads(run(home, "sync", "--json", code=5).stdout)  # 5: the conflict is still open
    assert (report["applied"], report["rejected"]) == (3, 0)
    ticket = server.ticket(t1)["ticket"]
    assert (ticket["status"], ticket["reply"]) == ("resolved", REPLY)
    assert [n["text"] for n in server.ticket(t2)["notes"]].count(NOTE) == 1
    (conflict,) = json.loads(run(home, "conflicts", "--json").stdout)
    assert conflict["ticket_id"] == t3 and LOST_REPLY in conflict["action_json"]
    assert db.exists()

    # The same file imported into yet another fresh replica: the server applies nothing twice.
    for name in ("replica.db", "replica.db-wal", "replica.db-shm"):
        (home / name).unlink(missing_ok=True)
    run(home, *init, "--force")
    run(home, "sync")
    run(home, "outbox", "import", str(saved))
    report = json.loads(run(home, "sync", "--json", code=5).stdout)
    assert report["pending"] == 0
    assert [n["text"] for n in server.ticket(t2)["notes"]].count(NOTE) == 1
    assert server.ticket(t1)["ticket"]["reply"] == REPLY


def test_a_damaged_replica_is_told_to_save_its_work_first_and_the_export_reads_it(tmp_path):
    db = tmp_path / "replica.db"
    with make_replica(db, 600) as r:
        ids = [row.id for row in r.query(TicketQuery(), limit=2)]
        r.add_note(ids[0], NOTE)
        r.add_note(ids[1], REPLY)
    _damage_table(db, "tickets")

    checked = CliRunner().invoke(cli, ["--db", str(db), "status", "--check"])
    assert checked.exit_code == 1
    advice = checked.stderr.strip().splitlines()[-1]
    assert "damaged" in advice
    assert advice.index("fycli outbox export") < advice.index("move replica.db aside")
    assert advice.index("fycli init --force") < advice.index("fycli outbox import")

    saved = tmp_path / "saved.json"
    exported = CliRunner().invoke(cli, ["--db", str(db), "outbox", "export", str(saved)])
    assert exported.exit_code == 0, exported.output
    texts = [json.loads(e["json"])["text"] for e in json.loads(saved.read_text())["outbox"]]
    assert texts == [NOTE, REPLY]

    fresh = tmp_path / "fresh.db"
    Replica.open(fresh, create=True, clock=fixed_clock).close()
    imported = CliRunner().invoke(cli, ["--db", str(fresh), "outbox", "import", str(saved)])
    assert imported.exit_code == 0, imported.output
    with Replica.open(fresh) as r:
        assert [json.loads(e.action_json)["text"] for e in r.outbox()] == [NOTE, REPLY]


def test_a_file_that_is_not_an_export_is_refused_in_one_line_and_queues_nothing(tmp_path):
    db = tmp_path / "replica.db"
    Replica.open(db, create=True, clock=fixed_clock).close()
    bogus = tmp_path / "bogus.json"
    bogus.write_text(
        json.dumps({"format": "fycli-unsent-work", "version": 1, "outbox": [{"x": 1}], "conflicts": []})
    )
    result = CliRunner().invoke(cli, ["--db", str(db), "outbox", "import", str(bogus)])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "incomplete" in result.stderr
    with Replica.open(db) as r:
        assert r.pending_count() == 0
