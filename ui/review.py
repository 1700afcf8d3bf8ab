"""Supervisor review (biller, admin): bills list with filters, bill detail, summary, exports.

Queries and file writing run on the window's task runner (reports.reading opens a read-only
connection on the worker); the models hold ids and frozen rows. The PDF sheet is painted here.
A scan on this screen is a look-up: the bill (or the bag's bill) is shown, nothing recorded.
Everything is reachable with Tab (tables and date fields let Tab go on; arrows work inside),
Ctrl+Tab switches between the Bills and Summary tabs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QDate, QItemSelection, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station import reports
from station import vocabulary as vocab
from station.errors import NotLoggedIn
from station.reports import BagHistory, BillDetail, BillFilter, BillRow, Summary
from station.rules import Action, may
from station.service import Operator, StationService
from ui.bill_models import (
    BillsModel,
    ChildrenModel,
    HistoryModel,
    ParentsModel,
    SummaryModel,
)
from ui.host import ScreenHost
from ui.review_lookup import LookupResult, describe, lookup
from ui.styles import error_label_style
from ui.tasks import TaskError
from ui.widgets import DateEdit, ask_save_path, dated_name, table

__all__ = ["BillDetailPanel", "ExportDone", "ReviewScreen", "table"]

T = TypeVar("T")

LIST_DAYS = 30  # the bills list opens on the last 30 days; the summary on today


def _reviewer(service: StationService) -> Operator:
    op = service.operator
    if op is None:
        raise NotLoggedIn()
    reports.require_reviewer(op.username, op.role)
    return op


def load_bills(service: StationService, flt: BillFilter) -> list[BillRow]:
    _reviewer(service)
    with reports.reading(service.store) as conn:
        return reports.list_bills(conn, flt)


def load_summary(service: StationService, d0: date, d1: date) -> Summary:
    _reviewer(service)
    with reports.reading(service.store) as conn:
        return reports.summary(conn, d0, d1)


def load_detail(service: StationService, bill_id: str) -> BillDetail | None:
    _reviewer(service)
    with reports.reading(service.store) as conn:
        return reports.bill_detail(conn, bill_id)


def load_history(service: StationService, code: str) -> BagHistory:
    with reports.reading(service.store) as conn:
        return reports.bag_history(conn, code)


def qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def pydate(q: QDate) -> date:
    return date(q.year(), q.month(), q.day())


@dataclass(frozen=True)
class ExportDone:
    path: Path
    what: str


class BillDetailPanel(QWidget):
    """One bill: header, parents (select one for its children and history), bill events."""

    def __init__(self, review: ReviewScreen) -> None:
        super().__init__(review)
        self.review = review
        self.detail: BillDetail | None = None
        self.header = QLabel("Select a bill in the list to see its parents and history", self)
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        f = self.header.font()
        f.setPointSize(f.pointSize() + 2)
        f.setBold(True)
        self.header.setFont(f)

        self.parents_model = ParentsModel(self)
        self.parents_view = table(self.parents_model, self)
        self.children_model = ChildrenModel(self)
        self.children_view = table(self.children_model, self)
        self.history_model = HistoryModel(self)
        self.history_view = table(self.history_model, self)
        self.events_model = HistoryModel(self)
        self.events_view = table(self.events_model, self)
        self.history_label = QLabel("Scan history of the selected bag", self)

        self.parents_view.selectionModel().selectionChanged.connect(
            self._on_parents_selection_changed)
        self.children_view.selectionModel().selectionChanged.connect(
            self._on_children_selection_changed)

        self.pdf_button = QPushButton("Save bill sheet as PDF…", self)
        self.pdf_button.clicked.connect(self._on_pdf_button_clicked)
        self.print_button = QPushButton("Print bill sheet…", self)
        self.print_button.clicked.connect(self._on_print_button_clicked)

        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Parents on the bill (incomplete in amber)", left))
        ll.addWidget(self.parents_view)
        mid = QWidget(self)
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addWidget(QLabel("Children of the selected parent", mid))
        ml.addWidget(self.children_view)
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.history_label)
        rl.addWidget(self.history_view, 1)
        rl.addWidget(QLabel("Events that changed the bill", right))
        rl.addWidget(self.events_view, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        for w, stretch in ((left, 3), (mid, 1), (right, 4)):
            split.addWidget(w)
            split.setStretchFactor(split.indexOf(w), stretch)
        buttons = QHBoxLayout()
        buttons.addWidget(self.header, 1)
        buttons.addWidget(self.pdf_button)
        buttons.addWidget(self.print_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(buttons)
        lay.addWidget(split, 1)
        self._set_buttons()

    def _set_buttons(self) -> None:
        self.pdf_button.setEnabled(self.detail is not None)
        self.print_button.setEnabled(self.detail is not None)

    def show_detail(self, detail: BillDetail | None) -> None:
        self.detail = detail
        self.children_model.set_rows(())
        self.history_model.set_rows(())
        if detail is None:
            self.header.setText("Select a bill in the list to see its parents and history")
            self.parents_model.set_rows(())
            self.events_model.set_rows(())
        else:
            r = detail.row
            state = vocab.bill_state_text(r.state, r.shortfall,
                                          detail.closed_reason or r.closed_reason)
            closed = detail.closed_event
            by = f" · closed by {closed.operator} {closed.time_local}" if closed else ""
            self.header.setText(
                f"Bill {r.bill_id} · {state} · {r.linked}/{r.target} parent bags · "
                f"{vocab.count(r.children, 'child', 'children')} · {r.actual_kg:,.1f} of "
                f"{r.expected_kg:,.1f} kg{by}"
            )
            self.parents_model.set_rows(detail.parents)
            self.events_model.set_rows(detail.events)
            self.parents_view.resizeColumnsToContents()
            self.events_view.resizeColumnsToContents()
        self._set_buttons()

    @Slot(QItemSelection, QItemSelection)
    def _on_parents_selection_changed(self, *_: Any) -> None:
        rows = self.parents_view.selectionModel().selectedRows()
        if not rows:
            return
        line = self.parents_model.rows[rows[0].row()]
        self.children_model.set_rows(line.children)
        self.review.show_history(line.code)

    @Slot(QItemSelection, QItemSelection)
    def _on_children_selection_changed(self, *_: Any) -> None:
        rows = self.children_view.selectionModel().selectedRows()
        if rows:
            self.review.show_history(self.children_model.ids[rows[0].row()])

    def show_history(self, history: BagHistory) -> None:
        self.history_label.setText(f"Scan history of {history.code}")
        self.history_model.set_rows(history.entries)
        self.history_view.resizeColumnsToContents()

    @Slot()
    def _on_pdf_button_clicked(self) -> None:
        if self.detail is None:
            return
        name = dated_name(f"bill-{self.detail.row.bill_id}", "pdf")
        path = ask_save_path(self, f"Save the sheet of bill {self.detail.row.bill_id}", name,
                             "PDF (*.pdf)", self.review.ui_settings())
        if path is not None:
            self.review.save_bill_pdf(path)

    @Slot()
    def _on_print_button_clicked(self) -> None:
        if self.detail is None:
            return
        from ui.pdf import print_bill_sheet
        from ui.widgets import ask_printer

        printer = ask_printer(self)
        if printer is not None:
            print_bill_sheet(printer, self.detail, self.review.station_id())


class ReviewScreen(QWidget):
    """Screen "review": the bills list (filters, sort), detail and summary tabs."""

    bills_loaded = Signal(int)
    summary_loaded = Signal(object)
    detail_loaded = Signal(object)
    exported = Signal(object)  # ExportDone
    failed = Signal(str)
    looked_up = Signal(object)  # a scan's LookupResult

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.last_error = ""
        self._list_generation = 0
        today = reports.today()

        # -- bills tab
        self.text_edit = QLineEdit(self)
        self.text_edit.setPlaceholderText("Filter: bill id, creator, description, destination, vehicle")
        self.text_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox(self)
        self.status_combo.addItem("Any status", "")
        for s in reports.STATUSES:
            self.status_combo.addItem(s, s)
        self._defaults_day = today  # the day the date fields' first values were set for
        self.from_edit = DateEdit(qdate(today - timedelta(days=LIST_DAYS - 1)), self)
        self.to_edit = DateEdit(qdate(today), self)
        self.count_label = QLabel("", self)
        self.csv_button = QPushButton("Export CSV…", self)
        self.xlsx_button = QPushButton("Export XLSX…", self)
        self.csv_button.clicked.connect(lambda: self._on_export_clicked("bills", "csv"))
        self.xlsx_button.clicked.connect(lambda: self._on_export_clicked("bills", "xlsx"))
        filters = QHBoxLayout()
        filters.addWidget(self.text_edit, 1)
        filters.addWidget(self.status_combo)
        filters.addWidget(QLabel("from", self))
        filters.addWidget(self.from_edit)
        filters.addWidget(QLabel("to", self))
        filters.addWidget(self.to_edit)
        counts = QHBoxLayout()
        counts.addWidget(self.count_label, 1)
        counts.addWidget(self.csv_button)
        counts.addWidget(self.xlsx_button)

        self.bills_model = BillsModel(self)
        self.bills_view = table(self.bills_model, self)
        self.bills_view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        self.bills_view.selectionModel().selectionChanged.connect(self._on_bills_selection_changed)
        self.detail = BillDetailPanel(self)

        bills_tab = QWidget(self)
        split = QSplitter(Qt.Orientation.Vertical, bills_tab)
        split.addWidget(self.bills_view)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        bl = QVBoxLayout(bills_tab)
        bl.addLayout(filters)
        bl.addLayout(counts)
        bl.addWidget(split, 1)

        # -- summary tab
        self.sum_from_edit = DateEdit(qdate(today), self)
        self.sum_to_edit = DateEdit(qdate(today), self)
        for e in (self.sum_from_edit, self.sum_to_edit):
            e.dateChanged.connect(self._on_summary_dates_changed)
        self.summary_model = SummaryModel(self)
        self.summary_view = table(self.summary_model, self)
        self.summary_view.horizontalHeader().setStretchLastSection(False)
        self.summary_title = QLabel("", self)
        self.sum_csv_button = QPushButton("Export CSV…", self)
        self.sum_xlsx_button = QPushButton("Export XLSX…", self)
        self.sum_pdf_button = QPushButton("Save as PDF…", self)
        self.sum_csv_button.clicked.connect(lambda: self._on_export_clicked("summary", "csv"))
        self.sum_xlsx_button.clicked.connect(lambda: self._on_export_clicked("summary", "xlsx"))
        self.sum_pdf_button.clicked.connect(lambda: self._on_export_clicked("summary", "pdf"))
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Bills created from", self))
        srow.addWidget(self.sum_from_edit)
        srow.addWidget(QLabel("to", self))
        srow.addWidget(self.sum_to_edit)
        srow.addStretch(1)
        srow.addWidget(self.sum_csv_button)
        srow.addWidget(self.sum_xlsx_button)
        srow.addWidget(self.sum_pdf_button)
        summary_tab = QWidget(self)
        sl = QVBoxLayout(summary_tab)
        sl.addLayout(srow)
        sl.addWidget(self.summary_title)
        sl.addWidget(self.summary_view, 1)
        self.summary: Summary | None = None

        self.tabs = QTabWidget(self)
        self.tabs.addTab(bills_tab, "Bills")
        self.tabs.addTab(summary_tab, "Summary")
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.message)

        # Typing in the filter re-queries after a short pause, not on every key.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.reload)
        self.text_edit.textChanged.connect(self._debounce.start)
        self.status_combo.currentIndexChanged.connect(self.reload)
        self.from_edit.dateChanged.connect(self.reload)
        self.to_edit.dateChanged.connect(self.reload)

    # -- main window contract -----------------------------------------------------------------

    def allowed_for(self, operator: Operator) -> bool:
        return may(operator.role, Action.BILLS)

    def on_shown(self) -> None:
        self._follow_the_day()
        self.reload()
        self.reload_summary()
        # The keyboard starts in the open tab's first field (Ctrl+Tab switches tabs).
        first = self.text_edit if self.tabs.currentIndex() == 0 else self.sum_from_edit
        first.setFocus(Qt.FocusReason.OtherFocusReason)

    def _follow_the_day(self) -> None:
        """A window left open past midnight: the date fields still on their first values (the
        last 30 days, today's summary) move on to the new day; a date someone chose stays."""
        today, was = reports.today(), self._defaults_day
        if today == was:
            return
        self._defaults_day = today
        start = timedelta(days=LIST_DAYS - 1)
        for edit, old, new in ((self.from_edit, was - start, today - start),
                               (self.to_edit, was, today), (self.sum_from_edit, was, today),
                               (self.sum_to_edit, was, today)):
            if pydate(edit.date()) == old:
                edit.blockSignals(True)  # one query each below, not one per field
                try:
                    edit.setDate(qdate(new))
                finally:
                    edit.blockSignals(False)

    def stop(self) -> None:
        self._debounce.stop()

    def station_id(self) -> str:
        return self.host.settings.station_id

    def ui_settings(self) -> QSettings:
        """The window's ui.ini (the last export folder is kept there)."""
        return self.host.ui_settings

    def show_message(self, kind: str, text: str) -> None:
        if kind == "refused":
            self.message.setStyleSheet(error_label_style())
            self.message.setText(text)
        else:
            self._info(text)

    # -- scans: a look-up, never recorded ----------------------------------------------------

    def handle_read(self, raw: str, source: str) -> None:
        self._submit(lambda s: lookup(s, raw), self._on_task_scan_looked_up)

    def _on_task_scan_looked_up(self, r: LookupResult) -> None:
        title, lines = describe(r)
        self._info(f"Looked up (nothing recorded): {title}" + (f" · {lines[0]}" if lines else ""))
        bill = r.bill
        if bill is not None:
            if self.tabs.currentIndex() != 0:
                self.tabs.setCurrentIndex(0)
            i = self.bills_model.row_of(bill.bill_id)
            if i >= 0 and self.selected_bill() != bill.bill_id:
                self.bills_view.selectRow(i)  # shows its detail
            elif i < 0:
                # outside the filter: its detail all the same, with no other bill highlighted
                self.bills_view.clearSelection()
                self.show_bill(bill.bill_id)
        if r.bag is not None:
            self.show_history(r.bag.code)
        self.looked_up.emit(r)

    def _submit(self, fn: Callable[[StationService], T], on_done: Callable[[T], None]) -> None:
        try:
            self.host.task_runner.submit(fn, on_done, self._on_task_failed)
        except RuntimeError:
            pass  # the window is shutting down: nothing more to show

    def _on_task_failed(self, err: TaskError | reports.ReportError) -> None:
        self.last_error = err.message
        self.message.setText(err.message)
        self.message.setStyleSheet(error_label_style())
        self.failed.emit(err.message)

    def _info(self, text: str) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("")

    # -- bills list ---------------------------------------------------------------------------

    def current_filter(self) -> BillFilter:
        return BillFilter(pydate(self.from_edit.date()), pydate(self.to_edit.date()),
                          self.status_combo.currentData() or "", self.text_edit.text())

    def set_filter(self, *, text: str | None = None, status: str | None = None,
                   date_from: date | None = None, date_to: date | None = None) -> None:
        """Set several filters at once with one query (tests, and 'show me this bill')."""
        widgets = (self.text_edit, self.status_combo, self.from_edit, self.to_edit)
        for w in widgets:
            w.blockSignals(True)
        try:
            if text is not None:
                self.text_edit.setText(text)
            if status is not None:
                self.status_combo.setCurrentIndex(max(self.status_combo.findData(status), 0))
            if date_from is not None:
                self.from_edit.setDate(qdate(date_from))
            if date_to is not None:
                self.to_edit.setDate(qdate(date_to))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.reload()

    @Slot()
    def reload(self) -> None:
        self._debounce.stop()
        try:
            flt = self.current_filter()
            reports.day_bounds(flt.date_from, flt.date_to)
        except reports.ReportError as exc:
            self._on_task_failed(exc)
            return
        self._list_generation += 1
        gen = self._list_generation
        self._submit(lambda s: load_bills(s, flt), lambda rows: self._on_task_bills(gen, rows))

    def _on_task_bills(self, generation: int, rows: list[BillRow]) -> None:
        if generation != self._list_generation:
            return  # a newer filter's answer is on its way
        selected = self.selected_bill()
        first = self.bills_model.rowCount() == 0
        self.bills_model.set_rows(rows)
        if first and rows:
            self.bills_view.resizeColumnsToContents()
        total = reports.summarise(rows, date.min, date.max).overall
        self.count_label.setText(
            f"{vocab.count(len(rows), 'bill')} · {total.open:,} open · {total.closed:,} closed · "
            f"{total.closed_short:,} closed short · {vocab.count(total.parents, 'parent')}"
        )
        self._info("")
        if selected is not None and (i := self.bills_model.row_of(selected)) >= 0:
            self.bills_view.selectRow(i)
        elif selected is not None:
            # the bill chosen in the list is no longer in it (the new list comes with nothing
            # selected and says nothing): its detail goes too, never left under another list
            self.detail.show_detail(None)
        self.bills_loaded.emit(len(rows))

    def selected_bill(self) -> str | None:
        rows = self.bills_view.selectionModel().selectedRows()
        return self.bills_model.ids[rows[0].row()] if rows else None

    @Slot(QItemSelection, QItemSelection)
    def _on_bills_selection_changed(self, *_: Any) -> None:
        bill_id = self.selected_bill()
        if bill_id is None:
            self.detail.show_detail(None)
            return
        self.show_bill(bill_id)

    def show_bill(self, bill_id: str) -> None:
        self._submit(lambda s: load_detail(s, bill_id), self._on_task_detail)

    def _on_task_detail(self, detail: BillDetail | None) -> None:
        self.detail.show_detail(detail)
        self.detail_loaded.emit(detail)

    def show_history(self, code: str) -> None:
        self._submit(lambda s: load_history(s, code), self.detail.show_history)

    # -- summary ------------------------------------------------------------------------------

    @Slot()
    def _on_summary_dates_changed(self) -> None:
        self.reload_summary()

    def reload_summary(self) -> None:
        d0, d1 = pydate(self.sum_from_edit.date()), pydate(self.sum_to_edit.date())
        if d1 < d0:
            self._on_task_failed(reports.ReportError(
                "bad_dates", f"The date range ends ({d1}) before it starts ({d0})"))
            return
        self._submit(lambda s: load_summary(s, d0, d1), self._on_task_summary)

    def _on_task_summary(self, summ: Summary) -> None:
        self.summary = summ
        self.summary_model.set_rows(reports.summary_rows(summ))
        self.summary_view.resizeColumnsToContents()
        span = (f"{summ.date_from}" if summ.date_from == summ.date_to
                else f"{summ.date_from} to {summ.date_to}")
        o = summ.overall
        short = f", {vocab.count(o.parents_short, 'parent bag')} short" if o.parents_short else ""
        self.summary_title.setText(
            f"Bills created {span}: {vocab.count(o.bills, 'bill')}, {o.open} open (new, loading "
            f"or full), {o.closed} closed, {o.closed_short} closed short{short}; "
            f"{o.shortfall_kg:,.1f} kg short"
        )
        self.summary_loaded.emit(summ)

    # -- exports ------------------------------------------------------------------------------

    def _on_export_clicked(self, what: str, fmt: str) -> None:
        suffix = {"csv": "CSV (*.csv)", "xlsx": "Excel (*.xlsx)", "pdf": "PDF (*.pdf)"}[fmt]
        if what == "bills":
            d0, d1 = pydate(self.from_edit.date()), pydate(self.to_edit.date())
        else:
            d0, d1 = pydate(self.sum_from_edit.date()), pydate(self.sum_to_edit.date())
        name = dated_name(what, fmt, d0, d1)
        path = ask_save_path(self, f"Export the {what} as {fmt.upper()}", name, suffix,
                             self.ui_settings())
        if path is not None:
            self.export(what, fmt, path)

    def export(self, what: str, fmt: str, path: Path) -> None:
        """Write what is on screen: the bills list as filtered, or the summary shown."""
        if what == "bills":
            rows = list(self.bills_model.rows)
            flt = self.current_filter()
            assert flt.date_from is not None and flt.date_to is not None
            summ = reports.summarise(rows, flt.date_from, flt.date_to)
        else:
            if self.summary is None:
                self._on_task_failed(reports.ReportError("no_summary", "No summary loaded yet"))
                return
            rows, summ = [], self.summary
        if fmt == "pdf":
            self._export_pdf(what, path, rows, summ)
            return

        def work(_s: StationService) -> ExportDone:
            try:
                if fmt == "csv" and what == "bills":
                    reports.write_bills_csv(path, rows)
                elif fmt == "csv":
                    reports.write_summary_csv(path, summ)
                else:
                    reports.write_xlsx(path, rows if what == "bills" else None, summ)
            except OSError as exc:
                raise reports.ReportError(
                    "write", f"Cannot write {path}: {exc.strerror or exc}. Nothing was saved"
                ) from exc
            return ExportDone(path, what)

        self._submit(work, self._on_task_exported)

    def _export_pdf(self, what: str, path: Path, rows: list[BillRow], summ: Summary) -> None:
        from ui import pdf

        try:
            if what == "summary":
                pdf.write_table(
                    path, f"Bills summary {summ.date_from} to {summ.date_to}",
                    [f"Station {self.station_id()}"], reports.SUMMARY_HEADERS,
                    [reports.summary_values(s) for s in reports.summary_rows(summ)],
                    landscape=False,
                )
            else:
                pdf.write_table(path, f"Bills {summ.date_from} to {summ.date_to}",
                                [f"Station {self.station_id()}"], reports.PDF_BILL_HEADERS,
                                [reports.pdf_bill_values(r) for r in rows])
        except OSError as exc:
            self._on_task_failed(reports.ReportError(
                "write", f"Cannot write {path}: {exc.strerror or exc}. Nothing was saved"))
            return
        self._on_task_exported(ExportDone(path, what))

    def save_bill_pdf(self, path: Path) -> None:
        from ui import pdf

        detail = self.detail.detail
        if detail is None:
            return
        try:
            pdf.write_bill_sheet(path, detail, self.station_id())
        except OSError as exc:
            self._on_task_failed(reports.ReportError(
                "write", f"Cannot write {path}: {exc.strerror or exc}. Nothing was saved"))
            return
        self._on_task_exported(ExportDone(path, f"bill {detail.row.bill_id}"))

    def _on_task_exported(self, done: ExportDone) -> None:
        self._info(f"Saved {done.what} to {done.path}")
        self.exported.emit(done)
