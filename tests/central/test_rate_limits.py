"""Per-liaison rate limits across server processes, and what a rejected action may cost
(issue 10, finding 5). Real servers, real HTTP; two processes on one PostgreSQL database."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import time
import zlib
from pathlib import Path

import httpx
import orjson
import pytest

from central.limits import Budget, RateLimits
from tests.servers import CentralServer, liaison_action, push_body

#: Small budgets, refilled slowly (one token in 50 s): a test never waits for a refill.
TIGHT = {"FYCLI_RATE_PULL": "4/0.02", "FYCLI_RATE_PUSH": "3/0.02"}


def _pull(client: httpx.Client) -> httpx.Response:
    return client.get("/v1/sync/pull", params={"limit": 10})


def test_a_flooding_token_gets_429_on_every_server_process_another_is_unaffected(tmp_path, pg_url) -> None:
    with (
        CentralServer.start(tmp_path / "one", pg_url, env=TIGHT) as one,
        CentralServer.start(tmp_path / "two", pg_url, env=TIGHT, admin_token=one.admin_token) as two,
    ):
        one.add_unit("t1")
        flood_token, quiet_token = one.add_liaison("t1", "甲"), one.add_liaison("t1", "乙")
        (tid,) = one.register_and_assign("t1", 1)
        flood = [s.client(flood_token) for s in (one, two)]
        quiet = [s.client(quiet_token) for s in (one, two)]
        try:
            # four pulls between the two processes spend the budget they share ...
            assert [_pull(flood[i % 2]).status_code for i in range(4)] == [200] * 4
            # ... so the next is refused by either, with a Retry-After the client honours
            for client in flood:
                refused = _pull(client)
                assert refused.status_code == 429, refused.text
                assert refused.json()["error"] == "rate_limited"
                assert 1 <= int(refused.headers["Retry-After"]) <= 60
                assert client.get(f"/v1/tickets/{tid}").status_code == 429  # reads share it
            # another liaison's syncs are not touched
            assert [_pull(quiet[i % 2]).status_code for i in range(4)] == [200] * 4
            # pushes have their own budget: the flooding liaison can still send its work
            assert _pull(flood[0]).status_code == 429  # pulls still refused
            state = one.ticket(tid)["ticket"]
            codes = [
                flood[i % 2]
                .post(
                    "/v1/sync/push",
                    json=push_body(f"client-flood{i:04d}", [liaison_action("note", state, text="x")]),
                )
                .status_code
                for i in range(4)
            ]
            assert codes == [200, 200, 200, 429]
            # the platform is not limited
            assert all(s.http.get("/v1/admin/units").status_code == 200 for s in (one, two, one, two, one))
        finally:
            for client in flood + quiet:
                client.close()


def test_the_limits_are_configurable_and_off_means_off(tmp_path) -> None:
    assert RateLimits.from_env({"FYCLI_RATE_PULL": "10/0.5", "FYCLI_RATE_PUSH": "off"}) == RateLimits(
        pull=Budget(10, 0.5), push=None
    )
    for bad in ("10", "0/1", "10/0", "x/y", "inf/1"):
        with pytest.raises(ValueError, match="FYCLI_RATE_PULL"):
            RateLimits.from_env({"FYCLI_RATE_PULL": bad})
    with CentralServer.start(tmp_path, env={"FYCLI_RATE_PULL": "off"}) as s:
        s.add_unit("t1")
        with s.client(s.add_liaison("t1")) as client:
            assert {_pull(client).status_code for _ in range(30)} == {200}


def test_a_rejected_actions_stored_payload_is_bounded_and_pruned(tmp_path) -> None:
    db = tmp_path / "central.db"
    with CentralServer.start(tmp_path, f"sqlite:///{db}") as s:
        s.add_unit("t1")
        s.add_unit("t2")
        (tid,) = s.register_and_assign("t1", 1)
        with s.client(s.add_liaison("t1")) as client:
            state = client.get(f"/v1/tickets/{tid}").json()["ticket"]
            assert s.act(tid, "reassign", unit_id="t2")["outcome"] == "applied"
            notes = [liaison_action("note", state, text="很长的备注" * 800) for _ in range(50)]  # 4,000 each
            body = push_body("client-bound0001", notes)
            results = client.post("/v1/sync/push", json=body).json()["results"]
            assert {r["reason"] for r in results} == {"REASSIGNED"}
            with sqlite3.connect(db) as conn:
                sizes = [
                    n for (n,) in conn.execute("SELECT length(payload) FROM actions WHERE outcome='rejected'")
                ]
            assert len(sizes) == 50 and max(sizes) < 1200  # not 12,000 bytes of UTF-8 each
            pruned = s.admin("POST", "/v1/admin/prune", json={"older_than_days": 0})
            assert pruned["payloads_cleared"] == 50
            # the rows stay: a resend of the same batch is still a duplicate, not decided again
            again = client.post("/v1/sync/push", json=body).json()["results"]
            assert {r["outcome"] for r in again} == {"duplicate"}


def _cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (``/proc/<pid>/stat`` utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_flooding_tokens_large_pushes_are_refused_before_their_body_is_parsed(tmp_path) -> None:
    """The push budget is taken at the door, from the headers: a spent token's 12 MB pushes
    (gzip, ~30 KB on the wire) are answered 429 without being inflated or parsed."""
    with CentralServer.start(tmp_path, env={"FYCLI_RATE_PUSH": "1/0.02"}) as s:
        s.add_unit("t1")
        (tid,) = s.register_and_assign("t1", 1)
        state = s.ticket(tid)["ticket"]
        notes = [liaison_action("note", state, text="很长的备注" * 800) for _ in range(500)]
        plain = json.dumps(push_body("client-flood0001", notes)).encode()  # ensure_ascii: \uXXXX
        body = gzip.compress(plain, compresslevel=9)
        assert len(plain) > 12_000_000 and len(body) < 1024 * 1024
        # What parsing one such body costs at the least (inflate + JSON), measured here.
        started = time.process_time()
        orjson.loads(zlib.decompress(body, 16 + zlib.MAX_WBITS))
        parse_cost = time.process_time() - started
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        with s.client(s.add_liaison("t1")) as client:
            small = push_body("client-flood0001", [liaison_action("note", state, text="x")])
            assert client.post("/v1/sync/push", json=small).status_code == 200  # the one token
            flood = 8
            before = _cpu_seconds(s.process.pid)
            refused = [client.post("/v1/sync/push", content=body, headers=headers) for _ in range(flood)]
            spent = _cpu_seconds(s.process.pid) - before
        assert {r.status_code for r in refused} == {429}, refused[0].text
        assert {r.json()["error"] for r in refused} == {"rate_limited"}
        assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
        # Parsing them would cost flood × parse_cost at the least; the door costs a fraction.
        assert spent < 0.3 * flood * parse_cost, (spent, parse_cost)
