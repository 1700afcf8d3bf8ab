"""Bag look-up (every role): scan or type any code to see the bag, its parent or children, its
bill and its scan history; a bill id shows the bill."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from station import reports
from station import vocabulary as vocab
from station.codes import escape_read
from station.reports import BagHistory, BillRow, HistoryEntry
from station.service import BagInfo, Operator, StationService
from ui.bill_models import ChildrenModel, HistoryModel
from ui.host import ScreenHost
from ui.tasks import TaskError
from ui.widgets import focusable_buttons, table


@dataclass(frozen=True)
class LookupResult:
    raw: str
    bag: BagInfo | None
    bill: BillRow | None  # the bag's bill, or the bill that was looked up
    history: tuple[HistoryEntry, ...]


def describe(r: LookupResult) -> tuple[str, list[str]]:
    """A look-up in words (station/vocabulary.py): a title and the lines under it."""
    bag, bill = r.bag, r.bill
    if bag is not None:
        if bag.kind == "parent":
            title = f"Parent {bag.code} ({bag.bag_type}) · {vocab.bag_state(bag.status)}"
            lines = [f"{vocab.count(bag.child_count, 'child', 'children')}, "
                     f"{bag.weight_kg:,.1f} kg"]
        else:
            title = f"Child {bag.code}"
            lines = [f"in parent {bag.parent}" if bag.parent else "not in any parent bag"]
            if bag.label_text:
                lines.append(f"label: {bag.label_text}")
        if bag.bill and bill is not None:
            lines.append(f"on bill {bill.bill_id}: {bill.state_text}, {bill.linked}/"
                         f"{bill.target} parent bags")
        elif bag.kind == "parent":
            lines.append("not on a bill")
        lines.append(f"area {bag.area or '-'}, first seen {reports.local_time(bag.created_at)}")
        return title, lines
    if bill is not None:
        return f"Bill {bill.bill_id} · {bill.state_text}", [
            f"{bill.linked}/{bill.target} parent bags, "
            f"{vocab.count(bill.children, 'child', 'children')}, {bill.actual_kg:,.1f} of "
            f"{bill.expected_kg:,.1f} kg; created by {bill.created_by} {bill.created_local}"]
    return (f"Not found: {escape_read(r.raw)}",
            ["No bag or bill with this code is known at this station."])


def lookup(service: StationService, raw: str) -> LookupResult:
    bag = service.lookup_bag(raw)
    with reports.reading(service.store) as conn:
        if bag is not None:
            bill = reports.bill_row(conn, bag.bill) if bag.bill else None
            history: BagHistory = reports.bag_history(conn, bag.code)
            return LookupResult(raw, bag, bill, history.entries)
        if len(raw) <= 512:
            bill = reports.bill_row(conn, raw)
            if bill is not None:
                return LookupResult(raw, None, bill, reports.bill_events(conn, bill.bill_id))
    return LookupResult(raw, None, None, ())


class LookupScreen(QWidget):
    """Screen "lookup": reads routed here are looked up, never recorded."""

    looked_up = Signal(object)  # LookupResult

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.result: LookupResult | None = None
        self.entry = QLineEdit(self)
        self.entry.setPlaceholderText("Scan or type a bag code or bill id to look it up")
        self.entry.returnPressed.connect(self._on_entry_return_pressed)
        self.go_button = QPushButton("Look up (Enter)", self)
        self.go_button.clicked.connect(self._on_entry_return_pressed)
        focusable_buttons(self.go_button)
        top = QHBoxLayout()
        top.addWidget(self.entry, 1)
        top.addWidget(self.go_button)
        self.title = QLabel("Nothing looked up yet", self)
        f = self.title.font()
        f.setPointSize(f.pointSize() + 6)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setWordWrap(True)
        self.details = QLabel("", self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.children_model = ChildrenModel(self)
        self.children_view = table(self.children_model, self)
        self.history_model = HistoryModel(self)
        self.history_view = table(self.history_model, self)
        lists = QHBoxLayout()
        cl = QVBoxLayout()
        cl.addWidget(QLabel("Children", self))
        cl.addWidget(self.children_view)
        hl = QVBoxLayout()
        hl.addWidget(QLabel("History (who, when, which station)", self))
        hl.addWidget(self.history_view)
        lists.addLayout(cl, 1)
        lists.addLayout(hl, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.title)
        lay.addWidget(self.details)
        lay.addLayout(lists, 1)
        host.operator_changed.connect(self._on_window_operator_changed)

    @Slot(object)
    def _on_window_operator_changed(self, _operator: object) -> None:
        """The next operator starts with nothing looked up (as with an empty scan log)."""
        self.result = None
        self.entry.clear()
        self.title.setText("Nothing looked up yet")
        self.details.setText("")
        self.children_model.set_rows(())
        self.history_model.set_rows(())

    def allowed_for(self, operator: Operator) -> bool:
        return True  # every role may look bags up

    def on_shown(self) -> None:
        self.entry.setFocus()

    def handle_read(self, raw: str, source: str) -> None:
        self.host.task_runner.submit(lambda s: lookup(s, raw), self._on_task_looked_up,
                                        self._on_task_failed)

    @Slot()
    def _on_entry_return_pressed(self) -> None:
        text = self.entry.text()
        self.entry.clear()
        if not text.strip():
            return
        self.host.handle_read(text, "typed")  # the window's single read path

    def _on_task_failed(self, err: TaskError) -> None:
        self.title.setText("Look-up failed")
        self.details.setText(err.message)

    def show_message(self, kind: str, text: str) -> None:
        self.details.setText(text)

    def _on_task_looked_up(self, r: LookupResult) -> None:
        self.result = r
        title, lines = describe(r)
        self.title.setText(title)
        self.details.setText("\n".join(lines))
        self.children_model.set_rows(r.bag.children if r.bag is not None else ())
        self.history_model.set_rows(r.history)
        self.history_view.resizeColumnsToContents()
        self.looked_up.emit(r)
