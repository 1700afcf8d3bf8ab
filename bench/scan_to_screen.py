"""scan_to_screen: scanner bursts of key events into the real main window (offscreen), measured
from the burst's Enter key to the first paint of the result banner.

The keys go through the application event filter, the burst detector, the read queue, the
task runner (record_scan committed with synchronous=FULL on a seeded store) and back to the
GUI thread, exactly as a USB scanner's keys would. The GUI thread sleeps in its event loop
between keys (a driver on QTimers), as in the real application.

With --drain the station has its whole history still to send, and scans while its window's own
sync (the bridge and worker of `attach_sync`, in this process) drains it to a real centre (a
throwaway PostgreSQL and a `serve` process with two workers): the scans made while the backlog
was draining are reported on their own (`during_drain`). The sync only pushes, unless --pull: then
it also downloads the centre's bags (the station's first download), as the window's sync does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QKeyEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.data import AREA, STATION_ID, build_store  # noqa: E402
from bench.scan_path import percentile, scan_plan  # noqa: E402
from station.store.local import LocalStore  # noqa: E402

KEY_GAP_MS = 5  # a fast USB scanner
PAUSE_MS = 30  # between two scans (a person moves the scanner; far more than this in reality)


class Driver(QObject):
    """Types each code at scanner speed, then waits for the painted result before the next."""

    def __init__(self, app: QApplication, window, plan: list[str]) -> None:  # noqa: ANN001
        super().__init__()
        self.app = app
        self.window = window
        self.screen = window.station_screen
        self.plan = plan
        self.i = 0
        self.chars: list[str] = []
        self.t_enter = 0.0
        self.t_result = 0.0
        self.shown_before = 0
        self._stamp_ms = 0.0
        self.waiting_paint = False
        self.latencies: list[float] = []
        self.entered: list[float] = []  # when each measured scan's Enter was sent
        self.result_ms: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.max_key_gap_ms = 0.0
        self._last_key = 0.0
        self._key_timer = self._precise(self._next_key)
        self._pause_timer = self._precise(self._after_pause)
        self._watchdog = self._precise(self._on_watchdog_timeout)
        self.stuck: list[str] = []  # scans with no painted result within 3 s (reported)
        window.scan_recorded.connect(self._on_window_scan_recorded)
        self.screen.banner.installEventFilter(self)

    def _precise(self, slot) -> QTimer:  # noqa: ANN001
        t = QTimer(self)
        t.setSingleShot(True)
        t.setTimerType(Qt.TimerType.PreciseTimer)
        t.timeout.connect(slot)
        return t

    def start(self) -> None:
        QTimer.singleShot(0, self._next_scan)

    def _target(self):  # noqa: ANN202
        return QApplication.focusWidget() or self.screen.children_list

    def _send(self, key: int, text: str) -> None:
        # Stamped with the scanner's own schedule (5 ms apart), as the window system stamps a
        # real scanner's keys: a late timer in this driver must not split a burst.
        target = self._target()
        for etype in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            ev = QKeyEvent(etype, key, Qt.KeyboardModifier.NoModifier, text)
            ev.setTimestamp(int(self._stamp_ms))
            QApplication.sendEvent(target, ev)
        self._stamp_ms += KEY_GAP_MS

    def _next_scan(self) -> None:
        if self.i >= len(self.plan):
            self.app.quit()
            return
        self.chars = list(self.plan[self.i])
        self._last_key = 0.0
        self._stamp_ms = max(self._stamp_ms, time.monotonic() * 1000.0)
        self._next_key()

    def _next_key(self) -> None:
        now = time.perf_counter()
        if self._last_key:
            self.max_key_gap_ms = max(self.max_key_gap_ms, (now - self._last_key) * 1000)
        self._last_key = now
        if self.chars:
            ch = self.chars.pop(0)
            key = ord(ch.upper()) if ch.isalnum() else ord(ch)
            self._send(key, ch)
            self._key_timer.start(KEY_GAP_MS)
            return
        self.shown_before = self.screen.results_shown
        self.waiting_paint = True
        self.t_enter = time.perf_counter()
        self._watchdog.start(3000)
        self._send(Qt.Key.Key_Return, "\r")

    def _on_window_scan_recorded(self, record) -> None:  # noqa: ANN001
        self.t_result = time.perf_counter()
        self.result_ms.append((self.t_result - self.t_enter) * 1000)
        key = str(record.outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        # The first paint of the banner once the result is on it (other widgets' slots on
        # scan_recorded may already have caused it, so go by the screen's result counter).
        if (self.waiting_paint and event.type() == QEvent.Type.Paint
                and self.screen.results_shown > self.shown_before):
            self.waiting_paint = False
            self._watchdog.stop()
            self.latencies.append((time.perf_counter() - self.t_enter) * 1000)
            self.entered.append(self.t_enter)
            self.i += 1
            self._pause_timer.start(PAUSE_MS)
        return False

    def _on_watchdog_timeout(self) -> None:
        self.waiting_paint = False
        self.stuck.append(self.plan[self.i])
        self.i += 1
        self._pause_timer.start(PAUSE_MS)

    def _after_pause(self) -> None:
        if self.window.reads_waiting:  # never overlap two scans: that would measure queueing
            self._pause_timer.start(1)
            return
        self._next_scan()


@contextlib.contextmanager
def draining_centre(station_id: str, area: str) -> Iterator[tuple[str, str]]:
    """A centre for the station to drain to: (service URL, the station's token)."""
    from bench.ingest import fresh_db, server_url, setup_centre
    from bench.serve_proc import Serve, service_url

    admin, srv = server_url()
    try:
        url = fresh_db(admin, "tt_bench_scan_drain")
        token = setup_centre(url, station_id, area)
        with Serve(service_url(url), workers=2) as serve:
            yield serve.url, token
    finally:
        if srv is not None:
            srv.cleanup()


class _Drained:
    """When the window's sync first finished a run with nothing left to send (GUI thread)."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.events = 0

    def on_run_finished(self, summary) -> None:  # noqa: ANN001
        self.events += summary.sent
        if self.at is None and summary.error is None and summary.pending == 0:
            self.at = time.perf_counter()


def _pct_summary(values: list[float]) -> dict:
    if not values:
        return {"scans": 0}
    return {"scans": len(values), "p50_ms": round(statistics.median(values), 3),
            "p99_ms": round(percentile(values, 99), 3), "max_ms": round(max(values), 3)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="2 000 scans on a 200 000-bag store")
    ap.add_argument("--scans", type=int)
    ap.add_argument("--bags", type=int)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--drain", action="store_true",
                    help="scan while the store's whole history drains to a real centre")
    ap.add_argument("--pull", action="store_true",
                    help="with --drain: the sync also pulls (downloads the centre's bags), as the "
                         "window's does")
    args = ap.parse_args(argv)
    n_scans = args.scans or (2000 if args.full else 300)
    n_bags = args.bags or (200_000 if args.full else 20_000)

    with tempfile.TemporaryDirectory(prefix="scan_to_screen-") as tmp, \
            contextlib.ExitStack() as stack:
        gen = build_store(Path(tmp) / "station", bags=n_bags, seed=args.seed)
        centre = None
        if args.drain:
            with contextlib.closing(sqlite3.connect(gen.paths.store)) as db, db:
                db.execute("UPDATE events SET sync_state = 'pending'")  # the history, not yet sent
                backlog = db.execute("SELECT count(*) FROM events").fetchone()[0]
            centre = stack.enter_context(draining_centre(STATION_ID, AREA))
        os.environ["TRACETRACK_NO_SOUND"] = "1"
        app = QApplication.instance() or QApplication(sys.argv[:1])
        from ui.main_window import MainWindow

        store = LocalStore.open(gen.paths)
        window = MainWindow(store)
        window.resize(1280, 800)
        window.show()
        window.task_runner.submit(lambda s: s.login("dispatcher", "demo"), window.set_operator)
        deadline = time.monotonic() + 30
        while window.operator is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        window.station_screen.children_list.setFocus()
        # Reads shorter than the scanner minimum are typing, not scans: leave them out.
        min_len = window.settings.scanner_min_length
        plan = [c for c in scan_plan(n_scans + n_scans // 10, args.seed) if len(c) >= min_len]
        plan = plan[:n_scans]
        driver = Driver(app, window, plan)
        drained = _Drained()
        t0 = time.perf_counter()
        if centre is not None:
            from sync.transport import HttpTransport

            url, token = centre
            bridge = window.attach_sync(
                lambda: HttpTransport(url, token, station_id=STATION_ID), pull=args.pull)
            bridge.sync_run_finished.connect(drained.on_run_finished)
        driver.start()
        app.exec()
        wall = time.perf_counter() - t0
        window.shutdown()
        window.close()
        store.close()

    lat = driver.latencies
    result = {
        "bench": "scan_to_screen",
        "size": {"scans": len(lat), "bags": gen.bags, "key_gap_ms": KEY_GAP_MS},
        "metrics": {
            "p50_ms": round(statistics.median(lat), 3),
            "p99_ms": round(percentile(lat, 99), 3),
            "max_ms": round(max(lat), 3),
            "result_p50_ms": round(statistics.median(driver.result_ms), 3),
            "result_p99_ms": round(percentile(driver.result_ms, 99), 3),
            "max_driver_key_gap_ms": round(driver.max_key_gap_ms, 2),
            "outcomes": driver.outcomes,
            "no_result": len(driver.stuck),
            "no_result_reads": driver.stuck[:10],
            "wall_s": round(wall, 1),
        },
        "ratios": {
            "p99_vs_frame_16ms": round(percentile(lat, 99) / 16.0, 3),
        },
    }
    if args.drain:
        end = drained.at if drained.at is not None else float("inf")
        during = [ms for ms, at in zip(lat, driver.entered, strict=True) if at < end]
        result["size"]["backlog_events"] = backlog
        result["metrics"]["during_drain"] = _pct_summary(during)
        result["metrics"]["drain_s"] = None if drained.at is None else round(drained.at - t0, 1)
        result["metrics"]["events_sent"] = drained.events
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
