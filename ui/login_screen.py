"""Keyboard-only login: user name (focused), Tab to the password, Enter logs in."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from station.codes import escape_read
from station.errors import LoginFailed
from station.reasons import Reason, say
from station.rules import Outcome
from station.service import Operator, OpResult
from station.settings import StationSettings
from ui.host import ScreenHost
from ui.records import ScanRecord
from ui.styles import INFO_TEXT, REFUSED_TEXT
from ui.tasks import TaskError


class LoginScreen(QWidget):
    logged_in = Signal(object)  # Operator: the window takes it as the operator
    scan_result = Signal(object)  # ScanRecord of a scan before anyone logged in

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self._busy = False
        # reads refused while a log-in was being checked: said again once it went through
        self._refused_while_checking: list[str] = []
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        self.title = title = QLabel(f"TraceTrack Station {host.settings.station_id}")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setStyleSheet("font-size: 36px; font-weight: bold;")
        outer.addWidget(title)
        host.settings_changed.connect(self._on_window_settings_changed)
        hint = QLabel("Type your user name, Tab, your password, Enter")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setStyleSheet("font-size: 18px; color: #444;")
        outer.addWidget(hint)
        form_box = QWidget()
        form = QFormLayout(form_box)
        self.user_edit = QLineEdit()
        self.user_edit.setObjectName("login_user")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("login_password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        for edit in (self.user_edit, self.password_edit):
            edit.setMinimumWidth(360)
            edit.setStyleSheet("font-size: 24px; padding: 6px;")
        user_label, pw_label = QLabel("User name"), QLabel("Password")
        for lab in (user_label, pw_label):
            lab.setStyleSheet("font-size: 20px;")
        form.addRow(user_label, self.user_edit)
        form.addRow(pw_label, self.password_edit)
        outer.addWidget(form_box, 0, Qt.AlignmentFlag.AlignHCenter)
        self.message = QLabel("")
        self.message.setObjectName("login_message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 20px;")
        outer.addWidget(self.message)
        outer.addStretch(3)
        self.setTabOrder(self.user_edit, self.password_edit)
        self.user_edit.returnPressed.connect(self._on_user_return_pressed)
        self.password_edit.returnPressed.connect(self._on_password_return_pressed)

    @Slot(object)
    def _on_window_settings_changed(self, settings: StationSettings) -> None:
        self.title.setText(f"TraceTrack Station {settings.station_id}")  # an id set in F9

    def on_shown(self) -> None:
        self.password_edit.clear()
        self.user_edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.user_edit.selectAll()

    def show_info(self, text: str) -> None:
        self.message.setStyleSheet(f"font-size: 20px; color: {INFO_TEXT};")
        self.message.setText(text)

    def show_error(self, text: str) -> None:
        self.message.setStyleSheet(f"font-size: 20px; color: {REFUSED_TEXT}; font-weight: bold;")
        self.message.setText(text)

    def _on_user_return_pressed(self) -> None:
        if self.user_edit.text().strip():
            self.password_edit.setFocus(Qt.FocusReason.TabFocusReason)

    def _on_password_return_pressed(self) -> None:
        user = self.user_edit.text().strip()
        if not user:
            self.show_error("Type your user name first")
            self.user_edit.setFocus()
            return
        if self._busy:
            return
        self._busy = True
        self._refused_while_checking.clear()
        password = self.password_edit.text()
        self.show_info(f"Checking {user}…")
        # While the password is checked, the fields take no keys: a scan made meanwhile is a
        # scan (refused, and said), never typed into the password field and lost.
        self._set_fields_enabled(False)
        self.host.task_runner.submit(
            lambda s: s.login(user, password), self._on_task_logged_in, self._on_task_login_failed
        )

    def _set_fields_enabled(self, enabled: bool) -> None:
        for edit in (self.user_edit, self.password_edit):
            edit.setEnabled(enabled)

    def _on_task_logged_in(self, operator: Operator) -> None:
        self._busy = False
        self._set_fields_enabled(True)
        self.message.clear()
        self.password_edit.clear()
        refused, self._refused_while_checking = self._refused_while_checking, []
        self.logged_in.emit(operator)
        if refused:  # after the window took the operator (it clears the key bar's notice)
            reads = ", ".join(refused)
            self.host.notify("refused", f"Not recorded: {reads} scanned before the log-in of "
                             f"{operator.username} had finished. Scan again")

    def _on_task_login_failed(self, err: TaskError) -> None:
        self._busy = False
        self._refused_while_checking.clear()
        self._set_fields_enabled(True)
        self.password_edit.clear()
        if isinstance(err.exception, LoginFailed):
            # every refusal says why in the core's words: wrong password (attempt n of 5),
            # locked until, or "this account cannot log in here: ask an administrator"
            self.show_error(err.exception.message)
            if err.exception.reason in (Reason.UNKNOWN_USER, Reason.CANNOT_LOG_IN_HERE):
                self.user_edit.setFocus()
                self.user_edit.selectAll()
            else:
                self.password_edit.setFocus()
        else:
            self.show_error(f"Login is not possible now: {err.message}")
            self.password_edit.setFocus()  # (the fields took no keys while it was checked)

    def handle_read(self, raw: str, source: str) -> None:
        """A scan before anyone logged in is not recorded: say so, loudly."""
        text = say(Reason.NOT_LOGGED_IN, read=escape_read(raw))
        if self._busy:
            self._refused_while_checking.append(escape_read(raw, 40))
        self.show_error(text)
        result = OpResult(Outcome.REFUSED, Reason.NOT_LOGGED_IN, text)
        self.scan_result.emit(ScanRecord(result, raw, source))
