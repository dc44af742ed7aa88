"""A small fault-injecting TCP proxy that emulates a bad village link (stdlib only).

It sits between a client and an upstream TCP service and, per :class:`LinkProfile`:

* delays every chunk by a one-way latency (+/- jitter) in each direction, keeping the byte
  order within a connection (a chunk is never delivered before the one read before it);
* caps the bandwidth with a token bucket per direction, shared by all connections of the proxy;
* stalls (accepts, then never forwards) or resets a new connection with some probability;
* drops an established connection mid-stream with some probability per N KB transferred;
* drops every live connection every N seconds ("flaky" mode);
* on :meth:`FaultProxy.cut` closes every live connection and refuses new ones (accepts then
  immediately resets them) until :meth:`FaultProxy.restore`.

Connections that the proxy kills are closed with a TCP reset (``SO_LINGER`` 0), so a client
sees ``ConnectionResetError`` (or an early EOF) rather than a silent hang; a *stalled*
connection is the silent hang.

What a proxy cannot emulate: packet loss and retransmission inside one TCP connection (the
kernel of this machine has no ``netem``), nor the handshake round trip (the proxy accepts at
once; the first byte then pays the one-way latency). For a real rate-limited link between two
network namespaces see :mod:`bench.netem.netns`.

In-process use (tests)::

    with FaultProxy(("127.0.0.1", 8000), PROFILES["2g"], seed=1) as proxy:
        client.get(f"http://127.0.0.1:{proxy.port}/...")
        proxy.cut(); ...; proxy.restore()
        proxy.wait_until(lambda s: s.dropped >= 1, timeout=5)
        print(proxy.stats)

The context manager runs the proxy's event loop in a background thread. Inside a running
event loop use ``async with FaultProxy(...)`` (or ``await proxy.start()`` /
``await proxy.aclose()``) instead.

Command line (prints ``listening HOST:PORT`` on stdout once ready; SIGUSR1 cuts the link,
SIGUSR2 restores it, SIGINT/SIGTERM stop and print the counters)::

    python -m bench.netem.fault_proxy --listen 127.0.0.1:0 --upstream 127.0.0.1:8000 --profile 2g
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

__all__ = ["PROFILES", "FaultProxy", "LinkProfile", "ProxyStats", "TokenBucket", "main"]

_READ_SIZE = 64 * 1024
_QUEUE_CHUNKS = 8  # per direction and connection: back-pressure instead of unbounded buffering


@dataclass(frozen=True)
class LinkProfile:
    """How bad the emulated link is. All probabilities are in [0, 1]; zero means "never"."""

    latency_ms: float = 0.0
    """One-way delay added to every chunk, in each direction (RTT = 2 x latency_ms)."""
    jitter_ms: float = 0.0
    """Each chunk's delay is latency_ms + uniform(-jitter_ms, +jitter_ms), never below 0 and never
    earlier than the previous chunk of the same direction (order is preserved)."""
    bandwidth_bps: int | None = None
    """Bytes per second per direction, shared by all connections; None = unlimited."""
    burst_bytes: int | None = None
    """Token bucket size; None = max(4 KB, 20 ms worth of bandwidth)."""
    stall_prob: float = 0.0
    """Probability that a new connection is accepted but never forwarded (until closed)."""
    reset_prob: float = 0.0
    """Probability that a new connection is reset right after it is accepted."""
    drop_prob: float = 0.0
    """Probability of dropping an established connection, rolled once per drop_interval_kb."""
    drop_interval_kb: int = 64
    """KB transferred (both directions together) between two rolls of drop_prob."""
    cut_every_s: float | None = None
    """Drop every live connection every that many seconds (new ones are still accepted)."""

    def with_(self, **changes: object) -> LinkProfile:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def effective_burst(self) -> int:
        if self.burst_bytes is not None:
            return max(1, self.burst_bytes)
        if self.bandwidth_bps is None:
            return _READ_SIZE
        return max(4096, self.bandwidth_bps // 50)


PROFILES: dict[str, LinkProfile] = {
    # ~250 kbit/s, 300 ms RTT, ~3 % of connections stalled or reset, plus rare mid-stream drops.
    "2g": LinkProfile(
        latency_ms=150,
        jitter_ms=20,
        bandwidth_bps=250_000 // 8,
        stall_prob=0.015,
        reset_prob=0.015,
        drop_prob=0.03,
        drop_interval_kb=100,
    ),
    # ~1.5 Mbit/s, 100 ms RTT, ~1 % of connections stalled or reset.
    "3g": LinkProfile(
        latency_ms=50,
        jitter_ms=10,
        bandwidth_bps=1_500_000 // 8,
        stall_prob=0.005,
        reset_prob=0.005,
        drop_prob=0.01,
        drop_interval_kb=100,
    ),
    # A usable link that drops every connection every 20 s.
    "flaky": LinkProfile(latency_ms=50, bandwidth_bps=1_000_000 // 8, cut_every_s=20.0),
    "perfect": LinkProfile(),
}


@dataclass(frozen=True)
class ProxyStats:
    """A snapshot of the proxy's counters."""

    accepted: int = 0
    """Every connection accepted, whatever happened to it next."""
    dropped: int = 0
    """Established connections the proxy killed: random drops, cut(), periodic cuts."""
    refused: int = 0
    """Connections accepted and reset at once because the link was cut."""
    stalled: int = 0
    reset: int = 0
    """Connections reset at once by reset_prob."""
    upstream_failed: int = 0
    """Connections closed because the upstream refused or failed."""
    active: int = 0
    bytes_up: int = 0
    """Bytes delivered to the upstream (client -> server)."""
    bytes_down: int = 0
    """Bytes delivered to the clients (server -> client)."""


