"""Notes and events indexed by commit number: a pull page reads the history stamped in its
commit range without walking every ticket of the unit changed after the cursor.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notes_seq", "notes", ["change_seq"])
    op.create_index("ix_events_seq", "events", ["change_seq"])


def downgrade() -> None:
    op.drop_index("ix_events_seq", table_name="events")
    op.drop_index("ix_notes_seq", table_name="notes")
