"""F12 logs the operator out whatever the store is doing: reads that came before F12 are the
operator's, reads after it are the next person's, and nothing is recorded under a name that
has left the station."""

from __future__ import annotations

import sqlite3

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from station.service import StationService
from tests.ui.conftest import focus_widget, log_in, post_scanner_bursts, scan_keys


def _events(store) -> list[tuple]:  # noqa: ANN001
    svc = StationService(store)
    try:
        return [(e["type"], e["operator"], e["parent_code"], e["child_code"])
                for e in svc.event_log()]
    finally:
        svc.close()


def _current_parent(store) -> str | None:  # noqa: ANN001
    svc = StationService(store)
    try:
        current = svc.current_parent()
        return current.code if current is not None else None
    finally:
        svc.close()


def _settled(window, qtbot) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.reads_waiting == 0 and window.task_runner.pending == 0,
                    timeout=20000)


def test_f12_logs_out_while_another_program_holds_the_store(logged_in, qtbot) -> None:
    """Letting go of the current parent is a write; with the store locked by another program
    for longer than the store waits, the operator is logged out all the same (before, the
    window stayed logged in and the next person's scans went under the operator's name)."""
    window = logged_in
    scan_keys(window, qtbot, "SB00001")  # a parent is current: logging out lets it go
    _settled(window, qtbot)
    other = sqlite3.connect(str(window.store.paths.store), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
        qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=20000)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert window.operator is None
    shown = window.login_screen.message.text()
    assert shown.startswith("dispatcher logged out") and "stays selected until the next log-in" in shown
    scan_keys(window, qtbot, "C0001")  # someone else scans at the window left open
    _settled(window, qtbot)
    assert [e for e in _events(window.store) if e[0] == "child_linked"] == []
    assert "Not recorded: 'C0001'" in window.login_screen.message.text()
    # the parent stayed selected in the store; the next log-in lets it go
    assert _current_parent(window.store) == "SB00001"
    log_in(window, qtbot, "dispatcher")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=5000)
    _settled(window, qtbot)
    assert _current_parent(window.store) is None
    scan_keys(window, qtbot, "C0002")  # a child with no parent selected: refused, not linked
    _settled(window, qtbot)
    assert [e for e in _events(window.store) if e[0] == "child_linked"] == []


def test_reads_before_f12_are_the_operators_and_reads_after_it_are_not(logged_in, qtbot) -> None:
    """The store is slow for a moment and reads queue up; F12 comes after two of them. Both are
    recorded under the operator (before, the second was refused behind the log-out and the
    refusal was painted on a screen nobody could see); a read after F12 is not recorded, and
    the log-in screen says so."""
    window = logged_in
    other = sqlite3.connect(str(window.store.paths.store), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        post_scanner_bursts("SB00001", "C0001")
        qtbot.waitUntil(lambda: window.reads_waiting == 2, timeout=5000)
        QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
        window.handle_read("C0002", "scanner")  # after F12: the next person's
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=20000)
    _settled(window, qtbot)
    assert _events(window.store) == [
        ("parent_scanned", "dispatcher", "SB00001", None),
        ("child_linked", "dispatcher", "SB00001", "C0001"),
    ]
    assert window.operator is None
    # the log-in screen says the read after F12 was not recorded
    assert "Not recorded: 'C0002'" in window.login_screen.message.text()
    assert window.reads_handled == 3


