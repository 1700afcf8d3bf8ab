"""central: the change feed tells stations the old name of a renamed user or bag type

Stations keep operators by user name and bag types by name. An update at the centre put only
the row's id in the feed, so a user renamed there (a spelling put right, a case changed) reached
the stations under the new name while the old one stayed, and still logged in there with the
old password; events recorded under it were then refused at the centre as an unknown operator.
A bag type renamed at the centre stayed under both names. The update triggers of "user" and
station_bag_types now also record, for each row whose name changed, its old name (nothing
else: never a password hash), and the feed deletes it at the stations.

Revision ID: c0004
Revises: c0003
Create Date: 2026-12-01 19:10:00
"""

from importlib import import_module

from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None

_SECOND = import_module("central.migrations.versions.0002_static_feed_triggers")

_PINNED = "SET search_path = public, pg_temp"

# table, its name in the feed, the column stations key it by
RENAMED = (('"user"', "user", "username"), ("station_bag_types", "bag_type", "name"))


def _function(table: str, name: str, column: str, with_old_names: bool) -> str:
    capture = (
        f"INSERT INTO station_feed (tbl, key) SELECT '{name}', k FROM "
        f"(SELECT id AS k FROM new_rows UNION SELECT id FROM old_rows) keys;"
    )
    if with_old_names:
        capture += (
            f" INSERT INTO station_feed (tbl, key, old) "
            f"SELECT '{name}', o.id, jsonb_build_object('{column}', o.{column}) "
            f"FROM old_rows o JOIN new_rows n ON n.id = o.id "
            f"WHERE n.{column} IS DISTINCT FROM o.{column};"
        )
    fn = _SECOND._function_name(table, "update")
    return (f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql "
            f"SECURITY DEFINER {_PINNED} AS $fn$ BEGIN {capture} RETURN NULL; END $fn$;")


def upgrade() -> None:
    _run("\n".join(_function(t, n, c, True) for t, n, c in RENAMED))


def downgrade() -> None:
    _run("\n".join(_function(t, n, c, False) for t, n, c in RENAMED))


def _run(sql: str) -> None:
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()
