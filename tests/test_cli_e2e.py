"""End to end: a real `fycli serve` on loopback, liaison replicas in temporary directories, driven
through the commands over real HTTP — every conflict case of SPEC §4.

Each liaison is a config directory made by `fycli init`; the commands run in-process through
click's CliRunner (one test also runs the installed `fycli` as a subprocess). The central
platform's actions go through its admin API (tests/servers.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fycli import EXIT_CONFLICTS, EXIT_OK, cli
from tests.servers import CentralServer


class Liaison:
    """One liaison's machine: a config dir (config.toml, token, templates) and a replica."""

    def __init__(self, tmp_path: Path, server: CentralServer, unit_id: str, name: str) -> None:
        self.dir = tmp_path / name
        token_file = tmp_path / f"{name}.token"
        token_file.write_text(server.add_liaison(unit_id, name) + "\n")
        token_file.chmod(0o600)
        init = self.run("init", "--server", server.url, "--token-file", str(token_file), "--json")
        assert json.loads(init.stdout)["unit_id"] == unit_id

    def run(self, *args: str, code: int = EXIT_OK, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, ["--config-dir", str(self.dir), *args], input=input)
        assert result.exit_code == code, f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
        return result

    def json(self, *args: str, code: int = EXIT_OK, input: str | None = None):
        return json.loads(self.run(*args, "--json", code=code, input=input).stdout)

    def sync(self, code: int = EXIT_OK) -> dict:
        return self.json("sync", code=code)

    def show(self, ticket_id: str) -> dict:
        return self.json("show", ticket_id)


@pytest.fixture
def platform(central_server: CentralServer) -> CentralServer:
    central_server.add_unit("u1", "王店镇人民政府")
    central_server.add_unit("u2", "西湖镇人民政府")
    return central_server


def server_ticket(server: CentralServer, ticket_id: str) -> dict:
    return server.ticket(ticket_id)["ticket"]


def assert_converged(liaison: Liaison, server: CentralServer, ticket_id: str) -> None:
    mine = liaison.show(ticket_id)
    theirs = server_ticket(server, ticket_id)
    for key in ("status", "unit_id", "epoch", "reply", "flags", "revision"):
        assert mine["ticket"][key] == theirs[key], key
    assert mine["pending"] == []


