"""Stations at the centre: each gets its own database role (the direct-transport credential).

Grants of a station role (all through the per-database group role `tts_<database>`):
- CONNECT on the database, USAGE on schema public; no CREATE anywhere, owns nothing, so it can
  neither DROP nor ALTER any table;
- SELECT, INSERT, UPDATE, DELETE on bag, link, bill, bill_bag and station_bill_notes; INSERT on
  scan; USAGE on their id sequences (the apply code writes these tables directly, one batch per
  transaction, under row locks);
- on "user" only SELECT of the columns id, username, role, dispatch_area: password hashes come
  through station_operators(), which returns only the station's area plus billers and admins;
- SELECT on station_bag_types and station_feed (the change feed; it never holds password hashes);
- INSERT (only) on station_events, its event log: a statement trigger refuses rows under
  another station's id and rows from a revoked station;
- nothing on station_stations, no SELECT on station_events: the station reads and updates them
  only through the SECURITY DEFINER functions station_session / station_record /
  station_stored_results / station_event_ids / station_link_origins / station_whoami, which
  check that the calling role (session_user) is the station it claims to be and is not revoked.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, make_url

_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,39}$")

FUNCTIONS = (
    "station_whoami()",
    "station_session(text)",
    "station_stored_results(text, text[], bigint[])",
    "station_record(text, jsonb)",
    "station_event_ids(text)",
    "station_link_origins(text[])",
    "station_operators(text, integer[])",
)


class StationAdminError(Exception):
    pass


def _ident(conn: Connection, name: str) -> str:
    return str(conn.exec_driver_sql("SELECT quote_ident(%s)", (name,)).scalar())


def _dbname(conn: Connection) -> str:
    return str(conn.exec_driver_sql("SELECT current_database()").scalar())


def _role_base(dbname: str) -> str:
    return "tts_" + re.sub(r"[^a-z0-9_]", "_", dbname.lower())[:30]


def group_role(conn: Connection) -> str:
    return _role_base(_dbname(conn))


def station_role_name(conn: Connection, station_id: str) -> str:
    tail = re.sub(r"[^a-z0-9_]", "_", station_id.lower())
    return f"{_role_base(_dbname(conn))}_{tail}"[:63]


def normalise_station_id(raw: str) -> str:
    sid = raw.strip().upper()
    if not _ID_RE.fullmatch(sid):
        raise StationAdminError(
            f"Station id {raw!r} is not usable: 1-40 letters, digits, - or _ (e.g. DISPATCH-2)"
        )
    return sid


def ensure_group(conn: Connection) -> str:
    """Create the per-database group role of stations and (re)apply its grants; idempotent."""
    group = group_role(conn)
    exists = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (group,)).first()
    g = _ident(conn, group)
    db = _ident(conn, _dbname(conn))
    if not exists:
        conn.exec_driver_sql(f"CREATE ROLE {g} NOLOGIN")
    statements = [
        f"GRANT CONNECT ON DATABASE {db} TO {g}",
        f"GRANT USAGE ON SCHEMA public TO {g}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON bag, link, bill, bill_bag, station_bill_notes "
        f"TO {g}",
        f"GRANT INSERT ON scan, station_events TO {g}",
        f'GRANT SELECT (id, username, role, dispatch_area) ON "user" TO {g}',
        f"GRANT SELECT ON station_bag_types, station_feed TO {g}",
    ]
    # the id sequences, whatever the web system named them
    for table in ("bag", "link", "bill", "bill_bag", "scan", "station_events"):
        seq = conn.exec_driver_sql(
            "SELECT pg_get_serial_sequence(%s, 'id')", (table,)
        ).scalar()
        if seq:
            statements.append(f"GRANT USAGE ON SEQUENCE {seq} TO {g}")
    statements += [f"GRANT EXECUTE ON FUNCTION {fn} TO {g}" for fn in FUNCTIONS]
    for sql in statements:
        conn.exec_driver_sql(sql)
    return group


def station_url(admin_url: str, role: str, password: str) -> str:
    url = make_url(admin_url).set(username=role, password=password)
    text = url.render_as_string(hide_password=False)
    return text.replace("postgresql+psycopg2://", "postgresql://", 1)


def add_station(
    conn: Connection, admin_url: str, station_id: str, area: str, *, scope: str = "area"
) -> dict[str, str]:
    """Create the station, its role and password; returns {"station", "url"} (shown once)."""
    sid = normalise_station_id(station_id)
    area = area.strip()
    if not area:
        raise StationAdminError("A station needs an area (--area AREA)")
    if conn.exec_driver_sql(
        "SELECT 1 FROM station_stations WHERE station_id = %s", (sid,)
    ).first():
        raise StationAdminError(
            f"Station {sid} exists already; revoke it first or choose another id"
        )
    group = ensure_group(conn)
    role = station_role_name(conn, sid)
    password = secrets.token_urlsafe(24)
    r = _ident(conn, role)
    if conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).first():
        conn.exec_driver_sql(f"ALTER ROLE {r} LOGIN PASSWORD %s", (password,))
    else:
        conn.exec_driver_sql(f"CREATE ROLE {r} LOGIN PASSWORD %s", (password,))
    conn.exec_driver_sql(f"GRANT {_ident(conn, group)} TO {r}")
    conn.exec_driver_sql(
        "INSERT INTO station_stations (station_id, area, role_name, scope) VALUES (%s, %s, %s, %s)",
        (sid, area, role, scope),
    )
    return {"station": sid, "url": station_url(admin_url, role, password)}


def revoke_station(conn: Connection, station_id: str) -> str:
    """Stop a station syncing: mark it revoked, disable its login, end its open sessions."""
    sid = normalise_station_id(station_id)
    row = conn.exec_driver_sql(
        "UPDATE station_stations SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE station_id = %s RETURNING role_name",
        (sid,),
    ).first()
    if row is None:
        raise StationAdminError(f"No station {sid} at this centre")
    role = row[0]
    if conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).first():
        conn.exec_driver_sql(f"ALTER ROLE {_ident(conn, role)} NOLOGIN")
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )
    return sid


@dataclass(frozen=True)
class StationInfo:
    station_id: str
    area: str
    scope: str
    revoked: bool
    last_contact: datetime | None
    backlog: int | None
    oldest_pending_s: float | None
    app_version: str | None
    clock_skew_s: float | None
    events: int
    high_seq: int

    @property
    def skew_flagged(self) -> bool:
        return self.clock_skew_s is not None and abs(self.clock_skew_s) > 300

    def to_json(self) -> dict[str, Any]:
        return {
            "station": self.station_id, "area": self.area, "scope": self.scope,
            "revoked": self.revoked,
            "last_contact": self.last_contact.isoformat() if self.last_contact else None,
            "backlog": self.backlog, "oldest_pending_s": self.oldest_pending_s,
            "app_version": self.app_version, "clock_skew_s": self.clock_skew_s,
            "clock_skew_flagged": self.skew_flagged, "events": self.events,
            "high_seq": self.high_seq,
        }


def list_stations(conn: Connection) -> list[StationInfo]:
    rows = conn.exec_driver_sql(
        "SELECT station_id, area, scope, revoked_at IS NOT NULL, last_contact, backlog, "
        "oldest_pending_s, app_version, clock_skew_s, event_count, high_seq "
        "FROM station_stations ORDER BY station_id"
    ).all()
    return [StationInfo(*r) for r in rows]
