"""Store each ticket's JSON once: the liaison's masked copy plus the citizen fields it hides
(``citizen``) instead of a second full copy; a covering index for the metrics and a partial one of the return requests.

Revision ID: 0002
Revises: 0001
"""

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_FIELDS = ("citizen_phone", "citizen_name")
_BATCH = 2000
#: A covering index for the metrics (frozen here: later revisions change it by migrating).
_METRICS_COLUMNS = ("unit_id", "handle_due", "assigned_on", "accepted_on", "sign_due", "resolved_on",
                    "satisfaction", "reworks")  # fmt: skip


def upgrade() -> None:
    op.add_column("tickets", sa.Column("citizen", sa.Text(), nullable=True))
    conn = op.get_bind()
    last = ""
    while True:  # keyset batches: a big table is never held in memory at once
        rows = conn.execute(
            sa.text(
                "SELECT id, data FROM tickets WHERE id > :last AND data <> liaison_data ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            full = orjson.loads(row.data)
            updates.append({"c": orjson.dumps({f: full.get(f) for f in _FIELDS}).decode(), "i": row.id})
        conn.execute(sa.text("UPDATE tickets SET citizen = :c WHERE id = :i"), updates)
        last = rows[-1].id
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("data")
    op.create_index("ix_tickets_unit_metrics", "tickets", list(_METRICS_COLUMNS))
    returns = sa.text("action = 'request_return'")
    op.create_index("ix_events_returns", "events", ["unit_id", "at"], sqlite_where=returns,
                    postgresql_where=returns)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_events_returns", table_name="events")
    op.drop_index("ix_tickets_unit_metrics", table_name="tickets")
    op.add_column("tickets", sa.Column("data", sa.Text(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, liaison_data, citizen FROM tickets")).all()
    for row in rows:
        full = {**orjson.loads(row.liaison_data), **orjson.loads(row.citizen or "{}")}
        conn.execute(
            sa.text("UPDATE tickets SET data = :d WHERE id = :i"),
            {"d": orjson.dumps(full).decode(), "i": row.id},
        )
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("citizen")
