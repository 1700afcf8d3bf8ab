"""Smaller things seen on screen: the focus is visible, each operator starts with an empty scan
log, the camera line says the truth, and save dialogs start in the documents (then the last)
folder with a dated name."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from tests.ui.conftest import focus_widget, log_in, scan_keys
from ui import widgets
from ui.styles import FOCUS

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def _frame_colour(widget) -> str:  # noqa: ANN001
    img = widget.grab().toImage()
    return QColor(img.pixel(1, img.height() // 2)).name()


def test_the_focus_is_a_thick_blue_frame(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    button = screen.finish_button
    assert _frame_colour(button) != FOCUS
    while focus_widget() is not button:
        QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    assert _frame_colour(button) == FOCUS
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    assert _frame_colour(button) != FOCUS
    # Fields and lists show it the same way.
    screen.manual_edit.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: _frame_colour(screen.manual_edit) == FOCUS, timeout=3000)


def test_each_operator_starts_with_an_empty_scan_log(window, qtbot) -> None:  # noqa: ANN001
    from station.service import StationService

    svc = StationService(window.store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-170", 3).ok
    svc.close()
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    scan_keys(window, qtbot, "SB00001")
    scan_keys(window, qtbot, "C0001")
    assert window.station_screen.history_table.rowCount() == 2
    scan_keys(window, qtbot, "B-170")
    qtbot.waitUntil(lambda: window.bill_screen.bill_id == "B-170", timeout=5000)
    scan_keys(window, qtbot, "SB00002")
    qtbot.waitUntil(lambda: window.bill_screen.scan_log.rowCount() == 1, timeout=5000)
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=5000)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    assert window.station_screen.history_table.rowCount() == 0
    assert window.station_screen.history == []
    assert window.bill_screen.scan_log.rowCount() == 0


def test_the_camera_line_says_who_and_what(window, qtbot) -> None:  # noqa: ANN001
    panel = window.camera_panel
    assert not panel.view.isVisible()  # no camera: no black box
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    assert panel.status_label.text() == (
        "Camera off: no camera is set. Choose one above and press Start camera (an admin sets "
        "the station's camera in Settings, F9).")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=5000)
    assert panel.status_label.text() == "Camera off (nobody is logged in)."


def test_save_dialogs_start_in_documents_then_the_last_folder(tmp_path: Path, qapp,
                                                              monkeypatch) -> None:  # noqa: ANN001
    asked: list[str] = []
    answer = {"path": str(tmp_path / "out" / "bills-2026-03-01-to-2026-03-31.csv")}
    monkeypatch.setattr(widgets, "get_save_file_name",
                        lambda _p, _t, start, _f: (asked.append(start), (answer["path"], ""))[1])
    monkeypatch.setattr(widgets, "documents_folder", lambda: tmp_path / "Documents")
    (tmp_path / "out").mkdir()
    qs = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    name = widgets.dated_name("bills", "csv", date(2026, 3, 1), date(2026, 3, 31))
    assert name == "bills-2026-03-01-to-2026-03-31.csv"
    assert widgets.dated_name("summary", "pdf", date(2026, 3, 5), date(2026, 3, 5)) == \
        "summary-2026-03-05.pdf"
    assert widgets.dated_name("bill-B/17", "pdf").startswith("bill-B-17-20")
    got = widgets.ask_save_path(None, "Export", name, "CSV (*.csv)", qs)
    assert got == Path(answer["path"])
    assert asked[0] == str(tmp_path / "Documents" / name)  # the first time: Documents
    widgets.ask_save_path(None, "Export", "summary-2026-03-05.pdf", "PDF (*.pdf)", qs)
    assert asked[1] == str(tmp_path / "out" / "summary-2026-03-05.pdf")  # then the last folder
    answer["path"] = ""  # cancelled: nothing chosen, the last folder kept
    assert widgets.ask_save_path(None, "Export", name, "CSV (*.csv)", qs) is None
    assert qs.value(widgets.LAST_FOLDER_KEY) == str(tmp_path / "out")


def test_why_sync_cannot_run_is_shown_whole_on_a_1024_screen(window, qtbot, monkeypatch) -> None:  # noqa: ANN001
    """The status bar's word on why the station is not syncing (here: the secrets file can be
    read by other users, with the chmod to run) is shown whole at 1024x768, wrapped if need
    be (before: one painted line, cut off after about 60 characters, the command never seen)."""
    import os

    from PySide6.QtWidgets import QLabel

    from station.centre import save_connection

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    store = window.store
    save_connection(store, "http://127.0.0.1:9", "tts_" + "a" * 40)
    os.chmod(store.paths.secrets, 0o644)
    window.apply_settings(store.settings())
    window.resize(1024, 768)
    bridge = window.attach_sync()
    try:
        panel = window.status_panel
        message = panel.currentMessage()
        assert message.startswith("Not syncing: ") and "chmod 600" in message
        qtbot.waitUntil(lambda: any(
            lab.isVisible() and lab.text() == message
            and lab.height() >= lab.heightForWidth(lab.width()) - 1
            and lab.geometry().right() <= panel.width()
            for lab in panel.findChildren(QLabel)), timeout=3000)
        assert (window.width(), window.height()) == (1024, 768)
    finally:
        bridge.stop()
