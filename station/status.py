"""What the status bar shows, read from the local store (so it is right while offline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from station.settings import load_settings
from station.store.local import parse_iso, utcnow
from station.store.schema import events, sync_issues, sync_state

CENTRE_STATES = ("online", "offline", "syncing", "blocked")
NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class StationStatus:
    pending: int
    oldest_pending_at: datetime | None
    oldest_pending_age: timedelta | None
    last_sync_at: datetime | None
    sync_issues: int  # issues not yet acknowledged
    centre_state: str  # online | offline | syncing | blocked | not configured | unknown

    def pending_text(self) -> str:
        if not self.pending:
            return "0 pending"
        return f"{self.pending} pending (oldest {format_age(self.oldest_pending_age)})"

    def last_sync_text(self) -> str:
        if self.last_sync_at is None:
            return "never synced"
        return "last sync " + self.last_sync_at.astimezone().strftime("%d %b %H:%M")


def format_age(age: timedelta | None) -> str:
    if age is None:
        return "-"
    s = max(int(age.total_seconds()), 0)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None


def read_status(conn: Connection, now: datetime | None = None) -> StationStatus:
    """Pending events and their age, last sync, open sync issues and the centre state."""
    now = now or utcnow()
    pending = conn.execute(
        select(func.count()).select_from(events).where(events.c.sync_state == "pending")
    ).scalar_one()
    # The oldest pending event is the lowest pending seq (uses the (sync_state, seq) index).
    oldest = conn.execute(
        select(events.c.device_time)
        .where(events.c.sync_state == "pending")
        .order_by(events.c.seq)
        .limit(1)
    ).scalar()
    oldest_at = _parse(oldest)
    issues = conn.execute(
        select(func.count()).select_from(sync_issues).where(
            sync_issues.c.acknowledged_at.is_(None)
        )
    ).scalar_one()
    state = dict(
        conn.execute(
            select(sync_state.c.key, sync_state.c.value).where(
                sync_state.c.key.in_(("centre_state", "last_sync_at"))
            )
        ).all()
    )
    centre = state.get("centre_state")
    if not centre:
        centre = NOT_CONFIGURED if not load_settings(conn).central_url else "unknown"
    return StationStatus(
        pending=int(pending),
        oldest_pending_at=oldest_at,
        oldest_pending_age=(now - oldest_at) if oldest_at else None,
        last_sync_at=_parse(state.get("last_sync_at")),
        sync_issues=int(issues),
        centre_state=centre,
    )
