"""Misbehaving servers on 127.0.0.1 for fault tests: one that trickles its answers, and a
forwarding proxy in front of a real `fycli serve` that can garble a push answer or hold a pull.

Both run in daemon threads on a free port and stop when their ``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@contextmanager
def socket_server(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A raw TCP server on 127.0.0.1: each accepted connection is handed to
    ``handle(conn, stopping)`` in a thread of its own and closed after it. Yields its URL."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            handle(conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@contextmanager
def trickling_server(interval: float = 0.5) -> Iterator[str]:
    """A server that answers every request with its headers at once, then one byte of the body
    every ``interval`` seconds (of a body announced as 100,000 bytes). Yields its URL."""

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        received = b""
        while b"\r\n\r\n" not in received and len(received) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            received += chunk
        try:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            )
            for _ in range(100000):
                if stop.wait(interval):  # the trickle's pace; returns at once when stopping
                    return
                conn.sendall(b" ")
        except OSError:  # the client gave up: that is what the test wants
            return

    with socket_server(trickle) as url:
        yield url


class Proxy:
    """Forwards to ``upstream``. ``garble_pushes``: how many push answers to replace with
    garbage after the server has handled them. ``hold_first_pull``: the first pull waits at
    :attr:`release` (the test sets it); :attr:`pull_arrived` is set when a pull comes in."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.garble_pushes = 0
        self.hold_first_pull = False
        self.pulls = 0
        self.pushes = 0
        self.pull_arrived = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.url = ""

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict, bytes]:
        with self._lock:
            is_pull = path.startswith("/v1/sync/pull")
            is_push = path.startswith("/v1/sync/push")
            first_pull = is_pull and self.pulls == 0
            self.pulls += is_pull
            self.pushes += is_push
            garble = is_push and self.garble_pushes > 0
            self.garble_pushes -= garble
        if is_pull:
            self.pull_arrived.set()
            if first_pull and self.hold_first_pull:
                self.release.wait(60)  # bounded: the test releases it
        keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
        with httpx.Client(base_url=self.upstream, timeout=60) as client:
            answer = client.request(method, path, headers=keep, content=body)
        if garble:  # the server decided the push; its answer is lost on the way
            return 200, {"Content-Type": "application/json"}, b'{"results": [{"action_id": '
        return answer.status_code, {"Content-Type": answer.headers.get("content-type", "")}, answer.content


@contextmanager
def proxy(upstream: str) -> Iterator[Proxy]:
    state = Proxy(upstream)

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, content = state.forward(self.command, self.path, dict(self.headers), body)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _any

        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
