"""The sync service's own database role: the one login the centre's HTTP service uses.

Least privilege: it can read and write the web system's tables and the station_* tables, use
their id sequences and call the station functions, nothing more: no superuser, no CREATE on any
schema, no TEMPORARY tables (so it can shadow nothing on the search path), no DDL. Stations hold
no database credential at all; the web system keeps its own access.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.engine import Connection, make_url

WEB_TABLES = ("bag", "link", "scan", "bill", "bill_bag", '"user"')
STATION_TABLES = (
    "station_bag_types", "station_stations", "station_events", "station_bill_notes",
    "station_feed", "station_centre_settings", "station_alembic_version",
)
FUNCTIONS = (
    "station_session(text)",
    "station_stored_results(text, text[], bigint[])",
    "station_record(text, jsonb)",
    "station_event_ids(text)",
    "station_link_origins(text[])",
    "station_operators(text, integer[])",
)


def _q(conn: Connection, name: str) -> str:
    return str(conn.exec_driver_sql("SELECT quote_ident(%s)", (name,)).scalar())


def service_role_name(conn: Connection) -> str:
    """`tts_<database>_service`: roles are server-wide, so the name carries the database."""
    db = str(conn.exec_driver_sql("SELECT current_database()").scalar())
    return ("tts_" + re.sub(r"[^a-z0-9_]", "_", db.lower())[:30] + "_service")[:63]


def ensure_service_role(conn: Connection, *, new_password: bool = False) -> tuple[str, str | None]:
    """Create the service role (or bring its rights up to date); returns (role, password) where
    the password is set, and so known, only when the role is new or `new_password` is asked."""
    role = service_role_name(conn)
    r = _q(conn, role)
    exists = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).first()
    if exists:
        # The name is made from the database's and cut: another centre's database on this
        # server may have the same role (granted CONNECT there by its own init). Taking it over
        # would give the other centre's running service a new password (it could no longer
        # connect) and this database to it.
        other = conn.exec_driver_sql(
            "SELECT d.datname FROM pg_database d, aclexplode(d.datacl) a "
            "WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s) "
            "AND d.datname <> current_database() ORDER BY 1 LIMIT 1", (role,),
        ).scalar()
        if other is not None:
            raise ValueError(
                f"The sync service's role for this database, {role}, is already the role of "
                f"database {other} on this server (role names are server-wide and made from "
                "the database's name, lower-cased, cut at 30 characters): nothing was changed "
                f"for it. If {other} is an old copy of this centre, drop it (or REVOKE CONNECT "
                f"ON DATABASE on it FROM {role}) and run init again; else give this database a "
                "name that differs from the other's in its first 30 characters "
                "(ALTER DATABASE ... RENAME TO ...)")
    password: str | None = None
    if not exists or new_password:
        password = secrets.token_urlsafe(32)
    opts = ("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            "CONNECTION LIMIT -1")
    if not exists:
        conn.exec_driver_sql(f"CREATE ROLE {r} {opts} PASSWORD %s", (password,))
    elif password is not None:
        conn.exec_driver_sql(f"ALTER ROLE {r} {opts} PASSWORD %s", (password,))
    else:
        conn.exec_driver_sql(f"ALTER ROLE {r} {opts}")
    dbq = _q(conn, str(conn.exec_driver_sql("SELECT current_database()").scalar()))
    statements = [
        # Nobody creates objects in public or temporary tables unless granted: the service
        # never needs either (the owner keeps its own rights).
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE TEMPORARY ON DATABASE {dbq} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {dbq} TO {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(WEB_TABLES)} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(STATION_TABLES)} TO {r}",
    ]
    for table in ("bag", "link", "bill", "bill_bag", "scan", "station_events", "station_feed",
                  "station_bag_types"):
        seq = conn.exec_driver_sql("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).scalar()
        if seq:
            statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {seq} TO {r}")
    statements += [f"GRANT EXECUTE ON FUNCTION {fn} TO {r}" for fn in FUNCTIONS]
    for sql in statements:
        conn.exec_driver_sql(sql)
    return role, password


def role_url(admin_url: str, role: str, password: str) -> str:
    """The admin URL with the service role's login instead (same server and database)."""
    url = make_url(admin_url).set(username=role, password=password)
    return url.render_as_string(hide_password=False).replace(
        "postgresql+psycopg2://", "postgresql://", 1)
