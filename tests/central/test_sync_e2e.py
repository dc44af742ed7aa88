"""The sync API over real HTTP against a real `fycli serve` (SQLite): push, pull, scope."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from tests.servers import CentralServer, liaison_action, pull_all, push_body


def _setup(server: CentralServer, n: int = 3) -> tuple[str, list[str]]:
    server.add_unit("t1")
    token = server.add_liaison("t1")
    return token, server.register_and_assign("t1", n)


def test_health_and_me(central_server: CentralServer) -> None:
    token, _ = _setup(central_server, 0)
    health = httpx.get(central_server.url + "/v1/health").json()
    assert health["status"] == "ok" and health["protocol"] == 1
    with central_server.client(token) as c:
        me = c.get("/v1/me").json()
    assert me["unit_id"] == "t1" and me["server_id"] == health["server_id"]


def test_first_pull_gets_unit_tickets_masked_with_history(central_server: CentralServer) -> None:
    token, ids = _setup(central_server, 3)
    central_server.add_unit("t2")
    central_server.register_and_assign("t2", 2)  # another unit's: never pulled by t1
    with central_server.client(token) as c:
        pages, _ = pull_all(c)
    tickets = [t for p in pages for t in p["tickets"]]
    assert sorted(t["id"] for t in tickets) == sorted(ids)
    assert all(t["citizen_phone"] == "138****5678" for t in tickets)
    events = [e for p in pages for e in p["events"]]
    assert sorted(e["action"] for e in events) == ["assign"] * 3 + ["register"] * 3


def test_push_applies_and_pull_sees_it(central_server: CentralServer) -> None:
    token, ids = _setup(central_server, 2)
    with central_server.client(token) as c:
        pages, cursor = pull_all(c)
        ticket = pages[0]["tickets"][0]
        accept = liaison_action("accept", ticket)
        answer = c.post("/v1/sync/push", json=push_body("client-aaaa", [accept])).json()
        assert answer["results"][0]["outcome"] == "applied"
        assert answer["results"][0]["ticket"]["status"] == "in_progress"
        assert answer["acked_seq"] == 1
        page = c.get("/v1/sync/pull", params={"cursor": cursor}).json()
    assert [t["id"] for t in page["tickets"]] == [ticket["id"]]
    assert [e["action"] for e in page["events"]] == ["accept"]
    assert page["has_more"] is False


def test_same_batch_twice_is_duplicate_and_changes_nothing(central_server: CentralServer) -> None:
    """Also the "response lost after commit" case: the client cannot tell, so it resends."""
    token, _ = _setup(central_server, 2)
    with central_server.client(token) as c:
        pages, cursor = pull_all(c)
        t1, t2 = pages[0]["tickets"]
        batch = push_body(
            "client-bbbb",
            [
                liaison_action("accept", t1),
                liaison_action("accept", t2),
                liaison_action("resolve", {**t1, "status": "in_progress"}, reply="已修复路灯"),
            ],
        )
        first = c.post("/v1/sync/push", json=batch).json()
        assert [r["outcome"] for r in first["results"]] == ["applied"] * 3
        _, cursor_after = pull_all(c, cursor)
        before = central_server.ticket(t1["id"])
        # the same bytes again, gzip-compressed this time (a client retrying after a lost response)
        again = c.post(
            "/v1/sync/push",
            content=gzip.compress(orjson.dumps(batch)),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        ).json()
        assert [r["outcome"] for r in again["results"]] == ["duplicate"] * 3
        assert [r["original_outcome"] for r in again["results"]] == ["applied"] * 3
        assert again["acked_seq"] == 3
        after = central_server.ticket(t1["id"])
        assert after == before
        assert len(after["events"]) == 4  # register, assign, accept, resolve: nothing doubled
        page = c.get("/v1/sync/pull", params={"cursor": cursor_after}).json()
        assert page["tickets"] == [] and page["events"] == []


def test_scope_removal_after_reassignment(central_server: CentralServer) -> None:
    token, ids = _setup(central_server, 2)
    central_server.add_unit("t2")
    token2 = central_server.add_liaison("t2")
    with central_server.client(token) as c, central_server.client(token2) as c2:
        _, cursor = pull_all(c)
        _, cursor2 = pull_all(c2)
        central_server.act(ids[0], "reassign", unit_id="t2", reason="不属于本镇")
        page = c.get("/v1/sync/pull", params={"cursor": cursor}).json()
        assert page["removed"] == [ids[0]] and page["tickets"] == []
        page2 = c2.get("/v1/sync/pull", params={"cursor": cursor2}).json()
        assert [t["id"] for t in page2["tickets"]] == [ids[0]]
        # new to t2: its whole history comes with it
        assert [e["action"] for e in page2["events"]] == ["register", "assign", "reassign"]
        # the old unit still reads its history; a unit that never held it gets 404
        assert c.get(f"/v1/tickets/{ids[0]}").status_code == 200
        central_server.act(ids[0], "reassign", unit_id="t1")
        page = c.get("/v1/sync/pull", params={"cursor": page["cursor"]}).json()
        assert [t["id"] for t in page["tickets"]] == [ids[0]] and page["removed"] == []


def test_reset_when_cursor_from_another_server(tmp_path, central_server: CentralServer) -> None:
    token, _ = _setup(central_server, 1)
    with central_server.client(token) as c:
        _, cursor = pull_all(c)
    with CentralServer.start(tmp_path / "other") as other:
        other.add_unit("t1")
        other_token = other.add_liaison("t1")
        with other.client(other_token) as c:
            page = c.get("/v1/sync/pull", params={"cursor": cursor}).json()
            assert page["reset"] is True and page["tickets"] == [] and page["has_more"] is False
            bad = c.get("/v1/sync/pull", params={"cursor": "not-a-cursor!"})
            assert bad.status_code == 422 and bad.json()["error"] == "invalid_cursor"


def test_paging_in_commit_order(central_server: CentralServer) -> None:
    token, ids = _setup(central_server, 7)
    with central_server.client(token) as c:
        pages, _ = pull_all(c, limit=3)
    assert [len(p["tickets"]) for p in pages] == [3, 3, 1]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert [t["id"] for p in pages for t in p["tickets"]] == ids


@pytest.mark.parametrize("others", [0, 6], ids=["dense_range", "sparse_range"])
def test_history_reaches_a_ticket_that_comes_on_a_later_page(
    central_server: CentralServer, others: int
) -> None:
    """A's first urge is stamped inside page 1's range but A itself (changed again later) comes
    on page 2, above it: the urge must come on page 1, not be skipped.

    Both ways the server finds that history (``service._stamped_in``): by the page's commit
    range when the unit's changed tickets outnumber it (dense), by the unit's changed tickets
    when other units' commits widen the range (sparse)."""
    token, (a, b) = _setup(central_server, 2)
    central_server.add_unit("t9")
    elsewhere = central_server.register_and_assign("t9", max(others, 1))
    with central_server.client(token) as c:
        _, cursor = pull_all(c)
        for ticket_id, comment in ((a, "一催"), (b, "催B"), (a, "二催")):
            central_server.act(ticket_id, "urge", comment=comment)
            for other in elsewhere[:others]:
                central_server.act(other, "urge", comment="别处")
        pages, _ = pull_all(c, cursor, limit=1)
    assert [[t["id"] for t in p["tickets"]] for p in pages] == [[b], [a]]
    urges = [(e["ticket_id"], e["action"]) for p in pages for e in p["events"]]
    assert sorted(urges) == sorted([(a, "urge"), (b, "urge"), (a, "urge")])


