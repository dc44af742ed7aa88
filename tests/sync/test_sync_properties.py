"""The sync guarantees of SPEC §4 as a hypothesis state machine.

Three liaison replicas (two of unit u1, one of u2) and the central platform (the real ASGI app
over a SQLite file, in-process) go through random offline actions, conflict settlements,
central actions and syncs in random order, with injected faults: a request dropped before the
server, a response lost after the server committed, the same request delivered twice, a 5xx,
and a crash of the client between any two of the sync's local steps. After a final quiet sync:

- every replica equals the server for its unit's tickets, and a further sync is one request;
- every action id a replica queued was decided by the server exactly once (one row of the
  server's action log, applied or rejected), and it is rejected exactly when it is in that
  replica's conflict inbox;
- every transition the server recorded is legal by the workflow table;
- no replica's cursor ever went back.

``FYCLI_PROPERTY_EXAMPLES`` runs more examples than the default (e.g. 300 before a release).
Hypothesis keeps every failing example in its database (.hypothesis/) and replays it first.

Hypothesis must be able to replay an example exactly, so nothing outside its control may steer
the machine: the server and each replica read a clock of their own that ticks one second per
reading from a fixed start (the real clock put timestamps, and so the order of equal-time rows,
at the mercy of the machine's speed), and a conflict is picked by the order the test saw it
queued, not by its random action id. Under ``CI=true`` the examples are derandomized and no
database is used, so CI runs the same examples every time; locally they are random.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from central.app import create_app
from central.service import Service, decode_cursor
from central.storage.engine import open_database
from local_db.api import TicketQuery, View
from local_db.replica import Replica
from schemas.ticket import Event
from schemas.workflow import is_legal_event
from sync.client import RetryPolicy, SyncClient
from sync.engine import sync
from sync.errors import SyncError
from tests.servers import register_body

ADMIN = "fyadm_properties_test_token"
UNITS = ("u1", "u2")
LIAISONS = (("u1", "甲"), ("u1", "乙"), ("u2", "丙"))
FAULTS = (None, None, "drop", "lost", "dup", "5xx")
#: Where every clock of an example starts (the central actions below are dated this morning).
START = dt.datetime(2025, 6, 11, 2, 0, tzinfo=dt.UTC)
IN_CI = os.environ.get("CI", "").lower() == "true"


class TickingClock:
    """A clock that moves one second per reading: the same steps read the same times.

    One per component (the server, each replica): a replica is only used by the test's thread,
    and the server answers one request at a time, so each clock's readings come in the same
    order on every replay (a clock shared with the pull's fetcher thread would not).
    """

    def __init__(self, start: dt.datetime = START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=1)
            return self._now


class Crash(Exception):
    """The client process died here."""


class FaultyTransport(httpx.BaseTransport):
    """Forwards to the in-process app, applying the planned faults to the next requests."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.plan: list[str | None] = []

    def _forward(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        fault = self.plan.pop(0) if self.plan else None
        if fault == "drop":
            raise httpx.ConnectError("injected: request dropped")
        if fault == "5xx":
            return httpx.Response(503, json={"error": "internal", "message": "injected"})
        if fault == "lost":
            self._forward(request)  # the server decided and committed; the answer never arrives
            raise httpx.ReadError("injected: response lost")
        if fault == "dup":
            self._forward(request)
        return self._forward(request)


class CrashingReplica:
    """The replica, but the process dies before (or after) its ``crash_at``-th sync step."""

    STEPS = {
        "mark_sent",
        "unmark_sent",
        "apply_push_results",
        "apply_pull_page_raw",
        "reset_pulled_state",
        "set_identity",
    }

    def __init__(self, replica: Replica, crash_at: int | None, after: bool) -> None:
        self._replica, self._crash_at, self._after, self._n = replica, crash_at, after, 0

    def __getattr__(self, name: str):
        target = getattr(self._replica, name)
        if name not in self.STEPS or self._crash_at is None:
            return target

        def step(*args, **kwargs):
            self._n += 1
            if self._n == self._crash_at and not self._after:
                raise Crash(name)
            result = target(*args, **kwargs)
            if self._n == self._crash_at:
                raise Crash(name)
            return result

        return step


@pytest.fixture(scope="module")
def central_template(tmp_path_factory) -> Path:
    """One migrated central database; each example starts from a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("central") / "template.db"
    db = open_database(f"sqlite:///{path}")
    db.write.dispose()
    db.read.dispose()
    return path


class SyncMachine(RuleBasedStateMachine):
    template: Path  # set by the test below

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="fycli-props-"))
        self.central_db = self.dir / "central.db"
        shutil.copy(self.template, self.central_db)
        app = create_app(service=Service(open_database(f"sqlite:///{self.central_db}"), clock=TickingClock()))
        app.state.service.ensure_admin_token(ADMIN)
        self.http = TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"})
        for unit in UNITS:
            self._admin("POST", "/v1/admin/units", json={"id": unit, "name": f"{unit}镇", "kind": "township"})
        self.transport = FaultyTransport(self.http._transport)
        self.clients, self.replicas, self.paths, self.clocks = [], [], [], []
        for i, (unit, name) in enumerate(LIAISONS):
            token = self._admin("POST", "/v1/admin/liaisons", json={"name": name, "unit_id": unit})["token"]
            self.clients.append(
                SyncClient(
                    "http://testserver",
                    token,
                    transport=self.transport,
                    retry=RetryPolicy(attempts=2),
                    sleep=lambda _s: None,  # never sleep: the delays are unit-tested elsewhere
                )
            )
            self.paths.append(self.dir / f"replica-{i}.db")
            self.clocks.append(TickingClock())
            self.replicas.append(Replica.open(self.paths[-1], create=True, clock=self.clocks[-1]))
        self.tickets: list[str] = []
        for n in range(6):
            self._new_ticket(UNITS[n % 2])
        self.queued: dict[str, int] = {}  # action id → the replica that queued it
        self.cursors: list[tuple[str, int] | None] = [None] * len(LIAISONS)

    # -- helpers --------------------------------------------------------------------------
    def _admin(self, method: str, path: str, **kwargs):
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    def _new_ticket(self, unit: str) -> None:
        tid = f"T{len(self.tickets):04d}"
        self._admin("POST", "/v1/admin/tickets", json=register_body(tid, created_at=START.isoformat()))
        self._central(tid, "assign", unit_id=unit)
        self.tickets.append(tid)

    def _central(self, tid: str, kind: str, **fields) -> None:
        body = {"kind": kind, "ticket_id": tid, "created_at": "2025-06-11T10:00:00+08:00", **fields}
        self._admin("POST", f"/v1/admin/tickets/{tid}/actions", json=body)

    def _track(self, r: int) -> None:
        for entry in self.replicas[r].outbox(limit=1_000_000):
            self.queued.setdefault(entry.action_id, r)  # in queue order: replays see the same order

    def _visible(self, r: int) -> list[str]:
        return sorted(self.replicas[r].ids_matching(TicketQuery(view=View.ALL)))

    def _sync(self, r: int, faults: list, crash_at: int | None = None, after: bool = False) -> None:
        self.transport.plan = list(faults)
        try:
            sync(CrashingReplica(self.replicas[r], crash_at, after), self.clients[r])
        except Crash:
            self.replicas[r].close()  # the process died: what is on disk is all there is
            self.replicas[r] = Replica.open(self.paths[r], clock=self.clocks[r])
        except SyncError:
            pass
        finally:
            self.transport.plan = []
        cursor = self.replicas[r].state().cursor
        if cursor is not None:
            now = decode_cursor(cursor)
            before = self.cursors[r]
            assert before is None or before[0] != now[0] or now[1] >= before[1], "the cursor went back"
            self.cursors[r] = now

    # -- rules ----------------------------------------------------------------------------
    @rule(
        r=st.integers(0, 2),
        pick=st.integers(0, 99),
        kind=st.sampled_from(["accept", "resolve", "resolve", "note", "return", "extend"]),
    )
    def liaison_acts_offline(self, r: int, pick: int, kind: str) -> None:
        ids = self._visible(r)
        if not ids:
            return
        tid, replica = ids[pick % len(ids)], self.replicas[r]
        if kind == "accept":
            replica.accept([tid])
        elif kind == "resolve":
            replica.resolve([tid], f"{LIAISONS[r][1]}的答复 {pick}")
        elif kind == "note":
            replica.add_note(tid, f"{LIAISONS[r][1]}的备注 {pick}")
        elif kind == "return":
            replica.request_return(tid, "不属本镇管辖")
        else:
            replica.request_extension(tid, 3, "需协调")
        self._track(r)

    @rule(r=st.integers(0, 2), pick=st.integers(0, 99), how=st.sampled_from(["reapply", "note", "drop"]))
    def liaison_settles_a_conflict(self, r: int, pick: int, how: str) -> None:
        # By the order the test saw them queued: the replica's own order breaks ties of refusal
        # time by action id, which is random.
        order = {action_id: i for i, action_id in enumerate(self.queued)}
        conflicts = sorted(
            self.replicas[r].conflicts(), key=lambda c: (order.get(c.action_id, len(order)), c.action_id)
        )
        if conflicts:
            self.replicas[r].resolve_conflict(conflicts[pick % len(conflicts)].action_id, how)
            self._track(r)

    @rule(
        pick=st.integers(0, 99),
        kind=st.sampled_from(
            ["urge", "supervise", "reassign", "reject_reply", "satisfied", "dissatisfied", "return_ok",
             "return_no", "extension_ok", "extension_no", "new"]
        ),
    )  # fmt: skip
    def central_acts(self, pick: int, kind: str) -> None:
        tid = self.tickets[pick % len(self.tickets)]
        other = UNITS[pick % 2]
        fields = {
            "urge": ("urge", {}),
            "supervise": ("supervise", {"listed": pick % 3 == 0}),
            "reassign": ("reassign", {"unit_id": other}),
            "reject_reply": ("reject_reply", {"reason": "答复不完整"}),
            "satisfied": ("record_feedback", {"result": "satisfied"}),
            "dissatisfied": ("record_feedback", {"result": "dissatisfied"}),
            "return_ok": ("decide_return", {"approve": True, "unit_id": other}),
            "return_no": ("decide_return", {"approve": False}),
            "extension_ok": ("decide_extension", {"approve": True}),
            "extension_no": ("decide_extension", {"approve": False}),
        }
        if kind == "new":
            self._new_ticket(other)
        else:
            action, extra = fields[kind]
            self._central(tid, action, **extra)  # refused when the status does not allow it: fine

    @rule(
        r=st.integers(0, 2),
        faults=st.lists(st.sampled_from(FAULTS), max_size=4),
        crash_at=st.none() | st.integers(1, 6),
        after=st.booleans(),
    )
    def sync_with_faults(self, r: int, faults: list, crash_at: int | None, after: bool) -> None:
        self._sync(r, faults, crash_at, after)

    # -- the end: a quiet sync, then everything is checked ---------------------------------
    def teardown(self) -> None:
        try:
            self._final_checks()
        finally:
            for replica in self.replicas:
                replica.close()
            for client in self.clients:
                client.close()
            self.http.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _final_checks(self) -> None:
        for _ in range(2):  # one round to push, one to pull what the others pushed
            for r in range(len(LIAISONS)):
                self._sync(r, [])
        for r, replica in enumerate(self.replicas):
            assert replica.pending_count() == 0, f"replica {r} still has unsent actions"
            report = sync(replica, self.clients[r])
            assert report.requests == 1, f"replica {r}: a quiet sync took {report.requests} requests"

        central = sqlite3.connect(self.central_db)
        try:
            decided = dict(central.execute("SELECT action_id, outcome FROM actions"))
            server = {
                tid: (unit, status)
                for tid, unit, status in central.execute("SELECT id, unit_id, status FROM tickets")
            }
            events = [row[0] for row in central.execute("SELECT data FROM events")]
        finally:
            central.close()
        for data in events:
            event = Event.model_validate_json(data)
            assert is_legal_event(event), f"illegal transition recorded: {event}"

        for r, (unit, _name) in enumerate(LIAISONS):
            replica = self.replicas[r]
            rejected = {c.action_id for c in replica.conflicts(open_only=False)}
            for action_id, owner in self.queued.items():
                if owner != r:
                    continue
                assert action_id in decided, f"action {action_id} of replica {r} was lost"
                assert decided[action_id] in ("applied", "rejected")
                assert (decided[action_id] == "rejected") == (action_id in rejected), action_id
            mine = set(replica.ids_matching(TicketQuery(view=View.ALL)))
            theirs = {tid for tid, (u, _s) in server.items() if u == unit}
            assert mine == theirs, f"replica {r} holds {sorted(mine ^ theirs)} wrongly"
            for tid in theirs:
                detail = replica.detail(tid)
                body = self._admin("GET", f"/v1/tickets/{tid}")["ticket"]
                got = detail.server_ticket.model_dump(mode="json")
                for key in ("status", "unit_id", "epoch", "revision", "reply", "flags", "counters"):
                    assert got[key] == body[key], (r, tid, key)
                assert detail.ticket.status.value == body["status"], (r, tid)


def test_sync_state_machine(central_template):
    SyncMachine.template = central_template
    run = SyncMachine.TestCase
    run.settings = settings(
        max_examples=int(os.environ.get("FYCLI_PROPERTY_EXAMPLES", "10")),
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        # CI: the same examples on every run, and no example database to carry between runs.
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        print_blob=True,
    )
    run().runTest()
