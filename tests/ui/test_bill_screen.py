"""The bill screen driven with real key events: create, load by scanner bursts, every refusal of
docs/rules.md §4 with its message, remove (confirm), close short with a reason, reopen (admin)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from station.service import StationService
from tests.ui.bill_support import close_window, make_station, open_window, pack, wait_idle
from ui.bill_models import ParentsModel

# The offscreen platform says this whenever a dialog window is shown; it is not our warning.
pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")

FULL = {"M444-00001": 15, "M444-00002": 15, "M444-00003": 15, "M444-00004": 15}


@pytest.fixture(scope="module")
def packed_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("bills")
    store = make_station(base)
    pack(store, {**FULL, "SB00005": 3, "SB00009": 30})
    svc = StationService(store)
    svc.login("biller", "demo")
    assert svc.create_bill("OTHER-1", 5).ok
    assert svc.add_parent_to_bill("OTHER-1", "SB00009").ok
    svc.close()
    store.close()
    return base


@pytest.fixture
def station(packed_store, tmp_path):
    import shutil

    base = tmp_path / "st"
    shutil.copytree(packed_store, base)
    store = make_station_copy(base)
    yield store
    store.close()


def make_station_copy(base):
    from station.paths import resolve
    from station.store.local import LocalStore

    return LocalStore.open(resolve(base))


def open_host(qtbot, store, who="biller"):
    """The real window (the bill screen's host) on the bill screen, `who` logged in."""
    host = open_window(qtbot, store, who, "bill")
    return host, host.bill_screen


def scan(qtbot, screen, code):
    """A scanner burst: the characters then Enter, as key events into the entry field."""
    qtbot.keyClicks(screen.entry, code)
    qtbot.keyClick(screen.entry, Qt.Key.Key_Return)


def create_bill(qtbot, screen, host, bill_id, target, destination=""):
    qtbot.mouseClick(screen.new_button, Qt.MouseButton.LeftButton)
    dlg = screen.create_dialog
    assert dlg is not None and dlg.isVisible()
    qtbot.keyClicks(dlg.id_edit, bill_id)
    dlg.target_spin.setValue(target)
    qtbot.keyClicks(dlg.destination_edit, destination)
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    wait_idle(qtbot, host)
    return dlg


def test_create_load_to_capacity_and_every_refusal(qtbot, station):
    host, screen = open_host(qtbot, station)
    try:
        # Create with a bad target range is impossible in the spin box; a duplicate id is refused.
        dlg = create_bill(qtbot, screen, host, "other-1", 3)
        assert dlg.isVisible() and dlg.error_label.text() == "Bill OTHER-1 exists already"
        assert host.sounds.last_kind == "error"
        dlg.id_edit.clear()
        qtbot.keyClicks(dlg.id_edit, "b-17")
        qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)
        wait_idle(qtbot, host)
        assert screen.create_dialog is None
        assert screen.bill_id == "B-17"
        assert screen.progress.format() == "0 / 3 parent bags (0 %)"
        assert screen.feedback.text() == "Bill B-17 created: target 3 parent bags"

        # A scanner burst of three full parents loads the bill to its target.
        for code in ("M444-00001", "M444-00002", "M444-00003"):
            scan(qtbot, screen, code)
        wait_idle(qtbot, host)
        assert screen.parents_model.ids == ["M444-00001", "M444-00002", "M444-00003"]
        assert (screen.progress.value(), screen.progress.maximum()) == (3, 3)
        assert screen.figure_labels["children"].text() == "45"
        assert screen.figure_labels["actual"].text() == "45.0"
        assert screen.figure_labels["expected"].text() == "45.0"
        assert screen.figure_labels["shortfall"].text() == "0.0"
        assert screen.feedback.text() == "M444-00003 added to bill B-17 (3/3)"
        assert host.sounds.last_kind == "parent_complete"

        def refusal(code, kind, message):
            scan(qtbot, screen, code)
            wait_idle(qtbot, host)
            assert (screen.feedback_kind, screen.feedback.text()) == (kind, message)

        # A full bill names the parent that was refused and what the biller can do.
        refusal("M444-00004", "refused",
                "M444-00004 not added: bill B-17 is full (3/3 parent bags). Keep M444-00004 "
                "aside; close it (Ctrl+E) or open another bill")
        assert host.sounds.last_kind == "error"
        refusal("M444-00002", "warning", "M444-00002 already on bill B-17")
        assert host.sounds.last_kind == "warning"
        refusal("SB00009", "refused", "SB00009 is on bill OTHER-1")
        refusal("00001C000", "refused",
                "00001C000 is a child bag: only parent bags go on a bill")
        refusal("SB1234", "refused",
                "'SB1234' looks like a parent code but is not one: "
                "SB parent codes look like SB12345")
        assert screen.parents_model.rowCount() == 3  # nothing changed by the refusals
        # The bill screen keeps a scan log like the packing screen's: every read, newest first.
        log = screen.scan_log
        assert log.rowCount() == 9  # creating the bill, 3 parents loaded, 5 refusals
        assert [log.item(i, 1).text() for i in range(3)] == [
            "'SB1234'  (typed)", "'00001C000'  (typed)", "'SB00009'  (typed)"]
        assert log.item(0, 2).text().startswith("'SB1234' looks like a parent code")
        # Full, still open: the state is "full", the bar green (nothing short).
        assert screen.title.text() == "Bill B-17 · full"
    finally:
        close_window(host)


