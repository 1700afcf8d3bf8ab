"""The bill screen: create a bill, scan parents onto it, remove, close (short with a reason), reopen.

All store work runs on the window's task runner. The open bill is kept on the worker side too
(`BillCursor` of station/bill_routing.py, touched only by tasks), so a bill id scanned in a burst switches bills exactly
between the reads before and after it, whatever the GUI thread has painted so far.

Readable from 2 m (large figures, 18 px tables), every action on a key (Ctrl+N new, Delete in
the parents list removes, Ctrl+E close, Ctrl+R reopen), and a scan log like the packing
screen's.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QFont, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station import vocabulary as vocab
from station.bill_routing import BillCursor, BillOutcome, BillView, bill_read, load_view, open_bill
from station.codes import escape_read, normalise
from station.limits import LIMITS, TextLimit
from station.reasons import Reason, say
from station.reports import BillRow
from station.rules import MAX_BILL_TARGET, Action, Outcome, may
from station.service import Operator, OpResult, StationService
from ui.bill_models import ParentsModel
from ui.host import ScreenHost
from ui.presenting import presented
from ui.records import ScanRecord
from ui.styles import BUTTON, CAPTION, banner_style, bar_style, error_label_style
from ui.tasks import TaskError
from ui.widgets import ScanLog, focusable_buttons, tab_leaves

__all__ = ["BillOutcome", "BillScreen", "BillView", "CreateBillDialog", "ReasonDialog",
           "bill_read", "bill_sound", "load_view"]


def bill_sound(result: OpResult) -> str | None:
    """Sounds for bill results the packing screen's table does not cover."""
    if result.outcome is not Outcome.ACCEPTED:
        return None
    if result.reason == Reason.BILL_PARENT_ADDED:
        if result.bill is not None and result.bill.linked >= result.bill.target:
            return "parent_complete"
        return "child_accepted"
    if result.reason in (Reason.BILL_CLOSED, Reason.BILL_CREATED, Reason.BILL_REOPENED,
                         Reason.BILL_PARENT_REMOVED):
        return "parent_selected"
    return None


def _keep_to_limit(edit: QLineEdit, field: str) -> None:
    """No more typed than the store keeps (station.limits), so nothing typed is refused and
    lost after the dialog closed. (Qt counts UTF-16 units, never fewer than characters.)"""
    limit = LIMITS[field]
    assert isinstance(limit, TextLimit)
    edit.setMaxLength(limit.max_len)


class ReasonDialog(QDialog):
    """Closing a bill short: the reason must be typed (the dialog stays until it is, or Esc)."""

    def __init__(self, bill: BillRow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Close bill {bill.bill_id} short")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(
            f"Bill {bill.bill_id} has {bill.linked} of {bill.target} parent bags "
            f"({vocab.count(bill.target - bill.linked, 'parent bag')} short).\n"
            "Closing it short needs a reason (Esc: keep it open):"
        ))
        self.reason_edit = QLineEdit(self)
        self.reason_edit.setPlaceholderText("e.g. truck full, remaining bags on the next bill")
        _keep_to_limit(self.reason_edit, "reason")
        lay.addWidget(self.reason_edit)
        self.hint = QLabel("", self)
        self.hint.setStyleSheet(error_label_style())
        lay.addWidget(self.hint)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Close bill short")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.reason_edit.textChanged.connect(self._on_reason_text_changed)
        self._on_reason_text_changed("")

    @property
    def reason(self) -> str:
        return self.reason_edit.text().strip()

    @Slot(str)
    def _on_reason_text_changed(self, _text: str) -> None:
        self.ok_button.setEnabled(bool(self.reason))
        if self.reason:
            self.hint.setText("")

    @Slot()
    def _on_buttons_accepted(self) -> None:
        if not self.reason:  # Enter in an empty field: say so, keep the dialog
            self.hint.setText("Type the reason first: a bill is closed short only with a reason")
            self.reason_edit.setFocus()
            return
        self.accept()


