"""Fixtures for the station core: a demo station store copied from one built per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from station.paths import StationPaths, resolve
from station.service import StationService
from station.store.local import LocalStore


class Clock:
    """A settable clock: time is an input of the 60-minute and lockout rules."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("demo-template")
    store = LocalStore.open(resolve(base), create=True)
    store.init_station("TEST-1", "North", demo=True)
    store.close()
    return base


@pytest.fixture
def paths(demo_template: Path, tmp_path: Path) -> StationPaths:
    base = tmp_path / "station"
    shutil.copytree(demo_template, base)
    return resolve(base)


@pytest.fixture
def store(paths: StationPaths) -> Iterator[LocalStore]:
    s = LocalStore.open(paths)
    yield s
    s.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(store: LocalStore, clock: Clock) -> Iterator[StationService]:
    svc = StationService(store, clock=clock)
    svc.login("dispatcher", "demo")
    yield svc
    svc.close()


@pytest.fixture
def make_service(store: LocalStore, clock: Clock) -> Iterator:
    """Another service on the same store (another operator, or after a restart)."""
    made: list[StationService] = []

    def make(user: str | None = None) -> StationService:
        svc = StationService(store, clock=clock)
        if user:
            svc.login(user, "demo")
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
