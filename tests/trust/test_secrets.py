"""Files and secrets of the central service (issue 10, finding 8; SPEC §8: files holding
citizen data are readable by their owner only).

Real `fycli serve` processes and real files: the database and its directory are private, the
admin token lives in one documented place (the data dir) that `fycli central` reads, a symlink
planted where a secret goes is refused, a token file others can read is refused, and the
token can be given without putting it on the command line (`ps` shows arguments).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from central.cli import central, serve
from central.config import SecretFileError, read_secret, write_secret
from tests.servers import REPO, CentralServer

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _generated_token(server: CentralServer) -> str:
    lines = [line for line in server.output if line.strip().startswith("admin token:")]
    assert lines, server.output
    return lines[0].split("admin token:", 1)[1].strip()


def _serve_generating(tmp_path: Path, db: Path, data: Path) -> CentralServer:
    """A `fycli serve` that makes its own admin token (none given)."""
    env = {k: v for k, v in os.environ.items() if k != "FYCLI_ADMIN_TOKEN"}
    env["FYCLI_DATA_DIR"] = str(data)
    process = subprocess.Popen(
        [sys.executable, "-m", "fycli", "serve", "--db", f"sqlite:///{db}", "--port", "0"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []
    url = None
    for line in process.stdout:  # the event: the line saying where it listens
        output.append(line.rstrip("\n"))
        if line.startswith("fycli serve: listening on "):
            url = line.split()[-1]
            break
    if url is None:
        process.kill()
        raise AssertionError("\n".join(output))
    server = CentralServer(url, "", f"sqlite:///{db}", process, output)
    server.wait_ready()
    return server


def test_the_database_and_its_new_directory_are_owner_only(tmp_path):
    db = tmp_path / "new-dir" / "central.db"
    with CentralServer.start(tmp_path, f"sqlite:///{db}") as server:
        server.add_unit("t1")  # writes: the WAL and shared-memory files exist now
        assert _mode(db) == 0o600
        assert _mode(db.parent) == 0o700
        for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            if side.exists():
                assert _mode(side) == 0o600, side


def test_an_existing_world_readable_database_is_made_owner_only(tmp_path):
    db = tmp_path / "central.db"
    with CentralServer.start(tmp_path, f"sqlite:///{db}"):
        pass
    db.chmod(0o644)
    with CentralServer.start(tmp_path, f"sqlite:///{db}"):
        assert _mode(db) == 0o600


def test_the_generated_admin_token_goes_to_the_data_dir_where_central_finds_it(tmp_path):
    db_dir = tmp_path / "db-elsewhere"
    data = tmp_path / "data"
    server = _serve_generating(tmp_path, db_dir / "central.db", data)
    try:
        token = _generated_token(server)
        assert not (db_dir / "admin-token").exists()  # not beside the database (/tmp, a share …)
        saved = data / "admin-token"
        assert saved.read_text().strip() == token
        assert _mode(saved) == 0o600
        # `fycli central` with no token option finds it there.
        result = CliRunner().invoke(central, ["--server", server.url, "units"],
                                    env={"FYCLI_DATA_DIR": str(data), "FYCLI_ADMIN_TOKEN": None})  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "no units yet" in result.output
    finally:
        server.stop()


def test_write_secret_refuses_a_symlink_and_leaves_its_target_alone(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "admin-token"
    link.symlink_to(victim)
    with pytest.raises(SecretFileError, match="symbolic link"):
        write_secret(link, "fyadm_x")
    assert victim.read_text() == "precious\n"
    assert link.is_symlink()


def test_write_secret_replaces_an_old_file_owner_only(tmp_path):
    path = tmp_path / "admin-token"
    path.write_text("old\n")
    path.chmod(0o644)
    write_secret(path, "new")
    assert path.read_text() == "new\n"
    assert _mode(path) == 0o600


def test_central_refuses_a_token_file_others_can_read(tmp_path, central_server):
    token_file = tmp_path / "admin-token"
    token_file.write_text(central_server.admin_token + "\n")
    token_file.chmod(0o644)
    result = CliRunner().invoke(
        central, ["--server", central_server.url, "--admin-token-file", str(token_file), "units"],
        env={"FYCLI_ADMIN_TOKEN": None},
    )  # fmt: skip
    assert result.exit_code == 2
    assert "readable by others" in result.output and f"chmod 600 {token_file}" in result.output
    token_file.chmod(0o600)
    ok = CliRunner().invoke(
        central, ["--server", central_server.url, "--admin-token-file", str(token_file), "units"],
        env={"FYCLI_ADMIN_TOKEN": None},
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output


def test_read_secret_refuses_a_symlink(tmp_path):
    real = tmp_path / "real"
    real.write_text("fyadm_y\n")
    real.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(SecretFileError, match="symbolic link"):
        read_secret(link)
    assert read_secret(real) == "fyadm_y"


def test_serve_takes_the_admin_token_from_a_file_not_the_command_line(tmp_path):
    token = "fyadm_from_file_" + "k" * 24
    token_file = tmp_path / "admin-token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    env = {"FYCLI_ADMIN_TOKEN": ""}  # CentralServer sets one; this server must take the file's
    with CentralServer.start(tmp_path, env=env, admin_token=" ",
                             extra_args=["--admin-token-file", str(token_file)]) as server:  # fmt: skip
        args = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().decode()
        assert token not in args
        response = httpx.get(server.url + "/v1/admin/units", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text


def test_help_says_how_to_keep_the_token_out_of_ps():
    for command in (serve, central):
        text = CliRunner().invoke(command, ["--help"]).output
        assert "--admin-token-file" in text and "FYCLI_ADMIN_TOKEN" in text and "ps" in text
