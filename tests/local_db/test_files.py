"""The replica on disk: owner-only modes (SPEC §8), read-only files refused in one line (issue 9).

The replica holds citizens' names, addresses and phones: it, its -wal/-shm/-journal files and
the directories fycli creates must not be readable by other users of the PC.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fycli import cli
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock, page, ticket_json
from tests.servers import CentralServer

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most desktops have (022): files 0644 and folders 0755 unless fycli says otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def run(config_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args])
    assert result.exit_code in (0, 5), f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result.stdout


@posix_only
def test_init_and_sync_keep_citizen_data_owner_only(tmp_path, usual_umask, central_server: CentralServer):
    central_server.add_unit("u1", "王店镇人民政府")
    (tid,) = central_server.register_and_assign("u1", 1)
    token_file = tmp_path / "token.txt"
    token_file.write_text(central_server.add_liaison("u1", "王") + "\n")
    token_file.chmod(0o600)
    config_dir = tmp_path / "home" / ".config" / "fycli"  # nothing of it exists yet

    run(config_dir, "init", "--server", central_server.url, "--token-file", str(token_file))
    db = config_dir / "replica.db"
    assert mode(config_dir) == 0o700
    assert mode(db) == 0o600
    assert mode(config_dir / "token") == 0o600

    # The WAL and the shared memory are created later, by the first sync and the first action.
    assert json.loads(run(config_dir, "sync", "--json"))["pulled_tickets"] == 1
    run(config_dir, "accept", tid)
    with Replica.open(db) as replica:  # held open: its -wal and -shm exist meanwhile
        replica.add_note(tid, "已电话联系")
        side = [db.with_name("replica.db-wal"), db.with_name("replica.db-shm")]
        assert all(p.exists() for p in side)
        assert [mode(p) for p in side] == [0o600, 0o600]
        run(config_dir, "sync")
        assert [mode(p) for p in side] == [0o600, 0o600]
    assert mode(db) == 0o600


@posix_only
def test_a_replica_made_readable_by_all_is_made_owner_only_when_opened(tmp_path, usual_umask):
    db = tmp_path / "replica.db"
    with Replica.open(db, create=True, clock=fixed_clock) as r:
        r.apply_pull_page_raw(page([ticket_json("P1")]))
        holder = Replica.open(db)  # keeps the -wal and -shm in place after r closes
    try:
        for p in (db, db.with_name("replica.db-wal"), db.with_name("replica.db-shm")):
            p.chmod(0o644)  # as an older fycli left them
        with Replica.open(db) as r:
            assert r.state().tickets == 1
        assert [mode(db), mode(db.with_name("replica.db-wal")), mode(db.with_name("replica.db-shm"))] == [
            0o600,
            0o600,
            0o600,
        ]
    finally:
        holder.close()
