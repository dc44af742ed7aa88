"""What a command says is what it did (issue 9 defects 7, 8, 14, 15), through the real commands
against a real `fycli serve` on loopback.

- a second ``close`` of a resolved ticket keeps the reply as a note and says so; the same close
  run twice does nothing, quietly;
- ``conflicts resolve`` with two of ``--reapply/--note/--drop`` is a usage error;
- resolving a 待签收 ticket is one intent: one conflict in the inbox, not two;
- control characters are refused at input (CLI and server) and escaped on output.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from fycli import EXIT_CONFLICTS, EXIT_ERROR, EXIT_USAGE
from tests.servers import CentralServer, liaison_action, push_body
from tests.test_cli_e2e import Liaison

PWNED = "\x1b]0;pwned\x07"  # sets the terminal's title, then rings: an escape sequence


@pytest.fixture
def platform(central_server: CentralServer) -> CentralServer:
    central_server.add_unit("u1", "王店镇人民政府")
    central_server.add_unit("u2", "西湖镇人民政府")
    return central_server


def server_notes(server: CentralServer, ticket_id: str) -> list[str]:
    return [n["text"] for n in server.ticket(ticket_id)["notes"]]


# -- defect 7: a second close ----------------------------------------------------------------


def test_a_second_close_keeps_its_reply_as_a_note_and_says_so(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("close", tid, "--reply", "第一次")

    second = a.run("close", tid, "--reply", "第二次")  # exit 0: the text is kept, and queued
    assert "NOT resolved again" in second.stdout and "queued as a note" in second.stdout
    assert "✓" not in second.stdout  # never "resolved"
    assert "1 kept as a note instead" in second.stderr
    # The first reply is still unsent: the liaison is told how to replace it instead.
    assert "fycli undo" in second.stdout
    assert a.json("status")["pending"] == 3  # accept + resolve, and the note

    # The same intents again (a close file run twice by cron): nothing to do, exit 0.
    for reply in ("第一次", "第二次"):
        again = a.run("close", tid, "--reply", reply)
        assert again.stdout.startswith(f"= {tid}  nothing to do"), again.stdout
    assert a.json("status")["pending"] == 3

    a.sync()
    ticket = platform.ticket(tid)
    assert ticket["ticket"]["status"] == "resolved" and ticket["ticket"]["reply"] == "第一次"
    assert server_notes(platform, tid) == ["【未能提交的答复】第二次"]  # reached the server once
    # After the sync too (the note is now the server's): re-running queues nothing.
    for reply in ("第一次", "第二次"):
        assert "nothing to do" in a.run("close", tid, "--reply", reply).stdout
    a.sync()
    assert server_notes(platform, tid) == ["【未能提交的答复】第二次"]


def test_closing_what_a_colleague_resolved_keeps_the_reply_as_a_note(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    b = Liaison(tmp_path, platform, "u1", "b")
    a.sync()
    a.run("close", tid, "--reply", "甲的答复")
    a.sync()
    b.sync()
    result = b.json("close", tid, "--reply", "乙的答复")
    assert result[0]["kept_as_note"] is True and result[0]["reason"] == "ALREADY_RESOLVED"
    assert "undo" not in result[0]["message"]  # nothing of b's is unsent to undo
    b.sync()
    assert server_notes(platform, tid) == ["【未能提交的答复】乙的答复"]
    assert platform.ticket(tid)["ticket"]["reply"] == "甲的答复"


# -- defect 8: mutually exclusive options --------------------------------------------------------


def _one_conflict(tmp_path, platform) -> tuple[Liaison, str]:
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", tid)
    a.sync()
    a.run("close", tid, "--reply", "已修复")
    platform.act(tid, "reassign", unit_id="u2", reason="属西湖镇")
    a.sync(code=EXIT_CONFLICTS)
    (conflict,) = a.json("conflicts")
    return a, conflict["action_id"]


@pytest.mark.parametrize(
    "flags", [("--drop", "--reapply"), ("--reapply", "--drop", "--note"), ("--note", "--drop")]
)
def test_conflicts_resolve_with_two_choices_is_a_usage_error(tmp_path, platform, flags):
    a, action_id = _one_conflict(tmp_path, platform)
    result = a.run("conflicts", "resolve", action_id, *flags, code=EXIT_USAGE)
    assert "choose one of --reapply, --note, --drop" in result.stderr
    (still,) = a.json("conflicts")
    assert still["action_id"] == action_id and still["state"] == "open"
    assert a.json("status")["pending"] == 0  # nothing queued by any of them


def test_central_commands_with_both_of_two_exclusive_options_are_usage_errors(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", tid)
    a.run("return", tid, "--reason", "不属本镇")
    a.sync()
    for choice in (("--approve", "--refuse"), ("--refuse", "--approve"), ()):
        result = platform.cli("decide-return", tid, *choice, "--unit", "u2", code=EXIT_USAGE)
        assert "exactly one of --approve or --refuse" in result.stderr
    platform.cli("decide-extension", tid, "--approve", "--refuse", code=EXIT_USAGE)
    assert platform.ticket(tid)["ticket"]["status"] == "return_requested"  # nothing decided
    platform.cli("decide-return", tid, "--refuse")
    assert platform.ticket(tid)["ticket"]["status"] == "in_progress"

    table = tmp_path / "2031.json"
    table.write_text(json.dumps({"year": 2031, "holidays": ["2031-01-01"], "workdays": []}))
    both = platform.cli(
        "calendar", "set", "2031", "--holiday", "2031-10-01", "--file", str(table), code=EXIT_USAGE
    )
    assert "not both" in both.stderr


# -- defect 14: one intent, one conflict ----------------------------------------------------------


def test_close_of_assigned_tickets_reassigned_meanwhile_makes_one_conflict_each(tmp_path, platform):
    ids = platform.register_and_assign("u1", 15)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("close", *ids, "--reply", "已联系处理")  # 待签收: sign-for + resolve each
    assert a.json("status")["pending"] == 30
    for tid in ids:
        platform.act(tid, "reassign", unit_id="u2", reason="属西湖镇")
    a.sync(code=EXIT_CONFLICTS)

    inbox = a.json("conflicts")
    assert len(inbox) == 15 and {c["ticket_id"] for c in inbox} == set(ids)
    assert {c["kind"] for c in inbox} == {"resolve"}  # each carries the reply
    assert all(json.loads(c["action_json"])["reply"] == "已联系处理" for c in inbox)
    assert a.json("status")["open_conflicts"] == 15
    # Every refusal is still kept: the 15 sign-fors folded into their resolve's conflict.
    everything = a.json("conflicts", "--all")
    folded = [c for c in everything if c["state"] == "folded"]
    assert len(everything) == 30 and len(folded) == 15 and {c["kind"] for c in folded} == {"accept"}
    leads = {c["ticket_id"]: c["action_id"] for c in inbox}
    assert all(leads[c["ticket_id"]] in c["message"] for c in folded)
    refused = a.run("conflicts", "resolve", folded[0]["action_id"], "--drop", code=EXIT_ERROR)
    assert f"part of the conflict of {leads[folded[0]['ticket_id']]}" in refused.stdout

    by_ticket = {c["ticket_id"]: c["action_id"] for c in inbox}
    # note: refused — a unit the ticket left adds nothing to it, not even a note (issue 10,
    # finding 6); the reply stays in the inbox, nothing is lost
    refused_note = a.run("conflicts", "resolve", by_ticket[ids[0]], "--note", code=EXIT_ERROR)
    assert "REASSIGNED" in refused_note.stdout and "read-only" in refused_note.stdout
    # drop: drops the one entry (the folded sign-for with it)
    a.run("conflicts", "resolve", by_ticket[ids[1]], "--drop")
    # re-apply: back with u1 and 待签收 again, re-applying re-queues the sign-for AND the resolve
    platform.act(ids[2], "reassign", unit_id="u1", reason="还是王店镇")
    a.sync(code=EXIT_CONFLICTS)  # 13 conflicts are still open
    reapplied = a.json("conflicts", "resolve", by_ticket[ids[2]], "--reapply")
    assert len(reapplied[0]["queued"]) == 2
    assert [e["kind"] for e in a.json("show", ids[2])["pending"]] == ["accept", "resolve"]
    a.sync(code=EXIT_CONFLICTS)
    assert server_notes(platform, ids[0]) == []
    assert platform.ticket(ids[1])["notes"] == []
    back = platform.ticket(ids[2])["ticket"]
    assert back["status"] == "resolved" and back["reply"] == "已联系处理"
    open_now = a.json("conflicts")
    assert len(open_now) == 13 and ids[0] in {c["ticket_id"] for c in open_now}


# -- defect 15: control characters ----------------------------------------------------------------


def test_the_cli_refuses_control_characters_at_input_naming_them(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    refused = a.run("note", tid, "--text", f"看这里{PWNED}", code=EXIT_USAGE)
    assert "U+001B (ESC)" in refused.stderr and "position 4" in refused.stderr
    assert "U+0007" in a.run("note", tid, input="响铃\x07\n", code=EXIT_USAGE).stderr  # from stdin
    assert "U+0000 (NUL)" in a.run("close", tid, "--reply", "已办\x00结", code=EXIT_USAGE).stderr
    assert "U+009B (CSI)" in a.run("return", tid, "--reason", "不\x9b属", code=EXIT_USAGE).stderr
    assert "U+0008" in a.run("extend", tid, "--days", "3", "--reason", "x\x08", code=EXIT_USAGE).stderr
    assert a.json("status")["pending"] == 0
    # Newline and tab are text; a Windows line end is a newline.
    a.run("note", tid, input="第一行\r\n第二行\t完\r\n")
    a.sync()
    assert server_notes(platform, tid) == ["第一行\n第二行\t完"]


def test_the_replica_refuses_control_characters_for_every_caller(tmp_path, platform):
    """The app calls the replica directly: it gets a refusal to show, not a traceback."""
    from local_db.replica import Replica

    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    with Replica.open(a.json("status")["database"]) as replica:
        results = [
            replica.add_note(tid, f"x{PWNED}"),
            replica.resolve([tid], "好\x00")[0],
            replica.request_return(tid, "\x1b[2J"),
            replica.request_extension(tid, 2, "\x7f"),
        ]
        assert [r.ok for r in results] == [False] * 4
        assert all("control character" in r.message for r in results)
        assert replica.pending_count() == 0


def test_the_server_refuses_control_characters_with_a_clear_422(platform):
    (tid,) = platform.register_and_assign("u1", 1)
    token = platform.add_liaison("u1", "甲")
    with platform.client(token) as client:
        ticket = client.get(f"/v1/tickets/{tid}").json()["ticket"]
        note = liaison_action("note", ticket, note_id="n" * 16, text=f"便签{PWNED}")
        response = client.post("/v1/sync/push", json=push_body("c" * 16, [note]))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    (problem,) = body["detail"]
    assert problem["loc"][-1] == "text" and "U+001B (ESC)" in problem["msg"]
    assert platform.ticket(tid)["notes"] == []
    # The platform's own inputs too: a ticket's title, a unit's name.
    from tests.servers import register_body

    bad_title = platform.http.post("/v1/admin/tickets", json=register_body("BAD-1", title="路灯\x00坏了"))
    assert bad_title.status_code == 422 and "U+0000 (NUL)" in bad_title.text
    bad_unit = platform.http.post("/v1/admin/units", json={"id": "u9", "name": "镇\x1b[31m"})
    assert bad_unit.status_code == 422 and "U+001B (ESC)" in bad_unit.text


def test_text_stored_by_an_older_version_is_escaped_on_output(tmp_path, platform):
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("accept", tid)
    a.run("close", tid, "--reply", "已修复")
    database = a.json("status")["database"]
    # What an older server or fycli left in the replica: a note, a title, a queued reply.
    db = sqlite3.connect(database)
    note = {"id": "old-note", "ticket_id": tid, "kind": "note", "text": f"旧{PWNED}\n第二行\x9b2J",
            "author": "乙\x1b[8m", "created_at": "2025-06-01T02:00:00+00:00"}  # fmt: skip
    db.execute(
        "INSERT INTO notes (id, ticket_id, at, json) VALUES (?, ?, ?, ?)",
        ("old-note", tid, note["created_at"], json.dumps(note)),
    )
    db.execute("UPDATE tickets SET title = ? WHERE id = ?", (f"路灯{PWNED}", tid))
    db.commit()
    db.close()

    shown = a.run("show", tid).stdout
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "旧\\x1b]0;pwned\\x07\n第二行\\x9b2J" in shown and "乙\\x1b[8m" in shown  # newline kept
    listed = a.run("list").stdout
    assert "\x1b" not in listed and "路灯\\x1b]0;pwned\\x07" in listed
    as_json = a.run("show", tid, "--json").stdout
    assert "\x1b" not in as_json and "\x9b" not in as_json and "\x07" not in as_json
    assert any(n["text"] == f"旧{PWNED}\n第二行\x9b2J" for n in json.loads(as_json)["notes"])  # same text

    # A conflict whose payload and message came from an older version.
    platform.act(tid, "reassign", unit_id="u2")
    db = sqlite3.connect(database)
    doc = db.execute("SELECT json FROM outbox WHERE kind = 'resolve'").fetchone()[0]
    db.execute(
        "UPDATE outbox SET json = ? WHERE kind = 'resolve'", (doc.replace("已修复", "已修复\\u001b[2J"),)
    )
    db.commit()
    db.close()
    a.sync(code=EXIT_CONFLICTS)
    listing = a.run("conflicts").stdout
    assert "\x1b" not in listing


def test_an_action_an_older_version_queued_with_control_characters_is_still_sent(tmp_path, platform):
    """The server refuses control characters now: an old outbox row holding one must not make
    every push fail. It is sent without them, the rest of its text kept."""
    (tid,) = platform.register_and_assign("u1", 1)
    a = Liaison(tmp_path, platform, "u1", "a")
    a.sync()
    a.run("note", tid, "--text", "旧便签")
    db = sqlite3.connect(a.json("status")["database"])
    (doc,) = db.execute("SELECT json FROM outbox").fetchone()
    db.execute("UPDATE outbox SET json = ?", (doc.replace("旧便签", "旧\\u001b]0;x\\u0007便签"),))
    db.commit()
    db.close()
    assert "旧]0;x便签" in a.run("show", tid).stdout  # readable, shown without them
    a.sync()
    assert server_notes(platform, tid) == ["旧]0;x便签"]
    assert a.json("status")["pending"] == 0
