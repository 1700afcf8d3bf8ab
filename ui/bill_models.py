"""Qt table models of the bill screens: each holds ids and frozen rows from station.reports.

One generic model (`RowsModel`) with a column table per row type; sorting is done on the
rows themselves (keys are plain values), so 10 000 bills sort in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from station import vocabulary as vocab
from station.reports import OVERALL, BillRow, HistoryEntry, ParentLine, SummaryRow, local_time
from ui.styles import AMBER, GREEN

R = TypeVar("R")
Index = QModelIndex | QPersistentModelIndex

RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
ROW_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # the frozen row itself
ID_ROLE = int(Qt.ItemDataRole.UserRole) + 2  # the row's id (bill id, bag code)


@dataclass(frozen=True)
class Column(Generic[R]):
    header: str
    text: Callable[[R], str]
    key: Callable[[R], Any]
    numeric: bool = False


def _kg(value: float) -> str:
    return f"{value:,.1f}"


class RowsModel(QAbstractTableModel, Generic[R]):
    """Read-only table of frozen rows; `ids[i]` names row i."""

    def __init__(self, columns: Sequence[Column[R]], id_of: Callable[[R], str],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.columns = tuple(columns)
        self._id_of = id_of
        self.rows: list[R] = []
        self.ids: list[str] = []
        self._sort: tuple[int, Qt.SortOrder] | None = None

    # -- data ---------------------------------------------------------------------------------

    def set_rows(self, rows: Sequence[R]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        if self._sort is not None:
            self._sort_rows(*self._sort)
        self.ids = [self._id_of(r) for r in self.rows]
        self.endResetModel()

    def row_of(self, row_id: str) -> int:
        try:
            return self.ids.index(row_id)
        except ValueError:
            return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        col = self.columns[index.column()]
        role = int(role)
        if role == int(Qt.ItemDataRole.DisplayRole):
            return col.text(row)
        if role == int(Qt.ItemDataRole.TextAlignmentRole):
            return RIGHT if col.numeric else LEFT
        if role == int(Qt.ItemDataRole.BackgroundRole):
            color = self.background(row)
            return QBrush(color) if color is not None else None
        if role == int(Qt.ItemDataRole.ToolTipRole):
            return self.tooltip(row)
        if role == ROW_ROLE:
            return row
        if role == ID_ROLE:
            return self.ids[index.row()]
        return None

    def background(self, row: R) -> QColor | None:
        return None

    def tooltip(self, row: R) -> str | None:
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            if int(role) == int(Qt.ItemDataRole.DisplayRole):
                return self.columns[section].header
            if int(role) == int(Qt.ItemDataRole.TextAlignmentRole):
                return RIGHT if self.columns[section].numeric else LEFT
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self.rows):
            if int(role) == int(Qt.ItemDataRole.DisplayRole):
                return str(section + 1)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    # -- sorting ------------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        perm = self._sort_rows(column, order)
        self.ids = [self._id_of(r) for r in self.rows]
        new_pos = [0] * len(perm)
        for new, old in enumerate(perm):
            new_pos[old] = new
        self.changePersistentIndexList(
            persistent,
            [self.index(new_pos[p.row()], p.column()) if p.isValid() else QModelIndex()
             for p in persistent],
        )
        self.layoutChanged.emit()

    def _sort_rows(self, column: int, order: Qt.SortOrder) -> list[int]:
        """Stable sort of the rows; returns the old position of each new row."""
        key = self.columns[column].key
        rows = self.rows
        perm = sorted(range(len(rows)), key=lambda i: key(rows[i]),
                      reverse=order == Qt.SortOrder.DescendingOrder)
        self.rows = [rows[i] for i in perm]
        return perm


# -- the column tables ----------------------------------------------------------------------


_STATE_ORDER = {s: i for i, s in enumerate(vocab.BILL_STATES)}


def _short(r: BillRow) -> str:
    """What is short, beside the state: parents (of a closed bill) and kg."""
    short = r.shortfall
    if r.state.is_closed or short.kg > 0.05:
        parents = short.parents if r.state.is_closed else 0
        return vocab.Shortfall(parents, short.kg).text()
    return ""


BILL_COLUMNS: tuple[Column[BillRow], ...] = (
    Column("Bill", lambda r: r.bill_id, lambda r: r.bill_id),
    Column("Created", lambda r: r.created_local, lambda r: r.created_at),
    Column("Created by", lambda r: r.created_by, lambda r: r.created_by.lower()),
    Column("Status", lambda r: r.state.value, lambda r: _STATE_ORDER[r.state]),
    Column("Short", _short, lambda r: (r.shortfall.parents if r.state.is_closed else 0,
                                       r.shortfall.kg)),
    Column("Parents", lambda r: f"{r.linked} / {r.target}", lambda r: (r.linked, r.target), True),
    Column("Children", lambda r: f"{r.children:,}", lambda r: r.children, True),
    Column("Actual kg", lambda r: _kg(r.actual_kg), lambda r: r.actual_kg, True),
    Column("Expected kg", lambda r: _kg(r.expected_kg), lambda r: r.expected_kg, True),
    Column("% complete", lambda r: f"{r.percent:.0f} %", lambda r: r.percent, True),
)


class BillsModel(RowsModel[BillRow]):
    """The supervisor's bills list."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(BILL_COLUMNS, lambda r: r.bill_id, parent)

    def background(self, row: BillRow) -> QColor | None:
        tone = vocab.bill_tone(row.state, row.shortfall)
        if tone == "attention" and row.state is not vocab.BillState.FULL:
            return AMBER
        return GREEN if row.state is vocab.BillState.CLOSED else None

    def tooltip(self, row: BillRow) -> str | None:
        parts = [p for p in (row.state_text, row.description,
                             row.destination and f"to {row.destination}",
                             row.vehicle and f"vehicle {row.vehicle}") if p]
        return ", ".join(parts) or None


