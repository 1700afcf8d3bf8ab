"""The sync issues screen: events the centre rejected, with its reason, until a biller or admin
acknowledges them (docs/sync.md §6: nothing is dropped without a person seeing it); an admin also
connects the station to a centre here: its sync service's address and the station's token (the
token goes to the keyring or a user-only file). Connect tries the centre first and says what
happened; nothing is saved when the centre cannot be reached or refuses the token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Connection

from station.rules import Action, may
from station.service import Operator, StationService
from station.settings import StationSettings
from sync.worker import SyncIssue, acknowledge_issues, list_issues, request_resend
from ui.host import ScreenHost
from ui.sync_bridge import SyncBridge
from ui.tasks import TaskError

# What an issue action does: (connection, issue ids, username, role) -> how many it changed.
IssueAction = Callable[[Connection, list[int], str, str], int]

_Index = QModelIndex | QPersistentModelIndex


class SyncIssuesModel(QAbstractTableModel):
    """Frozen SyncIssue rows (ids and values, never live database objects)."""

    HEADERS = ("When", "Event", "Bags / bill", "Operator", "Reason", "Centre's message",
               "Acknowledged")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[SyncIssue] = []

    def set_rows(self, rows: list[SyncIssue]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self.rows):
            return str(section + 1)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self.rows)):
            return None
        r = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                r.device_time[:16].replace("T", " "),
                r.event_type.replace("_", " "),
                r.codes,
                r.operator,
                r.reason,
                r.message,
                f"{r.acknowledged_by} {r.acknowledged_at[:16].replace('T', ' ')}"
                if r.acknowledged_by and r.acknowledged_at else "",
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 5:
            return r.message
        if role == Qt.ItemDataRole.UserRole:
            return r.id
        return None

    def issue_ids(self, rows: list[int]) -> list[int]:
        return [self.rows[i].id for i in rows if 0 <= i < len(self.rows)]


def _load(include_acknowledged: bool) -> Callable[[StationService], list[SyncIssue]]:
    def work(service: StationService) -> list[SyncIssue]:
        conn = service.reader  # a read: never the write lock scans commit under
        if conn.in_transaction():
            conn.rollback()
        return list_issues(conn, include_acknowledged=include_acknowledged)

    return work


class SyncIssuesScreen(QWidget):
    """Screen "sync_issues": everyone may look; billers and admins acknowledge."""

    settings_saved = Signal(object)  # StationSettings after connecting: the window applies them
    acknowledged = Signal(int)  # issues acknowledged: the status bar's count changed
    # (url, token, CA file), and None or what went wrong: the centre answered Connect's question
    _centre_checked = Signal(object, object)

    def __init__(self, host: ScreenHost, bridge: SyncBridge | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.bridge = bridge
        self.loads = 0  # finished loads (tests wait on it)
        self._centre_checked.connect(self._on_centre_checked)
        self.title = QLabel("Sync issues: events the centre refused", self)
        f = self.title.font()
        f.setPointSize(f.pointSize() + 4)
        f.setBold(True)
        self.title.setFont(f)
        self.help = QLabel(
            "The centre decides conflicts. A refused event is kept here with the centre's reason; "
            "the bags on screen already show what the centre holds.", self)
        self.help.setWordWrap(True)
        self.model = SyncIssuesModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setTabKeyNavigation(False)  # Tab goes on to the buttons; arrows move in it
        self.show_all = QCheckBox("Show acknowledged", self)
        self.show_all.toggled.connect(self._on_show_all_toggled)
        self.ack_button = QPushButton("Acknowledge selected", self)
        self.ack_button.clicked.connect(self._on_ack_button_clicked)
        self.ack_all_button = QPushButton("Acknowledge all", self)
        self.ack_all_button.clicked.connect(self._on_ack_all_button_clicked)
        self.resend_button = QPushButton("Send again", self)
        self.resend_button.setToolTip(
            "For an unknown, unverified or other-area operator, once an administrator has "
            "fixed the user at the centre")
        self.resend_button.clicked.connect(self._on_resend_button_clicked)
        self.sync_button = QPushButton("Sync now", self)
        self.sync_button.clicked.connect(self._on_sync_button_clicked)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.centre_label = QLabel("", self)
        self.url_edit = QLineEdit(self)
        self.url_edit.setPlaceholderText("https://centre.example:8800 (from add-station)")
        self.token_edit = QLineEdit(self)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("station token")
        self.ca_edit = QLineEdit(self)
        self.ca_edit.setPlaceholderText("CA file (optional)")
        self.ca_edit.setToolTip("Only for a centre whose certificate comes from its own "
                                "certificate authority: that authority's PEM file")
        self.connect_button = QPushButton("Connect", self)
        self.connect_button.clicked.connect(self._on_connect_button_clicked)
        centre = QHBoxLayout()
        centre.addWidget(self.centre_label)
        centre.addWidget(self.url_edit, 2)
        centre.addWidget(self.token_edit, 1)
        centre.addWidget(self.ca_edit, 1)
        centre.addWidget(self.connect_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.show_all)
        buttons.addStretch(1)
        buttons.addWidget(self.sync_button)
        buttons.addWidget(self.resend_button)
        buttons.addWidget(self.ack_button)
        buttons.addWidget(self.ack_all_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.help)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addLayout(centre)
        layout.addWidget(self.message)
        if bridge is not None:
            bridge.issues_changed.connect(self._on_bridge_issues_changed)
        host.operator_changed.connect(self._on_window_operator_changed)
        self._update_buttons()

    @Slot(object)
    def _on_window_operator_changed(self, _operator: object) -> None:
        """The next person never finds what the last one typed (a token is a secret) or was
        told here."""
        for edit in (self.url_edit, self.token_edit, self.ca_edit):
            edit.clear()
        self.message.clear()
        self._update_buttons()

    # -- screen protocol ----------------------------------------------------------------------

    def allowed_for(self, operator: Operator) -> bool:
        return True  # everyone sees what was refused; acknowledging needs a biller or admin

    def show_message(self, kind: str, text: str) -> None:
        """The window's word on this screen (a scan here is refused: scanning is paused)."""
        self.message.setText(text)

    def on_shown(self) -> None:
        self._update_buttons()
        self.reload()

    def _may_acknowledge(self) -> bool:
        op = self.host.operator
        return op is not None and may(op.role, Action.BILLS)

    def _update_buttons(self) -> None:
        allowed = self._may_acknowledge()
        for b in (self.ack_button, self.ack_all_button, self.resend_button):
            b.setEnabled(allowed)
            b.setToolTip("" if allowed else "Only a biller or an admin may acknowledge sync issues")
        op = self.host.operator
        admin = op is not None and may(op.role, Action.SETTINGS)
        for w in (self.url_edit, self.token_edit, self.ca_edit, self.connect_button):
            w.setEnabled(admin)
        url = self.host.settings.central_url
        self.centre_label.setText(f"Centre: {url}" if url else "Centre: not connected")

    # -- connecting (admin) ---------------------------------------------------------------------

    @Slot()
    def _on_connect_button_clicked(self) -> None:
        from station.centre import CentreSettingError, check_ca_file, check_central_url, check_token
        from sync.cli import try_centre
        from sync.errors import SyncError

        op = self.host.operator
        if op is None or not may(op.role, Action.SETTINGS):
            self.message.setText("Only an admin may connect the station to a centre")
            return
        try:
            url = check_central_url(self.url_edit.text())
            token = check_token(self.token_edit.text())
            ca = check_ca_file(self.ca_edit.text().strip()) or None
        except CentreSettingError as exc:
            self.message.setText(exc.message)
            return
        self.message.setText(f"Trying the centre at {url}...")
        self.connect_button.setEnabled(False)
        # The centre is asked who the token belongs to before anything is saved, on a thread of
        # its own: a centre that is slow to answer (up to the 15 s read timeout) must not hold up
        # the scans queued on the store's task thread.
        station_id = self.host.settings.station_id
        attempt = (url, token, ca)

        def check() -> None:
            problem: str | None = None
            try:
                try_centre(url, token, station_id, ca)
            except (SyncError, CentreSettingError) as exc:
                problem = exc.message
            except Exception as exc:  # noqa: BLE001 - said on the screen, never a crash
                problem = f"{type(exc).__name__}: {exc}"
            try:
                self._centre_checked.emit(attempt, problem)
            except RuntimeError:  # the window closed meanwhile
                pass

        threading.Thread(target=check, name="centre-check", daemon=True).start()

    @Slot(object, object)
    def _on_centre_checked(self, attempt: tuple[str, str, str | None],
                           problem: str | None) -> None:
        from sync.cli import connect_station, transport_factory

        if problem is not None:
            self._connect_failed(problem)
            return
        url, token, ca = attempt

        def work(service: StationService) -> tuple[StationSettings, Any]:
            connect_station(service.store, url, token, ca, check=False)  # checked just now
            service.reload()
            try:  # the token read back here: the keyring may make whoever asks wait
                made = transport_factory(service.store)
            except Exception:  # noqa: BLE001 - the bridge reads it again and says what failed
                made = None
            return service.settings, made

        try:
            self.host.task_runner.submit(work, self._on_task_connected,
                                         self._on_task_connect_failed)
        except RuntimeError:
            pass  # the window is closing

    def _on_task_connected(self, result: tuple[StationSettings, Any]) -> None:
        settings, made = result
        self.token_edit.clear()
        self.url_edit.clear()
        self.ca_edit.clear()
        self.settings_saved.emit(settings)
        started = self.bridge.reconnect(made) if self.bridge is not None else False
        self.message.setText(
            f"Connected: the centre at {settings.central_url} knows this station "
            f"({settings.station_id})" + ("; syncing" if started else
                                         f" (not syncing: {self._bridge_problem()})"))
        self._update_buttons()

    def _bridge_problem(self) -> str:
        if self.bridge is None:
            return "this window has no sync worker"
        return self.bridge.problem or "the sync worker did not start"

    def _on_task_connect_failed(self, err: TaskError) -> None:
        self._connect_failed(err.message)

    def _connect_failed(self, message: str) -> None:
        reason = message.strip().rstrip(".")
        self.message.setText(f"Not connected: {reason}. Nothing was changed.")
        self._update_buttons()

    # -- loading ------------------------------------------------------------------------------

    def reload(self) -> None:
        try:
            self.host.task_runner.submit(_load(self.show_all.isChecked()), self._on_task_loaded,
                                            self._on_task_failed)
        except RuntimeError:
            pass  # the window is closing

    def _on_task_loaded(self, rows: list[SyncIssue]) -> None:
        self.model.set_rows(rows)
        open_count = sum(1 for r in rows if r.acknowledged_at is None)
        self.title.setText(f"Sync issues: {open_count} to acknowledge" if open_count else
                           "Sync issues: none to acknowledge")
        self.loads += 1

    def _on_task_failed(self, err: TaskError) -> None:
        self.message.setText(err.message)
        self.loads += 1

    # -- acknowledging ------------------------------------------------------------------------

    @Slot()
    def _on_resend_button_clicked(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        self._on_issues(self.model.issue_ids(rows), request_resend, self._on_task_resent,
                        "Select the issues to send again first")

    def _on_issues(self, ids: list[int], action: IssueAction, done: Callable[[int], None],
                   nothing_selected: str) -> None:
        """Run `action(conn, ids, username, role)` for the logged-in operator on the task runner."""
        op = self.host.operator
        if op is None or not ids:
            self.message.setText(nothing_selected)
            return
        username, role = op.username, op.role

        def work(service: StationService) -> int:
            conn = service.conn
            if conn.in_transaction():
                conn.rollback()
            return int(action(conn, ids, username, role))

        self.host.task_runner.submit(work, done, self._on_task_ack_failed)

    def _on_task_resent(self, count: int) -> None:
        if count == 0:
            self.message.setText(
                "None of the selected events can be sent again: only an unknown, unverified or "
                "other-area operator can be fixed at the centre. Acknowledge the others.")
        else:
            self.message.setText(
                f"{count} event{'s' if count != 1 else ''} will be sent again; the centre's new "
                "result shows here if it refuses again")
            if self.bridge is not None:
                self.bridge.sync_now()
        self.reload()

    def _acknowledge(self, ids: list[int]) -> None:
        self._on_issues(ids, acknowledge_issues, self._on_task_acknowledged,
                        "Select the issues to acknowledge first")

    def _on_task_acknowledged(self, count: int) -> None:
        self.message.setText(f"{count} sync issue{'s' if count != 1 else ''} acknowledged")
        self.acknowledged.emit(count)  # the window refreshes the status bar's figures
        self.reload()

    def _on_task_ack_failed(self, err: TaskError) -> None:
        self.message.setText(err.message)

    @Slot()
    def _on_ack_button_clicked(self) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        self._acknowledge(self.model.issue_ids(rows))

    @Slot()
    def _on_ack_all_button_clicked(self) -> None:
        self._acknowledge([r.id for r in self.model.rows if r.acknowledged_at is None])

    @Slot()
    def _on_sync_button_clicked(self) -> None:
        if self.bridge is not None and self.bridge.worker is not None:
            self.bridge.sync_now()
            self.message.setText("Syncing now…")
        else:
            self.message.setText("This station is not connected to a centre (see Settings)")

    @Slot(bool)
    def _on_show_all_toggled(self, _on: bool) -> None:
        self.reload()

    @Slot()
    def _on_bridge_issues_changed(self) -> None:
        if self.isVisible():
            self.reload()
