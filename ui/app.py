"""Start the station window: open the store (before any window), build the main window, run."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from types import TracebackType

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from station.paths import StationPaths
from station.store.local import LocalStore

log = logging.getLogger(__name__)

# Benchmarks set this: print the time of the first painted main window and RSS, then quit.
STARTUP_PROBE_ENV = "TRACETRACK_STARTUP_PROBE"


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class _FirstPaint(QObject):
    """Notices the first Paint event of the main window (startup benchmark)."""

    def __init__(self, on_paint) -> None:  # noqa: ANN001
        super().__init__()
        self._on_paint = on_paint
        self.done = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if not self.done and event.type() == QEvent.Type.Paint:
            self.done = True
            QTimer.singleShot(0, self._on_paint)
        return False


def install_excepthook(app: QApplication) -> None:
    """Bugs are not swallowed: logged, and shown in one dialog."""

    def hook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(etype, value, tb))
        log.error("unhandled error\n%s", text)
        sys.stderr.write(text)
        if QApplication.instance() is not None and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            QMessageBox.critical(None, "TraceTrack Station: program error",
                                 f"{etype.__name__}: {value}\n\nDetails are in the log.")

    sys.excepthook = hook


def run_window(paths: StationPaths) -> int:
    t0 = time.perf_counter()
    store = LocalStore.open(paths)  # raises NoStation / StoreError before any window exists
    paths.ensure()
    logging.basicConfig(filename=str(paths.log_file), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("TraceTrack Station")
    install_excepthook(app)
    from ui.main_window import MainWindow

    window = MainWindow(store)
    from ui.sync_bridge import attach_sync

    sync_bridge = attach_sync(window)  # sync issues screen (F8); syncing when a centre is set
    if os.environ.get(STARTUP_PROBE_ENV):
        def report() -> None:
            print(f"STARTUP first_paint_s={time.perf_counter() - t0:.4f} "
                  f"wall={time.time():.4f} rss_mb={_rss_mb():.1f}", flush=True)
            window.close()
            app.quit()

        probe = _FirstPaint(report)
        window.installEventFilter(probe)
    window.show()
    try:
        return int(app.exec())
    finally:
        sync_bridge.stop()
        window.shutdown()
        store.close()
