"""The centre restored from a backup (README "After restoring the central database"): a real
`pg_dump` of the central database, stations keep syncing, the database is restored to the dump
with `pg_restore` behind the real sync service; each station finds out through the convergence
check that the centre lacks acknowledged events of its own, re-sends exactly those, and the
centre's figures equal the stations' again, nothing doubled."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from sync.worker import SyncListener, SyncSummary
from tests.sync.stationkit import (
    central_exec,
    central_rows,
    central_scalar,
    local_rows,
    login,
    make_station,
    until,
    worker_for,
)

pytestmark = pytest.mark.central


def _pg_tool(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _scan(store, first_parent: int, parents: int, children: int = 20) -> None:
    svc = login(store)
    try:
        for p in range(first_parent, first_parent + parents):
            assert svc.record_scan(f"SB{p:05d}").ok
            for c in range(children):
                assert svc.record_scan(f"R{p:05d}{c:03d}").ok
    finally:
        svc.close()


def _ids(store, where: str = "1=1") -> list[str]:
    return [r[0] for r in local_rows(store, f"SELECT event_id FROM events WHERE {where} ORDER BY seq")]


def _centre_ids(url: str, sid: str) -> set[str]:
    return {r[0] for r in central_rows(url, "SELECT event_id FROM station_events "
                                            "WHERE station_id = %s", sid)}


class _Runs(SyncListener):
    def __init__(self) -> None:
        self.runs: list[SyncSummary] = []

    def run_finished(self, summary: SyncSummary) -> None:
        self.runs.append(summary)


@pytest.mark.slow
def test_restored_centre_gets_back_exactly_what_it_lost(central_db, central_url, tmp_path) -> None:
    from tests.sync.conftest import _admin_engine

    stations = {}
    for sid, first in (("D1", 1), ("D2", 101)):
        access = central_db.add_station(sid)
        store = make_station(tmp_path / sid, sid)
        _scan(store, first, 1)
        stations[sid] = (access, store, first)
    for access, store, _ in stations.values():
        w = worker_for(store, access)
        try:
            assert w.run_once().converged is True
        finally:
            w.close()
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 42

    # the administrator's backup
    dump = tmp_path / "centre.dump"
    subprocess.run([_pg_tool("pg_dump"), "-Fc", "-f", str(dump), "-d", central_db.url],
                   check=True, capture_output=True, timeout=120)

    # stations keep working and syncing after the dump
    for access, store, first in stations.values():
        _scan(store, first + 1, 2)
        w = worker_for(store, access)
        try:
            assert w.run_once().converged is True
        finally:
            w.close()
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 2 * 63
    acked_before = {sid: _ids(st, "sync_state != 'pending'") for sid, (_, st, _) in stations.items()}
    assert all(len(v) == 63 for v in acked_before.values())

    # the database is restored to the dump (the service stopped meanwhile, then started again)
    service = central_db.service()
    service.stop()
    admin = _admin_engine(central_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {central_db.name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {central_db.name}")
    admin.dispose()
    subprocess.run([_pg_tool("pg_restore"), "--exit-on-error", "-d", central_db.url, str(dump)],
                   check=True, capture_output=True, timeout=120)
    service.start()
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 42
    lost = {sid: [e for e in acked_before[sid] if e not in _centre_ids(central_db.url, sid)]
            for sid in stations}
    assert all(len(v) == 42 for v in lost.values())  # each station's last 42 acknowledged

    # D1, one run: the convergence check finds the centre behind and queues exactly those again
    access, store, _ = stations["D1"]
    w = worker_for(store, access)
    try:
        found = w.run_once()
        assert found.converged is False and found.error is None, found
        note = local_rows(store, "SELECT value FROM sync_state WHERE key = 'convergence'")[0][0]
        assert "here 63 events up to 63, centre 21 up to 21" in note
        assert _ids(store, "sync_state = 'pending'") == lost["D1"]
        repaired = w.run_once()
    finally:
        w.close()
    assert repaired.sent == 42 and repaired.applied == 42 and repaired.converged is True

    # D2 with its worker thread (as the window and `sync` run it): the resend follows the
    # discovery at once, in the next run, not after the pull interval (10 minutes here)
    access, store, _ = stations["D2"]
    runs = _Runs()
    w = worker_for(store, access, interval_s=600, listener=runs)
    w.start()
    try:
        until(lambda: any(r.converged for r in runs.runs), 60, "D2 to converge again")
    finally:
        w.stop()
    assert [r.converged for r in runs.runs] == [False, True], [(r.converged, r.error) for r in runs.runs]
    assert runs.runs[1].sent == 42

    # the centre's figures equal every station's; nothing doubled; the invariants hold
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 126
    assert central_scalar(central_db.url,
                          "SELECT count(DISTINCT event_id) FROM station_events") == 126
    for sid, (_, store, _) in stations.items():
        assert _centre_ids(central_db.url, sid) == set(_ids(store))
        from sync.protocol import rolling_hash_of

        figures = central_rows(central_db.url, "SELECT event_count, high_seq, rolling_hash "
                                               "FROM station_stations WHERE station_id = %s", sid)
        assert figures == [(63, 63, rolling_hash_of(_ids(store)))]
    assert central_scalar(central_db.url, "SELECT count(*) FROM link") == 120
    assert central_scalar(central_db.url, "SELECT count(*) FROM scan") == 120
    eng = sa.create_engine(central_db.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
    eng.dispose()
    for _, store, _ in stations.values():
        store.close()


def test_a_disagreement_that_sending_again_does_not_mend_is_not_sent_again_and_again(
        central_db, tmp_path) -> None:
    """The centre's figures for a station are wrong in a way the station's events cannot mend
    (here: its rolling hash damaged by hand). The station sends its events again once; they come
    back as duplicates and the figures still differ. It then stops, says so, and does not wake
    itself to send the whole history again (before: hundreds of runs a second, each sending
    everything)."""
    access = central_db.add_station("LOOP-1")
    store = make_station(tmp_path / "st", "LOOP-1")
    _scan(store, 1, 1, children=4)
    worker = worker_for(store, access)
    try:
        first = worker.run_once()
        assert (first.applied, first.converged) == (5, True)
        central_exec(central_db.url, "UPDATE station_stations SET rolling_hash = 'damaged' "
                                     "WHERE station_id = 'LOOP-1'")
        told = worker.run_once()  # nothing pending: the empty batch brings the figures
        assert told.converged is False and told.pending == 5  # queued to be sent again
        again = worker.run_once()
        assert (again.sent, again.converged) == (5, False)  # their first results, nothing doubled
        assert again.pending == 0  # not queued a second time
        still = local_rows(store, "SELECT value FROM sync_state WHERE key = 'convergence'")
        assert "still disagree" in still[0][0] and "Nothing is sent again" in still[0][0]
        quiet = worker.run_once()
        assert (quiet.sent, quiet.pending, quiet.converged) == (0, 0, False)
        # new scans still go, and the station is not told to stop for ever
        _scan(store, 2, 1, children=0)
        fresh = worker.run_once()
        assert fresh.applied == 1 and fresh.converged is False
    finally:
        worker.close()
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 6
    store.close()


@pytest.mark.slow
def test_after_a_restore_onto_a_rebuilt_server_the_feed_goes_on(central_db, tmp_path) -> None:
    """README "After restoring the central database", the whole server rebuilt: the backup is
    restored into a new PostgreSQL server, whose transaction ids start again far below those
    of the server the stations pulled from. A station's feed position (a transaction id of the
    old server) must not hide what is written at the new one (before, every change made there
    sorted before the station's position, and no station heard of any until the new server's
    ids caught up with the old one's)."""
    import tempfile
    from pathlib import Path

    import pgserver

    from tests.sync.conftest import CentralDB, Events, _admin_engine, push_as, with_database

    other = central_db.add_station("D2")
    d1 = central_db.add_station("D1")
    store = make_station(tmp_path / "D1", "D1")
    _scan(store, 1, 1, children=2)
    w = worker_for(store, d1)
    try:
        assert w.run_once().error is None
    finally:
        w.close()
    # the old server has been in service for a while: its transaction ids have gone far
    eng = _admin_engine(central_db.url)
    with eng.connect() as conn:
        for _ in range(3000):
            conn.exec_driver_sql("SELECT pg_current_xact_id()")
    eng.dispose()
    central_exec(central_db.url, "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('OLD-1', 3)")
    w = worker_for(store, d1)
    try:
        assert w.run_once().error is None  # the station's feed position: one of those ids
    finally:
        w.close()
    dump = tmp_path / "centre.dump"
    subprocess.run([_pg_tool("pg_dump"), "-Fc", "-f", str(dump), "-d", central_db.url],
                   check=True, capture_output=True, timeout=120)
    central_db.stop_service()

    # the rebuilt server: a new PostgreSQL, the backup restored into it (its roles are the old
    # server's: the service's role is made again, as `init --print-service-url` does)
    server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="tt-pg-rebuilt-")),
                                 cleanup_mode="delete")
    try:
        admin = _admin_engine(server.get_uri())
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {central_db.name}")
        admin.dispose()
        url = with_database(server.get_uri(), central_db.name)
        subprocess.run([_pg_tool("pg_restore"), "--exit-on-error", "--no-owner",
                        "--no-privileges", "-d", url, str(dump)],
                       check=True, capture_output=True, timeout=120)
        rebuilt = CentralDB(url, central_db.name, tmp_path / "serve-rebuilt")
        try:
            service = rebuilt.service()
            ev = Events("D2")
            push_as(service.access("D2", other.token), "D2",
                    [ev.parent("SB00500"), ev.link("SB00500", "N0001")])
            central_exec(url, "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('NEW-1', 3)")
            w = worker_for(store, service.access("D1", d1.token))
            try:
                assert w.run_once().error is None
            finally:
                w.close()
        finally:
            rebuilt.stop_service()
    finally:
        server.cleanup()
    assert local_rows(store, "SELECT bill_id FROM bills WHERE bill_id = 'NEW-1'") == [("NEW-1",)]
    assert local_rows(store, "SELECT parent_code FROM links WHERE child_code = 'N0001'") == [
        ("SB00500",)]
    store.close()
