"""No request a liaison or the platform can send gives a server error (issue 10, finding 3).

Every case over real HTTP to a real ``fycli serve``; on SQLite AND PostgreSQL where the failure
was backend-specific (a 64-bit overflow, a NUL in a query, a negative LIMIT).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_pg
from tests.servers import CentralServer, fresh_pg_database, liaison_action, pull_all, push_body


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path: Path) -> Iterator[CentralServer]:
    """A real server on a fresh SQLite file, or on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with CentralServer.start(tmp_path) as s:
            yield s
        return
    require_pg()
    with fresh_pg_database() as url, CentralServer.start(tmp_path, url) as s:
        yield s


@pytest.fixture
def liaison(server: CentralServer) -> Iterator[tuple[CentralServer, httpx.Client, list[str]]]:
    server.add_unit("t1")
    ids = server.register_and_assign("t1", 2, prefix="E")
    with server.client(server.add_liaison("t1", "甲")) as client:
        yield server, client, ids


def _cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decoded(cursor: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _pull(client: httpx.Client, cursor: str) -> httpx.Response:
    return client.get("/v1/sync/pull", params={"cursor": cursor})


def test_a_cursor_out_of_range_or_not_an_integer_is_invalid_not_a_server_error(liaison) -> None:
    _, client, _ = liaison
    generation = _decoded(pull_all(client)[1])["g"]
    for s in (2**63, 2**64, True, -1, 1.5, "7", None):
        response = _pull(client, _cursor({"g": generation, "s": s}))
        assert response.status_code == 422, (s, response.status_code, response.text)
        assert response.json()["error"] == "invalid_cursor", s


def test_a_cursor_ahead_of_the_counter_gets_reset(liaison) -> None:
    """A cursor this server cannot have issued (e.g. from before a restore): start afresh."""
    _, client, ids = liaison
    pages, cursor = pull_all(client)
    ahead = {**_decoded(cursor), "s": _decoded(cursor)["s"] + 1000}
    for given in (ahead, {"g": ahead["g"], "s": 2**63 - 1}):
        response = _pull(client, _cursor(given))
        assert response.status_code == 200, response.text
        assert response.json()["reset"] is True and response.json()["tickets"] == []
    again, _ = pull_all(client)
    assert sorted(t["id"] for p in again for t in p["tickets"]) == sorted(ids)


def test_a_cursor_from_before_a_restore_gets_reset_even_once_the_counter_passed_it(tmp_path: Path) -> None:
    """A database restored from a backup keeps its server_id; once new changes carry its counter
    past a cursor of the lost timeline, only the recorded server starts tell the two apart."""
    db = tmp_path / "central.db"
    backup = tmp_path / "backup.db"
    token = "fyadm_test_restore_0123456789abcdef"
    with CentralServer.start(tmp_path, f"sqlite:///{db}", admin_token=token) as s:
        s.add_unit("t1")
        liaison_token = s.add_liaison("t1")
        s.register_and_assign("t1", 2, prefix="R")
    _copy_database(db, backup)  # the nightly backup
    with CentralServer.start(tmp_path, f"sqlite:///{db}", admin_token=token) as s:
        lost = s.register_and_assign("t1", 3, prefix="L")  # changes the restore will lose
        with s.client(liaison_token) as client:
            _, old_cursor = pull_all(client)
    _copy_database(backup, db)  # restored
    with CentralServer.start(tmp_path, f"sqlite:///{db}", admin_token=token) as s:
        after = s.register_and_assign("t1", 5, prefix="N")  # the counter passes the old cursor
        with s.client(liaison_token) as client:
            current = _decoded(pull_all(client)[1])["s"]
            assert current > _decoded(old_cursor)["s"]  # the case a bare "ahead" check misses
            response = _pull(client, old_cursor)
            assert response.status_code == 200 and response.json()["reset"] is True, response.text
            fresh, _ = pull_all(client)
    pulled = {t["id"] for p in fresh for t in p["tickets"]}
    assert set(after) <= pulled and not pulled & set(lost)


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup (what ``sqlite3 .backup`` / ``.restore`` do): WAL and all."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def test_a_ticket_id_with_a_nul_character_is_not_found(liaison) -> None:
    server, client, _ = liaison
    for c in (client, server.http):
        for path in ("/v1/tickets/a%00b", "/v1/tickets/%00"):
            response = c.get(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/v1/admin/liaisons?unit_id=a%00b", "/v1/admin/tickets?after=%00", "/v1/admin/audit?target=a%00"]
)
def test_a_nul_character_in_an_admin_query_is_a_4xx(liaison, path: str) -> None:
    server, _, _ = liaison
    response = server.http.get(path)
    assert response.status_code in (200, 422), response.text  # SQLite finds nothing; PostgreSQL refuses
    if response.status_code == 422:
        assert response.json()["error"] == "invalid_request"


def test_a_kept_reply_never_collides_with_a_note_id_the_liaison_chose(liaison) -> None:
    """Today: a note whose id is ``<action id>-reply``, then that action resolving a resolved
    ticket: the kept reply's note takes the same id, UNIQUE notes.id, 6 retries, 500. Also an
    action id of 64 characters (its kept reply's id is longer than 64)."""
    _, client, (tid, _) = liaison
    ticket = client.get(f"/v1/tickets/{tid}").json()["ticket"]
    [accepted] = _push(client, "client-gggg0001", liaison_action("accept", ticket))
    [resolved] = _push(
        client, "client-gggg0001", liaison_action("resolve", accepted["ticket"], reply="甲的答复")
    )
    for late_id in ("late-reply-0001", "x" * 64):
        note = liaison_action("note", resolved["ticket"], text="备注", note_id=f"{late_id[:58]}-reply")
        late = liaison_action("resolve", accepted["ticket"], reply="乙的答复") | {"action_id": late_id}
        results = _push(client, "client-gggg0002", note, late)
        assert [(r["outcome"], r["reason"]) for r in results] == [
            ("applied", None),
            ("rejected", "ALREADY_RESOLVED"),
        ]
    notes = client.get(f"/v1/tickets/{tid}").json()["notes"]
    assert [n["kind"] for n in notes] == ["note", "reply_kept", "note", "reply_kept"]


def test_an_action_id_taken_by_a_stored_event_is_refused_not_a_server_error(tmp_path: Path) -> None:
    """A database seeded before server-made ids were namespaced holds events whose ids a client
    may choose (``<ticket>-01-seed``): such an action is rejected INVALID, the rest applied."""
    db = tmp_path / "central.db"
    with CentralServer.start(tmp_path, f"sqlite:///{db}") as s:
        s.add_unit("t1")
        tid, other = s.register_and_assign("t1", 2, prefix="S")
        with sqlite3.connect(db) as conn:  # an old seeded event, as older versions wrote them
            conn.execute(
                "INSERT INTO events (id, ticket_id, change_seq, action, unit_id, at, data)"
                " SELECT ?, ticket_id, change_seq, action, unit_id, at, data FROM events LIMIT 1",
                ("OLD-00001-01-seed",),
            )
        with s.client(s.add_liaison("t1")) as client:
            first = client.get(f"/v1/tickets/{tid}").json()["ticket"]
            second = client.get(f"/v1/tickets/{other}").json()["ticket"]
            taken = liaison_action("accept", first) | {"action_id": "OLD-00001-01-seed"}
            results = _push(client, "client-gggg0003", taken, liaison_action("accept", second))
            assert [(r["outcome"], r["reason"]) for r in results] == [
                ("rejected", "INVALID"),
                ("applied", None),
            ]
            assert client.get(f"/v1/tickets/{tid}").json()["ticket"]["status"] == "assigned"


def test_a_reused_admin_action_id_is_a_duplicate(liaison) -> None:
    """A retried admin call is idempotent like a push (today: UNIQUE actions.action_id, 500)."""
    server, client, (tid, _) = liaison
    body = {"kind": "urge", "ticket_id": tid, "action_id": "admin-urge-000001",
            "created_at": "2026-03-02T09:00:00+08:00", "comment": "请尽快办理"}  # fmt: skip
    answers = [server.http.post(f"/v1/admin/tickets/{tid}/actions", json=body) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], answers[1].text
    assert [a.json()["outcome"] for a in answers] == ["applied", "duplicate"]
    assert answers[1].json()["original_outcome"] == "applied"
    events = server.ticket(tid)["events"]
    assert [e["action"] for e in events].count("urge") == 1
    # a liaison's action id used by the platform: refused, never a unique-key failure
    ticket = client.get(f"/v1/tickets/{tid}").json()["ticket"]
    mine = liaison_action("accept", ticket)
    _push(client, "client-gggg0004", mine)
    reused = {**body, "action_id": mine["action_id"]}
    answer = server.http.post(f"/v1/admin/tickets/{tid}/actions", json=reused)
    assert answer.status_code == 200 and answer.json()["reason"] == "INVALID", answer.text


@pytest.mark.parametrize(
    "method, path, params, body",
    [
        ("POST", "/v1/admin/tickets/{tid}/actions", {"at": "0001-01-01T00:00:00+08:00"}, "urge"),
        ("POST", "/v1/admin/tickets/{tid}/actions", {"at": "9999-12-31T23:59:59+08:00"}, "urge"),
        ("POST", "/v1/admin/tickets", {"at": "0001-01-01T00:00:00+08:00"}, "register"),
        ("POST", "/v1/admin/prune", None, {"older_than_days": 1_000_000}),
        ("POST", "/v1/admin/prune", None, {"older_than_days": 1e308}),
        ("GET", "/v1/admin/metrics", {"month": "0000-01"}, None),
        ("GET", "/v1/admin/metrics", {"month": "9999-12"}, None),
    ],
)
def test_admin_values_out_of_range_are_refused_with_a_4xx(liaison, method, path, params, body) -> None:
    server, _, (tid, _) = liaison
    if body == "urge":
        body = {"kind": "urge", "ticket_id": tid, "created_at": "2026-03-02T09:00:00+08:00"}
    elif body == "register":
        from tests.servers import register_body

        body = register_body("NEW-1")
    response = server.http.request(method, path.format(tid=tid), params=params, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request" and response.json()["message"]


def test_a_body_that_is_not_utf8_json_is_invalid_request(liaison) -> None:
    """Was 400 ``{"error": "error"}`` (invalid UTF-8): every error uses a documented code."""
    _, client, _ = liaison
    for body in (b"{bad", b'"\xff\xfe"', b'{"client_id": "abc\xffdefgh", "actions": []}'):
        response = client.post("/v1/sync/push", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"] == "invalid_request"


def test_an_action_without_kind_is_refused_as_the_published_schema_says(liaison) -> None:
    _, client, (tid, _) = liaison
    ticket = client.get(f"/v1/tickets/{tid}").json()["ticket"]
    action = liaison_action("accept", ticket)
    del action["kind"]
    response = client.post("/v1/sync/push", json=push_body("client-gggg0005", [action]))
    assert response.status_code == 422
    schema = json.loads((Path(__file__).parents[2] / "schemas/json/liaison_action.schema.json").read_text())
    members = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["oneOf"]]
    assert len(members) == 5 and all("kind" in m["required"] for m in members)


def _push(client: httpx.Client, client_id: str, *actions: dict) -> list[dict]:
    response = client.post("/v1/sync/push", json=push_body(client_id, list(actions)))
    assert response.status_code == 200, response.text
    return response.json()["results"]
