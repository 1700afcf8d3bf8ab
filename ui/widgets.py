"""Small pieces every screen uses: a flow layout, date fields and tables that Tab leaves, the scan
log, and the save dialog (the look is ui/styles.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QAbstractItemModel,
    QDate,
    QPoint,
    QRect,
    QSettings,
    QSize,
    QStandardPaths,
    Qt,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QFileDialog,
    QHeaderView,
    QLayout,
    QLayoutItem,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from station.codes import escape_read
from ui.records import ScanRecord
from ui.styles import ROW_TINT

if TYPE_CHECKING:
    from PySide6.QtPrintSupport import QPrinter

class FlowLayout(QLayout):
    """Items left to right, wrapping to the next line when the row is full (Qt's example)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt override)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt override)
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt override)
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 (Qt override)
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return self._place(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 (Qt override)
        super().setGeometry(rect)
        self._place(rect, apply=True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802 (Qt override)
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    def _place(self, rect: QRect, *, apply: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        x, y, line_h = area.x(), area.y(), 0
        gap = self.spacing()
        for item in self._items:
            w = item.widget()
            if w is not None and w.isHidden():
                continue
            hint = item.sizeHint()
            if x + hint.width() > area.right() + 1 and line_h > 0:
                x = area.x()
                y += line_h + gap
                line_h = 0
            if apply:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + gap
            line_h = max(line_h, hint.height())
        return y + line_h - rect.y() + m.bottom()


class DateEdit(QDateEdit):
    """A date field that Tab leaves (QDateEdit walks its year, month and day with Tab, so Tab
    never got out of it); Left and Right move between the parts, Up and Down change them."""

    def __init__(self, value: QDate | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if value is not None:
            self.setDate(value)
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")

    def focusNextPrevChild(self, next_: bool) -> bool:  # noqa: N802 (Qt override)
        return QWidget.focusNextPrevChild(self, next_)


def tab_leaves(view: QAbstractItemView) -> QAbstractItemView:
    """Tab moves to the next widget instead of the next cell (arrows move in the table)."""
    view.setTabKeyNavigation(False)
    return view


def table(model: QAbstractItemModel, parent: QWidget, *, sortable: bool = True) -> QTableView:
    """A read-only table of a model: rows selected whole, Tab leaves it, columns fitted to the
    first rows (measuring all of 10 000 rows would freeze the screen)."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    # No sort until a header is clicked: lists first show their natural order (loading order).
    view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    view.setSortingEnabled(sortable)
    tab_leaves(view)
    view.setAlternatingRowColors(True)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(24)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    header.setDefaultSectionSize(110)
    header.setResizeContentsPrecision(50)
    return view


def focusable_buttons(*buttons: QWidget) -> None:
    """Reachable with Tab, never taking the focus from the scan field on a click."""
    for b in buttons:
        b.setFocusPolicy(Qt.FocusPolicy.TabFocus)


# -- the scan log -------------------------------------------------------------------------------


class ScanLog(QTableWidget):
    """The last scans of this operator on this screen: time, read, result (newest first)."""

    def __init__(self, size: int = 20, font_px: int = 17, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.capacity = size
        self.setHorizontalHeaderLabels(["Time", "Read", "Result"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # nothing to do in it: Tab passes it by
        self.setWordWrap(False)
        self.setStyleSheet(f"font-size: {font_px}px;")
        self.verticalHeader().setDefaultSectionSize(int(font_px * 1.7))
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.records: list[ScanRecord] = []

    def add(self, record: ScanRecord) -> None:
        """One recorded scan: when, the read, and its result's message."""
        self.records.insert(0, record)
        del self.records[self.capacity:]
        self.insertRow(0)
        when = record.at.astimezone().strftime("%H:%M:%S")
        read = escape_read(record.raw, 40) if record.source != "action" else record.raw
        if record.source == "typed":
            read += "  (typed)"
        outcome = str(record.result.outcome)
        tint = QBrush(QColor(ROW_TINT.get(outcome, "#ffffff")))
        for col, text in enumerate((when, read, record.result.message)):
            item = QTableWidgetItem(text)
            item.setBackground(tint)
            item.setToolTip(text)
            self.setItem(0, col, item)
        while self.rowCount() > self.capacity:
            self.removeRow(self.rowCount() - 1)

    def clear_log(self) -> None:
        """A new operator starts with an empty log (never the previous operator's scans)."""
        self.records.clear()
        self.setRowCount(0)


# -- saving files -------------------------------------------------------------------------------

LAST_FOLDER_KEY = "export/last_folder"


def documents_folder() -> Path:
    found = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(found) if found else Path.home()


def save_folder(qsettings: QSettings | None) -> Path:
    """The last folder a file was saved to (if it still exists), else the documents folder."""
    if qsettings is not None:
        last = qsettings.value(LAST_FOLDER_KEY)
        if isinstance(last, str) and last and Path(last).is_dir():
            return Path(last)
    return documents_folder()


def dated_name(stem: str, suffix: str, d0: date | None = None, d1: date | None = None) -> str:
    """'bills-2026-03-01-to-2026-03-31.xlsx', 'summary-2026-03-05.pdf', 'bill-B-17-2026-03-05.pdf'."""
    from station.reports import today

    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
    if d0 is None:
        when = today().isoformat()
    elif d1 is None or d1 == d0:
        when = d0.isoformat()
    else:
        when = f"{d0.isoformat()}-to-{d1.isoformat()}"
    return f"{safe}-{when}.{suffix}"


def get_save_file_name(parent: QWidget, title: str, start: str, filters: str) -> tuple[str, str]:
    """QFileDialog.getSaveFileName (one place, so tests can answer it)."""
    return QFileDialog.getSaveFileName(parent, title, start, filters)


def ask_save_path(parent: QWidget, title: str, name: str, filters: str,
                  qsettings: QSettings | None) -> Path | None:
    """Ask where to save `name` (starting in the last folder used, else Documents); the
    chosen folder is remembered for the next time."""
    import ui.widgets as me  # looked up at call time: tests answer the dialog

    start = str(save_folder(qsettings) / name)
    chosen, _ = me.get_save_file_name(parent, title, start, filters)
    if not chosen:
        return None
    path = Path(chosen)
    if qsettings is not None:
        qsettings.setValue(LAST_FOLDER_KEY, str(path.parent))
    return path


def ask_printer(parent: QWidget) -> QPrinter | None:
    """The print dialog; the QPrinter chosen, or None (one place, so tests can answer it)."""
    from PySide6.QtPrintSupport import QPrintDialog, QPrinter

    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog = QPrintDialog(printer, parent)
    return printer if dialog.exec() == QPrintDialog.DialogCode.Accepted else None
