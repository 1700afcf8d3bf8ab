"""The station's main window: a stack of screens, one path for every read, the status bar.

Every read (USB burst, serial line, manual field, camera) enters through `handle_read`. Reads
are queued and handed to the active screen one at a time: the next read is dispatched only
after the previous one's store work and its result handling ran (a barrier task on the FIFO
task runner), so reads are processed in arrival order, none is lost, and a read that switches
screens (a bill id) takes effect before the next read is routed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QLayout, QMainWindow, QStackedWidget, QWidget

from station.service import Operator, OpResult, StationService
from station.settings import StationSettings
from station.store.local import LocalStore
from ui.scanner_input import ScannerInput
from ui.sounds import SoundPlayer
from ui.status_bar import StationStatusBar
from ui.tasks import TaskError, TaskRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanRecord:
    """What `scan_recorded` carries: the service's OpResult plus where the read came from."""

    result: OpResult
    raw: str
    source: str  # scanner | serial | typed | camera
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    # The OpResult's fields, so listeners can treat a record like the result itself.
    @property
    def outcome(self) -> Any:
        return self.result.outcome

    @property
    def reason(self) -> str:
        return self.result.reason

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def code(self) -> str | None:
        return self.result.code

    @property
    def ok(self) -> bool:
        return self.result.ok


@dataclass
class _Screen:
    key: str
    title: str
    widget: QWidget
    shortcut: QShortcut | None


