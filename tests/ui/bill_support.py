"""Shared set-up of the bill and review UI tests: a station with packed parents, and the real
main window (the screens' host) opened on one screen with an operator logged in by keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from station.paths import resolve
from station.service import StationService
from station.store.local import LocalStore
from tests.ui.conftest import log_in
from ui.main_window import MainWindow


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=50)
        return self.now


def local_noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, 0).astimezone().astimezone(UTC)


def make_station(base: Path) -> LocalStore:
    store = LocalStore.open(resolve(base), create=True)
    store.init_station("D1", "North", demo=True)
    return store


def pack(store: LocalStore, parents: dict[str, int], who: str = "dispatcher",
         clock: Clock | None = None) -> None:
    """Pack each parent with n children (codes <parent digits>C<i>) through the real service."""
    svc = StationService(store, clock=clock) if clock else StationService(store)
    try:
        svc.login(who, "demo")
        for parent, n in parents.items():
            assert svc.record_scan(parent).ok
            stem = "".join(ch for ch in parent if ch.isdigit())
            for i in range(n):
                r = svc.record_scan(f"{stem}C{i:03d}")
                assert r.ok, r.message
            if n:
                svc.release_parent()
    finally:
        svc.close()


def open_window(qtbot, store: LocalStore, who: str = "biller", screen: str | None = None,  # noqa: ANN001
                size: tuple[int, int] = (1280, 800)) -> MainWindow:
    """The real main window on `store`, `who` logged in on the login screen (password "demo"),
    then on `screen` when given (and allowed). The window's scanner filter is off: keys typed
    into a screen's field arrive as typing ("typed"), whatever their speed. Close it with
    `close_window`."""
    window = MainWindow(store)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    log_in(window, qtbot, who)
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=5000)
    window.scanner_input.stop()
    if screen is not None and window.show_screen(screen):
        qtbot.waitUntil(lambda: window.current_screen_key == screen, timeout=5000)
    wait_idle(qtbot, window)  # what the screen loads when shown
    return window


def station_with_bill(base: Path, parents: dict[str, int], bill_id: str = "B-1",
                      target: int = 500) -> LocalStore:
    """A demo station with these parents packed and an open bill made by the biller."""
    store = make_station(base)
    pack(store, parents)
    svc = StationService(store)
    try:
        svc.login("biller", "demo")
        assert svc.create_bill(bill_id, target).ok
    finally:
        svc.close()
    return store


def wait_idle(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    """Every read handed over and every task of the window's runner done."""
    qtbot.waitUntil(lambda: window.reads_waiting == 0 and window.task_runner.pending == 0,
                    timeout=10000)


def close_window(window: MainWindow) -> None:
    window.shutdown()
    window.close()
