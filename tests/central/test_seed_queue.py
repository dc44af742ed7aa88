"""The seeded queue looks like a real working day at ``now`` (what `fycli demo` shows)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter

import pytest

from central.seed import seed_service
from central.seed_data import generate_appeals
from central.service import Service
from central.storage.engine import open_database
from schemas.calendar import BEIJING, WorkCalendar, beijing_date

OPEN_WITH_DUE = {"assigned": "sign_due", "in_progress": "handle_due", "return_requested": "handle_due"}
FINISHED = ("resolved", "closed", "archived")


def _queue(tmp_path, now: dt.datetime) -> tuple[Counter, Counter, list[dt.datetime]]:
    """Seed one township at ``now``; returns (view counts, working days left of 待签收, event times)."""
    svc = Service(open_database(f"sqlite:///{tmp_path / 'seed.db'}"), clock=lambda: now)
    seed_service(svc, 300, seed=7, county="颍州区", township="西湖镇")
    with svc.db.read.connect() as conn:
        rows = conn.exec_driver_sql("SELECT status, sign_due, handle_due FROM tickets").all()
        times = [dt.datetime.fromisoformat(json.loads(d)["at"]) for (d,) in conn.exec_driver_sql(
            "SELECT data FROM events")]  # fmt: skip
    svc.db.dispose()
    calendar = WorkCalendar()
    today = beijing_date(now)
    soon = calendar.add_working_days(today, 1).due
    views: Counter = Counter()
    sign_left: Counter = Counter()
    for status, sign_due, handle_due in rows:
        views["resolved" if status in FINISHED else status] += 1
        column = OPEN_WITH_DUE.get(status)
        if column is None:
            continue
        views["open"] += 1
        due = dt.date.fromisoformat(sign_due if column == "sign_due" else handle_due)
        views["overdue" if due < today else "due_soon" if due <= soon else "later"] += 1
        if status == "assigned":
            sign_left[calendar.working_days_left(today, due)] += 1
    return views, sign_left, times


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2025, 6, 10, 16, 0, tzinfo=BEIJING),  # a Tuesday afternoon
        dt.datetime(2025, 6, 9, 7, 0, tzinfo=BEIJING),  # a Monday before office hours
        dt.datetime(2025, 6, 7, 10, 0, tzinfo=BEIJING),  # a Saturday
    ],
    ids=["tuesday", "monday-early", "saturday"],
)
def test_seeded_township_queue_is_a_working_day(tmp_path, now: dt.datetime) -> None:
    views, sign_left, times = _queue(tmp_path, now)
    # A handful overdue (5-10% of the open tickets), not a third of the queue.
    assert 0.04 * views["open"] <= views["overdue"] <= 0.10 * views["open"], views
    # 待签收 were assigned in the last working days: due for signing today or the next working day.
    assert views["assigned"] >= 15 and sum(n for left, n in sign_left.items() if left in (0, 1)) >= 0.9 * views[
        "assigned"], sign_left  # fmt: skip
    assert views["due_soon"] >= 0.25 * views["open"], views
    assert views["resolved"] > views["open"] * 0.8, views
    assert max(times) <= now, "no event happens after now"


def test_description_and_address_name_the_same_village_group() -> None:
    seen = 0
    for appeal in generate_appeals(random.Random(5), 5000):
        if "组的电线杆" in appeal["description"]:
            group = appeal["description"].split(appeal["village"], 1)[1].split("组", 1)[0]
            assert appeal["address"].endswith(f"{appeal['village']}{group}组"), appeal
            seen += 1
    assert seen > 3
