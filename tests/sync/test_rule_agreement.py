"""Every rule case runs at a real station (StationService on its SQLite store) and at the centre
(pushed through the real sync service into PostgreSQL); the two must agree (docs/rules.md: one
table of cases for both), on the verdict (result, reason, the words of a refusal) and on the
state it leaves: the bags, links, counters, bills, bill lines and bill figures of both sides,
compared field by field through one normalised snapshot (tests/sync/agreement.py).
Random sequences at several stations: test_state_agreement.py."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import Event, EventType, uuid7
from station.paths import resolve
from station.store.local import LocalStore, iso
from tests.rule_cases import CASES, RuleCase
from tests.sync.agreement import (
    STATION,
    Station,
    assert_same_state,
    centre_snapshot,
    correct_rejections,
    station_snapshot,
)
from tests.sync.conftest import push_as

pytestmark = pytest.mark.central


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


# Known disagreements of state, one case each (strict: the test fails once the two sides agree).
KNOWN: dict[str, str] = {}


def _case_params() -> list[Any]:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN[c.name])]
                         if c.name in KNOWN else []) for c in CASES]


@pytest.mark.parametrize("case", _case_params())
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

        url = central_db.add_station(STATION)
        if setup_events:
            reply = push_as(url, STATION, setup_events)
            bad = [(r.reason, r.message) for r in reply.results if r.result == "rejected"]
            assert not bad, f"the centre refused the setup: {bad}"
        if recorded:
            assert len(recorded) == 1
            event = recorded[0]
        else:
            # The station recorded nothing: the same state on both sides before the centre is
            # sent the event the station refused.
            assert_same_state(station_snapshot(station.store), centre_snapshot(central_db.url),
                              f"after {case.name!r}")
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
            # the same rule named in the same words (the centre may add where the winner came
            # from)
            assert got.message.startswith(result.message.split(", linked at")[0])
        if recorded:
            # What the station does with the centre's rejection of its own event, then the
            # rows both verdicts left behind.
            correct_rejections(station.store,
                               {got.event_id: got.reason} if got.result == "rejected" else {})
            assert_same_state(station_snapshot(station.store), centre_snapshot(central_db.url),
                              f"after {case.name!r}")
    finally:
        station.close()
