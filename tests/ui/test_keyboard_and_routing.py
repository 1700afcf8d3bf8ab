"""Every screen, driven by real key events in the real window: the global keys (F12 logs out
everywhere), where a scanner burst goes on each screen (and what the store holds afterwards),
scans while a dialog is open, the key bar, and keyboard-only work (Tab walks each screen without
a trap and every enabled button is activated by a key)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QPushButton, QWidget

from station.service import StationService
from tests.ui.conftest import focus_widget, log_in
from ui.keys import GLOBAL_KEYS, SCAN_ROUTES, Route

# The offscreen platform says this whenever a dialog window is shown; it is not our warning.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

SCREEN_KEYS = {"station": Qt.Key.Key_F2, "bill": Qt.Key.Key_F3, "review": Qt.Key.Key_F4,
               "lookup": Qt.Key.Key_F5, "scanner_test": Qt.Key.Key_F7,
               "sync_issues": Qt.Key.Key_F8, "settings": Qt.Key.Key_F9}


@pytest.fixture
def full_window(window) -> Iterator:  # noqa: ANN001
    """The window as the application builds it: with the sync issues screen (no centre set,
    so no sync thread)."""

    bridge = window.attach_sync()
    assert bridge.worker is None
    yield window
    bridge.stop()


def scan_keys(window, qtbot, text: str) -> None:  # noqa: ANN001
    """A USB scanner's burst as the window system delivers it: key events stamped 3 ms apart
    (then Enter) into whatever has the focus. These tests are about where reads go; with the
    stamps a 2-core machine busy with other tests cannot split the burst (the scanner timing
    itself is tested in test_station_window.py)."""
    before = window.reads_handled
    target = focus_widget()
    t0 = int(time.monotonic() * 1000)
    keys = [(Qt.Key(ord(ch.upper())), ch) for ch in text] + [(Qt.Key.Key_Return, "\r")]
    for i, (key, ch) in enumerate(keys):
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            event = QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, ch)
            event.setTimestamp(t0 + 3 * i)
            QApplication.sendEvent(target, event)
    qtbot.waitUntil(lambda: window.reads_handled > before, timeout=10000)


def _events(store) -> list[dict]:  # noqa: ANN001
    svc = StationService(store)
    try:
        return svc.event_log()
    finally:
        svc.close()


def _current_parent(store) -> str | None:  # noqa: ANN001
    svc = StationService(store)
    try:
        p = svc.current_parent()
        return p.code if p else None
    finally:
        svc.close()


def _prepare_bills(store) -> None:  # noqa: ANN001
    """SB00001 full (30) on bill B-101 (target 2, open); SB00002 short (3)."""
    svc = StationService(store)
    try:
        svc.login("dispatcher", "demo")
        assert svc.record_scan("SB00001").ok
        for i in range(30):
            assert svc.record_scan(f"A{i:04d}").ok
        assert svc.record_scan("SB00002").ok
        for i in range(3):
            assert svc.record_scan(f"B{i:04d}").ok
        svc.release_parent()
        svc.login("biller", "demo")
        assert svc.create_bill("B-101", 2, destination="Jaipur").ok
        assert svc.add_parent_to_bill("B-101", "SB00001").ok
    finally:
        svc.close()


def _press(window, qtbot, key: Qt.Key, screen: str) -> None:  # noqa: ANN001
    QTest.keyClick(QApplication.focusWidget() or window, key)
    qtbot.waitUntil(lambda: window.current_screen_key == screen, timeout=3000)


def _idle(window, qtbot) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.task_runner.pending == 0 and window.reads_waiting == 0,
                    timeout=10000)


# -- the global keys ----------------------------------------------------------------------------


def test_the_key_table_and_the_scan_table_cover_every_screen(full_window) -> None:  # noqa: ANN001
    window = full_window
    screens = set(window._screens)
    assert screens == set(SCAN_ROUTES)
    assert {k.screen for k in GLOBAL_KEYS if k.screen} == screens - {"login"}
    # Every key is bound exactly once: by the table (or F1 by ui/about.py).
    assert set(window.key_shortcuts) == {k.key for k in GLOBAL_KEYS if k.bound_here}
    assert window.about_shortcut.key().toString() == "F1"


def test_f12_logs_out_from_every_screen_and_the_next_login_goes_to_the_login_fields(
        full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    for screen, key in SCREEN_KEYS.items():
        log_in(window, qtbot, "admin")
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        if screen != "station":
            _press(window, qtbot, key, screen)
        assert "admin (admin)" in window.key_bar.who_label.text()
        QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
        qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=5000)
        assert window.operator is None, screen
        assert "admin logged out" in window.login_screen.message.text()
        assert "nobody is logged in" in window.key_bar.who_label.text()
        assert window.key_bar.visible_keys() == ["F1"]
    # The next person's name and password land in the login fields, never in a scan field.
    log_in(window, qtbot, "dispatcher")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    assert window.operator.username == "dispatcher"
    assert _events(window.store) == []
    assert window.bill_screen.entry.text() == "" and window.lookup_screen.entry.text() == ""


def test_keys_shown_are_the_keys_the_role_may_use(full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    bar = window.key_bar
    assert bar.visible_keys() == ["F1"]
    for user, keys in (
        ("dispatcher", ["F1", "F2", "F5", "F7", "F8", "F12", "Esc"]),
        ("biller", ["F1", "F2", "F3", "F4", "F5", "F7", "F8", "F12", "Esc"]),
        ("admin", ["F1", "F2", "F3", "F4", "F5", "F7", "F8", "F9", "F12", "Esc"]),
    ):
        log_in(window, qtbot, user)
        qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
        assert bar.visible_keys() == keys, user
        assert bar.who_label.text() == f"{user} ({user}) · station T1 · area North"
        assert bar.buttons["F2"].property("current") is True
        window.log_out()
        qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=5000)


def test_esc_goes_back_and_a_refused_key_says_why(full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    _press(window, qtbot, Qt.Key.Key_F3, "bill")
    _press(window, qtbot, Qt.Key.Key_F5, "lookup")
    _press(window, qtbot, Qt.Key.Key_Escape, "bill")  # back to the screen before
    QTest.keyClick(focus_widget(), Qt.Key.Key_F9)  # a biller may not
    assert window.current_screen_key == "bill"
    assert window.key_bar.notice.isVisible()
    assert window.key_bar.notice.text() == (
        "biller (biller) may not open Settings (F9): only an admin can")
    assert window.sounds.last_kind == "error"
    _press(window, qtbot, Qt.Key.Key_F2, "station")
    assert not window.key_bar.notice.isVisible()  # a notice lasts until the screen changes
    # A key bar button does what its key does (for a mouse user).
    qtbot.mouseClick(window.key_bar.buttons["F4"], Qt.MouseButton.LeftButton)
    assert window.current_screen_key == "review"


# -- scans on every screen ----------------------------------------------------------------------


def test_a_burst_on_every_screen_goes_where_the_table_says(full_window, qtbot) -> None:  # noqa: ANN001
    """The same burst (a free child, a parent, a bill id) on each screen; the store is checked
    after each: only packing and the bill screen record anything, nothing else ever changes the
    current parent or links a child."""
    window = full_window
    _prepare_bills(window.store)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    scan_keys(window, qtbot, "SB00003")  # the current parent while the other screens are tried
    _idle(window, qtbot)
    before = len(_events(window.store))
    burst = ("C0300", "SB00002", "B-101")
    for screen in ("review", "lookup", "scanner_test", "sync_issues", "settings"):
        _press(window, qtbot, SCREEN_KEYS[screen], screen)
        _idle(window, qtbot)  # the screen's own loading done: the burst comes at scanner speed
        for code in burst:
            scan_keys(window, qtbot, code)
            _idle(window, qtbot)
        assert len(_events(window.store)) == before, screen  # nothing recorded
        assert _current_parent(window.store) == "SB00003", screen  # nothing selected
        assert window.current_screen_key == screen  # a bill id did not jump to loading
        if SCAN_ROUTES[screen] is Route.PAUSED:
            assert window.key_bar.notice.text() == (
                f"'B-101' was not recorded: scanning is paused here "
                f"({window._screens[screen].title}): F2 to pack")
            assert window.sounds.last_kind == "error"
    # Review and Look-up looked the codes up.
    assert window.lookup_screen.title.text() == "Bill B-101 · loading"
    review = window.review_screen
    assert review.detail.detail is not None and review.detail.detail.row.bill_id == "B-101"
    assert review.message.text().startswith("Looked up (nothing recorded): Bill B-101 · loading")
    # Packing records: the child goes into the current parent.
    _press(window, qtbot, Qt.Key.Key_F2, "station")
    scan_keys(window, qtbot, "C0300")
    assert "C0300 linked to SB00003 (1/30)" in window.station_screen.banner.text()
    # The bill screen records: the parent goes on the open bill; a bill id opens the bill.
    scan_keys(window, qtbot, "B-101")
    qtbot.waitUntil(lambda: window.current_screen_key == "bill"
                    and window.bill_screen.bill_id == "B-101", timeout=5000)
    scan_keys(window, qtbot, "SB00002")
    _idle(window, qtbot)
    assert window.bill_screen.parents_model.ids == ["SB00001", "SB00002"]
    types = [e["type"] for e in _events(window.store)[before:]]
    assert types == ["child_linked", "bill_parent_added"]


def test_a_scan_while_a_dialog_is_open_is_paused(full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    _prepare_bills(window.store)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    _press(window, qtbot, Qt.Key.Key_F3, "bill")
    screen = window.bill_screen
    scan_keys(window, qtbot, "B-101")
    qtbot.waitUntil(lambda: screen.bill_id == "B-101", timeout=5000)
    before = len(_events(window.store))
    # Ctrl+E on a short bill asks for a reason; a scan meanwhile records nothing.
    QTest.keyClick(focus_widget(), Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.reason_dialog is not None and screen.reason_dialog.isVisible(),
                    timeout=3000)
    scan_keys(window, qtbot, "SB00002")
    assert window.key_bar.notice.text() == (
        "'SB00002' was not recorded: scanning is paused here ('Close bill B-101 short' is "
        "open): F2 to pack")
    assert screen.reason_dialog.reason_edit.text() == ""  # the burst did not land in the field
    QTest.keyClick(screen.reason_dialog.reason_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: screen.reason_dialog is None, timeout=3000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is screen.entry, timeout=3000)
    # The About box (F1) too.
    QTest.keyClick(focus_widget(), Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: getattr(window, "about_dialog", None) is not None, timeout=3000)
    scan_keys(window, qtbot, "SB00002")
    assert "scanning is paused here ('About TraceTrack Station' is open)" in \
        window.key_bar.notice.text()
    QTest.keyClick(window.about_dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.about_dialog is None, timeout=3000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=3000)
    assert len(_events(window.store)) == before
    # The new-bill dialog takes a scanned id (its own field), as before.
    QTest.keyClick(focus_widget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: screen.create_dialog is not None, timeout=3000)
    scan_keys(window, qtbot, "lot-9")
    assert screen.create_dialog.id_edit.text() == "LOT-9"
    QTest.keyClick(screen.create_dialog.id_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: screen.create_dialog is None, timeout=3000)
    assert len(_events(window.store)) == before


def test_a_parent_on_a_closed_bill_is_not_selected_in_green(full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    _prepare_bills(window.store)
    svc = StationService(window.store)
    svc.login("biller", "demo")
    assert svc.close_bill("B-101", "rain").ok
    svc.close()
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    screen = window.station_screen
    scan_keys(window, qtbot, "SB00001")
    assert screen.last_outcome == "warning"
    assert screen.banner.text() == (
        "SB00001 is on closed bill B-101 (30/30): its children cannot change; only an admin can "
        "reopen the bill. Scan another parent bag")
    assert "on closed bill B-101" in screen.parent_type_label.text()
    assert not screen.parent_is_current


# -- keyboard only ------------------------------------------------------------------------------


def _tab_chain(window, start: QWidget, limit: int = 80) -> list[QWidget]:  # noqa: ANN001
    """The widgets Tab visits from `start` until it is back there (fails on a trap)."""
    chain: list[QWidget] = [start]
    for _ in range(limit):
        QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
        w = focus_widget()
        assert w.window() is window, f"Tab left the window for {w!r}"
        if w is start:
            return chain
        assert w not in chain, f"Tab went round {[type(x).__name__ for x in chain]} without " \
                               f"coming back to {type(start).__name__}: a focus trap at {w!r}"
        chain.append(w)
    raise AssertionError(f"Tab never came back to {start!r} in {limit} presses")


def _focusable(screen: QWidget) -> set[QWidget]:
    """The screen's widgets that Tab should reach: visible, enabled, taking Tab focus."""
    found = set()
    for w in screen.findChildren(QWidget):
        if (w.isVisible() and w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
                and w.focusProxy() is None and w.window() is screen.window()
                and not type(w).__name__.startswith(("QScrollBar", "QHeaderView"))
                and w.objectName() != "qt_scrollarea_viewport"
                and not (w.parent() is not None and type(w.parent()).__name__ in (
                    "QComboBox", "QAbstractSpinBox", "DateEdit", "QSpinBox",
                    "QDoubleSpinBox"))):
            found.add(w)
    return found