def test_a_scan_while_the_password_is_checked_is_said_after_the_log_in(window, qtbot) -> None:  # noqa: ANN001
    """Enter pressed on the password, and a parent scanned before the check has finished (the
    store busy a moment): the scan is not recorded, and the packing screen says so (before: the
    refusal was written on the log-in screen and wiped when the log-in went through; only an
    error sound was left)."""
    import threading

    from tests.ui.conftest import type_slowly

    login = window.login_screen
    qtbot.waitUntil(lambda: login.user_edit.hasFocus(), timeout=3000)
    type_slowly(qtbot, "dispatcher")
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    type_slowly(qtbot, "demo")
    gate = threading.Event()
    window.task_runner.submit(lambda _s: gate.wait(10))  # the store busy for a moment
    try:
        QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
        assert window.operator is None
        # the fields take no keys while the password is checked: the window has them
        target = QApplication.focusWidget() or window
        scan_keys(window, qtbot, "SB00001", widget=target, wait=False)
        qtbot.waitUntil(lambda: not window.scanner_input.detector.active, timeout=3000)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=5000)
    _settled(window, qtbot)
    notice = window.key_bar.notice
    assert notice.isVisible() and "SB00001" in notice.text() and "not recorded" in \
        notice.text().lower(), notice.text()
    assert _current_parent(window.store) is None


def test_a_token_typed_and_left_is_gone_for_the_next_operator(window, qtbot) -> None:  # noqa: ANN001
    """An admin types the centre's address and the station's token on Sync issues (F8), does
    not connect, and logs out: the next person finds the fields empty (before: the token, a
    secret, waited there for the next admin's Connect, and the last message stayed)."""
    from tests.ui.conftest import type_slowly

    window.attach_sync()
    screen = window.sync_issues_screen
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    QTest.keyClick(focus_widget(), Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
    screen.url_edit.setFocus()
    type_slowly(qtbot, "https://centre.example")
    screen.token_edit.setFocus()
    type_slowly(qtbot, "tts_secret")
    assert screen.token_edit.text() == "tts_secret"
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    QTest.keyClick(focus_widget(), Qt.Key.Key_F8)
    qtbot.waitUntil(lambda: window.current_screen_key == "sync_issues", timeout=3000)
    assert screen.token_edit.text() == ""
    assert screen.url_edit.text() == ""
    assert screen.ca_edit.text() == ""


def test_the_next_operator_finds_look_up_empty(window, qtbot) -> None:  # noqa: ANN001
    """What one operator looked up (F5) is not on the screen for the next one (before: the bag,
    its history and the half-typed code in the field stayed after F12 and the next log-in)."""
    from tests.ui.conftest import type_slowly

    log_in(window, qtbot, "dispatcher")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    scan_keys(window, qtbot, "SB00001")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F5)
    screen = window.lookup_screen
    qtbot.waitUntil(lambda: window.current_screen_key == "lookup", timeout=3000)
    scan_keys(window, qtbot, "SB00001")
    qtbot.waitUntil(lambda: screen.title.text().startswith("Parent SB00001"), timeout=5000)
    assert screen.history_model.rowCount() > 0
    type_slowly(qtbot, "C00")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.operator is None, timeout=5000)
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    QTest.keyClick(focus_widget(), Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: window.current_screen_key == "lookup", timeout=3000)
    assert screen.title.text() == "Nothing looked up yet"
    assert screen.details.text() == ""
    assert screen.history_model.rowCount() == 0 and screen.children_model.rowCount() == 0
    assert screen.entry.text() == ""


def test_a_scan_while_the_log_out_is_under_way_is_still_said_after_it(logged_in, qtbot) -> None:
    """A scan between F12 and the end of the log-out (here the store is held by another program,
    so letting go of the parent waits) is refused as the next person's; the log-in screen used
    to paint "logged out" over that refusal, leaving only the error sound."""
    window = logged_in
    scan_keys(window, qtbot, "SB00001")
    _settled(window, qtbot)
    other = sqlite3.connect(str(window.store.paths.store), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
        window.handle_read("C0009", "scanner")  # while the log-out waits for the store
        qtbot.waitUntil(lambda: "Not recorded: 'C0009'" in window.login_screen.message.text(),
                        timeout=5000)
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.waitUntil(lambda: window.current_screen_key == "login" and not window._logging_out,
                    timeout=20000)
    _settled(window, qtbot)
    shown = window.login_screen.message.text()
    assert shown.startswith("dispatcher logged out") and "C0009" in shown, shown
    assert [e for e in _events(window.store) if e[0] == "child_linked"] == []
