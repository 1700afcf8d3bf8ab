"""Clock jumps (docs/sync.md §9: server order, not device clocks): a station whose clock jumps
3 days back, 3 days ahead and a year ahead scans, bills and syncs through the real worker and the
real sync service with results identical, scan for scan and event for event, to a station with
a correct clock doing the same work; the skew shows at the station (the run's summary, its
sync_state) and in `tracetrack-central stations`, which marks it and exits 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.sync.stationkit import central_rows, local_rows, make_station, worker_for

pytestmark = pytest.mark.central

CENTRAL_BIN = Path(sys.executable).with_name("tracetrack-central")
DAY = 86_400.0
PHASES = [("correct", 0.0), ("3 days back", -3 * DAY), ("3 days ahead", 3 * DAY),
          ("a year ahead", 365 * DAY)]


class Clock:
    """The station's clock: the real time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)


def _work(store, clock: Clock, k: int, phase: int) -> list[tuple[str, str | None]]:
    """One phase's work at station k: two parents filled, a rescan, a child moved to a full
    parent's neighbour, a bill with both parents, closed. Codes carry the station's digit k."""
    out: list[tuple[str, str | None]] = []
    from station.service import StationService

    svc = StationService(store, clock=clock)
    try:
        svc.login("dispatcher", "demo")
        p1, p2 = f"SB{k}{phase}001", f"SB{k}{phase}002"
        reads = [p1] + [f"C{k}{phase}{i:04d}" for i in range(6)] + [f"C{k}{phase}0001"]
        reads += [p2] + [f"C{k}{phase}{i:04d}" for i in range(6, 9)] + [f"C{k}{phase}0002"]
        for code in reads:
            r = svc.record_scan(code)
            out.append((str(r.outcome), r.reason))
        svc.logout()
        svc.login("biller", "demo")
        bill = f"BILL-{k}{phase}"
        for r in (svc.create_bill(bill, 2), svc.add_parent_to_bill(bill, p1),
                  svc.add_parent_to_bill(bill, p2), svc.close_bill(bill)):
            out.append((str(r.outcome), r.reason))
    finally:
        svc.close()
    return out


def _normal(rows: list[tuple], k: int) -> list[tuple]:
    """Rows with station k's digit taken out of codes, to compare two stations' work."""
    def norm(v):  # noqa: ANN001, ANN202
        if isinstance(v, str):
            for prefix in ("SB", "C", "BILL-"):
                if v.startswith(prefix + str(k)):
                    return prefix + "#" + v[len(prefix) + 1:]
        return v
    return [tuple(norm(v) for v in r) for r in rows]


def _stations(url: str) -> dict[str, dict]:
    """What `tracetrack-central stations --json` prints, by station (its own functions)."""
    import sqlalchemy as sa

    from central.stations import Thresholds, list_stations

    eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            return {r.station_id: r.to_json_with(Thresholds()) for r in list_stations(conn)}
    finally:
        eng.dispose()


@pytest.mark.slow
def test_clock_jumps_change_no_result_and_the_skew_shows(central_db, tmp_path) -> None:
    sides = {}
    for k, sid in ((1, "REF"), (2, "JUMPY")):
        access = central_db.add_station(sid)
        store = make_station(tmp_path / sid, sid)
        clock = Clock()
        sides[sid] = (k, store, clock, worker_for(store, access, clock=clock, pull=True))
    local: dict[str, list] = {"REF": [], "JUMPY": []}
    try:
        for phase, (name, offset) in enumerate(PHASES):
            for sid, (k, store, clock, worker) in sides.items():
                clock.offset_s = offset if sid == "JUMPY" else 0.0
                local[sid] += _work(store, clock, k, phase)
                summary = worker.run_once()
                assert summary.error is None and summary.pending == 0, (name, summary)
                assert summary.converged is True, (name, summary)
                # the skew shows at the station: in the run's summary and its sync_state
                skew = summary.clock_skew_s
                assert skew is not None and abs(skew - clock.offset_s) < 120, (name, skew)
                kept = local_rows(store, "SELECT value FROM sync_state WHERE key='clock_skew_s'")
                assert abs(float(kept[0][0]) - clock.offset_s) < 120, (name, kept)
            if offset:
                # the centre keeps the jumpy station's skew and marks it (what `stations` lists)
                rows = _stations(central_db.url)
                assert rows["JUMPY"]["clock_skew_flagged"] is True, (name, rows["JUMPY"])
                assert abs(rows["JUMPY"]["clock_skew_s"] - offset) < 120
                assert rows["REF"]["clock_skew_flagged"] is False and rows["REF"]["alerts"] == []
                assert any("clock" in a for a in rows["JUMPY"]["alerts"]), rows["JUMPY"]
        # `tracetrack-central stations` after the last jump (a year ahead): marked, exit 1
        env = {k: v for k, v in os.environ.items() if k != "TRACETRACK_CENTRAL_URL"}
        r = subprocess.run([str(CENTRAL_BIN), "--url", central_db.url, "stations", "--json"],
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 1, (r.stdout, r.stderr)
        rows = {s["station"]: s for s in json.loads(r.stdout)}
        assert rows["JUMPY"]["clock_skew_flagged"] is True and rows["JUMPY"]["clock_skew_s"] > 360 * DAY
        assert rows["REF"]["alerts"] == []
        # the table as an administrator reads it, after the last jump (a year ahead)
        text = subprocess.run([str(CENTRAL_BIN), "--url", central_db.url, "stations"],
                              capture_output=True, text=True, timeout=60, env=env)
        assert text.returncode == 1
        assert "JUMPY" in text.stdout and "(!)" in text.stdout and "ahead" in text.stdout
    finally:
        for *_rest, worker in sides.values():
            worker.close()

    # identical results: every scan and bill step here, every event's result at the centre
    assert local["JUMPY"] == local["REF"]
    assert len(local["REF"]) == 4 * 17
    assert {o for o, _ in local["REF"]} >= {"accepted", "warning"}  # not all one outcome
    centre = {sid: _normal(central_rows(
        central_db.url, "SELECT seq, type, coalesce(child_code, ''), coalesce(parent_code, ''), "
        "coalesce(bill_code, ''), result, coalesce(reason, '') FROM station_events "
        "WHERE station_id = %s ORDER BY seq", sid), k) for sid, (k, *_r) in sides.items()}
    assert centre["JUMPY"] == centre["REF"] and len(centre["REF"]) > 40
    bags = {sid: _normal(central_rows(
        central_db.url, "SELECT qr_id, child_count FROM bag WHERE qr_id LIKE %s ORDER BY qr_id",
        f"SB{k}%"), k) for sid, (k, *_r) in sides.items()}
    assert bags["JUMPY"] == bags["REF"] and len(bags["REF"]) == 8
    bills = {sid: _normal(central_rows(
        central_db.url, "SELECT bill_id, status, parent_bag_count, linked_parent_count FROM bill "
        "WHERE bill_id LIKE %s ORDER BY bill_id", f"BILL-{k}%"), k)
        for sid, (k, *_r) in sides.items()}
    assert bills["JUMPY"] == bills["REF"] and len(bills["REF"]) == 4
    # the device times are kept as the device said (for the record), a year ahead included
    times = [datetime.fromisoformat(r[0]) for r in central_rows(
        central_db.url, "SELECT device_time FROM station_events WHERE station_id = 'JUMPY' "
        "ORDER BY seq")]
    assert max(times) - min(times) > timedelta(days=360)
    for _, store, _, _ in sides.values():
        store.close()
