"""Alembic environment: migrations run programmatically on the connection the service hands in.

``central.storage.engine.migrate`` puts the connection in ``config.attributes["connection"]``;
no alembic.ini is needed on the user's machine.
"""

from alembic import context

from central.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
