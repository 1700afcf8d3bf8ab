"""A month offline (docs/sync.md §3, §7): 50 000 scans made over a simulated month with no centre,
then one drain through the real worker and the real sync service: all 50 000 at the centre, each
once, applied in the station's order, the device times of the whole month kept; the worker's
status reports the pending count coming down batch by batch while it drains (the figure the
window's status bar shows, tests/ui/test_long_offline.py)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import uuid7
from sync.worker import SyncListener, SyncStatus
from tests.sync.stationkit import central_rows, central_scalar, local_rows, make_station, worker_for

pytestmark = pytest.mark.central

SCANS = 50_000
MONTH = timedelta(days=30)


def month_of_scans(station_id: str, n: int) -> list[tuple]:
    """Event rows as a month of scanning writes them: parents of 25 children, device times
    spread evenly over 30 days (working hours and nights alike)."""
    start = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)
    step = MONTH / n
    rows: list[tuple] = []
    p = 0
    while len(rows) < n:
        parent = f"SB{p:05d}"
        for c in range(-1, 25):
            if len(rows) >= n:
                break
            t = start + step * len(rows)
            kind, child, data = (("parent_scanned", None, {"bag_type": "SB", "area": "North"})
                                 if c < 0 else ("child_linked", f"M{p:05d}{c:02d}", {}))
            rows.append((len(rows) + 1, str(uuid7()), station_id, kind, "dispatcher",
                         t.isoformat(timespec="milliseconds"), parent, child, None,
                         json.dumps({**data, "source": "scanner"}), APP_VERSION,
                         PROTOCOL_VERSION))
        p += 1
    return rows


def insert_events(store_path, rows: list[tuple]) -> None:  # noqa: ANN001
    db = sqlite3.connect(store_path)
    try:
        with db:
            db.executemany(
                "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, "
                "parent_code, child_code, bill_id, data, app_version, protocol_version) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    finally:
        db.close()


class _Progress(SyncListener):
    def __init__(self) -> None:
        self.pending: list[int] = []

    def status_changed(self, status: SyncStatus) -> None:
        if not self.pending or self.pending[-1] != status.pending:
            self.pending.append(status.pending)


@pytest.mark.slow
def test_a_month_offline_drains_in_one_run_in_order(central_db, tmp_path) -> None:
    access = central_db.add_station("LONG-1")
    store = make_station(tmp_path, "LONG-1")
    rows = month_of_scans("LONG-1", SCANS)
    insert_events(store.paths.store, rows)
    progress = _Progress()
    # the drain is the subject: no pull of the centre's copy of the month afterwards
    worker = worker_for(store, access, listener=progress, pull=False)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.error is None, summary.error
    assert (summary.sent, summary.applied, summary.pending) == (SCANS, SCANS, 0)
    assert summary.batches == SCANS // 500 and summary.converged is True
    # the progress figure came down during the drain (told at most every NOTIFY_EVERY_S, the
    # drain takes seconds), to 0
    figures = [p for p in progress.pending if p < SCANS]
    assert figures == sorted(figures, reverse=True) and figures[-1] == 0
    assert len(figures) >= 5, figures
    # all 50 000 at the centre, each once, applied in the station's order, device times kept
    assert central_scalar(central_db.url, "SELECT count(DISTINCT event_id) FROM station_events "
                                          "WHERE station_id = 'LONG-1'") == SCANS
    seqs = [r[0] for r in central_rows(central_db.url, "SELECT seq FROM station_events "
                                                       "WHERE station_id = 'LONG-1' ORDER BY id")]
    assert seqs == list(range(1, SCANS + 1))
    first, last = central_rows(central_db.url, "SELECT min(device_time), max(device_time) "
                                               "FROM station_events")[0]
    assert (first, last) == (rows[0][5], rows[-1][5])
    assert datetime.fromisoformat(last) - datetime.fromisoformat(first) > timedelta(days=29)
    assert central_rows(central_db.url, "SELECT result, count(*) FROM station_events "
                                        "GROUP BY 1") == [("applied", SCANS)]
    assert central_scalar(central_db.url, "SELECT count(*) FROM link") == SCANS - SCANS // 26 - 1
    assert local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1") == \
        [("applied", SCANS)]
    store.close()
