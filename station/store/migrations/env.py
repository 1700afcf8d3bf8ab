"""Alembic environment of the local store: always run on a connection handed in by station.store.db."""

from alembic import context

from station.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
