"""The settings screen in the real main window: its ranges and choices are the declarations of
station/settings.py, and a bad value is named with what is allowed and nothing is saved."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from station.settings import SETTINGS
from tests.ui.conftest import focus_widget, log_in


def _open_settings(window, qtbot):  # noqa: ANN001, ANN202
    log_in(window, qtbot, user="admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station")
    QTest.keyClick(focus_widget(), Qt.Key.Key_F9)
    assert window.current_screen_key == "settings"
    return window.settings_screen


def _save() -> None:
    QTest.keyClick(focus_widget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)


def test_the_widgets_take_ranges_and_choices_from_the_declarations(window, qtbot) -> None:  # noqa: ANN001
    s = _open_settings(window, qtbot)
    spins = {"scanner_max_gap_ms": s.max_gap, "scanner_min_length": s.min_length,
             "scanner_silence_ms": s.silence, "serial_baud": s.serial_baud,
             "idle_release_minutes": s.idle, "camera_holdoff_s": s.camera_holdoff}
    for name, spin in spins.items():
        assert (spin.minimum(), spin.maximum()) == (SETTINGS[name].lo, SETTINGS[name].hi), name
    for name, combo in (("scanner_suffix", s.suffix), ("decoder_backend", s.decoder_backend)):
        assert tuple(combo.itemText(i) for i in range(combo.count())) == SETTINGS[name].choices
    s.max_gap.setValue(500)  # a spin box cannot hold more than the declaration allows
    assert s.max_gap.value() == 200


def test_a_bad_value_is_named_and_nothing_is_saved(window, qtbot) -> None:  # noqa: ANN001
    s = _open_settings(window, qtbot)
    before = window.store.settings()
    s.muted.setChecked(True)  # a good change in the same set: not saved either
    s.max_gap.setValue(50)
    s.area.setText("N" * 51)
    _save()
    assert s.message.text() == (
        "Settings NOT saved: Setting area: Area is too long: 51 characters (at most 50)")
    assert window.store.settings() == before
    assert window.settings == before and not window.sounds.muted
    s.area.setText("North")
    s.camera_resolution.setText("wide")
    _save()
    assert s.message.text() == (
        "Settings NOT saved: Setting camera_resolution: 'wide' is not width x height "
        "(e.g. 1280x720)")
    assert window.store.settings() == before
    s.camera_resolution.setText("1280x720")
    _save()
    qtbot.waitUntil(lambda: s.message.text() == "Settings saved")
    saved = window.store.settings()
    assert (saved.sound_muted, saved.scanner_max_gap_ms) == (True, 50)


@pytest.mark.parametrize("legacy_id", ["DOCK 7", "dock-7"])
def test_a_station_id_from_before_the_limits_does_not_block_saving_other_settings(
        qtbot, station_paths, legacy_id: str) -> None:  # noqa: ANN001
    """An id stored before the limits existed stays usable (station/settings.py): the admin
    changes another setting (mute) and saves; the id stays exactly as stored."""
    import sqlite3

    from station.store.local import LocalStore
    from ui.main_window import MainWindow

    db = sqlite3.connect(station_paths.store)
    with db:
        db.execute("UPDATE settings SET value = ? WHERE key = 'station_id'",
                   (json.dumps(legacy_id),))
    db.close()
    store = LocalStore.open(station_paths)
    window = MainWindow(store)
    try:
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        assert window.settings.station_id == legacy_id
        s = _open_settings(window, qtbot)
        s.muted.setChecked(True)
        _save()
        qtbot.waitUntil(lambda: s.message.text() != "", timeout=5000)
        assert s.message.text() == "Settings saved"
        saved = store.settings()
        assert saved.sound_muted
        assert saved.station_id == legacy_id
    finally:
        window.shutdown()
        window.close()
        store.close()


def test_settings_from_the_centre_while_the_screen_is_open_are_not_undone_by_a_save(
        window, qtbot) -> None:  # noqa: ANN001
    """The admin has Settings open and mutes the sound; meanwhile a sync brings the centre's
    largest gap (40 ms). Saving keeps the centre's 40 and mutes (before: the screen saved every
    field as it had loaded them, putting the gap back to 30 without anyone asking)."""
    bridge = window.attach_sync()
    try:
        s = _open_settings(window, qtbot)
        assert s.max_gap.value() == 30
        s.muted.setChecked(True)  # the admin's edit, not saved yet
        store = window.store
        store.save_settings(store.settings().replace(scanner_max_gap_ms=40))  # the pull
        bridge.settings_from_centre.emit(store.settings())
        assert window.settings.scanner_max_gap_ms == 40
        _save()
        qtbot.waitUntil(lambda: s.message.text() == "Settings saved", timeout=5000)
        saved = store.settings()
        assert (saved.sound_muted, saved.scanner_max_gap_ms) == (True, 40)
        assert window.settings.scanner_max_gap_ms == 40
    finally:
        bridge.stop()


def test_a_new_station_id_is_on_the_log_in_screen_after_log_out(window, qtbot) -> None:  # noqa: ANN001
    """The admin renames the station (F9) and logs out: the log-in screen names the station by
    its new id, as the key bar and the window title do (before: the id it had at start)."""
    from tests.ui.conftest import type_slowly

    s = _open_settings(window, qtbot)
    s.station_id.selectAll()
    type_slowly(qtbot, "DOCK-2")
    _save()
    qtbot.waitUntil(lambda: s.message.text() == "Settings saved", timeout=5000)
    QTest.keyClick(focus_widget(), Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: window.current_screen_key == "login", timeout=5000)
    assert "DOCK-2" in window.key_bar.who_label.text()
    assert window.login_screen.title.text() == "TraceTrack Station DOCK-2"