class CreateBillDialog(QDialog):
    """New bill: the id may be scanned (the screen routes reads here while it is open) or typed."""

    submitted = Signal(str, int, str, str, str)
    takes_scans = True  # the window hands scans to it (ui/main_window.py _route_now)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New bill")
        form = QFormLayout(self)
        self.id_edit = QLineEdit(self)
        self.id_edit.setPlaceholderText("scan or type the bill id")
        self.target_spin = QSpinBox(self)
        self.target_spin.setRange(1, MAX_BILL_TARGET)
        self.target_spin.setValue(10)
        self.description_edit = QLineEdit(self)
        self.destination_edit = QLineEdit(self)
        self.vehicle_edit = QLineEdit(self)
        # (not the id: a scanned one over the limit is refused by name, never cut short)
        for edit, key in ((self.description_edit, "description"),
                          (self.destination_edit, "destination"), (self.vehicle_edit, "vehicle")):
            _keep_to_limit(edit, key)
        form.addRow("Bill id", self.id_edit)
        form.addRow(f"Parent bags (1-{MAX_BILL_TARGET})", self.target_spin)
        form.addRow("Description", self.description_edit)
        form.addRow("Destination", self.destination_edit)
        form.addRow("Vehicle number", self.vehicle_edit)
        self.error_label = QLabel("", self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(error_label_style())
        form.addRow(self.error_label)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create bill")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        # Enter in the id field goes on to the target (as a scanned id does); without this the
        # field lets Enter on to the dialog, whose default button created the bill at once with
        # the target it opened with.
        self.id_edit.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if (watched is self.id_edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)):
            self.target_spin.setFocus()
            self.target_spin.selectAll()
            return True
        return super().eventFilter(watched, event)

    def scanned(self, raw: str) -> None:
        self.id_edit.setText(normalise(raw))
        self.target_spin.setFocus()
        self.target_spin.selectAll()

    @Slot()
    def _on_buttons_accepted(self) -> None:
        self.error_label.setText("")
        self.submitted.emit(
            self.id_edit.text(), self.target_spin.value(), self.description_edit.text(),
            self.destination_edit.text(), self.vehicle_edit.text(),
        )

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)


