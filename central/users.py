"""Central operators ("user" rows of the web system) added from the command line or for demos."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from station.auth import make_password_hash
from station.limits import check_text
from station.rules import role_of

DEMO_USERS = (("dispatcher", "dispatcher"), ("biller", "biller"), ("admin", "admin"))
DEMO_PASSWORD = "demo"


def add_user(
    conn: Connection, username: str, password: str, role: str, area: str | None,
    *, password_hash: str | None = None,
) -> int:
    """Insert or update a user in the web system's "user" table (werkzeug-format hash). An
    existing user updated with no area keeps the area it has."""
    name = username.strip()
    r = role_of(role)
    if not name or r is None:
        raise ValueError(f"A user needs a name and a role of dispatcher, biller or admin (got {role!r})")
    area = station_area(conn, area)
    # what the stations hold and check a typed name against (station.limits): a name no station
    # takes could never log in anywhere
    problem = check_text("username", name) or (
        None if area is None else check_text("area", area))
    if problem:
        raise ValueError(problem)
    if password_hash is None and not password:
        # stations take whatever hash the centre has: an empty password would let anyone log
        # in there as this user
        raise ValueError(f"User {name} needs a password: an empty one is not kept")
    # Stations match a typed name ignoring case, and so does the centre when it finds an
    # event's operator: a second user whose name differs only in case would make either of
    # them the other.
    other = conn.exec_driver_sql(
        'SELECT username FROM "user" WHERE lower(username) = lower(%s) AND username <> %s '
        "ORDER BY id LIMIT 1", (name, name),
    ).scalar()
    if other is not None:
        raise ValueError(
            f"A user {other} exists already (user names match ignoring case at the stations): "
            f"to change that user, give its name as it is spelt ({other})")
    pw = password_hash or make_password_hash(password)
    row = conn.exec_driver_sql(
        'INSERT INTO "user" (username, password_hash, role, dispatch_area, verified) '
        "VALUES (%s, %s, %s, %s, true) ON CONFLICT (username) DO UPDATE SET "
        "password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
        # no area given: the user's own is kept (a new password must not take a dispatcher
        # away from their area's stations)
        'dispatch_area = coalesce(EXCLUDED.dispatch_area, "user".dispatch_area) RETURNING id',
        (name, pw, r.value, area),
    ).scalar_one()
    return int(row)


def station_area(conn: Connection, area: str | None) -> str | None:
    """A user's area as the stations of that area spell it: trimmed, and in their case when
    one matches ignoring case (else as typed). The centre takes the two as one area when it
    decides an event, but a station downloads only the users whose area is spelt exactly as
    its own (station_operators): "north" or "North " would never reach a North station."""
    if area is None or not area.strip():
        return None
    area = area.strip()
    known = conn.exec_driver_sql(
        "SELECT area FROM station_stations WHERE lower(area) = lower(%s) "
        "GROUP BY area ORDER BY area = %s DESC, count(*) DESC, area LIMIT 1", (area, area),
    ).scalar()
    return str(known) if known is not None else area


def add_demo_users(conn: Connection, area: str) -> None:
    """dispatcher / biller / admin with password "demo", as `tracetrack-station init --demo` has."""
    pw = make_password_hash(DEMO_PASSWORD)
    for username, role in DEMO_USERS:
        add_user(conn, username, DEMO_PASSWORD, role, area, password_hash=pw)
