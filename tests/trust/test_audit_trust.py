"""An audit trail you can trust (issue 10, finding 7).

The address in an audit row comes from the TCP peer unless that peer is a proxy the operator
named (`fycli serve --trusted-proxy`); by default no proxy is trusted, so a client that writes
its own `X-Forwarded-For` cannot put a made-up address in the audit. A liaison's rows carry
their liaison id: two liaisons with the same name can be told apart.
"""

from __future__ import annotations

import httpx

from tests.servers import CentralServer, liaison_action, push_body

SPOOFED = "6.6.6.6"


def _add_unit_as(server: CentralServer, unit_id: str, *, local_address: str = "127.0.0.1") -> None:
    """Add a unit through a client bound to ``local_address`` that claims to be SPOOFED."""
    transport = httpx.HTTPTransport(local_address=local_address)
    with httpx.Client(base_url=server.url, transport=transport, timeout=30.0) as http:
        response = http.post(
            "/v1/admin/units",
            json={"id": unit_id, "name": f"{unit_id} 人民政府", "kind": "township"},
            headers={"Authorization": f"Bearer {server.admin_token}", "X-Forwarded-For": SPOOFED},
        )
        assert response.status_code == 201, response.text


def _audit_addr(server: CentralServer, target: str) -> str:
    rows = server.admin("GET", "/v1/admin/audit", params={"target": target})
    assert len(rows) == 1, rows
    return rows[0]["remote_addr"]


def test_a_loopback_client_cannot_spoof_its_address_by_default(central_server):
    _add_unit_as(central_server, "u-spoof")
    assert _audit_addr(central_server, "u-spoof") == "127.0.0.1"


def test_forwarded_for_is_believed_only_from_a_configured_proxy(tmp_path):
    # The proxy is 127.0.0.2; a client on 127.0.0.3 writing its own header is not believed.
    env = {"FYCLI_TRUSTED_PROXY": "127.0.0.2"}
    with CentralServer.start(tmp_path, env=env) as server:
        _add_unit_as(server, "u-proxy", local_address="127.0.0.2")
        _add_unit_as(server, "u-other", local_address="127.0.0.3")
        assert _audit_addr(server, "u-proxy") == SPOOFED
        assert _audit_addr(server, "u-other") == "127.0.0.3"


def test_trusted_proxy_option_takes_several_and_a_network(tmp_path):
    with CentralServer.start(tmp_path, extra_args=["--trusted-proxy", "10.0.0.0/8",
                                                   "--trusted-proxy", "127.0.0.2"]) as server:  # fmt: skip
        _add_unit_as(server, "u-proxy", local_address="127.0.0.2")
        _add_unit_as(server, "u-direct", local_address="127.0.0.1")
        assert _audit_addr(server, "u-proxy") == SPOOFED
        assert _audit_addr(server, "u-direct") == "127.0.0.1"


def test_audit_tells_two_liaisons_of_the_same_name_apart(central_server):
    server = central_server
    server.add_unit("t1")
    tokens = [server.add_liaison("t1", name="王伟"), server.add_liaison("t1", name="王伟")]
    ids = []
    (ticket_id,) = server.register_and_assign("t1", 1)
    for n, token in enumerate(tokens):
        with server.client(token) as http:
            ids.append(http.get("/v1/me").json()["liaison_id"])
            ticket = http.get(f"/v1/tickets/{ticket_id}").json()["ticket"]
            note = liaison_action("note", ticket, text=f"第{n}次联系群众")
            pushed = http.post("/v1/sync/push", json=push_body(f"client-{n}", [note]))
            assert pushed.status_code == 200, pushed.text
    assert ids[0] != ids[1]
    rows = [r for r in server.admin("GET", "/v1/admin/audit", params={"target": ticket_id})
            if r["role"] == "liaison"]  # fmt: skip
    assert sorted((r["actor"], r["actor_id"]) for r in rows) == sorted([("王伟", ids[0]), ("王伟", ids[1])])


def test_admin_rows_name_the_admin(central_server):
    central_server.add_unit("t2")
    rows = central_server.admin("GET", "/v1/admin/audit", params={"target": "t2"})
    assert [(r["actor"], r["actor_id"]) for r in rows] == [("admin", "admin")]


def test_a_wrong_trusted_proxy_is_refused_with_what_to_give(tmp_path):
    from click.testing import CliRunner

    from central.cli import serve

    db = tmp_path / "c.db"
    result = CliRunner().invoke(serve, ["--db", f"sqlite:///{db}", "--trusted-proxy", "nginx-host"])
    assert result.exit_code == 2
    assert "'nginx-host' is not an IP address or network" in result.output
    assert not db.exists()  # refused before anything was created
