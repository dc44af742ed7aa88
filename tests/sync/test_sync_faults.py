"""The sync under real faults, through the real `fycli` (issue 9 defects 6, 13, 17; issue 10
finding 10): a server that trickles, a push answer garbled after the server committed, two
syncs of one replica at once, and a token about to go over plain http to another machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result

from fycli import EXIT_BUSY, EXIT_ERROR, EXIT_OK, EXIT_UNREACHABLE, cli
from tests.servers import REPO, CentralServer
from tests.sync.faulty import proxy, trickling_server


def _fycli(config_dir: Path, *args: str, code: int = EXIT_OK) -> Result:
    result = CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args])
    assert result.exit_code == code, f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result


def _spawn(config_dir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """The installed program as a liaison runs it: its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "fycli", "--config-dir", str(config_dir), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _liaison(tmp_path: Path, server: CentralServer, url: str, unit_id: str = "t1", **config: object) -> Path:
    directory = tmp_path / "liaison"
    token_file = tmp_path / "liaison.token"
    token_file.write_text(server.add_liaison(unit_id, "甲") + "\n")
    token_file.chmod(0o600)
    _fycli(directory, "init", "--server", url, "--token-file", str(token_file), "--json")
    with (directory / "config.toml").open("a", encoding="utf-8") as fh:
        for key, value in config.items():
            fh.write(f"{key} = {json.dumps(value)}\n")
    return directory


def test_a_trickling_server_cannot_keep_a_pull_alive_past_its_deadline(tmp_path):
    """Defect 6. Before: `fycli pull` with timeout = 2 ran on for as long as bytes trickled."""
    with CentralServer.start(tmp_path) as server, trickling_server(interval=0.5) as trickler:
        server.add_unit("t1")
        me = _liaison(tmp_path, server, server.url, timeout=2, retries=2)
        config = me / "config.toml"
        config.write_text(config.read_text().replace(server.url, trickler), encoding="utf-8")
        started = time.monotonic()
        process = _spawn(me, "pull", env={"FYCLI_SYNC_DEADLINE": "6"})
        try:
            _out, err = process.communicate(timeout=40)  # bounded wait on the process itself
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise AssertionError("fycli pull was still running 40 s after a 6 s sync deadline") from None
        took = time.monotonic() - started
    assert process.returncode == EXIT_UNREACHABLE, err
    assert "your work is kept locally" in err
    assert "Traceback" not in err and [line for line in err.splitlines() if line.startswith("fycli:")], err
    assert "ran out of time" in err
    # 6 s of sync deadline plus at most one read timeout (2 s) and the interpreter's start.
    assert took < 15, took


def test_a_trickling_answer_is_given_up_after_four_timeouts_and_not_retried(tmp_path):
    """Defect 6 with the default sync deadline (1800 s): one try may take 4 × timeout."""
    with CentralServer.start(tmp_path) as server, trickling_server(interval=0.5) as trickler:
        server.add_unit("t1")
        me = _liaison(tmp_path, server, server.url, timeout=2)  # 6 tries per request
        config = me / "config.toml"
        config.write_text(config.read_text().replace(server.url, trickler), encoding="utf-8")
        started = time.monotonic()
        process = _spawn(me, "pull")
        try:
            _out, err = process.communicate(timeout=40)  # bounded wait on the process itself
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise AssertionError("fycli pull with timeout = 2 was still running after 40 s") from None
        took = time.monotonic() - started
    assert process.returncode == EXIT_UNREACHABLE, err
    assert "is too slow" in err and "your work is kept locally" in err.lower(), err
    assert took < 15, took  # 8 s for the one try, plus the interpreter's start


