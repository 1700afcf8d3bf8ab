"""A bill's figures (station/bills.py): one function, and the service and the reports agree
through it for the same bill (docs/rules.md §4.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert

from station import reports
from station.bills import BillFigures, BillParent, bill_figures
from station.service import StationService
from station.store.schema import bags, bill_lines
from station.vocabulary import Shortfall


def test_figures_of_parents_full_short_and_unknown() -> None:
    f = bill_figures(4, [
        BillParent(30, 1.0, 30.0, 30),  # full SB
        BillParent(10, 1.0, 15.0, 15),  # short M444
        BillParent(),  # a line whose parent is not known here
    ])
    assert f == BillFigures(target=4, linked=3, children=40, actual_kg=40.0, expected_kg=45.0)
    assert f.parents_missing == 1 and f.percent == 75.0
    assert f.shortfall_kg == 5.0 and f.shortfall == Shortfall(1, 5.0)


def test_figures_of_an_empty_bill_and_a_type_not_known_here() -> None:
    assert bill_figures(10, ()) == BillFigures(10, 0, 0, 0.0, 0.0)
    # a parent whose bag type is not known here: its children count, its kg does not
    f = bill_figures(1, [BillParent(child_count=7, capacity=0)])
    assert (f.linked, f.children, f.actual_kg, f.expected_kg) == (1, 7, 0.0, 0.0)
    assert f.parents_missing == 0 and f.percent == 100.0 and f.shortfall_kg == 0.0
    # the kg per child of the type counts
    assert bill_figures(1, [BillParent(12, 2.5, 40.0, 20)]).actual_kg == 30.0
    assert bill_figures(0, ()).percent == 0.0


def test_rows_read_as_parents() -> None:
    assert BillParent._make((3, 1.0, 30.0, 30)) == BillParent(3, 1.0, 30.0, 30)
    assert bill_figures(2, [(3, 1.0, 30.0, 30), (0, None, None, 0)]).children == 3  # type: ignore[list-item]


def _assert_same(svc: StationService, bill_id: str) -> None:
    p = svc.bill_progress(bill_id)
    assert p is not None
    with reports.reading(svc.store) as conn:
        row = reports.bill_row(conn, bill_id)
        listed = next(r for r in reports.list_bills(conn) if r.bill_id == bill_id)
        detail = reports.bill_detail(conn, bill_id)
    assert row is not None and detail is not None
    for r in (row, listed, detail.row):
        assert (r.status, r.target, r.linked, r.children, r.actual_kg, r.expected_kg) == (
            p.status, p.target, p.linked, p.children, p.actual_kg, p.expected_kg)
        assert (r.percent, r.shortfall_kg, r.shortfall) == (p.percent, p.shortfall_kg, p.shortfall)


def test_service_and_reports_agree_for_a_loaded_bill(make_service) -> None:
    svc = make_service("biller")
    for parent, n, prefix in (("SB00001", 30, "A"), ("M444-00001", 10, "B")):
        assert svc.record_scan(parent).ok
        for i in range(n):
            assert svc.record_scan(f"{prefix}{i:04d}").ok
    assert svc.create_bill("B-1", 4).ok
    for code in ("SB00001", "M444-00001", "SB00077"):  # SB00077: not known here (provisional)
        assert svc.add_parent_to_bill("B-1", code).ok
    p = svc.bill_progress("B-1")
    assert p is not None
    assert (p.linked, p.children, p.actual_kg, p.expected_kg) == (3, 40, 40.0, 45.0)
    _assert_same(svc, "B-1")
    assert svc.create_bill("B-2", 3).ok  # and one with no lines
    _assert_same(svc, "B-2")


def test_service_and_reports_agree_when_a_line_names_a_child_bag(make_service, store) -> None:
    """Where they used to differ: the service joined a bill line to any bag with its code, the
    reports to parent bags only. A line whose code this store holds as a child bag (data from
    the centre: web-made, or a bag type that changed) made the service count that bag's
    children and its type's nominal kg, and the reports not. Only parents go on bills, so both
    now count such a line as linked with nothing in it, as a parent not known here."""
    svc = make_service("biller")
    assert svc.record_scan("SB00001").ok
    for i in range(5):
        assert svc.record_scan(f"A{i:04d}").ok
    assert svc.create_bill("B-7", 3).ok
    assert svc.add_parent_to_bill("B-7", "SB00001").ok
    with store.engine.begin() as conn:
        conn.execute(insert(bags).values(
            code="SB99999", kind="child", bag_type="SB", status="pending", child_count=4,
            weight_kg=4.0, created_at="2026-11-23T08:00:00.000Z",
            updated_at="2026-11-23T08:00:00.000Z"))
        conn.execute(insert(bill_lines).values(
            parent_code="SB99999", bill_id="B-7", added_at="2026-11-23T08:00:01.000Z",
            operator="biller", provisional=1))
    p = svc.bill_progress("B-7")
    assert p is not None
    # before: service (2, 9, 9.0, 60.0), reports (2, 5, 5.0, 30.0)
    assert (p.linked, p.children, p.actual_kg, p.expected_kg) == (2, 5, 5.0, 30.0)
    _assert_same(svc, "B-7")


def test_summary_totals_are_the_bills_figures(make_service) -> None:
    """The summary keeps its grouped query (fast on a big station): its totals are the sums of
    the bills' figures."""
    svc = make_service("biller")
    assert svc.record_scan("SB00001").ok
    for i in range(30):
        assert svc.record_scan(f"A{i:04d}").ok
    assert svc.record_scan("M444-00001").ok
    for i in range(3):
        assert svc.record_scan(f"B{i:04d}").ok
    assert svc.create_bill("B-1", 2).ok and svc.create_bill("B-2", 5).ok
    assert svc.add_parent_to_bill("B-1", "SB00001").ok
    assert svc.add_parent_to_bill("B-2", "M444-00001").ok
    assert svc.add_parent_to_bill("B-2", "SB00042").ok  # not known here
    with reports.reading(svc.store) as conn:
        rows = reports.list_bills(conn)
        day = reports.parse_day(rows[0].created_at[:10])
        s = reports.summary(conn, day - timedelta(days=1), day + timedelta(days=1))
    o = s.overall
    assert (o.bills, o.parents, o.children) == (2, sum(r.linked for r in rows),
                                               sum(r.children for r in rows))
    assert o.actual_kg == pytest.approx(sum(r.actual_kg for r in rows))
    assert o.expected_kg == pytest.approx(sum(r.expected_kg for r in rows))
