"""The local SQLite store: schema, opening (checks, pragmas, migrations) and errors."""
