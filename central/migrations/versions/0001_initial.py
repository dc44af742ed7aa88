"""The central database as first released: units, liaisons, tickets and their history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("action_id", sa.String(length=64), nullable=False),
        sa.Column("liaison_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("client_seq", sa.BigInteger(), nullable=True),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("action_id"),
    )
    op.create_index("ix_actions_liaison", "actions", ["liaison_id", "client_id"], unique=False)
    op.create_table(
        "audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit", ["at"], unique=False)
    op.create_table(
        "calendar",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "client_acks",
        sa.Column("liaison_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("liaison_id", "client_id"),
    )
    op.create_table(
        "counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("v", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "events",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_events_ticket_seq", "events", ["ticket_id", "change_seq"], unique=False)
    op.create_index("ix_events_unit_at", "events", ["unit_id", "at"], unique=False)
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "notes",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_notes_ticket_seq", "notes", ["ticket_id", "change_seq"], unique=False)
    op.create_table(
        "scope_exits",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scope_exits_unit_seq", "scope_exits", ["unit_id", "change_seq"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("scope_since", sa.BigInteger(), nullable=False),
        sa.Column("county", sa.String(length=200), nullable=False),
        sa.Column("township", sa.String(length=200), nullable=False),
        sa.Column("assigned_on", sa.String(length=10), nullable=True),
        sa.Column("accepted_on", sa.String(length=10), nullable=True),
        sa.Column("sign_due", sa.String(length=10), nullable=True),
        sa.Column("handle_due", sa.String(length=10), nullable=True),
        sa.Column("resolved_on", sa.String(length=10), nullable=True),
        sa.Column("satisfaction", sa.String(length=24), nullable=True),
        sa.Column("reworks", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.String(length=40), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("liaison_data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tickets_assigned_on", "tickets", ["assigned_on"], unique=False)
    op.create_index("ix_tickets_handle_due", "tickets", ["handle_due"], unique=False)
    op.create_index("ix_tickets_unit_seq", "tickets", ["unit_id", "change_seq"], unique=False)
    op.create_table(
        "units",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("county", sa.String(length=200), nullable=True),
        sa.Column("township", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "liaisons",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.execute("INSERT INTO counter (id, v) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("liaisons")
    op.drop_table("units")
    op.drop_index("ix_tickets_unit_seq", table_name="tickets")
    op.drop_index("ix_tickets_handle_due", table_name="tickets")
    op.drop_index("ix_tickets_assigned_on", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_scope_exits_unit_seq", table_name="scope_exits")
    op.drop_table("scope_exits")
    op.drop_index("ix_notes_ticket_seq", table_name="notes")
    op.drop_table("notes")
    op.drop_table("meta")
    op.drop_index("ix_events_unit_at", table_name="events")
    op.drop_index("ix_events_ticket_seq", table_name="events")
    op.drop_table("events")
    op.drop_table("counter")
    op.drop_table("client_acks")
    op.drop_table("calendar")
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_index("ix_actions_liaison", table_name="actions")
    op.drop_table("actions")
