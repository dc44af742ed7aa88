"""Scope exits remember when they were written, so old ones can be pruned.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scope_exits", sa.Column("recorded_at", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scope_exits") as batch:
        batch.drop_column("recorded_at")