def _parent_status(p: ParentLine) -> str:
    if p.provisional and p.capacity == 0:
        return "not known here yet (provisional)"
    if p.child_count < p.capacity:
        return f"{p.state} ({p.capacity - p.child_count} missing)"
    return p.state


def _short_time(iso_text: str) -> str:
    """'11:26' today, '11-30 11:26' this year, else the full local time."""
    from station.reports import today

    full = local_time(iso_text)
    day = today().isoformat()
    if full.startswith(day):
        return full[11:]
    if full[:4] == day[:4]:
        return full[5:]
    return full


PARENT_COLUMNS: tuple[Column[ParentLine], ...] = (
    Column("Parent", lambda p: p.code, lambda p: p.code),
    Column("Type", lambda p: p.bag_type, lambda p: p.bag_type),
    Column("Children", lambda p: f"{p.child_count} / {p.capacity}",
           lambda p: (p.child_count, p.capacity), True),
    Column("Status", _parent_status, lambda p: (not p.incomplete, p.state)),
    Column("Added", lambda p: _short_time(p.added_at), lambda p: p.added_at),
    Column("By", lambda p: p.added_by, lambda p: p.added_by),
)


class ParentsModel(RowsModel[ParentLine]):
    """Parents on a bill; incomplete ones in amber."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(PARENT_COLUMNS, lambda p: p.code, parent)

    def background(self, row: ParentLine) -> QColor | None:
        return AMBER if row.incomplete else None


SUMMARY_COLUMNS: tuple[Column[SummaryRow], ...] = (
    Column("Created by", lambda s: s.creator or OVERALL, lambda s: (s.creator == "", s.creator)),
    Column("Bills", lambda s: str(s.bills), lambda s: s.bills, True),
    Column("Open", lambda s: str(s.open), lambda s: s.open, True),
    Column("Closed", lambda s: str(s.closed), lambda s: s.closed, True),
    Column("Closed short", lambda s: str(s.closed_short), lambda s: s.closed_short, True),
    Column("Parents", lambda s: f"{s.parents:,}", lambda s: s.parents, True),
    Column("Parents short", lambda s: f"{s.parents_short:,}", lambda s: s.parents_short, True),
    Column("Children", lambda s: f"{s.children:,}", lambda s: s.children, True),
    Column("Actual kg", lambda s: _kg(s.actual_kg), lambda s: s.actual_kg, True),
    Column("Expected kg", lambda s: _kg(s.expected_kg), lambda s: s.expected_kg, True),
    Column("Shortfall kg", lambda s: _kg(s.shortfall_kg), lambda s: s.shortfall_kg, True),
)


class SummaryModel(RowsModel[SummaryRow]):
    """Per-creator summary rows, the overall row last."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(SUMMARY_COLUMNS, lambda s: s.creator or OVERALL, parent)

    def background(self, row: SummaryRow) -> QColor | None:
        return QColor("#e6eef8") if row.creator == "" else None


HISTORY_COLUMNS: tuple[Column[HistoryEntry], ...] = (
    Column("When", lambda e: e.time_local, lambda e: e.time),
    Column("Who", lambda e: e.operator, lambda e: e.operator),
    Column("Station", lambda e: e.station, lambda e: e.station),
    Column("What", lambda e: e.describe(), lambda e: e.describe()),
)


class HistoryModel(RowsModel[HistoryEntry]):
    """Events of a bag or a bill (ids are positions: entries have no id of their own)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(HISTORY_COLUMNS, lambda e: f"{e.time}|{e.type}|{e.child or ''}", parent)


CHILD_COLUMNS: tuple[Column[str], ...] = (Column("Child", lambda c: c, lambda c: c),)


class ChildrenModel(RowsModel[str]):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(CHILD_COLUMNS, lambda c: c, parent)
