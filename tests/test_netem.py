"""Tests of the network-emulation tooling (bench/netem) over real sockets on 127.0.0.1.

Timing assertions are lower bounds only (an emulated delay can only make things slower), so
they stay deterministic on a loaded machine. Waiting is event-based: proxy.wait_until() is woken
by the proxy's counters, servers signal readiness, reads block on sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import random
import select
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not an installed package
    sys.path.insert(0, str(ROOT))

from bench.netem.fault_proxy import PROFILES, FaultProxy, LinkProfile, TokenBucket  # noqa: E402
from bench.netem.netns import netns_available, village_link  # noqa: E402

# ------------------------------------------------------------------ upstream servers


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        while True:
            try:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
            except OSError:  # the proxy resets connections on purpose
                return


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    connections = 0


@pytest.fixture
def echo_server() -> Iterator[_EchoServer]:
    server = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


BLOB = random.Random(42).randbytes(512 * 1024)


class _BlobHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # GET /<n> returns the first n bytes of BLOB
        n = int(self.path.strip("/") or 0)
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        self.wfile.write(BLOB[:n])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BlobHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _addr(server: socketserver.BaseServer) -> tuple[str, int]:
    host, port = server.server_address[:2]
    return str(host), int(port)


def _connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=10)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        data = sock.recv(min(65536, n - got))
        if not data:
            raise ConnectionError(f"EOF after {got} of {n} bytes")
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def _echo_roundtrip(sock: socket.socket, payload: bytes) -> bytes:
    """Send payload from a thread while reading the echo here (no buffer deadlock)."""
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    try:
        return _recv_exactly(sock, len(payload))
    finally:
        sender.join()


def _connection_fails(proxy: FaultProxy) -> bool:
    """A new connection through the proxy fails: at connect (the proxy's reset can beat the
    client's connect() on loopback) or at first use."""
    try:
        sock = _connect(proxy)
    except OSError:
        return True
    with sock:
        return _link_fails(sock)


def _link_fails(sock: socket.socket) -> bool:
    """True once the connection is reset or closed by the proxy (blocks until it is)."""
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b""
    except OSError:
        return True


# ------------------------------------------------------------------ fault proxy


def test_profiles_are_as_documented() -> None:
    assert PROFILES["2g"].bandwidth_bps == 250_000 // 8
    assert 2 * PROFILES["2g"].latency_ms == 300
    assert PROFILES["2g"].stall_prob + PROFILES["2g"].reset_prob == pytest.approx(0.03)
    assert PROFILES["3g"].bandwidth_bps == 1_500_000 // 8
    assert PROFILES["3g"].latency_ms == 50
    assert PROFILES["flaky"].cut_every_s == 20
    assert PROFILES["perfect"] == LinkProfile()


def test_token_bucket_schedule() -> None:
    bucket = TokenBucket(1000, burst=100)
    assert bucket.reserve(100, now=10.0) == 0  # the full bucket passes at once
    assert bucket.reserve(500, now=10.0) == pytest.approx(0.5)
    assert bucket.reserve(500, now=10.0) == pytest.approx(1.0)  # queued behind the first booking
    assert bucket.reserve(50, now=100.0) == 0  # refilled while idle


def test_bytes_pass_intact_and_in_order_under_jitter(echo_server: _EchoServer) -> None:
    # Jitter larger than the latency would reorder chunks if the proxy did not preserve order.
    profile = LinkProfile(latency_ms=2, jitter_ms=5)
    payloads = [random.Random(i).randbytes(300_000) for i in range(3)]
    results: list[bytes | None] = [None] * len(payloads)
    with FaultProxy(_addr(echo_server), profile, seed=1) as proxy:

        def client(i: int) -> None:
            with _connect(proxy) as sock:
                results[i] = _echo_roundtrip(sock, payloads[i])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(payloads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(map(len, payloads))
        assert proxy.wait_until(lambda s: s.bytes_up == total and s.bytes_down == total and s.active == 0)
    assert results == payloads
    stats = proxy.stats
    assert stats.accepted == 3 and stats.dropped == 0


def test_latency_adds_at_least_the_configured_round_trip(echo_server: _EchoServer) -> None:
    profile = LinkProfile(latency_ms=100, jitter_ms=10)
    with FaultProxy(_addr(echo_server), profile) as proxy, _connect(proxy) as sock:
        assert _echo_roundtrip(sock, b"warm") == b"warm"
        rtts = []
        for _ in range(2):
            t0 = time.monotonic()
            assert _echo_roundtrip(sock, b"ping") == b"ping"
            rtts.append(time.monotonic() - t0)
    assert min(rtts) >= 2 * (0.100 - 0.010)


def test_bandwidth_cap_bounds_download_throughput(http_server: http.server.ThreadingHTTPServer) -> None:
    rate = 1_000_000 // 8  # 1 Mbit/s
    size = 128 * 1024
    profile = LinkProfile(bandwidth_bps=rate)
    with FaultProxy(_addr(http_server), profile) as proxy:
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/{size}", timeout=30) as resp:
            body = resp.read()
        elapsed = time.monotonic() - t0
    assert body == BLOB[:size]
    # Lower bound: everything past the initial bucket had to be paced at `rate`.
    assert elapsed >= (size - profile.effective_burst) / rate * 0.95, elapsed


def test_bandwidth_cap_is_shared_by_connections(echo_server: _EchoServer) -> None:
    rate = 400_000  # bytes/s per direction, shared
    size = 150_000
    profile = LinkProfile(bandwidth_bps=rate)
    with FaultProxy(_addr(echo_server), profile) as proxy:
        t0 = time.monotonic()

        def client() -> None:
            with _connect(proxy) as sock:
                assert _echo_roundtrip(sock, BLOB[:size]) == BLOB[:size]

        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
    # Two connections share one bucket per direction: 2 x size through `rate` bytes/s.
    assert elapsed >= (2 * size - profile.effective_burst) / rate * 0.95, elapsed


def test_cut_fails_connections_and_restore_lets_new_ones_through(echo_server: _EchoServer) -> None:
    with FaultProxy(_addr(echo_server), "perfect") as proxy:
        live = _connect(proxy)
        assert _echo_roundtrip(live, b"hello") == b"hello"

        proxy.cut()
        assert proxy.is_cut
        assert _link_fails(live)
        live.close()

        assert _connection_fails(proxy)  # the TCP accept still happens, then the proxy resets it

        proxy.restore()
        with _connect(proxy) as again:
            assert _echo_roundtrip(again, b"back") == b"back"
        assert proxy.wait_until(lambda s: s.active == 0)
        stats = proxy.stats
    assert stats.accepted == 3
    assert stats.dropped == 1
    assert stats.refused == 1
    assert stats.bytes_up == stats.bytes_down == len(b"hello") + len(b"back")
    assert echo_server.connections == 2  # the refused one never reached the upstream


def test_periodic_cut_drops_live_connections(echo_server: _EchoServer) -> None:
    profile = LinkProfile(cut_every_s=0.2)
    with FaultProxy(_addr(echo_server), profile) as proxy:
        sock = _connect(proxy)
        assert _echo_roundtrip(sock, b"a") == b"a"
        assert proxy.wait_until(lambda s: s.dropped >= 1, timeout=10)
        assert _link_fails(sock)
        sock.close()
        with _connect(proxy) as fresh:  # not a cut: new connections still go through
            assert _echo_roundtrip(fresh, b"b") == b"b"


def test_stalled_connection_never_reaches_upstream(echo_server: _EchoServer) -> None:
    with FaultProxy(_addr(echo_server), LinkProfile(stall_prob=1.0)) as proxy:
        with _connect(proxy) as sock:
            sock.sendall(b"anyone there?")
            assert proxy.wait_until(lambda s: s.stalled == 1)
            sock.setblocking(False)
            readable, _, _ = select.select([sock], [], [], 0)
            assert not readable  # nothing came back
        assert proxy.wait_until(lambda s: s.active == 0)  # closed by the client
        assert proxy.stats.bytes_up == 0
    assert echo_server.connections == 0


def test_reset_on_accept(echo_server: _EchoServer) -> None:
    with FaultProxy(_addr(echo_server), LinkProfile(reset_prob=1.0)) as proxy:
        assert _connection_fails(proxy)
        assert proxy.wait_until(lambda s: s.reset == 1)
    assert echo_server.connections == 0


def test_mid_stream_drop(echo_server: _EchoServer) -> None:
    profile = LinkProfile(drop_prob=1.0, drop_interval_kb=16)
    with FaultProxy(_addr(echo_server), profile) as proxy, _connect(proxy) as sock:
        with pytest.raises(OSError):
            _echo_roundtrip(sock, BLOB[: 256 * 1024])
        assert proxy.wait_until(lambda s: s.dropped == 1)
        stats = proxy.stats
    assert stats.bytes_up + stats.bytes_down < 256 * 1024


def test_fault_decisions_are_seeded(echo_server: _EchoServer) -> None:
    profile = LinkProfile(stall_prob=0.3, reset_prob=0.3)

    def fates(seed: int) -> list[str]:
        with FaultProxy(_addr(echo_server), profile, seed=seed) as proxy:
            for _ in range(12):
                with contextlib.suppress(OSError), _connect(proxy):
                    pass
            assert proxy.wait_until(lambda s: s.accepted == 12 and s.active == 0)
            fates = {cid: what for cid, what in proxy.events if what in ("stalled", "reset", "forwarding")}
            return [fates[cid] for cid in range(12)]

    first = fates(7)
    assert first == fates(7)
    assert {"stalled", "reset"} <= set(first)


def test_async_use_inside_a_running_loop(echo_server: _EchoServer) -> None:
    async def scenario() -> tuple[bytes, bool]:
        async with FaultProxy(_addr(echo_server), LinkProfile(latency_ms=5)) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"async")
            echoed = await reader.readexactly(5)
            proxy.cut()  # called on the proxy's own loop: acts at once
            try:
                failed = await reader.read(1) == b""
            except OSError:
                failed = True
            writer.close()
            return echoed, failed

    assert asyncio.run(scenario()) == (b"async", True)


def test_cli_proxy(echo_server: _EchoServer) -> None:
    host, port = _addr(echo_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.netem.fault_proxy", "--listen", "127.0.0.1:0"]
        + ["--upstream", f"{host}:{port}", "--profile", "3g", "--stall-prob", "0", "--reset-prob", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the proxy listens
        assert line.startswith("listening 127.0.0.1:"), line
        proxy_port = int(line.split()[1].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as sock:
            t0 = time.monotonic()
            assert _echo_roundtrip(sock, b"over 3g") == b"over 3g"
            assert time.monotonic() - t0 >= 2 * (0.050 - 0.010)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "stats ProxyStats(accepted=1" in out


# ------------------------------------------------------------------ network namespaces


def _wait_for_port(host: str, port: int, deadline_s: float) -> None:
    """Readiness poll: connect attempts until one succeeds or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # back-off between connection attempts


@pytest.mark.netns
def test_village_link_rate_limits_http(tmp_path: Path) -> None:
    ok, why = netns_available()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"network namespaces must work in CI: {why}")
        pytest.skip(why)
    rate_kbit = 250
    size = 64 * 1024
    (tmp_path / "blob").write_bytes(BLOB[:size])
    with village_link(rate_kbit) as link:
        assert link.run(["ip", "-o", "addr", "show", "dev", link.ns_if], capture_output=True).returncode == 0
        link.popen(
            [sys.executable, "-m", "http.server", "8080", "--bind", link.ns_ip, "--directory", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(link.ns_ip, 8080, deadline_s=15)
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://{link.ns_ip}:8080/blob", timeout=60) as resp:
            body = resp.read()
        elapsed = time.monotonic() - t0
        ns_name = link.ns
    assert body == BLOB[:size]
    bytes_per_s = rate_kbit * 1000 / 8
    # Roughly the rate: headers and TCP overhead only add time; allow the tbf burst (3000 B).
    assert elapsed >= (size - 3000) / bytes_per_s * 0.9, elapsed
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert ns_name not in listed.split()  # torn down