def _close_dialogs(qtbot) -> None:  # noqa: ANN001
    for _ in range(5):
        modal = QApplication.activeModalWidget()
        if modal is None:
            break
        QTest.keyClick(modal, Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda m=modal: not m.isVisible(), timeout=3000)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=3000)


@pytest.fixture
def no_file_dialogs(monkeypatch) -> list[tuple[str, str]]:  # noqa: ANN001
    """The save and print dialogs answered "cancel" (their own behaviour is tested apart)."""
    import ui.widgets

    asked: list[tuple[str, str]] = []

    def save(_parent, title, start, _filters):  # noqa: ANN001, ANN202
        asked.append((title, start))
        return "", ""

    monkeypatch.setattr(ui.widgets, "get_save_file_name", save)
    monkeypatch.setattr(ui.widgets, "ask_printer", lambda _parent: asked.append(("print", ""))
                        or None)
    return asked


def test_every_screen_by_tab_and_every_enabled_button_by_a_key(full_window, qtbot,
                                                               no_file_dialogs) -> None:  # noqa: ANN001
    window = full_window
    _prepare_bills(window.store)
    window.resize(1024, 768)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    scan_keys(window, qtbot, "SB00004")
    scan_keys(window, qtbot, "C0401")
    _press(window, qtbot, Qt.Key.Key_F3, "bill")
    scan_keys(window, qtbot, "B-101")
    qtbot.waitUntil(lambda: window.bill_screen.bill_id == "B-101", timeout=5000)
    _press(window, qtbot, Qt.Key.Key_F4, "review")
    qtbot.waitUntil(lambda: window.review_screen.bills_model.rowCount() == 1, timeout=10000)
    window.review_screen.bills_view.selectRow(0)
    qtbot.waitUntil(lambda: window.review_screen.detail.detail is not None, timeout=10000)

    pressed: dict[str, list[str]] = {}
    walks = ("station", "bill", "review", "summary", "lookup", "sync_issues", "settings")
    for walk in walks:
        screen_key = "review" if walk == "summary" else walk
        _press(window, qtbot, SCREEN_KEYS[screen_key], screen_key)
        if walk == "summary":  # the Review screen's second tab, by Ctrl+Tab
            QTest.keyClick(focus_widget(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ControlModifier)
            qtbot.waitUntil(lambda: window.review_screen.tabs.currentIndex() == 1, timeout=3000)
            _press(window, qtbot, SCREEN_KEYS[screen_key], screen_key)  # its first field
        _idle(window, qtbot)
        screen = window.screen_named(screen_key)
        start = focus_widget()
        assert screen.isAncestorOf(start), (screen_key, start)
        chain = _tab_chain(window, start)
        missing = _focusable(screen) - set(chain)
        assert not missing, (screen_key, [(type(w).__name__, w.objectName()) for w in missing])
        # Every enabled button: reached by Tab from the screen's start, pressed with Space.
        buttons = [w for w in chain if isinstance(w, QAbstractButton) and w.isEnabled()]
        for target in buttons:
            label = target.text()
            _press(window, qtbot, SCREEN_KEYS[screen_key], screen_key)
            if focus_widget() is not start:
                start.setFocus(Qt.FocusReason.TabFocusReason)
            for _ in range(chain.index(target)):
                QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
            assert focus_widget() is target, (walk, label, focus_widget())
            if not target.isEnabled():
                continue  # an earlier button changed the state (e.g. Close made Reopen possible)
            hits: list[bool] = []
            if isinstance(target, QPushButton):
                target.clicked.connect(lambda *_, h=hits: h.append(True))
            else:
                target.toggled.connect(lambda *_, h=hits: h.append(True))
            QTest.keyClick(target, Qt.Key.Key_Space)
            # (Space is a printable key: the scanner filter holds it ~30 ms before it is typed.)
            qtbot.waitUntil(lambda h=hits: bool(h), timeout=3000)
            pressed.setdefault(walk, []).append(label)
            _close_dialogs(qtbot)
            _idle(window, qtbot)
    assert pressed["station"] == ["Undo last (Ctrl+Z)", "Remove child (Del)",
                                  "Finish parent (Ctrl+Enter)", "Start camera"]
    assert "Close bill… (Ctrl+E)" in pressed["bill"] and "New bill… (Ctrl+N)" in pressed["bill"]
    assert {"Export CSV…", "Export XLSX…", "Save bill sheet as PDF…",
            "Print bill sheet…"} <= set(pressed["review"])
    assert pressed["summary"] == ["Export CSV…", "Export XLSX…", "Save as PDF…"]
    assert {"Save  (Ctrl+S)", "Back  (Esc)"} <= set(pressed["settings"])
    assert "Connect" in pressed["sync_issues"] and "Acknowledge all" in pressed["sync_issues"]
    # The save dialogs were asked with a dated name in the documents (or last) folder.
    names = [start.rsplit("/", 1)[1] for _, start in no_file_dialogs if start]
    assert any(n.startswith("bills-") and n.endswith(".csv") for n in names), names
    assert any(n.startswith("bill-B-101-") and n.endswith(".pdf") for n in names), names
    assert any(n.startswith("summary-") and n.endswith(".pdf") for n in names), names


def test_removing_a_child_by_keyboard_stays_in_the_children_list(logged_in, qtbot) -> None:  # noqa: ANN001
    window = logged_in
    screen = window.station_screen
    scan_keys(window, qtbot, "SB00031")
    for c in ("C0311", "C0312", "C0313"):
        scan_keys(window, qtbot, c)
    assert screen.manual_edit.hasFocus()
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)  # into the children list
    assert focus_widget() is screen.children_list
    QTest.keyClick(focus_widget(), Qt.Key.Key_Down)
    QTest.keyClick(focus_widget(), Qt.Key.Key_Down)
    n = screen.results_shown
    QTest.keyClick(focus_widget(), Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: screen.results_shown > n, timeout=5000)
    assert "removed from SB00031 (2/30)" in screen.banner.text()
    # The focus stays in the list, on a child: Down moves in the list, never changes the camera.
    assert focus_widget() is screen.children_list
    camera = window.camera_panel.picker.currentIndex()
    QTest.keyClick(focus_widget(), Qt.Key.Key_Down)
    assert window.camera_panel.picker.currentIndex() == camera
    assert screen.children_list.currentItem() is not None


