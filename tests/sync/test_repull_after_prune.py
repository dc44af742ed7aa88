"""A clean re-pull after `fycli central prune` completes at any size and keeps the outbox
(issue 9, defect 4), end to end: a real `fycli serve`, real replicas driven through `fycli`.

Before the fix the first page of a pull from scratch answered a cursor below
``min_retained_seq``, so the next page was told to reset again: a unit bigger than one page
could never finish a pull after a prune.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from central.cli import central
from fycli import EXIT_OK, cli
from tests.servers import CentralServer


def _fycli(config_dir: Path, *args: str, code: int = EXIT_OK) -> Result:
    result = CliRunner().invoke(cli, ["--config-dir", str(config_dir), *args])
    assert result.exit_code == code, f"fycli {' '.join(args)} → {result.exit_code}\n{result.output}"
    return result


def _liaison(tmp_path: Path, server: CentralServer, unit_id: str, name: str, page_limit: int | None) -> Path:
    """A liaison's config dir made by `fycli init`, with ``page_limit`` in its config.toml."""
    directory = tmp_path / name
    token_file = tmp_path / f"{name}.token"
    token_file.write_text(server.add_liaison(unit_id, name) + "\n")
    token_file.chmod(0o600)
    _fycli(directory, "init", "--server", server.url, "--token-file", str(token_file), "--json")
    if page_limit is not None:
        with (directory / "config.toml").open("a", encoding="utf-8") as fh:
            fh.write(f"page_limit = {page_limit}\n")
    return directory


def _sync(directory: Path) -> dict:
    return json.loads(_fycli(directory, "sync", "--json").stdout)


def _ticket_ids(directory: Path) -> set[str]:
    with sqlite3.connect(directory / "replica.db") as conn:
        return {row[0] for row in conn.execute("SELECT id FROM tickets")}


def _prune(server: CentralServer) -> None:
    out = json.loads(server.cli("--json", "prune", "--older-than", "0").stdout)
    assert out["deleted"] >= 1, out


def test_existing_replica_with_small_pages_repulls_everything_and_keeps_its_outbox(tmp_path):
    with CentralServer.start(tmp_path) as server:
        server.add_unit("t1")
        server.add_unit("t2")
        ids = server.register_and_assign("t1", 31)
        me = _liaison(tmp_path, server, "t1", "甲", page_limit=10)
        assert _sync(me)["pulled_tickets"] == 31
        server.act(ids[0], "reassign", unit_id="t2")  # a scope exit the replica has not pulled
        _prune(server)  # ... and then forgotten: the replica's cursor is expired
        _fycli(me, "note", ids[5], "-t", "离线时记下的")  # unsent work the re-pull must keep
        report = _sync(me)
        assert report["resets"] == 1
        assert report["errors"] == []
        assert _ticket_ids(me) == set(ids[1:])  # 30 tickets, not the first page's 10
        notes = server.ticket(ids[5])["notes"]
        assert [n["text"] for n in notes if n["text"] == "离线时记下的"] == ["离线时记下的"]
        assert _sync(me)["resets"] == 0  # and the next sync goes on incrementally


def test_new_liaison_of_a_seeded_township_bigger_than_a_page_pulls_it_all(tmp_path):
    db = tmp_path / "central.db"
    seeded = CliRunner().invoke(
        central,
        ["seed", "1500", "--db", f"sqlite:///{db}", "--township", "西湖镇", "--json"],
    )
    assert seeded.exit_code == 0, seeded.output
    with sqlite3.connect(db) as conn:
        (unit_id, held), *_ = conn.execute(
            "SELECT unit_id, count(*) FROM tickets WHERE unit_id IS NOT NULL GROUP BY unit_id "
            "ORDER BY 2 DESC LIMIT 1"
        ).fetchall()
        (away,) = conn.execute(
            "SELECT id FROM tickets WHERE unit_id = ? AND status = 'assigned' LIMIT 1", (unit_id,)
        ).fetchone()
        (other,) = conn.execute("SELECT id FROM units WHERE id != ? LIMIT 1", (unit_id,)).fetchone()
    assert held > 1000  # more than one default page (the defect needs that)
    with CentralServer.start(tmp_path, f"sqlite:///{db}") as server:
        server.act(away, "reassign", unit_id=other)
        _prune(server)
        me = _liaison(tmp_path, server, unit_id, "新联络员", page_limit=None)
        report = _sync(me)
        assert report["errors"] == []
        assert len(_ticket_ids(me)) == held - 1
        assert away not in _ticket_ids(me)
