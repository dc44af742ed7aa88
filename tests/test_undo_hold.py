"""The app's undo window is a property of the queued action, so a cron `fycli sync` honours it.

Issue 9, defect 10 (follow-up): an action the app queues carries ``hold_until`` (queued time +
``undo_grace``) in the replica's outbox; every sync sends only the leading run of actions whose
hold has passed, unless it flushes (`r` in the app, `fycli sync --now`). Actions made by CLI
commands have no hold: `close && sync` sends at once.

A real ``fycli serve`` on 127.0.0.1, a replica made by `fycli init`, the real `fycli` program as
a subprocess for the cron sync, and the replica API the app queues through
(``Replica.open(..., hold=undo_grace)``). Time is driven by the replica's clock (an action
queued "an hour ago" has a hold in the past), never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local_db.replica import Replica
from local_db.schema import SCHEMA_VERSION
from tests.servers import CentralServer

#: The app's undo window in these tests: long enough that no test run can outlast it.
GRACE = 600.0


class Machine:
    """One liaison's machine: a config dir made by `fycli init`, driven through the real program."""

    def __init__(self, tmp_path: Path, server: CentralServer) -> None:
        self.server = server
        token_file = tmp_path / "token"
        self.token = server.add_liaison("t1", "王联络员")
        token_file.write_text(self.token + "\n")
        token_file.chmod(0o600)
        self.env = {**os.environ, "FYCLI_CONFIG_DIR": str(tmp_path / "liaison")}
        self.env.pop("FYCLI_DB", None)
        self.fycli("init", "--server", server.url, "--token-file", str(token_file))
        self.replica_path = tmp_path / "liaison" / "replica.db"
        assert self.replica_path.exists()

    def fycli(self, *args: str, code: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "-m", "fycli", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == code, f"fycli {' '.join(args)} → {done.returncode}\n{done.stderr}"
        return done

    def sync(self, *args: str) -> tuple[dict, str]:
        """A cron `fycli sync`: its JSON report and its stderr summary (a second run, not JSON)."""
        done = self.fycli("sync", "--json", *args)
        return json.loads(done.stdout), done.stderr

    def app_replica(self, *, queued_ago: float = 0.0) -> Replica:
        """The replica as the app opens it (with its undo window), its clock ``queued_ago`` s back."""
        return Replica.open(
            self.replica_path,
            hold=GRACE,
            clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=queued_ago),
        )

    def status(self, ticket_id: str) -> str:
        return self.server.ticket(ticket_id)["ticket"]["status"]


@pytest.fixture
def machine(central_server: CentralServer, tmp_path: Path) -> tuple[Machine, list[str]]:
    central_server.add_unit("t1", "西湖镇人民政府")
    ids = central_server.register_and_assign("t1", 4, prefix="XH")
    m = Machine(tmp_path, central_server)
    m.sync()
    return m, ids


def test_an_app_action_is_not_sent_by_a_cron_sync_inside_its_window_and_can_be_undone(machine):
    m, ids = machine
    with m.app_replica() as app:
        (result,) = app.accept([ids[0]])
        assert result.ok
    report, _ = m.sync()
    assert report["pushed"] == 0 and report["held"] == 1 and report["pending"] == 1
    assert m.status(ids[0]) == "assigned", "the cron sync sent an action still in its undo window"
    # A plain sync's summary says how many wait, and until when (this machine's local time).
    summary = m.fycli("sync").stderr
    assert re.search(r"1 held for undo \(sent by the next sync after \d\d:\d\d:\d\d\)", summary), summary
    assert "actions still unsent" not in summary
    # Still undoable, from the command line too.
    undone = json.loads(m.fycli("undo", "--last", "--json").stdout)
    assert undone
    report, _ = m.sync()
    assert report["pushed"] == 0 and report["pending"] == 0 and report["held"] == 0
    assert m.status(ids[0]) == "assigned"


def test_an_app_action_whose_window_has_passed_is_sent_by_a_cron_sync(machine):
    m, ids = machine
    with m.app_replica(queued_ago=GRACE + 60) as app:  # queued 11 minutes ago: window over
        assert app.accept([ids[1]])[0].ok
    report, _ = m.sync()
    assert report["pushed"] == 1 and report["applied"] == 1 and report["held"] == 0
    assert report["held_until"] is None and report["pending"] == 0
    assert m.status(ids[1]) == "in_progress"


def test_sync_now_flushes_the_held_actions(machine):
    m, ids = machine
    with m.app_replica() as app:
        assert app.accept([ids[0], ids[1]])[0].ok
    report, _ = m.sync("--now")
    assert report["pushed"] == 2 and report["applied"] == 2 and report["held"] == 0
    assert [m.status(i) for i in ids[:2]] == ["in_progress", "in_progress"]


def test_a_cli_close_is_sent_by_the_next_sync_at_once(machine):
    m, ids = machine
    m.fycli("close", ids[2], "--reply", "已联系供电所更换路灯，现已恢复照明。")
    report, _ = m.sync()
    assert report["held"] == 0 and report["pending"] == 0 and report["applied"] == 2  # sign-for + resolve
    assert m.status(ids[2]) == "resolved"


def test_a_cli_action_queued_after_a_held_one_waits_for_it_order_is_kept(machine):
    m, ids = machine
    with m.app_replica(queued_ago=GRACE + 60) as app:
        assert app.accept([ids[0]])[0].ok  # window over: may go
    with m.app_replica() as app:
        assert app.accept([ids[1]])[0].ok  # in its window: holds back everything after it
    m.fycli("accept", ids[2])
    report, summary = m.sync()
    assert report["pushed"] == 1 and report["held"] == 2 and report["pending"] == 2
    assert [m.status(i) for i in ids[:3]] == ["in_progress", "assigned", "assigned"]
    held_until = dt.datetime.fromisoformat(report["held_until"])
    now = dt.datetime.now(dt.UTC)
    assert now + dt.timedelta(seconds=GRACE - 120) < held_until <= now + dt.timedelta(seconds=GRACE)


def test_a_replica_of_schema_2_gains_the_hold_column_and_keeps_its_outbox(machine):
    m, ids = machine
    m.fycli("accept", ids[0])
    import sqlite3

    conn = sqlite3.connect(m.replica_path)
    conn.execute("ALTER TABLE outbox DROP COLUMN hold_until")  # what a version-2 file looks like
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with Replica.open(m.replica_path) as replica:
        (entry,) = replica.outbox()
        assert entry.ticket_id == ids[0] and entry.hold_until is None
    conn = sqlite3.connect(m.replica_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
    report, _ = m.sync()
    assert report["applied"] == 1 and m.status(ids[0]) == "in_progress"
