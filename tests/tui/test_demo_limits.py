"""The demo's embedded central service has the connection limits ``fycli serve`` has.

Issue 10, finding 2: the embedded server (the demo and small townships run it bare) must close
idle and slow sockets and refuse oversized headers. ``fycli serve`` does (central/connections.py);
the demo ran uvicorn without them, so one idle socket stayed open for ever. Real uvicorn on a
free loopback port, real sockets.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.config import ConnectionLimits
from tui.demo.run import EmbeddedCentral

#: Longest a test waits for the server to act on a socket (a bound, not a sleep).
WAIT = 15.0


@pytest.fixture
def demo_central(tmp_path: Path, request) -> Iterator[EmbeddedCentral]:
    limits = getattr(request, "param", None)  # None: the demo's own defaults, as it runs
    extra = {"limits": limits} if limits is not None else {}
    central = EmbeddedCentral(f"sqlite:///{tmp_path / 'central.db'}", **extra)
    central.start()
    try:
        yield central
    finally:
        central.stop()


def connect(central: EmbeddedCentral) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", central.port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the socket (raises on WAIT without a close)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("demo_central", [ConnectionLimits(idle_timeout=0.5)], indirect=True)
def test_the_demo_server_closes_an_idle_socket(demo_central):
    with connect(demo_central) as idle:
        assert read_until_closed(idle) == b""  # closed by the server, nothing said
    # It still serves: the limits close sockets, not the service.
    with connect(demo_central) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200")


def test_the_demo_server_refuses_oversized_headers_by_default(demo_central):
    """Default limits, as ``fycli demo`` runs it: headers beyond 32 KiB are answered 431."""
    big = b"X-Padding: " + b"a" * (64 * 1024) + b"\r\n"
    with connect(demo_central) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("demo_central", [ConnectionLimits(header_timeout=1.0)], indirect=True)
def test_the_demo_server_closes_a_slowloris_socket(demo_central):
    with connect(demo_central) as slow:
        slow.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        answer = read_until_closed(slow)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
