"""A read goes where it arrived: one scanned just before a dialog opened (the store was busy and
the read waited its turn) goes onto the open bill, not into the dialog, and is not refused as
"paused"; one scanned while the new-bill dialog is open fills its id field."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from station.service import StationService
from tests.ui.bill_support import (
    close_window,
    open_window,
    station_with_bill,
    wait_idle,
)
from tests.ui.conftest import focus_widget, scan_keys

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture
def station(tmp_path) -> Iterator:  # noqa: ANN001
    store = station_with_bill(tmp_path / "st", {"M444-00001": 15, "M444-00002": 15, "M444-00003": 15})
    yield store
    store.close()


def _open_b1(qtbot, host) -> list[str]:  # noqa: ANN001
    host.scanner_input.start()  # real scanner bursts
    host.bill_screen.entry.setFocus()
    scan_keys(host, qtbot, "B-1")
    wait_idle(qtbot, host)
    assert host.bill_screen.bill_id == "B-1"
    heard: list[str] = []
    host.scan_recorded.connect(lambda rec: heard.append(rec.raw))
    return heard


def _lines(store) -> list[str]:  # noqa: ANN001
    svc = StationService(store)
    try:
        info = svc.lookup_bill("B-1")
        return sorted(p[0] for p in info.parents) if info else []
    finally:
        svc.close()


@pytest.mark.parametrize("keys", ["ctrl+n", "ctrl+e"])
def test_parents_scanned_just_before_a_dialog_opened_go_onto_the_open_bill(
        qtbot, station, keys) -> None:  # noqa: ANN001
    """Ctrl+N (new bill) or Ctrl+E (close short) pressed right after two scans, while another
    writer held the store: both parents are loaded onto B-1 (before, the second went into the
    new bill's id field, or was refused as "scanning is paused here")."""
    host = open_window(qtbot, station, "biller", "bill")
    screen = host.bill_screen
    try:
        heard = _open_b1(qtbot, host)
        lock = sqlite3.connect(str(station.paths.store), isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            scan_keys(host, qtbot, "M444-00001", wait=False)
            scan_keys(host, qtbot, "M444-00002", wait=False)
            qtbot.waitUntil(lambda: host.reads_waiting == 2, timeout=3000)
            key = Qt.Key.Key_N if keys == "ctrl+n" else Qt.Key.Key_E
            QTest.keyClick(focus_widget(), key, Qt.KeyboardModifier.ControlModifier)
            opened = (lambda: screen.create_dialog is not None) if keys == "ctrl+n" else (
                lambda: screen.reason_dialog is not None)
            qtbot.waitUntil(opened, timeout=3000)
        finally:
            lock.rollback()
            lock.close()
        wait_idle(qtbot, host)
        assert heard == ["M444-00001", "M444-00002"]
        assert _lines(station) == ["M444-00001", "M444-00002"]
        if keys == "ctrl+n":
            assert screen.create_dialog.id_edit.text() == ""
            # a read while the dialog is open is the new bill's id
            scan_keys(host, qtbot, "TRUCK-9", wait=False)
            qtbot.waitUntil(lambda: screen.create_dialog.id_edit.text() == "TRUCK-9",
                            timeout=3000)
            screen.create_dialog.reject()
        else:
            screen.reason_dialog.reject()
    finally:
        close_window(host)


def test_enter_after_typing_the_new_bill_id_goes_on_to_the_target(qtbot, station) -> None:  # noqa: ANN001
    """Ctrl+N, the id typed, Enter: the target field is next (as the scanned id does); the bill
    is not created yet with the target the dialog opened with."""
    from tests.ui.conftest import type_slowly

    host = open_window(qtbot, station, "biller", "bill")
    screen = host.bill_screen
    try:
        host.scanner_input.start()
        screen.entry.setFocus()
        QTest.keyClick(focus_widget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: screen.create_dialog is not None, timeout=3000)
        dlg = screen.create_dialog
        qtbot.waitUntil(lambda: dlg.id_edit.hasFocus(), timeout=3000)
        type_slowly(qtbot, "TRUCK-9")
        QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
        wait_idle(qtbot, host)
        assert screen.create_dialog is dlg and dlg.isVisible()
        assert dlg.target_spin.hasFocus()
        svc = StationService(station)
        try:
            assert svc.lookup_bill("TRUCK-9") is None
        finally:
            svc.close()
        # The target typed, Enter: now the bill is created, with that target.
        QTest.keyClick(focus_widget(), Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        type_slowly(qtbot, "4")
        QTest.keyClick(focus_widget(), Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: screen.bill_id == "TRUCK-9", timeout=5000)
        assert screen.progress.format() == "0 / 4 parent bags (0 %)"
    finally:
        close_window(host)
