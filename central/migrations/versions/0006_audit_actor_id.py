"""Audit rows record who acted by id as well as by name: two liaisons both called 王伟 can be
told apart (the liaison's id; "admin" for the admin token). Older rows keep NULL.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit", sa.Column("actor_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("actor_id")
