"""Retired liaison tokens (revoked, or replaced by a new one), so a refusal can say why.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retired_tokens",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("liaison_id", sa.String(length=64), nullable=False),
        sa.Column("why", sa.String(length=16), nullable=False),
        sa.Column("retired_at", sa.String(length=40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retired_tokens")
