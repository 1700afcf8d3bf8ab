"""Supervisor reports from the local store: bills list, summary per creator, bill detail, history.

Qt-free. Rows are frozen dataclasses (the table models hold them); CSV and XLSX writers here,
the PDF bill sheet in ui/pdf.py. A bill's figures come from station.bills.bill_figures, as
StationService.bill_progress's do.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from station import vocabulary as vocab
from station.bills import BillFigures, BillParent, Derived, bill_figures
from station.codes import normalise
from station.errors import StationError
from station.reasons import Reason, say
from station.rules import Action, check_permission
from station.store import db
from station.store.local import LocalStore, iso, parse_iso
from station.store.schema import bag_types, bags, bill_lines, bills, events, links
from station.vocabulary import BillState

# The bill states a list can be filtered by: the words people see (station/vocabulary.py).
STATUSES: tuple[str, ...] = tuple(s.value for s in vocab.BILL_STATES)


class ReportError(StationError):
    """A report that cannot be made (bad dates, not allowed, unknown bill)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillRow(Derived):
    """One bill as the bills list shows it (figures from station.bills.bill_figures, as
    StationService.bill_progress; percent, shortfall_kg and shortfall come with `Derived`)."""

    bill_id: str
    created_at: str  # ISO, UTC
    created_by: str
    status: str
    linked: int
    target: int
    children: int
    actual_kg: float
    expected_kg: float
    description: str = ""
    destination: str = ""
    vehicle: str = ""
    closed_reason: str = ""

    @property
    def state(self) -> BillState:
        """new, loading, full, closed or closed short (station/vocabulary.py)."""
        return vocab.bill_state(self.status, self.linked, self.target)

    @property
    def state_text(self) -> str:
        """The state with its shortfall and a closed-short reason beside it."""
        return vocab.bill_state_text(self.state, self.shortfall, self.closed_reason)

    @property
    def created_local(self) -> str:
        return local_time(self.created_at)


@dataclass(frozen=True)
class BillFilter:
    """Date range in local calendar days (inclusive); status: a bill state (new, loading, full,
    closed, closed short; '' = any); text matches id, creator, description, destination and
    vehicle, ignoring case."""

    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    text: str = ""


@dataclass(frozen=True)
class SummaryRow:
    """Bills of one creator (or everyone: creator '' in `overall`) in a date range.
    `open` counts the bills not closed (new, loading or full); `closed` the bills closed with
    every parent, `closed_short` those closed with fewer (`parents_short` parent bags missing
    on them)."""

    creator: str
    bills: int
    open: int
    closed: int
    closed_short: int
    parents: int
    parents_short: int
    children: int
    actual_kg: float
    expected_kg: float

    @property
    def shortfall_kg(self) -> float:
        return max(self.expected_kg - self.actual_kg, 0.0)


@dataclass(frozen=True)
class Summary:
    date_from: date
    date_to: date
    per_creator: tuple[SummaryRow, ...]
    overall: SummaryRow


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded event about a bag or a bill: who, when, which station."""

    time: str  # ISO, UTC
    type: str
    operator: str
    station: str
    parent: str | None
    child: str | None
    bill: str | None
    detail: str = ""
    rejected: bool = False  # the centre refused it: it did not happen there

    @property
    def time_local(self) -> str:
        return local_time(self.time)

    def describe(self) -> str:
        words = {
            "parent_scanned": f"parent {self.parent} scanned",
            "child_linked": f"{self.child} linked into {self.parent}",
            "child_unlinked": f"{self.child} removed from {self.parent}",
            "parent_finished": f"{self.parent} finished",
            "bill_created": f"bill {self.bill} created",
            "bill_parent_added": f"{self.parent} added to bill {self.bill}",
            "bill_parent_removed": f"{self.parent} removed from bill {self.bill}",
            "bill_closed": f"bill {self.bill} closed",
            "bill_reopened": f"bill {self.bill} reopened",
        }
        text = words.get(self.type, self.type)
        return f"{text} ({self.detail})" if self.detail else text


@dataclass(frozen=True)
class ParentLine:
    """A parent bag on a bill, with its children."""

    code: str
    bag_type: str
    child_count: int
    capacity: int
    status: str
    added_at: str
    added_by: str
    provisional: bool
    children: tuple[str, ...] = ()

    @property
    def incomplete(self) -> bool:
        return self.child_count < self.capacity or self.provisional

    @property
    def state(self) -> str:
        """The bag's state in words; a parent on the bill not known here says so."""
        if self.provisional and self.capacity == 0:
            return "not known here yet"
        return vocab.bag_state(self.status)


