"""Metrics on a known data set (also through `fycli central metrics`), the holiday calendar, seeding."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from central.batch import Batch
from central.seed import seed_service
from central.service import Service
from central.storage.engine import open_database
from schemas.actions import Accept, Assign, Base, RecordFeedback, Register, Resolve
from schemas.enums import Role
from schemas.workflow import Actor
from tests.servers import CentralServer, register_body

BJ = dt.timezone(dt.timedelta(hours=8))
CENTRAL = Actor(Role.CENTRAL, "平台")


def _at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, tzinfo=BJ)


def _do(svc: Service, action_cls, actor: Actor, at: dt.datetime, ticket_id: str, **fields) -> None:
    def work(conn) -> None:
        batch = Batch(conn, svc.work_calendar(conn))
        current = batch._slot(ticket_id).ticket
        common = {"ticket_id": ticket_id, "created_at": at}
        if current is not None and action_cls is not Register:
            common["base"] = Base(status=current.status, unit_id=current.unit_id, epoch=current.epoch)
        outcome = batch.decide(action_cls(**common, **fields), actor, at)
        assert outcome.outcome == "applied", outcome
        batch.flush()

    svc.write(work)


def _known_month(path) -> None:
    """March 2025 (no holidays; the 3rd is a Monday): sign-for due 3-04, handling due 3-10."""
    svc = Service(open_database(f"sqlite:///{path}"), clock=lambda: dt.datetime(2025, 4, 15, tzinfo=BJ))
    for unit in ("t1", "t2", "t3"):
        svc.add_unit({"id": unit, "name": f"{unit}镇", "kind": "township"})
    l1, l2 = Actor(Role.LIAISON, "甲", "t1"), Actor(Role.LIAISON, "乙", "t2")
    for ticket_id, unit in (("A", "t1"), ("B", "t1"), ("C", "t1"), ("E", "t2")):
        body = register_body(ticket_id)
        del body["kind"], body["ticket_id"], body["created_at"]
        _do(svc, Register, CENTRAL, _at(3, 9), ticket_id, **body)
        _do(svc, Assign, CENTRAL, _at(3, 9), ticket_id, unit_id=unit)
    _do(svc, Accept, l1, _at(4), "A")  # on time
    _do(svc, Resolve, l1, _at(7), "A", reply="已解决")  # on time
    _do(svc, RecordFeedback, CENTRAL, _at(8), "A", result="satisfied")
    _do(svc, Accept, l1, _at(5), "B")  # late
    _do(svc, Resolve, l1, _at(12), "B", reply="已解决")  # late
    _do(svc, RecordFeedback, CENTRAL, _at(13), "B", result="dissatisfied")  # reopened: not resolved
    _do(svc, Accept, l2, _at(3, 15), "E")
    _do(svc, Resolve, l2, _at(5), "E", reply="已解决")
    _do(svc, RecordFeedback, CENTRAL, _at(6), "E", result="basically_satisfied")
    svc.db.dispose()  # C: assigned, never signed for, overdue


def test_metrics_on_a_known_data_set(tmp_path) -> None:
    db = tmp_path / "known.db"
    _known_month(db)
    with CentralServer.start(tmp_path, f"sqlite:///{db}") as server:
        rows = {
            m["unit_id"]: m for m in server.admin("GET", "/v1/admin/metrics", params={"month": "2025-03"})
        }
        out = server.cli("--json", "metrics", "--month", "2025-03", "--unit", "t1").stdout
        text = server.cli("metrics", "--month", "2025-03").stdout
    t1, t2, t3 = rows["t1"], rows["t2"], rows["t3"]
    assert (t1["assigned"], t1["signed_on_time"], t1["due"], t1["resolved"], t1["evaluated"], t1["satisfied"]) == (
        3, 1, 3, 1, 2, 1)  # fmt: skip
    assert t1["response_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert t1["resolution_rate"] == t1["on_time_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert t1["satisfaction_rate"] == 0.5 and t1["rework_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert t1["return_rate"] == 0.0
    assert (t2["response_rate"], t2["resolution_rate"], t2["satisfaction_rate"]) == (1.0, 1.0, 1.0)
    assert (t2["rank"], t1["rank"], t3["rank"]) == (1, 2, None) and t1["peers"] == 2
    assert t3["due"] == 0 and t3["resolution_rate"] is None and t3["satisfaction_rate"] is None
    assert json.loads(out)[0]["unit_id"] == "t1"
    t3_line = next(line for line in text.splitlines() if line.startswith("t3"))
    assert "—" in t3_line and "100" not in t3_line


def test_calendar_reaches_clients_and_deadlines(central_server: CentralServer) -> None:
    s = central_server
    s.add_unit("t1")
    token = s.add_liaison("t1")
    today = dt.datetime.now(BJ).date()
    days_off = [
        today + dt.timedelta(days=i)
        for i in range(1, 12)
        if (today + dt.timedelta(days=i)).year == today.year
    ]
    with s.client(token) as c:
        first = c.get("/v1/sync/pull").json()
        assert first["calendar_version"] == 0
        version = s.admin("PUT", f"/v1/admin/calendar/{today.year}",
                          json={"year": today.year, "holidays": [d.isoformat() for d in days_off]})["calendar_version"]  # fmt: skip
        assert version == 1
        page = c.get("/v1/sync/pull", params={"cursor": first["cursor"], "calendar_version": 0}).json()
        assert page["calendar_version"] == 1 and page["calendar"][0]["year"] == today.year
        same = c.get("/v1/sync/pull", params={"cursor": page["cursor"], "calendar_version": 1}).json()
        assert same.get("calendar") is None
    [ticket_id] = s.register_and_assign("t1", 1)
    sign_due = dt.date.fromisoformat(s.ticket(ticket_id)["ticket"]["sign_due"])
    if days_off and days_off[-1].year == today.year and days_off[-1].month == 12 and days_off[-1].day > 20:
        return  # the end of the year: the next working day is in a year the table does not cover
    assert sign_due > days_off[-1]
    bad = s.http.put(f"/v1/admin/calendar/{today.year}", json={"year": today.year + 1})
    assert bad.status_code == 422


def test_seed_fills_units_and_every_status(tmp_path) -> None:
    svc = Service(open_database(f"sqlite:///{tmp_path / 'seed.db'}"))
    summary = seed_service(svc, 400, seed=7)
    assert summary["tickets"] == 400 and summary["units"] == 1 + 8 + sum(
        1 for u in svc.list_units() if u["kind"] == "township"
    )
    assert set(summary["by_status"]) == {"registered", "assigned", "in_progress", "return_requested",
                                         "resolved", "closed", "archived"}  # fmt: skip
    svc.db.dispose()


def test_seed_in_worker_processes_gives_the_same_data(tmp_path) -> None:
    """Chunks made by worker processes are written in order and equal the serial ones."""
    now = dt.datetime(2025, 6, 2, 10, tzinfo=BJ)
    dumps = []
    for name, workers in (("serial", 1), ("parallel", 2)):
        svc = Service(open_database(f"sqlite:///{tmp_path / name}.db"))
        seed_service(svc, 240, seed=3, now=now, county="颍上县", workers=workers, chunk=60, parallel_from=0)
        with svc.db.read.connect() as conn:
            tickets = conn.exec_driver_sql(
                "SELECT id, change_seq, liaison_data, citizen FROM tickets ORDER BY id"
            ).all()
            events = conn.exec_driver_sql("SELECT ticket_id, change_seq, data FROM events ORDER BY seq").all()
        svc.db.dispose()
        dumps.append((tickets, events))
    assert dumps[0] == dumps[1]
    tickets, events = dumps[0]
    assert [row.change_seq for row in tickets] == list(range(1, 241))
    assert {row.ticket_id for row in events} == {row.id for row in tickets}
