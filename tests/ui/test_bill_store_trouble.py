"""The bill screen when the store cannot take a write (the disk full): the operator is told
which parent was not saved, the scan log and the window hear of it, and a new bill that could
not be created is said in its open dialog, which keeps what was typed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialogButtonBox

from station.service import StationService
from tests.ui.bill_support import (
    close_window,
    make_station,
    open_window,
    station_with_bill,
    wait_idle,
)
from tests.ui.conftest import focus_widget, scan_keys, type_slowly

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def station(tmp_path) -> Iterator:  # noqa: ANN001
    store = station_with_bill(tmp_path / "st", {"M444-00001": 15, "M444-00002": 15})
    yield store
    store.close()


def _fill_the_disk(s: StationService) -> None:
    """On the task thread: the store gets no new page from now on, and its free pages are used
    up (what a full disk does to SQLite)."""
    raw = s.conn.connection.dbapi_connection
    raw.execute(f"PRAGMA max_page_count = {raw.execute('PRAGMA page_count').fetchone()[0]}")
    fails = 0
    for i in range(3000):
        try:
            s.create_bill(f"FILL-{i:04d}", 5)
            fails = 0
        except Exception:  # noqa: BLE001 - the store is full: that is the point
            fails += 1
            if fails > 10:
                return


def _free_the_disk(s: StationService) -> None:
    s.conn.connection.dbapi_connection.execute("PRAGMA max_page_count = 1073741823")


def test_a_parent_not_saved_on_a_full_disk_is_named_logged_and_heard(qtbot, station) -> None:  # noqa: ANN001
    host = open_window(qtbot, station, "biller", "bill")
    screen = host.bill_screen
    try:
        host.scanner_input.start()
        screen.entry.setFocus()
        scan_keys(host, qtbot, "B-1")
        wait_idle(qtbot, host)
        recorded: list[tuple[str, str]] = []
        host.scan_recorded.connect(lambda rec: recorded.append((rec.raw, str(rec.outcome))))
        host.task_runner.submit(_fill_the_disk)
        wait_idle(qtbot, host)
        scan_keys(host, qtbot, "M444-00002")
        wait_idle(qtbot, host)
        text = screen.feedback.text()
        assert "M444-00002" in text and "full" in text and "NOT saved" in text, text
        assert screen.scan_log.records[0].raw == "M444-00002"
        assert recorded[-1] == ("M444-00002", "refused")
    finally:
        host.task_runner.submit(_free_the_disk)
        wait_idle(qtbot, host)
        close_window(host)


def test_a_new_bill_not_saved_on_a_full_disk_is_said_in_its_dialog(qtbot, station) -> None:  # noqa: ANN001
    host = open_window(qtbot, station, "biller", "bill")
    screen = host.bill_screen
    try:
        host.task_runner.submit(_fill_the_disk)
        wait_idle(qtbot, host)
        screen.entry.setFocus()
        QTest.keyClick(focus_widget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: screen.create_dialog is not None, timeout=3000)
        dlg = screen.create_dialog
        type_slowly(qtbot, "TRUCK-9", dlg.id_edit)
        qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dlg.error_label.text() != "", timeout=10000)
        assert dlg.isVisible() and dlg.id_edit.text() == "TRUCK-9"
        assert dlg.error_label.text().startswith("Bill not created") and "full" in \
            dlg.error_label.text()
        dlg.reject()
    finally:
        host.task_runner.submit(_free_the_disk)
        wait_idle(qtbot, host)
        close_window(host)


@pytest.mark.parametrize("junk", ["X" * 500, "W" * 200 + "Ω" * 300])
def test_a_long_junk_read_keeps_the_bill_banner_on_a_1024_screen(qtbot, tmp_path, junk) -> None:  # noqa: ANN001
    """A 500-character read (a long QR, garbage): its message wraps inside the banner and the
    window asks for no more than the screen (before: 1 470 px for a 1 004 px banner)."""
    store = make_station(tmp_path / "st")
    host = open_window(qtbot, store, "biller", "bill", size=(1024, 768))
    try:
        banner = host.bill_screen.feedback
        host.handle_read(junk, "scanner")
        wait_idle(qtbot, host)
        assert junk[:20] in banner.text()
        assert banner.minimumSizeHint().width() <= banner.width()
        assert host.minimumSizeHint().width() <= 1024
    finally:
        close_window(host)
        store.close()
