"""Send again on the Sync issues screen, by keyboard, against a real centre: an event refused
for an unverified operator is sent again by a biller after the user was verified centrally."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.sync.conftest import _central_template, central_db, central_url  # noqa: F401
from tests.sync.stationkit import central_exec, central_scalar
from tests.ui.conftest import log_in, scan_keys


@pytest.mark.central
def test_biller_sends_a_mended_rejection_again_by_keyboard(window, qtbot, central_db) -> None:  # noqa: F811
    access = central_db.add_station("T1")
    central_exec(central_db.url, """UPDATE "user" SET verified = false WHERE username = 'dispatcher'""")
    bridge = window.attach_sync(lambda: access.transport(), backoff_base_s=0.05,
                                backoff_cap_s=0.5, interval_s=30)
    panel = window.status_panel
    try:
        log_in(window, qtbot)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        scan_keys(window, qtbot, "SB00001")

        def one_issue() -> None:
            assert panel.issues_label.text() == "1 sync issue", (
                panel.issues_label.text(), bridge.last_summary)

        qtbot.waitUntil(one_issue, timeout=30000)
        central_exec(central_db.url, """UPDATE "user" SET verified = true WHERE username = 'dispatcher'""")

        window.log_out()
        qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
        log_in(window, qtbot, "biller")
        QTest.keyClick(window, Qt.Key.Key_F8)
        qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
        screen = window.sync_issues_screen
        qtbot.waitUntil(lambda: screen.model.rowCount() == 1, timeout=5000)
        assert screen.model.rows[0].reason == "operator_not_verified"
        screen.table.setFocus()
        QTest.keyClick(screen.table, Qt.Key.Key_Home)
        assert screen.table.selectionModel().selectedRows()
        assert screen.resend_button.isEnabled()
        screen.resend_button.setFocus()
        QTest.keyClick(screen.resend_button, Qt.Key.Key_Space)
        qtbot.waitUntil(lambda: "1 event will be sent again" in screen.message.text(), timeout=5000)
        qtbot.waitUntil(lambda: central_scalar(
            central_db.url, "SELECT result FROM station_events WHERE station_id = 'T1'") == "applied",
            timeout=30000)
        qtbot.waitUntil(lambda: panel.issues_label.text() == "no sync issues", timeout=30000)
        assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 1
        assert central_scalar(central_db.url, "SELECT count(*) FROM bag WHERE qr_id = 'SB00001'") == 1
    finally:
        bridge.stop()