@dataclass(frozen=True)
class BillDetail:
    row: BillRow
    closed_reason: str | None
    parents: tuple[ParentLine, ...]
    events: tuple[HistoryEntry, ...]

    @property
    def closed_event(self) -> HistoryEntry | None:
        """The event that closed the bill as it is now (None: open, or closed elsewhere)."""
        if not self.row.state.is_closed:
            return None
        for e in reversed(self.events):
            if e.rejected:
                continue  # refused at the centre (closed or reopened first elsewhere)
            if e.type == "bill_closed":
                return e
            if e.type == "bill_reopened":
                return None
        return None


@dataclass(frozen=True)
class BagHistory:
    code: str
    entries: tuple[HistoryEntry, ...] = field(default_factory=tuple)


# -- time ---------------------------------------------------------------------------------------


def local_time(iso_text: str) -> str:
    """'2026-11-23 09:15' in the station's local time zone (stored times are UTC)."""
    try:
        return parse_iso(iso_text).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso_text


def today() -> date:
    return datetime.now().astimezone().date()


def day_bounds(date_from: date | None, date_to: date | None) -> tuple[str | None, str | None]:
    """Local calendar days (inclusive) as a half-open UTC ISO range [start, end)."""
    if date_from and date_to and date_to < date_from:
        raise ReportError(
            "bad_dates",
            f"The date range ends ({date_to}) before it starts ({date_from})",
        )
    start = end = None
    try:
        if date_from is not None:
            start = iso(datetime(date_from.year, date_from.month, date_from.day).astimezone())
        if date_to is not None:
            nxt = date_to + timedelta(days=1)
            end = iso(datetime(nxt.year, nxt.month, nxt.day).astimezone())
    except (OverflowError, ValueError):  # the calendar's first or last day: no day around it
        raise ReportError("bad_dates", f"The dates {date_from} to {date_to} are out of range: "
                          "give dates between 1900 and 9998") from None
    return start, end


