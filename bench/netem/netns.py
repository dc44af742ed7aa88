"""Rate-limited "village links" between the host and a private network namespace.

``village_link(250)`` builds, for the duration of a ``with`` block:

* a network namespace ``<prefix><pid>`` (a numbered suffix if this process already has one),
* a veth pair, host end ``host_ip`` = 10.250.X.1/30, namespace end ``ns_ip`` = 10.250.X.2/30,
  with X chosen so that no other interface on the host already uses 10.250.X.*,
* a ``tbf`` rate limit of ``rate_kbit`` on the egress of *both* ends (so both directions),

and tears all of it down on exit, also after an error, after terminating the processes it
started with :meth:`VillageLink.popen`.

Isolation: the namespace only gets its loopback and its veth end; it has no default route, the
host gets only the connected /30 route, and nothing here enables forwarding or NAT. Traffic can
only flow between the two ends of the pair.

Only rate limiting goes into ``tc``: the kernel of the development machines and CI has no
``netem`` qdisc, so delay, jitter and connection faults come from
:mod:`bench.netem.fault_proxy` (run it inside the namespace, or on the host in front of it).

Needs root and iproute2 (``ip``, ``tc``). On Debian/Ubuntu, if ``ip`` is missing::

    apt-get update && apt-get install -y iproute2

:func:`netns_available` says whether all of this works here, and why not.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import ipaddress
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["INSTALL_HINT", "VillageLink", "netns_available", "village_link"]

INSTALL_HINT = "install iproute2: apt-get update && apt-get install -y iproute2"
_SUBNET_BASE = "10.250"
_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


def _tc(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tc", *args], check=check, capture_output=True, text=True, timeout=30)


def _ifname(base: str, suffix: str) -> str:
    """Interface names are at most 15 bytes."""
    name = base + suffix
    if len(name) <= 15:
        return name
    return "fy" + hashlib.sha1(base.encode()).hexdigest()[:10] + suffix


@functools.lru_cache(maxsize=1)
def netns_available() -> tuple[bool, str]:
    """Whether village_link() can work here: root, ``ip`` and ``tc`` present, and a trial
    namespace + veth pair + tbf qdisc can be made. Returns (ok, reason). Cached."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "network namespaces need root"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return False, f"{' and '.join(missing)} not found; {INSTALL_HINT}"
    probe = f"fyprobe{os.getpid()}"
    veth = _ifname(probe, "p")
    try:
        res = _ip("netns", "add", probe, check=False)
        if res.returncode != 0:
            return False, f"'ip netns add' failed: {res.stderr.strip() or res.returncode}"
        res = _ip("link", "add", veth, "type", "veth", "peer", "name", _ifname(probe, "q"), check=False)
        if res.returncode != 0:
            return False, f"cannot create a veth pair: {res.stderr.strip()}"
        res = _tc(
            "qdisc",
            "add",
            "dev",
            veth,
            "root",
            "tbf",
            "rate",
            "1mbit",
            "burst",
            "8kb",
            "latency",
            "50ms",
            check=False,
        )
        if res.returncode != 0:
            return False, f"tc tbf unavailable: {res.stderr.strip()}"
        return True, "ip netns, veth and tc tbf work"
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"probing network namespaces failed: {exc}"
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _ip("link", "del", veth, check=False)
            _ip("netns", "del", probe, check=False)


@dataclass
class VillageLink:
    """A live link; see village_link()."""

    ns: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str
    rate_kbit: int
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    def exec_prefix(self) -> list[str]:
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.ns]

    def run(self, cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        """subprocess.run(cmd) inside the namespace (kwargs as for subprocess.run)."""
        return subprocess.run([*self.exec_prefix(), *cmd], **kwargs)  # type: ignore[call-overload,no-any-return]

    def popen(self, cmd: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """subprocess.Popen(cmd) inside the namespace; terminated when the link is torn down."""
        proc: subprocess.Popen[bytes] = subprocess.Popen([*self.exec_prefix(), *cmd], **kwargs)  # type: ignore[call-overload]
        self._procs.append(proc)
        return proc

    def set_rate(self, rate_kbit: int, *, burst_bytes: int | None = None, queue_ms: int = 500) -> None:
        """Change the rate limit of both ends at once (``tc qdisc replace``): a test can set a
        village up over a fast link, then slow it to 2G for what it measures."""
        if rate_kbit <= 0:
            raise ValueError("rate_kbit must be positive")
        burst = burst_bytes if burst_bytes is not None else max(3000, rate_kbit * 1000 // 8 // 50)
        _tbf([], self.host_if, rate_kbit, burst, queue_ms)
        _tbf(self.exec_prefix(), self.ns_if, rate_kbit, burst, queue_ms)
        self.rate_kbit = rate_kbit

    def _stop_procs(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _used_third_octets() -> set[int]:
    out = _ip("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for word in out.split():
        if word.startswith(_SUBNET_BASE + "."):
            with contextlib.suppress(ValueError, IndexError):
                used.add(int(word.split(".")[2]))
    return used


def _pick_subnet(seq: int) -> int:
    used = _used_third_octets()
    start = (os.getpid() * 7 + seq) % 256
    for i in range(256):
        x = (start + i) % 256
        if x not in used:
            return x
    raise RuntimeError(f"no free {_SUBNET_BASE}.X.0/30 subnet left")


def _tbf(prefix: list[str], dev: str, rate_kbit: int, burst_bytes: int, queue_ms: int) -> None:
    subprocess.run(
        [
            *prefix,
            "tc",
            "qdisc",
            "replace",
            "dev",
            dev,
            "root",
            "tbf",
            "rate",
            f"{rate_kbit}kbit",
            "burst",
            str(burst_bytes),
            "latency",
            f"{queue_ms}ms",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )


@contextlib.contextmanager
def village_link(
    rate_kbit: int,
    name_prefix: str = "fyv",
    *,
    burst_bytes: int | None = None,
    queue_ms: int = 500,
) -> Iterator[VillageLink]:
    """A namespace joined to the host by a veth pair rate-limited to rate_kbit each way.

    ``burst_bytes``: tbf bucket (default: max(3000, 20 ms worth of rate)); ``queue_ms``: how long
    a packet may wait in tbf's queue before it is dropped (2G links have deep buffers).
    """
    if rate_kbit <= 0:
        raise ValueError("rate_kbit must be positive")
    ok, why = netns_available()
    if not ok:
        raise RuntimeError(f"cannot build a village link here: {why}")
    seq = next(_counter)
    ns = f"{name_prefix}{os.getpid()}" + (f"x{seq}" if seq else "")
    host_if, ns_if = _ifname(ns, "h"), _ifname(ns, "n")
    burst = burst_bytes if burst_bytes is not None else max(3000, rate_kbit * 1000 // 8 // 50)
    x = _pick_subnet(seq)
    net = ipaddress.ip_network(f"{_SUBNET_BASE}.{x}.0/30")
    host_ip, ns_ip = str(net.network_address + 1), str(net.network_address + 2)
    link = VillageLink(ns, host_if, ns_if, host_ip, ns_ip, rate_kbit)
    in_ns = link.exec_prefix()
    try:
        try:
            _ip("netns", "add", ns)
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", ns)
            _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
            _ip("-n", ns, "link", "set", ns_if, "up")
            _tbf([], host_if, rate_kbit, burst, queue_ms)
            _tbf(in_ns, ns_if, rate_kbit, burst, queue_ms)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{' '.join(exc.cmd)} failed: {(exc.stderr or '').strip()}") from exc
        yield link
    finally:
        link._stop_procs()
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)
