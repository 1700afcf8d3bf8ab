"""The real station window driven with key events: login, scanner bursts, packing, undo, status."""

from __future__ import annotations

import json
import threading

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from station.scanner import TEST_CODE
from station.service import StationService
from station.store.schema import sync_issues, sync_state
from tests.ui.conftest import focus_widget, log_in, post_scanner_bursts, scan_keys, type_slowly


def _events(store) -> list[dict]:  # noqa: ANN001
    svc = StationService(store)
    try:
        return svc.event_log()
    finally:
        svc.close()


# -- login --------------------------------------------------------------------------------------


def test_login_with_keyboard_only_opens_the_station_screen(window, qtbot) -> None:  # noqa: ANN001
    assert window.current_screen_key == "login"
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    assert window.operator.username == "dispatcher"
    assert window.operator.role == "dispatcher"
    # The manual field has focus so a person can type a damaged label without the mouse.
    assert window.station_screen.manual_edit.hasFocus()
    # Who is logged in is in the key bar, on every screen.
    assert "dispatcher (dispatcher) · station T1" in window.key_bar.who_label.text()


def test_wrong_password_says_so_and_keeps_the_login_screen(window, qtbot) -> None:  # noqa: ANN001
    log_in(window, qtbot, password="nope")
    msg = window.login_screen.message
    qtbot.waitUntil(lambda: "Wrong password" in msg.text())
    assert "dispatcher" in msg.text() and "attempt 1 of 5" in msg.text()
    assert window.operator is None
    assert window.current_screen_key == "login"
    assert window.login_screen.password_edit.hasFocus()


def test_lockout_says_until_when(window, qtbot) -> None:  # noqa: ANN001
    msg = window.login_screen.message
    for attempt in range(1, 6):
        # After a failure the password field has focus: type the next wrong one there.
        if attempt == 1:
            log_in(window, qtbot, password="x")
        else:
            type_slowly(qtbot, "x")
            QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
        qtbot.waitUntil(lambda a=attempt: (f"attempt {a} of 5" in msg.text()) or
                        ("locked" in msg.text()), timeout=5000)
    assert "locked for 15 minutes, until" in msg.text()
    # Even the right password is refused now, with the time it ends.
    type_slowly(qtbot, "demo")
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "is locked after 5 wrong passwords until" in msg.text(), timeout=5000)
    assert window.operator is None


def test_log_out_and_switch_operator(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    scan_keys(window, qtbot, "SB00001")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.current_screen_key == "login")
    assert window.operator is None
    assert "dispatcher logged out" in window.login_screen.message.text()
    log_in(window, qtbot, user="biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    assert window.operator.username == "biller"
    # Logging out released the parent: the next child needs a parent first.
    scan_keys(window, qtbot, "C0001")
    assert window.station_screen.banner.text() == (
        "C0001 not linked: no parent bag is selected. Scan a parent bag, then C0001 again")


def test_a_scan_before_login_is_refused_and_named(window, qtbot) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.login_screen.user_edit.hasFocus())
    scan_keys(window, qtbot, "SB00001")
    assert "SB00001" in window.login_screen.message.text()
    assert "Log in first" in window.login_screen.message.text()
    # The burst did not land in the user name field.
    assert window.login_screen.user_edit.text() == ""


# -- scanner input ------------------------------------------------------------------------------


