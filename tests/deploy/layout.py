"""The production layout of deploy/, started for real: nginx (Debian's package, not a daemon)
with a rendered copy of deploy/nginx/fycli.conf, a test CA, and `fycli serve` processes on one
PostgreSQL database behind it.

The rendering changes only what a test machine must: ports (free ones), file paths, the
IPv6 listens (a container may have no IPv6) and the timeouts' lengths (2–3 s instead of
10–30 s, so a test waits seconds, not minutes). Every other line is the shipped one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import REPO, CentralServer

SHIPPED_CONF = REPO / "deploy" / "nginx" / "fycli.conf"
#: The timeouts of the rendered copy (seconds): what a test waits for.
HEADER_TIMEOUT = 2
KEEPALIVE_TIMEOUT = 2


def nginx_binary() -> str:
    """Debian's nginx; skip without it — but fail under CI=true, where .ci/run installs it."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    message = "nginx is not installed (Debian: apt-get install nginx)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " and CI=true: .ci/run installs it")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_conf(shipped: str, *, https_port: int, http_port: int, upstreams: list[int], pki: Path,
                access_log: Path) -> str:  # fmt: skip
    """The shipped site config with this machine's ports and paths; each change must apply."""
    out = shipped
    changes = [
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("/etc/fycli/tls/fullchain.pem", str(pki / "server.pem")),
        ("/etc/fycli/tls/privkey.pem", str(pki / "server.key")),
        ("/var/log/nginx/fycli-access.log", str(access_log)),
        ("client_header_timeout 10s;", f"client_header_timeout {HEADER_TIMEOUT}s;"),
        ("client_body_timeout 20s;", "client_body_timeout 2s;"),
        ("send_timeout 30s;", "send_timeout 3s;"),
        ("keepalive_timeout 30s;", f"keepalive_timeout {KEEPALIVE_TIMEOUT}s;"),
    ]
    for old, new in changes:
        assert out.count(old) == 1, f"deploy/nginx/fycli.conf no longer has {old!r}: update the test"
        out = out.replace(old, new)
    shipped_servers = ["server 127.0.0.1:8701 ", "server 127.0.0.1:8702 "]
    assert all(out.count(s) == 1 for s in shipped_servers), "the upstream block changed: update the test"
    lines = [f"server 127.0.0.1:{port} " for port in upstreams]
    for old, new in zip(shipped_servers, lines, strict=True):
        out = out.replace(old, new)
    return out


def _main_conf(d: Path, site: Path) -> str:
    """The smallest nginx.conf around the site file, the way Debian's includes conf.d/*."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # root: workers would drop to nobody
    temp = "\n".join(f"    {kind}_temp_path {d / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                       "uwsgi", "scgi"))  # fmt: skip
    return (f"{user}worker_processes 1;\npid {d / 'nginx.pid'};\nerror_log {d / 'error.log'} warn;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n{temp}\n    include {site};\n}}\n")  # fmt: skip


@dataclass
class Nginx:
    """A running nginx (``master_process`` on, not a daemon); ``url`` is its https address."""

    process: subprocess.Popen
    url: str
    http_url: str
    access_log: Path
    error_log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def upstreams_seen(self) -> list[str]:
        """The app servers that answered, one per logged request (the access log's field)."""
        return [part.split("=", 1)[1] for line in self.access_log.read_text().splitlines()
                for part in line.split() if part.startswith("upstream=")]  # fmt: skip


@contextlib.contextmanager
def run_nginx(d: Path, upstreams: list[int], pki: Path) -> Iterator[Nginx]:
    """nginx with the rendered shipped config in front of ``upstreams``; stopped at the end."""
    binary = nginx_binary()
    d.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):  # a free port can be taken between asking and binding: ask again
        https_port, http_port = _free_port(), _free_port()
        site, main = d / "fycli.conf", d / "nginx.conf"
        access_log, error_log = d / "fycli-access.log", d / "error.log"
        site.write_text(render_conf(SHIPPED_CONF.read_text(), https_port=https_port, http_port=http_port,
                                    upstreams=upstreams, pki=pki, access_log=access_log))  # fmt: skip
        main.write_text(_main_conf(d, site))
        base = [binary, "-p", str(d), "-e", str(error_log), "-c", str(main)]
        checked = subprocess.run([*base, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, "nginx refuses the shipped config:\n" + checked.stderr
        process = subprocess.Popen([*base, "-g", "daemon off;"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)  # fmt: skip
        nginx = Nginx(process, f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}",
                      access_log, error_log)  # fmt: skip
        if _wait_listening(process, https_port):
            break
        nginx.stop()
        if attempt == 2:
            raise RuntimeError("nginx did not start:\n" + error_log.read_text())
    try:
        yield nginx
    finally:
        nginx.stop()


def _wait_listening(process: subprocess.Popen, port: int, timeout: float = 15.0) -> bool:
    """Poll until nginx accepts on ``port`` (it prints nothing when ready; no event to wait on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.05)  # readiness poll interval, bounded by the deadline
    return False


@dataclass
class Layout:
    """nginx in front of two `fycli serve` on one PostgreSQL database."""

    nginx: Nginx
    apps: list[CentralServer]
    pki: Path

    @property
    def admin_token(self) -> str:
        return self.apps[0].admin_token


@contextlib.contextmanager
def run_layout(d: Path, pg_url: str, pki: Path, n_apps: int = 2) -> Iterator[Layout]:
    """The whole layout; the app servers trust X-Forwarded-For from 127.0.0.1 only (nginx)."""
    apps: list[CentralServer] = []
    token = "fyadm_layout_" + os.urandom(16).hex()
    try:
        for i in range(n_apps):
            apps.append(CentralServer.launch(d / f"app{i}", pg_url, admin_token=token,
                                             extra_args=["--trusted-proxy", "127.0.0.1"]))  # fmt: skip
        ports = [int(app.url.rsplit(":", 1)[1]) for app in apps]
        with run_nginx(d / "nginx", ports, pki) as nginx:
            yield Layout(nginx, apps, pki)
    finally:
        for app in apps:
            app.stop()
