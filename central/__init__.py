"""The central side: PostgreSQL schema, batch apply, change feed, sync service, CLI."""
