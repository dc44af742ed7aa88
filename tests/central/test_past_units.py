"""A unit a ticket left sees it as it was when it left: masked, read-only (issue 10, finding 6).

End to end: a real ``fycli serve``, liaison replicas driven through the ``fycli`` commands, and
the liaison's own HTTP reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fycli import EXIT_CONFLICTS
from tests.servers import CentralServer, liaison_action, push_body
from tests.test_cli_e2e import Liaison

PHONE, MASKED = "13812345678", "138****5678"


@pytest.fixture
def moved(tmp_path: Path, central_server: CentralServer):
    """A call-back ticket held by unit A (a note of A's on it), then reassigned to B, where
    liaison 乙 adds a note. Yields the server, A's and B's replicas and the ticket id."""
    s = central_server
    s.add_unit("ua", "王店镇人民政府")
    s.add_unit("ub", "西湖镇人民政府")
    tid = "CB-00001"
    s.register(tid, needs_callback=True)
    assert s.act(tid, "assign", unit_id="ua")["outcome"] == "applied"
    a, b = Liaison(tmp_path, s, "ua", "甲"), Liaison(tmp_path, s, "ub", "乙")
    a.sync()
    a.run("accept", tid)
    a.run("note", tid, "--text", "甲：已联系反映人")
    a.sync()
    assert a.show(tid)["ticket"]["citizen_phone"] == PHONE  # a call back is due: A may call
    assert s.act(tid, "reassign", unit_id="ub", reason="属西湖镇辖区")["outcome"] == "applied"
    b.sync()
    b.run("note", tid, "--text", "乙：已到现场")
    b.sync()
    s.act(tid, "urge", comment="请尽快办理")
    return s, a, b, tid


def _read_as(server: CentralServer, liaison: Liaison, tid: str) -> dict:
    token = (liaison.dir.parent / f"{liaison.dir.name}.token").read_text().strip()
    with server.client(token) as client:
        response = client.get(f"/v1/tickets/{tid}")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_unit_it_left_reads_it_as_it_left_masked(moved) -> None:
    s, a, b, tid = moved
    seen = _read_as(s, a, tid)
    ticket = seen["ticket"]
    # the moment it left: just reassigned (where to, and no more), before B's note and the urge
    assert (ticket["unit_id"], ticket["status"], ticket["flags"]["urged"]) == ("ub", "assigned", 0)
    assert ticket["citizen_phone"] == MASKED and ticket["citizen_name"] == "王**"
    assert [n["text"] for n in seen["notes"]] == ["甲：已联系反映人"]  # not B's
    assert [e["action"] for e in seen["events"]] == ["register", "assign", "accept", "reassign"]
    assert "乙" not in str(seen) and PHONE not in str(seen)
    # B, holding it, sees it now — the call back is B's to make
    now = _read_as(s, b, tid)
    assert (now["ticket"]["unit_id"], now["ticket"]["citizen_phone"]) == ("ub", PHONE)
    assert [n["text"] for n in now["notes"]] == ["甲：已联系反映人", "乙：已到现场"]


def test_a_note_from_the_unit_it_left_is_refused_and_kept_in_its_inbox(moved) -> None:
    s, a, b, tid = moved
    a.run("note", tid, "--text", "甲：补充说明")
    report = a.sync(code=EXIT_CONFLICTS)
    assert (report["applied"], report["rejected"]) == (0, 1)
    (conflict,) = a.json("conflicts")
    assert conflict["reason"] == "REASSIGNED" and "甲：补充说明" in conflict["action_json"]
    assert conflict["server_ticket"]["flags"]["urged"] == 0  # as it left: nothing since
    b.sync()
    assert [n["text"] for n in b.show(tid)["notes"]] == ["甲：已联系反映人", "乙：已到现场"]
    assert "甲：补充说明" not in str(s.ticket(tid)["notes"])


def test_a_push_result_shows_the_unit_it_left_nothing_of_now(moved) -> None:
    s, a, _, tid = moved
    token = (a.dir.parent / f"{a.dir.name}.token").read_text().strip()
    stale = {"id": tid, "status": "in_progress", "unit_id": "ua", "epoch": 1}
    with s.client(token) as client:
        body = push_body("client-past0001", [liaison_action("resolve", stale, reply="已办结")])
        [result] = client.post("/v1/sync/push", json=body).json()["results"]
    assert (result["outcome"], result["reason"]) == ("rejected", "REASSIGNED")
    # the ticket as it left (where it went), nothing of what happened since, nor who did it
    assert (result["ticket"]["unit_id"], result["ticket"]["flags"]["urged"]) == ("ub", 0)
    assert result["ticket"]["citizen_phone"] == MASKED and result["ticket"]["reply"] is None
    assert (result["changed_by"], result["changed_at"]) == (None, None)