class BillScreen(QWidget):
    """Loading parents onto a bill; registered as screen "bill" of the main window."""

    bill_changed = Signal(object)  # BillView | None, after each redraw
    scan_result = Signal(object)  # ScanRecord of a read handled here (the window records it)

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self._cursor = BillCursor()
        self._back_to_list = False
        self.view: BillView | None = None
        self.last_result: OpResult | None = None
        self.create_dialog: CreateBillDialog | None = None
        self.reason_dialog: ReasonDialog | None = None
        self.confirm_box: QMessageBox | None = None

        self.entry = QLineEdit(self)
        self.entry.setPlaceholderText(
            "Scan or type a parent code to load it, or a bill id to open that bill"
        )
        self.entry.setStyleSheet("font-size: 18px; padding: 3px;")
        self.entry.returnPressed.connect(self._on_entry_return_pressed)
        self.new_button = QPushButton("New bill… (Ctrl+N)", self)
        self.new_button.clicked.connect(self.start_create)
        top = QHBoxLayout()
        top.addWidget(self.entry, 1)
        top.addWidget(self.new_button)

        self.title = QLabel("No bill open: scan a bill id or create a new bill", self)
        self.title.setObjectName("bill_title")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-size: 28px; font-weight: bold;")
        self.subtitle = QLabel("", self)
        self.subtitle.setWordWrap(True)
        self.subtitle.setStyleSheet("font-size: 16px; color: #333;")
        self.state_label = QLabel("", self)
        self.state_label.setObjectName("bill_state")
        self.state_label.setWordWrap(True)
        self.state_label.hide()

        self.progress = QProgressBar(self)
        self.progress.setMinimumHeight(56)
        self.progress.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no bill")
        self._paint_bar("open")

        figures = QGridLayout()
        figures.setVerticalSpacing(0)
        self.figure_labels: dict[str, QLabel] = {}
        for i, (key, caption) in enumerate((
            ("children", "Children"), ("actual", "Actual kg"), ("expected", "Expected kg"),
            ("shortfall", "Shortfall kg"), ("missing", "Parents missing"),
        )):
            cap = QLabel(caption, self)
            cap.setStyleSheet("font-size: 16px; color: #444;")
            val = QLabel("–", self)
            val.setStyleSheet("font-size: 26px; font-weight: bold;")
            figures.addWidget(cap, 0, i)
            figures.addWidget(val, 1, i)
            self.figure_labels[key] = val

        self.feedback = QLabel("Scan a bill id, or create a new bill (Ctrl+N)", self)
        self.feedback.setObjectName("banner")
        self.feedback.setWordWrap(True)
        self.feedback.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.feedback.setMinimumHeight(96)  # two lines of the 30 px message
        self.feedback.setStyleSheet(banner_style("info"))
        self.feedback_kind = ""

        self.parents_model = ParentsModel(self)
        self.parents_view = QTableView(self)
        self.parents_view.setObjectName("bill_parents")
        self.parents_view.setModel(self.parents_model)
        self.parents_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.parents_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.parents_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.parents_view.horizontalHeader().setStretchLastSection(True)
        self.parents_view.setSortingEnabled(False)
        # Fonts set as fonts (not style sheets) so that columns are sized to them.
        big = self.parents_view.font()
        big.setPixelSize(18)
        self.parents_view.setFont(big)
        head = QFont(big)
        head.setPixelSize(16)
        head.setBold(True)
        self.parents_view.horizontalHeader().setFont(head)
        self.parents_view.verticalHeader().setDefaultSectionSize(32)
        tab_leaves(self.parents_view)

        self.scan_log = ScanLog(20, 17, self)
        self.scan_log.setObjectName("bill_scan_log")
        lists = QSplitter(Qt.Orientation.Horizontal, self)
        left = QWidget(lists)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        cap = QLabel("Parents on the bill (incomplete in amber; Tab here, arrows, Delete "
                     "removes)", left)
        cap.setWordWrap(True)
        cap.setStyleSheet(CAPTION)
        ll.addWidget(cap)
        ll.addWidget(self.parents_view, 1)
        right = QWidget(lists)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        log_cap = QLabel("Last 20 scans", right)
        log_cap.setStyleSheet(CAPTION)
        rl.addWidget(log_cap)
        rl.addWidget(self.scan_log, 1)
        lists.addWidget(left)
        lists.addWidget(right)
        lists.setStretchFactor(0, 2)
        lists.setStretchFactor(1, 1)
        self.splitter = lists

        self.remove_button = QPushButton("Remove parent… (Del)", self)
        self.remove_button.clicked.connect(self.start_remove)
        self.close_button = QPushButton("Close bill… (Ctrl+E)", self)
        self.close_button.clicked.connect(self.start_close)
        self.reopen_button = QPushButton("Reopen bill (Ctrl+R)", self)
        self.reopen_button.clicked.connect(self.start_reopen)
        focusable_buttons(self.new_button, self.remove_button, self.close_button,
                          self.reopen_button)
        for b in (self.new_button, self.remove_button, self.close_button, self.reopen_button):
            b.setStyleSheet(BUTTON)
        actions = QHBoxLayout()
        actions.addWidget(self.remove_button)
        actions.addStretch(1)
        actions.addWidget(self.close_button)
        actions.addWidget(self.reopen_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(5)
        lay.addLayout(top)
        lay.addWidget(self.title)
        lay.addWidget(self.subtitle)
        lay.addWidget(self.state_label)
        lay.addWidget(self.progress)
        lay.addLayout(figures)
        lay.addWidget(self.feedback)
        lay.addWidget(lists, 1)
        lay.addLayout(actions)
        self.setTabOrder(self.entry, self.new_button)
        self.setTabOrder(self.new_button, self.parents_view)
        self.setTabOrder(self.parents_view, self.remove_button)
        self.setTabOrder(self.remove_button, self.close_button)
        self.setTabOrder(self.close_button, self.reopen_button)

        for keys, slot in (("Ctrl+N", self.start_create), ("Ctrl+E", self.start_close),
                           ("Ctrl+R", self.start_reopen)):
            QShortcut(QKeySequence(keys), self, slot,
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        # Delete in the list removes the selected parent (after a confirmation).
        self.parents_view.installEventFilter(self)
        host.operator_changed.connect(self._on_window_operator_changed)
        self._update_buttons()

    @Slot(object)
    def _on_window_operator_changed(self, _operator: object) -> None:
        self.scan_log.clear_log()  # the next operator never sees the last one's scans
        # ... nor the result of the last one's last scan or action
        self.last_result = None
        if self.view is not None:
            self.show_message("info", f"Bill {self.view.row.bill_id} is open: scan parent bags "
                              "to load it, or a bill id to open another")
        else:
            self.show_message("info", "Scan a bill id, or create a new bill (Ctrl+N)")
        self._update_buttons()

    def _paint_bar(self, tone: str) -> None:
        self.progress.setStyleSheet(bar_style(tone))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.parents_view:
            if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                    and event.key() == Qt.Key.Key_Delete):
                self.start_remove()
                return True
            if event.type() == QEvent.Type.FocusIn and self.selected_parent() is None \
                    and self.parents_model.rowCount():
                # Tabbing into the list picks its first parent: arrows choose another.
                self.parents_view.selectRow(0)
        return super().eventFilter(watched, event)

    # -- main window contract -----------------------------------------------------------------

    def allowed_for(self, operator: Operator) -> bool:
        return may(operator.role, Action.BILLS)

    def on_shown(self) -> None:
        self.entry.setFocus()
        self._update_buttons()
        if self.view is not None:
            self.refresh()

    @property
    def bill_id(self) -> str | None:
        return self.view.row.bill_id if self.view else None

    def _submit(self, fn: Callable[[StationService], BillOutcome],
                on_done: Callable[[BillOutcome], None],
                on_error: Callable[[TaskError], None] | None = None) -> None:
        try:
            self.host.task_runner.submit(fn, on_done, on_error or self._on_task_failed)
        except RuntimeError:
            pass  # the window is shutting down: nothing more to show

    def handle_read(self, raw: str, source: str, *, into_dialog: bool = True) -> None:
        """A read routed here by the main window (scanner, serial, camera, typed); one that
        arrived while the new-bill dialog was open (`into_dialog`) fills its id field, one that
        arrived before it opened goes onto the open bill."""
        if into_dialog and self.create_dialog is not None and self.create_dialog.isVisible():
            self.create_dialog.scanned(raw)
            return
        cursor = self._cursor
        self._submit(lambda s: bill_read(s, cursor, raw, source),
                     lambda out: self._on_task_read_done(out, raw, source),
                     lambda err: self._on_task_read_failed(raw, source, err))

    def open_bill(self, bill_id: str) -> None:
        """Open a bill (the packing screen calls this when a bill id is scanned there)."""
        cursor = self._cursor
        self._submit(lambda s: open_bill(s, cursor, bill_id), self._on_task_action_done)

    def refresh(self) -> None:
        cursor = self._cursor

        def work(s: StationService) -> BillOutcome:
            return BillOutcome(None, load_view(s, cursor.bill_id) if cursor.bill_id else None)

        self._submit(work, self._on_task_action_done)

    # -- results ------------------------------------------------------------------------------

    def _presented(self, out: BillOutcome) -> BillOutcome:
        if out.result is None:
            return out
        result = presented(self.host, out.result)
        return out if result is out.result else BillOutcome(result, out.view)

    def _log(self, result: OpResult, raw: str, source: str) -> None:
        self.scan_log.add(ScanRecord(result, raw, source))

    def _on_task_read_done(self, out: BillOutcome, raw: str, source: str) -> None:
        out = self._presented(out)
        self._show_outcome(out)
        if out.result is None:
            return
        self._log(out.result, raw, source)
        # The window records it (sound, scan_recorded, status) before the bill's own sound.
        self.scan_result.emit(ScanRecord(out.result, raw, source))
        extra = bill_sound(out.result)
        if extra is not None and self.host.sounds.last_kind is None:
            self.host.sounds.play(extra)

    def _on_task_action_done(self, out: BillOutcome, label: str = "") -> None:
        out = self._presented(out)
        self._show_outcome(out)
        if out.result is not None:
            if label:
                self._log(out.result, label, "action")
            sounds = self.host.sounds
            if sounds.play_for(out.result) is None:
                sounds.play(bill_sound(out.result))

    def _on_task_failed(self, err: TaskError) -> None:
        self.show_message("refused", err.message)
        self.host.sounds.play("error")

    def _on_task_read_failed(self, raw: str, source: str, err: TaskError) -> None:
        """A read the store could not take (disk full, busy): said with the code, in the scan
        log, and to the window (sound, status, the camera's frame), as on the packing screen."""
        message = say(Reason.NOT_SAVED, read=escape_read(raw), problem=err.message)
        result = OpResult(Outcome.REFUSED, Reason.NOT_SAVED, message)
        self.last_result = result
        self.show_message("refused", message)
        self._log(result, raw, source)
        self.scan_result.emit(ScanRecord(result, raw, source))

    def _show_outcome(self, out: BillOutcome) -> None:
        if out.result is not None:
            self.last_result = out.result
            self.show_message(str(out.result.outcome), out.result.message)
        if out.view is not None or (out.result is None):
            self.apply_view(out.view)

    def show_message(self, kind: str, message: str) -> None:
        self.feedback_kind = kind
        self.feedback.setText(message)
        self.feedback.setStyleSheet(banner_style(kind))

    def apply_view(self, view: BillView | None) -> None:
        previous = self.bill_id
        self.view = view
        if view is None:
            self.title.setText("No bill open: scan a bill id or create a new bill")
            self.subtitle.setText("")
            self.state_label.hide()
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("no bill")
            self._paint_bar("open")
            for label in self.figure_labels.values():
                label.setText("–")
            self.parents_model.set_rows(())
        else:
            r = view.row
            state, short = r.state, r.shortfall
            self.title.setText(f"Bill {r.bill_id} · {state.value}")
            parts = [p for p in (r.description, r.destination and f"to {r.destination}",
                                 r.vehicle and f"vehicle {r.vehicle}",
                                 r.created_by and f"created by {r.created_by} {r.created_local}")
                     if p]
            self.subtitle.setText(" · ".join(parts))
            self._show_state(view)
            self._paint_bar(vocab.bill_tone(state, short))
            self.progress.setRange(0, max(r.target, 1))
            self.progress.setValue(min(r.linked, r.target))
            self.progress.setFormat(f"{r.linked} / {r.target} parent bags ({r.percent:.0f} %)")
            self.figure_labels["children"].setText(f"{r.children:,}")
            self.figure_labels["actual"].setText(f"{r.actual_kg:,.1f}")
            self.figure_labels["expected"].setText(f"{r.expected_kg:,.1f}")
            self.figure_labels["shortfall"].setText(f"{r.shortfall_kg:,.1f}")
            self.figure_labels["missing"].setText(str(max(r.target - r.linked, 0)))
            selected = self.selected_parent()
            self.parents_model.set_rows(view.parents)
            if selected and previous == r.bill_id:
                row = self.parents_model.row_of(selected)
                if row >= 0:
                    self.parents_view.selectRow(row)
        self._update_buttons()
        self.bill_changed.emit(view)

    def _show_state(self, view: BillView) -> None:
        """The line under the title: who closed it, what is short, the reason."""
        r = view.row
        state, short = r.state, r.shortfall
        text, tone = "", vocab.bill_tone(state, short)
        if state.is_closed:
            who = f" by {view.closed_by}" if view.closed_by else ""
            text = f"{'Closed short' if state is vocab.BillState.CLOSED_SHORT else 'Closed'}{who}"
            if short.any:
                text += f": {short.text()}"
            reason = view.closed_reason or r.closed_reason
            if state is vocab.BillState.CLOSED_SHORT and reason:
                text += f". Reason: {reason}"
            text += ". It cannot change" + (" until it is reopened (Ctrl+R)" if self._is_admin()
                                            else ": only an admin can reopen it")
        elif short.kg > 0.05:
            text = (f"{short.kg:,.1f} kg short so far: some parents on the bill are not full "
                    "(amber in the list)")
        if not text:
            self.state_label.hide()
            return
        colour = "#8a5a00" if tone == "attention" else "#1b5e20"
        self.state_label.setStyleSheet(f"font-size: 18px; font-weight: bold; color: {colour};")
        self.state_label.setText(text)
        self.state_label.show()

    def _is_admin(self) -> bool:
        op = self.host.operator
        return op is not None and may(op.role, Action.REOPEN_BILL)

    def _update_buttons(self) -> None:
        closed = self.view is not None and self.view.row.state.is_closed
        open_ = self.view is not None and not closed
        self.remove_button.setEnabled(open_ and self.parents_model.rowCount() > 0)
        self.close_button.setEnabled(open_)
        admin = self._is_admin()
        self.reopen_button.setVisible(admin)
        self.reopen_button.setEnabled(admin and closed)

    # -- actions ------------------------------------------------------------------------------

    @Slot()
    def _on_entry_return_pressed(self) -> None:
        text = self.entry.text()
        self.entry.clear()
        if not text.strip():
            return
        self.host.handle_read(text, "typed")  # the window's single read path

    @Slot()
    def start_create(self) -> None:
        dlg = CreateBillDialog(self)
        dlg.submitted.connect(self._on_create_submitted)
        dlg.finished.connect(self._on_create_finished)
        self.create_dialog = dlg
        dlg.open()
        dlg.id_edit.setFocus()

    @Slot(str, int, str, str, str)
    def _on_create_submitted(self, bill_id: str, target: int, description: str,
                             destination: str, vehicle: str) -> None:
        cursor = self._cursor

        def work(s: StationService) -> BillOutcome:
            r = s.create_bill(bill_id, target, description, destination, vehicle)
            if not r.ok or r.code is None:
                return BillOutcome(r, None)
            cursor.bill_id = r.code
            return BillOutcome(r, load_view(s, r.code))

        self._submit(work, self._on_task_created, self._on_task_create_failed)

    def _on_task_created(self, out: BillOutcome) -> None:
        assert out.result is not None
        dlg = self.create_dialog
        out = self._presented(out)
        assert out.result is not None
        if not out.result.ok:
            if dlg is not None and dlg.isVisible():
                dlg.show_error(out.result.message)
            self.host.sounds.play("error")
            return
        if dlg is not None:
            dlg.accept()
        self._on_task_action_done(out, f"New bill {out.result.code}")
        self.entry.setFocus()

    def _on_task_create_failed(self, err: TaskError) -> None:
        """The store could not take the new bill (disk full, busy): said in the open dialog,
        which stays open with what was typed."""
        text = f"Bill not created: {err.message}"
        dlg = self.create_dialog
        if dlg is not None and dlg.isVisible():
            dlg.show_error(text)
        else:
            self.show_message("refused", text)
        self.host.sounds.play("error")

    @Slot(int)
    def _on_create_finished(self, _code: int) -> None:
        self.create_dialog = None
        self._refocus()

    def _refocus(self) -> None:
        """Back to the scan field when a dialog closes (the scanner needs no focus, a person
        does); back to the parents list when the dialog was opened from it."""
        self.activateWindow()
        if self._back_to_list and self.parents_model.rowCount():
            self._back_to_list = False
            self.parents_view.setFocus()
            return
        self._back_to_list = False
        self.entry.setFocus()

    def selected_parent(self) -> str | None:
        rows = self.parents_view.selectionModel().selectedRows() \
            if self.parents_view.selectionModel() else []
        if not rows:
            return None
        return self.parents_model.ids[rows[0].row()]

    @Slot()
    def start_remove(self) -> None:
        code = self.selected_parent()
        if self.view is None:
            return
        if code is None:
            self.show_message("refused", "Select the parent to remove first: Tab to the parents "
                              "list, arrows to it, then Delete")
            return
        self._back_to_list = self.parents_view.hasFocus()
        bill_id = self.view.row.bill_id
        if self.view.row.state.is_closed:
            # nothing to confirm: the station refuses it, and says why, at once
            self._remove(bill_id, code)
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Remove parent",
                          f"Remove {code} from bill {bill_id}?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.accepted.connect(lambda: self._remove(bill_id, code))
        box.finished.connect(self._on_confirm_finished)
        self.confirm_box = box
        box.open()

    def _remove(self, bill_id: str, code: str) -> None:
        def work(s: StationService) -> BillOutcome:
            return BillOutcome(s.remove_parent_from_bill(bill_id, code), load_view(s, bill_id))

        self._submit(work, lambda out: self._on_task_action_done(out, f"Remove {code}"))

    @Slot(int)
    def _on_confirm_finished(self, _code: int) -> None:
        self.confirm_box = None
        self._refocus()

    @Slot()
    def start_close(self) -> None:
        if self.view is None:
            self.show_message("warning", "No bill is open: scan a bill id first, then Ctrl+E "
                              "closes it")
            return
        row = self.view.row
        if row.state.is_closed:
            self.show_message("warning", f"Bill {row.bill_id} is {row.state.value} already")
            return
        if row.linked < row.target:
            dlg = ReasonDialog(row, self)
            dlg.accepted.connect(lambda: self._close(row.bill_id, dlg.reason))
            dlg.finished.connect(self._on_reason_finished)
            self.reason_dialog = dlg
            dlg.open()
            dlg.reason_edit.setFocus()
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Close bill",
                          f"Close bill {row.bill_id} ({row.linked}/{row.target})? "
                          "A closed bill cannot change until an admin reopens it.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.accepted.connect(lambda: self._close(row.bill_id, None))
        box.finished.connect(self._on_confirm_finished)
        self.confirm_box = box
        box.open()

    @Slot(int)
    def _on_reason_finished(self, _code: int) -> None:
        self.reason_dialog = None
        self._refocus()

    def _close(self, bill_id: str, reason: str | None) -> None:
        def work(s: StationService) -> BillOutcome:
            return BillOutcome(s.close_bill(bill_id, reason), load_view(s, bill_id))

        self._submit(work, lambda out: self._on_task_action_done(out, f"Close {bill_id}"))

    @Slot()
    def start_reopen(self) -> None:
        if self.view is None:
            self.show_message("warning", "No bill is open: scan the bill id first, then "
                              "Ctrl+R reopens it" + ("" if self._is_admin() else
                                                     " (an admin can reopen a bill)"))
            return
        bill_id = self.view.row.bill_id
        if not self._is_admin():
            self.show_message("refused", f"Bill {bill_id}: only an admin can reopen a bill")
            return
        if not self.view.row.state.is_closed:
            self.show_message("warning", f"Bill {bill_id} is open ({self.view.row.state.value}):"
                              " nothing to reopen")
            return

        def work(s: StationService) -> BillOutcome:
            return BillOutcome(s.reopen_bill(bill_id), load_view(s, bill_id))

        self._submit(work, lambda out: self._on_task_action_done(out, f"Reopen {bill_id}"))
