"""Stations at the centre: each is known by a token (only its SHA-256 is stored here).

A station proves who it is with its token on every request to the sync service; the service takes
the station id from the token, never from what the station sends. `add-station` prints the token
once; `rotate-token` replaces it (the old one stops at once); `revoke-station` refuses it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from station.limits import STATION_ID_PATTERN, check_text

TOKEN_BYTES = 32  # 256 bits
PUBLIC_URL_KEY = "public_url"


class StationAdminError(Exception):
    pass


def normalise_station_id(raw: str) -> str:
    sid = raw.strip().upper()
    if not STATION_ID_PATTERN.fullmatch(sid):
        raise StationAdminError(
            f"Station id {raw!r} is not usable: 1-40 letters, digits, - or _ (e.g. DISPATCH-2)"
        )
    return sid


def token_hash(token: str) -> str:
    """What the centre keeps of a token. A token is 256 random bits: a plain hash is enough
    (nothing to brute-force), and lets the service find the station with one index look-up."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return "tts_" + secrets.token_urlsafe(TOKEN_BYTES)


CENTRE_ID_KEY = "centre_id"


def centre_id(conn: Connection) -> str:
    """This centre's identity: made once (a random id kept in its database, so it moves with a
    restored backup), then always the same. A station that finds another id has been connected
    to another centre, and downloads that centre's state afresh (docs/sync.md §12)."""
    conn.exec_driver_sql(
        "INSERT INTO station_centre_settings (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO NOTHING", (CENTRE_ID_KEY, str(uuid.uuid4())))
    return str(conn.exec_driver_sql(
        "SELECT value FROM station_centre_settings WHERE key = %s", (CENTRE_ID_KEY,)).scalar())


def public_url(conn: Connection) -> str | None:
    return conn.exec_driver_sql(
        "SELECT value FROM station_centre_settings WHERE key = %s", (PUBLIC_URL_KEY,)
    ).scalar()


def set_public_url(conn: Connection, url: str) -> str:
    url = check_public_url(url)
    conn.exec_driver_sql(
        "INSERT INTO station_centre_settings (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (PUBLIC_URL_KEY, url),
    )
    return url


def check_public_url(url: str) -> str:
    """The public URL as it is kept, or StationAdminError saying what is wrong with it (checked
    before anything is written: `init` refuses a bad one with the database unchanged)."""
    url = url.strip().rstrip("/")
    if not url.lower().startswith(("https://", "http://")):
        raise StationAdminError(
            f"The public URL {url!r} is not an address stations can use: give the https://... "
            "(or, on a trusted LAN, http://...) address of the sync service"
        )
    # Stations refuse an address without a host or with a login in it (their token goes
    # apart): printing one to them would only move the error to every station.
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise StationAdminError(f"The public URL {url!r} cannot be read: {exc}") from None
    if not host or any(c.isspace() for c in url):
        raise StationAdminError(f"The public URL {url!r} has no usable host name")
    if parts.username or parts.password:
        raise StationAdminError(
            "Put no name or password in the public URL: each station gets its own token")
    problem = check_text("central_url", url)  # what a station keeps as its centre's address
    if problem:
        raise StationAdminError(f"The public URL cannot be given to stations: {problem}")
    return url


def add_station(
    conn: Connection, station_id: str, area: str, *, scope: str = "area"
) -> dict[str, str | None]:
    """Register a station; returns {"station", "token", "url", "area"}: the token is shown only
    once, the area as it is kept."""
    sid = normalise_station_id(station_id)
    area = area.strip()
    if not area or len(area) > 50:
        raise StationAdminError("A station needs an area of 1-50 characters (--area AREA)")
    problem = check_text("area", area)  # as its users' areas and the stations' settings
    if problem:
        raise StationAdminError(problem)
    # Spelt as the area's stations, else its users, spell it: the centre takes "north" as North
    # when it decides an event, but a station downloads only the users whose area is spelt
    # exactly as its own (station_operators), so a North user would never reach it.
    known = conn.exec_driver_sql(
        "SELECT area FROM (SELECT area, 0 AS pref FROM station_stations UNION ALL "
        'SELECT dispatch_area, 1 FROM "user" WHERE dispatch_area IS NOT NULL) a '
        "WHERE lower(area) = lower(%s) GROUP BY area "
        "ORDER BY min(pref), area = %s DESC, count(*) DESC, area LIMIT 1", (area, area),
    ).scalar()
    if known is not None:
        area = str(known)
    existing = conn.exec_driver_sql(
        "SELECT revoked_at IS NOT NULL FROM station_stations WHERE station_id = %s", (sid,)
    ).first()
    if existing is not None and existing[0]:
        # (rotate-token refuses a revoked station: pointing there would send the
        # administrator back here)
        raise StationAdminError(
            f"Station {sid} exists already and is revoked: its id stays with its events and is "
            "not given out again; add the station under a new id"
        )
    if existing is not None:
        raise StationAdminError(
            f"Station {sid} exists already: give it a new token with rotate-token {sid}, "
            "or choose another id"
        )
    token = new_token()
    conn.exec_driver_sql(
        "INSERT INTO station_stations (station_id, area, scope, token_hash, token_issued_at) "
        "VALUES (%s, %s, %s, %s, now())",
        (sid, area, scope, token_hash(token)),
    )
    return {"station": sid, "token": token, "url": public_url(conn), "area": area}