def test_scanner_burst_reaches_the_station_whatever_has_focus(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    screen.children_list.setFocus()
    assert screen.children_list.hasFocus()
    scan_keys(window, qtbot, "SB00001")
    assert screen.parent_code_label.text() == "SB00001"
    assert screen.counter_label.text() == "0 / 30"
    burst = window.scanner_input.last_read
    assert burst is not None and burst.text == "SB00001" and burst.terminator == "enter"
    assert burst.max_gap_ms < 30  # it really came at scanner speed
    # Focus on the manual field: the burst still goes to the scan path, not into the field.
    screen.manual_edit.setFocus()
    scan_keys(window, qtbot, "C0001")
    assert screen.manual_edit.text() == ""
    assert screen.counter_label.text() == "1 / 30"
    assert screen.last_outcome == "accepted"
    assert "C0001" in screen.banner.text()
    ev = _events(window.store)[-1]
    assert ev["type"] == "child_linked" and ev["data"]["source"] == "scanner"


def test_person_typing_slowly_into_the_manual_field_is_typed_not_scanned(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    scan_keys(window, qtbot, "SB00002")
    screen.manual_edit.setFocus()
    type_slowly(qtbot, "c0042")
    # Every key reached the field, in order, and nothing was taken as a scan.
    assert screen.manual_edit.text() == "c0042"
    assert window.reads_handled == 1
    before = window.reads_handled
    QTest.keyClick(screen.manual_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.reads_handled > before)
    assert screen.counter_label.text() == "1 / 30"
    assert screen.manual_edit.text() == ""
    ev = _events(window.store)[-1]
    assert ev["child_code"] == "C0042" and ev["data"]["source"] == "typed"
    assert "(typed)" in screen.history_table.item(0, 1).text()


def test_burst_without_suffix_ends_in_silence(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    window.apply_settings(window.settings.replace(scanner_suffix="none", scanner_silence_ms=60))
    window.station_screen.children_list.setFocus()
    scan_keys(window, qtbot, "SB00003", suffix=None)
    assert window.station_screen.parent_code_label.text() == "SB00003"
    assert window.scanner_input.last_read.terminator == "silence"


def test_tab_suffix_ends_the_read_and_does_not_move_focus(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    window.apply_settings(window.settings.replace(scanner_suffix="tab"))
    screen = window.station_screen
    screen.manual_edit.setFocus()
    scan_keys(window, qtbot, "SB00004", suffix=Qt.Key.Key_Tab)
    assert screen.parent_code_label.text() == "SB00004"
    assert window.scanner_input.last_read.terminator == "tab"
    assert screen.manual_edit.hasFocus()


def test_reads_are_handled_in_arrival_order_while_a_task_runs(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    gate = threading.Event()
    window.task_runner.submit(lambda s: gate.wait(10))  # the store is busy with something else
    seen: list[str] = []
    window.scan_recorded.connect(lambda rec: seen.append(rec.raw))
    codes = ["SB00005", "C0101", "C0102", "C0103"]
    for code in codes:
        scan_keys(window, qtbot, code, wait=False)
    qtbot.waitUntil(lambda: window.reads_waiting == 4)
    assert seen == []
    gate.set()
    qtbot.waitUntil(lambda: len(seen) == 4, timeout=5000)
    assert seen == codes
    assert screen.counter_label.text() == "3 / 30"
    assert [screen.children_list.item(i).text() for i in range(3)] == ["C0103", "C0102", "C0101"]


# -- packing ------------------------------------------------------------------------------------


def test_full_cycle_of_30_children_ends_in_parent_complete(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    sounds: list[str | None] = []
    window.scan_recorded.connect(lambda rec: sounds.append(window.sounds.last_kind))
    screen.children_list.setFocus()
    scan_keys(window, qtbot, "SB00010")
    assert sounds[-1] == "parent_selected"
    for i in range(1, 31):
        scan_keys(window, qtbot, f"C{i:04d}")
        if i < 30:
            assert screen.counter_label.text() == f"{i} / 30"
            assert sounds[-1] == "child_accepted"
    assert screen.counter_label.text() == "30 / 30"
    assert "SB00010 complete (30/30)" in screen.banner.text()
    assert screen.last_outcome == "accepted"
    assert sounds[-1] == "parent_complete"
    assert not screen.parent_is_current
    assert "scan the next parent bag" in screen.parent_type_label.text()
    assert screen.children_list.count() == 30
    assert screen.children_list.item(0).text() == "C0030"
    assert screen.history_table.rowCount() == 20
    # The station is back to waiting for a parent.
    scan_keys(window, qtbot, "C0031")
    # The refusal says why: the parent completed, so none is selected now.
    assert screen.banner.text() == (
        "C0031 not linked: SB00010 is complete (30/30) and no parent bag is selected now. "
        "Scan the next parent bag, then C0031 again")
    assert screen.last_outcome == "refused" and sounds[-1] == "error"
    ev = [e for e in _events(window.store) if e["type"] == "child_linked"]
    assert len(ev) == 30


def test_parent_scan_always_selects_it_and_feedback_colours(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    scan_keys(window, qtbot, "SB00020")
    scan_keys(window, qtbot, "C0201")
    scan_keys(window, qtbot, "C0201")  # harmless re-scan: amber
    assert screen.last_outcome == "warning"
    assert "C0201 already on SB00020" in screen.banner.text()
    assert window.sounds.last_kind == "warning"
    scan_keys(window, qtbot, "M444-00001")  # another parent, in the middle: selected
    assert screen.parent_code_label.text() == "M444-00001"
    assert screen.counter_label.text() == "0 / 15"
    scan_keys(window, qtbot, "C0201")  # already in SB00020: red, names both bags
    assert screen.last_outcome == "refused"
    assert "C0201 is already in SB00020" in screen.banner.text()
    assert "#c62828" in screen.banner.styleSheet()
    scan_keys(window, qtbot, "SB1234")  # a damaged parent label
    assert "looks like a parent code" in screen.banner.text()
    scan_keys(window, qtbot, "SB00020")  # resume: the real count, never 0
    assert screen.counter_label.text() == "1 / 30"


def test_undo_last_with_ctrl_z(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    screen.children_list.setFocus()
    scan_keys(window, qtbot, "SB00030")
    scan_keys(window, qtbot, "C0301")
    scan_keys(window, qtbot, "C0302")
    n = screen.results_shown
    QTest.keyClick(focus_widget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.results_shown > n)
    assert "C0302 removed from SB00030 (1/30)" in screen.banner.text()
    assert screen.counter_label.text() == "1 / 30"
    assert [screen.children_list.item(i).text() for i in range(screen.children_list.count())] \
        == ["C0301"]
    assert _events(window.store)[-1]["type"] == "child_unlinked"


def test_remove_selected_child_with_delete(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    scan_keys(window, qtbot, "SB00031")
    for c in ("C0311", "C0312", "C0313"):
        scan_keys(window, qtbot, c)
    screen.children_list.setFocus()
    screen.children_list.setCurrentRow(1)  # C0312 (newest first)
    n = screen.results_shown
    QTest.keyClick(screen.children_list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: screen.results_shown > n)
    assert "C0312 removed from SB00031" in screen.banner.text()
    assert screen.counter_label.text() == "2 / 30"
    items = [screen.children_list.item(i).text() for i in range(screen.children_list.count())]
    assert items == ["C0313", "C0311"]


def test_dispatcher_may_not_undo_another_operators_link(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    svc = StationService(window.store)
    svc.login("biller", "demo")
    svc.record_scan("SB00032")
    svc.record_scan("C0321")
    svc.close()
    scan_keys(window, qtbot, "SB00032")
    n = screen.results_shown
    screen.children_list.setFocus()
    screen.children_list.setCurrentRow(0)
    QTest.keyClick(screen.children_list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: screen.results_shown > n)
    assert screen.last_outcome == "refused"
    assert "linked by biller" in screen.banner.text()
    assert screen.counter_label.text() == "1 / 30"


def test_finish_short_parent_asks_to_confirm(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    screen.children_list.setFocus()
    scan_keys(window, qtbot, "SB00040")
    scan_keys(window, qtbot, "C0401")
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert screen.confirming_finish == "SB00040"
    assert "only 1/30 children" in screen.banner.text()
    assert _events(window.store)[-1]["type"] == "child_linked"  # nothing finished yet
    # Esc keeps packing.
    QTest.keyClick(focus_widget(), Qt.Key.Key_Escape)
    assert screen.confirming_finish is None
    assert "Keep packing SB00040" in screen.banner.text()
    # Twice: finished short, resumable.
    n = screen.results_shown
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.results_shown > n)
    assert "SB00040 finished short (1/30)" in screen.banner.text()
    assert _events(window.store)[-1]["type"] == "parent_finished"
    assert not screen.parent_is_current
    scan_keys(window, qtbot, "SB00040")
    assert screen.counter_label.text() == "1 / 30"


def test_idle_parent_is_released(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    screen.idle_release_ms = 150  # 10 minutes in the field; the same timer path
    scan_keys(window, qtbot, "SB00050")
    qtbot.waitUntil(lambda: "released after" in screen.banner.text(), timeout=5000)
    assert not screen.parent_is_current
    svc = StationService(window.store)
    assert svc.current_parent() is None
    svc.close()
    scan_keys(window, qtbot, "C0501")
    assert "C0501 not linked: no parent bag is selected" in screen.banner.text()


def test_bill_scan_opens_the_bill_screen_and_following_reads_go_there(window, qtbot) -> None:  # noqa: ANN001
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    svc = StationService(window.store)
    svc.login("biller", "demo")
    svc.create_bill("B-17", 5)
    svc.close()

    bill_screen = window.bill_screen
    window.station_screen.children_list.setFocus()
    # SB00060 arrives before the switch happened (both bursts are queued at once).
    post_scanner_bursts("B-17", "SB00060")
    def loaded() -> None:  # a timeout says what showed
        assert bill_screen.parents_model.ids == ["SB00060"], (
            window.current_screen_key, bill_screen.bill_id, bill_screen.feedback.text(),
            [(r.raw, r.source, r.message) for r in bill_screen.scan_log.records],
            window.station_screen.banner.text(), window.reads_handled)

    qtbot.waitUntil(loaded, timeout=5000)
    assert bill_screen.bill_id == "B-17"
    assert [r.raw for r in bill_screen.scan_log.records] == ["SB00060"]
    assert window.current_screen_key == "bill"


# -- status bar ---------------------------------------------------------------------------------


def test_status_bar_shows_pending_sync_issues_and_centre_state(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    bar = window.status_panel
    bar.refresh_status()
    qtbot.waitUntil(lambda: bar.status is not None)
    assert bar.centre_label.text() == "centre: not configured"
    scan_keys(window, qtbot, "SB00070")
    scan_keys(window, qtbot, "C0701")
    qtbot.waitUntil(lambda: bar.pending_label.text().startswith("2 pending"), timeout=3000)
    assert "oldest" in bar.pending_label.text()
    assert bar.last_sync_label.text() == "never synced"
    with window.store.connect(write=True) as conn, conn.begin():
        conn.execute(sync_state.insert().values(key="centre_state", value="offline"))
        conn.execute(sync_state.insert().values(key="last_sync_at",
                                                value="2026-01-05T10:00:00.000+00:00"))
        conn.execute(sync_issues.insert().values(event_seq=1, reason="x", message="m",
                                                 created_at="2026-01-05T10:00:00.000+00:00"))
    bar.refresh_status()
    qtbot.waitUntil(lambda: bar.centre_label.text() == "centre: offline")
    assert bar.issues_label.text() == "1 sync issue"
    assert bar.last_sync_label.text().startswith("last sync ")


# -- scanner test, settings, state --------------------------------------------------------------


def test_scanner_test_screen_names_the_problem(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    QTest.keyClick(focus_widget(), Qt.Key.Key_F7)
    assert window.current_screen_key == "scanner_test"
    screen = window.scanner_test_screen
    scan_keys(window, qtbot, TEST_CODE)
    assert screen.last.ok
    assert "set up right" in screen.result_label.text()
    scan_keys(window, qtbot, TEST_CODE.swapcase())
    assert screen.last.problem == "caps_lock"
    assert "Caps Lock" in screen.result_label.text()
    german = TEST_CODE.replace("y", "#").replace("z", "y").replace("#", "z") \
        .replace("Y", "#").replace("Z", "Y").replace("#", "Z").replace("-", "ß")
    scan_keys(window, qtbot, german)
    assert screen.last.problem == "layout" and "German" in screen.result_label.text()
    # Nothing was recorded as a bag while testing.
    assert _events(window.store) == []
    QTest.keyClick(focus_widget(), Qt.Key.Key_Escape)
    assert window.current_screen_key == "station"


def test_settings_screen_is_for_admins_and_saves(window, qtbot) -> None:  # noqa: ANN001
    log_in(window, qtbot, user="dispatcher")
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F9)
    assert window.current_screen_key == "station"
    # The refusal is shown in the key bar, on whatever screen is open.
    assert window.key_bar.notice.text() == (
        "dispatcher (dispatcher) may not open Settings (F9): only an admin can")
    assert window.key_bar.notice.isVisible()
    window.log_out()
    qtbot.waitUntil(lambda: window.current_screen_key == "login")
    log_in(window, qtbot, user="admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F9)
    assert window.current_screen_key == "settings"
    s = window.settings_screen
    s.suffix.setCurrentText("tab")
    s.muted.setChecked(True)
    s.area.setText("South")
    QTest.keyClick(focus_widget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: s.message.text() == "Settings saved")
    assert window.settings.scanner_suffix == "tab" and window.settings.area == "South"
    assert window.scanner_input.detector.suffix == "tab"
    assert window.sounds.muted
    assert window.store.settings().scanner_suffix == "tab"
    # camera and bill settings; a bad resolution is named and nothing is saved
    s.decoder_backend.setCurrentText("zbar")
    s.camera_holdoff.setValue(2.5)
    s.short_parent_is_error.setChecked(True)
    s.camera_resolution.setText("1280 by 720")
    QTest.keyClick(focus_widget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert s.message.text() == (
        "Settings NOT saved: Setting camera_resolution: '1280 by 720' is not width x height "
        "(e.g. 1280x720)"
    )
    assert window.store.settings().decoder_backend == "zxing"
    s.camera_resolution.setText("640X480")
    QTest.keyClick(focus_widget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: s.message.text() == "Settings saved")
    saved = window.store.settings()
    assert (saved.decoder_backend, saved.camera_holdoff_s, saved.camera_resolution) == (
        "zbar", 2.5, "640x480")
    assert saved.short_parent_is_error


def test_window_geometry_is_kept_under_the_basedir(qtbot, store) -> None:  # noqa: ANN001
    from ui.main_window import MainWindow

    w = MainWindow(store)
    w.resize(777, 555)  # the offscreen screen is 800x600
    w.show()
    qtbot.waitExposed(w)
    w.shutdown()
    w.close()
    assert store.paths.qsettings.exists()
    w2 = MainWindow(store)
    try:
        assert (w2.width(), w2.height()) == (777, 555)
    finally:
        w2.shutdown()
        w2.close()


def test_scan_recorded_carries_result_and_source(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    records = []
    window.scan_recorded.connect(records.append)
    window.handle_read("SB00080", "camera")
    qtbot.waitUntil(lambda: len(records) == 1)
    rec = records[0]
    assert rec.source == "camera" and rec.code == "SB00080" and rec.ok
    assert rec.result.parent.code == "SB00080"
    ev = _events(window.store)[-1]
    assert json.dumps(ev["data"]).find("camera") > 0



def test_burst_timestamps_keep_a_scan_whole_while_the_gui_thread_is_busy(logged_in, qtbot) -> None:  # noqa: ANN001
    """Keys pressed 5 ms apart but handled 45 ms apart (the GUI thread was busy): the window
    system's key timestamps show the real gaps, so the code is still one read."""
    import time

    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    window = logged_in
    screen = window.station_screen
    screen.children_list.setFocus()
    target = focus_widget()
    before = window.reads_handled
    ts = 1_000_000
    for ch in "SB00090":
        for etype in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            ev = QKeyEvent(etype, ord(ch), Qt.KeyboardModifier.NoModifier, ch)
            ev.setTimestamp(ts)
            QApplication.sendEvent(target, ev)
        ts += 5
        time.sleep(0.045)  # the stall being simulated, not a wait for a condition
    ev = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Return, Qt.KeyboardModifier.NoModifier, "\r")
    ev.setTimestamp(ts)
    QApplication.sendEvent(target, ev)
    qtbot.waitUntil(lambda: window.reads_handled > before)
    assert window.scanner_input.last_read.text == "SB00090"
    assert screen.parent_code_label.text() == "SB00090"


def test_a_fast_typed_password_is_never_taken_as_a_scan(window, qtbot) -> None:  # noqa: ANN001
    login = window.login_screen
    qtbot.waitUntil(lambda: login.user_edit.hasFocus())
    type_slowly(qtbot, "dispatcher")
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    scan_keys(window, qtbot, "demo", suffix=None, wait=False)  # typed at scanner speed
    assert login.password_edit.text() == "demo"
    assert "demo" not in login.message.text()
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.operator is not None, timeout=5000)


def test_a_slow_status_read_never_delays_a_scan(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    gate = threading.Event()
    window.status_runner.submit(lambda s: gate.wait(10))  # a huge backlog being counted
    window.status_panel.refresh_status()
    try:
        scan_keys(window, qtbot, "SB00095")
        assert window.station_screen.parent_code_label.text() == "SB00095"
    finally:
        gate.set()


def test_shift_pressed_around_upper_case_letters_does_not_break_a_burst(logged_in, qtbot) -> None:  # noqa: ANN001
    """A scanner types 'S' as Shift down, s, Shift up (as xdotool on a real X server showed)."""
    window = logged_in
    screen = window.station_screen
    screen.manual_edit.setFocus()
    target = focus_widget()
    before = window.reads_handled
    shift = Qt.KeyboardModifier.ShiftModifier
    none = Qt.KeyboardModifier.NoModifier
    for ch in "SB00091":
        if ch.isupper():
            QTest.keyPress(target, Qt.Key.Key_Shift, shift, 1)
            QTest.keyClick(target, ch, shift, 1)
            QTest.keyRelease(target, Qt.Key.Key_Shift, none, 1)
        else:
            QTest.keyClick(target, ch, none, 2)
    QTest.keyClick(target, Qt.Key.Key_Return, none, 2)
    qtbot.waitUntil(lambda: window.reads_handled > before)
    assert window.scanner_input.last_read.text == "SB00091"
    assert screen.manual_edit.text() == ""
    assert screen.parent_code_label.text() == "SB00091"


def test_ctrl_z_and_ctrl_enter_work_while_the_manual_field_has_focus(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    screen.manual_edit.setFocus()
    scan_keys(window, qtbot, "SB00092")
    scan_keys(window, qtbot, "C0921")
    scan_keys(window, qtbot, "C0922")
    assert screen.manual_edit.hasFocus()
    n = screen.results_shown
    QTest.keyClick(screen.manual_edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.results_shown > n)
    assert "C0922 removed from SB00092" in screen.banner.text()
    QTest.keyClick(screen.manual_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert screen.confirming_finish == "SB00092"
