"""Note and event ids up to 80 characters, server starts (restore detection for cursors), what a unit saw of a ticket when it left it,
and the rate limits' token buckets.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":  # SQLite does not enforce lengths
        # Server-made note ids (a kept reply: "<action id>:reply") are longer than 64.
        for table in ("notes", "events"):
            op.alter_column(table, "id", type_=sa.String(length=80), existing_nullable=False)
    op.create_table(
        "boots",
        sa.Column("start_seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("started_at", sa.String(length=40), nullable=False),
    )
    op.create_table(
        "departures",
        sa.Column("ticket_id", sa.String(length=40), primary_key=True),
        sa.Column("unit_id", sa.String(length=64), primary_key=True),
        sa.Column("history_seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
    )
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=100), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_table("departures")
    op.drop_table("boots")
