"""The central database's storage: migrating an older database keeps every ticket whole."""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from central.service import Service
from central.storage import repo
from central.storage.engine import MIGRATIONS, open_database
from schemas.ticket import liaison_copy
from tests.central.test_metrics_cli import _known_month


def test_migration_keeps_the_citizen_fields_the_mask_hides(tmp_path) -> None:
    _known_month(tmp_path / "new.db")  # tickets A, B, C, E, written by today's code
    new = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    with new.read.connect() as conn:
        rows = conn.execute(sa.select(repo.t.tickets.c.liaison_data, repo.t.tickets.c.citizen)).all()
    new.dispose()
    full = [repo.full_ticket(r.liaison_data, r.citizen) for r in rows]
    assert full and all(t.citizen_phone == "13812345678" for t in full)
    # The same tickets in a database of revision 0001 (full JSON and masked JSON side by side).
    old = open_database(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.write.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        for ticket in full:
            values = repo.ticket_values(ticket, 1, 1, None)
            del values["citizen"]
            values["data"] = ticket.model_dump_json()
            conn.execute(sa.table("tickets", *map(sa.column, values)).insert().values(values))
    old.dispose()
    service = Service(open_database(f"sqlite:///{tmp_path / 'old.db'}"))
    with service.db.read.connect() as conn:
        stored = {r.id: r for r in conn.execute(sa.select(repo.t.tickets))}
        columns = list(conn.execute(sa.text("SELECT * FROM tickets")).keys())
        assert "data" not in columns and "citizen" in columns
    for ticket in full:
        row = stored[ticket.id]
        assert repo.full_ticket(row.liaison_data, row.citizen) == ticket
        assert row.liaison_data == liaison_copy(ticket).model_dump_json()
        assert orjson.loads(service.ticket_json(ticket.id, None))["ticket"]["citizen_phone"] == "13812345678"
    service.db.dispose()
