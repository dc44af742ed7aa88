"""PostgreSQL: the same service on a real server, two processes as one, and the cursor proof.

Needs PostgreSQL at 127.0.0.1:5432 (database ``test``); skipped without it, failed under CI=true.
Each test gets a fresh database (dropped afterwards).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import sqlalchemy as sa

from central.batch import Batch
from central.service import Liaison, Service
from central.storage.engine import open_database
from schemas.actions import Assign, Reassign, Register, Urge
from schemas.enums import Role
from schemas.wire import QueuedAction
from schemas.workflow import Actor
from tests.servers import CentralServer, liaison_action, pull_all, push_body, register_body

pytestmark = pytest.mark.postgres
CENTRAL = Actor(Role.CENTRAL, "test")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def service(pg_url: str):
    svc = Service(open_database(pg_url))
    svc.add_unit({"id": "t1", "name": "一镇", "kind": "township"})
    svc.ensure_admin_token("fyadm_test")
    yield svc
    svc.db.dispose()


def _tickets(svc: Service, n: int, prefix: str = "P") -> list[str]:
    ids = []
    for i in range(n):
        ticket_id = f"{prefix}-{i:04d}"
        body = register_body(ticket_id)
        body.pop("kind")
        assert svc.admin_action(Register(**body), operator="t").outcome == "applied"
        assert (
            svc.admin_action(Assign(ticket_id=ticket_id, created_at=_now(), unit_id="t1")).outcome
            == "applied"
        )
        ids.append(ticket_id)
    return ids


def _urge(svc: Service, ticket_id: str, hold=None) -> None:
    """Urge ``ticket_id`` in one transaction; ``hold()`` runs after the commit number is taken,
    before the commit — a deliberately slow transaction (the service itself sends the number's
    stamp and the commit together)."""

    def work(conn) -> None:
        batch = Batch(conn, svc.work_calendar(conn))
        outcome = batch.decide(Urge(ticket_id=ticket_id, created_at=_now()), CENTRAL, _now())
        assert outcome.outcome == "applied"
        batch.flush(commit=hold is None)
        if hold is not None:
            hold()

    svc.write(work)


def _pull(svc: Service, liaison, cursor: str | None) -> dict:
    return orjson.loads(svc.pull(liaison, cursor, 1000, None, None))


def _waiting_on_lock(svc: Service) -> int:
    with svc.db.read.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()


def test_a_late_commit_is_never_skipped(service: Service) -> None:
    """A takes number N and stalls; B takes N+1 — it must wait, so a reader never sees N+1
    without N."""
    _, token = service.add_liaison("甲", "t1")
    liaison = service.liaison_for(token)
    x, y = _tickets(service, 2)
    cursor = _pull(service, liaison, None)["cursor"]
    a_has_number, release_a = threading.Event(), threading.Event()

    def hold_a() -> None:
        a_has_number.set()
        assert release_a.wait(20)

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(_urge, service, x, hold_a)
        assert a_has_number.wait(20)
        b = pool.submit(_urge, service, y)
        deadline = time.monotonic() + 20
        while _waiting_on_lock(service) == 0:  # B is queued behind A's counter lock
            assert time.monotonic() < deadline and not b.done(), "B did not wait for A"
            time.sleep(0.01)
        page = _pull(service, liaison, cursor)
        assert page["tickets"] == []  # neither is committed: nothing is visible, nothing skipped
        release_a.set()
        a.result(20), b.result(20)
    page = _pull(service, liaison, cursor)
    assert sorted(t["id"] for t in page["tickets"]) == [x, y]
    assert sorted(e["action"] for e in page["events"]) == ["urge", "urge"]


def test_concurrent_writers_and_a_puller_never_skip(service: Service) -> None:
    """Many writers (some stalling inside their transaction until the puller has pulled again)
    and a puller pulling all the while: every event committed reaches the puller."""
    _, token = service.add_liaison("甲", "t1")
    liaison = service.liaison_for(token)
    ids = _tickets(service, 12, prefix="C")
    cursor = pull_all_service(service, liaison, None)[1]
    pulled_events: set[str] = set()
    pulls = threading.Condition()
    pull_count = [0]
    stop = threading.Event()

    def wait_for_a_pull() -> None:
        with pulls:
            seen = pull_count[0]
            pulls.wait_for(lambda: pull_count[0] > seen or stop.is_set(), timeout=5)

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            _urge(service, rng.choice(ids), wait_for_a_pull if rng.random() < 0.3 else None)

    def puller() -> None:
        nonlocal cursor
        while not stop.is_set():
            page = _pull(service, liaison, cursor)
            pulled_events.update(e["id"] for e in page["events"])
            cursor = page["cursor"]
            with pulls:
                pull_count[0] += 1
                pulls.notify_all()

    reader = threading.Thread(target=puller)
    reader.start()
    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(writer, seed) for seed in range(6)]:
            f.result(60)
    stop.set()
    reader.join(20)
    page = _pull(service, liaison, cursor)  # after the writers: whatever is left
    pulled_events.update(e["id"] for e in page["events"])
    with service.db.read.connect() as conn:
        committed = set(conn.execute(sa.text("SELECT id FROM events WHERE action = 'urge'")).scalars())
    assert len(committed) == 6 * 15
    assert committed <= pulled_events
    assert pull_count[0] > 1


def pull_all_service(svc: Service, liaison, cursor):
    pages = []
    while True:
        page = _pull(svc, liaison, cursor)
        pages.append(page)
        cursor = page["cursor"]
        if not page["has_more"]:
            return pages, cursor


def test_two_server_processes_on_one_database_behave_as_one(tmp_path, pg_url: str) -> None:
    token = "fyadm_shared_" + "0" * 16
    with (
        CentralServer.start(tmp_path / "a", pg_url, admin_token=token) as one,
        CentralServer.start(tmp_path / "b", pg_url, admin_token=token) as two,
    ):
        assert one.admin("GET", "/v1/health")["server_id"] == two.admin("GET", "/v1/health")["server_id"]
        one.add_unit("t1")
        liaison = two.add_liaison("t1")
        ids = one.register_and_assign("t1", 6)
        with one.client(liaison) as c1, two.client(liaison) as c2:
            pages, cursor = pull_all(c2)  # written through one, read through two
            tickets = {t["id"]: t for p in pages for t in p["tickets"]}
            assert sorted(tickets) == ids
            batch = push_body("client-twoproc1", [liaison_action("accept", tickets[i]) for i in ids])
            # the same batch to both processes at once: each action applied exactly once
            with ThreadPoolExecutor(2) as pool:
                answers = [
                    f.result() for f in [pool.submit(c.post, "/v1/sync/push", json=batch) for c in (c1, c2)]
                ]
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            outcomes = [[r["outcome"] for r in a.json()["results"]] for a in answers]
            for i in range(len(ids)):
                assert sorted(o[i] for o in outcomes) == ["applied", "duplicate"]
            page = c1.get("/v1/sync/pull", params={"cursor": cursor}).json()
            assert sorted(t["id"] for t in page["tickets"]) == ids
            assert [e["action"] for e in page["events"]] == ["accept"] * len(ids)


def _numbered_rows(svc: Service) -> dict:
    """Every commit-order number stored, by what it numbers (event ids are random: left out)."""
    queries = {
        "tickets": "SELECT id, change_seq, scope_since FROM tickets ORDER BY id",
        "notes": "SELECT id, ticket_id, change_seq FROM notes ORDER BY id",
        "events": "SELECT ticket_id, action, change_seq FROM events ORDER BY change_seq, ticket_id, action",
        "exits": "SELECT unit_id, ticket_id, change_seq FROM scope_exits ORDER BY change_seq",
        "counter": "SELECT v FROM counter",
    }
    with svc.db.read.connect() as conn:
        return {k: [tuple(r) for r in conn.execute(sa.text(q))] for k, q in queries.items()}


def _numbering_scenario(svc: Service) -> dict:
    """Batches that write every numbered kind of row: new tickets, changed tickets, notes, events,
    a rejected action's note-less outcome, a scope exit, a batch that changes nothing."""
    at = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC)
    for unit in ("t1", "t2"):
        svc.add_unit({"id": unit, "name": f"{unit}镇", "kind": "township"})
    svc.add_liaison("甲", "t1", "l-1")
    liaison = Liaison("l-1", "甲", "t1", "t1镇")
    for tid in ("A", "B", "C"):
        body = register_body(tid, action_id=f"register-{tid}", created_at=at)
        body.pop("kind")
        assert svc.admin_action(Register(**body), at=at).outcome == "applied"
    for tid in ("A", "B"):
        assign = Assign(action_id=f"assign-{tid}", ticket_id=tid, created_at=at, unit_id="t1")
        assert svc.admin_action(assign, at=at).outcome == "applied"
    base = {"status": "assigned", "unit_id": "t1", "epoch": 1}
    actions = [
        liaison_action("accept", {"id": "A", **base}, action_id="push-0001"),
        liaison_action(
            "note", {"id": "A", **base}, action_id="push-0002", note_id="note-000a", text="到现场"
        ),
        liaison_action(
            "note", {"id": "B", **base}, action_id="push-0003", note_id="note-000b", text="已联系"
        ),
        liaison_action("request_return", {"id": "B", **base}, action_id="push-0004", reason="不属本镇"),
        liaison_action("accept", {"id": "C", **base}, action_id="push-0005"),  # not the unit's: rejected
    ]
    queued = [QueuedAction.model_validate({"seq": i + 1, "action": a}) for i, a in enumerate(actions)]
    outcomes = [r["outcome"] for r in svc.push(liaison, "client-num", queued)["results"]]
    moved = Reassign(action_id="reassign-A", ticket_id="A", created_at=at, unit_id="t2")
    assert svc.admin_action(moved, at=at).outcome == "applied"
    again = [r["outcome"] for r in svc.push(liaison, "client-num", queued[:2])["results"]]
    return {"outcomes": outcomes, "again": again, **_numbered_rows(svc)}


def test_postgres_numbers_every_row_as_sqlite_does(tmp_path, pg_url: str) -> None:
    """PostgreSQL writes placeholders and stamps them in one statement at commit; SQLite takes
    the numbers first. The same batches must leave the very same numbers on both."""
    results = []
    for url in (f"sqlite:///{tmp_path / 'c.db'}", pg_url):
        svc = Service(open_database(url), clock=lambda: dt.datetime(2025, 3, 3, 10, tzinfo=dt.UTC))
        try:
            results.append(_numbering_scenario(svc))
        finally:
            svc.db.dispose()
    lite, pg = results
    assert pg == lite
    assert pg["outcomes"] == ["applied", "applied", "applied", "applied", "rejected"]
    assert pg["again"] == ["duplicate", "duplicate"]
    numbers = [r[-1] for k in ("tickets", "notes", "events", "exits") for r in pg[k]]
    numbers += [r[2] for r in pg["tickets"]]  # scope_since
    assert min(numbers) >= 0 and max(numbers) == pg["counter"][0][0]  # no placeholder left
    assert pg["exits"] == [("t1", "A", pg["tickets"][0][1])]  # left t1 when it entered t2
    assert pg["tickets"][0][2] == pg["tickets"][0][1]
