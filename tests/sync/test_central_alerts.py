"""`tracetrack-central stations` marks the stations that need a look and exits 1 when any is
marked, so cron or a monitor can alert: not heard from, a big backlog, an old pending event."""

from __future__ import annotations

import json

import pytest

from central.cli import main as central_main
from tests.sync.conftest import Events, push_as
from tests.sync.stationkit import central_exec

pytestmark = pytest.mark.central


def _stations(capsys, url: str, *extra: str) -> tuple[int, str]:
    rc = central_main(["--url", url, "stations", *extra])
    return rc, capsys.readouterr().out


def test_healthy_stations_exit_0_and_each_problem_is_named(central_db, capsys) -> None:
    ok = central_db.add_station("OK-1")
    busy = central_db.add_station("BUSY-1")
    push_as(ok, "OK-1", [Events("OK-1").parent("SB00001")])
    push_as(busy, "BUSY-1", [Events("BUSY-1").parent("SB00002")], backlog=9000,
            oldest_pending_s=6 * 3600.0)
    rc, out = _stations(capsys, central_db.url, "--max-backlog", "10000", "--max-oldest", "600")
    assert rc == 0 and "!" not in out.replace("(!)", "")
    rc, out = _stations(capsys, central_db.url)  # defaults: backlog 5000, oldest 240 min
    assert rc == 1
    assert "! BUSY-1: backlog 9000 events (over 5000); oldest pending event 6 h old" in out
    assert "OK-1:" not in out
    rc, out = _stations(capsys, central_db.url, "--json")
    rows = {r["station"]: r for r in json.loads(out)}
    assert rc == 1 and rows["OK-1"]["alerts"] == [] and len(rows["BUSY-1"]["alerts"]) == 2


def test_a_silent_station_is_marked_and_a_revoked_one_never(central_db, capsys) -> None:
    access = central_db.add_station("QUIET-1")
    central_db.register("GONE-1")
    push_as(access, "QUIET-1", [Events("QUIET-1").parent("SB00001")])
    central_exec(central_db.url, "UPDATE station_stations SET last_contact = now() - interval "
                 "'3 hours' WHERE station_id = 'QUIET-1'")
    central_exec(central_db.url, "UPDATE station_stations SET created_at = now() - interval "
                 "'2 days', revoked_at = now() WHERE station_id = 'GONE-1'")
    rc, out = _stations(capsys, central_db.url)
    assert rc == 1 and "! QUIET-1: not heard from for 3 h" in out and "GONE-1:" not in out
    rc, out = _stations(capsys, central_db.url, "--silent", "240")
    assert rc == 0
    # registered long ago and never connected
    central_db.register("NEW-1")
    central_exec(central_db.url, "UPDATE station_stations SET created_at = now() - interval "
                 "'5 hours' WHERE station_id = 'NEW-1'")
    rc, out = _stations(capsys, central_db.url, "--silent", "240")
    assert rc == 1 and "! NEW-1: never heard from for 5 h" in out
