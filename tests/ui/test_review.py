"""Supervisor review: table models (qtmodeltester, cell by cell), filters, sort, detail, summary,
exports read back, the bill sheet PDF, roles, and the bag look-up screen."""

from __future__ import annotations

import csv
import shutil
from datetime import date

import pytest
from openpyxl import load_workbook
from PySide6.QtCore import Qt

from station import reports
from station.paths import resolve
from station.reports import BillDetail, ParentLine
from station.service import StationService
from station.store.local import LocalStore
from tests.ui.bill_support import (
    Clock,
    close_window,
    local_noon,
    make_station,
    open_window,
    pack,
    wait_idle,
)
from ui.bill_models import BillsModel, ChildrenModel, HistoryModel, ParentsModel, SummaryModel
from ui.pdf import pdf_page_count, write_bill_sheet

# The offscreen platform says this whenever a popup window is shown; it is not our warning.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

D1, D2, D3 = date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)


@pytest.fixture(scope="module")
def review_store(tmp_path_factory):
    """B-1 (biller, D1): M444-00001 full + SB00002 short; B-2 (admin, D2) closed short;
    B-3 (biller, D3) empty; Z-9 (admin, D3) loading, destination Pune."""
    base = tmp_path_factory.mktemp("review")
    store = make_station(base)
    clock = Clock(local_noon(D1))
    pack(store, {"M444-00001": 15, "SB00002": 4, "M444-00003": 15}, clock=clock)
    svc = StationService(store, clock=clock)
    svc.login("biller", "demo")
    assert svc.create_bill("B-1", 3, "lot 7", "Jaipur", "RJ14").ok
    assert svc.add_parent_to_bill("B-1", "M444-00001").ok
    assert svc.add_parent_to_bill("B-1", "SB00002").ok
    clock.now = local_noon(D2)
    svc.login("admin", "demo")
    assert svc.create_bill("B-2", 2).ok
    assert svc.add_parent_to_bill("B-2", "M444-00003").ok
    assert svc.close_bill("B-2", "truck full").ok
    clock.now = local_noon(D3)
    svc.login("biller", "demo")
    assert svc.create_bill("B-3", 10).ok
    svc.login("admin", "demo")
    assert svc.create_bill("Z-9", 4, destination="Pune").ok
    assert svc.add_parent_to_bill("Z-9", "SB00077").ok  # provisional
    svc.close()
    store.close()
    return base


@pytest.fixture
def store(review_store, tmp_path):
    base = tmp_path / "st"
    shutil.copytree(review_store, base)
    st = LocalStore.open(resolve(base))
    yield st
    st.close()


def rows_and_detail(store):
    with reports.reading(store) as conn:
        rows = reports.list_bills(conn)
        summ = reports.summary(conn, D1, D3)
        detail = reports.bill_detail(conn, "B-1")
        hist = reports.bag_history(conn, "SB00002")
    return rows, summ, detail, hist


# -- models -----------------------------------------------------------------------------------


def test_models_pass_qtmodeltester(qtmodeltester, store):
    rows, summ, detail, hist = rows_and_detail(store)
    for model, data in (
        (BillsModel(), rows), (ParentsModel(), detail.parents),
        (SummaryModel(), reports.summary_rows(summ)), (HistoryModel(), hist.entries),
        (ChildrenModel(), detail.parents[0].children),
    ):
        model.set_rows(data)
        qtmodeltester.check(model, force_py=True)
        for col in range(model.columnCount()):
            model.sort(col, Qt.SortOrder.DescendingOrder)
        qtmodeltester.check(model, force_py=True)