class TokenBucket:
    """A token bucket as a reservation schedule: each caller books its bytes after the ones
    already booked (FIFO, shared by all connections of one direction) and sleeps until its
    booking has drained. An idle bucket fills up to ``burst`` bytes."""

    def __init__(self, rate_bps: float, burst: int) -> None:
        if rate_bps <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate_bps)
        self.burst = burst
        self._next = -float("inf")

    def reserve(self, n: int, now: float) -> float:
        """Book n bytes at time now; return how long the caller must wait."""
        start = max(self._next, now - self.burst / self.rate)
        self._next = start + n / self.rate
        return max(0.0, self._next - now)

    async def take(self, n: int) -> None:
        wait = self.reserve(n, asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)


def _set_linger0(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP RST (no FIN, unsent data discarded)."""
    if writer is None:
        return
    _set_linger0(writer)
    writer.transport.abort()


@dataclass(eq=False)
class _Conn:
    cid: int
    client: asyncio.StreamWriter
    rng: random.Random
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    transferred: int = 0
    next_roll: int = 0
    closed: bool = False


class FaultProxy:
    """A fault-injecting TCP proxy in front of ``upstream`` (host, port).

    ``listen`` is (host, port); port 0 picks a free one, readable as :attr:`port` after start.
    ``seed`` seeds the proxy's own ``random.Random``: the fate of each new connection (forward,
    stall, reset) is drawn from it in accept order, together with a seed for that connection's
    own Random (its jitter and mid-stream drop rolls), so a run is reproducible given the order
    of connections and the bytes each carries. ``seed=None`` seeds from the OS.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        profile: LinkProfile | str = "perfect",
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        seed: int | None = 0,
    ) -> None:
        self.upstream = upstream
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.listen = listen
        self.rng = random.Random(seed)
        self.events: list[tuple[int, str]] = []
        """(connection id, event) in order: accepted, stalled, reset, refused, forwarding,
        upstream_failed, dropped:<why>, closed."""
        self._port: int | None = None
        self._cut = False
        self._conns: set[_Conn] = set()
        self._next_id = 0
        self._counts = {f.name: 0 for f in dataclasses.fields(ProxyStats)}
        self._changed = threading.Condition()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bg_tasks: set[asyncio.Task[None]] = set()
        self._buckets: dict[str, TokenBucket] = {}
        self._stopping = False

    # ---------------------------------------------------------------- public API

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("proxy not started")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (self.listen[0], self.port)

    @property
    def is_cut(self) -> bool:
        return self._cut

    @property
    def stats(self) -> ProxyStats:
        with self._changed:
            return ProxyStats(**self._counts)

    def wait_until(self, predicate: Callable[[ProxyStats], bool], timeout: float = 10.0) -> bool:
        """Block (not in the proxy's loop!) until predicate(stats) holds; False on timeout.
        Woken by every counter change, no polling."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(ProxyStats(**self._counts)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def cut(self) -> None:
        """Kill every live connection and refuse new ones until restore(). Synchronous: when
        it returns, every connection is closed. Callable from any thread."""
        self._call_in_loop(self._do_cut)

    def restore(self) -> None:
        """Accept and forward new connections again."""
        self._call_in_loop(self._do_restore)

    def drop_all(self, why: str = "drop_all") -> None:
        """Kill every live connection once (new connections are still accepted)."""
        self._call_in_loop(lambda: self._drop_all(why))

    def set_profile(self, profile: LinkProfile | str) -> None:
        """Switch profile for what follows (buckets are rebuilt; the periodic cut is not)."""

        def apply() -> None:
            self.profile = PROFILES[profile] if isinstance(profile, str) else profile
            self._make_buckets()

        self._call_in_loop(apply)

    # -- asyncio life cycle

    async def start(self) -> FaultProxy:
        self._loop = asyncio.get_running_loop()
        self._make_buckets()
        self._server = await asyncio.start_server(self._on_accept, self.listen[0], self.listen[1])
        self._port = self._server.sockets[0].getsockname()[1]
        if self.profile.cut_every_s:
            self._spawn(self._periodic_cut(self.profile.cut_every_s))
        return self

    async def aclose(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._bg_tasks):
            task.cancel()
        self._drop_all("shutdown", count=False)
        pending = [t for c in list(self._conns) for t in c.tasks] + list(self._bg_tasks)
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- background-thread life cycle

    def start_in_thread(self) -> FaultProxy:
        """Run the proxy's own event loop in a daemon thread; returns once it listens."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.aclose())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fault-proxy->{self.upstream}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def close(self) -> None:
        """Stop a proxy started with start_in_thread() (closes every connection)."""
        if self._thread is None or self._loop is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- internals

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("proxy not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
            return

        async def call() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def _make_buckets(self) -> None:
        bw = self.profile.bandwidth_bps
        self._buckets = (
            {} if bw is None else {d: TokenBucket(bw, self.profile.effective_burst) for d in ("up", "down")}
        )

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._bg_tasks.add(task)
        task.add_done_callback(self._bg_tasks.discard)

    def _bump(self, **deltas: int) -> None:
        with self._changed:
            for k, v in deltas.items():
                self._counts[k] += v
            self._changed.notify_all()

    def _event(self, cid: int, what: str) -> None:
        self.events.append((cid, what))

    def _do_cut(self) -> None:
        self._cut = True
        self._drop_all("cut")

    def _do_restore(self) -> None:
        self._cut = False

    def _drop_all(self, why: str, *, count: bool = True) -> None:
        for conn in list(self._conns):
            self._kill(conn, why, count=count)

    async def _periodic_cut(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            self._drop_all("periodic")

    def _kill(self, conn: _Conn, why: str, *, count: bool = True) -> None:
        if conn.closed:
            return
        conn.closed = True
        _reset(conn.client)
        _reset(conn.upstream)
        current = asyncio.current_task()
        for task in conn.tasks:
            if task is not current:
                task.cancel()
        self._conns.discard(conn)
        self._event(conn.cid, f"dropped:{why}")
        self._bump(active=-1, **({"dropped": 1} if count else {}))

    def _finish(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        for w in (conn.client, conn.upstream):
            if w is not None:
                w.close()
        self._conns.discard(conn)
        self._event(conn.cid, "closed")
        self._bump(active=-1)

    async def _on_accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cid = self._next_id
        self._next_id += 1
        self._event(cid, "accepted")
        self._bump(accepted=1)
        if self._cut or self._stopping:
            self._event(cid, "refused")
            self._bump(refused=1)
            _reset(writer)
            return
        p = self.profile
        roll = self.rng.random()
        conn_seed = self.rng.getrandbits(64)
        if roll < p.reset_prob:
            self._event(cid, "reset")
            self._bump(reset=1)
            _reset(writer)
            return
        stall = roll < p.reset_prob + p.stall_prob
        if stall:
            self._event(cid, "stalled")
            self._bump(stalled=1)
        conn = _Conn(cid, writer, random.Random(conn_seed), next_roll=p.drop_interval_kb * 1024)
        self._conns.add(conn)
        self._bump(active=1)
        # The connection runs in a task of our own, so that cancelling it never reaches
        # asyncio's client_connected_cb machinery (which logs cancelled callbacks as errors).
        conn.tasks.append(asyncio.ensure_future(self._run_conn(conn, reader, stall)))

    async def _run_conn(self, conn: _Conn, reader: asyncio.StreamReader, stall: bool) -> None:
        cid, writer = conn.cid, conn.client
        try:
            if stall:
                while await reader.read(_READ_SIZE):
                    pass  # swallow until the client gives up
                self._finish(conn)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:
                self._event(cid, "upstream_failed")
                self._bump(upstream_failed=1)
                self._conns.discard(conn)
                conn.closed = True
                self._bump(active=-1)
                _reset(writer)
                return
            if conn.closed:  # killed while connecting
                up_writer.transport.abort()
                return
            conn.upstream = up_writer
            self._event(cid, "forwarding")
            q_up: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(_QUEUE_CHUNKS)
            q_down: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(_QUEUE_CHUNKS)
            pumps = [
                asyncio.ensure_future(self._pump_in(conn, reader, q_up)),
                asyncio.ensure_future(self._pump_out(conn, q_up, up_writer, "up")),
                asyncio.ensure_future(self._pump_in(conn, up_reader, q_down)),
                asyncio.ensure_future(self._pump_out(conn, q_down, writer, "down")),
            ]
            conn.tasks.extend(pumps)
            await asyncio.gather(pumps[1], pumps[3])
            self._finish(conn)
        except asyncio.CancelledError:
            if not conn.closed:
                self._kill(conn, "cancelled", count=False)
        except (ConnectionError, OSError):
            self._kill(conn, "error", count=False)
        finally:
            for task in conn.tasks[1:]:
                task.cancel()

    async def _pump_in(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        queue: asyncio.Queue[tuple[float, bytes] | None],
    ) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    await queue.put(None)
                    return
                p = self.profile
                delay = p.latency_ms
                if p.jitter_ms:
                    delay += conn.rng.uniform(-p.jitter_ms, p.jitter_ms)
                at = max(loop.time() + max(0.0, delay) / 1000.0, last)
                last = at
                await queue.put((at, data))
        except (ConnectionError, OSError):
            self._kill(conn, "error", count=False)

    async def _pump_out(
        self,
        conn: _Conn,
        queue: asyncio.Queue[tuple[float, bytes] | None],
        writer: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    if writer.can_write_eof():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                at, data = item
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                bucket = self._buckets.get(direction)
                step = bucket.burst if bucket is not None else len(data)
                for i in range(0, len(data), step):
                    piece = data[i : i + step]
                    if bucket is not None:
                        await bucket.take(len(piece))
                    if conn.closed:
                        return
                    writer.write(piece)
                    self._bump(**{f"bytes_{direction}": len(piece)})
                    await writer.drain()
                    if self._maybe_drop(conn, len(piece)):
                        return
        except (ConnectionError, OSError):
            self._kill(conn, "error", count=False)

    def _maybe_drop(self, conn: _Conn, n: int) -> bool:
        p = self.profile
        conn.transferred += n
        while p.drop_prob > 0 and conn.transferred >= conn.next_roll:
            conn.next_roll += p.drop_interval_kb * 1024
            if conn.rng.random() < p.drop_prob:
                self._kill(conn, "random")
                return True
        return False


# -------------------------------------------------------------------- command line


def _hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m bench.netem.fault_proxy",
        description="Fault-injecting TCP proxy emulating a bad village link.",
    )
    ap.add_argument("--listen", type=_hostport, default=("127.0.0.1", 0), help="HOST:PORT (port 0 = any)")
    ap.add_argument("--upstream", type=_hostport, required=True, help="HOST:PORT to forward to")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="perfect")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, help="one-way latency (overrides the profile)")
    ap.add_argument("--jitter-ms", type=float)
    ap.add_argument("--rate-kbit", type=float, help="bandwidth per direction in kbit/s (0 = unlimited)")
    ap.add_argument("--stall-prob", type=float)
    ap.add_argument("--reset-prob", type=float)
    ap.add_argument("--drop-prob", type=float)
    ap.add_argument("--drop-interval-kb", type=int)
    ap.add_argument("--cut-every-s", type=float, help="drop all connections every N s (0 = never)")
    return ap


def profile_from_args(args: argparse.Namespace) -> LinkProfile:
    profile = PROFILES[args.profile]
    changes: dict[str, object] = {}
    for name in (
        "latency_ms",
        "jitter_ms",
        "stall_prob",
        "reset_prob",
        "drop_prob",
        "drop_interval_kb",
    ):
        value = getattr(args, name)
        if value is not None:
            changes[name] = value
    if args.rate_kbit is not None:
        changes["bandwidth_bps"] = int(args.rate_kbit * 1000 / 8) or None
    if args.cut_every_s is not None:
        changes["cut_every_s"] = args.cut_every_s or None
    return profile.with_(**changes)


async def _serve(args: argparse.Namespace) -> ProxyStats:
    proxy = FaultProxy(args.upstream, profile_from_args(args), listen=args.listen, seed=args.seed)
    await proxy.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, proxy.cut)
    loop.add_signal_handler(signal.SIGUSR2, proxy.restore)
    print(f"listening {args.listen[0]}:{proxy.port} -> {args.upstream[0]}:{args.upstream[1]}", flush=True)
    print(f"profile {proxy.profile}", flush=True)
    try:
        await stop.wait()
    finally:
        await proxy.aclose()
    return proxy.stats


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stats = asyncio.run(_serve(args))
    print(f"stats {stats}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
