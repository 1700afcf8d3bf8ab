"""The status bar: pending events, oldest pending age, last sync, sync issues, centre state.

Figures come from the local store (station/status.py) through the task runner, so they are
right while offline and the GUI thread never reads the store itself. The sync bridge sets the
centre state label directly (`set_centre_state`) when it knows better than the store.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar

from station.service import StationService
from station.status import StationStatus, read_status
from ui.tasks import TaskError, TaskRunner

_STATE_COLOURS = {
    "online": "#1b7f2a",
    "syncing": "#1f5fbf",
    "offline": "#a66300",
    "blocked": "#b3261e",
}


def status_of(service: StationService) -> StationStatus:
    """Runs on the task thread: one short read of the store, then release the snapshot."""
    conn = service.reader  # a plain BEGIN: never the write lock scans commit under
    try:
        return read_status(conn)
    finally:
        if conn.in_transaction():
            conn.rollback()


class StationStatusBar(QStatusBar):
    REFRESH_MS = 3000
    MIN_INTERVAL_MS = 400  # scans in quick succession share one refresh

    def __init__(self, runner: TaskRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self._runner = runner
        self.status: StationStatus | None = None
        self.sync_problem: str | None = None  # why the window's sync cannot run (set_sync_problem)
        self._stopped = False
        self._in_flight = False
        self._again = False
        self.centre_label = QLabel("centre: …")
        self.sync_label = self.centre_label  # the sync bridge updates this one
        self.pending_label = QLabel("… pending")
        self.last_sync_label = QLabel("")
        self.issues_label = QLabel("")
        self.station_label = QLabel("")
        for w in (self.centre_label, self.pending_label, self.last_sync_label, self.issues_label):
            w.setStyleSheet("QLabel { padding: 0 10px; font-size: 15px; }")
            self.addPermanentWidget(w)
        self.addWidget(self.station_label)
        # The bar's messages (why the station is not syncing, with what to do; the clock's
        # skew) in a label that wraps: QStatusBar paints its own message on one line, cut off
        # after some 60 characters on a 1024 px screen.
        self._message = ""
        self.message_label = QLabel("")
        self.message_label.setObjectName("status_message")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("QLabel { padding: 0 4px; }")
        self.message_label.hide()
        self.message_label.installEventFilter(self)
        self.addWidget(self.message_label, 1)
        # A serial scanner that cannot be used (not there, unplugged): said for as long as it
        # lasts, on every screen (a key bar notice goes at the next key or log-in).
        self.serial_label = QLabel("")
        self.serial_label.setObjectName("serial_problem")
        self.serial_label.setWordWrap(True)
        self.serial_label.setStyleSheet(
            "QLabel { padding: 0 4px; color: #b3261e; font-weight: bold; }")
        self.serial_label.hide()
        self.serial_label.installEventFilter(self)
        self.addWidget(self.serial_label, 1)
        self._timer = QTimer(self)
        self._timer.setInterval(self.REFRESH_MS)
        self._timer.timeout.connect(self.refresh_status)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.setInterval(self.MIN_INTERVAL_MS)
        self._soon.timeout.connect(self.refresh_status)

    # -- the message (one wrapped label instead of QStatusBar's painted line) -------------------

    def showMessage(self, text: str, timeout: int | None = 0) -> None:  # noqa: N802 (Qt override)
        self._message = text
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        self._fit_message()

    def clearMessage(self) -> None:  # noqa: N802 (Qt override)
        self.showMessage("")

    def currentMessage(self) -> str:  # noqa: N802 (Qt override)
        return self._message

    def set_serial_problem(self, problem: str | None) -> None:
        """Why the serial scanner cannot be used (None: it can)."""
        self.serial_label.setText(problem or "")
        self.serial_label.setVisible(bool(problem))
        self._fit(self.serial_label)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize and watched in (self.message_label,
                                                              self.serial_label):
            assert isinstance(watched, QLabel)
            self._fit(watched)
        return super().eventFilter(watched, event)

    def _fit_message(self) -> None:
        self._fit(self.message_label)

    @staticmethod
    def _fit(label: QLabel) -> None:
        """As high as the wrapped text needs at the label's width (the bar grows with it)."""
        need = label.heightForWidth(label.width()) if label.text() else 0
        if need > 0 and label.minimumHeight() != need:
            label.setMinimumHeight(need)
        elif need <= 0 and label.minimumHeight():
            label.setMinimumHeight(0)

    def start(self) -> None:
        self._stopped = False
        self._timer.start()
        self.refresh_status()

    def stop(self) -> None:
        """No more refreshes (the window is closing): a late word from the sync worker, whose
        request ended after the window closed, starts no timer."""
        self._stopped = True
        self._timer.stop()
        self._soon.stop()

    def refresh_soon(self) -> None:
        if not self._stopped and not self._soon.isActive():
            self._soon.start()

    @Slot()
    def refresh_status(self) -> None:
        if self._stopped:
            return
        if self._in_flight:
            self._again = True
            return
        self._in_flight = True
        try:
            self._runner.submit(status_of, self._on_task_status, self._on_task_failed)
        except RuntimeError:  # runner stopped: the window is closing
            self._in_flight = False

    def _on_task_status(self, status: StationStatus) -> None:
        self._in_flight = False
        self.show_status(status)
        if self._again:
            self._again = False
            self.refresh_status()

    def _on_task_failed(self, err: TaskError) -> None:
        self._in_flight = False
        self.pending_label.setText(f"status unavailable: {err.message}")

    def show_status(self, s: StationStatus) -> None:
        self.status = s
        self.pending_label.setText(s.pending_text())
        self.last_sync_label.setText(s.last_sync_text())
        self.issues_label.setText(f"{s.sync_issues} sync issue{'s' if s.sync_issues != 1 else ''}"
                                  if s.sync_issues else
                                  "no sync issues")
        self.issues_label.setStyleSheet(
            "QLabel { padding: 0 10px; font-size: 15px; %s }"
            % ("color: #b3261e; font-weight: bold;" if s.sync_issues else "")
        )
        # the stored state is the last worker's: while no worker can run, that is not the news
        self.set_centre_state("not syncing" if self.sync_problem else s.centre_state)

    def set_sync_problem(self, problem: str | None) -> None:
        """Why this window's sync cannot run (None: it runs): shown in place of the centre's
        last stored state, with the reason, until it runs again."""
        self.sync_problem = problem
        if problem:
            self.set_centre_state("not syncing")
            self.showMessage(f"Not syncing: {problem}")
        else:
            self.clearMessage()

    @Slot(str)
    def set_centre_state(self, state: str) -> None:
        colour = _STATE_COLOURS.get(state, "#555555")
        self.centre_label.setText(f"centre: {state}")
        self.centre_label.setStyleSheet(
            f"QLabel {{ padding: 0 10px; font-size: 15px; color: {colour}; font-weight: bold; }}"
        )