def test_bills_model_cell_by_cell_and_sort(store):
    rows, *_ = rows_and_detail(store)
    m = BillsModel()
    m.set_rows(rows)
    assert [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())] == [
        "Bill", "Created", "Created by", "Status", "Short", "Parents", "Children", "Actual kg",
        "Expected kg", "% complete"]
    b1 = m.row_of("B-1")
    cells = [m.index(b1, c).data() for c in range(m.columnCount())]
    assert cells == ["B-1", reports.local_time(rows[m.row_of("B-1")].created_at), "biller",
                     "loading", "26.0 kg short", "2 / 3", "19", "19.0", "45.0", "67 %"]
    # Closed short is its own state, the shortfall beside it, amber.
    b2 = [m.index(m.row_of("B-2"), c).data() for c in range(m.columnCount())]
    assert b2[2:] == ["admin", "closed short", "1 parent bag short", "1 / 2", "15", "15.0",
                      "15.0", "50 %"]
    assert m.index(m.row_of("B-2"), 0).data(Qt.ItemDataRole.BackgroundRole).color().name() == \
        "#ffe8a3"
    z9 = [m.index(m.row_of("Z-9"), c).data() for c in range(m.columnCount())]
    assert z9[3:] == ["loading", "", "1 / 4", "0", "0.0", "0.0", "25 %"]
    b3 = [m.index(m.row_of("B-3"), c).data() for c in range(m.columnCount())]
    assert b3[3:5] == ["new", ""]
    assert m.index(0, 6).data(Qt.ItemDataRole.TextAlignmentRole) & int(Qt.AlignmentFlag.AlignRight)
    assert m.index(m.row_of("B-1"), 0).data(Qt.ItemDataRole.ToolTipRole) == \
        "loading (26.0 kg short so far), lot 7, to Jaipur, vehicle RJ14"

    m.sort(9, Qt.SortOrder.DescendingOrder)  # % complete
    assert m.ids == ["B-1", "B-2", "Z-9", "B-3"]
    m.sort(6, Qt.SortOrder.AscendingOrder)  # children (numbers, not text)
    assert [m.rows[i].children for i in range(4)] == [0, 0, 15, 19]
    m.sort(0, Qt.SortOrder.AscendingOrder)
    assert m.ids == ["B-1", "B-2", "B-3", "Z-9"]
    m.set_rows(list(reversed(rows)))  # new rows keep the chosen order
    assert m.ids == ["B-1", "B-2", "B-3", "Z-9"]


def test_parents_summary_history_models_cell_by_cell(store):
    _, summ, detail, hist = rows_and_detail(store)
    p = ParentsModel()
    p.set_rows(detail.parents)
    assert [p.index(0, c).data() for c in (0, 1, 2, 3)] == ["M444-00001", "M444", "15 / 15",
                                                           "completed"]
    assert [p.index(1, c).data() for c in (0, 1, 2, 3)] == ["SB00002", "SB", "4 / 30",
                                                           "in progress (26 missing)"]
    s = SummaryModel()
    s.set_rows(reports.summary_rows(summ))
    assert [s.headerData(c, Qt.Orientation.Horizontal) for c in range(s.columnCount())] == [
        "Created by", "Bills", "Open", "Closed", "Closed short", "Parents", "Parents short",
        "Children", "Actual kg", "Expected kg", "Shortfall kg"]
    assert [s.index(0, c).data() for c in range(11)] == ["admin", "2", "1", "0", "1", "2", "1",
                                                         "15", "15.0", "15.0", "0.0"]
    assert [s.index(1, c).data() for c in range(11)] == ["biller", "2", "2", "0", "0", "2", "0",
                                                         "19", "19.0", "45.0", "26.0"]
    assert [s.index(2, c).data() for c in range(11)] == [reports.OVERALL, "4", "3", "0", "1",
                                                         "4", "1", "34", "34.0", "60.0", "26.0"]
    h = HistoryModel()
    h.set_rows(hist.entries)
    assert h.index(0, 1).data() == "dispatcher" and h.index(0, 2).data() == "D1"
    assert h.index(0, 3).data() == "parent SB00002 scanned (scanner)"
    assert h.index(h.rowCount() - 1, 3).data() == "SB00002 added to bill B-1 (scanner)"


# -- the review screen ------------------------------------------------------------------------


def open_review(qtbot, store, who="biller"):
    """The real window (the review screen's host) on the review screen, `who` logged in (a
    dispatcher stays on packing: the screen is not theirs)."""
    host = open_window(qtbot, store, who, "review")
    return host, host.review_screen


