"""The dispatcher's screen: current parent with its counter and children, feedback, last scans.

Readable from 2 m: large type, one colour per outcome (green accepted, amber warning, red
refused). Every action goes through the task runner; results redraw from the OpResult.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from station import vocabulary as vocab
from station.codes import escape_read
from station.errors import NotLoggedIn
from station.reasons import NO_CHANGE_WARNINGS, Reason, say
from station.rules import Action, Outcome, may
from station.service import Operator, OpResult, StationService
from station.settings import StationSettings
from station.view import ParentRow
from ui.host import ScreenHost
from ui.presenting import presented
from ui.records import ScanRecord
from ui.styles import BUTTON, SCREEN_TITLE, banner_style
from ui.tasks import TaskError
from ui.widgets import ScanLog, focusable_buttons

HISTORY_SIZE = 20

__all__ = ["HISTORY_SIZE", "StationScreen"]


@dataclass(frozen=True)
class ScanOutcome:
    """What one scan task returns to the GUI thread: the result and the parent's children."""

    result: OpResult
    children: tuple[str, ...] | None  # None: unchanged


def _children(service: StationService, parent: ParentRow | None) -> tuple[str, ...]:
    if parent is None:
        return ()
    info = service.lookup_bag(parent.code)
    return info.children if info is not None else ()


def scan_task(raw: str, source: str,
              shown_parent: str | None) -> Callable[[StationService], ScanOutcome]:
    """The work of one read on the task thread: record it, and re-read children if needed."""

    def work(service: StationService) -> ScanOutcome:
        result = service.record_scan(raw, source)
        parent = result.parent
        if result.reason == Reason.BILL_SELECTED:
            return ScanOutcome(result, None)
        if result.changes.events or (parent.code if parent else None) != shown_parent:
            return ScanOutcome(result, _children(service, parent))
        return ScanOutcome(result, None)

    return work


def _with_children(
    fn: Callable[[StationService], OpResult],
) -> Callable[[StationService], ScanOutcome]:
    def work(service: StationService) -> ScanOutcome:
        result = fn(service)
        return ScanOutcome(result, _children(service, result.parent))

    return work


