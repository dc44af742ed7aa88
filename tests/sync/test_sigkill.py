"""Kill a real `fycli sync` process (SIGKILL) at random moments, many times, then sync again:
nothing lost, nothing doubled, the database intact (SPEC §4 "the laptop killed mid-sync").

Each round queues new local actions and makes central changes, starts `fycli sync` as a real
subprocess against a real `fycli serve`, waits for a random number of its progress lines on
stderr (the event that tells how far it got), optionally waits a few more random milliseconds
(that delay is the fault injection, not a wait for work), and kills it with SIGKILL. After all
rounds a final sync must finish, and then:

- ``PRAGMA integrity_check`` is ok and the outbox is empty;
- every action ever queued was decided exactly once: applied (its event, or for a note its
  note, is on the server) or rejected (it is in the conflict inbox, and not on the server);
- every note text is on the server exactly once;
- every ticket in scope equals the server's, every ticket reassigned away is out of scope;
- one more sync is quiet: one request.

``FYCLI_SIGKILL_ROUNDS`` runs more rounds than the default (e.g. 100 before a release).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from fycli import cli
from local_db.api import TicketQuery, View
from local_db.replica import Replica
from tests.servers import REPO, CentralServer

ROUNDS = int(os.environ.get("FYCLI_SIGKILL_ROUNDS", "10"))
TICKETS = 80
PAGE = 8  # small pages: a pull has many commit points to be killed between


def _init_liaison(tmp_path: Path, server: CentralServer) -> Path:
    directory = tmp_path / "liaison"
    token_file = tmp_path / "token.txt"
    token_file.write_text(server.add_liaison("u1", "联络员"))
    token_file.chmod(0o600)
    result = CliRunner().invoke(
        cli, ["--config-dir", str(directory), "init", "--server", server.url, "--token-file", str(token_file)]
    )
    assert result.exit_code == 0, result.output
    with (directory / "config.toml").open("a") as config:
        config.write(f"page_limit = {PAGE}\nretries = 2\n")
    return directory


def _queue_local_work(db: Path, rng: random.Random, round_no: int, queued: dict[str, dict]) -> None:
    """A few offline actions, recorded by action id (with the note id and text of notes)."""
    with Replica.open(db) as replica:
        before = {e.action_id for e in replica.outbox(limit=100_000)}
        assigned = list(replica.ids_matching(TicketQuery(view=View.ASSIGNED)))
        working = list(replica.ids_matching(TicketQuery(view=View.IN_PROGRESS)))
        everything = list(replica.ids_matching(TicketQuery(view=View.ALL)))
        if assigned:
            replica.accept(rng.sample(assigned, min(3, len(assigned))))
        if working:
            replica.resolve(rng.sample(working, min(3, len(working))), f"第{round_no}轮：已现场处理完毕。")
        for i, tid in enumerate(rng.sample(everything, min(3, len(everything)))):
            replica.add_note(tid, f"round {round_no} note {i} on {tid}")
        for entry in replica.outbox(limit=100_000):
            if entry.action_id not in before:
                queued[entry.action_id] = json.loads(entry.action_json)


def _central_changes(server: CentralServer, rng: random.Random, ids: list[str]) -> None:
    for tid in rng.sample(ids, 4):
        kind = rng.choice(["urge", "urge", "supervise", "reject_reply", "record_feedback", "reassign"])
        fields = {
            "reassign": {"unit_id": "u2"},
            "reject_reply": {"reason": "请补充现场照片"},
            "record_feedback": {"result": rng.choice(["satisfied", "dissatisfied"])},
        }.get(kind, {})
        server.act(tid, kind, **fields)  # may be refused (e.g. not resolved yet): that is fine


def _sync_and_kill(directory: Path, rng: random.Random) -> str:
    env = {**os.environ, "FYCLI_CONFIG_DIR": str(directory), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fycli", "sync"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wanted = rng.randrange(0, 12)  # progress lines to see before the kill (0: during start-up)
    seen = 0
    while seen < wanted and process.stderr.readline():
        seen += 1
    time.sleep(rng.random() * 0.03)  # fault injection: land anywhere inside the next step
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    process.stderr.close()
    return "killed" if process.returncode == -signal.SIGKILL else f"finished ({process.returncode})"


def test_sigkill_mid_sync_loses_and_doubles_nothing(tmp_path, central_server: CentralServer):
    server = central_server
    server.add_unit("u1", "王店镇人民政府")
    server.add_unit("u2", "西湖镇人民政府")
    ids = server.register_and_assign("u1", TICKETS)
    directory = _init_liaison(tmp_path, server)
    db = directory / "replica.db"
    rng = random.Random(20240611)
    queued: dict[str, dict] = {}
    outcomes = []
    for round_no in range(ROUNDS):
        if round_no:  # round 0 kills the very first pull
            _queue_local_work(db, rng, round_no, queued)
            _central_changes(server, rng, ids)
        outcomes.append(_sync_and_kill(directory, rng))
    assert outcomes.count("killed") >= ROUNDS // 2, outcomes  # the kills really landed mid-way

    final = CliRunner().invoke(cli, ["--config-dir", str(directory), "sync", "--json"])
    assert final.exit_code in (0, 5), final.output

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    with Replica.open(db) as replica:
        assert replica.pending_count() == 0
        rejected = {c.action_id for c in replica.conflicts(open_only=False)}
        local = {t: replica.detail(t) for t in ids}
    server_view = {t: server.ticket(t) for t in ids}
    events = {e["id"] for body in server_view.values() for e in body["events"]}
    notes = [n for body in server_view.values() for n in body["notes"]]
    note_ids = {n["id"] for n in notes}

    assert queued, "the rounds queued actions"
    for action_id, action in queued.items():
        on_server = action["note_id"] in note_ids if action["kind"] == "note" else action_id in events
        if action_id in rejected:
            assert not on_server, f"{action_id} both rejected and applied"
        else:
            assert on_server, f"{action['kind']} {action_id} on {action['ticket_id']} was lost"
    for action in queued.values():
        if action["kind"] == "note":
            assert sum(n["text"] == action["text"] for n in notes) == 1, action["text"]

    for tid, body in server_view.items():
        theirs, mine = body["ticket"], local[tid]
        if mine is None:  # reassigned away before this replica ever pulled it: never its business
            assert theirs["unit_id"] != "u1", tid
            continue
        if theirs["unit_id"] == "u1":
            assert mine.in_scope, tid
            got = mine.server_ticket.model_dump(mode="json")
            for key in ("status", "epoch", "revision", "reply", "flags", "counters"):
                assert got[key] == theirs[key], (tid, key)
        else:
            assert not mine.in_scope, tid

    quiet = CliRunner().invoke(cli, ["--config-dir", str(directory), "sync", "--json"])
    assert json.loads(quiet.stdout)["requests"] == 1