def idle(qtbot, host):
    wait_idle(qtbot, host)


def test_filters_sort_detail_and_history(qtbot, store):
    host, screen = open_review(qtbot, store)
    try:
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(date_from=D1, date_to=D3)
        assert sorted(screen.bills_model.ids) == ["B-1", "B-2", "B-3", "Z-9"]
        assert screen.count_label.text() == (
            "4 bills · 3 open · 0 closed · 1 closed short · 4 parents")

        # Typing in the filter (real keys) re-queries once, after the pause.
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            qtbot.keyClicks(screen.text_edit, "pune")
        assert screen.bills_model.ids == ["Z-9"]
        screen.text_edit.clear()
        qtbot.waitUntil(lambda: len(screen.bills_model.ids) == 4, timeout=10000)
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.status_combo.setCurrentIndex(screen.status_combo.findData("closed short"))
        assert screen.bills_model.ids == ["B-2"]
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(status="", date_from=D2, date_to=D2)
        assert screen.bills_model.ids == ["B-2"]
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(date_from=D1, date_to=D3)

        # Sorting by a header click.
        header = screen.bills_view.horizontalHeader()
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                         pos=header.rect().topLeft() + _center_of_section(header, 0))
        first = list(screen.bills_model.ids)
        assert first in (["B-1", "B-2", "B-3", "Z-9"], ["Z-9", "B-3", "B-2", "B-1"])

        # Selecting B-1 shows its parents and events; a parent its children and history.
        with qtbot.waitSignal(screen.detail_loaded, timeout=10000):
            screen.bills_view.selectRow(screen.bills_model.row_of("B-1"))
        d = screen.detail
        assert d.parents_model.ids == ["M444-00001", "SB00002"]
        assert d.header.text().startswith(
            "Bill B-1 · loading (26.0 kg short so far) · 2/3 parent bags · 19 children")
        assert [e.type for e in d.events_model.rows] == [
            "bill_created", "bill_parent_added", "bill_parent_added"]
        d.parents_view.selectRow(1)
        qtbot.waitUntil(lambda: d.history_label.text() == "Scan history of SB00002", timeout=10000)
        assert d.children_model.rowCount() == 4
        assert d.history_model.index(0, 1).data() == "dispatcher"
        d.children_view.selectRow(0)
        child = d.children_model.ids[0]
        qtbot.waitUntil(lambda: d.history_label.text() == f"Scan history of {child}",
                        timeout=10000)
        assert d.history_model.rows[0].type == "child_linked"
        assert d.history_model.index(0, 3).data() == f"{child} linked into SB00002 (scanner)"
    finally:
        close_window(host)