def test_expired_cursor_answers_reset_then_a_clean_repull(central_server: CentralServer) -> None:
    from click.testing import CliRunner

    from central.cli import central

    token, (moved, kept) = _setup(central_server, 2)
    central_server.add_unit("t2")
    with central_server.client(token) as c:
        _, stale = pull_all(c)
        central_server.act(moved, "reassign", unit_id="t2")
        pages, current = pull_all(c, stale)
        assert pages[-1]["removed"] == [moved]
        args = ["--server", central_server.url, "--admin-token", central_server.admin_token, "--json"]
        result = CliRunner().invoke(central, [*args, "prune", "--older-than", "0"])
        assert result.exit_code == 0, result.output
        assert orjson.loads(result.output)["deleted"] == 1
        # The stale cursor may have missed the pruned exit: re-pull from scratch.
        page = c.get("/v1/sync/pull", params={"cursor": stale}).json()
        assert page["reset"] is True and page["tickets"] == [] and page["removed"] == []
        # A cursor that saw it goes on as usual.
        assert c.get("/v1/sync/pull", params={"cursor": current}).json()["reset"] is False
        # The clean re-pull (the reset answer's own cursor starts from scratch too).
        again, _ = pull_all(c, page["cursor"])
        assert [t["id"] for p in again for t in p["tickets"]] == [kept]
        assert not any(p["reset"] for p in again)
    audit = central_server.admin("GET", "/v1/admin/audit", params={"limit": 5})
    assert audit[0]["what"] == "prune"