def parse_day(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ReportError(
            "bad_date", f"The {what} {text!r} is not a date: write it as YYYY-MM-DD"
        ) from exc


# -- access -------------------------------------------------------------------------------------


def require_reviewer(username: str, role: str) -> None:
    """Review and reports are for billers and admins (docs/rules.md §5)."""
    deny = check_permission(role, Action.BILLS, username)
    if deny is not None:
        raise ReportError(Reason.NOT_ALLOWED, say(
            Reason.NOT_ALLOWED, who=f"{username} ({role})", what="review bills",
        ))


@contextmanager
def reading(store: LocalStore) -> Iterator[Connection]:
    """A read-only connection of the calling thread, closed afterwards."""
    with db.translated(store.paths.store), store.engine.connect() as conn:
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()


# -- queries ------------------------------------------------------------------------------------


# Lines point at parents; saying so lets SQLite read type and count from the parents-only
# covering index (ix_bags_parent_figures) instead of the million-row bags table.
_PARENT_OF_LINE = and_(bags.c.code == bill_lines.c.parent_code, bags.c.kind == "parent")


def _bill_heads():  # type: ignore[no-untyped-def]
    """One row per bill: its own columns and its line count (for the state filters)."""
    return (
        select(
            bills.c.bill_id,
            bills.c.created_at,
            func.coalesce(bills.c.created_by, "").label("created_by"),
            bills.c.status,
            bills.c.target,
            bills.c.description,
            bills.c.destination,
            bills.c.vehicle,
            bills.c.closed_reason,
        )
        .select_from(bills.outerjoin(bill_lines, bill_lines.c.bill_id == bills.c.bill_id))
        .group_by(bills.c.bill_id)
    )


# What station.bills.bill_figures needs of each parent on a bill, as a BillParent: a line whose
# code is not a parent bag here counts as linked with nothing in it.
_PARENT_FACTS = (
    func.coalesce(bags.c.child_count, 0),
    bag_types.c.kg_per_child,
    bag_types.c.nominal_kg,
    func.coalesce(bag_types.c.capacity, 0),
)
_LINE_PARENTS = (
    bill_lines.outerjoin(bags, _PARENT_OF_LINE)
    .outerjoin(bag_types, bag_types.c.name == bags.c.bag_type)
)


def bill_parent_facts(conn: Connection, bill_id: str) -> list[BillParent]:
    """The facts of each parent on one bill (station.bills.bill_figures takes them)."""
    rows = conn.execute(
        select(*_PARENT_FACTS).select_from(_LINE_PARENTS).where(bill_lines.c.bill_id == bill_id)
        .order_by(bill_lines.c.parent_code)
    )
    return [BillParent._make(r) for r in rows]


def _figures_by_bill(conn: Connection, where: list[Any]) -> dict[str, BillFigures]:
    """bill_figures of every bill matching `where` (bills without lines are left out)."""
    stmt = (
        select(bills.c.bill_id, bills.c.target, *_PARENT_FACTS)
        .select_from(bills.join(_LINE_PARENTS, bill_lines.c.bill_id == bills.c.bill_id))
        .where(and_(literal(True), *where))
        .order_by(bills.c.bill_id, bill_lines.c.parent_code)
    )
    rows = _plain_rows(conn, stmt) if conn.dialect.name == "sqlite" else list(conn.execute(stmt))
    out: dict[str, BillFigures] = {}
    for (bill_id, target), lines in groupby(rows, key=lambda r: (r[0], r[1])):
        out[bill_id] = bill_figures(target, [BillParent._make(r[2:]) for r in lines])
    return out


def _where(flt: BillFilter) -> list[Any]:
    start, end = day_bounds(flt.date_from, flt.date_to)
    cond: list[Any] = []
    if start is not None:
        cond.append(bills.c.created_at >= start)
    if end is not None:
        cond.append(bills.c.created_at < end)
    text = flt.text.strip()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        cond.append(
            or_(
                *(
                    col.ilike(pattern, escape="\\")
                    for col in (
                        bills.c.bill_id, bills.c.created_by, bills.c.description,
                        bills.c.destination, bills.c.vehicle,
                    )
                )
            )
        )
    return cond


def state_of_filter(status: str) -> BillState | None:
    """The bill state a filter names ('' = any), or ReportError naming the words to use."""
    if not status.strip():
        return None
    state = vocab.parse_bill_state(status)
    if state is None:
        raise ReportError(
            "bad_status", f"No bill state {status!r}: use one of {vocab.bill_state_choices()}"
        )
    return state


def _having(state: BillState | None) -> Any:
    """The HAVING condition of one bill state (the states depend on the linked count)."""
    linked = func.count(bill_lines.c.parent_code)
    closed = bills.c.status == vocab.CLOSED_STORED
    return {
        None: literal(True),
        BillState.NEW: and_(~closed, linked == 0),
        BillState.LOADING: and_(~closed, linked > 0, linked < bills.c.target),
        BillState.FULL: and_(~closed, linked >= bills.c.target),
        BillState.CLOSED: and_(closed, linked >= bills.c.target),
        BillState.CLOSED_SHORT: and_(closed, linked < bills.c.target),
    }[state]


def _row(head: Sequence[Any], f: BillFigures) -> BillRow:
    (bill_id, created_at, created_by, status, _target, description, destination, vehicle,
     closed_reason) = head
    return BillRow(
        bill_id, created_at, created_by or "", status, f.linked, f.target, f.children,
        f.actual_kg, f.expected_kg, description or "", destination or "", vehicle or "",
        closed_reason or "",
    )


def _plain_rows(conn: Connection, stmt: Any) -> list[tuple[Any, ...]]:
    """Run a SELECT on the driver's cursor: for 10 000 rows SQLAlchemy's Row objects would cost
    more than the query itself (bench/reports.py); the SQL is still built by SQLAlchemy."""
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    args = [params[k] for k in compiled.positiontup or ()]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def list_bills(conn: Connection, flt: BillFilter = BillFilter()) -> list[BillRow]:
    """Bills matching the filter, newest first."""
    state = state_of_filter(flt.status)
    where = _where(flt)
    stmt = _bill_heads().where(and_(literal(True), *where))
    if state is not None:
        stmt = stmt.having(_having(state))
    stmt = stmt.order_by(bills.c.created_at.desc(), bills.c.bill_id)
    heads = _plain_rows(conn, stmt) if conn.dialect.name == "sqlite" else conn.execute(stmt).all()
    figures = _figures_by_bill(conn, where) if heads else {}
    return [_row(h, figures.get(h[0]) or bill_figures(int(h[4]), ())) for h in heads]


def bill_row(conn: Connection, bill_id: str) -> BillRow | None:
    head = conn.execute(_bill_heads().where(bills.c.bill_id == normalise(bill_id))).first()
    if head is None:
        return None
    return _row(head, bill_figures(int(head.target), bill_parent_facts(conn, head.bill_id)))


# Summary accumulators: [bills, open, closed, closed short, parents, parents short, children,
# actual kg, expected kg] per creator (the fields of SummaryRow after `creator`).
_EMPTY = (0, 0, 0, 0, 0, 0, 0, 0.0, 0.0)


# The summary's row for bills with no creator on record (a bill of the web system whose user
# was removed): named, so it is never taken for the overall row (creator "").
NO_CREATOR = "(creator unknown)"


def _summary_of(acc: dict[str, list[Any]], date_from: date, date_to: date) -> Summary:
    """Totals per creator (sorted by name) and their sum."""
    per = tuple(SummaryRow(k or NO_CREATOR, *acc[k])
                for k in sorted(acc, key=lambda k: (k == "", k.lower())))
    totals = [sum(getattr(p, f) for p in per) for f in (
        "bills", "open", "closed", "closed_short", "parents", "parents_short", "children",
        "actual_kg", "expected_kg")]
    return Summary(date_from, date_to, per, SummaryRow("", *totals))


def summarise(rows: Iterable[BillRow], date_from: date, date_to: date) -> Summary:
    """Per creator (sorted by name) and overall."""
    acc: dict[str, list[Any]] = {}
    for r in rows:
        a = acc.setdefault(r.created_by, list(_EMPTY))
        state = r.state
        a[0] += 1
        a[1] += not state.is_closed
        a[2] += state is BillState.CLOSED
        a[3] += state is BillState.CLOSED_SHORT
        a[4] += r.linked
        a[5] += r.target - r.linked if state is BillState.CLOSED_SHORT else 0
        a[6] += r.children
        a[7] += r.actual_kg
        a[8] += r.expected_kg
    return _summary_of(acc, date_from, date_to)


def summary(conn: Connection, date_from: date | None = None, date_to: date | None = None) -> Summary:
    """Bills created in the date range (default: today), per creator and overall.

    Three grouped queries that return a handful of rows (bills per creator; parent figures per
    creator; closed-short bills per creator), so the cost is index lookups in SQLite, not Python
    rows: see bench/reports.py."""
    d0 = date_from or today()
    d1 = date_to or d0
    start, end = day_bounds(d0, d1)
    in_range = and_(bills.c.created_at >= start, bills.c.created_at < end)
    creator = func.coalesce(bills.c.created_by, "")
    closed = bills.c.status == vocab.CLOSED_STORED
    acc: dict[str, list[Any]] = {}
    for who, n, done in conn.execute(
        select(creator, func.count(), func.sum(case((closed, 1), else_=0)))
        .where(in_range)
        .group_by(creator)
    ):
        acc[who] = [int(n), int(n) - int(done or 0), int(done or 0), *_EMPTY[3:]]
    for who, parents, children, actual, expected in conn.execute(
        select(
            creator,
            func.count(bill_lines.c.parent_code),
            func.coalesce(func.sum(bags.c.child_count), 0),
            func.coalesce(func.sum(bags.c.child_count * bag_types.c.kg_per_child), 0.0),
            func.coalesce(func.sum(bag_types.c.nominal_kg), 0.0),
        )
        .select_from(
            bills.join(bill_lines, bill_lines.c.bill_id == bills.c.bill_id)
            .outerjoin(bags, _PARENT_OF_LINE)
            .outerjoin(bag_types, bag_types.c.name == bags.c.bag_type)
        )
        .where(in_range)
        .group_by(creator)
    ):
        a = acc[who]
        a[4] = int(parents)
        a[6:] = [int(children), float(actual), float(expected)]
    # Closed bills with fewer parents than their target (the lines of closed bills only).
    linked = (select(func.count()).select_from(bill_lines)
              .where(bill_lines.c.bill_id == bills.c.bill_id).scalar_subquery())
    for who, n, missing in conn.execute(
        select(creator, func.count(), func.sum(bills.c.target - linked))
        .where(in_range, closed, linked < bills.c.target)
        .group_by(creator)
    ):
        a = acc[who]
        a[2] -= int(n)
        a[3] = int(n)
        a[5] = int(missing or 0)
    return _summary_of(acc, d0, d1)


def _entry(r: Any) -> HistoryEntry:
    data = json.loads(r.data or "{}")
    detail = ""
    if r.type == "bill_closed" and data.get("reason"):
        detail = f"short: {data['reason']}"
    elif r.type == "bill_created":
        detail = f"target {data.get('target')}"
    elif data.get("source"):
        detail = str(data["source"])
    if r.sync_state == "rejected":
        detail = (detail + "; " if detail else "") + f"rejected by the centre: {r.result_message}"
    return HistoryEntry(
        r.device_time, r.type, r.operator, r.station_id, r.parent_code, r.child_code, r.bill_id,
        detail, r.sync_state == "rejected",
    )


_EVENT_COLS = (
    events.c.device_time, events.c.type, events.c.operator, events.c.station_id,
    events.c.parent_code, events.c.child_code, events.c.bill_id, events.c.data,
    events.c.sync_state, events.c.result_message,
)


def bag_history(conn: Connection, raw_code: str) -> BagHistory:
    """Every event naming the bag here, oldest first; a link made elsewhere (known from the
    centre, no local event) shows as one entry from the link itself."""
    code = normalise(raw_code)
    rows = conn.execute(
        select(*_EVENT_COLS)
        .where(or_(events.c.parent_code == code, events.c.child_code == code))
        .order_by(events.c.seq)
    ).all()
    entries = [_entry(r) for r in rows]
    link = conn.execute(
        select(links.c.parent_code, links.c.linked_at, links.c.operator, links.c.station_id,
               links.c.event_seq).where(links.c.child_code == code)
    ).first()
    if link is not None and link.event_seq is None:
        entries.append(
            HistoryEntry(link.linked_at, "child_linked", link.operator or "",
                         link.station_id or "", link.parent_code, code, None, "from the centre")
        )
        entries.sort(key=lambda e: e.time)
    return BagHistory(code, tuple(entries))


def bill_events(conn: Connection, bill_id: str) -> tuple[HistoryEntry, ...]:
    rows = conn.execute(
        select(*_EVENT_COLS).where(events.c.bill_id == normalise(bill_id)).order_by(events.c.seq)
    ).all()
    return tuple(_entry(r) for r in rows)


def bill_parents(conn: Connection, bill_id: str, *, with_children: bool = True) -> tuple[ParentLine, ...]:
    """Parents on the bill in loading order, with their children (newest link first)."""
    rows = conn.execute(
        select(
            bill_lines.c.parent_code, bags.c.bag_type, bags.c.child_count, bag_types.c.capacity,
            bags.c.status, bill_lines.c.added_at, bill_lines.c.operator, bill_lines.c.provisional,
        )
        .select_from(
            bill_lines.outerjoin(bags, bags.c.code == bill_lines.c.parent_code)
            .outerjoin(bag_types, bag_types.c.name == bags.c.bag_type)
        )
        .where(bill_lines.c.bill_id == normalise(bill_id))
        .order_by(bill_lines.c.added_at, bill_lines.c.parent_code)
    ).all()
    children: dict[str, list[str]] = {}
    if with_children and rows:
        for parent, child in conn.execute(
            select(links.c.parent_code, links.c.child_code)
            .select_from(links.join(bill_lines, bill_lines.c.parent_code == links.c.parent_code))
            .where(bill_lines.c.bill_id == normalise(bill_id))
            .order_by(links.c.parent_code, links.c.linked_at.desc(), links.c.child_code)
        ):
            children.setdefault(parent, []).append(child)
    return tuple(
        ParentLine(
            r.parent_code, r.bag_type or "?", int(r.child_count or 0), int(r.capacity or 0),
            r.status or "unknown here", r.added_at, r.operator or "", bool(r.provisional),
            tuple(children.get(r.parent_code, ())),
        )
        for r in rows
    )


def bill_detail(conn: Connection, bill_id: str) -> BillDetail | None:
    row = bill_row(conn, bill_id)
    if row is None:
        return None
    reason = conn.execute(
        select(bills.c.closed_reason).where(bills.c.bill_id == row.bill_id)
    ).scalar()
    return BillDetail(row, reason, bill_parents(conn, row.bill_id), bill_events(conn, row.bill_id))


# -- files --------------------------------------------------------------------------------------

BILL_HEADERS = (
    "Bill", "Created", "Created by", "Status", "Parents linked", "Target", "Children",
    "Actual kg", "Expected kg", "Shortfall kg", "Parents short", "% complete",
    "Closed short: reason", "Description", "Destination", "Vehicle",
)
# The bills list on paper: the columns that fit a landscape A4 page.
PDF_BILL_HEADERS = (
    "Bill", "Created", "Created by", "Status", "Parents", "Children", "Actual kg",
    "Expected kg", "Shortfall kg", "% complete",
)
SUMMARY_HEADERS = (
    "Created by", "Bills", "Open", "Closed", "Closed short", "Parents", "Parents short",
    "Children", "Actual kg", "Expected kg", "Shortfall kg",
)
PARENT_HEADERS = ("Parent", "Type", "Children", "Capacity", "Status", "Added", "Added by")
OVERALL = "All operators"
DATE_FORMAT = "%Y-%m-%d %H:%M"  # dates in CSV and PDF; XLSX cells are real dates


def local_datetime(iso_text: str) -> datetime | str:
    """A stored UTC time as a local date and time (no time zone, to the minute: what a
    spreadsheet shows); text that is no time stays as it is."""
    try:
        return parse_iso(iso_text).astimezone().replace(tzinfo=None, second=0, microsecond=0)
    except ValueError:
        return iso_text


def cell_text(value: Any) -> str:
    """One value as CSV and PDF cells show it."""
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    return "" if value is None else str(value)


def bill_values(r: BillRow) -> list[Any]:
    short = r.shortfall
    return [
        r.bill_id, local_datetime(r.created_at), r.created_by, r.state.value, r.linked,
        r.target, r.children, round(r.actual_kg, 3), round(r.expected_kg, 3),
        round(short.kg, 3), short.parents if r.state.is_closed else 0, round(r.percent, 1),
        r.closed_reason if r.state is BillState.CLOSED_SHORT else "", r.description,
        r.destination, r.vehicle,
    ]


def pdf_bill_values(r: BillRow) -> list[str]:
    return [
        r.bill_id, r.created_local, r.created_by, r.state.value, f"{r.linked} / {r.target}",
        f"{r.children:,}", f"{r.actual_kg:,.1f}", f"{r.expected_kg:,.1f}",
        f"{r.shortfall_kg:,.1f}", f"{r.percent:.0f} %",
    ]


def summary_values(s: SummaryRow) -> list[Any]:
    return [
        s.creator or OVERALL, s.bills, s.open, s.closed, s.closed_short, s.parents,
        s.parents_short, s.children, round(s.actual_kg, 3), round(s.expected_kg, 3),
        round(s.shortfall_kg, 3),
    ]


def parent_values(p: ParentLine) -> list[Any]:
    return [p.code, p.bag_type, p.child_count, p.capacity, p.state, local_datetime(p.added_at),
            p.added_by]


def summary_rows(s: Summary) -> list[SummaryRow]:
    return [*s.per_creator, s.overall]


# Text a spreadsheet would take for a formula (=1+2, @SUM(...), +91..., -3+4, a tab first):
# written as text, so the export shows what the store holds and runs nothing when opened.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(v: Any) -> Any:
    """A value for a CSV cell: dates as text, text that a spreadsheet would read as a formula
    with a leading apostrophe (the usual guard: Excel and LibreOffice then show it as text)."""
    if isinstance(v, datetime):
        return cell_text(v)
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows([csv_text(v) for v in r] for r in rows)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed export leaves nothing behind
        raise
    tmp.replace(path)  # never leave half a report behind under the real name


def write_bills_csv(path: Path, rows: Iterable[BillRow]) -> None:
    _write_csv(path, BILL_HEADERS, (bill_values(r) for r in rows))


def write_summary_csv(path: Path, s: Summary) -> None:
    _write_csv(path, SUMMARY_HEADERS, (summary_values(r) for r in summary_rows(s)))


def write_parents_csv(path: Path, detail: BillDetail) -> None:
    _write_csv(path, PARENT_HEADERS, (parent_values(p) for p in detail.parents))


XLSX_DATE_FORMAT = "yyyy-mm-dd hh:mm"
_WIDTH_SAMPLE = 2000  # rows measured to fit a column (the rest have the same shape)


def write_xlsx(
    path: Path, rows: Sequence[BillRow] | None = None, summ: Summary | None = None,
    detail: BillDetail | None = None,
) -> None:
    """One workbook: sheets 'Bills', 'Summary' and/or 'Bill <id>', whichever are given.
    Dates are date cells (sortable, filterable), numbers are numbers, columns fit their text."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    sheets = 0

    def sheet(title: str, header: Sequence[str], values: Iterable[Sequence[Any]]) -> None:
        nonlocal sheets
        ws = wb.active if sheets == 0 else wb.create_sheet()
        assert ws is not None
        ws.title = title[:31]
        ws.append(list(header))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = [len(h) for h in header]
        for n, v in enumerate(values):
            ws.append(list(v))
            for c in ws[ws.max_row]:
                if c.data_type == "f":  # text that looks like a formula is text here
                    c.data_type = "s"
            if n < _WIDTH_SAMPLE:
                for i, x in enumerate(v):
                    size = 16 if isinstance(x, datetime) else len(
                        f"{x:,.3f}" if isinstance(x, float) else str(x))
                    widths[i] = max(widths[i], size)
        for col, h in enumerate(header, start=1):
            letter = ws.cell(1, col).column_letter
            if any(isinstance(c.value, datetime) for c in ws[letter][1:_WIDTH_SAMPLE]):
                for c in ws[letter][1:]:
                    c.number_format = XLSX_DATE_FORMAT
            ws.column_dimensions[letter].width = min(max(widths[col - 1], len(h)) + 2, 60)
        ws.freeze_panes = "A2"
        sheets += 1

    if rows is not None:
        sheet("Bills", BILL_HEADERS, (bill_values(r) for r in rows))
    if summ is not None:
        sheet("Summary", SUMMARY_HEADERS, (summary_values(r) for r in summary_rows(summ)))
    if detail is not None:
        sheet(f"Bill {detail.row.bill_id}".replace("/", "-"), PARENT_HEADERS,
              (parent_values(p) for p in detail.parents))
    tmp = path.with_name(path.name + ".part")
    try:
        wb.save(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed export leaves nothing behind
        raise
    tmp.replace(path)
