"""F1 opens the About box: version, store path and decoders, on the login screen and later."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from station import APP_VERSION
from station.camera.decoders import describe_backends
from tests.ui.conftest import focus_widget, log_in
from ui.about import AboutDialog


def _open_about_with_f1(qtbot) -> AboutDialog:  # noqa: ANN001
    QTest.keyClick(focus_widget(), Qt.Key.Key_F1)

    def shown() -> AboutDialog:
        dialogs = [w for w in QApplication.topLevelWidgets()
                   if isinstance(w, AboutDialog) and w.isVisible()]
        assert len(dialogs) == 1
        return dialogs[0]

    qtbot.waitUntil(lambda: shown() is not None, timeout=3000)
    return shown()


def test_f1_on_the_login_screen_shows_version_store_and_decoders(window, qtbot) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.login_screen.user_edit.hasFocus(), timeout=3000)
    dialog = _open_about_with_f1(qtbot)
    text = dialog.details.text()
    assert f"TraceTrack Station {APP_VERSION}" in dialog.findChild(type(dialog.details)).text()
    assert APP_VERSION in text
    assert str(window.store.paths.store) in text
    assert describe_backends().split(",")[0] in text  # "zxing-cpp 3.x"
    assert "zbar" in text
    plain = dialog.plain_text().splitlines()
    assert plain[0] == f"Version: {APP_VERSION} (from source)"
    assert f"Store: {window.store.paths.store}" in plain
    assert f"Decoders: {describe_backends()}" in plain
    # Esc closes it, and the login screen has the keyboard again.
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.about_dialog is None, timeout=3000)
    qtbot.waitUntil(lambda: window.login_screen.user_edit.hasFocus(), timeout=3000)


def test_f1_while_packing_and_again_inside_the_box_shows_one_box(window, qtbot) -> None:  # noqa: ANN001
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    dialog = _open_about_with_f1(qtbot)
    assert "Station: T1 · area North" in dialog.plain_text()
    QTest.keyClick(dialog, Qt.Key.Key_F1)  # pressed again while the box has the keyboard
    assert [w for w in QApplication.topLevelWidgets()
            if isinstance(w, AboutDialog) and w.isVisible()] == [dialog]
    QTest.keyClick(dialog, Qt.Key.Key_Return)  # Enter closes it too
    qtbot.waitUntil(lambda: window.about_dialog is None, timeout=3000)
    assert window.current_screen_key == "station"