def test_a_garbled_push_answer_is_told_honestly_and_settled_exactly_once(tmp_path):
    """Defect 13. Before: "Nothing was changed locally" though the server had the note."""
    with CentralServer.start(tmp_path) as server, proxy(server.url) as middle:
        server.add_unit("t1")
        (ticket,) = server.register_and_assign("t1", 1)
        me = _liaison(tmp_path, server, middle.url)
        _fycli(me, "sync")
        _fycli(me, "note", ticket, "-t", "电话联系了群众")
        middle.garble_pushes = 1
        failed = _fycli(me, "sync", code=EXIT_ERROR)
        assert "may already have reached the platform" in failed.stderr
        assert "re-sends them safely" in failed.stderr
        assert "Nothing was changed locally" not in failed.stderr
        # The server did commit it; the outbox still holds it for the next sync.
        assert [n["text"] for n in server.ticket(ticket)["notes"]].count("电话联系了群众") == 1
        assert json.loads(_fycli(me, "status", "--json").stdout)["pending"] == 1
        report = json.loads(_fycli(me, "sync", "--json").stdout)
        assert (report["pushed"], report["duplicates"], report["applied"], report["pending"]) == (1, 1, 0, 0)
        assert [n["text"] for n in server.ticket(ticket)["notes"]].count("电话联系了群众") == 1


def test_two_syncs_of_one_replica_one_runs_the_other_says_busy(tmp_path):
    """Defect 17. Before: both syncs pulled (and pushed) the same work at once."""
    with CentralServer.start(tmp_path) as server, proxy(server.url) as middle:
        server.add_unit("t1")
        server.register_and_assign("t1", 3)
        me = _liaison(tmp_path, server, middle.url, sync_lock_wait=0.5)
        middle.hold_first_pull = True
        first = _spawn(me, "sync", "--json")
        try:
            assert middle.pull_arrived.wait(30), "the first sync never pulled"
            second = _spawn(me, "sync", "--json")
            _out, err = second.communicate(timeout=30)
            assert second.returncode == EXIT_BUSY, err
            assert "a sync is already running" in err
            assert middle.pulls == 1  # the second sync asked the server nothing
        finally:
            middle.release.set()
            out, err = first.communicate(timeout=60)
        assert first.returncode == EXIT_OK, err
        assert json.loads(out)["pulled_tickets"] == 3
        assert middle.pulls == 1
        # Once the first is done, the next sync runs.
        _fycli(me, "sync")
        assert middle.pulls == 2


def test_plain_http_to_another_machine_is_refused_unless_allowed(tmp_path):
    """Issue 10 finding 10. Before: the token went over plain http to any host without a word.
    (``.invalid`` never resolves, RFC 6761: no traffic leaves this machine either way.)"""
    remote = "http://fycli-central.invalid:8080"
    token_file = tmp_path / "token.txt"
    token_file.write_text("fyl_" + "a" * 32 + "\n")
    token_file.chmod(0o600)
    refused = _fycli(
        tmp_path / "a",
        "init",
        "--offline",
        "--server",
        remote,
        "--token-file",
        str(token_file),
        code=EXIT_ERROR,
    )
    assert "plain http" in refused.stderr and "--allow-insecure-http" in refused.stderr
    assert not (tmp_path / "a" / "config.toml").exists()
    allowed = tmp_path / "b"
    _fycli(
        allowed,
        "init",
        "--offline",
        "--allow-insecure-http",
        "--server",
        remote,
        "--token-file",
        str(token_file),
    )
    assert "allow_insecure_http = true" in (allowed / "config.toml").read_text()
    # A config edited by hand to such a URL is refused at the request, before anything is sent.
    with CentralServer.start(tmp_path) as server:
        server.add_unit("t1")
        me = _liaison(tmp_path, server, server.url, timeout=1, retries=1)
        config = me / "config.toml"
        config.write_text(config.read_text().replace(server.url, remote), encoding="utf-8")
        result = _fycli(me, "sync", code=EXIT_ERROR)
        assert "refusing to send your token" in result.stderr
    # https and this machine's own addresses need no option.
    for url in (
        "http://localhost:1",
        "http://127.0.0.2:1",
        "http://[::1]:1",
        "https://fycli-central.invalid",
    ):
        from sync.client import check_transport

        check_transport(url, allow_insecure_http=False)
