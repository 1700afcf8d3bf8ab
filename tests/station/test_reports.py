"""Reports from the local store: bills list figures, filters, summary, detail, history, files."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from station import reports
from station import vocabulary as vocab
from station.paths import resolve
from station.reports import BillFilter, ReportError
from station.service import StationService
from station.store.local import LocalStore


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def local_noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, 0).astimezone().astimezone(UTC)


@pytest.fixture
def station(tmp_path):
    paths = resolve(tmp_path)
    store = LocalStore.open(paths, create=True)
    store.init_station("D1", "North", demo=True)
    clock = Clock(local_noon(date(2026, 3, 10)))
    svc = StationService(store, clock=clock)
    svc.login("biller", "demo")
    yield svc, clock
    svc.close()
    store.close()


def fill(svc: StationService, parent: str, n: int, prefix: str) -> None:
    svc.record_scan(parent)
    for i in range(n):
        r = svc.record_scan(f"{prefix}{i:04d}")
        assert r.ok, r.message


def build(svc: StationService, clock: Clock) -> None:
    """B-1 by biller on day 1: 2 parents (one full SB, one short M444); B-2 by admin day 2,
    closed short; B-3 by biller on day 3, empty."""
    fill(svc, "SB00001", 30, "A")
    fill(svc, "M444-00001", 10, "B")
    assert svc.create_bill("b-1", 3, "seed lot 7", "Jaipur", "RJ14 1234").ok
    assert svc.add_parent_to_bill("B-1", "SB00001").ok
    assert svc.add_parent_to_bill("B-1", "M444-00001").ok
    clock.now = local_noon(date(2026, 3, 11))
    svc.login("admin", "demo")
    fill(svc, "SB00002", 5, "C")
    assert svc.create_bill("B-2", 2, destination="Delhi").ok
    assert svc.add_parent_to_bill("B-2", "SB00002").ok
    assert svc.close_bill("B-2", "truck left early").ok
    clock.now = local_noon(date(2026, 3, 12))
    svc.login("biller", "demo")
    assert svc.create_bill("B-3", 10).ok


def test_list_rows_match_service_progress_cell_by_cell(station):
    svc, clock = station
    build(svc, clock)
    with reports.reading(svc.store) as conn:
        rows = reports.list_bills(conn)
    assert [r.bill_id for r in rows] == ["B-3", "B-2", "B-1"]  # newest first
    b1 = next(r for r in rows if r.bill_id == "B-1")
    assert (b1.created_by, b1.status, b1.linked, b1.target, b1.children) == (
        "biller", "processing", 2, 3, 40)
    assert (b1.actual_kg, b1.expected_kg) == (40.0, 45.0)
    assert b1.percent == pytest.approx(66.666, abs=0.01)
    assert (b1.description, b1.destination, b1.vehicle) == ("seed lot 7", "Jaipur", "RJ14 1234")
    # The states people see, from the figures (station/vocabulary.py).
    assert [(r.bill_id, r.state.value) for r in rows] == [
        ("B-3", "new"), ("B-2", "closed short"), ("B-1", "loading")]
    b2 = rows[1]
    assert b2.closed_reason == "truck left early"
    assert b2.shortfall == vocab.Shortfall(1, 25.0)
    assert b2.state_text == "closed short (1 parent bag and 25.0 kg short; reason: truck left early)"
    assert b1.state_text == "loading (5.0 kg short so far)"
    for r in rows:
        p = svc.bill_progress(r.bill_id)
        assert p is not None
        assert (r.status, r.linked, r.target, r.children, r.actual_kg, r.expected_kg) == (
            p.status, p.linked, p.target, p.children, p.actual_kg, p.expected_kg)
        assert r.percent == p.percent and r.shortfall_kg == p.shortfall_kg


def test_filters_by_date_status_and_text(station):
    svc, clock = station
    build(svc, clock)
    with reports.reading(svc.store) as conn:
        def ids(**kw):
            return [r.bill_id for r in reports.list_bills(conn, BillFilter(**kw))]

        assert ids(date_from=date(2026, 3, 11), date_to=date(2026, 3, 11)) == ["B-2"]
        assert ids(date_from=date(2026, 3, 11)) == ["B-3", "B-2"]
        assert ids(date_to=date(2026, 3, 10)) == ["B-1"]
        # Filtered by the states people see; closed short is its own state.
        assert ids(status="closed short") == ["B-2"]
        assert ids(status="closed-short") == ["B-2"]
        assert ids(status="closed") == []
        assert ids(status="new") == ["B-3"]
        assert ids(status="loading") == ["B-1"]
        assert ids(status="full") == []
        assert ids(text="jaip") == ["B-1"]  # destination, ignoring case
        assert ids(text="ADMIN") == ["B-2"]  # creator
        assert ids(text="rj14") == ["B-1"]  # vehicle
        assert ids(text="%") == []  # LIKE wildcards are plain characters
        with pytest.raises(ReportError, match="ends .* before it starts"):
            ids(date_from=date(2026, 3, 12), date_to=date(2026, 3, 11))
        with pytest.raises(ReportError, match="No bill state 'completed': use one of new, "
                                              "loading, full, closed, closed short"):
            ids(status="completed")


def test_summary_per_creator_and_overall(station):
    svc, clock = station
    build(svc, clock)
    with reports.reading(svc.store) as conn:
        s = reports.summary(conn, date(2026, 3, 10), date(2026, 3, 12))
        one_day = reports.summary(conn, date(2026, 3, 11))
    by = {r.creator: r for r in s.per_creator}
    assert list(by) == ["admin", "biller"]
    # bills, open, closed, closed short, parents, parents short, children, actual, expected kg
    assert by["biller"] == reports.SummaryRow("biller", 2, 2, 0, 0, 2, 0, 40, 40.0, 45.0)
    assert by["admin"] == reports.SummaryRow("admin", 1, 0, 0, 1, 1, 1, 5, 5.0, 30.0)
    assert s.overall == reports.SummaryRow("", 3, 2, 0, 1, 3, 1, 45, 45.0, 75.0)
    assert s.overall.shortfall_kg == 30.0
    # The summary of the list (what the review screen exports) counts the same.
    with reports.reading(svc.store) as conn:
        rows = reports.list_bills(conn, BillFilter(date(2026, 3, 10), date(2026, 3, 12)))
    assert reports.summarise(rows, date(2026, 3, 10), date(2026, 3, 12)) == s
    assert one_day.date_to == date(2026, 3, 11)
    assert [r.creator for r in one_day.per_creator] == ["admin"]


def test_summary_defaults_to_today(station):
    svc, clock = station
    clock.now = datetime.now(UTC)
    assert svc.create_bill("TODAY-1", 5).ok
    with reports.reading(svc.store) as conn:
        s = reports.summary(conn)
    assert s.date_from == s.date_to == reports.today()
    assert s.overall.bills == 1


def test_bill_detail_parents_children_and_events(station):
    svc, clock = station
    build(svc, clock)
    assert svc.remove_parent_from_bill("B-1", "M444-00001").ok
    with reports.reading(svc.store) as conn:
        d = reports.bill_detail(conn, "b-1")
        d2 = reports.bill_detail(conn, "B-2")
        assert reports.bill_detail(conn, "NOPE") is None
    assert d is not None and d2 is not None
    assert [p.code for p in d.parents] == ["SB00001"]
    p = d.parents[0]
    assert (p.child_count, p.capacity, p.incomplete, p.added_by) == (30, 30, False, "biller")
    assert len(p.children) == 30 and "A0000" in p.children
    assert [e.type for e in d.events] == [
        "bill_created", "bill_parent_added", "bill_parent_added", "bill_parent_removed"]
    assert all(e.operator == "biller" and e.station == "D1" for e in d.events)
    assert d2.closed_reason == "truck left early"
    assert d2.parents[0].incomplete
    assert d2.events[-1].describe() == "bill B-2 closed (short: truck left early)"
    # Who closed it (for the bill sheet); an open bill has none.
    assert d2.closed_event is not None and d2.closed_event.operator == "admin"
    assert d.closed_event is None
    assert [p.state for p in d2.parents] == ["in progress"]


def test_bag_history_who_when_where(station):
    svc, clock = station
    build(svc, clock)
    assert svc.remove_child("A0003").ok
    with reports.reading(svc.store) as conn:
        child = reports.bag_history(conn, "a0003")
        parent = reports.bag_history(conn, "SB00001")
    assert [e.type for e in child.entries] == ["child_linked", "child_unlinked"]
    assert child.entries[0].operator == "biller" and child.entries[0].station == "D1"
    assert child.entries[0].describe() == "A0003 linked into SB00001 (scanner)"
    types = [e.type for e in parent.entries]
    assert types[0] == "parent_scanned" and "bill_parent_added" in types
    assert types.count("child_linked") == 30


def test_reviewer_roles():
    reports.require_reviewer("b", "biller")
    reports.require_reviewer("a", "admin")
    with pytest.raises(ReportError, match=r"d \(dispatcher\) may not review bills"):
        reports.require_reviewer("d", "dispatcher")


def test_csv_and_xlsx_read_back_equal_service_figures(station, tmp_path):
    svc, clock = station
    build(svc, clock)
    with reports.reading(svc.store) as conn:
        rows = reports.list_bills(conn)
        s = reports.summary(conn, date(2026, 3, 10), date(2026, 3, 12))
        d = reports.bill_detail(conn, "B-1")
    reports.write_bills_csv(tmp_path / "bills.csv", rows)
    reports.write_summary_csv(tmp_path / "summary.csv", s)
    reports.write_xlsx(tmp_path / "r.xlsx", rows, s, d)

    with (tmp_path / "bills.csv").open(newline="", encoding="utf-8") as fh:
        got = list(csv.DictReader(fh))
    assert [g["Bill"] for g in got] == ["B-3", "B-2", "B-1"]
    for g in got:
        p = svc.bill_progress(g["Bill"])
        assert p is not None
        assert int(g["Parents linked"]) == p.linked and int(g["Target"]) == p.target
        assert g["Status"] == vocab.bill_state(p.status, p.linked, p.target).value
        assert int(g["Children"]) == p.children
        assert float(g["Shortfall kg"]) == p.shortfall_kg
        assert float(g["Actual kg"]) == p.actual_kg and float(g["Expected kg"]) == p.expected_kg
        assert float(g["% complete"]) == round(p.percent, 1)
    with (tmp_path / "summary.csv").open(newline="", encoding="utf-8") as fh:
        summ = {r["Created by"]: r for r in csv.DictReader(fh)}
    assert summ[reports.OVERALL]["Bills"] == "3" and summ[reports.OVERALL]["Children"] == "45"
    assert summ["admin"]["Closed short"] == "1" and summ["admin"]["Parents short"] == "1"
    assert summ["admin"]["Shortfall kg"] == "25.0"
    assert got[1]["Status"] == "closed short" and got[1]["Closed short: reason"] == \
        "truck left early"
    assert got[2]["Created"] == rows[2].created_local  # CSV: the local time as text

    wb = load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames == ["Bills", "Summary", "Bill B-1"]
    ws = wb["Bills"]
    bill_rows = list(ws.iter_rows(values_only=True))
    assert bill_rows[0] == reports.BILL_HEADERS
    created = datetime(2026, 3, 10, 12, 0)  # local noon: a date cell, not text
    assert bill_rows[3][:12] == ("B-1", created, "biller", "loading", 2, 3, 40, 40, 45, 5, 0,
                                 66.7)
    assert ws["B2"].is_date and ws["B2"].number_format == reports.XLSX_DATE_FORMAT
    # Columns fit their text (the longest value or header; a date takes 16 characters).
    for i, header in enumerate(bill_rows[0]):
        widest = max(len(header), *(16 if isinstance(r[i], datetime) else len(str(r[i] or ""))
                                    for r in bill_rows[1:]))
        assert ws.column_dimensions[ws.cell(1, i + 1).column_letter].width >= widest, header
    summary_rows = list(wb["Summary"].iter_rows(values_only=True))
    assert summary_rows[-1] == (reports.OVERALL, 3, 2, 0, 1, 3, 1, 45, 45, 75, 30)
    parents = list(wb["Bill B-1"].iter_rows(values_only=True))
    assert [p[0] for p in parents[1:]] == ["SB00001", "M444-00001"]
    assert [p[4] for p in parents[1:]] == ["completed", "in progress"]
    assert isinstance(parents[1][5], datetime)
    wb.close()
    assert not list(tmp_path.glob("*.part"))


def test_parse_day_names_the_bad_date():
    assert reports.parse_day("2026-03-10") == date(2026, 3, 10)
    with pytest.raises(ReportError, match="The --from date '10/03/2026' is not a date"):
        reports.parse_day("10/03/2026", "--from date")


def test_report_queries_use_the_report_indexes(station):
    """The speed of bench/reports.py rests on these plans: parents' figures read from the
    parents-only covering index, never by scanning bags (migration 0002)."""
    svc, clock = station
    build(svc, clock)
    with reports.reading(svc.store) as conn:
        raw = conn.connection.dbapi_connection
        seen: list[str] = []
        raw.set_trace_callback(seen.append)
        try:
            reports.summary(conn, date(2026, 3, 10), date(2026, 3, 12))
            reports.list_bills(conn, BillFilter(date(2026, 3, 10), date(2026, 3, 12)))
        finally:
            raw.set_trace_callback(None)
        queries = [q for q in seen if "bill_lines" in q and q.lstrip().upper().startswith("SELECT")]
        # parents' figures (summary), closed short (summary); the list's bills and their parents
        assert len(queries) == 4
        for q in queries:
            plan = " | ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + q))
            if " bags" in q:
                assert "COVERING INDEX ix_bags_parent_figures" in plan, plan
            assert "SCAN bags" not in plan and "SCAN bill_lines" not in plan, plan


def test_bills_with_no_creator_on_record_are_a_named_row_not_a_second_total(station, tmp_path):
    """A bill of the web system whose user was removed comes with no creator. The summary
    shows it in a row of its own, "(creator unknown)", after the named creators; "All
    operators" is the one total (before: two "All operators" rows, the first only that bill)."""
    from sync.protocol import PullPage
    from sync.pull import apply_page

    svc, clock = station
    assert svc.create_bill("B-1", 2).ok
    at = reports.iso(clock.now)
    page = PullPage([{"table": "bill", "op": "upsert", "row": {
        "bill_id": "W-9", "description": "", "destination": "", "vehicle": "", "target": 3,
        "status": "new", "created_by": None, "created_at": at, "updated_at": at,
        "closed_reason": None}}], "f:1:1", True, False)
    with svc.store.connect(write=True) as conn, conn.begin():
        apply_page(conn, page)
    day = clock.now.astimezone().date()
    with reports.reading(svc.store) as conn:
        by_sql = reports.summary(conn, day, day)
        rows = reports.list_bills(conn, BillFilter(day, day))
    by_rows = reports.summarise(rows, day, day)
    for summ in (by_sql, by_rows):
        names = [reports.summary_values(r)[0] for r in reports.summary_rows(summ)]
        assert names == ["biller", reports.NO_CREATOR, reports.OVERALL]
        assert summ.overall.bills == 2
    reports.write_summary_csv(tmp_path / "s.csv", by_sql)
    with (tmp_path / "s.csv").open(encoding="utf-8", newline="") as fh:
        assert [r[0] for r in list(csv.reader(fh))[1:]] == [
            "biller", reports.NO_CREATOR, reports.OVERALL]


def test_a_close_the_centre_refused_is_not_who_closed_the_bill(station):
    """The bill closed here and at another station at once: the centre refused this one (the
    other came first), and the bill is closed all the same. The bill sheet and the review must
    not name this station's operator as the one who closed it."""
    svc, clock = station
    build(svc, clock)
    with svc.store.connect(write=True) as conn, conn.begin():
        conn.exec_driver_sql(
            "UPDATE events SET sync_state = 'rejected', result_message = 'closed at D2 first' "
            "WHERE type = 'bill_closed' AND bill_id = 'B-2'")
    with reports.reading(svc.store) as conn:
        d2 = reports.bill_detail(conn, "B-2")
    assert d2 is not None and d2.row.state.is_closed
    assert d2.closed_event is None  # closed elsewhere: who, this station does not know
    assert "rejected by the centre" in d2.events[-1].detail
