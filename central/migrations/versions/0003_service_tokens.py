"""central: stations reach the centre only through the sync service (tokens, no database roles)

Before this revision every station logged in to PostgreSQL with a role of its own and called
SECURITY DEFINER functions that checked `session_user`. Stations now hold a token; the sync
service (one least-privilege role, see central/roles.py) takes the station id from the token.
This revision:
- adds the token's hash to station_stations (the token itself is never stored) and makes the
  old role name optional;
- turns the station functions into plain SECURITY INVOKER functions (only the service calls
  them, with its own rights) with a pinned search_path, drops station_whoami() and the
  event-log trigger that compared session_user;
- pins `search_path = public, pg_temp` on the change-feed trigger functions, which stay
  SECURITY DEFINER so the web system's own role can keep writing its tables;
- takes every station role's login away and empties the stations' group role of its rights;
- adds station_centre_settings (the centre's public URL, shown by add-station).

Revision ID: c0003
Revises: c0002
Create Date: 2026-11-30 11:30:00
"""

from importlib import import_module

from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None

_FIRST = import_module("central.migrations.versions.0001_central_station_tables")
_SECOND = import_module("central.migrations.versions.0002_static_feed_triggers")

_PINNED = "SET search_path = public, pg_temp"

FUNCTIONS_DDL = rf"""
CREATE OR REPLACE FUNCTION station_session(p_station text) RETURNS station_stations
LANGUAGE plpgsql SECURITY INVOKER {_PINNED} AS $fn$
DECLARE
    r station_stations;
BEGIN
    SELECT * INTO r FROM station_stations WHERE station_id = p_station FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'station_unknown %', p_station USING ERRCODE = 'TT002';
    END IF;
    IF r.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'station_revoked %', p_station USING ERRCODE = 'TT002';
    END IF;
    RETURN r;
END
$fn$;
"""

# The functions that stay (now invoker's rights, search_path pinned).
INVOKER_FUNCTIONS = (
    "station_stored_results(text, text[], bigint[])",
    "station_record(text, jsonb)",
    "station_event_ids(text)",
    "station_link_origins(text[])",
    "station_operators(text, integer[])",
)


def _run(sql: str) -> None:
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()


def _station_roles() -> list[str]:
    conn = op.get_bind()
    rows = conn.exec_driver_sql(
        "SELECT s.role_name FROM station_stations s JOIN pg_roles r ON r.rolname = s.role_name"
    ).all()
    return [r[0] for r in rows]


def upgrade() -> None:
    conn = op.get_bind()
    _run(
        "ALTER TABLE station_stations ADD COLUMN token_hash text UNIQUE, "
        "ADD COLUMN token_issued_at timestamptz, ALTER COLUMN role_name DROP NOT NULL;"
        "CREATE TABLE station_centre_settings (key text PRIMARY KEY, value text NOT NULL);"
        "DROP TRIGGER IF EXISTS station_events_own ON station_events;"
        "DROP FUNCTION IF EXISTS station_events_check();"
        "DROP FUNCTION IF EXISTS station_whoami();"
    )
    _run(FUNCTIONS_DDL)
    for fn in INVOKER_FUNCTIONS:
        _run(f"ALTER FUNCTION {fn} SECURITY INVOKER {_PINNED}")
    for fn in ("station_session(text)", *INVOKER_FUNCTIONS):
        _run(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    for table, _name, _key in _FIRST.FEED_TABLES:
        for op_name in _SECOND._REFERENCING:
            _run(f"ALTER FUNCTION {_SECOND._function_name(table, op_name)}() {_PINNED}")
    # Station logins are retired: their roles stay (owned objects, history) but cannot log in,
    # and the group role they shared keeps no rights.
    for role in _station_roles():
        quoted = conn.exec_driver_sql("SELECT quote_ident(%s)", (role,)).scalar()
        _run(f"ALTER ROLE {quoted} NOLOGIN")
    dbname = conn.exec_driver_sql("SELECT current_database()").scalar()
    group = conn.exec_driver_sql(
        "SELECT rolname FROM pg_roles WHERE rolname = %s",
        ("tts_" + "".join(c if c.isalnum() or c == "_" else "_" for c in str(dbname).lower())[:30],),
    ).scalar()
    if group:
        g = conn.exec_driver_sql("SELECT quote_ident(%s)", (group,)).scalar()
        d = conn.exec_driver_sql("SELECT quote_ident(%s)", (dbname,)).scalar()
        _run(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {g};"
             f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {g};"
             f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {g};"
             f"REVOKE ALL ON DATABASE {d} FROM {g};"
             f"REVOKE ALL ON SCHEMA public FROM {g};")


def downgrade() -> None:
    _run(
        "DROP TABLE IF EXISTS station_centre_settings;"
        "ALTER TABLE station_stations DROP COLUMN IF EXISTS token_hash, "
        "DROP COLUMN IF EXISTS token_issued_at;"
    )
    # c0001's SECURITY DEFINER functions come back only with a re-created database: a
    # downgrade below c0003 is for tests of the migration chain, not for production.
