"""Hostile bodies against a real `fycli serve` (issue 10, finding 1): no work before
authentication, and bounded work after it; the largest legitimate push still goes through.

Memory is read from the server process itself (/proc/<pid>/status VmHWM: its peak resident
set), before and after the request.
"""

from __future__ import annotations

import gzip
import json
import secrets
import zlib
from pathlib import Path

import httpx
import pytest

from tests.servers import CentralServer, liaison_action, push_body

#: The budget for what one refused request may add to the server's peak memory.
RSS_BUDGET_KIB = 10 * 1024


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """61 KB of gzip that inflates to a JSON array of 20 million ``{}`` (40 MB)."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [squeeze.compress(b"[")]
    block = b"{}," * 1_000_000
    parts += [squeeze.compress(block) for _ in range(20)]
    parts.append(squeeze.compress(b"{}]"))
    parts.append(squeeze.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with CentralServer.start(tmp_path_factory.mktemp("hostile")) as running:
        running.add_unit("t1")
        running.token = running.add_liaison("t1")  # type: ignore[attr-defined]
        httpx.get(running.url + "/v1/health").raise_for_status()
        yield running


def _post(server: CentralServer, path: str, body: bytes, token: str | None, gzipped: bool) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(server.url + path, content=body, headers=headers, timeout=60.0)


def test_unauthenticated_gzip_bomb_is_refused_before_it_is_inflated(
    server: CentralServer, bomb: bytes
) -> None:
    assert len(bomb) < 100_000
    before = _peak_kib(server.process.pid)
    response = _post(server, "/v1/sync/push", bomb, token=None, gzipped=True)
    grew = _peak_kib(server.process.pid) - before
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert grew < RSS_BUDGET_KIB, f"the server's peak memory grew {grew} KiB for an unauthenticated request"


def test_wrong_token_and_liaison_on_admin_path_are_refused_before_the_body(
    server: CentralServer, bomb: bytes
) -> None:
    before = _peak_kib(server.process.pid)
    wrong = _post(server, "/v1/sync/push", bomb, token="fyl_" + secrets.token_urlsafe(32), gzipped=True)
    forbidden = _post(server, "/v1/admin/tickets", bomb, token=server.token, gzipped=True)
    grew = _peak_kib(server.process.pid) - before
    assert (wrong.status_code, wrong.json()["error"]) == (401, "unauthorized")
    assert (forbidden.status_code, forbidden.json()["error"]) == (403, "forbidden")
    assert grew < RSS_BUDGET_KIB, f"peak memory grew {grew} KiB"


def test_authenticated_bomb_is_refused_at_the_inflated_limit(server: CentralServer, bomb: bytes) -> None:
    before = _peak_kib(server.process.pid)
    response = _post(server, "/v1/sync/push", bomb, token=server.token, gzipped=True)
    grew = _peak_kib(server.process.pid) - before
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_large"
    # Inflating stops at the limit (16 MiB): never the 40 MB, nor its 20 million objects.
    assert grew < 16 * 1024 + RSS_BUDGET_KIB, f"peak memory grew {grew} KiB"


def test_authenticated_body_of_millions_of_values_is_refused_unparsed(server: CentralServer) -> None:
    body = b"[" + b"{}," * 4_000_000 + b"{}]"  # 12 MB: under the size limit, 4 million objects
    before = _peak_kib(server.process.pid)
    response = _post(server, "/v1/sync/push", gzip.compress(body, 6), token=server.token, gzipped=True)
    grew = _peak_kib(server.process.pid) - before
    assert response.status_code == 422, response.text
    assert "more than 50000 values" in response.json()["message"]
    assert grew < 2 * 12 * 1024 + RSS_BUDGET_KIB, f"peak memory grew {grew} KiB: the body was parsed"


def _largest_push(server: CentralServer) -> bytes:
    """500 notes of 4,000 CJK characters, ids at their longest, ``ensure_ascii`` encoded."""
    ticket_id = "T" * 39 + "1"
    server.register(ticket_id)
    assert server.act(ticket_id, "assign", unit_id="t1")["outcome"] == "applied"
    ticket = server.ticket(ticket_id)["ticket"]
    actions = [
        liaison_action("note", ticket, note_id=f"n{i:063d}", text="王" * 3999 + str(i % 10),
                       note_kind="attachment") | {"action_id": f"a{i:063d}"}
        for i in range(500)
    ]  # fmt: skip
    return json.dumps(push_body("c" * 64, actions)).encode()


def test_the_largest_legitimate_push_is_accepted_plain_and_gzipped(tmp_path: Path) -> None:
    with CentralServer.start(tmp_path) as fresh:
        fresh.add_unit("t1")
        token = fresh.add_liaison("t1")
        body = _largest_push(fresh)
        assert 12_000_000 < len(body) < 16 * 1024 * 1024
        plain = _post(fresh, "/v1/sync/push", body, token=token, gzipped=False)
        assert plain.status_code == 200, plain.text[:300]
        assert [r["outcome"] for r in plain.json()["results"]] == ["applied"] * 500
        again = _post(fresh, "/v1/sync/push", gzip.compress(body, 6), token=token, gzipped=True)
        assert again.status_code == 200, again.text[:300]
        assert [r["outcome"] for r in again.json()["results"]] == ["duplicate"] * 500
