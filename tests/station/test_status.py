"""read_status: pending count and age, last sync, open sync issues, centre state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from station.paths import StationPaths
from station.service import StationService
from station.settings import StationSettings
from station.status import format_age, read_status
from station.store.local import LocalStore
from station.store.schema import events, sync_issues, sync_state


@pytest.fixture
def store(tmp_path):  # noqa: ANN001, ANN201
    paths = StationPaths(tmp_path, tmp_path, tmp_path / "logs", True)
    s = LocalStore.open(paths, create=True)
    s.init_station("S1", "North", demo=True)
    yield s
    s.close()


def _scan(store: LocalStore, clock_start: datetime, codes: list[str]) -> None:
    ticks = iter(range(1000))
    svc = StationService(store, clock=lambda: clock_start + timedelta(minutes=next(ticks)))
    svc.login("dispatcher", "demo")
    for c in codes:
        svc.record_scan(c)
    svc.close()


def test_empty_store_not_configured(store: LocalStore) -> None:
    with store.engine.connect() as conn:
        s = read_status(conn)
    assert s.pending == 0 and s.oldest_pending_age is None
    assert s.last_sync_at is None and s.sync_issues == 0
    assert s.centre_state == "not configured"
    assert s.pending_text() == "0 pending" and s.last_sync_text() == "never synced"


def test_pending_count_and_oldest_age(store: LocalStore) -> None:
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    _scan(store, start, ["SB00001", "C0001", "C0002"])
    now = start + timedelta(hours=2)
    with store.engine.connect() as conn:
        s = read_status(conn, now)
    assert s.pending == 3
    assert s.oldest_pending_at == start + timedelta(minutes=1)  # login does not tick; scans do
    assert s.oldest_pending_age == timedelta(hours=1, minutes=59)
    assert s.pending_text() == "3 pending (oldest 1 h 59 min)"
    # Acknowledged events leave the count; the oldest is then the next pending one.
    with store.engine.begin() as conn:
        conn.execute(update(events).where(events.c.seq == 1).values(sync_state="acked"))
    with store.engine.connect() as conn:
        s = read_status(conn, now)
    assert s.pending == 2 and s.oldest_pending_at == start + timedelta(minutes=2)


def test_sync_state_keys_and_issues(store: LocalStore) -> None:
    _scan(store, datetime(2026, 3, 1, 8, 0, tzinfo=UTC), ["SB00001", "C0001"])
    with store.engine.begin() as conn:
        conn.execute(sync_state.insert().values(key="centre_state", value="blocked"))
        conn.execute(sync_state.insert().values(key="last_sync_at",
                                                value="2026-03-01T09:30:00.000+00:00"))
        conn.execute(sync_issues.insert().values(event_seq=1, reason="r", message="m",
                                                 created_at="2026-03-01T09:30:00+00:00"))
        conn.execute(sync_issues.insert().values(
            event_seq=2, reason="r", message="m", created_at="2026-03-01T09:30:00+00:00",
            acknowledged_by="admin", acknowledged_at="2026-03-01T09:40:00+00:00"))
    with store.engine.connect() as conn:
        s = read_status(conn)
    assert s.centre_state == "blocked"
    assert s.last_sync_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert s.sync_issues == 1  # the acknowledged one no longer counts


def test_configured_centre_without_state_is_unknown(store: LocalStore) -> None:
    store.save_settings(StationSettings(station_id="S1", area="North",
                                        central_url="postgresql://centre/db"))
    with store.engine.connect() as conn:
        assert read_status(conn).centre_state == "unknown"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5 s"), (125, "2 min"), (3 * 3600 + 60, "3 h 1 min"), (2 * 86400 + 7200, "2 d 2 h")],
)
def test_format_age(seconds: int, text: str) -> None:
    assert format_age(timedelta(seconds=seconds)) == text
