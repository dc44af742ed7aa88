"""Several real processes on one replica file (SPEC §4 "Several processes, one replica").

The app keeps its replica open all day and opens a second connection for every background
sync; meanwhile `fycli status`, `fycli accept` … run in other processes. POSIX advisory locks
belong to a process: if the app's process ever opens and closes the database file outside
SQLite, it silently drops its own SQLite locks, the next other process to close its connection
believes it is the last one and deletes the WAL under the app, and the app's later writes go to
a deleted file (lost). These tests use real processes and read ``/proc/<pid>/fd``.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from local_db.replica import Replica
from tests.local_db.conftest import ME
from tests.local_db.factory import fixed_clock, page, ticket_json
from tests.servers import REPO

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")

#: The app, reduced to what matters here: one long-lived connection with unsent work, and a
#: second connection opened and closed for each background sync (tui/core/sync_runner.py does
#: exactly that). It obeys one command a line on stdin and answers one JSON line on stdout.
HOLDER = r"""
import json, os, sys
from pathlib import Path
from local_db.replica import Replica

path = Path(sys.argv[1])
app = Replica.open(path)

def deleted_fds():
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if path.name in target and target.endswith("(deleted)"):
            out.append(target)
    return out

for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "note":
        result = app.add_note("P1", arg)
        answer = {"ok": result.ok}
    elif command == "background-sync":
        Replica.open(path).close()   # the sync runner's own connection, opened and closed
        answer = {"ok": True}
    elif command == "fds":
        answer = {"deleted": deleted_fds(), "pending": app.pending_count()}
    else:
        break
    print(json.dumps(answer), flush=True)
app.close()
"""


class Holder:
    """The holder process: send a command, read its one-line answer (no sleeping)."""

    def __init__(self, db: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the holder died (exit {self.process.poll()})"
        return json.loads(line)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def fycli(db: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fycli", "--db", str(db), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _make_replica(path: Path) -> None:
    with Replica.open(path, create=True, clock=fixed_clock) as r:
        r.set_identity(ME, "http://127.0.0.1:1")
        r.apply_pull_page_raw(page([ticket_json("A1", status="assigned"), ticket_json("P1")]))


def test_other_processes_never_delete_the_open_apps_wal(tmp_path):
    db = tmp_path / "replica.db"
    _make_replica(db)
    holder = Holder(db)
    try:
        assert holder.ask("note 第一条，未发送") == {"ok": True}
        assert holder.ask("background-sync") == {"ok": True}
        # Other processes come and go while the app stays open.
        status = fycli(db, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pending"] == 1
        accept = fycli(db, "accept", "A1")
        assert accept.returncode == 0, accept.stderr
        assert holder.ask("background-sync") == {"ok": True}
        assert fycli(db, "status").returncode == 0
        # The app goes on working: its write must land in the live file, not a deleted one.
        assert holder.ask("note 第二条，也未发送") == {"ok": True}
        fds = holder.ask("fds")
        assert fds["deleted"] == []
        assert fds["pending"] == 3
        # A third process sees everything the app and the other process saved.
        seen = fycli(db, "status", "--json")
        assert seen.returncode == 0, seen.stderr
        assert json.loads(seen.stdout)["pending"] == 3
    finally:
        holder.stop()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kinds = sorted(k for (k,) in conn.execute("SELECT kind FROM outbox"))
        assert kinds == ["accept", "note", "note"]
    finally:
        conn.close()


def test_a_real_sync_in_another_process_never_deletes_the_open_apps_wal(tmp_path, central_server):
    from click.testing import CliRunner

    from fycli import cli

    central_server.add_unit("u1", "王店镇人民政府")
    ids = central_server.register_and_assign("u1", 3)
    token_file = tmp_path / "token.txt"
    token_file.write_text(central_server.add_liaison("u1", "王") + "\n")
    token_file.chmod(0o600)
    home = tmp_path / "liaison"
    init = CliRunner().invoke(cli, ["--config-dir", str(home), "init", "--server", central_server.url,
                                    "--token-file", str(token_file)])  # fmt: skip
    assert init.exit_code == 0, init.output
    db = home / "replica.db"

    def sync() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fycli", "--config-dir", str(home), "sync"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    assert sync().returncode == 0
    holder = Holder(db)
    try:
        holder.ask("background-sync")
        accept = fycli(db, "accept", *ids)
        assert accept.returncode == 0, accept.stderr
        done = sync()  # the cron job: pushes the accepts, pulls, closes its connection
        assert done.returncode == 0, done.stderr
        holder.ask("background-sync")
        assert fycli(db, "status").returncode == 0
        fds = holder.ask("fds")
        assert fds["deleted"] == [], fds
    finally:
        holder.stop()
    assert [central_server.ticket(t)["ticket"]["status"] for t in ids] == ["in_progress"] * 3