def test_short_and_unknown_parents_warn_then_remove_close_short_reopen(qtbot, station):
    host, screen = open_host(qtbot, station, "admin")
    try:
        create_bill(qtbot, screen, host, "B-20", 4, destination="Jaipur")
        assert "to Jaipur" in screen.subtitle.text()
        scan(qtbot, screen, "SB00005")  # 3 of 30 children
        scan(qtbot, screen, "SB00077")  # not known here: provisional
        scan(qtbot, screen, "M444-00004")
        wait_idle(qtbot, host)
        assert screen.parents_model.ids == ["SB00005", "SB00077", "M444-00004"]
        model: ParentsModel = screen.parents_model
        status_col = 3
        assert model.index(0, status_col).data() == "in progress (27 missing)"
        assert model.index(1, status_col).data() == "not known here yet (provisional)"
        assert model.index(2, status_col).data() == "completed"
        assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None
        assert model.index(2, 0).data(Qt.ItemDataRole.BackgroundRole) is None
        assert screen.figure_labels["expected"].text() == "45.0"  # 30 + 15; unknown adds 0
        assert screen.figure_labels["actual"].text() == "18.0"
        assert screen.figure_labels["shortfall"].text() == "27.0"

        # The short parent's warning, from the scan before.
        r = screen.last_result
        assert r is not None and r.reason == "bill_parent_added"

        # Remove SB00005: select it, Delete, confirm.
        screen.parents_view.selectRow(0)
        screen.parents_view.setFocus()
        qtbot.keyClick(screen.parents_view, Qt.Key.Key_Delete)
        box = screen.confirm_box
        assert box is not None and "Remove SB00005 from bill B-20?" in box.text()
        qtbot.mouseClick(box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
        wait_idle(qtbot, host)
        assert screen.parents_model.ids == ["SB00077", "M444-00004"]
        assert screen.feedback.text() == "SB00005 removed from bill B-20 (2/4)"

        # Close short (Ctrl+E): an empty reason keeps the dialog open and says so; Enter with
        # a reason closes the bill.
        qtbot.keyClick(screen.entry, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        dlg = screen.reason_dialog
        assert dlg is not None and dlg.isVisible()
        assert not dlg.ok_button.isEnabled()
        qtbot.keyClick(dlg.reason_edit, Qt.Key.Key_Return)
        assert dlg.isVisible() and screen.reason_dialog is dlg
        assert screen.view is not None and screen.view.row.state.value == "loading"
        qtbot.keyClicks(dlg.reason_edit, "   ")
        assert not dlg.ok_button.isEnabled()
        qtbot.keyClicks(dlg.reason_edit, "truck full")
        assert dlg.ok_button.isEnabled()
        qtbot.keyClick(dlg.reason_edit, Qt.Key.Key_Return)
        wait_idle(qtbot, host)
        assert screen.feedback.text() == "Bill B-20 closed short (2/4): truck full"
        # One word for the state everywhere, the shortfall and reason beside it.
        assert screen.title.text() == "Bill B-20 · closed short"
        assert screen.state_label.text() == (
            "Closed short by admin at " + screen.view.closed_by.split(" at ")[1]
            + ": 2 parent bags short. Reason: truck full. It cannot change until "
            "it is reopened (Ctrl+R)")
        assert not screen.close_button.isEnabled() and not screen.remove_button.isEnabled()
        # Delete on a parent of the closed bill: refused at once, never "Remove …?" first
        screen.parents_view.selectRow(0)
        screen.parents_view.setFocus()
        qtbot.keyClick(screen.parents_view, Qt.Key.Key_Delete)
        assert screen.confirm_box is None
        wait_idle(qtbot, host)
        assert "closed" in screen.feedback.text() and screen.parents_model.rowCount() == 2

        scan(qtbot, screen, "M444-00001")
        wait_idle(qtbot, host)
        assert screen.feedback.text() == (
            "M444-00001 not changed: bill B-20 is closed; reopen it first (Ctrl+R on the bill "
            "screen, F3), or open another bill")

        assert screen.reopen_button.isVisible() and screen.reopen_button.isEnabled()
        qtbot.mouseClick(screen.reopen_button, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, host)
        assert screen.feedback.text() == "Bill B-20 reopened"
        assert screen.view.row.state.value == "loading"
        assert screen.close_button.isEnabled()
        assert [screen.scan_log.item(i, 1).text() for i in range(3)] == [
            "Reopen B-20", "'M444-00001'  (typed)", "Remove SB00077"]  # (refused, logged)
    finally:
        close_window(host)


def test_biller_cannot_reopen_and_dispatcher_may_not_open(qtbot, station):
    svc = StationService(station)
    svc.login("biller", "demo")
    assert svc.create_bill("B-C", 5).ok and svc.add_parent_to_bill("B-C", "M444-00001").ok
    assert svc.close_bill("B-C", "rain").ok
    svc.close()
    host, screen = open_host(qtbot, station)
    try:
        assert not screen.reopen_button.isVisible()
        screen.open_bill("B-C")
        wait_idle(qtbot, host)
        # A biller is never told to reopen: only what a biller can do.
        assert screen.state_label.text().endswith("It cannot change: only an admin can reopen it")
        qtbot.keyClick(screen.entry, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        assert screen.feedback.text() == "Bill B-C: only an admin can reopen a bill"
        scan(qtbot, screen, "M444-00002")
        wait_idle(qtbot, host)
        assert screen.feedback.text() == (
            "M444-00002 not changed: bill B-C is closed; only an admin can reopen it: ask one, "
            "or open another bill")
        assert screen.allowed_for(host.operator)
        from station.service import Operator

        assert not screen.allowed_for(Operator("d", "dispatcher", None))
    finally:
        close_window(host)


def test_bill_id_scan_switches_without_losing_reads(qtbot, station):
    """A burst: bill id, parents, another bill id, parents — each read lands on the bill that was
    open when it was read, even though none of the results has been painted yet."""
    svc = StationService(station)
    svc.login("biller", "demo")
    assert svc.create_bill("B-A", 5).ok and svc.create_bill("B-B", 5).ok
    svc.close()
    host, screen = open_host(qtbot, station)
    try:
        # Handed to the screen as the window hands reads over, here without waiting for any.
        for raw in ("B-A", "M444-00001", "M444-00002", "b-b", "M444-00003", "M444-00004"):
            screen.handle_read(raw, "scanner")
        assert screen.view is None  # nothing painted yet: all six are queued
        wait_idle(qtbot, host)
        assert screen.bill_id == "B-B"
        assert screen.parents_model.ids == ["M444-00003", "M444-00004"]
        svc = StationService(station)
        info = svc.lookup_bill("B-A")
        svc.close()
        assert info is not None and [p[0] for p in info.parents] == ["M444-00001", "M444-00002"]

        # open_bill (what the packing screen calls) then a read made during the switch.
        screen.open_bill("B-A")
        screen.handle_read("SB00005", "scanner")
        wait_idle(qtbot, host)
        assert screen.bill_id == "B-A" and "SB00005" in screen.parents_model.ids
    finally:
        close_window(host)


def test_no_bill_open_and_scanned_id_in_create_dialog(qtbot, station):
    host, screen = open_host(qtbot, station)
    try:
        scan(qtbot, screen, "M444-00001")
        wait_idle(qtbot, host)
        assert screen.feedback.text() == (
            "No bill is open: scan or type a bill id first (M444-00001 was not added)")
        qtbot.mouseClick(screen.new_button, Qt.MouseButton.LeftButton)
        host.handle_read("lot/77\r", "scanner")  # the scanner fills the dialog's id field
        assert screen.create_dialog is not None
        assert screen.create_dialog.id_edit.text() == "LOT/77"
        qtbot.mouseClick(screen.create_dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)
        wait_idle(qtbot, host)
        assert screen.bill_id == "LOT/77"
    finally:
        close_window(host)


def test_short_parent_is_refused_when_the_station_says_so(qtbot, station):
    station.save_settings(station.settings().replace(short_parent_is_error=True))
    svc = StationService(station)
    svc.login("biller", "demo")
    assert svc.create_bill("B-S", 3).ok
    svc.close()
    host, screen = open_host(qtbot, station)
    try:
        screen.open_bill("b-s")
        scan(qtbot, screen, "SB00005")
        wait_idle(qtbot, host)
        assert (screen.feedback_kind, screen.feedback.text()) == (
            "refused", "SB00005 has only 3/30 children: finish it before loading it on a bill")
        assert screen.parents_model.ids == [], (screen.bill_id, screen.parents_model.ids)
        assert host.sounds.last_kind == "error"
    finally:
        close_window(host)


def test_the_bill_dialogs_take_no_more_text_than_a_bill_keeps(qtbot) -> None:
    """A close reason (or a new bill's texts) longer than the store keeps was typed in full,
    the dialog closed, the store refused it, and the typed text was lost. The fields now stop
    at the limit, so what is typed is what is kept."""
    from types import SimpleNamespace

    from station.limits import LIMITS
    from ui.bill_screen import CreateBillDialog, ReasonDialog

    dlg = ReasonDialog(SimpleNamespace(bill_id="B-1", linked=1, target=3))  # type: ignore[arg-type]
    qtbot.addWidget(dlg)
    qtbot.keyClicks(dlg.reason_edit, "x" * 520)
    assert len(dlg.reason) == LIMITS["reason"].max_len == 500
    new = CreateBillDialog()
    qtbot.addWidget(new)
    for edit, key in ((new.description_edit, "description"),
                      (new.destination_edit, "destination"), (new.vehicle_edit, "vehicle")):
        qtbot.keyClicks(edit, "Y" * (LIMITS[key].max_len + 5))
        assert len(edit.text()) == LIMITS[key].max_len, key
    # a bill id is never cut short: one over the limit is refused by name when submitted
    qtbot.keyClicks(new.id_edit, "B" * 60)
    assert len(new.id_edit.text()) == 60
