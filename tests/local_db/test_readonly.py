"""A replica this user cannot write (issue 9, defect 5): one line saying so and what to do.

As root, files are always writable (CAP_DAC_OVERRIDE), so fycli runs as a real subprocess
without that capability (``setpriv --bounding-set``), or else as ``nobody``; the test skips only
when neither is possible here. Before, fycli printed a 45-line traceback, left ``-wal``/``-shm``
behind with the replica's read-only mode, and once the replica was writable again called the
sound file "damaged" and advised moving it away (its unsent actions with it).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from local_db.replica import Replica
from tests.local_db.conftest import ME
from tests.local_db.factory import fixed_clock, page, ticket_json
from tests.servers import REPO

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")

_DROP_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
_AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def _denied_with(prefix: list[str], probe: Path) -> bool:
    """Whether ``prefix`` really runs a command that may not write a 0444 file."""
    try:
        done = subprocess.run([*prefix, "sh", "-c", f"test -w '{probe}'"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 1


@pytest.fixture
def unprivileged(tmp_path: Path) -> list[str]:
    """A command prefix that runs without the power to write read-only files."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0o444)
    if os.geteuid() != 0 or _denied_with(_DROP_OVERRIDE, probe):
        return _DROP_OVERRIDE if os.geteuid() == 0 else []
    os.chown(tmp_path, 65534, 65534)  # nobody must be able to create files beside the replica
    os.chown(probe, 65534, 65534)
    if _denied_with(_AS_NOBODY, probe):
        return _AS_NOBODY
    pytest.skip("cannot run a process without CAP_DAC_OVERRIDE here (no setpriv bounding set, no nobody)")


def fycli(prefix: list[str], db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(db.parent), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "fycli", "--db", str(db), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _replica(db: Path) -> None:
    with Replica.open(db, create=True, clock=fixed_clock) as r:
        r.set_identity(ME, "http://127.0.0.1:1")
        r.apply_pull_page_raw(page([ticket_json("P1"), ticket_json("P2")]))
    if os.geteuid() == 0:
        os.chown(db, *(lambda s: (s.st_uid, s.st_gid))(db.parent.stat()))
    assert not db.with_name("replica.db-wal").exists()  # closed: the file alone is the replica


def _side_files(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith("replica.db-"))


def test_a_read_only_replica_gets_one_line_then_works_when_writable_again(tmp_path, unprivileged):
    db = tmp_path / "replica.db"
    _replica(db)
    db.chmod(0o444)
    refused = fycli(unprivileged, db, "close", "P1", "--reply", "已处理")
    assert refused.returncode == 1, refused
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "read-only" in lines[0] and "chmod u+w" in lines[0] and "damaged" not in lines[0]
    assert _side_files(db) == []  # no -wal/-shm left with the read-only mode

    db.chmod(0o644)
    done = fycli(unprivileged, db, "close", "P1", "--reply", "已处理")
    assert done.returncode == 0, done.stderr
    assert "damaged" not in done.stderr
    conn = sqlite3.connect(db)
    try:
        assert [k for (k,) in conn.execute("SELECT kind FROM outbox")] == ["resolve"]
    finally:
        conn.close()


def test_read_only_side_files_left_by_an_older_fycli_are_named_not_called_damage(tmp_path, unprivileged):
    db = tmp_path / "replica.db"
    _replica(db)
    for name in ("replica.db-wal", "replica.db-shm"):  # as the older fycli left them
        side = db.with_name(name)
        side.write_bytes(b"")
        side.chmod(0o444)
        if os.geteuid() == 0:
            os.chown(side, db.stat().st_uid, db.stat().st_gid)
    refused = fycli(unprivileged, db, "status")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and "damaged" not in refused.stderr
    assert "read-only" in refused.stderr and "replica.db-wal" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
