"""Start the station window: open the store (before any window), build the main window, run."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from station import APP_VERSION
from station.paths import StationPaths
from station.store.local import LocalStore

if TYPE_CHECKING:
    from ui.main_window import MainWindow

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


# Every unhandled error of this process (the smoke test fails on any).
unhandled_errors: list[str] = []


def install_excepthook(app: QApplication) -> None:
    """Bugs are not swallowed: logged, and shown in one dialog."""

    def hook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(etype, value, tb))
        unhandled_errors.append(f"{etype.__name__}: {value}")
        log.error("unhandled error\n%s", text)
        sys.stderr.write(text)
        if QApplication.instance() is not None and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            QMessageBox.critical(None, "TraceTrack Station: program error",
                                 f"{etype.__name__}: {value}\n\nDetails are in the log.")

    sys.excepthook = hook


def run_window(paths: StationPaths, *, smoke_test: bool = False) -> int:
    t0 = time.perf_counter()
    store = LocalStore.open(paths)  # raises NoStation / StoreError before any window exists
    paths.ensure()
    logging.basicConfig(filename=str(paths.log_file), level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if smoke_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no screen needed
    # (the stubs type instance() as the QCoreApplication it is declared on)
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    app.setApplicationName("TraceTrack Station")
    app.setApplicationVersion(APP_VERSION)
    app.setDesktopFileName("tracetrack-station")  # the .deb's desktop entry (icon, Wayland)
    install_excepthook(app)
    smoke = SmokeTest(app) if smoke_test else None
    from ui.main_window import MainWindow

    window = MainWindow(store)
    sync_bridge = window.attach_sync()  # sync issues screen (F8); syncing when a centre is set
    if smoke is not None:
        smoke.watch(window, t0)
    if os.environ.get(STARTUP_PROBE_ENV):
        def report() -> None:
            print(f"STARTUP first_paint_s={time.perf_counter() - t0:.4f} "
                  f"wall={time.time():.4f} rss_mb={_rss_mb():.1f}", flush=True)
            window.close()
            app.quit()

        probe = _FirstPaint(report)
        window.installEventFilter(probe)
    from ui.signals import SignalCloser

    # Before the window shows (and says so in the log): a SIGTERM from then on closes it like
    # the close button, and ui.ini is saved.
    closer = SignalCloser(window.close)
    window.show()
    log.info("window shown: station %s, %s", window.settings.station_id, paths.data_dir)
    try:
        status = int(app.exec())
    finally:
        closer.uninstall()
        window.shutdown()  # stops the sync bridge too, without waiting on a silent centre
        sync_bridge.stop()
        store.close()
    if smoke is not None:
        return smoke.finish(status)
    return status


# -- smoke test (tracetrack-station --smoke-test) ---------------------------------------------
#
# Run by packaging/smoke.sh on the frozen build: a part that PyInstaller left out (a module
# imported late, a Qt plugin, a library a plugin needs from the system) is found here and fails
# the run, instead of failing on a workstation the first time that part is used.

SMOKE_TIMEOUT_S = float(os.environ.get("TRACETRACK_SMOKE_TIMEOUT_S", "60"))

# Imported only when a feature is used (reports, sync, camera, sounds, serial scanners, PDF).
SMOKE_MODULES = (
    "PySide6.QtMultimedia", "PySide6.QtSerialPort", "PySide6.QtPrintSupport",
    "cv2", "zxingcpp", "numpy", "openpyxl", "httpx", "ssl", "certifi", "keyring",
    "sqlalchemy.dialects.sqlite.pysqlite", "alembic.command", "platformdirs",
)

# Qt plugins the station needs (plugin folder, file), by platform.
SMOKE_PLUGINS: dict[str, tuple[tuple[str, str], ...]] = {
    "linux": (
        ("platforms", "libqxcb.so"), ("platforms", "libqoffscreen.so"),
        ("xcbglintegrations", "libqxcb-glx-integration.so"),
        ("multimedia", "libffmpegmediaplugin.so"),
        ("imageformats", "libqjpeg.so"), ("imageformats", "libqsvg.so"),
        ("iconengines", "libqsvgicon.so"),
        ("platforminputcontexts", "libcomposeplatforminputcontextplugin.so"),
        ("printsupport", "libcupsprintersupport.so"),
    ),
    "win32": (
        ("platforms", "qwindows.dll"), ("platforms", "qoffscreen.dll"),
        ("multimedia", "ffmpegmediaplugin.dll"),
        ("imageformats", "qjpeg.dll"), ("imageformats", "qsvg.dll"),
        ("printsupport", "windowsprintersupport.dll"),
    ),
}

# Qt messages that mean a part is missing (the rest is printed, not judged).
SMOKE_FATAL_MESSAGES = ("Cannot load library", "Could not load the Qt platform plugin",
                        "Could not find the Qt platform plugin", "No QtMultimedia backends",
                        "Failed to load")


def smoke_checks() -> list[str]:
    """Every late-loaded part of the station that cannot be loaded here, in plain words."""
    problems = []
    for module in SMOKE_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any failure to import is the finding
            problems.append(f"module {module} cannot be imported: {type(exc).__name__}: {exc}")
    from PySide6.QtCore import QLibraryInfo, QPluginLoader
    from PySide6.QtGui import QImageReader

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    for folder, name in SMOKE_PLUGINS.get(sys.platform, ()):
        path = plugins / folder / name
        if not path.exists():
            problems.append(f"Qt plugin {folder}/{name} is missing (looked in {plugins})")
            continue
        loader = QPluginLoader(str(path))
        if not loader.load():  # its own libraries, from the bundle or the system
            problems.append(f"Qt plugin {folder}/{name} cannot be loaded: {loader.errorString()}")
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    problems += [f"Qt cannot read {fmt} images" for fmt in ("png", "jpg", "svg")
                 if fmt not in formats]
    if "PySide6.QtMultimedia" in sys.modules:
        from PySide6.QtMultimedia import QMediaFormat

        if not QMediaFormat().supportedFileFormats(QMediaFormat.ConversionMode.Decode):
            problems.append("QtMultimedia has no backend (the multimedia plugin did not load)")
    if "httpx" in sys.modules and "certifi" in sys.modules:
        import httpx

        try:  # HTTPS to the centre: the certificate authorities' bundle must be there
            httpx.Client(verify=True).close()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"HTTPS to the centre cannot be set up: {type(exc).__name__}: {exc}")
    from station.camera.decoders import backend_status

    if backend_status().get("zxing") is not None:
        problems.append(f"the zxing decoder is not available: {backend_status()['zxing']}")
    return problems


class SmokeTest(QObject):
    """Checks the parts, then waits for the login screen to paint and quits the application;
    `finish` turns what it saw into the exit status (0: all there)."""

    def __init__(self, app: QApplication) -> None:
        super().__init__()
        from PySide6.QtCore import QLoggingCategory, QtMsgType, qInstallMessageHandler

        self._app = app
        self.problems: list[str] = []
        self.painted_after_s: float | None = None
        self._t0 = time.perf_counter()
        self._target: QObject | None = None
        self._window: MainWindow | None = None
        # Optional extras of Qt multimedia (PipeWire, VA-API) are not the station's parts.
        QLoggingCategory.setFilterRules("qt.multimedia.symbolsresolver=false\n"
                                        "qt.multimedia.ffmpeg.info=false")
        self._fatal_types = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg,
                             QtMsgType.QtFatalMsg)
        self._previous_handler = qInstallMessageHandler(self._on_qt_message)
        self.problems += smoke_checks()
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(self._on_timeout_expired)

    def _on_qt_message(self, kind, context, message: str) -> None:  # noqa: ANN001
        sys.stderr.write(f"qt: {message}\n")
        if kind in self._fatal_types and any(m in message for m in SMOKE_FATAL_MESSAGES):
            self.problems.append(f"Qt: {message}")

    def watch(self, window: MainWindow, t0: float) -> None:
        self._t0 = t0
        self._window = window
        # The user field: the login screen's first widget that paints something of its own.
        self._target = window.login_screen.user_edit
        self._target.installEventFilter(self)
        self._timeout.start(int(SMOKE_TIMEOUT_S * 1000))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if (obj is self._target and self.painted_after_s is None
                and event.type() == QEvent.Type.Paint):
            self.painted_after_s = time.perf_counter() - self._t0
            QTimer.singleShot(0, self._on_login_painted)
        return False

    def _on_login_painted(self) -> None:
        window = self._window
        assert window is not None  # watch() came first
        if window.current_screen_key != "login" or not window.login_screen.isVisible():
            self.problems.append(f"the window painted {window.current_screen_key!r}, not the "
                                 "login screen")
        self._quit()

    def _on_timeout_expired(self) -> None:
        self.problems.append(f"the login screen did not paint within {SMOKE_TIMEOUT_S:g} s")
        self._quit()

    def _quit(self) -> None:
        self._timeout.stop()
        if self._target is not None:
            self._target.removeEventFilter(self)
        if self._window is not None:
            self._window.close()
        self._app.quit()

    def finish(self, status: int) -> int:
        from PySide6.QtCore import qInstallMessageHandler

        qInstallMessageHandler(self._previous_handler)
        problems = list(self.problems)
        problems += [f"unhandled error: {e}" for e in unhandled_errors]
        if status != 0:
            problems.append(f"the window's event loop ended with status {status}")
        if self.painted_after_s is None and not problems:
            problems.append("the login screen never painted")
        if problems:
            sys.stderr.write("smoke test FAILED:\n" + "".join(f"  - {p}\n" for p in problems))
            return 1
        from station.camera.decoders import describe_backends

        print(f"smoke test passed: login screen painted {self.painted_after_s:.2f} s after "
              f"start (platform {self._app.platformName()}, TraceTrack Station {APP_VERSION}, "
              f"decoders: {describe_backends()})", flush=True)
        return 0