def _center_of_section(header, logical):
    from PySide6.QtCore import QPoint

    return QPoint(header.sectionViewportPosition(logical) + header.sectionSize(logical) // 2,
                  header.height() // 2)


def test_summary_and_exports_read_back(qtbot, store, tmp_path):
    host, screen = open_review(qtbot, store)
    try:
        with qtbot.waitSignal(screen.summary_loaded, timeout=10000) as blocker:
            screen.reload_summary()
        assert blocker.args[0].date_from == reports.today()  # default: today
        assert blocker.args[0].overall.bills == 0
        with qtbot.waitSignal(screen.summary_loaded, timeout=10000):
            screen.sum_to_edit.setDate(screen.sum_to_edit.date().fromString("2026-03-12",
                                                                            "yyyy-MM-dd"))
            screen.sum_from_edit.setDate(screen.sum_from_edit.date().fromString("2026-03-10",
                                                                                "yyyy-MM-dd"))
        qtbot.waitUntil(lambda: screen.summary is not None and screen.summary.date_from == D1,
                        timeout=10000)
        summ = screen.summary
        assert summ.overall == reports.SummaryRow("", 4, 3, 0, 1, 4, 1, 34, 34.0, 60.0)
        assert screen.summary_title.text() == (
            "Bills created 2026-03-10 to 2026-03-12: 4 bills, 3 open (new, loading or full), "
            "0 closed, 1 closed short, 1 parent bag short; 26.0 kg short")
        assert screen.summary_model.ids == ["admin", "biller", reports.OVERALL]

        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(date_from=D1, date_to=D3)
        svc = StationService(store)  # the reference figures: the service's own
        try:
            for fmt in ("csv", "xlsx", "pdf"):
                with qtbot.waitSignal(screen.exported, timeout=10000):
                    screen.export("bills", fmt, tmp_path / f"bills.{fmt}")
                with qtbot.waitSignal(screen.exported, timeout=10000):
                    screen.export("summary", fmt, tmp_path / f"summary.{fmt}")
            with (tmp_path / "bills.csv").open(newline="", encoding="utf-8") as fh:
                got = list(csv.DictReader(fh))
            assert sorted(g["Bill"] for g in got) == ["B-1", "B-2", "B-3", "Z-9"]
            for g in got:
                p = svc.bill_progress(g["Bill"])
                assert (int(g["Parents linked"]), int(g["Target"]), int(g["Children"])) == (
                    p.linked, p.target, p.children)
                assert (float(g["Actual kg"]), float(g["Expected kg"])) == (
                    p.actual_kg, p.expected_kg)
            with (tmp_path / "summary.csv").open(newline="", encoding="utf-8") as fh:
                s = {r["Created by"]: r for r in csv.DictReader(fh)}
            assert (s["biller"]["Bills"], s["biller"]["Children"]) == ("2", "19")
            assert s[reports.OVERALL]["Expected kg"] == "60.0"
            wb = load_workbook(tmp_path / "bills.xlsx", read_only=True)
            values = {r[0]: r for r in wb["Bills"].iter_rows(min_row=2, values_only=True)}
            p = svc.bill_progress("B-1")
            assert values["B-1"][3:9] == ("loading", p.linked, p.target, p.children, p.actual_kg,
                                          p.expected_kg)
            assert values["B-2"][3] == "closed short"
            assert list(wb["Summary"].iter_rows(values_only=True))[-1][:2] == (reports.OVERALL, 4)
            wb.close()
            wb = load_workbook(tmp_path / "summary.xlsx", read_only=True)
            assert wb.sheetnames == ["Summary"]
            wb.close()
            assert pdf_page_count(tmp_path / "bills.pdf") == 1
            assert pdf_page_count(tmp_path / "summary.pdf") == 1
        finally:
            svc.close()

        # The bill sheet of the selected bill.
        with qtbot.waitSignal(screen.detail_loaded, timeout=10000):
            screen.bills_view.selectRow(screen.bills_model.row_of("B-2"))
        with qtbot.waitSignal(screen.exported, timeout=10000):
            screen.save_bill_pdf(tmp_path / "b2.pdf")
        assert pdf_page_count(tmp_path / "b2.pdf") == 1
        assert screen.message.text() == f"Saved bill B-2 to {tmp_path / 'b2.pdf'}"
    finally:
        close_window(host)


def test_bill_sheet_of_500_parents_is_one_page(qtbot, tmp_path):
    parents = tuple(
        ParentLine(f"SB{i:05d}", "SB", 30 if i % 7 else 12, 30,
                   "completed" if i % 7 else "in_progress", "2026-03-10T06:00:00.000+00:00",
                   "biller", False)
        for i in range(500)
    )
    row = reports.BillRow("BIG-1", "2026-03-10T06:00:00.000+00:00", "biller", "processing", 500,
                          500, 14000, 14000.0, 15000.0, "", "Delhi", "DL1")
    write_bill_sheet(tmp_path / "big.pdf", BillDetail(row, None, parents, ()), "D1")
    assert pdf_page_count(tmp_path / "big.pdf") == 1


def test_dispatcher_is_refused_with_a_message(qtbot, store):
    host, screen = open_review(qtbot, store, "dispatcher")
    try:
        from station.service import Operator

        assert not screen.allowed_for(Operator("dispatcher", "dispatcher", None))
        with qtbot.waitSignal(screen.failed, timeout=10000) as blocker:
            screen.reload()
        assert blocker.args == ["dispatcher (dispatcher) may not review bills"]
        assert screen.bills_model.rowCount() == 0
    finally:
        close_window(host)


# -- bag look-up ------------------------------------------------------------------------------


def test_lookup_child_parent_bill_and_unknown(qtbot, store):
    host = open_window(qtbot, store, "dispatcher", "lookup")  # every role may look bags up
    screen = host.lookup_screen
    reads: list[tuple[str, str]] = []
    window_read = host.handle_read

    def handle_read(raw: str, source: str) -> None:  # the window's read path, watched
        reads.append((raw, source))
        window_read(raw, source)

    host.handle_read = handle_read
    try:
        def look(code):
            with qtbot.waitSignal(screen.looked_up, timeout=10000) as blocker:
                qtbot.keyClicks(screen.entry, code)
                qtbot.keyClick(screen.entry, Qt.Key.Key_Return)
            return blocker.args[0]

        r = look("00002c001")
        assert r.bag.parent == "SB00002" and r.bill.bill_id == "B-1"
        assert screen.title.text() == "Child 00002C001"
        assert "in parent SB00002" in screen.details.text()
        assert "on bill B-1: loading (26.0 kg short so far), 2/3 parent bags" in \
            screen.details.text()
        assert [e.type for e in screen.history_model.rows] == ["child_linked"]

        r = look("SB00002")
        assert screen.title.text() == "Parent SB00002 (SB) · in progress"
        assert screen.children_model.rowCount() == 4
        assert "bill_parent_added" in [e.type for e in screen.history_model.rows]

        look("b-2")
        assert screen.title.text() == (
            "Bill B-2 · closed short (1 parent bag short; reason: truck full)")
        assert [e.type for e in screen.history_model.rows][-1] == "bill_closed"

        look("NOPE-123")
        assert screen.title.text() == "Not found: 'NOPE-123'"
        assert reads[-1] == ("NOPE-123", "typed")
    finally:
        close_window(host)


def test_export_to_a_missing_folder_says_so_and_writes_nothing(qtbot, store, tmp_path):
    host, screen = open_review(qtbot, store)
    try:
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(date_from=D1, date_to=D3)
        missing = tmp_path / "gone"
        for fmt in ("csv", "xlsx", "pdf"):
            target = missing / f"bills.{fmt}"
            with qtbot.waitSignal(screen.failed, timeout=10000) as blocker:
                screen.export("bills", fmt, target)
            assert blocker.args[0].startswith(f"Cannot write {target}: ")
            assert blocker.args[0].endswith("Nothing was saved")
        assert not missing.exists()
    finally:
        close_window(host)


def _word_box(doc, word: str):  # noqa: ANN001, ANN202
    text = doc.getAllText(0).text()
    i = text.find(word)
    assert i >= 0, word
    return doc.getSelectionAtIndex(0, i, len(word)).boundingRectangle()


@pytest.mark.parametrize("description", [
    "Lot 7 of the seed\nSECONDLINE\nTHIRDLINE",
    " ".join(f"word{i:03d}" for i in range(100)) + " LASTWORD",
])
def test_bill_sheet_wraps_a_long_or_multiline_description(qtbot, tmp_path, description) -> None:  # noqa: ANN001
    """The description wraps within the page and pushes what follows down (before: its extra
    lines were printed over Destination and Vehicle, and a long one ran off the page)."""
    from PySide6.QtPdf import QPdfDocument

    row = reports.BillRow("B-LONG", "2026-03-10T06:00:00.000+00:00", "biller", "new", 0, 2, 0,
                          0.0, 0.0, description, "Jaipur", "RJ14")
    write_bill_sheet(tmp_path / "b.pdf", BillDetail(row, None, (), ()), "D1")
    doc = QPdfDocument()
    doc.load(str(tmp_path / "b.pdf"))
    page_w = doc.pagePointSize(0).width()
    last = "THIRDLINE" if "THIRDLINE" in description else "LASTWORD"
    assert _word_box(doc, last).right() <= page_w
    assert _word_box(doc, last).bottom() <= _word_box(doc, "Destination").top()
    assert not _word_box(doc, "Destination").intersects(_word_box(doc, "Vehicle"))
    header = _word_box(doc, "Parent")  # the table's header row, and the empty table's words
    assert not header.intersects(_word_box(doc, "No parent bags"))
    assert pdf_page_count(tmp_path / "b.pdf") == 1


def test_the_detail_never_shows_another_bill_than_the_one_chosen_in_the_list(qtbot, store):
    """A filter that leaves the selected bill out clears its detail (before: the list showed
    only Z-9, none selected, and the detail, its PDF and Print buttons still B-1); the scanned
    bag's bill outside the filter is shown with nothing selected in the list (before: Z-9 stayed
    highlighted above the detail of B-2)."""
    from tests.ui.conftest import focus_widget, scan_keys

    host, screen = open_review(qtbot, store)
    try:
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            screen.set_filter(date_from=D1, date_to=D3)
        with qtbot.waitSignal(screen.detail_loaded, timeout=10000):
            screen.bills_view.selectRow(screen.bills_model.row_of("B-1"))
        assert screen.detail.detail.row.bill_id == "B-1"
        screen.text_edit.setFocus()
        with qtbot.waitSignal(screen.bills_loaded, timeout=10000):
            qtbot.keyClicks(focus_widget(), "pune")
        wait_idle(qtbot, host)
        assert screen.bills_model.ids == ["Z-9"]
        assert screen.selected_bill() is None
        assert screen.detail.detail is None
        assert not screen.detail.pdf_button.isEnabled()

        with qtbot.waitSignal(screen.detail_loaded, timeout=10000):
            screen.bills_view.selectRow(0)
        assert screen.detail.detail.row.bill_id == "Z-9"
        host.scanner_input.start()
        screen.text_edit.setFocus()
        scan_keys(host, qtbot, "M444-00003")  # a parent on B-2, which the filter leaves out
        wait_idle(qtbot, host)
        assert screen.detail.detail.row.bill_id == "B-2"
        assert screen.selected_bill() is None
        assert screen.text_edit.text() == "pune"
    finally:
        close_window(host)


def test_a_window_left_open_past_midnight_shows_the_new_days_bills(qtbot, tmp_path,
                                                                  monkeypatch):
    """The window was opened yesterday (the list on the 30 days to yesterday, the summary on
    yesterday) and stayed open: the next day F4 shows the list up to today and today's summary,
    with the bill made this morning (before: the dates stayed on the day the window opened and
    today's bills were never in the list nor the summary)."""
    from datetime import timedelta

    from PySide6.QtTest import QTest

    from tests.ui.conftest import focus_widget

    day1 = reports.today()
    day2 = day1 + timedelta(days=1)
    store = make_station(tmp_path / "st")
    host = open_window(qtbot, store, "biller", "review")  # opened on day 1
    screen = host.review_screen
    try:
        assert screen.to_edit.date().toPython() == day1
        QTest.keyClick(focus_widget(), Qt.Key.Key_F2)
        qtbot.waitUntil(lambda: host.current_screen_key == "station", timeout=3000)
        monkeypatch.setattr(reports, "today", lambda: day2)  # midnight passes
        svc = StationService(store, clock=Clock(local_noon(day2)))
        svc.login("biller", "demo")
        assert svc.create_bill("B-MORNING", 2).ok
        svc.close()
        QTest.keyClick(focus_widget(), Qt.Key.Key_F4)
        qtbot.waitUntil(lambda: host.current_screen_key == "review", timeout=3000)
        wait_idle(qtbot, host)
        assert screen.to_edit.date().toPython() == day2
        assert screen.from_edit.date().toPython() == day2 - timedelta(days=29)
        assert screen.bills_model.ids == ["B-MORNING"]
        assert screen.summary is not None and screen.summary.overall.bills == 1
    finally:
        close_window(host)
        store.close()
