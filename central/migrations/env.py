"""Alembic environment of the central database: run on a connection handed in by central.db."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, version_table="station_alembic_version", target_metadata=None
)
with context.begin_transaction():
    context.run_migrations()
