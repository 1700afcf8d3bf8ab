"""Station roles: what a station's own credential may and may not do; the CLI that manages them."""

from __future__ import annotations

import json

import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy as sa

from station import APP_VERSION
from central.cli import main as central_main
from central.db import make_engine
from central.service import authenticated_station
from tests.sync.conftest import Events, push_as

pytestmark = pytest.mark.central


def _raw(url: str):
    eng = make_engine(url, poolclass=sa.pool.NullPool)
    return eng, eng.raw_connection()


FORBIDDEN = [
    'SELECT password_hash FROM "user"',
    "SELECT * FROM station_events",
    "UPDATE station_stations SET area = 'X'",
    "DROP TABLE bag",
    "ALTER TABLE bag ADD COLUMN x int",
    "TRUNCATE link",
    "CREATE TABLE mine (x int)",
    "DELETE FROM station_feed",
    "DELETE FROM scan",
    "UPDATE station_events SET result = 'applied'",
]


def test_station_role_may_not(central_db):
    url = central_db.add_station("D1")
    eng, raw = _raw(url)
    try:
        cur = raw.cursor()
        for sql in FORBIDDEN:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
            raw.rollback()
    finally:
        raw.close()
        eng.dispose()


def test_station_role_reads_what_sync_needs(central_db):
    url = central_db.add_station("D1")
    eng, raw = _raw(url)
    try:
        cur = raw.cursor()
        cur.execute('SELECT id, username, role, dispatch_area FROM "user" ORDER BY username')
        assert [r[1] for r in cur.fetchall()] == ["admin", "biller", "dispatcher"]
        cur.execute("SELECT count(*) FROM station_bag_types")
        assert cur.fetchone()[0] == 2
    finally:
        raw.close()
        eng.dispose()


def test_event_log_rows_under_another_station_are_refused(central_db):
    url = central_db.add_station("D1")
    central_db.add_station("D2")
    eng, raw = _raw(url)
    try:
        cur = raw.cursor()
        with pytest.raises(psycopg2.Error) as info:
            cur.execute(
                "INSERT INTO station_events (event_id, station_id, seq, type, operator, "
                "device_time, protocol_version, result) "
                "VALUES ('x', 'D2', 1, 'parent_scanned', 'dispatcher', '', 1, 'applied')"
            )
        assert info.value.pgcode == "TT001"
    finally:
        raw.close()
        eng.dispose()


def test_cli_add_station_json_then_stations_then_revoke(central_db, capsys):
    assert central_main(["--url", central_db.url, "add-station", "dispatch-7", "--area", "East",
                         "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["station"] == "DISPATCH-7"
    eng = make_engine(out["url"], poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert authenticated_station(conn) == "DISPATCH-7"
    eng.dispose()
    ev = Events("DISPATCH-7")
    push_as(out["url"], "DISPATCH-7", [ev.parent("SB00001")], device_time="2020-01-01T00:00:00+00:00")
    assert central_main(["--url", central_db.url, "stations"]) == 0
    text = capsys.readouterr().out
    assert "DISPATCH-7" in text and "East" in text and "(!)" in text  # skew flagged
    assert central_main(["--url", central_db.url, "stations", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["events"] == 1 and row["clock_skew_flagged"] and row["last_contact"]
    assert row["backlog"] == 1 and row["app_version"] == APP_VERSION
    assert central_main(["--url", central_db.url, "add-station", "DISPATCH-7", "--area", "East"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert central_main(["revoke-station", "DISPATCH-7", "--url", central_db.url]) == 0
    with pytest.raises(sa.exc.OperationalError):
        push_as(out["url"], "DISPATCH-7", [ev.parent("SB00002")])
    assert central_main(["--url", central_db.url, "check"]) == 0
    assert "All seven invariants hold" in capsys.readouterr().out


def test_cli_needs_a_url(monkeypatch, capsys):
    monkeypatch.delenv("TRACETRACK_CENTRAL_URL", raising=False)
    assert central_main(["stations"]) == 2
    assert "TRACETRACK_CENTRAL_URL" in capsys.readouterr().err


def test_url_from_environment(central_db, monkeypatch, capsys):
    monkeypatch.setenv("TRACETRACK_CENTRAL_URL", central_db.url)
    assert central_main(["stations"]) == 0
    assert "No stations yet" in capsys.readouterr().out
