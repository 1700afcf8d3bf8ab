"""Screenshots of the bill screen, the review list with a bill's detail, the summary, the look-up
and the printed bill sheet (saved under tests/screenshots/ to be looked at); the banner colours
are checked on the pixels."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from station import reports
from station.service import StationService
from tests.ui.bill_support import pack
from tests.ui.conftest import focus_widget, log_in
from ui.pdf import paint_bill_sheet

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def _save(widget, name: str) -> QImage:  # noqa: ANN001
    SHOTS.mkdir(exist_ok=True)
    img = widget.grab().toImage()
    assert img.save(str(SHOTS / f"bill_{name}.png"))
    return img


def _read(window, qtbot, code: str) -> None:  # noqa: ANN001
    """A read through the window's single read path (the pictures are this test's subject;
    scanner key timing is tested in test_bill_window and the station window tests)."""
    before = window.reads_handled
    window.handle_read(code, "scanner")
    qtbot.waitUntil(lambda: window.reads_handled > before, timeout=10000)


def _banner(screen) -> str:  # noqa: ANN001
    img = screen.feedback.grab().toImage()
    return QColor(img.pixel(8, screen.feedback.height() // 2)).name()


def test_screenshots_of_bills_and_review(window, qtbot) -> None:  # noqa: ANN001
    store = window.store
    pack(store, {f"M444-{i:05d}": 15 for i in range(1, 6)} | {"SB00010": 12})
    svc = StationService(store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-2026/017", 8, "Mustard seed lot 44", "Jaipur depot", "RJ14 GA 1234").ok
    for code in ("M444-00004", "M444-00005"):
        assert svc.add_parent_to_bill("B-2026/017", code).ok
    svc.login("admin", "demo")
    assert svc.create_bill("B-2026/016", 2, destination="Kota").ok
    assert svc.add_parent_to_bill("B-2026/016", "M444-00001").ok
    assert svc.close_bill("B-2026/016", "second truck cancelled").ok
    svc.close()

    window.resize(1280, 800)
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    screen = window.bill_screen
    _read(window, qtbot, "B-2026/017")
    qtbot.waitUntil(lambda: screen.bill_id == "B-2026/017", timeout=5000)
    for code in ("M444-00002", "M444-00003"):
        _read(window, qtbot, code)
    qtbot.waitUntil(lambda: screen.parents_model.rowCount() == 4, timeout=5000)
    _save(window, "1_loading")
    assert _banner(screen) == "#1b7f2a"
    _read(window, qtbot, "SB00010")  # short parent: amber, still loaded
    qtbot.waitUntil(lambda: screen.parents_model.rowCount() == 5, timeout=5000)
    _save(window, "2_short_parent_warning")
    assert _banner(screen) == "#f2a900"
    _read(window, qtbot, "M444-00001")  # on the other (closed) bill: red
    qtbot.waitUntil(lambda: "is on bill B-2026/016" in screen.feedback.text(), timeout=5000)
    _save(window, "3_refused")
    assert _banner(screen) == "#c62828"

    review = window.review_screen
    with qtbot.waitSignal(review.bills_loaded, timeout=10000):
        qtbot.keyClick(focus_widget(), Qt.Key.Key_F4)
    with qtbot.waitSignal(review.detail_loaded, timeout=10000):
        review.bills_view.selectRow(review.bills_model.row_of("B-2026/017"))
    review.detail.parents_view.selectRow(4)
    qtbot.waitUntil(lambda: review.detail.history_model.rowCount() > 0, timeout=5000)
    _save(window, "4_review_list_detail")
    with qtbot.waitSignal(review.summary_loaded, timeout=10000):
        review.tabs.setCurrentIndex(1)
        review.reload_summary()
    _save(window, "5_summary")

    qtbot.keyClick(focus_widget(), Qt.Key.Key_F5)
    with qtbot.waitSignal(window.lookup_screen.looked_up, timeout=10000):
        _read(window, qtbot, "00010C003")
    _save(window, "6_lookup")

    # The printed sheet, painted on an A4 image at 100 dpi the same way as on the PDF page.
    with reports.reading(store) as conn:
        detail = reports.bill_detail(conn, "B-2026/017")
    img = QImage(827, 1169, QImage.Format.Format_RGB32)
    img.setDotsPerMeterX(3937)
    img.setDotsPerMeterY(3937)
    img.fill(QColor("white"))
    p = QPainter(img)
    paint_bill_sheet(p, QRectF(40, 40, 747, 1089), detail, "T1")
    p.end()
    SHOTS.mkdir(exist_ok=True)
    assert img.save(str(SHOTS / "bill_7_sheet.png"))
