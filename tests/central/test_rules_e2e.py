"""Every rejection reason, scope and cross-unit refusal, and bad bodies — over real HTTP."""

from __future__ import annotations

import gzip

import httpx
import orjson
import pytest

from tests.servers import CentralServer, liaison_action, pull_all, push_body


@pytest.fixture
def world(central_server: CentralServer):
    """Units t1 (two liaisons) and t2 (one), tickets assigned to each; pulled clients."""
    s = central_server
    s.add_unit("t1")
    s.add_unit("t2")
    a, b, other = s.add_liaison("t1", "甲"), s.add_liaison("t1", "乙"), s.add_liaison("t2", "丙")
    ids = s.register_and_assign("t1", 4, prefix="A")
    foreign = s.register_and_assign("t2", 1, prefix="B")
    clients = [s.client(tok) for tok in (a, b, other)]
    yield s, clients, ids, foreign[0]
    for c in clients:
        c.close()


def _ticket(c: httpx.Client, ticket_id: str) -> dict:
    response = c.get(f"/v1/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return response.json()["ticket"]


def _push(c: httpx.Client, client_id: str, *actions: dict) -> list[dict]:
    response = c.post("/v1/sync/push", json=push_body(client_id, list(actions)))
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_every_liaison_rejection_reason(world) -> None:
    s, (a, b, _), ids, foreign = world
    t_reassigned, t_reopened, t_rejected, t_race = (_ticket(a, i) for i in ids)
    # REASSIGNED: the platform moved it away after the liaison's copy was taken
    s.act(t_reassigned["id"], "reassign", unit_id="t2")
    # REOPENED and REPLY_REJECTED: resolved, then the platform moved the epoch
    for t in (t_reopened, t_rejected):
        ok = _push(a, "client-aaaa0001", liaison_action("accept", t))
        ok += _push(a, "client-aaaa0001", liaison_action("resolve", ok[0]["ticket"], reply="已处理"))
        assert [r["outcome"] for r in ok] == ["applied", "applied"]
    stale_reopened = _ticket(a, t_reopened["id"])
    stale_rejected = _ticket(a, t_rejected["id"])
    s.act(t_reopened["id"], "record_feedback", result="dissatisfied")
    s.act(t_rejected["id"], "reject_reply", reason="答复不完整")
    results = _push(
        a,
        "client-aaaa0002",
        liaison_action("accept", t_reassigned),
        liaison_action("resolve", {**stale_reopened, "status": "in_progress"}, reply="再次办结"),
        liaison_action("resolve", {**stale_rejected, "status": "in_progress"}, reply="再次办结"),
        liaison_action("request_return", _ticket(a, t_rejected["id"]) | {"status": "resolved"}, reason="x"),
        liaison_action("accept", {"id": foreign, "status": "assigned", "unit_id": "t1", "epoch": 1}),
        liaison_action("accept", {"id": "NOPE-1", "status": "assigned", "unit_id": "t1", "epoch": 1}),
    )
    reasons = [r["reason"] for r in results]
    assert reasons == ["REASSIGNED", "REOPENED", "REPLY_REJECTED", None, "NOT_FOUND", "NOT_FOUND"]
    assert results[3]["outcome"] == "applied"  # current state in_progress allows a return request
    # the refused ones are refused on their own: the applied one in the middle went through
    assert [r["outcome"] for r in results] == ["rejected"] * 3 + ["applied"] + ["rejected"] * 2
    # it held it before: it gets the ticket as it left (where it went), not who changed it since
    assert results[0]["ticket"]["unit_id"] == "t2" and results[0]["changed_by"] is None
    assert results[4]["ticket"] is None and results[5]["ticket"] is None  # never leak another unit's

    # STATUS_CHANGED: a return request on a resolved ticket
    race = _push(a, "client-aaaa0003", liaison_action("accept", t_race))[0]["ticket"]
    resolved = _push(a, "client-aaaa0003", liaison_action("resolve", race, reply="甲的答复"))[0]["ticket"]
    [changed] = _push(a, "client-aaaa0004", liaison_action("request_return", race, reason="不归我们"))
    assert changed["reason"] == "STATUS_CHANGED"  # based on in_progress; it was resolved since
    # NOT_ALLOWED: the same request based on the current (resolved) state: nothing moved
    [never] = _push(a, "client-aaaa0004", liaison_action("request_return", resolved, reason="不归我们"))
    assert never["reason"] == "NOT_ALLOWED"
    # ALREADY_RESOLVED: colleague b resolves the same ticket from the same base; kept as a note
    [second] = _push(b, "client-bbbb0001", liaison_action("resolve", race, reply="乙的答复"))
    assert second["reason"] == "ALREADY_RESOLVED" and second["ticket"]["reply"] == "甲的答复"
    notes = a.get(f"/v1/tickets/{race['id']}").json()["notes"]
    assert [(n["kind"], n["text"]) for n in notes] == [("reply_kept", "乙的答复")]
    # INVALID: a note id used twice
    note = liaison_action("note", resolved, text="备注", note_id="note-fixed-0001")
    again = liaison_action("note", resolved, text="另一条", note_id="note-fixed-0001")
    assert [r["reason"] for r in _push(a, "client-aaaa0005", note, again)] == [None, "INVALID"]


def test_central_rejection_reasons(world) -> None:
    s, _, ids, _ = world
    assert s.act(ids[0], "archive")["reason"] == "NOT_ALLOWED"  # not closed
    assert s.act(ids[0], "reassign", unit_id="t1")["reason"] == "INVALID"  # already there
    response = s.http.post("/v1/admin/tickets", json=_register_again(ids[0]))
    assert response.json()["reason"] == "ALREADY_EXISTS"


def _register_again(ticket_id: str) -> dict:
    from tests.servers import register_body

    return register_body(ticket_id)


def test_cross_unit_access_refused_on_every_endpoint(world) -> None:
    s, (a, _, c), ids, foreign = world
    missing = a.get("/v1/tickets/NOPE-2")
    hidden = a.get(f"/v1/tickets/{foreign}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"] == "not_found"
    assert c.get(f"/v1/tickets/{ids[0]}").status_code == 404
    pulled = [t["id"] for p in pull_all(a)[0] for t in p["tickets"]]
    assert foreign not in pulled and sorted(pulled) == sorted(ids)
    before = s.ticket(foreign)
    for kind, extra in (("accept", {}), ("note", {"text": "偷看"}), ("resolve", {"reply": "x"})):
        action = liaison_action(
            kind, {"id": foreign, "status": "assigned", "unit_id": "t2", "epoch": 1}, **extra
        )
        [result] = _push(a, "client-cross001", action)
        assert (result["reason"], result["ticket"], result["changed_by"]) == ("NOT_FOUND", None, None)
    assert s.ticket(foreign) == before
    # a liaison token on the admin API: 403; no token or a wrong one: 401
    for method, path in (("GET", "/v1/admin/units"), ("POST", "/v1/admin/liaisons"),
                         ("GET", "/v1/admin/tickets"), ("GET", "/v1/admin/metrics?month=2025-01"),
                         ("POST", f"/v1/admin/tickets/{foreign}/actions")):  # fmt: skip
        assert a.request(method, path, json={}).status_code == 403, path
    assert httpx.get(s.url + "/v1/me").status_code == 401
    assert httpx.get(s.url + "/v1/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
    # the admin token is not a liaison's
    assert s.http.get("/v1/sync/pull").status_code == 403


def _state(s: CentralServer, client: httpx.Client, cursor: str) -> tuple:
    page = client.get("/v1/sync/pull", params={"cursor": cursor}).json()
    audit = s.admin("GET", "/v1/admin/audit", params={"limit": 1})
    return page["tickets"], page["events"], page["notes"], audit[0]["id"]


def test_malformed_and_oversized_bodies_change_nothing(world) -> None:
    s, (a, _, _), ids, _ = world
    _, cursor = pull_all(a)
    before = _state(s, a, cursor)
    ticket = _ticket(a, ids[0])
    good = liaison_action("accept", ticket)
    bad_requests = {
        "not json": (b"{not json", {}),
        "unknown field": (orjson.dumps(push_body("client-bad00001", [good | {"sneaky": 1}])), {}),
        "central action": (orjson.dumps(push_body("client-bad00001", [good | {"kind": "archive"}])), {}),
        "bad client id": (orjson.dumps(push_body("x", [good])), {}),
        "too many actions": (orjson.dumps(push_body("client-bad00001", [good] * 501)), {}),
        "corrupt gzip": (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
    }
    for name, (body, headers) in bad_requests.items():
        response = a.post(
            "/v1/sync/push", content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 422, name
        error = response.json()
        assert error["error"] == "invalid_request" and error["message"], name
    detail = a.post("/v1/sync/push", json=push_body("client-bad00001", [good | {"sneaky": 1}])).json()[
        "detail"
    ]
    assert any("sneaky" in d["loc"] for d in detail)
    brotli = a.post("/v1/sync/push", content=b"xx", headers={"Content-Encoding": "br"})
    assert brotli.status_code == 415 and brotli.json()["error"] == "unsupported_encoding"
    huge = a.post(
        "/v1/sync/push", content=b" " * (17 * 1024 * 1024), headers={"Content-Type": "application/json"}
    )
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"  # the wire limit is 16 MiB
    bomb = gzip.compress(b" " * (65 * 1024 * 1024))
    assert len(bomb) < 8 * 1024 * 1024
    response = a.post("/v1/sync/push", content=bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert _state(s, a, cursor) == before
    assert _ticket(a, ids[0]) == ticket
