"""The station's main window: a stack of screens, the key bar, one path for every read, the
status bar.

Every read (USB burst, serial line, manual field, camera) enters through `handle_read`. Reads
are queued and handed to the active screen one at a time: the next read is dispatched only
after the previous one's store work and its result handling ran (a barrier task on the FIFO
task runner), so reads are processed in arrival order, none is lost, and a read that switches
screens (a bill id) takes effect before the next read is routed.

Where a read goes is one table (ui/keys.py SCAN_ROUTES): packing and bills record it, Review
and Look-up look it up, Settings, Sync issues and open dialogs refuse it ("scanning is paused
here") and record nothing. A read that arrived on a screen that records nothing is never
recorded, even when the screen changed before its turn came. F12 takes its place in the same
line: reads that came before it are recorded under the operator, reads after it are refused as
on the log-in screen. A dialog refuses (or, the new-bill dialog, takes) the reads that arrive
while it is open, never one that arrived before it opened and waited its turn. The global keys (F1-F12, Esc) are
one table too (ui/keys.py GLOBAL_KEYS), bound here on the window so they work on every screen
(F1 opens the About box of ui/about.py).

The window implements `ui.host.ScreenHost`, everything its screens may ask of it; the screens
tell it what happened through their own signals (`scan_result`, `logged_in`, `settings_saved`),
connected here. The sync bridge and its screen are declared here and made by `attach_sync`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QLayout,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from station.codes import escape_read
from station.reasons import Reason
from station.rules import Action, Outcome
from station.scanner import Read
from station.service import Operator, OpResult, StationService
from station.settings import StationSettings
from station.store.local import LocalStore
from sync.transport import Transport
from ui.bill_screen import BillScreen
from ui.camera_panel import CameraPanel, attach_camera_panel
from ui.host import Guarded, ScreenHost, ShownHook, ShowsMessages, TakesReads
from ui.key_bar import KeyBar
from ui.keys import GLOBAL_KEYS, Route, key_named, paused_message, route_for
from ui.login_screen import LoginScreen
from ui.records import ScanRecord
from ui.review import ReviewScreen
from ui.review_lookup import LookupScreen
from ui.scanner_input import ScannerInput
from ui.scanner_test_screen import ScannerTestScreen
from ui.settings_screen import SettingsScreen
from ui.sounds import SoundPlayer
from ui.station_screen import StationScreen
from ui.status_bar import StationStatusBar
from ui.styles import STYLE
from ui.sync_bridge import SyncBridge
from ui.sync_issues_screen import SyncIssuesScreen
from ui.tasks import TaskError, TaskRunner

if TYPE_CHECKING:
    from ui.about import AboutDialog
    from ui.serial_input import SerialScanner

__all__ = ["MainWindow", "ScanRecord"]

log = logging.getLogger(__name__)


@dataclass
class _Screen:
    key: str
    title: str
    widget: QWidget
    shortcut: QShortcut | None


@dataclass(frozen=True)
class _Arrival:
    """Where a read goes: its route, the screen that handles it, and what to call that place
    in a refusal."""

    route: Route
    screen: str
    where: str
    # arrived while the new-bill dialog was open: its id field takes it
    into_dialog: bool = False


SYNC_STOP_WAIT_S = 1.0  # how long closing the window waits for the sync worker's request

# In the line of reads: log the operator out here, after the reads that came before F12.
_LOG_OUT = _Arrival(Route.LOGIN, "login", "log-out")

_WHO_MAY = {Action.BILLS: "only a biller or an admin can", Action.SETTINGS: "only an admin can"}


class MainWindow(QMainWindow):
    """The station's window; implements `ui.host.ScreenHost` for its screens."""

    scan_recorded = Signal(object)  # ScanRecord, after each read's result, on the GUI thread
    operator_changed = Signal(object)  # Operator | None
    screen_changed = Signal(str)
    settings_changed = Signal(object)  # StationSettings

    # Sync: made by attach_sync (None until then, and on a window without sync).
    sync_bridge: SyncBridge | None
    sync_issues_screen: SyncIssuesScreen | None
    # The About box while it is open (F1).
    about_dialog: AboutDialog | None

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
        self._reads: deque[tuple[str, str, _Arrival]] = deque()
        self._read_busy = False
        # F12 was pressed: reads from now on are refused as on the log-in screen; reads that came
        # before it are still the operator's (the log-out waits behind them in `_reads`)
        self._logging_out = False
        self._refused_in_log_out: list[str] = []  # reads refused between F12 and its end
        self._settling_log_out = False
        self.reads_handled = 0
        self._closed = False
        self._screens: dict[str, _Screen] = {}
        self._previous_screen = "station"
        self.sync_bridge = None
        self.sync_issues_screen = None
        self.about_dialog = None

        self.setWindowTitle(f"TraceTrack Station {self.settings.station_id} ({self.settings.area})")
        self.setStyleSheet(STYLE)
        self.stack = QStackedWidget(self)
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.stack, 1)
        self.key_bar = KeyBar(central)
        self.key_bar.key_clicked.connect(self.press_key)
        column.addWidget(self.key_bar)
        self.setCentralWidget(central)
        # The global keys, on the window: they work on every screen, whatever has the focus.
        self.key_shortcuts: dict[str, QShortcut] = {}
        for k in GLOBAL_KEYS:
            if k.bound_here:
                sc = QShortcut(QKeySequence(k.key), self)
                sc.activated.connect(lambda key=k.key: self.press_key(key))
                self.key_shortcuts[k.key] = sc
        # A fixed minimum instead of one that follows every label change: the window never
        # jumps in size while scanning (and the offscreen platform does not warn about it).
        layout = self.layout()
        assert layout is not None  # a QMainWindow always has its own layout
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.setMinimumSize(640, 480)
        # Status figures are read on a thread of their own: counting a big backlog of pending
        # events takes tens of ms, and a scan must never wait behind it in the task queue.
        self.status_runner = TaskRunner(make_service or (lambda: StationService(store)), self,
                                        name="station-status")
        self.status_panel = StationStatusBar(self.status_runner, self)
        self.setStatusBar(self.status_panel)
        # (who and which station: in the key bar, on every screen)

        host: ScreenHost = self  # what the screens see of the window
        self.login_screen = LoginScreen(host, self)
        self.station_screen = StationScreen(host, self)
        self.scanner_test_screen = ScannerTestScreen(host, self)
        self.settings_screen = SettingsScreen(host, self)
        # What the screens tell the window.
        self.login_screen.logged_in.connect(self.set_operator)
        self.login_screen.scan_result.connect(self.record_scan_result)
        self.station_screen.scan_result.connect(self.record_scan_result)
        self.settings_screen.settings_saved.connect(self.apply_settings)
        self.add_screen("login", "Log in", self.login_screen, None)
        self.add_screen("station", "Pack bags", self.station_screen, "F2")
        self.add_screen("scanner_test", "Scanner test", self.scanner_test_screen, "F7")
        self.add_screen("settings", "Settings", self.settings_screen, "F9")
        # In the station screen's camera_area.
        self.camera_panel: CameraPanel = attach_camera_panel(host, self.station_screen,
                                                             self.station_screen.camera_area)
        # Bills (biller, admin) and look-up (everyone): see ui/bill_screen.py, ui/review*.py.
        self.bill_screen = BillScreen(host)
        self.bill_screen.scan_result.connect(self.record_scan_result)
        self.review_screen = ReviewScreen(host)
        self.lookup_screen = LookupScreen(host)
        self.add_screen("bill", "Load bill", self.bill_screen, "F3")
        self.add_screen("review", "Review bills", self.review_screen, "F4")
        self.add_screen("lookup", "Look up", self.lookup_screen, "F5")
        self.show_screen("login")
        self.key_bar.set_operator(None, self.settings.station_id, self.settings.area)
        # F1: version, store, decoders (on every screen, logged in or not).
        self.about_shortcut = QShortcut(QKeySequence("F1"), self)
        self.about_shortcut.activated.connect(self.show_about)

        self._restore_ui_state()
        self.scanner_input.start()
        self.status_panel.start()
        self._serial: SerialScanner | None = None
        if self.settings.serial_port:
            self._start_serial()

    # -- screens ----------------------------------------------------------------------------

    def add_screen(
        self, key: str, title: str, widget: QWidget, shortcut: str | None = None
    ) -> None:
        """Register a screen; `shortcut` (e.g. "F5") switches to it (a key of the global table
        is bound once, by the table)."""
        sc = None
        table_key = key_named(shortcut) if shortcut else None
        if shortcut and (table_key is None or not table_key.bound_here):
            sc = QShortcut(QKeySequence(shortcut), self)
            sc.activated.connect(lambda k=key: self.show_screen(k))
        if key in self._screens:
            self.stack.removeWidget(self._screens[key].widget)
        self._screens[key] = _Screen(key, title, widget, sc)
        self.stack.addWidget(widget)

    def has_screen(self, key: str) -> bool:
        return key in self._screens

    def screen_named(self, key: str) -> QWidget | None:
        """The screen registered as `key`."""
        s = self._screens.get(key)
        return s.widget if s else None

    def _reader(self, key: str) -> Callable[[str, str], None] | None:
        """The `handle_read(raw, source)` of screen `key`, if it takes reads."""
        screen = self.screen_named(key)
        return screen.handle_read if isinstance(screen, TakesReads) else None

    def open_bill(self, bill_id: str) -> bool:
        """Show the bill screen with this bill (a bill id scanned on the packing screen)."""
        screen = self.screen_named("bill")
        if not isinstance(screen, BillScreen) or not self.show_screen("bill"):
            return False
        screen.open_bill(bill_id)
        return True

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
        widget = s.widget
        if (isinstance(widget, Guarded) and self.operator is not None
                and not widget.allowed_for(self.operator)):
            gk = next((k for k in GLOBAL_KEYS if k.screen == key), None)
            who = _WHO_MAY.get(gk.needs, "ask an admin") if gk and gk.needs else "ask an admin"
            self.notify("refused", f"{self.operator.username} ({self.operator.role}) may not "
                        f"open {s.title}{f' ({gk.key})' if gk else ''}: {who}")
            self.sounds.play("error")
            return False
        before = self.current_screen_key
        if before and before != key and before != "login":
            self._previous_screen = before
        if before != key:
            self.key_bar.clear_notice()
        self.stack.setCurrentWidget(s.widget)
        self.key_bar.set_current(key)
        if isinstance(widget, ShownHook):
            widget.on_shown()
        self.screen_changed.emit(key)
        return True

    # -- what the screens read (ScreenHost) ---------------------------------------------------

    @property
    def last_scanner_read(self) -> Read | None:
        return self.scanner_input.last_read

    def notify(self, kind: str, text: str) -> None:
        """A message of the window itself (a refused key, a scan where scanning is paused):
        shown in the key bar, on every screen."""
        self.key_bar.show_notice(kind, text)

    @Slot(str)
    def press_key(self, key: str) -> None:
        """One of the global keys (pressed, or its key bar button clicked)."""
        k = key_named(key)
        if k is None or (self.operator is None and not k.logged_out):
            return
        if k.screen is not None:
            self.show_screen(k.screen)
        elif k.action == "logout":
            self.log_out()
        elif k.action == "back":
            self._on_escape_pressed()
        elif k.action == "about":
            self.show_about()

    @Slot()
    def show_about(self) -> AboutDialog | None:
        """The About box (F1); the one already open comes to the front. Esc or Enter closes it."""
        try:
            from ui.about import AboutDialog
        except ImportError:  # a build without the About box
            return None
        dialog = self.about_dialog
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        dialog = AboutDialog(self, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(self._on_about_destroyed)
        # Back to the window and the field that had the keyboard (some window systems leave no
        # window active when a dialog closes).
        dialog.finished.connect(self._on_about_finished)
        self.about_dialog = dialog
        dialog.open()  # window-modal, no nested event loop (the scanner's filter is app-wide)
        return dialog

    @Slot()
    def _on_about_destroyed(self) -> None:
        self.about_dialog = None

    @Slot(int)
    def _on_about_finished(self, _code: int) -> None:
        self.activateWindow()

    # -- reads ------------------------------------------------------------------------------

    @Slot(str, str)
    def _on_scanner_read_detected(self, text: str, source: str) -> None:
        self.handle_read(text, source)

    @Slot(str, str)
    def handle_read(self, raw: str, source: str) -> None:
        """The single path every read takes; reads are handled strictly in arrival order."""
        if self._closed:
            return
        self._reads.append((raw, source, self._route_now()))
        self._pump_reads()

    def _route_now(self, arriving: bool = True) -> _Arrival:
        """Where a read goes now: the current screen's route, or paused while a dialog is open
        (the new-bill dialog takes a scanned bill id: the bill screen hands it over). A read that
        arrives after F12 is the next person's: refused as on the log-in screen."""
        if arriving and self._logging_out:
            return _Arrival(Route.LOGIN, "login", "")
        modal = QApplication.activeModalWidget()
        # A dialog opened after a read arrived does not take it, nor pause it: the read goes to
        # its screen (Ctrl+N or Ctrl+E pressed just after a scan, while the store was busy).
        if arriving and modal is not None and modal is not self:
            if getattr(modal, "takes_scans", False) and self.current_screen_key == "bill":
                return _Arrival(Route.BILL, "bill", "", into_dialog=True)
            title = modal.windowTitle() or "a dialog"
            return _Arrival(Route.PAUSED, self.current_screen_key, f"{title!r} is open")
        key = self.current_screen_key
        route = route_for(key)
        if route is not Route.PAUSED and self._reader(key) is None:
            route = Route.PAUSED
        return _Arrival(route, key, self._screens[key].title if key in self._screens else key)

    def _route_of(self, arrival: _Arrival) -> _Arrival:
        """A read that arrived where nothing is recorded stays unrecorded; one that arrived on
        packing or a bill goes where the window is now (a bill id scanned just before it may
        have opened the bill screen; a screen that records nothing may have been opened)."""
        if not arrival.route.records or arrival.into_dialog:
            return arrival
        return self._route_now(arriving=False)

    @property
    def reads_waiting(self) -> int:
        return len(self._reads) + (1 if self._read_busy else 0)

    def _pump_reads(self) -> None:
        if self._read_busy or not self._reads or self._closed:
            return
        raw, source, arrival = self._reads.popleft()
        self._read_busy = True
        if arrival is _LOG_OUT:
            self._settling_log_out = True
            self._submit_log_out(raw)
            self._submit_barrier()
            return
        route = self._route_of(arrival)
        if self._logging_out and route.screen == "login":
            # the next person's, refused now; said again once the log-out is done
            self._refused_in_log_out.append(escape_read(raw, 40))
        try:
            if route.route is Route.PAUSED:
                self._refuse_paused(raw, source, route.where)
            else:
                self._hand_over(route.screen, raw, source, route.into_dialog)
        except Exception:
            log.exception("a screen failed to handle the read %r", raw)
        self._submit_barrier()

    def _submit_barrier(self) -> None:
        # The barrier: runs after every task the handler queued, and its callback after theirs.
        try:
            self.task_runner.submit(_barrier, self._on_task_read_settled,
                                    self._on_task_read_settled)
        except RuntimeError:
            self._read_busy = False

    def _hand_over(self, key: str, raw: str, source: str, into_dialog: bool = False) -> None:
        handle = self._reader(key)
        if handle is None:
            raise LookupError(f"screen {key!r} takes no reads")
        if key == "bill":
            self.bill_screen.handle_read(raw, source, into_dialog=into_dialog)
            return
        handle(raw, source)

    def _on_task_read_settled(self, _value: object) -> None:
        self._read_busy = False
        if self._settling_log_out:
            self._settling_log_out = False  # the log-out's place in line, not a read
        else:
            self.reads_handled += 1
        if self._reads:
            # Let the result paint before the next read (one frame per read at most).
            QTimer.singleShot(0, self._pump_reads)

    def _refuse_paused(self, raw: str, source: str, where: str) -> None:
        text = paused_message(escape_read(raw, 40), where)
        self.notify("refused", text)
        current = self.stack.currentWidget()
        if isinstance(current, ShowsMessages):
            current.show_message("refused", text)
        self.record_scan_result(ScanRecord(OpResult(Outcome.REFUSED, Reason.SCANNING_PAUSED,
                                                    text), raw, source))

    @Slot(object)
    def record_scan_result(self, record: ScanRecord) -> None:
        """Each read's result (the screens' `scan_result`): sound, signal, status refresh."""
        self.sounds.play_for(record.result)
        self.scan_recorded.emit(record)
        self.status_panel.refresh_soon()

    # -- operator ---------------------------------------------------------------------------

    @Slot(object)
    def set_operator(self, operator: Operator | None) -> None:
        self.operator = operator
        self.key_bar.set_operator(operator, self.settings.station_id, self.settings.area)
        self.key_bar.clear_notice()
        self._previous_screen = "station"
        self.operator_changed.emit(operator)
        if operator is None:
            self.show_screen("login")
        else:
            self.show_screen("station")

    def log_out(self) -> None:
        """F12. Reads that came before it are the operator's and are recorded first (the
        log-out takes its place in the line of reads); reads after it are the next person's and
        are refused as on the log-in screen. Logging out never fails (StationService.logout)."""
        if self.operator is None or self._logging_out:
            return
        self._logging_out = True
        name = self.operator.username
        if self.reads_waiting:
            self._reads.append((name, "", _LOG_OUT))
            self._pump_reads()
        else:
            self._submit_log_out(name)

    def _submit_log_out(self, name: str) -> None:
        def failed(err: TaskError) -> None:  # a bug: the window logs out all the same
            self._on_task_logged_out(name, err.message)

        try:
            self.task_runner.submit(lambda s: s.logout(),
                                    lambda note: self._on_task_logged_out(name, note), failed)
        except RuntimeError:  # the task thread has stopped (the window is closing)
            self._on_task_logged_out(name, None)

    def _on_task_logged_out(self, name: str, note: object = None) -> None:
        self._logging_out = False
        self.set_operator(None)
        text = f"{name} logged out. Next operator: log in"
        if isinstance(note, str) and note:
            text = f"{text}. {note}"
        if self._refused_in_log_out:  # not painted over: the refusal must stay said
            text += (". Scanned during the log-out, not recorded: "
                     + ", ".join(self._refused_in_log_out))
            self._refused_in_log_out = []
        if text.endswith("log in"):
            self.login_screen.show_info(text)
        else:
            self.login_screen.show_error(text)

    def _on_task_failed(self, err: TaskError) -> None:
        self.notify("refused", err.message)

    @Slot(object)
    def apply_settings(self, new: StationSettings) -> None:
        old = self.settings
        self.settings = new
        self.scanner_input.configure(new)
        self.sounds.muted = new.sound_muted
        self.key_bar.set_operator(self.operator, new.station_id, new.area)
        self.setWindowTitle(f"TraceTrack Station {new.station_id} ({new.area})")
        self.settings_changed.emit(new)
        # The serial port is opened again only when it changed (or is not open): closing it
        # drops the half line read so far and whatever the scanner sends meanwhile.
        serial_open = self._serial is not None and self._serial.is_open
        if (new.serial_port, new.serial_baud) != (old.serial_port, old.serial_baud) or (
                new.serial_port and not serial_open):
            self._start_serial()

    def _start_serial(self) -> None:
        from ui.serial_input import SerialScanner  # the serial port library only when used

        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self.status_panel.set_serial_problem(None)  # said again below if it cannot be opened
        if not self.settings.serial_port:
            return
        self._serial = SerialScanner(self.settings.serial_port, self.settings.serial_baud, self)
        self._serial.line_read.connect(self.handle_read)
        self._serial.failed.connect(self._on_serial_failed)
        self._serial.open()

    @Slot(str)
    def _on_serial_failed(self, message: str) -> None:
        self.notify("warning", message)
        if self._serial is None or not self._serial.is_open:
            # not there or unplugged: said for as long as it lasts (the notice goes at log-in)
            self.status_panel.set_serial_problem(message)

    @Slot()
    def _on_escape_pressed(self) -> None:
        """Esc: cancel what waits for a confirmation on packing; elsewhere back to the screen
        before (packing when there was none)."""
        key = self.current_screen_key
        if self.operator is None or key == "login":
            return
        if key == "station":
            self.station_screen.cancel_pending_confirmation()
            return
        back = self._previous_screen if self._previous_screen != key else "station"
        if not self.show_screen(back):
            self.show_screen("station")

    # -- sync -------------------------------------------------------------------------------

    def attach_sync(self, transport_factory: Callable[[], Transport] | None = None,
                    **worker_options: Any) -> SyncBridge:
        """Give the window its sync: the bridge (started when a centre is set) and the issues
        screen (F8)."""
        host: ScreenHost = self
        bridge = SyncBridge(host, self.status_panel, transport_factory, self, **worker_options)
        screen = SyncIssuesScreen(host, bridge)
        screen.settings_saved.connect(self.apply_settings)
        screen.acknowledged.connect(self._on_sync_issues_acknowledged)
        bridge.settings_from_centre.connect(self.apply_settings)
        bridge.sync_run_finished.connect(self._on_sync_run_finished)
        self.add_screen("sync_issues", "Sync issues", screen, "F8")
        self.sync_bridge = bridge
        self.sync_issues_screen = screen
        bridge.start()
        return bridge

    @Slot(object)
    def _on_sync_run_finished(self, summary: Any) -> None:
        """A run that pulled the centre's changes into the store: the open bill, the parent
        being packed or the bills list is read again, so the screen shows what the centre holds
        (a bill closed or made at another station, a child linked elsewhere)."""
        if not getattr(summary, "pulled", 0) or self.operator is None or self._closed:
            return
        key = self.current_screen_key
        if key == "bill" and self.bill_screen.bill_id is not None:
            self.bill_screen.refresh()
        elif key == "station":
            self.station_screen.reload_parent()
        elif key == "review":
            self.review_screen.reload()  # the list (and the selected bill's detail with it)
            self.review_screen.reload_summary()

    @Slot(int)
    def _on_sync_issues_acknowledged(self, _count: int) -> None:
        self.status_panel.refresh_status()

    # -- UI state and shutdown --------------------------------------------------------------

    def _restore_ui_state(self) -> None:
        geometry = self._qsettings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            # 1280x800, or the whole screen where that is smaller (a 1024x768 station).
            screen = self.screen() or QApplication.primaryScreen()
            room = screen.availableGeometry() if screen is not None else None
            if room is not None and (room.width() < 1280 or room.height() < 800):
                self.setGeometry(room)
            else:
                self.resize(1280, 800)
        state = self._qsettings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        self.station_screen.restore_state(self._qsettings)

    @property
    def ui_settings(self) -> QSettings:
        """ui.ini: window layout, the last folder an export was saved to."""
        return self._qsettings

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
            raw, source, arrival = self._reads.popleft()
            route = self._route_of(arrival)
            if not route.route.records:
                continue  # it would have recorded nothing
            try:
                self._hand_over(route.screen, raw, source)
            except Exception:
                log.exception("could not hand over the read %r at shutdown", raw)
        self._closed = True
        self.save_ui_state()
        if self.sync_bridge is not None:
            # Not a 10 s wait on a centre that does not answer: the window closes now, and a
            # request still in flight ends on its own in the worker's (daemon) thread, whose
            # batch stays pending if no answer came (sent again at the next start).
            self.sync_bridge.stop(timeout=SYNC_STOP_WAIT_S)
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

