"""Shared set-up of the bill and review UI tests: a station with packed parents, and a small
host giving the screens what the main window gives them (real TaskRunner, real SoundPlayer)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from station.paths import resolve
from station.service import Operator, StationService
from station.store.local import LocalStore
from ui.sounds import SoundPlayer
from ui.tasks import TaskRunner


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


class Host(QWidget):
    """What the main window gives its screens: task_runner, sounds, operator, handle_read."""

    def __init__(self, store: LocalStore, operator: str, role: str) -> None:
        super().__init__()
        self.store = store
        self.operator = Operator(operator, role, "North")

        def make_service() -> StationService:
            svc = StationService(store)
            svc.login(operator, "demo")
            return svc

        self.task_runner = TaskRunner(make_service, self)
        self.sounds = SoundPlayer(parent=self)
        self.screen_widget: QWidget | None = None
        self.reads: list[tuple[str, str]] = []
        QVBoxLayout(self)

    def set_screen(self, widget: QWidget) -> None:
        self.screen_widget = widget
        self.layout().addWidget(widget)

    def handle_read(self, raw: str, source: str) -> None:
        self.reads.append((raw, source))
        assert self.screen_widget is not None
        self.screen_widget.handle_read(raw, source)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.task_runner.stop()
