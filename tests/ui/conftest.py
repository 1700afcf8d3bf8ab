"""Fixtures for the window tests: a demo station per test, the real main window, key helpers."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from station.paths import StationPaths
from station.store.local import LocalStore

SCANNER_DELAY_MS = 2  # QTest waits this before the press and before the release: ~5 ms per key
# A person: QTest waits this before each press and each release, so key presses come at least
# 60 ms apart, twice the scanner's largest gap between keys (30 ms); a busy machine only makes
# the gaps longer.
HUMAN_DELAY_MS = 30


@pytest.fixture(scope="session")
def _station_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo station (operators hashed once per session); each test gets a copy."""
    base = tmp_path_factory.mktemp("station-template")
    paths = StationPaths(base, base, base / "logs", True)
    store = LocalStore.open(paths, create=True)
    store.init_station("T1", "North", demo=True)
    store.close()
    return base


@pytest.fixture
def station_paths(tmp_path: Path, _station_template: Path) -> StationPaths:
    base = tmp_path / "station"
    shutil.copytree(_station_template, base)
    return StationPaths(base, base, base / "logs", True)


@pytest.fixture
def store(station_paths: StationPaths) -> Iterator[LocalStore]:
    s = LocalStore.open(station_paths)
    yield s
    s.close()


@pytest.fixture
def window(qtbot, store: LocalStore):  # noqa: ANN001, ANN201
    from ui.main_window import MainWindow

    w = MainWindow(store)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()
    w.close()


def focus_widget() -> QWidget:
    w = QApplication.focusWidget()
    assert w is not None, "no widget has focus"
    return w


def _holding_keys() -> bool:
    """Whether a window's scanner input holds keys it has not decided on yet."""
    return any(w.scanner_input.detector.active for w in QApplication.topLevelWidgets()
               if hasattr(w, "scanner_input"))


def type_slowly(qtbot, text: str, widget: QWidget | None = None) -> None:  # noqa: ANN001
    """A person typing: well over the scanner gap between keys. The scanner input holds each key
    for up to that gap (it could begin a burst) before it goes on to the field: this returns
    once the last one has gone on, however late the busy machine fires its timer."""
    QTest.keyClicks(widget or focus_widget(), text, Qt.KeyboardModifier.NoModifier, HUMAN_DELAY_MS)
    qtbot.waitUntil(lambda: not _holding_keys(), timeout=5000)


def scan_keys(
    window, qtbot, text: str, suffix: Qt.Key | None = Qt.Key.Key_Return,  # noqa: ANN001
    widget: QWidget | None = None, wait: bool = True,
) -> None:
    """A USB scanner: the code at ~5 ms per key into whatever has focus, then the suffix."""
    before = window.reads_handled
    target = widget or focus_widget()
    QTest.keyClicks(target, text, Qt.KeyboardModifier.NoModifier, SCANNER_DELAY_MS)
    if suffix is not None:
        QTest.keyClick(target, suffix, Qt.KeyboardModifier.NoModifier, SCANNER_DELAY_MS)
    if wait:
        qtbot.waitUntil(lambda: window.reads_handled > before, timeout=5000)


def post_scanner_bursts(*codes: str, gap_ms: int = 100) -> None:
    """USB scanner bursts as the window system hands them over: each key press and release
    stamped with the time it was pressed, 5 ms apart, then Return, `gap_ms` between two codes;
    all of them queued at once to the widget with the focus, as when they arrive while the GUI
    thread is busy (showing a screen for the first time, say). QTest's keys carry no timestamp,
    so the scanner input times them as they are handled and a busy moment splits a burst,
    which a real scanner's stamped keys never do."""
    import time

    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent

    target = focus_widget()
    stamp = int(time.monotonic() * 1000)
    for code in codes:
        keys = [(Qt.Key(ord(ch.upper())), ch) for ch in code] + [(Qt.Key.Key_Return, "\r")]
        for key, text in keys:
            for etype in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                event = QKeyEvent(etype, key, Qt.KeyboardModifier.NoModifier, text)
                event.setTimestamp(stamp)
                QApplication.postEvent(target, event)
            stamp += 5
        stamp += gap_ms


def log_in(window, qtbot, user: str = "dispatcher", password: str = "demo") -> None:  # noqa: ANN001
    login = window.login_screen
    qtbot.waitUntil(lambda: login.user_edit.hasFocus(), timeout=3000)
    type_slowly(qtbot, user)
    QTest.keyClick(focus_widget(), Qt.Key.Key_Tab)
    assert login.password_edit.hasFocus()
    type_slowly(qtbot, password)
    QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
    if password == "demo":
        qtbot.waitUntil(lambda: window.operator is not None, timeout=5000)


@pytest.fixture
def logged_in(window, qtbot):  # noqa: ANN001, ANN201
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    return window
