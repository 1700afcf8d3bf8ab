"""What a read means on the bill screen, and the bill as that screen shows it (Qt-free).

On the bill screen a known bill id opens that bill; anything else is loaded onto the open bill,
through `StationService.add_parent_to_bill`, which makes every check of docs/rules.md §4. Which
bill is open is kept on the worker side (`BillCursor`, touched only by the task thread that
owns the service), so a bill id scanned in a burst switches bills exactly between the reads
before and after it, whatever the window has painted so far.
"""

from __future__ import annotations

from dataclasses import dataclass

from station import reports
from station.codes import CodeKind, classify, escape_read, normalise
from station.errors import CodeRefused
from station.reasons import Reason
from station.reports import BillRow, ParentLine
from station.rules import Outcome
from station.service import OpResult, StationService

MAX_BILL_READ = 512  # longer reads are never looked up as bill ids


@dataclass(frozen=True)
class BillView:
    """What the bill screen shows of one bill (frozen: made on the worker, painted on the GUI)."""

    row: BillRow
    parents: tuple[ParentLine, ...]
    closed_reason: str | None
    closed_by: str = ""  # "biller at 11:26" (empty: open, or closed elsewhere)


@dataclass(frozen=True)
class BillOutcome:
    """The result of one read or action on the bill screen, with the bill as it is now."""

    result: OpResult | None
    view: BillView | None


class BillCursor:
    """The open bill as the worker thread sees it; only tasks read or write it."""

    bill_id: str | None = None


def load_view(service: StationService, bill_id: str) -> BillView | None:
    """The bill as the screen shows it; None when there is no such bill here."""
    with reports.reading(service.store) as conn:
        row = reports.bill_row(conn, bill_id)
        if row is None:
            return None
        parents = reports.bill_parents(conn, row.bill_id, with_children=False)
        detail_reason = None
        closed_by = ""
        if row.state.is_closed:
            d = reports.bill_detail(conn, row.bill_id)
            detail_reason = d.closed_reason if d else None
            e = d.closed_event if d else None
            if e is not None:
                closed_by = f"{e.operator} at {e.time_local}"
    return BillView(row, parents, detail_reason, closed_by)


def known_bill(service: StationService, raw: str) -> str | None:
    """The id of the bill `raw` names on this station, or None (the service's own look-up)."""
    progress = service.bill_progress(raw) if len(raw) <= MAX_BILL_READ else None
    return progress.bill_id if progress else None


def bill_read(service: StationService, cursor: BillCursor, raw: str, source: str) -> BillOutcome:
    """One read on the bill screen: a known bill id opens that bill, anything else is loaded
    onto the open bill (the service makes every check of docs/rules.md §4)."""
    try:
        kind: CodeKind | None = classify(raw, service.bag_types).kind
    except CodeRefused:
        kind = None
    if kind is not CodeKind.PARENT:
        bill_id = known_bill(service, raw)
        if bill_id is not None:
            cursor.bill_id = bill_id
            view = load_view(service, bill_id)
            result = OpResult(
                Outcome.ACCEPTED, Reason.BILL_SELECTED, f"Bill {bill_id} opened", bill_id, "bill",
                bill=service.bill_progress(bill_id),
            )
            return BillOutcome(result, view)
    if cursor.bill_id is None:
        what = normalise(raw) if kind is not None else escape_read(raw)
        return BillOutcome(
            OpResult(Outcome.REFUSED, Reason.NO_BILL_OPEN,
                     f"No bill is open: scan or type a bill id first ({what} was not added)"),
            None,
        )
    result = service.add_parent_to_bill(cursor.bill_id, raw, source)
    return BillOutcome(result, load_view(service, cursor.bill_id))


def open_bill(service: StationService, cursor: BillCursor, bill_id: str) -> BillOutcome:
    """Open a bill by its id (a bill id scanned on the packing screen)."""
    view = load_view(service, bill_id)
    if view is None:
        return BillOutcome(OpResult(Outcome.REFUSED, Reason.NO_BILL,
                                    f"Bill {normalise(bill_id)} does not exist here"), None)
    cursor.bill_id = view.row.bill_id
    return BillOutcome(OpResult(Outcome.ACCEPTED, Reason.BILL_SELECTED,
                                f"Bill {view.row.bill_id} opened", view.row.bill_id, "bill"), view)