def rotate_token(conn: Connection, station_id: str) -> dict[str, str | None]:
    """A new token for a station; the old one stops working with this commit."""
    sid = normalise_station_id(station_id)
    row = conn.exec_driver_sql(
        "SELECT revoked_at IS NOT NULL FROM station_stations WHERE station_id = %s FOR UPDATE",
        (sid,),
    ).first()
    if row is None:
        raise StationAdminError(f"No station {sid} at this centre")
    if row[0]:  # checked before anything is written: a revoked station's token stays refused
        raise StationAdminError(f"Station {sid} is revoked: add it again under a new id")
    token = new_token()
    conn.exec_driver_sql(
        "UPDATE station_stations SET token_hash = %s, token_issued_at = now() "
        "WHERE station_id = %s",
        (token_hash(token), sid),
    )
    return {"station": sid, "token": token, "url": public_url(conn)}


def revoke_station(conn: Connection, station_id: str) -> str:
    """Stop a station syncing: its token is refused from this commit on."""
    sid = normalise_station_id(station_id)
    row = conn.exec_driver_sql(
        "UPDATE station_stations SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE station_id = %s RETURNING station_id",
        (sid,),
    ).first()
    if row is None:
        raise StationAdminError(f"No station {sid} at this centre")
    return sid


@dataclass(frozen=True)
class StationIdentity:
    """Who a token belongs to."""

    station_id: str
    area: str
    scope: str
    revoked: bool


# A token's station (a StationIdentity's fields), by the token's hash (the service's Centre)
IDENTIFY_SQL = ("SELECT station_id, area, scope, revoked_at IS NOT NULL FROM station_stations "
                "WHERE token_hash = %s")


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
    created_at: datetime | None = None
    now: datetime | None = None  # the database's clock when the row was read

    @property
    def skew_flagged(self) -> bool:
        return self.clock_skew_s is not None and abs(self.clock_skew_s) > 300

    def alerts(self, thresholds: Thresholds) -> list[str]:
        """Why this station needs a look, in words (empty: it does not). A revoked station
        raises nothing."""
        if self.revoked or self.now is None:
            return []
        out: list[str] = []
        since = self.last_contact or self.created_at
        if since is not None:
            silent = (self.now - since).total_seconds()
            if silent > thresholds.silent_s:
                heard = "not heard from" if self.last_contact else "never heard from"
                out.append(f"{heard} for {_span(silent)}")
        if self.backlog is not None and self.backlog > thresholds.backlog:
            out.append(f"backlog {self.backlog} events (over {thresholds.backlog})")
        if self.oldest_pending_s is not None and self.oldest_pending_s > thresholds.oldest_s:
            out.append(f"oldest pending event {_span(self.oldest_pending_s)} old "
                       f"(over {_span(thresholds.oldest_s)})")
        if self.skew_flagged:
            out.append(f"clock {abs(self.clock_skew_s or 0):.0f} s "
                       f"{'ahead' if (self.clock_skew_s or 0) > 0 else 'behind'}")
        return out

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

    def to_json_with(self, thresholds: Thresholds) -> dict[str, Any]:
        return {**self.to_json(), "alerts": self.alerts(thresholds)}


@dataclass(frozen=True)
class Thresholds:
    """When `stations` marks a station for a look (and exits non-zero, for cron or a monitor)."""

    silent_s: float = 3600.0
    backlog: int = 5000
    oldest_s: float = 4 * 3600.0


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def list_stations(conn: Connection) -> list[StationInfo]:
    rows = conn.exec_driver_sql(
        "SELECT station_id, area, scope, revoked_at IS NOT NULL, last_contact, backlog, "
        "oldest_pending_s, app_version, clock_skew_s, event_count, high_seq, created_at, now() "
        "FROM station_stations ORDER BY station_id"
    ).all()
    return [StationInfo(*r) for r in rows]
