"""scan_to_screen: scanner bursts of key events into the real main window (offscreen), measured
from the burst's Enter key to the first paint of the result banner.

The keys go through the application event filter, the burst detector, the read queue, the
task runner (record_scan committed with synchronous=FULL on a seeded store) and back to the
GUI thread, exactly as a USB scanner's keys would. The GUI thread sleeps in its event loop
between keys (a driver on QTimers), as in the real application.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

from PySide6.QtCore import QEvent, QObject, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QKeyEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.data import build_store  # noqa: E402
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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="2 000 scans on a 200 000-bag store")
    ap.add_argument("--scans", type=int)
    ap.add_argument("--bags", type=int)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    n_scans = args.scans or (2000 if args.full else 300)
    n_bags = args.bags or (200_000 if args.full else 20_000)

    with tempfile.TemporaryDirectory(prefix="scan_to_screen-") as tmp:
        gen = build_store(Path(tmp) / "station", bags=n_bags, seed=args.seed)
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
        driver.start()
        t0 = time.perf_counter()
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
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
