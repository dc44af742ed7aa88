"""The liaison's commands offline, on a replica file (no server, no config: ``--db``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from fycli import cli
from local_db.replica import Replica
from tests.local_db.factory import fixed_clock, make_pages, page, ticket_json

ME_UNIT = "U1"


@pytest.fixture
def db(tmp_path):
    from schemas.wire import Me

    path = tmp_path / "replica.db"
    with Replica.open(path, create=True, clock=fixed_clock) as r:
        r.set_identity(
            Me(liaison_id="L1", name="王", unit_id=ME_UNIT, unit_name="鼓楼街道", server_id="S"),
            "http://x.test",
        )
        r.apply_pull_page_raw(
            page([ticket_json("A1", status="assigned"), ticket_json("P1"), ticket_json("P2")])
        )
        for p in make_pages(120, page_size=60):
            r.apply_pull_page_raw(p)
    return path


def run(db, *args, code=0, input=None):
    result = CliRunner().invoke(
        cli, ["--config-dir", str(db.parent / "nocfg"), "--db", str(db), *args], input=input
    )
    assert result.exit_code == code, result.output
    return result


def test_list_filters_paging_and_json(db):
    everything = json.loads(run(db, "list", "--limit", "0", "--json").stdout)
    assert len(everything) == 123
    assert "key" not in everything[0]
    assigned = json.loads(run(db, "list", "--status", "assigned", "--limit", "0", "--json").stdout)
    assert assigned and all(r["status"] == "assigned" for r in assigned)
    first = json.loads(run(db, "list", "-n", "7", "--json").stdout)
    assert [r["id"] for r in first] == [r["id"] for r in everything[:7]]
    found = json.loads(run(db, "list", "--search", "路灯", "--json").stdout)
    assert any(r["id"] == "P1" for r in found)
    text = run(db, "list", "-n", "3")
    assert len(text.stdout.splitlines()) == 3 and "of 123 shown" in text.stderr
    run(db, "list", "--due-soon", "--overdue", code=2)


def test_show(db):
    detail = json.loads(run(db, "show", "P1", "--json").stdout)
    assert detail["ticket"]["id"] == "P1" and detail["in_scope"] is True
    assert "人民路路灯不亮" in run(db, "show", "P1").stdout
    missing = run(db, "show", "NOPE", code=1)
    assert "no ticket NOPE" in missing.stderr


def test_actions_status_and_undo(db):
    results = json.loads(run(db, "accept", "A1", "--json").stdout)
    assert results[0]["ok"] and results[0]["action_id"]
    run(db, "note", "P1", input="电话联系了\n")
    run(db, "extend", "P1", "--days", "3", "--reason", "需协调")
    run(db, "return", "P2", "--reason", "不属本镇")
    status = json.loads(run(db, "status", "--json").stdout)
    assert status["pending"] == 4 and status["unit_id"] == ME_UNIT
    undone = json.loads(run(db, "undo", "--last", "--json").stdout)
    assert undone["undone"] is True
    assert json.loads(run(db, "status", "--json").stdout)["pending"] == 3
    run(db, "undo", "no-such-action", code=1)
    run(db, "undo", code=2)


def test_close_ids_from_stdin_and_template_and_usage_errors(db):
    result = run(db, "close", "-", "--template", "fixed", "--json", input="P1, P2\n# comment\nNOPE\n", code=1)
    results = json.loads(result.stdout)
    assert [r["ticket_id"] for r in results] == ["P1", "P2", "NOPE"]
    assert [r["ok"] for r in results] == [True, True, False]
    assert "2 queued, 1 not queued" in result.stderr
    run(db, "close", "P1", code=2)  # no reply
    run(db, "close", "P1", "--reply", "x", "--template", "fixed", code=2)
    assert "no template" in run(db, "close", "P1", "--template", "nope", code=2).stderr
    run(db, "close", "--reply", "x", code=2)  # no ids


def test_conflicts_empty(db):
    assert json.loads(run(db, "conflicts", "--json").stdout) == []
    run(db, "conflicts", "resolve", "abc", code=2)  # no --reapply/--note/--drop


def test_foreign_database_is_refused_untouched(tmp_path):
    bogus = tmp_path / "x.db"
    bogus.write_bytes(b"this is not a database at all" * 100)
    before = bogus.read_bytes()
    result = CliRunner().invoke(cli, ["--db", str(bogus), "status"])
    assert result.exit_code == 1 and str(bogus) in result.stderr
    assert bogus.read_bytes() == before


def test_status_check_finds_damage_and_says_what_to_do(tmp_path, db):
    from tests.local_db.test_open import _damage_table

    assert json.loads(run(db, "status", "--check", "--json").stdout)["check"] == []
    _damage_table(db, "tickets")
    result = CliRunner().invoke(cli, ["--db", str(db), "status", "--check"])
    assert result.exit_code == 1
    assert "is damaged" in result.stderr and "fycli init --force" in result.stderr
