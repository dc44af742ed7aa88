"""Bounded connections for the embedded server: deadlines, a header limit and a connection cap.

uvicorn gives an idle timeout only *after* a response (``timeout_keep_alive``), no deadline for
the request headers or body, no header size limit with httptools, and ``limit_concurrency``
answers 503 only once a request's headers are in — so 500 sockets that never send a byte, or
send one header byte every few seconds (slowloris), hold their file descriptors for ever, and
with ``ulimit -n 300`` 400 of them leave nothing for ``/v1/health``. This subclass of uvicorn's
httptools protocol adds, per connection:

- an **idle** deadline: a fresh connection must start a request within ``idle_timeout``
  (after a response, uvicorn's own keep-alive timeout, set to the same value, applies);
- a **header** deadline: the request line and headers complete within ``header_timeout`` of
  the connection (or of the previous response), however slowly they trickle in;
- a **body** deadline: ``body_timeout`` seconds plus one second per ``body_min_rate`` bytes
  received (Apache mod_reqtimeout's rule: a byte every 2 s never keeps a socket);
- a **header size** limit: ``max_header_bytes`` (request line + headers), answered 431;
- a **connection cap**: at ``max_connections`` open sockets, a new one closes the oldest
  connection still waiting for its request headers (idle, keep-alive or slowloris — never one
  whose request is being served); with none to close, the new one is refused. A liaison's
  connection is the newest, so a flood of idle sockets cannot keep it out.

A refusal (431) is written, then the socket is half-closed and drained briefly ("lingering
close", as nginx does) so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from central.config import ConnectionLimits

log = logging.getLogger("fycli.connections")

#: File descriptors kept back from the connection cap for the database pools, WAL files, logs.
FD_RESERVE = 128
#: How long a refused connection is drained before it is closed (the client reads the answer).
_LINGER_SECONDS = 1.0


def fd_limit() -> int | None:
    """The soft limit on open files, raised to the hard limit first (POSIX; None elsewhere)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(requested: int, fds: int | None) -> int:
    """``requested``, lowered so the sockets never take the descriptors the database needs."""
    if fds is None:
        return requested
    return max(16, min(requested, fds - FD_RESERVE))


def make_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """An httptools protocol class for uvicorn's ``http=`` with ``limits`` applied."""

    class BoundedHttpToolsProtocol(_Bounded):
        pass

    BoundedHttpToolsProtocol.limits = limits
    return BoundedHttpToolsProtocol


class _Bounded(HttpToolsProtocol):
    limits: ConnectionLimits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_request = False  # headers complete, response not yet finished
        self._header_bytes = 0
        self._body_started = 0.0
        self._body_bytes = 0
        self._refused = False
        self._message_done = False

    # --- the waiting list shared by every connection of this server ------------------------

    @property
    def _waiting(self) -> dict[_Bounded, None]:
        """Connections waiting for request headers, oldest first (on the server's state)."""
        waiting = getattr(self.server_state, "fycli_waiting", None)
        if waiting is None:
            waiting = self.server_state.fycli_waiting = {}
        return waiting

    def _wait_for_headers(self, timeout: float) -> None:
        self._waiting.pop(self, None)
        self._waiting[self] = None
        self._in_request = False
        self._header_bytes = 0
        self._arm(timeout, "request headers")

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._evict_one():
            log.warning("connection refused: %d connections open (the limit)", len(self.connections) - 1)
            self.connections.discard(self)
            self.transport.close()
            return
        # uvicorn arms its keep-alive timer only after a response: the same idle rule from the start.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.limits.idle_timeout, self.timeout_keep_alive_handler
        )
        self._wait_for_headers(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._waiting.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering close: drop what the client still sends
        if not self._in_request:
            self._header_bytes += len(data)
        super().data_received(data)
        over = not self._in_request and self._header_bytes > self.limits.max_header_bytes
        if over and self.parser is not None and not self.transport.is_closing():
            self._refuse_headers()

    # --- httptools callbacks -----------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_header_bytes:
            self._refuse_headers()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        size = len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse_headers()
            return
        self._waiting.pop(self, None)
        self._in_request = True
        self._message_done = False
        self._body_started = self.loop.time()
        self._body_bytes = 0
        self._arm(self.limits.body_timeout, "request body")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        self._body_bytes += len(body)
        self._arm(self._body_deadline() - self.loop.time(), "request body")
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._message_done = True
        answered = self.cycle is not None and self.cycle.response_complete
        super().on_message_complete()
        if answered and not self.pipeline:  # answered before its body was in (a refusal)
            self._wait_for_headers(self.limits.header_timeout)
        else:
            self._disarm()  # the whole request is in: the app's time is not the client's to bound

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A body still arriving after an early answer keeps its body deadline.
        if self._message_done and not self.transport.is_closing() and not self.pipeline:
            self._wait_for_headers(self.limits.header_timeout)

    # --- deadlines, eviction, refusal --------------------------------------------------------

    def _body_deadline(self) -> float:
        rate = max(1, self.limits.body_min_rate)
        return self._body_started + self.limits.body_timeout + self._body_bytes / rate

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(max(0.0, seconds), self._expire, what)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            log.info("connection closed: the %s did not arrive in time", what)
            self.transport.close()  # connection_lost tells a waiting app: http.disconnect

    def _evict_one(self) -> bool:
        """Close the connection that has waited longest for its request headers."""
        for victim in self._waiting:
            if victim is not self:
                self._waiting.pop(victim)
                victim._disarm()
                victim.transport.close()
                # Its connection_lost comes a loop turn later: count it gone now (uvicorn's
                # limit_concurrency check would otherwise see one too many).
                self.connections.discard(victim)
                return True
        return False

    def _refuse_headers(self) -> None:
        """Answer 431 and close after a short drain (the client reads the answer, not a reset)."""
        if self._refused:
            return
        self._refused = True
        self._waiting.pop(self, None)
        self._disarm()
        body = (
            b'{"error":"too_large","message":"the request headers are over '
            + str(self.limits.max_header_bytes).encode()
            + b' bytes: send shorter headers"}'
        )
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)
        self.parser = _Discard()  # type: ignore[assignment]


class _Discard:
    """A stand-in parser after a refusal: it swallows whatever bytes are still arriving."""

    def feed_data(self, _data: bytes) -> None:
        pass


def describe(limits: ConnectionLimits) -> str:
    """One line for the start-up banner."""
    return (
        f"idle {limits.idle_timeout:g} s, headers {limits.header_timeout:g} s, body {limits.body_timeout:g} s "
        f"+ 1 s per {limits.body_min_rate} B, headers ≤ {limits.max_header_bytes} B, "
        f"≤ {limits.max_connections} connections"
    )
