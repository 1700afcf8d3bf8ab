"""Bag look-up (every role): scan or type any code to see the bag, its parent or children, its
bill and its scan history; a bill id shows the bill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from station import reports
from station.codes import escape_read
from station.reports import BagHistory, BillRow, HistoryEntry
from station.service import BagInfo, Operator, StationService
from ui.bill_models import ChildrenModel, HistoryModel
from ui.review import table


@dataclass(frozen=True)
class LookupResult:
    raw: str
    bag: BagInfo | None
    bill: BillRow | None  # the bag's bill, or the bill that was looked up
    history: tuple[HistoryEntry, ...]


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

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self.result: LookupResult | None = None
        self.entry = QLineEdit(self)
        self.entry.setPlaceholderText("Scan or type a bag code or bill id to look it up")
        self.entry.returnPressed.connect(self._on_entry_return_pressed)
        self.go_button = QPushButton("Look up", self)
        self.go_button.clicked.connect(self._on_entry_return_pressed)
        top = QHBoxLayout()
        top.addWidget(self.entry, 1)
        top.addWidget(self.go_button)
        self.title = QLabel("Nothing looked up yet", self)
        f = self.title.font()
        f.setPointSize(f.pointSize() + 6)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
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

    def allowed_for(self, operator: Operator) -> bool:
        return True  # every role may look bags up

    def on_shown(self) -> None:
        self.entry.setFocus()

    def handle_read(self, raw: str, source: str) -> None:
        self.window_.task_runner.submit(lambda s: lookup(s, raw), self._on_task_looked_up,
                                        self._on_task_failed)

    @Slot()
    def _on_entry_return_pressed(self) -> None:
        text = self.entry.text()
        self.entry.clear()
        if not text.strip():
            return
        handle = getattr(self.window_, "handle_read", None)
        if callable(handle):
            handle(text, "typed")
        else:
            self.handle_read(text, "typed")

    def _on_task_failed(self, err: Any) -> None:
        self.title.setText("Look-up failed")
        self.details.setText(err.message)

    def _on_task_looked_up(self, r: LookupResult) -> None:
        self.result = r
        bag, bill = r.bag, r.bill
        children: tuple[str, ...] = ()
        if bag is not None:
            children = bag.children
            if bag.kind == "parent":
                self.title.setText(f"Parent {bag.code} ({bag.bag_type}) · {bag.status}")
                lines = [f"{bag.child_count} children, {bag.weight_kg:,.1f} kg"]
            else:
                self.title.setText(f"Child {bag.code}")
                lines = [f"in parent {bag.parent}" if bag.parent else "not in any parent bag"]
                if bag.label_text:
                    lines.append(f"label: {bag.label_text}")
            if bag.bill and bill is not None:
                lines.append(f"on bill {bill.bill_id} ({bill.status}, {bill.linked}/{bill.target} "
                             f"parents)")
            elif bag.kind == "parent":
                lines.append("not on a bill")
            lines.append(f"area {bag.area or '-'}, first seen {reports.local_time(bag.created_at)}")
            self.details.setText("\n".join(lines))
        elif bill is not None:
            self.title.setText(f"Bill {bill.bill_id} · {bill.status}")
            self.details.setText(
                f"{bill.linked}/{bill.target} parents, {bill.children:,} children, "
                f"{bill.actual_kg:,.1f} of {bill.expected_kg:,.1f} kg; created by "
                f"{bill.created_by} {bill.created_local}"
            )
        else:
            self.title.setText(f"Not found: {escape_read(r.raw)}")
            self.details.setText("No bag or bill with this code is known at this station.")
        self.children_model.set_rows(children)
        self.history_model.set_rows(r.history)
        self.history_view.resizeColumnsToContents()
        self.looked_up.emit(r)