def test_choosing_a_parent_on_the_bill_by_keyboard_and_removing_it(full_window, qtbot) -> None:  # noqa: ANN001
    window = full_window
    _prepare_bills(window.store)
    log_in(window, qtbot, "biller")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    _press(window, qtbot, Qt.Key.Key_F3, "bill")
    screen = window.bill_screen
    scan_keys(window, qtbot, "B-101")
    qtbot.waitUntil(lambda: screen.bill_id == "B-101", timeout=5000)
    scan_keys(window, qtbot, "SB00002")
    qtbot.waitUntil(lambda: screen.parents_model.rowCount() == 2, timeout=5000)
    screen.entry.setFocus()
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)  # New bill…
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)  # the parents list: its first parent chosen
    assert focus_widget() is screen.parents_view and screen.selected_parent() == "SB00001"
    QTest.keyClick(focus_widget(), Qt.Key.Key_Down)
    assert screen.selected_parent() == "SB00002"
    QTest.keyClick(focus_widget(), Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: screen.confirm_box is not None
                    and screen.confirm_box.isAncestorOf(QApplication.focusWidget()),
                    timeout=3000)
    from PySide6.QtWidgets import QMessageBox

    yes = screen.confirm_box.button(QMessageBox.StandardButton.Yes)
    for _ in range(4):  # "No" has the focus (the safe default): Tab to "Yes", Space
        if focus_widget() is yes:
            break
        QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    assert focus_widget() is yes
    QTest.keyClick(yes, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: screen.parents_model.ids == ["SB00001"], timeout=5000)
    assert screen.feedback.text() == "SB00002 removed from bill B-101 (1/2)"
    qtbot.waitUntil(lambda: focus_widget() is screen.parents_view, timeout=3000)


