"""What a sync brought from the centre shows on the screen that is open: the bill screen and the
packing screen read the store again after a run that pulled changes (the sync issues screen
says "the bags on screen already show what the centre holds")."""

from __future__ import annotations

import pytest

from station.service import StationService
from sync.worker import SyncSummary
from tests.ui.conftest import log_in, scan_keys

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


def _pulled(window) -> None:  # noqa: ANN001
    """The sync worker's word at the end of a run that pulled changes into the store (what
    the bridge's listener emits on the worker thread)."""
    assert window.sync_bridge is not None
    window.sync_bridge.sync_run_finished.emit(SyncSummary(pulled=3, state="online"))


def test_a_bill_closed_elsewhere_shows_closed_after_the_pull(window, qtbot) -> None:  # noqa: ANN001
    svc = StationService(window.store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-17", 2).ok
    svc.close()
    bridge = window.attach_sync()  # no centre here: the bridge without a worker
    try:
        log_in(window, qtbot, "biller")
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        scan_keys(window, qtbot, "B-17")
        screen = window.bill_screen
        qtbot.waitUntil(lambda: screen.bill_id == "B-17", timeout=5000)
        assert not screen.view.row.state.is_closed
        # The pull writes the centre's state into the store: the bill was closed short at
        # another station.
        other = StationService(window.store)
        other.login("admin", "demo")
        assert other.close_bill("B-17", "truck left early").ok
        other.close()
        _pulled(window)
        qtbot.waitUntil(lambda: screen.view is not None and screen.view.row.state.is_closed,
                        timeout=5000)
        assert not screen.close_button.isEnabled()
    finally:
        bridge.stop()


def test_a_child_taken_elsewhere_leaves_the_packing_screen_after_the_pull(window, qtbot) -> None:  # noqa: ANN001
    bridge = window.attach_sync()
    try:
        log_in(window, qtbot, "dispatcher")
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        screen = window.station_screen
        scan_keys(window, qtbot, "SB00001")
        scan_keys(window, qtbot, "C0001")
        scan_keys(window, qtbot, "C0002")
        qtbot.waitUntil(lambda: screen.child_codes == ["C0002", "C0001"], timeout=5000)
        # The centre's state, written by the pull: C0002 was removed from SB00001.
        other = StationService(window.store)
        other.login("admin", "demo")
        assert other.remove_child("C0002").ok
        other.close()
        _pulled(window)
        qtbot.waitUntil(lambda: screen.child_codes == ["C0001"], timeout=5000)
        assert screen.counter_label.text().startswith("1 / ")
        assert screen.parent_is_current and screen.parent_row.code == "SB00001"
    finally:
        bridge.stop()


def test_settings_from_the_centre_during_a_scan_leave_the_scan_whole(window, qtbot) -> None:  # noqa: ANN001
    """Settings the centre changed (sound muted) arrive while a scanner burst is half typed:
    the burst stays one scan (before: the scanner input was set up again and let the keys held
    so far go on to the damaged-label field as typing; the rest of the burst became a read of
    its own)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from tests.ui.conftest import SCANNER_DELAY_MS, focus_widget

    bridge = window.attach_sync()
    try:
        log_in(window, qtbot, "dispatcher")
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        screen = window.station_screen
        before = window.reads_handled
        target = focus_widget()
        QTest.keyClicks(target, "SB0", Qt.KeyboardModifier.NoModifier, SCANNER_DELAY_MS)
        bridge.settings_from_centre.emit(window.settings.replace(sound_muted=True))
        QTest.keyClicks(target, "0009", Qt.KeyboardModifier.NoModifier, SCANNER_DELAY_MS)
        QTest.keyClick(target, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier,
                       SCANNER_DELAY_MS)
        qtbot.waitUntil(lambda: window.reads_handled > before and window.reads_waiting == 0,
                        timeout=5000)
        assert window.sounds.muted
        assert screen.parent_code_label.text() == "SB00009", screen.banner.text()
        assert screen.manual_edit.text() == ""
        assert window.reads_handled == before + 1
        assert [(r.raw, r.source) for r in screen.history] == [("SB00009", "scanner")]
    finally:
        bridge.stop()


def test_a_bill_made_elsewhere_joins_the_review_list_after_the_pull(window, qtbot) -> None:  # noqa: ANN001
    """Review (F4) open while a sync brings a bill made at another station: it joins the list
    (before: only after leaving the screen and coming back)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from tests.ui.conftest import focus_widget

    svc = StationService(window.store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-17", 2).ok
    svc.close()
    bridge = window.attach_sync()
    try:
        log_in(window, qtbot, "biller")
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        QTest.keyClick(focus_widget(), Qt.Key.Key_F4)
        screen = window.review_screen
        qtbot.waitUntil(lambda: screen.bills_model.ids == ["B-17"], timeout=5000)
        other = StationService(window.store)  # what the pull writes: a bill of another station
        other.login("admin", "demo")
        assert other.create_bill("B-18", 3).ok
        other.close()
        _pulled(window)
        qtbot.waitUntil(lambda: sorted(screen.bills_model.ids) == ["B-17", "B-18"],
                        timeout=5000)
    finally:
        bridge.stop()
