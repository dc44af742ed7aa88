"""A ticket's history on the replica is in the server's order (issue 9, defect 12).

Closing a 待签收 ticket queues a sign-for and a resolve made at the same instant; on the server
they are two events with the same time. Sorting by time then id (a random action id) put
办理中→已办结 before 待签收→办理中 for about half the tickets. The replica keeps the order the
server sent them in (the server's own sequence), whatever their times.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fycli import cli
from tests.servers import CentralServer

TICKETS = 16  # each one in the right order by chance: 1 in 2**16 that the old code passes


def run(config_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args])
    assert result.exit_code == 0, f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result.stdout


def test_history_keeps_the_servers_order_for_events_of_the_same_instant(
    tmp_path, central_server: CentralServer
):
    central_server.add_unit("u1", "王店镇人民政府")
    ids = central_server.register_and_assign("u1", TICKETS)
    token_file = tmp_path / "token.txt"
    token_file.write_text(central_server.add_liaison("u1", "王") + "\n")
    token_file.chmod(0o600)
    home = tmp_path / "liaison"
    run(home, "init", "--server", central_server.url, "--token-file", str(token_file))
    run(home, "sync")
    run(home, "close", *ids, "--reply", "已联系供电所更换路灯，现已恢复照明。")  # sign-for + resolve
    run(home, "sync")

    for tid in ids:
        server_events = central_server.ticket(tid)["events"]
        mine = json.loads(run(home, "show", tid, "--json"))["events"]
        assert [e["id"] for e in mine] == [e["id"] for e in server_events]
        # Written out: the last two steps are 已派发(待签收)→办理中, then 办理中→已办结.
        assert [(e["from_status"], e["to_status"]) for e in mine[-2:]] == [
            ("assigned", "in_progress"),
            ("in_progress", "resolved"),
        ]
        # And every step starts where the one before it ended.
        for before, after in zip(mine, mine[1:], strict=False):
            assert after["from_status"] == before["to_status"], (tid, before, after)


def test_a_version_1_replica_keeps_its_history_and_numbers_new_events_after_it(tmp_path):
    import sqlite3

    from local_db.replica import Replica
    from local_db.schema import APPLICATION_ID, MIGRATIONS
    from tests.local_db.factory import fixed_clock, page, ticket_json

    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    old = [("e2", "P1", "2025-06-02T09:00:00+08:00"), ("e1", "P1", "2025-06-01T09:00:00+08:00")]
    conn.executemany(
        "INSERT INTO events (id, ticket_id, at, json) VALUES (?, ?, ?, '{}')",
        [(i, t, at) for i, t, at in old],
    )
    conn.close()

    with Replica.open(path, clock=fixed_clock) as r:
        # A new event of the same instant as an old one, then one earlier in time (a late page):
        # they are listed after the history already there, in the order they came.
        event = {
            "ticket_id": "P1",
            "action": "note",
            "actor": "x",
            "role": "liaison",
            "from_status": "in_progress",
            "to_status": "in_progress",
            "epoch": 1,
        }
        r.apply_pull_page_raw(
            page(
                [ticket_json("P1")],
                events=[
                    {**event, "id": "e0-late", "at": "2025-06-02T09:00:00+08:00"},
                    {**event, "id": "e-early", "at": "2025-05-01T09:00:00+08:00"},
                ],
            )
        )
        rows = r.db.execute("SELECT id FROM events WHERE ticket_id = 'P1' ORDER BY pos").fetchall()
    assert [i for (i,) in rows] == ["e1", "e2", "e0-late", "e-early"]
