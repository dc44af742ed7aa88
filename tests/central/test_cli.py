"""`fycli central …` against a real `fycli serve` over real HTTP: the commands run in this
process (click's runner), one smoke test starts a real `fycli central` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.servers import REPO, CentralServer


def _token(out: str) -> str:
    return out.split("token (shown once): ")[1].strip()


def test_central_commands_drive_a_real_server(central_server: CentralServer) -> None:
    s = central_server
    assert "added unit t9" in s.cli("add-unit", "t9", "九龙镇人民政府", "--county", "颍州区", "--township",
                                    "九龙镇").stdout  # fmt: skip
    token = _token(s.cli("add-liaison", "张三", "--unit", "t9").stdout)
    with s.client(token) as c:
        assert c.get("/v1/me").json()["unit_id"] == "t9"
    s.cli("register", "CLI-1", "--title", "路灯不亮", "--county", "颍州区", "--township", "九龙镇",
          "--phone", "13900001111")  # fmt: skip
    assert "applied" in s.cli("assign", "CLI-1", "--unit", "t9").stdout
    s.cli("urge", "CLI-1", "--comment", "尽快")
    s.cli("supervise", "CLI-1", "--listed")
    refused = json.loads(s.cli("--json", "reassign", "CLI-1", "--unit", "t9", code=1).stdout)  # same unit
    assert refused["reason"] == "INVALID"
    flags = s.ticket("CLI-1")["ticket"]["flags"]
    assert flags["urged"] == 1 and flags["listed"]
    assert "t9\ttownship\t九龙镇人民政府" in s.cli("units").stdout
    seeded = json.loads(s.cli("--json", "seed", "60", "--county", "颍上县").stdout)
    assert seeded["tickets"] == 60
    wrong = s.cli("units", token="wrong", code=4)
    assert "admin token" in wrong.stderr


def test_revoked_and_rotated_tokens_are_refused_at_once(central_server: CentralServer) -> None:
    s = central_server
    s.add_unit("t1")
    s.cli("add-liaison", "李四", "--unit", "t1", "--id", "l-lisi")
    first = _token(s.cli("add-liaison", "王五", "--unit", "t1", "--id", "l-wangwu").stdout)
    [ticket_id] = s.register_and_assign("t1", 1)
    with s.client(first) as c:
        assert c.get("/v1/me").status_code == 200
        assert "revoked" in s.cli("revoke-liaison", "l-wangwu").stdout
        for method, path in (
            ("GET", "/v1/me"),
            ("GET", "/v1/sync/pull"),
            ("GET", f"/v1/tickets/{ticket_id}"),
        ):
            refused = c.request(method, path)
            assert refused.status_code == 401 and refused.json()["message"].startswith("token revoked"), path
        pushed = c.post("/v1/sync/push", json={"client_id": "c1", "actions": []})
        assert pushed.status_code == 401 and "token revoked" in pushed.json()["message"]
    assert "already revoked" in s.cli("revoke-liaison", "l-wangwu").stdout
    listed = {r["id"]: r for r in json.loads(s.cli("liaisons", "--json", "--unit", "t1").stdout)}
    assert (listed["l-wangwu"]["active"], listed["l-lisi"]["active"]) == (False, True)
    assert "l-wangwu\tt1\trevoked\t王五" in s.cli("liaisons").stdout
    # A new token brings the revoked liaison back; rotating again retires that one too.
    second = _token(s.cli("rotate-token", "l-wangwu").stdout)
    third = json.loads(s.cli("rotate-token", "l-wangwu", "--json").stdout)["token"]
    assert len({first, second, third}) == 3
    with s.client(third) as c:
        assert c.get("/v1/me").json()["liaison_id"] == "l-wangwu"
    for old in (first, second):
        with s.client(old) as c:
            refused = c.get("/v1/me")
            assert refused.status_code == 401 and refused.json()["message"].startswith("token revoked")
    with s.client("fyl_never_issued") as c:
        unknown = c.get("/v1/me").json()["message"]
        assert "revoked" not in unknown and "wrong" in unknown
    missing = s.cli("revoke-liaison", "l-nobody", code=1)
    assert "no liaison l-nobody" in missing.stderr
    s.cli("rotate-token", "l-nobody", code=1)


def test_audit_shows_who_did_what_to_a_ticket(central_server: CentralServer) -> None:
    s = central_server
    s.add_unit("t1")
    token = _token(s.cli("add-liaison", "赵六", "--unit", "t1", "--id", "l-zhao").stdout)
    [ticket_id] = s.register_and_assign("t1", 1, prefix="AUD")
    s.cli("urge", ticket_id, "--comment", "尽快")
    with s.client(token) as c:
        c.post("/v1/sync/push", json={"client_id": "laptop-1", "actions": [{"seq": 1, "action": {
            "kind": "accept", "action_id": "a" * 32, "ticket_id": ticket_id, "created_at": "2025-06-03T09:00:00+08:00",
            "base": {"status": "assigned", "unit_id": "t1", "epoch": 1}}}]}).raise_for_status()  # fmt: skip
    s.cli("revoke-liaison", "l-zhao")
    rows = json.loads(s.cli("audit", "--ticket", ticket_id, "--json").stdout)
    assert [r["what"] for r in rows] == [
        "accept:applied",
        "urge:applied",
        "assign:applied",
        "register:applied",
    ]
    accept = rows[0]
    assert (accept["actor"], accept["role"], accept["client_id"], accept["remote_addr"]) == (
        "赵六", "liaison", "laptop-1", "127.0.0.1")  # fmt: skip
    text = s.cli("audit", "--ticket", ticket_id).stdout.splitlines()
    assert len(text) == 4 and "register:applied" in text[0] and "client laptop-1" in text[-1]
    assert len(s.cli("audit", "--limit", "2").stdout.splitlines()) == 2
    assert "revoke_liaison" in s.cli("audit", "--limit", "1").stdout
    assert "revoke_liaison" in s.cli("audit", "--target", "l-zhao").stdout
    assert "no audit rows for NOPE" in s.cli("audit", "--ticket", "NOPE").stdout
    s.cli("audit", "--limit", "0", code=2)


def test_a_real_fycli_central_process_talks_to_the_server(central_server: CentralServer) -> None:
    """Smoke: the installed entry point, in its own process, with the token from the env."""
    s = central_server
    s.add_unit("t1")
    result = subprocess.run(
        [sys.executable, "-m", "fycli", "central", "--server", s.url, "add-liaison", "钱七", "--unit", "t1"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "FYCLI_ADMIN_TOKEN": s.admin_token},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with s.client(_token(result.stdout)) as c:
        assert c.get("/v1/me").json()["name"] == "钱七"
    refused = subprocess.run(
        [sys.executable, "-m", "fycli", "central", "--server", s.url, "--admin-token", "wrong", "units"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 4 and "admin token" in refused.stderr
