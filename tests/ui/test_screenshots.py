"""Screenshots of the main states (saved under tests/screenshots/ to be looked at), and a check
that the feedback banner really shows the outcome's colour on screen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest

from tests.ui.conftest import focus_widget, scan_keys

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def _save(widget, name: str):  # noqa: ANN001, ANN202
    SHOTS.mkdir(exist_ok=True)
    img = widget.grab().toImage()
    assert img.save(str(SHOTS / f"station_{name}.png"))
    return img


def _banner_colour(window) -> QColor:  # noqa: ANN001
    banner = window.station_screen.banner
    img = banner.grab().toImage()
    return QColor(img.pixel(8, banner.height() // 2))


def test_screenshots_of_the_main_states(window, qtbot) -> None:  # noqa: ANN001
    from tests.ui.conftest import log_in

    window.resize(1280, 800)
    _save(window, "0_login")
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    window.status_panel.refresh_status()
    qtbot.waitUntil(lambda: window.status_panel.status is not None)
    _save(window, "1_empty")

    scan_keys(window, qtbot, "SB00001")
    for i in range(1, 13):
        scan_keys(window, qtbot, f"C{i:04d}")
    qtbot.waitUntil(lambda: window.status_panel.pending_label.text().startswith("13 pending"))
    _save(window, "2_mid_parent")
    assert _banner_colour(window).name() == "#1b7f2a"  # green: accepted

    scan_keys(window, qtbot, "C0005")
    _save(window, "3_warning")
    assert _banner_colour(window).name() == "#f2a900"  # amber

    scan_keys(window, qtbot, "SB123")
    _save(window, "4_error")
    assert _banner_colour(window).name() == "#c62828"  # red

    for i in range(13, 31):
        scan_keys(window, qtbot, f"C{i:04d}")
    _save(window, "5_parent_complete")
    assert "complete (30/30)" in window.station_screen.banner.text()

    QTest.keyClick(focus_widget(), Qt.Key.Key_F7)
    _save(window, "6_scanner_test")
