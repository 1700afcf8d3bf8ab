"""central: change-feed triggers with one static function per table and operation

The first version had one trigger function for every table that built its INSERT with EXECUTE
format(...): PostgreSQL parsed and planned that statement again on every firing, once per
statement that wrote a shared table (several per pushed batch). A static statement in a
per-table function is planned once per session and its plan reused.

Revision ID: c0002
Revises: c0001
Create Date: 2026-11-23 06:00:00
"""

from importlib import import_module

from alembic import op

revision = "c0002"
down_revision = "c0001"
branch_labels = None
depends_on = None

# The tables c0001 put triggers on, with their names in the feed and key columns.
_FIRST = import_module("central.migrations.versions.0001_central_station_tables")
FEED_TABLES: tuple[tuple[str, str, str], ...] = _FIRST.FEED_TABLES

_REFERENCING = {
    "insert": "NEW TABLE AS new_rows",
    "update": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
    "delete": "OLD TABLE AS old_rows",
}


def _capture_sql(name: str, key: str, op_name: str) -> str:
    if op_name == "insert":
        return f"INSERT INTO station_feed (tbl, key) SELECT '{name}', {key} FROM new_rows;"
    if op_name == "update":
        return (
            f"INSERT INTO station_feed (tbl, key) SELECT '{name}', k FROM "
            f"(SELECT {key} AS k FROM new_rows UNION SELECT {key} FROM old_rows) keys;"
        )
    # password hashes never go into the feed (stations may read it)
    return (
        f"INSERT INTO station_feed (tbl, key, old) "
        f"SELECT '{name}', {key}, to_jsonb(o) - 'password_hash' FROM old_rows o;"
    )


def _function_name(table: str, op_name: str) -> str:
    return f"station_feed_{table.strip(chr(34))}_{op_name}_fn"


def upgrade() -> None:
    parts = []
    for table, name, key in FEED_TABLES:
        short = table.strip('"')
        for op_name, ref in _REFERENCING.items():
            fn = _function_name(table, op_name)
            parts.append(
                f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger "
                f"LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$ "
                f"BEGIN {_capture_sql(name, key, op_name)} RETURN NULL; END $fn$;"
                f"REVOKE ALL ON FUNCTION {fn}() FROM PUBLIC;"
                f"DROP TRIGGER IF EXISTS station_feed_{short}_{op_name} ON {table};"
                f"CREATE TRIGGER station_feed_{short}_{op_name} AFTER {op_name.upper()} ON {table} "
                f"REFERENCING {ref} FOR EACH STATEMENT EXECUTE FUNCTION {fn}();"
            )
    parts.append("DROP FUNCTION IF EXISTS station_feed_capture();")
    _run("\n".join(parts))


def downgrade() -> None:
    parts = [_FIRST.CAPTURE_DDL]
    for table, _name, _key in FEED_TABLES:
        short = table.strip('"')
        for op_name in _REFERENCING:
            parts.append(f"DROP TRIGGER IF EXISTS station_feed_{short}_{op_name} ON {table};")
            parts.append(f"DROP FUNCTION IF EXISTS {_function_name(table, op_name)}();")
    parts.append(_FIRST._trigger_ddl())
    _run("\n".join(parts))


def _run(sql: str) -> None:
    # the DBAPI cursor without parameters, so '%' in the SQL needs no escaping
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()