class MainWindow(QMainWindow):
    scan_recorded = Signal(object)  # ScanRecord, after each read's result, on the GUI thread
    operator_changed = Signal(object)  # Operator | None
    screen_changed = Signal(str)
    settings_changed = Signal(object)  # StationSettings

    def __init__(
        self,
        store: LocalStore,
        *,
        make_service: Callable[[], StationService] | None = None,
        qsettings_path: str | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.settings: StationSettings = store.settings()
        self.operator: Operator | None = None
        self.task_runner = TaskRunner(make_service or (lambda: StationService(store)), self)
        self.sounds = SoundPlayer(muted=self.settings.sound_muted, parent=self)
        self.scanner_input = ScannerInput(self.settings, self)
        self.scanner_input.read_detected.connect(self._on_scanner_read_detected)
        self._qsettings = QSettings(
            qsettings_path or str(store.paths.qsettings), QSettings.Format.IniFormat
        )
        self._reads: deque[tuple[str, str]] = deque()
        self._read_busy = False
        self.reads_handled = 0
        self._closed = False
        self._screens: dict[str, _Screen] = {}

        self.setWindowTitle(f"TraceTrack Station {self.settings.station_id} ({self.settings.area})")
        self.stack = QStackedWidget(self)
        self.setCentralWidget(self.stack)
        # A fixed minimum instead of one that follows every label change: the window never
        # jumps in size while scanning (and the offscreen platform does not warn about it).
        self.layout().setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setMinimumSize(640, 480)
        # Status figures are read on a thread of their own: counting a big backlog of pending
        # events takes tens of ms, and a scan must never wait behind it in the task queue.
        self.status_runner = TaskRunner(make_service or (lambda: StationService(store)), self,
                                        name="station-status")
        self.status_panel = StationStatusBar(self.status_runner, self)
        self.setStatusBar(self.status_panel)
        self.status_panel.station_label.setText(
            f"Station {self.settings.station_id} · area {self.settings.area}"
        )

        # Imported here: the screens import ScanRecord from this module.
        from ui.login_screen import LoginScreen
        from ui.scanner_test_screen import ScannerTestScreen
        from ui.settings_screen import SettingsScreen
        from ui.station_screen import StationScreen

        self.login_screen = LoginScreen(self)
        self.station_screen = StationScreen(self)
        self.scanner_test_screen = ScannerTestScreen(self)
        self.settings_screen = SettingsScreen(self)
        self.add_screen("login", "Log in", self.login_screen, None)
        self.add_screen("station", "Pack bags", self.station_screen, "F2")
        self.add_screen("scanner_test", "Scanner test", self.scanner_test_screen, "F7")
        self.add_screen("settings", "Settings", self.settings_screen, "F9")
        from ui.camera_panel import attach_camera_panel

        self.camera_panel = attach_camera_panel(self)  # in the station screen's camera_area
        # Bills (biller, admin) and look-up (everyone): see ui/bill_screen.py, ui/review*.py.
        from ui.bill_screen import BillScreen
        from ui.review import ReviewScreen
        from ui.review_lookup import LookupScreen

        self.bill_screen = BillScreen(self)
        self.review_screen = ReviewScreen(self)
        self.lookup_screen = LookupScreen(self)
        self.add_screen("bill", "Load bill", self.bill_screen, "F3")
        self.add_screen("review", "Review bills", self.review_screen, "F4")
        self.add_screen("lookup", "Look up", self.lookup_screen, "F5")
        self.show_screen("login")
        QShortcut(QKeySequence("Escape"), self, self._on_escape_pressed)
        from ui.about import install_about_shortcut

        self.about_shortcut = install_about_shortcut(self)  # F1: version, store, decoders

        self._restore_ui_state()
        self.scanner_input.start()
        self.status_panel.start()
        self._serial = None
        if self.settings.serial_port:
            self._start_serial()

    # -- screens ----------------------------------------------------------------------------

    def add_screen(
        self, key: str, title: str, widget: QWidget, shortcut: str | None = None
    ) -> None:
        """Register a screen; `shortcut` (e.g. "F5") switches to it."""
        sc = None
        if shortcut:
            sc = QShortcut(QKeySequence(shortcut), self)
            sc.activated.connect(lambda k=key: self.show_screen(k))
        if key in self._screens:
            self.stack.removeWidget(self._screens[key].widget)
        self._screens[key] = _Screen(key, title, widget, sc)
        self.stack.addWidget(widget)

    def has_screen(self, key: str) -> bool:
        return key in self._screens

    def screen(self, key: str) -> QWidget | None:
        s = self._screens.get(key)
        return s.widget if s else None

    @property
    def current_screen_key(self) -> str:
        w = self.stack.currentWidget()
        for key, s in self._screens.items():
            if s.widget is w:
                return key
        return ""

    def show_screen(self, key: str) -> bool:
        """Switch screens; everything but the login screen needs a logged-in operator."""
        s = self._screens.get(key)
        if s is None:
            return False
        if key != "login" and self.operator is None:
            key, s = "login", self._screens["login"]
        allowed = getattr(s.widget, "allowed_for", None)
        if callable(allowed) and self.operator is not None and not allowed(self.operator):
            self.station_screen.show_message(
                "refused", f"{self.operator.username} ({self.operator.role}) may not open "
                f"{s.title}: ask an admin"
            )
            return False
        self.stack.setCurrentWidget(s.widget)
        on_shown = getattr(s.widget, "on_shown", None)
        if callable(on_shown):
            on_shown()
        self.screen_changed.emit(key)
        return True

    # -- reads ------------------------------------------------------------------------------

    @Slot(str, str)
    def _on_scanner_read_detected(self, text: str, source: str) -> None:
        self.handle_read(text, source)

    @Slot(str, str)
    def handle_read(self, raw: str, source: str) -> None:
        """The single path every read takes; reads are handled strictly in arrival order."""
        if self._closed:
            return
        self._reads.append((raw, source))
        self._pump_reads()

    @property
    def reads_waiting(self) -> int:
        return len(self._reads) + (1 if self._read_busy else 0)

    def _pump_reads(self) -> None:
        if self._read_busy or not self._reads or self._closed:
            return
        raw, source = self._reads.popleft()
        self._read_busy = True
        target = self.stack.currentWidget()
        handler = getattr(target, "handle_read", None)
        if not callable(handler):
            target = self.station_screen
            handler = self.station_screen.handle_read
        try:
            handler(raw, source)
        except Exception:
            log.exception("a screen failed to handle the read %r", raw)
        # The barrier: runs after every task the handler queued, and its callback after theirs.
        try:
            self.task_runner.submit(_barrier, self._on_task_read_settled,
                                    self._on_task_read_settled)
        except RuntimeError:
            self._read_busy = False

    def _on_task_read_settled(self, _value: object) -> None:
        self._read_busy = False
        self.reads_handled += 1
        if self._reads:
            # Let the result paint before the next read (one frame per read at most).
            QTimer.singleShot(0, self._pump_reads)

    def record_scan_result(self, record: ScanRecord) -> None:
        """Screens call this with each read's result: sound, signal, status refresh."""
        self.sounds.play_for(record.result)
        self.scan_recorded.emit(record)
        self.status_panel.refresh_soon()

    # -- operator ---------------------------------------------------------------------------

    def set_operator(self, operator: Operator | None) -> None:
        self.operator = operator
        self.operator_changed.emit(operator)
        if operator is None:
            self.show_screen("login")
        else:
            self.show_screen("station")

    def log_out(self) -> None:
        if self.operator is None:
            return
        name = self.operator.username

        def work(s: StationService) -> None:
            if s.operator is not None and s.current_parent() is not None:
                s.release_parent()
            s.logout()

        self.task_runner.submit(work, lambda _r: self._on_task_logged_out(name),
                                self._on_task_failed)

    def _on_task_logged_out(self, name: str) -> None:
        self.set_operator(None)
        self.login_screen.show_info(f"{name} logged out. Next operator: log in")

    def _on_task_failed(self, err: TaskError) -> None:
        self.station_screen.show_message("refused", err.message)

    def apply_settings(self, new: StationSettings) -> None:
        self.settings = new
        self.scanner_input.configure(new)
        self.sounds.muted = new.sound_muted
        self.station_screen.on_settings_changed(new)
        self.status_panel.station_label.setText(f"Station {new.station_id} · area {new.area}")
        self.setWindowTitle(f"TraceTrack Station {new.station_id} ({new.area})")
        self.settings_changed.emit(new)
        self._start_serial()

    def _start_serial(self) -> None:
        from ui.serial_input import SerialScanner

        if self._serial is not None:
            self._serial.close()
            self._serial = None
        if not self.settings.serial_port:
            return
        self._serial = SerialScanner(self.settings.serial_port, self.settings.serial_baud, self)
        self._serial.line_read.connect(self.handle_read)
        self._serial.failed.connect(self._on_serial_failed)
        self._serial.open()

    @Slot(str)
    def _on_serial_failed(self, message: str) -> None:
        self.station_screen.show_message("warning", message)

    @Slot()
    def _on_escape_pressed(self) -> None:
        if self.current_screen_key in ("scanner_test", "settings"):
            self.show_screen("station")
        else:
            self.station_screen.cancel_pending_confirmation()

    # -- UI state and shutdown --------------------------------------------------------------

    def _restore_ui_state(self) -> None:
        geometry = self._qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        state = self._qsettings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self.station_screen.restore_state(self._qsettings)

    def save_ui_state(self) -> None:
        self._qsettings.setValue("window/geometry", self.saveGeometry())
        self._qsettings.setValue("window/state", self.saveState())
        self.station_screen.save_state(self._qsettings)
        self._qsettings.sync()

    def shutdown(self) -> None:
        """Stop input, timers and the task thread; idempotent (closeEvent and tests call it)."""
        if self._closed:
            return
        self.scanner_input.flush_now()
        self.scanner_input.stop()
        self.camera_panel.shutdown()
        # Reads still queued are handed over now: their store work runs before the task
        # thread stops (only the on-screen feedback is skipped), so no read is lost.
        while self._reads:
            raw, source = self._reads.popleft()
            try:
                self.station_screen.handle_read(raw, source)
            except Exception:
                log.exception("could not hand over the read %r at shutdown", raw)
        self._closed = True
        self.save_ui_state()
        self.status_panel.stop()
        self.station_screen.stop()
        if self._serial is not None:
            self._serial.close()
        self.task_runner.stop()
        self.status_runner.stop()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)


def _barrier(_service: StationService) -> None:
    return None