class StationScreen(QWidget):
    scan_result = Signal(object)  # ScanRecord of each result shown here (the window records it)

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.parent_row: ParentRow | None = None
        self.parent_is_current = False  # False once complete, finished or released
        self.child_codes: list[str] = []
        self.last_outcome: str = "info"
        self.results_shown = 0
        self._confirm_finish_for: str | None = None
        self._keep_list_focus = False
        self._build()
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.timeout.connect(self._on_idle_timer_timeout)
        self._confirm_timer = QTimer(self)
        self._confirm_timer.setSingleShot(True)
        self._confirm_timer.setInterval(15000)
        self._confirm_timer.timeout.connect(self.cancel_pending_confirmation)
        self.on_settings_changed(host.settings)
        host.operator_changed.connect(self._on_main_operator_changed)
        host.settings_changed.connect(self.on_settings_changed)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 8, 12, 8)
        root.setSpacing(8)

        # The screen's own actions (the keys for every screen are in the window's key bar).
        top = QHBoxLayout()
        title = QLabel("Pack bags")
        title.setStyleSheet(SCREEN_TITLE)
        top.addWidget(title)
        top.addStretch(1)
        self.undo_button = self._button("Undo last (Ctrl+Z)", self.undo_last)
        self.remove_button = self._button("Remove child (Del)", self.remove_selected_child)
        self.finish_button = self._button("Finish parent (Ctrl+Enter)", self.finish_parent)
        for b in (self.undo_button, self.remove_button, self.finish_button):
            top.addWidget(b)
        root.addLayout(top)

        self.banner = QLabel("Scan a parent bag")
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setMinimumHeight(96)  # two lines of the 30 px message
        root.addWidget(self.banner)
        self._paint_banner("info")

        split = QSplitter(Qt.Orientation.Horizontal)
        self.splitter = split
        left = QFrame()
        left.setFrameShape(QFrame.Shape.StyledPanel)
        lv = QVBoxLayout(left)
        caption = QLabel("Current parent")
        caption.setStyleSheet("font-size: 18px; color: #555;")
        lv.addWidget(caption)
        self.parent_code_label = QLabel("—")
        self.parent_code_label.setObjectName("parent_code")
        self.parent_code_label.setStyleSheet("font-size: 50px; font-weight: bold;")
        lv.addWidget(self.parent_code_label)
        self.parent_type_label = QLabel("No parent selected: scan a parent bag")
        self.parent_type_label.setWordWrap(True)
        self.parent_type_label.setStyleSheet("font-size: 20px; color: #333;")
        lv.addWidget(self.parent_type_label)
        self.counter_label = QLabel("")
        self.counter_label.setObjectName("counter")
        self.counter_label.setStyleSheet("font-size: 72px; font-weight: bold;")
        lv.addWidget(self.counter_label)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(22)
        lv.addWidget(self.progress)
        kids = QLabel("Children (newest first; Tab here, arrows, Delete removes)")
        kids.setWordWrap(True)
        kids.setStyleSheet("font-size: 16px; color: #555;")
        lv.addWidget(kids)
        self.children_list = QListWidget()
        self.children_list.setObjectName("children")
        self.children_list.setStyleSheet("QListWidget { font-size: 22px; }")
        self.children_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        lv.addWidget(self.children_list, 1)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        hist = QLabel(f"Last {HISTORY_SIZE} scans")
        hist.setStyleSheet("font-size: 18px; color: #555;")
        rv.addWidget(hist)
        self.history_table = ScanLog(HISTORY_SIZE, 17)
        self.history_table.setObjectName("history")
        rv.addWidget(self.history_table, 3)
        # The camera helper inserts its panel here.
        self.camera_area = QVBoxLayout()
        rv.addLayout(self.camera_area)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        root.addWidget(split, 1)

        bottom = QHBoxLayout()
        manual_label = QLabel("Damaged label? Type the code, Enter:")
        manual_label.setStyleSheet("font-size: 18px;")
        bottom.addWidget(manual_label)
        self.manual_edit = QLineEdit()
        self.manual_edit.setObjectName("manual_entry")
        self.manual_edit.setPlaceholderText("code as printed on the label")
        self.manual_edit.setStyleSheet("font-size: 22px; padding: 4px;")
        self.manual_edit.returnPressed.connect(self._on_manual_return_pressed)
        # The manual field has focus most of the time; its own Ctrl+Z (undo typing) must not
        # swallow the station's "Undo last", nor Ctrl+Enter "Finish parent".
        self.manual_edit.installEventFilter(self)
        bottom.addWidget(self.manual_edit, 1)
        root.addLayout(bottom)

        self._shortcut("Ctrl+Z", self.undo_last)
        self._shortcut("Ctrl+Return", self.finish_parent)
        self._shortcut("Ctrl+Enter", self.finish_parent)
        # Tab order: the damaged-label field, the children, the actions, the camera.
        self.setTabOrder(self.manual_edit, self.children_list)
        self.setTabOrder(self.children_list, self.undo_button)
        self.setTabOrder(self.undo_button, self.remove_button)
        self.setTabOrder(self.remove_button, self.finish_button)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.children_list)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.remove_selected_child)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if obj is self.manual_edit and event.type() == QEvent.Type.ShortcutOverride:
            assert isinstance(event, QKeyEvent)
            ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
            if ctrl and event.key() in (Qt.Key.Key_Z, Qt.Key.Key_Return, Qt.Key.Key_Enter):
                return True  # not accepted by the field: the window's shortcut fires
        return super().eventFilter(obj, event)

    def _button(self, text: str, slot: Callable[[], None]) -> QPushButton:
        b = QPushButton(text)
        focusable_buttons(b)  # reached with Tab; a click leaves the focus where it was
        b.setStyleSheet(BUTTON)
        b.clicked.connect(slot)
        return b

    def _shortcut(self, keys: str, slot: Callable[[], None]) -> QShortcut:
        sc = QShortcut(QKeySequence(keys), self)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.activated.connect(slot)
        return sc

    # -- state ------------------------------------------------------------------------------

    def on_shown(self) -> None:
        if self.host.operator is not None:
            self.manual_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    @Slot(object)
    def on_settings_changed(self, settings: StationSettings) -> None:
        self.idle_release_ms = max(int(settings.idle_release_minutes), 1) * 60_000

    @property
    def history(self) -> list[ScanRecord]:
        """This operator's last scans here, newest first."""
        return list(self.history_table.records)

    @Slot(object)
    def _on_main_operator_changed(self, operator: Operator | None) -> None:
        self.history_table.clear_log()  # the next operator never sees the last one's scans
        if operator is None:
            self._idle_timer.stop()
            self.cancel_pending_confirmation()
            self._show_parent(None, [], current=False)
            self.show_message("info", "Scan a parent bag")
            return
        self.show_message("info", f"Welcome {operator.username}. Scan a parent bag")
        self.host.task_runner.submit(
            lambda s: (s.current_parent(), _children(s, s.current_parent())),
            self._on_task_current_parent,
            self._on_task_failed,
        )

    def _on_task_current_parent(self, value: tuple[ParentRow | None, tuple[str, ...]]) -> None:
        parent, children = value
        self._show_parent(parent, list(children), current=parent is not None)
        if parent is not None:
            self.show_message(
                "info",
                f"Parent {parent.code} is still selected ({parent.child_count}/{parent.capacity}):"
                " scan its children, or scan another parent",
            )
            self._idle_timer.start(self.idle_release_ms)

    def reload_parent(self) -> None:
        """Read the parent being packed and its children again (a sync brought the centre's
        changes into the store); the message and the scan log stay as they are."""
        if self.host.operator is None or not self.parent_is_current or self.parent_row is None:
            return
        code = self.parent_row.code

        def done(value: tuple[ParentRow | None, tuple[str, ...]]) -> None:
            parent, children = value
            # only while that parent is still the one shown (a scan may have changed it since)
            if (parent is not None and parent.code == code and self.parent_is_current
                    and self.parent_row is not None and self.parent_row.code == code):
                self._show_parent(parent, list(children), current=True)

        try:
            self.host.task_runner.submit(
                lambda s: (s.current_parent(), _children(s, s.current_parent())),
                done, self._on_task_failed)
        except RuntimeError:
            pass  # the window is closing

    def stop(self) -> None:
        self._idle_timer.stop()
        self._confirm_timer.stop()

    def save_state(self, qs: QSettings) -> None:
        qs.setValue("station/splitter", self.splitter.saveState())

    def restore_state(self, qs: QSettings) -> None:
        value = qs.value("station/splitter")
        if value is not None:
            self.splitter.restoreState(value)

    # -- reads ------------------------------------------------------------------------------

    def handle_read(self, raw: str, source: str) -> None:
        self.cancel_pending_confirmation()
        shown = self.parent_row.code if self.parent_row and self.parent_is_current else None
        self.host.task_runner.submit(
            scan_task(raw, source, shown),
            lambda out: self._on_task_scanned(raw, source, out),
            lambda err: self._on_task_scan_failed(raw, source, err),
        )

    def _on_task_scanned(self, raw: str, source: str, out: ScanOutcome) -> None:
        self.show_result(ScanRecord(out.result, raw, source), out.children)

    def _on_task_scan_failed(self, raw: str, source: str, err: TaskError) -> None:
        if isinstance(err.exception, NotLoggedIn):
            message = say(Reason.NOT_SAVED, "logged_out", read=escape_read(raw),
                          problem=err.message)
        else:
            message = say(Reason.NOT_SAVED, read=escape_read(raw), problem=err.message)
        result = OpResult(Outcome.REFUSED, Reason.NOT_SAVED, message, None, None, self.parent_row)
        self.show_result(ScanRecord(result, raw, source), None, keep_parent=True)

    def show_result(
        self,
        record: ScanRecord,
        children: tuple[str, ...] | None,
        *,
        keep_parent: bool = False,
    ) -> None:
        """Paint one result: banner, parent, children, history; then sound and signal."""
        result = presented(self.host, record.result, self.parent_row)
        if result is not record.result:
            record = replace(record, result=result)
        outcome = str(result.outcome)
        self.results_shown += 1  # first: some widgets repaint synchronously below
        self.show_message(outcome, result.message)
        if result.reason == Reason.BILL_SELECTED:
            self._open_bill(result)
        elif not keep_parent:
            parent = result.parent
            complete = parent is not None and parent.status == "completed" and result.reason in (
                Reason.PARENT_COMPLETED, Reason.PARENT_FINISHED)
            if parent is not None and parent.bill_status == vocab.CLOSED_STORED:
                complete = True  # on a closed bill: shown, never "selected" to pack
            kids = list(children) if children is not None else self.child_codes
            if parent is None and self.parent_row is not None and (
                    not result.ok or result.reason in NO_CHANGE_WARNINGS):
                # a refusal, or a read that changed nothing, without a parent: the screen as is
                parent = self.parent_row
                self._show_parent(parent, kids, current=self.parent_is_current)
            else:
                self._show_parent(parent, kids, current=parent is not None and not complete)
        self._add_history(record)
        self._restart_idle()
        self.scan_result.emit(record)  # the window: sound, scan_recorded, status

    def _open_bill(self, result: OpResult) -> None:
        op = self.host.operator
        if op is not None and not may(op.role, Action.BILLS):
            self.show_message("warning", f"{result.code} is a bill: bills are loaded by a biller "
                              "or an admin (F3). Nothing was recorded; scan a parent bag")
            return
        if result.code is not None and self.host.open_bill(result.code):
            return
        self.show_message("warning", f"Bill {result.code} scanned: bills are loaded on the "
                          "bill screen, which this station does not have. Scan a parent bag")

    # -- actions ----------------------------------------------------------------------------

    def _on_manual_return_pressed(self) -> None:
        text = self.manual_edit.text()
        if not text.strip():
            return
        self.manual_edit.clear()
        self.host.handle_read(text, "typed")

    def _submit_action(self, fn: Callable[[StationService], OpResult], label: str) -> None:
        if self.host.operator is None:
            return
        self.host.task_runner.submit(
            _with_children(fn),
            lambda out: self._on_task_action_done(label, out),
            self._on_task_failed,
        )

    def _on_task_action_done(self, label: str, out: ScanOutcome) -> None:
        row = self.children_list.currentRow()
        self.show_result(ScanRecord(out.result, label, "action"), out.children)
        if self._keep_list_focus:
            # Removing by keyboard stays in the list, on the next child (never on to the
            # camera picker, where an arrow key would change the camera).
            self._keep_list_focus = False
            if self.children_list.count():
                self.children_list.setCurrentRow(min(max(row, 0), self.children_list.count() - 1))
                self.children_list.setFocus(Qt.FocusReason.OtherFocusReason)
            else:
                self.manual_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_task_failed(self, err: TaskError) -> None:
        self.show_message("refused", err.message)

    @Slot()
    def undo_last(self) -> None:
        self.cancel_pending_confirmation()
        self._submit_action(lambda s: s.undo_last(), "Undo last")

    @Slot()
    def remove_selected_child(self) -> None:
        item = self.children_list.currentItem()
        if item is None:
            self.show_message("warning", "Select a child first: Tab to the children list, "
                              "arrows to the child, then Delete")
            return
        code = item.text()
        self._keep_list_focus = self.children_list.hasFocus()
        self._submit_action(lambda s: s.remove_child(code), f"Remove {code}")

    @Slot()
    def finish_parent(self) -> None:
        parent = self.parent_row if self.parent_is_current else None
        if parent is None:
            self.show_message("warning", "No parent bag is selected: nothing to finish")
            return
        short = parent.child_count < parent.capacity
        if short and self._confirm_finish_for != parent.code:
            self._confirm_finish_for = parent.code
            self._confirm_timer.start()
            self.show_message(
                "warning",
                f"{parent.code} has only {parent.child_count}/{parent.capacity} children. "
                "Press Ctrl+Enter again to finish it short, Esc to keep packing",
            )
            self.host.sounds.play("warning")
            return
        self.cancel_pending_confirmation(quiet=True)
        self._submit_action(lambda s: s.finish_parent(), f"Finish {parent.code}")

    @property
    def confirming_finish(self) -> str | None:
        return self._confirm_finish_for

    @Slot()
    def cancel_pending_confirmation(self, quiet: bool = False) -> None:
        if self._confirm_finish_for is None:
            return
        code = self._confirm_finish_for
        self._confirm_finish_for = None
        self._confirm_timer.stop()
        if not quiet and self.parent_row is not None:
            self.show_message("info", f"Keep packing {code} "
                              f"({self.parent_row.child_count}/{self.parent_row.capacity})")

    def _restart_idle(self) -> None:
        if self.parent_is_current and self.parent_row is not None:
            self._idle_timer.start(self.idle_release_ms)
        else:
            self._idle_timer.stop()

    @Slot()
    def _on_idle_timer_timeout(self) -> None:
        if not self.parent_is_current or self.parent_row is None or self.host.operator is None:
            return
        code = self.parent_row.code
        minutes = max(self.idle_release_ms // 60_000, 1)

        def work(s: StationService) -> None:
            current = s.current_parent()
            if current is not None and current.code == code:
                s.release_parent()

        def done(_v: object) -> None:
            if self.parent_row is not None and self.parent_row.code == code:
                self._show_parent(self.parent_row, self.child_codes, current=False)
                self.show_message("info", f"{code} released after {minutes} idle minutes "
                                  f"({self.parent_row.child_count}/{self.parent_row.capacity}): "
                                  "scan a parent bag")

        self.host.task_runner.submit(work, done, self._on_task_failed)

    # -- painting ---------------------------------------------------------------------------

    def show_message(self, outcome: str, text: str) -> None:
        self.last_outcome = outcome
        self.banner.setText(text)
        self._paint_banner(outcome)
        self.banner.update()  # a repeated message is a new result: paint it again

    def _paint_banner(self, outcome: str) -> None:
        self.banner.setStyleSheet(banner_style(outcome))

    def _show_parent(self, parent: ParentRow | None, children: list[str], *, current: bool) -> None:
        self.parent_row = parent
        self.parent_is_current = current and parent is not None
        if parent is None:
            self.parent_code_label.setText("—")
            self.parent_type_label.setText("No parent selected: scan a parent bag")
            self.counter_label.setText("")
            self.progress.setValue(0)
            self.child_codes = []
            self.children_list.clear()
            return
        self.parent_code_label.setText(parent.code)
        self.parent_code_label.setStyleSheet(
            "font-size: 50px; font-weight: bold; color: %s;"
            % ("#111" if self.parent_is_current else "#777")
        )
        state = vocab.bag_state(parent.status)
        on_closed_bill = parent.bill_status == vocab.CLOSED_STORED
        extra = ""
        if on_closed_bill:
            extra = " · cannot change: scan another parent bag"
        elif not self.parent_is_current:
            extra = " · scan the next parent bag" if parent.status == "completed" else \
                " · not selected: scan it to resume"
        bill = ""
        if parent.bill_id:
            bill = f" · on {'closed ' if on_closed_bill else ''}bill {parent.bill_id}"
        self.parent_type_label.setText(
            f"Type {parent.bag_type} · capacity {parent.capacity} · {state}{bill}{extra}"
        )
        self.counter_label.setText(f"{parent.child_count} / {parent.capacity}")
        self.progress.setMaximum(max(parent.capacity, 1))
        self.progress.setValue(min(parent.child_count, parent.capacity))
        if children != self.child_codes or self.children_list.count() != len(children):
            self.child_codes = list(children)
            self.children_list.clear()
            self.children_list.addItems(self.child_codes)

    def _add_history(self, record: ScanRecord) -> None:
        self.history_table.add(record)

