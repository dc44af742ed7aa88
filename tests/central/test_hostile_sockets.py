"""Hostile sockets against a real `fycli serve` (issue 10, finding 2): idle, slowloris and
slow-body connections are closed, a huge header is refused, and a flood of idle sockets
under a low open-files limit does not keep `/v1/health` out.

Each close is awaited on the socket itself (``recv`` returns b"" or the peer resets it), with
a deadline; a slow client's bytes are paced by waiting on the socket for that close.
"""

from __future__ import annotations

import contextlib
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.servers import CentralServer

#: Short limits so each test takes seconds; the defaults are in central/config.py.
LIMITS = {"FYCLI_IDLE_TIMEOUT": "1", "FYCLI_HEADER_TIMEOUT": "2", "FYCLI_BODY_TIMEOUT": "2",
          "FYCLI_BODY_MIN_RATE": "500", "FYCLI_MAX_HEADER_BYTES": "16384"}  # fmt: skip
CLOSE_BOUND = 8.0  # seconds: well past each limit, far short of "never"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CentralServer]:
    with CentralServer.start(tmp_path_factory.mktemp("sockets"), env=LIMITS) as running:
        running.add_unit("t1")
        running.token = running.add_liaison("t1")  # type: ignore[attr-defined]
        yield running


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=CLOSE_BOUND)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Wait up to ``seconds`` for the server to close ``sock`` (reading and dropping any answer)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return False
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
    return False


def _trickle(sock: socket.socket, data: bytes, every: float, bound: float) -> float | None:
    """Send ``data`` a byte at a time, one every ``every`` seconds, until the server closes the
    socket (returns the seconds it took) or ``bound`` passes (returns None)."""
    start = time.monotonic()
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        if _closed_within(sock, every):
            return time.monotonic() - start
        if time.monotonic() - start > bound:
            return None
    return None


def test_idle_socket_is_closed(server: CentralServer) -> None:
    with contextlib.closing(_connect(server.url)) as sock:
        assert _closed_within(sock, CLOSE_BOUND), "an idle socket that never sent a byte stayed open"


def test_slowloris_headers_are_closed_at_the_header_deadline(server: CentralServer) -> None:
    partial = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with contextlib.closing(_connect(server.url)) as sock:
        took = _trickle(sock, partial, every=0.25, bound=CLOSE_BOUND)
    assert took is not None, "a connection trickling its headers stayed open"
    assert took >= 1.5, f"closed after {took:.1f} s: before the 2 s header deadline"


def test_slow_body_is_closed(server: CentralServer) -> None:
    head = (f"POST /v1/sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.token}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()  # fmt: skip
    with contextlib.closing(_connect(server.url)) as sock:
        sock.sendall(head)
        took = _trickle(sock, b"{" + b" " * 999, every=0.25, bound=CLOSE_BOUND)
    assert took is not None, "a body sent a byte at a time stayed open"


def test_keep_alive_socket_is_closed_after_its_idle_time(server: CentralServer) -> None:
    with contextlib.closing(_connect(server.url)) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        readable, _, _ = select.select([sock], [], [], CLOSE_BOUND)
        assert readable and sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(sock, CLOSE_BOUND)


def test_oversized_header_is_refused_431(server: CentralServer) -> None:
    request = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    with contextlib.closing(_connect(server.url)) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"too_large" in answer
    # A normal request with normal headers is still answered.
    assert httpx.get(server.url + "/v1/health", timeout=CLOSE_BOUND).status_code == 200


def _low_fd_limit() -> None:  # runs in the server's child process before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))


def test_health_answers_while_idle_sockets_exceed_the_open_files_limit(tmp_path: Path) -> None:
    # Idle sockets are not closed by time here (60 s): the connection cap must make room.
    env = {**LIMITS, "FYCLI_IDLE_TIMEOUT": "60", "FYCLI_HEADER_TIMEOUT": "60"}
    with CentralServer.start(tmp_path, env=env, preexec_fn=_low_fd_limit) as capped:
        idle = [_connect(capped.url) for _ in range(400)]
        try:
            for _ in range(3):
                response = httpx.get(capped.url + "/v1/health", timeout=5.0)
                assert response.status_code == 200
        finally:
            for sock in idle:
                sock.close()
        assert capped.process.poll() is None
