"""What a read means on the bill screen (station/bill_routing.py), without the window."""

from __future__ import annotations

from station.bill_routing import BillCursor, bill_read, open_bill
from station.rules import Outcome


def test_a_bill_id_opens_the_bill_and_what_follows_goes_onto_it(make_service) -> None:  # noqa: ANN001
    biller = make_service("biller")
    assert biller.create_bill("B-1", 2).ok and biller.create_bill("BILL0001", 2).ok
    cursor = BillCursor()

    out = bill_read(biller, cursor, "SB00001", "scanner")
    assert out.result is not None and out.view is None
    assert (out.result.outcome, out.result.reason) == (Outcome.REFUSED, "no_bill_open")
    assert out.result.message == (
        "No bill is open: scan or type a bill id first (SB00001 was not added)")

    out = bill_read(biller, cursor, "b-1", "scanner")
    assert out.result is not None and out.result.reason == "bill_selected"
    assert out.result.message == "Bill B-1 opened" and cursor.bill_id == "B-1"
    assert out.view is not None and out.view.row.bill_id == "B-1"

    out = bill_read(biller, cursor, "SB00001", "scanner")  # a parent (unknown here): onto it
    assert out.result is not None
    assert (out.result.outcome, out.result.reason) == (Outcome.WARNING, "parent_unknown")
    assert out.view is not None and [p.code for p in out.view.parents] == ["SB00001"]

    # A bill id that looks like a child code opens that bill all the same.
    out = bill_read(biller, cursor, "BILL0001", "scanner")
    assert out.result is not None and out.result.reason == "bill_selected"
    assert cursor.bill_id == "BILL0001"


def test_open_bill_by_id(make_service) -> None:  # noqa: ANN001
    biller = make_service("biller")
    assert biller.create_bill("B-2", 3).ok
    cursor = BillCursor()
    out = open_bill(biller, cursor, "nope-1")
    assert out.result is not None and out.view is None and cursor.bill_id is None
    assert (out.result.reason, out.result.message) == ("no_bill", "Bill NOPE-1 does not exist here")
    out = open_bill(biller, cursor, "b-2")
    assert out.result is not None and out.result.message == "Bill B-2 opened"
    assert cursor.bill_id == "B-2" and out.view is not None and out.view.row.target == 3
