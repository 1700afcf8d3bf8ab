"""Every rule case runs at a real station (StationService on its SQLite store) and at the centre
(push into PostgreSQL); the two must agree (docs/rules.md: one table of cases for both)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import Event, EventType, uuid7
from station.paths import resolve
from station.service import StationService
from station.store.local import LocalStore, iso
from tests.rule_cases import CASES, RuleCase
from tests.sync.conftest import push_as

pytestmark = pytest.mark.central

STATION = "TEST-1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def _wire(row: dict) -> dict:
    return Event(
        event_id=row["event_id"], station_id=row["station_id"], seq=row["seq"],
        type=EventType(row["type"]), operator=row["operator"], device_time=row["device_time"],
        parent=row["parent_code"], child=row["child_code"], bill=row["bill_id"],
        data=row["data"], app_version=row["app_version"],
        protocol_version=row["protocol_version"],
    ).to_wire()


class Station:
    """A demo station (operators dispatcher/biller/admin, password demo) with one service per
    operator, all on the same store and clock."""

    def __init__(self, base: Path) -> None:
        self.store = LocalStore.open(resolve(base))
        self.clock = Clock()
        self.services: dict[str, StationService] = {}

    def run(self, operator: str, method: str, args: tuple):
        svc = self.services.get(operator)
        if svc is None:
            svc = self.services[operator] = StationService(self.store, clock=self.clock)
            svc.login(operator, "demo")
        return getattr(svc, method)(*args)

    def events(self) -> list[dict]:
        if not self.services:
            self.run("admin", "current_parent", ())
        svc = next(iter(self.services.values()))
        return [_wire(r) for r in svc.event_log()]

    def close(self) -> None:
        for svc in self.services.values():
            svc.close()
        self.store.close()


def _expected_centre(case: RuleCase, station_recorded: bool) -> tuple[str, str]:
    if case.centre is not None:
        return case.centre
    if station_recorded:
        return ("applied", case.reason)
    return ("rejected" if case.outcome == "refused" else "duplicate", case.reason)


@pytest.fixture(scope="module")
def station_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rule-station")
    store = LocalStore.open(resolve(base), create=True)
    store.init_station(STATION, "North", demo=True)
    store.close()
    return base


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_station_and_centre_agree(case: RuleCase, central_db, tmp_path, station_template):
    shutil.copytree(station_template, tmp_path / "station")
    station = Station(tmp_path / "station")
    try:
        for step in case.setup:
            res = station.run(*step)
            assert res.ok, f"setup step {step} refused: {res.message}"
        setup_events = station.events()
        station.clock.now += timedelta(minutes=case.minutes_before_op)
        result = station.run(*case.op)
        assert (str(result.outcome), result.reason) == (case.outcome, case.reason), result.message
        after = station.events()
        recorded = after[len(setup_events):]
    finally:
        station.close()

    url = central_db.add_station(STATION)
    if setup_events:
        reply = push_as(url, STATION, setup_events)
        bad = [(r.reason, r.message) for r in reply.results if r.result == "rejected"]
        assert not bad, f"the centre refused the setup: {bad}"
    if recorded:
        assert len(recorded) == 1
        event = recorded[0]
    else:
        assert case.event, "a case the station refuses needs the event the centre gets"
        operator = case.op[0]
        event = Event(
            event_id=str(uuid7()), station_id=STATION, seq=len(setup_events) + 1,
            type=EventType(case.event["type"]), operator=operator,
            device_time=iso(station.clock.now), parent=case.event.get("parent"),
            child=case.event.get("child"), bill=case.event.get("bill"),
            data=case.event.get("data", {}), app_version=APP_VERSION,
            protocol_version=PROTOCOL_VERSION,
        ).to_wire()
    reply = push_as(url, STATION, [event])
    got = reply.results[0]
    assert (got.result, got.reason) == _expected_centre(case, bool(recorded)), got.message
    if got.result == "rejected" and case.outcome == "refused":
        # the same rule named in the same words (the centre may add where the winner came from)
        assert got.message.startswith(result.message.split(", linked at")[0])
