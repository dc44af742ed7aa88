"""The production layout of deploy/, run as deployed (issue 10; SPEC §8): Debian's nginx with
the shipped config terminating TLS from a test CA, in front of two `fycli serve` processes on
one PostgreSQL database. Everything goes over real sockets on 127.0.0.1.

Distinct loopback source addresses (127.0.0.x) stand for distinct liaison PCs: nginx's
per-address limits and the audit's addresses tell them apart, as they would real machines.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fycli import EXIT_OK, cli
from tests.conftest import require_pg
from tests.deploy.layout import HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, Layout, nginx_binary, run_layout
from tests.pki import make_pki
from tests.servers import fresh_pg_database, liaison_action, push_body

pytestmark = pytest.mark.postgres
#: How long past a timeout nginx may take to close (its timers, a loaded 2-core machine).
SLACK = 4.0


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Iterator[Layout]:
    nginx_binary()
    require_pg()
    d = tmp_path_factory.mktemp("layout")
    with fresh_pg_database() as pg_url, run_layout(d, pg_url, make_pki(d / "pki")) as running:
        running.apps[0].add_unit("t-xq", "西湖镇人民政府", county="颍州区", township="西湖镇")
        yield running


def _trust(layout: Layout) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(layout.pki / "ca.pem"))


def _https(layout: Layout, token: str | None = None, *, source: str = "127.0.0.1") -> httpx.Client:
    """A client of nginx from the loopback address ``source`` (one liaison PC)."""
    transport = httpx.HTTPTransport(verify=_trust(layout), local_address=source)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=layout.nginx.url, transport=transport, headers=headers, timeout=30.0)


def _tls_socket(layout: Layout) -> ssl.SSLSocket:
    port = int(layout.nginx.url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + SLACK)
    return _trust(layout).wrap_socket(raw, server_hostname="127.0.0.1")


def _closed_by_server(sock: socket.socket) -> bool:
    """Block until the server closes ``sock`` (or its timeout passes): True when it closed."""
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_idle_sockets_are_closed(layout):
    raw_port = int(layout.nginx.url.rsplit(":", 1)[1])
    # No TLS at all, TLS and nothing after, and a kept-alive connection after one request.
    bare = [socket.create_connection(("127.0.0.1", raw_port), timeout=HEADER_TIMEOUT + SLACK)
            for _ in range(10)]  # fmt: skip
    handshaken = [_tls_socket(layout) for _ in range(10)]
    kept = _tls_socket(layout)
    kept.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert kept.recv(4096).startswith(b"HTTP/1.1 200")
    kept.settimeout(KEEPALIVE_TIMEOUT + SLACK)
    started = time.monotonic()  # every socket's timer has started by now (and none is reset)
    assert all(_closed_by_server(s) for s in [*bare, *handshaken, kept])
    assert time.monotonic() - started < max(HEADER_TIMEOUT, KEEPALIVE_TIMEOUT) + SLACK
    for s in [*bare, *handshaken, kept]:
        s.close()


def test_slowloris_is_closed_though_it_keeps_sending(layout):
    sock = _tls_socket(layout)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    closed = False
    while not closed and time.monotonic() - started < HEADER_TIMEOUT + SLACK:
        try:
            sock.sendall(b"X-Slow: 1\r\n")  # a header line every 0.3 s: never the end of the head
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            closed = True
            break
        readable, _, _ = select.select([sock], [], [], 0.3)  # the pace, and the close event
        if readable:
            closed = _closed_by_server(sock)
    sock.close()
    assert closed, f"a slowloris connection was still open after {HEADER_TIMEOUT + SLACK} s"
    with _https(layout) as http:  # and the service answers
        assert http.get("/v1/health").status_code == 200


def test_oversized_headers_and_bodies_are_refused_in_the_error_shape(layout):
    with _https(layout) as http:
        big_header = http.get("/v1/health", headers={"X-Big": "a" * 16 * 1024})
        assert big_header.status_code == 431
        assert big_header.json()["error"] == "too_large"
        big_body = http.post("/v1/sync/push", content=b"[" + b"0," * (9 * 512 * 1024) + b"0]",
                             headers={"Content-Type": "application/json"})  # fmt: skip
        assert big_body.status_code == 413
        assert big_body.json()["error"] == "too_large"
        assert http.get("/v1/health").status_code == 200


def _liaison(layout: Layout, name: str) -> str:
    return layout.apps[0].add_liaison("t-xq", name)


def test_a_flooding_token_gets_429_while_another_liaison_syncs(layout, tmp_path):
    flooder, normal = _liaison(layout, "刷接口"), _liaison(layout, "张三")
    layout.apps[0].register_and_assign("t-xq", 3)
    statuses: Counter[int] = Counter()
    retry_after: list[str] = []
    normal_statuses: list[int] = []

    def flood() -> None:
        with _https(layout, flooder, source="127.0.0.5") as http:
            for _ in range(15):
                response = http.get("/v1/me")
                statuses[response.status_code] += 1
                if response.status_code == 429:
                    retry_after.append(response.headers.get("Retry-After", ""))
                    assert response.json()["error"] == "rate_limited"

    # 60 + 16 requests from one address stay under the per-address burst (100): what stops the
    # flooder is its token's limit (10/s, burst 20), which the other token does not share.
    threads = [threading.Thread(target=flood) for _ in range(4)]
    for thread in threads:
        thread.start()
    with _https(layout, normal, source="127.0.0.5") as http:  # the same PC (address)
        for _ in range(8):  # the other liaison syncs while the flood runs
            normal_statuses.append(http.get("/v1/me").status_code)
            normal_statuses.append(http.get("/v1/sync/pull", params={"limit": 100}).status_code)
    for thread in threads:
        thread.join(60)
    assert statuses[429] > 0 and statuses[200] > 0, statuses
    assert set(statuses) <= {200, 429}, statuses
    assert retry_after and all(value.isdigit() for value in retry_after)
    assert normal_statuses == [200] * 16


def test_forwarded_for_is_taken_only_from_nginx(layout):
    spoofed = {"X-Forwarded-For": "6.6.6.6", "Authorization": f"Bearer {layout.admin_token}"}
    unit = {"kind": "township", "name": "某镇"}
    with _https(layout, source="127.0.0.3") as http:  # through nginx: it replaces the header
        assert (
            http.post("/v1/admin/units", json={"id": "u-via-nginx", **unit}, headers=spoofed).status_code
            == 201
        )
    app = layout.apps[1]
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=app.url, transport=transport) as direct:  # around nginx: not believed
        assert (
            direct.post("/v1/admin/units", json={"id": "u-direct", **unit}, headers=spoofed).status_code
            == 201
        )
    for target in ("u-via-nginx", "u-direct"):
        rows = app.admin("GET", "/v1/admin/audit", params={"target": target})
        assert [r["remote_addr"] for r in rows] == ["127.0.0.3"], (target, rows)


ROUNDS = 8


def test_the_two_app_servers_act_as_one_service(layout):
    token = _liaison(layout, "李四")
    ids = layout.apps[0].register_and_assign("t-xq", 2)
    before = len(layout.nginx.upstreams_seen())
    # 8 rounds = 16 requests of one token: inside the shipped per-token burst (20), however
    # fast the machine answers (24 back to back were 429 on a quick run).
    with _https(layout, token, source="127.0.0.7") as http:
        for n in range(ROUNDS):
            ticket = http.get(f"/v1/tickets/{ids[n % 2]}").json()["ticket"]
            note = liaison_action("note", ticket, text=f"第{n}次回访")
            pushed = http.post("/v1/sync/push", json=push_body("pc-lisi-0001", [note], first_seq=n + 1))
            assert pushed.status_code == 200, pushed.text
            assert pushed.json()["results"][0]["outcome"] == "applied", pushed.text
    answered = Counter(layout.nginx.upstreams_seen()[before:])
    app_ports = {app.url.removeprefix("http://") for app in layout.apps}
    assert set(answered) == app_ports, answered  # both served
    for app in layout.apps:  # and both see every note, whichever took it
        texts = sorted(note["text"] for tid in ids for note in app.ticket(tid)["notes"])
        assert texts == sorted(f"第{n}次回访" for n in range(ROUNDS))


def test_fycli_init_and_sync_through_https(layout, tmp_path):
    token = _liaison(layout, "王五")
    ids = layout.apps[1].register_and_assign("t-xq", 4)
    token_file = tmp_path / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    config = tmp_path / "pc"

    def fycli(*args: str):
        return CliRunner().invoke(cli, ["--config-dir", str(config), *args])

    ca = str(layout.pki / "ca.pem")
    made = fycli("init", "--server", layout.nginx.url, "--token-file", str(token_file), "--ca-bundle", ca)
    assert made.exit_code == EXIT_OK, made.output
    first = fycli("sync", "--json")
    assert first.exit_code == EXIT_OK, first.output
    assert fycli("accept", ids[0]).exit_code == EXIT_OK
    second = fycli("sync", "--json")
    assert second.exit_code == EXIT_OK, second.output
    assert json.loads(second.stdout)["pushed"] == 1
    listed = json.loads(fycli("list", "--json").stdout)
    assert set(ids) <= {row["id"] for row in listed}
    assert layout.apps[0].ticket(ids[0])["ticket"]["status"] == "in_progress"  # the other app sees it


def test_plain_http_only_redirects_to_https(layout):
    with httpx.Client() as http:
        response = http.get(layout.nginx.http_url + "/v1/me", headers={"Authorization": "Bearer x"})
    assert response.status_code == 308
    assert response.headers["location"].startswith("https://")


def test_the_shipped_files_exist_and_name_what_they_need():
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    unit = (deploy / "systemd" / "fycli-serve@.service").read_text()
    assert "--trusted-proxy 127.0.0.1" in unit and "--admin-token-file" in unit and "--port %i" in unit
    env = (deploy / "fycli.env.example").read_text()
    assert "FYCLI_DB=postgresql://" in env and "FYCLI_ADMIN_TOKEN=" not in env  # no secret in it