# -- layout -------------------------------------------------------------------------------------


def _cut_off(root: QWidget) -> list[str]:
    """Labels, buttons and check boxes showing less than their text."""
    from PySide6.QtWidgets import QCheckBox, QLabel

    found = []
    for w in root.findChildren(QWidget):
        if not w.isVisible() or w.window() is not root:
            continue
        if isinstance(w, QLabel) and w.text():
            if w.wordWrap():
                if w.height() < w.heightForWidth(w.width()) - 1:
                    found.append(f"label {w.text()[:60]!r}: {w.height()} < "
                                 f"{w.heightForWidth(w.width())} px high")
            elif w.width() < w.sizeHint().width() - 1:
                found.append(f"label {w.text()[:60]!r}: {w.width()} < {w.sizeHint().width()} px")
        elif isinstance(w, QAbstractButton | QCheckBox) and w.text():
            if w.width() < w.sizeHint().width() - 1:
                found.append(f"button {w.text()!r}: {w.width()} < {w.sizeHint().width()} px")
    return found


@pytest.mark.parametrize("size", [(1024, 768), (1920, 1080)])
def test_every_screen_fits_without_cut_off_text(full_window, qtbot, size) -> None:  # noqa: ANN001
    window = full_window
    _prepare_bills(window.store)
    svc = StationService(window.store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-LONG-2026/0017", 3, "Mustard seed lot 44, second half of the "
                           "consignment", "Jaipur depot", "RJ14 GA 1234").ok
    assert svc.add_parent_to_bill("B-LONG-2026/0017", "SB00002").ok
    assert svc.close_bill("B-LONG-2026/0017", "truck left early, rest on the next bill").ok
    svc.close()
    window.resize(*size)
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    scan_keys(window, qtbot, "SB00003")
    scan_keys(window, qtbot, "C0301")
    assert (window.width(), window.height()) == size
    for screen, key in SCREEN_KEYS.items():
        _press(window, qtbot, key, screen)
        if screen == "bill":
            scan_keys(window, qtbot, "B-LONG-2026/0017")
            qtbot.waitUntil(lambda: window.bill_screen.bill_id == "B-LONG-2026/0017",
                            timeout=5000)
        if screen == "review":
            qtbot.waitUntil(lambda: window.review_screen.bills_model.rowCount() == 2,
                            timeout=10000)
            window.review_screen.bills_view.selectRow(0)
            qtbot.waitUntil(lambda: window.review_screen.detail.detail is not None,
                            timeout=10000)
        _idle(window, qtbot)
        try:
            qtbot.waitUntil(lambda: not _cut_off(window), timeout=3000)  # the layout settled
        except qtbot.TimeoutError:
            pass
        assert _cut_off(window) == [], (screen, size)
        assert (window.width(), window.height()) == size, screen
