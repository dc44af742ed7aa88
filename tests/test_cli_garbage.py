"""Garbage from a misbehaving server (an HTML page, truncated JSON, the wrong schema) gives a
clear message, a non-zero exit code, and a replica left exactly as it was.

The "server" is a tiny real HTTP server on a free loopback port; fycli talks to it over real
HTTP through its normal commands.
"""

from __future__ import annotations

import hashlib
import http.server
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fycli import cli
from local_db.replica import Replica
from schemas.wire import Me
from sync.config import Config, write_token
from tests.local_db.factory import fixed_clock, page, ticket_json

ME = Me(liaison_id="L1", name="王联络员", unit_id="U1", unit_name="鼓楼街道办事处", server_id="S1")


class GarbageServer:
    """Answers every request with the configured (status, content type, body); counts requests."""

    def __init__(self) -> None:
        self.answer: tuple[int, str, bytes] = (200, "text/plain", b"")
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append(f"{self.command} {self.path.split('?')[0]}")
                status, ctype, body = outer.answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[GarbageServer]:
    s = GarbageServer()
    yield s
    s.close()


@pytest.fixture
def configured(tmp_path, server) -> Path:
    """A config dir pointing at the garbage server, with a replica that has data and an unsent note."""
    directory = tmp_path / "cfg"
    db = directory / "replica.db"
    directory.mkdir()
    with Replica.open(db, create=True, clock=fixed_clock) as r:
        r.set_identity(ME, server.url)
        r.apply_pull_page_raw(page([ticket_json("A1", status="assigned"), ticket_json("P1")]))
        assert r.add_note("P1", "已电话联系反映人").ok
    write_token(directory / "token", "tok-garbage")
    Config(
        path=directory / "config.toml",
        server_url=server.url,
        database=db,
        token_file=Path("token"),
        retries=1,  # backoff itself is unit-tested (tests/sync/test_client.py); never sleep here
    ).save()
    return directory


def dump_digest(db: Path, *, ignore_sent_flag: bool = False) -> str:
    """A digest of every table's content (the file's bytes may move with WAL checkpoints)."""
    conn = sqlite3.connect(db)
    try:
        lines = list(conn.iterdump())
        if ignore_sent_flag:
            lines = [line for line in lines if not line.startswith('INSERT INTO "outbox"')]
            lines += [repr(r) for r in conn.execute("SELECT seq, action_id, json FROM outbox ORDER BY seq")]
    finally:
        conn.close()
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


HTML = (200, "text/html; charset=utf-8", b"<!DOCTYPE html><html><body><h1>Wi-Fi login</h1></body></html>")
TRUNCATED = (200, "application/json", b'{"cursor": "abc", "has_more": false, "tickets": [{"id": "A')
WRONG_SCHEMA = (200, "application/json", b'{"items": [], "next": null}')
BAD_TICKET = (200, "application/json", b'{"cursor": "c9", "has_more": false, "tickets": [{"id": "A1"}]}')
NOT_JSON_ERROR = (404, "text/html", b"<html><body>404 Not Found</body></html>")
JSON_NOT_OBJECT = (200, "application/json", b"[1, 2, 3]")


@pytest.mark.parametrize(
    "answer, hint",
    [
        (HTML, "HTML page"),
        (TRUNCATED, "invalid JSON"),
        (WRONG_SCHEMA, "not a pull page"),
        (BAD_TICKET, "malformed"),
        (NOT_JSON_ERROR, "HTTP 404"),
        (JSON_NOT_OBJECT, "not a pull page"),
    ],
    ids=["html", "truncated", "wrong-schema", "bad-ticket", "html-404", "json-array"],
)
def test_garbage_pull_is_refused_and_the_replica_is_untouched(configured, server, answer, hint):
    db = configured / "replica.db"
    before = dump_digest(db)
    server.answer = answer
    result = CliRunner().invoke(cli, ["--config-dir", str(configured), "pull"])
    assert result.exit_code == 1, result.output
    assert "not fycli's sync protocol" in result.stderr
    assert hint in result.stderr
    assert server.url in result.stderr
    assert server.requests == ["GET /v1/sync/pull"]  # garbage is not retried
    assert dump_digest(db) == before


@pytest.mark.parametrize(
    "answer",
    [HTML, TRUNCATED, (200, "application/json", b'{"results": "all good", "acked_seq": 1}'), NOT_JSON_ERROR],
    ids=["html", "truncated", "wrong-schema", "html-404"],
)
def test_garbage_push_answer_keeps_the_outbox(configured, server, answer):
    db = configured / "replica.db"
    before = dump_digest(db, ignore_sent_flag=True)
    server.answer = answer
    result = CliRunner().invoke(cli, ["--config-dir", str(configured), "sync"])
    assert result.exit_code == 1, result.output
    assert "not fycli's sync protocol" in result.stderr
    assert server.requests == ["POST /v1/sync/push"]
    # The unsent note is still there, to be sent again (only its "sent, cannot undo" flag moved:
    # the server may have received it).
    assert dump_digest(db, ignore_sent_flag=True) == before
    with Replica.open(db) as r:
        assert r.pending_count() == 1


def test_init_against_garbage_writes_nothing(tmp_path, server):
    server.answer = HTML
    directory = tmp_path / "fresh"
    result = CliRunner().invoke(
        cli, ["--config-dir", str(directory), "init", "--server", server.url, "--token", "tok-1"]
    )
    assert result.exit_code == 1
    assert "not fycli's sync protocol" in result.stderr
    assert not directory.exists() or not any(directory.iterdir())


def test_unreachable_server_is_exit_3_and_work_is_kept(configured, server):
    server.close()  # nothing listens on that port any more
    db = configured / "replica.db"
    result = CliRunner().invoke(cli, ["--config-dir", str(configured), "sync"])
    assert result.exit_code == 3, result.output
    assert "kept locally" in result.stderr
    with Replica.open(db) as r:
        assert r.pending_count() == 1
        assert r.state().last_error and "cannot be reached" in r.state().last_error