def test_resolve_offline_vs_reassigned_meanwhile(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", tid)
    a.sync()
    # Offline: the liaison writes the reply in the village ...
    a.run("close", tid, "--reply", "已联系供电所更换路灯，现已恢复照明。")
    # ... while the platform moves the ticket to another township.
    assert platform.act(tid, "reassign", unit_id="u2", reason="属西湖镇辖区")["outcome"] == "applied"

    report = a.sync(code=EXIT_CONFLICTS)
    assert (report["applied"], report["rejected"]) == (0, 1)
    (conflict,) = a.json("conflicts")
    assert conflict["reason"] == "REASSIGNED" and conflict["ticket_id"] == tid
    assert "已联系供电所" in conflict["action_json"]  # the village reply is kept
    assert conflict["server_ticket"]["unit_id"] == "u2"  # where it went: as it was when it left
    # Off the working list, but its history stays readable.
    assert tid not in [r["id"] for r in a.json("list")]
    assert tid in [r["id"] for r in a.json("list", "--view", "out_of_scope")]
    assert a.show(tid)["in_scope"] is False

    # Kept as a note? A unit the ticket left adds nothing to it (SPEC §8: read-only): the
    # note is refused too, and the reply stays in the inbox.
    refused = a.run("conflicts", "resolve", conflict["action_id"], "--note", code=1)
    assert "REASSIGNED" in refused.output  # refused here already, as the server would
    (again,) = a.json("conflicts")
    assert again["reason"] == "REASSIGNED" and "已联系供电所" in again["action_json"]
    assert not any("已联系供电所" in n["text"] for n in platform.ticket(tid)["notes"])
    assert server_ticket(platform, tid)["status"] == "assigned"  # still with u2, untouched


@pytest.mark.parametrize(
    "central, reason",
    [("reject_reply", "REPLY_REJECTED"), ("record_feedback", "REOPENED")],
    ids=["reply-rejected", "dissatisfied-citizen"],
)
def test_resolve_offline_vs_reply_rejected_or_reopened(tmp_path, platform, central, reason):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    b = Liaison(tmp_path, platform, "u1", "b")
    a.sync()
    a.run("accept", tid)
    a.sync()
    assert "nothing to do" in a.run("accept", tid).stdout  # signed for already: nothing queued
    b.sync()  # both now see it in progress (epoch 1); a goes offline
    # b resolves; the platform then rejects b's reply, or the citizen is dissatisfied.
    b.run("close", tid, "--reply", "已处理。")
    b.sync()
    fields = {"reason": "答复过于简单"} if central == "reject_reply" else {"result": "dissatisfied"}
    assert platform.act(tid, central, **fields)["outcome"] == "applied"
    # a, offline since before all that, resolves with its own reply.
    a.run("close", tid, "--template", "fixed")
    report = a.sync(code=EXIT_CONFLICTS)
    assert report["rejected"] == 1
    (conflict,) = a.json("conflicts")
    assert conflict["reason"] == reason
    # Re-apply it against the current state: now it is accepted.
    a.run("conflicts", "resolve", conflict["action_id"], "--reapply")
    assert a.sync()["applied"] == 1
    assert server_ticket(platform, tid)["status"] == "resolved"
    assert "现场核实并处理完毕" in server_ticket(platform, tid)["reply"]
    assert_converged(a, platform, tid)


def test_two_liaisons_resolve_the_same_ticket_first_wins_second_kept_as_note(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    b = Liaison(tmp_path, platform, "u1", "b")
    a.sync()
    a.run("accept", tid)
    a.sync()
    b.sync()
    a.run("close", tid, "--reply", "甲的答复：已修复。")
    b.run("close", tid, "--reply", "乙的答复：已安排人员维修。")
    assert a.sync()["applied"] == 1
    report = b.sync(code=EXIT_CONFLICTS)
    assert report["rejected"] == 1
    (conflict,) = b.json("conflicts")
    assert conflict["reason"] == "ALREADY_RESOLVED"
    server = platform.ticket(tid)
    assert server["ticket"]["reply"] == "甲的答复：已修复。"
    assert any(n["kind"] == "reply_kept" and "乙的答复" in n["text"] for n in server["notes"])
    # b drops it (the server already kept the reply as a note); both replicas equal the server.
    b.run("conflicts", "resolve", conflict["action_id"], "--drop")
    b.sync()
    a.sync()
    assert_converged(a, platform, tid)
    assert_converged(b, platform, tid)
    assert any("乙的答复" in n["text"] for n in b.show(tid)["notes"])


def test_accept_vs_urge_is_no_conflict(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", tid)
    platform.act(tid, "urge", comment="请尽快签收")
    platform.act(tid, "supervise", listed=True)
    report = a.sync()
    assert (report["applied"], report["rejected"], report["conflicts"]) == (1, 0, 0)
    ticket = server_ticket(platform, tid)
    assert ticket["status"] == "in_progress" and ticket["flags"]["urged"] == 1 and ticket["flags"]["listed"]
    assert_converged(a, platform, tid)


def test_note_vs_anything_but_a_move_away_is_no_conflict(tmp_path, platform):
    t1, t2, t3 = platform.register_and_assign("u1", 3)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", t2, t3)
    a.sync()
    for tid in (t1, t2, t3):
        a.run("note", tid, "--text", f"{tid} 已电话联系反映人，约定明天上门。")
    a.run("note", t1, "--call", input="回访电话：反映人表示满意。\n")
    platform.act(t1, "reassign", unit_id="u2")  # moved away
    platform.act(t2, "escalate", comment="提级调度")  # flagged
    a.run("close", t3, "--reply", "已处理")
    # A flag or a reopening is no conflict for a note; a ticket moved away is: the unit it left
    # reads it as it left and adds nothing (SPEC §8), so t1's two notes wait in the inbox.
    report = a.sync(code=EXIT_CONFLICTS)
    assert report["rejected"] == 2 and report["conflicts"] == 2
    platform.act(t3, "reject_reply", reason="请补充处理照片")  # reopened
    a.run("note", t3, "--text", "已补充照片")
    report = a.sync(code=EXIT_CONFLICTS)  # the two from before are still to look at
    assert report["rejected"] == 0 and report["applied"] == 1
    assert sorted((c["ticket_id"], c["reason"]) for c in a.json("conflicts")) == [(t1, "REASSIGNED")] * 2
    for tid in (t2, t3):
        texts = [n["text"] for n in platform.ticket(tid)["notes"]]
        assert any("已电话联系反映人" in t for t in texts), tid
    assert platform.ticket(t1)["notes"] == []
    assert any("已补充照片" in n["text"] for n in platform.ticket(t3)["notes"])


def test_bulk_close_300_some_conflict_the_rest_apply(tmp_path, platform):
    ids = platform.register_and_assign("u1", 300)
    a = Liaison(tmp_path, platform, "u1", "a")
    b = Liaison(tmp_path, platform, "u1", "b")
    a.sync()
    b.sync()
    reassigned, taken_by_b = ids[10:17], ids[100:105]
    b.run("close", *taken_by_b, "--reply", "乙已办结")
    b.sync()
    for tid in reassigned:
        platform.act(tid, "reassign", unit_id="u2")
    # a closes all 300 offline: ids from a file, one template. Assigned tickets are signed for
    # and resolved in one go (two queued actions each): 600 actions, two push batches.
    id_file = tmp_path / "ids.txt"
    id_file.write_text("# 今天办结的\n" + "\n".join(ids) + "\n")
    results = a.json("close", "--from-file", str(id_file), "--template", "fixed")
    assert len(results) == 300 and all(r["ok"] for r in results)
    assert a.json("status")["pending"] == 600

    report = a.sync(code=EXIT_CONFLICTS)
    assert report["pushed"] == 600 and report["requests"] >= 3  # 2 pushes + pulls
    conflicts = a.json("conflicts")
    by_ticket = {}
    for c in conflicts:
        by_ticket.setdefault(c["ticket_id"], set()).add(c["reason"])
    assert set(by_ticket) == set(reassigned) | set(taken_by_b)
    assert all(by_ticket[t] == {"REASSIGNED"} for t in reassigned)
    assert all("ALREADY_RESOLVED" in by_ticket[t] for t in taken_by_b)
    applied = [t for t in ids if t not in by_ticket]
    assert len(applied) == 288
    for tid in applied[::29]:
        ticket = server_ticket(platform, tid)
        assert ticket["status"] == "resolved" and "现场核实" in ticket["reply"]
        assert_converged(a, platform, tid)
    listed = a.json("list", "--view", "resolved", "--limit", "0")
    assert {r["id"] for r in listed} >= set(applied)


def test_installed_fycli_as_a_subprocess(tmp_path, platform):
    """The same loop through the real `fycli` program: exit codes, JSON on stdout, logs on stderr."""
    ids = platform.register_and_assign("u1", 2)
    token_file = tmp_path / "tok"
    token_file.write_text(platform.add_liaison("u1", "c"))
    token_file.chmod(0o600)
    env = {**os.environ, "FYCLI_CONFIG_DIR": str(tmp_path / "c")}

    def fycli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "fycli", *args],
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert fycli("init", "--server", platform.url, "--token-file", str(token_file)).returncode == 0
    with (tmp_path / "c" / "config.toml").open("a") as config:
        config.write("retries = 1\n")  # fail fast when the server is gone (backoff is unit-tested)
    assert (tmp_path / "c" / "token").stat().st_mode & 0o777 == 0o600
    done = fycli("sync")
    assert done.returncode == 0 and "pull" in done.stderr and done.stdout == ""
    closed = fycli("close", "-", "--reply", "已办结", "--json", input="\n".join(ids))
    assert closed.returncode == 0 and len(json.loads(closed.stdout)) == 2
    report = fycli("sync", "--json")
    assert report.returncode == 0 and json.loads(report.stdout)["applied"] == 4
    noop = fycli("sync", "--json")
    data = json.loads(noop.stdout)
    assert data["requests"] == 1 and data["bytes_received"] < 2048  # a quiet sync: one small pull
    platform.process.terminate()
    platform.process.wait(10)
    a_note = fycli("note", ids[0], "--text", "离线备注")
    assert a_note.returncode == 0
    offline = fycli("sync")
    assert offline.returncode == 3 and "kept locally" in offline.stderr


def test_init_takes_the_database_path(tmp_path, platform):
    """SPEC §6: `init` sets the server URL, the token and the local database path."""
    token_file = tmp_path / "t.token"
    token_file.write_text(platform.add_liaison("u1", "赵六") + "\n")
    token_file.chmod(0o600)
    database = tmp_path / "elsewhere" / "mine.db"
    config_dir = tmp_path / "cfg"
    result = CliRunner().invoke(
        cli,
        ["--config-dir", str(config_dir), "init", "--server", platform.url, "--token-file", str(token_file),
         "--db", str(database), "--json"],
    )  # fmt: skip
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["database"] == str(database)
    assert database.exists()
    status = CliRunner().invoke(cli, ["--config-dir", str(config_dir), "status", "--json"])
    assert status.exit_code == EXIT_OK, status.output
    assert str(database) in status.stdout
