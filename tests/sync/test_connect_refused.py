"""A push that never left the machine stays undoable (issue 9 follow-up to defects 10 and 13).

The engine marks a batch "sent" (no longer undoable) before pushing it: the request may reach
the server even if the answer is lost. A refused connection is different: nothing can have
left, so undo must still work. Through the real commands, against a port that refuses and a
server that takes the request and hangs up without answering.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fycli import EXIT_UNREACHABLE
from tests.servers import CentralServer
from tests.sync.faulty import socket_server
from tests.test_cli_e2e import Liaison


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A loopback port bound but not listening: every connect is refused (ECONNREFUSED), and
    no other process can start listening on it while the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def hang_up_url() -> Iterator[str]:
    """A server that reads each request's first bytes and closes without a word: the request
    did leave, so its actions may have reached the platform."""

    def hang_up(conn: socket.socket, stopping: threading.Event) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)

    with socket_server(hang_up) as url:
        yield url


def point_at(liaison: Liaison, url: str) -> None:
    """The liaison's config now names ``url`` as the central service, with two tries per
    request (the default six back off for ~10 s; two show the same thing: a retry happens)."""
    config = Path(liaison.dir) / "config.toml"
    lines = [
        f'server_url = "{url}"' if line.startswith("server_url") else line
        for line in config.read_text().splitlines()
        if not line.startswith("retries")
    ]
    config.write_text("\n".join([*lines, "retries = 2"]) + "\n")


@pytest.fixture
def closed_once(tmp_path: Path, central_server: CentralServer) -> tuple[Liaison, str]:
    """A liaison with one ticket closed locally (sign-for + resolve queued), unsent."""
    central_server.add_unit("u1", "王店镇人民政府")
    (tid,) = central_server.register_and_assign("u1", 1)
    liaison = Liaison(tmp_path, central_server, "u1", "a")
    liaison.sync()
    liaison.run("close", tid, "--reply", "已现场核实，路灯已修复")
    assert liaison.json("status")["pending"] == 2
    return liaison, tid


def test_a_refused_connection_leaves_the_actions_undoable(closed_once, refusing_url):
    liaison, tid = closed_once
    point_at(liaison, refusing_url)
    failed = liaison.run("sync", code=EXIT_UNREACHABLE)
    assert "kept locally" in failed.stderr
    undone = liaison.json("undo", "--last")
    assert undone["undone"] is True
    assert liaison.json("status")["pending"] == 0
    assert liaison.show(tid)["pending"] == []


def test_a_request_that_left_still_cannot_be_undone(closed_once, hang_up_url):
    """The other side of the line: bytes were written, so the actions may have arrived."""
    liaison, _tid = closed_once
    point_at(liaison, hang_up_url)
    liaison.run("sync", code=EXIT_UNREACHABLE)
    refused = liaison.run("undo", "--last", code=1)
    assert "sent already" in refused.output
    assert liaison.json("status")["pending"] == 2


@pytest.fixture
def full_backlog_url() -> Iterator[str]:
    """A listener that never accepts, its backlog filled: a new connect gets no SYN-ACK and
    times out while connecting (Linux drops SYNs to a full accept queue)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(4):  # bounded: the queue holds backlog + 1; extra connects just hang
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
            fillers.append(filler)
        yield f"http://{address[0]}:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_a_connect_timeout_is_reported_as_nothing_sent(full_backlog_url):
    from sync.client import RetryPolicy, SyncClient
    from sync.errors import Unreachable

    client = SyncClient(full_backlog_url, "t", connect_timeout=0.3, retry=RetryPolicy(attempts=2, base=0.01))
    with pytest.raises(Unreachable) as caught:
        client.push("c" * 16, [(1, "{}")])
    assert "ConnectTimeout" in str(caught.value)
    assert caught.value.nothing_sent is True


def test_an_answer_is_never_reported_as_nothing_sent(hang_up_url):
    from sync.client import RetryPolicy, SyncClient
    from sync.errors import Unreachable

    client = SyncClient(hang_up_url, "t", retry=RetryPolicy(attempts=2, base=0.01))
    with pytest.raises(Unreachable) as caught:
        client.push("c" * 16, [(1, "{}")])
    assert caught.value.nothing_sent is False
