"""docs/sync.md §15: the sync worker never runs on the GUI thread; the real window stays responsive
(event loop turning, scanner bursts painted and stored) while a 100 000-event backlog drains."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from PySide6.QtCore import QTimer

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import uuid7
from tests.sync.conftest import _central_template, central_db, central_url  # noqa: F401
from tests.sync.stationkit import local_rows
from tests.ui.conftest import log_in, post_scanner_bursts

BACKLOG = 100_000
TICK_MS = 10
# "Never freezes", not a benchmark. Gaps of 60-250 ms are seen on 2 cores with the GUI thread
# idle in the event loop (the in-process worker, the sync service and PostgreSQL hold the cores,
# the worker the GIL). Before the bridge froze the startup heap out of the collector's reach
# (ui/sync_bridge.py), full collections on the worker's threads stopped it 0.2-0.8 s at a time;
# a drain on the GUI thread would stop it for seconds.
MAX_GAP_S = 0.5
# A scan's result on screen while the worker drains: 0.2-0.4 s seen here. When reading the next
# batch held SQLite's write lock (the worker sending ahead read it back to back with recording
# replies), scans waited for the lock 1.0-1.6 s.
PAINT_TIMEOUT_MS = 1000
BURSTS = 3
CHILDREN_PER_BURST = 10
# The drain goes through the sync service over HTTP (~1 300 events/s here with other tests
# running: 70-100 s for the backlog, pull included); margin for a more loaded machine.
DRAIN_TIMEOUT_MS = 180_000


def _backlog(station_id: str, n: int) -> list[tuple]:
    """Rows for the station's `events` table: parents of 30 fresh children each (none contested,
    so every event is applied)."""
    t = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    rows: list[tuple] = []
    p = 0
    while len(rows) < n:
        parent = f"SB{p:05d}"
        for c in range(-1, 30):
            if len(rows) >= n:
                break
            t += timedelta(seconds=2)
            kind, child, data = (("parent_scanned", None, {"bag_type": "SB", "area": "North"})
                                 if c < 0 else ("child_linked", f"F{p:05d}{c:02d}", {}))
            rows.append((len(rows) + 1, str(uuid7()), station_id, kind, "dispatcher",
                         t.isoformat(timespec="milliseconds"), parent, child, None,
                         json.dumps({**data, "source": "scanner"}), APP_VERSION,
                         PROTOCOL_VERSION))
        p += 1
    return rows


def _insert_backlog(store, station_id: str, n: int) -> None:  # noqa: ANN001
    """n pending events straight into the station's queue."""
    rows = _backlog(station_id, n)
    db = sqlite3.connect(store.paths.store)
    try:
        with db:
            db.executemany(
                "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, "
                "parent_code, child_code, bill_id, data, app_version, protocol_version) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    finally:
        db.close()


def _pending(label_text: str) -> int | None:
    m = re.match(r"(\d+) pending", label_text)
    return int(m.group(1)) if m else None


class _LoopWatch:
    """A 10 ms QTimer on the GUI thread: the largest gap between its ticks is how long the event
    loop stood still."""

    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

    def _on_timer_timeout(self) -> None:
        self.ticks.append(time.perf_counter())

    def start(self) -> None:
        self.ticks.clear()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def max_gap(self) -> float:
        return max((b - a for a, b in pairwise(self.ticks)), default=0.0)


@pytest.mark.central
@pytest.mark.slow
@pytest.mark.alone  # its bounds are for this drain on both cores, not beside another test's
def test_window_stays_responsive_while_a_100k_backlog_drains(
    window, qtbot, store, central_db  # noqa: F811
) -> None:
    """The real SyncWorker (HTTP to the real sync service, real PostgreSQL) runs through the real
    bridge while the operator logs in and scans three bursts at scanner speed into the window.

    Asserted: a 10 ms QTimer on the GUI thread never misses more than MAX_GAP_S (over the scans
    and over the whole drain); every scan's result is painted within PAINT_TIMEOUT_MS and ends up
    in the store (and at the centre: applied); the status bar's pending count comes down and ends
    at "0 pending" with the centre online. The full 100 000 drain fits: 70-100 s on the 2-core
    machine with other tests running (DRAIN_TIMEOUT_MS leaves room for a more loaded one).
    """
    url = central_db.add_station("T1")
    _insert_backlog(store, "T1", BACKLOG)
    panel = window.status_panel
    watch = _LoopWatch()
    bridge = window.attach_sync(lambda: url.transport(),
                                backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    t0 = time.perf_counter()
    watch.start()
    try:
        qtbot.waitUntil(lambda: (_pending(panel.pending_label.text()) or 0) > 0, timeout=15000)
        # The drain has begun: the worker is syncing and the count is coming down.
        qtbot.waitUntil(lambda: 0 < (_pending(panel.pending_label.text()) or BACKLOG) < BACKLOG,
                        timeout=15000)
        first_seen = _pending(panel.pending_label.text())
        assert bridge.worker is not None and bridge.worker.running
        log_in(window, qtbot)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        screen = window.station_screen
        codes: list[str] = []
        slowest_paint = 0.0
        for b in range(BURSTS):
            parent = f"SB{9000 + b:05d}"
            burst = [parent] + [f"C{b + 7}{i:03d}" for i in range(CHILDREN_PER_BURST)]
            for code in burst:
                shown = screen.results_shown
                t_scan = time.perf_counter()
                post_scanner_bursts(code)  # stamped keys, as a real scanner's

                def painted(s: int = shown, c: str = code) -> None:  # a timeout says what showed
                    assert screen.results_shown > s and c in screen.banner.text(), (
                        c, screen.results_shown - s, screen.banner.text())

                qtbot.waitUntil(painted, timeout=PAINT_TIMEOUT_MS)
                slowest_paint = max(slowest_paint, time.perf_counter() - t_scan)
                codes.append(code)
            assert f"{CHILDREN_PER_BURST} / 30" == screen.counter_label.text()
        pending_mid = _pending(panel.pending_label.text())
        assert first_seen is not None and pending_mid is not None
        assert pending_mid < first_seen, "the pending count did not come down during the drain"
        gap_during_scans = watch.max_gap()
        print(f"\nfirst pending seen {first_seen}, after bursts {pending_mid}, "
              f"slowest paint {slowest_paint * 1000:.0f} ms, max loop gap so far "
              f"{gap_during_scans * 1000:.0f} ms at {time.perf_counter() - t0:.1f} s")
        assert gap_during_scans < MAX_GAP_S, f"event loop stood still {gap_during_scans:.3f} s"

        # The whole backlog drains; the window keeps turning all the way.
        qtbot.waitUntil(lambda: panel.pending_label.text() == "0 pending"
                        and panel.centre_label.text() == "centre: online",
                        timeout=DRAIN_TIMEOUT_MS)
        watch.stop()
        print(f"drained at {time.perf_counter() - t0:.1f} s, max loop gap "
              f"{watch.max_gap() * 1000:.0f} ms over {len(watch.ticks)} ticks")
        assert watch.max_gap() < MAX_GAP_S, f"event loop stood still {watch.max_gap():.3f} s"
    finally:
        watch.stop()
        bridge.stop()
    # The scans made during the drain are in the store, in order, and were sent too.
    rows = local_rows(store, "SELECT coalesce(child_code, parent_code), sync_state FROM events "
                             f"WHERE seq > {BACKLOG} ORDER BY seq")
    assert [r[0] for r in rows] == codes
    assert {r[1] for r in rows} == {"applied"}
