"""Fault checks of sync.md with a real PostgreSQL and real sockets: connections cut before a
request, in the middle of one and after the centre committed; a killed station process; a
PostgreSQL restart in the middle of a drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import (
    central_scalar,
    local_rows,
    login,
    make_station,
    until,
    upstream_of,
    via_proxy,
    worker_for,
)

pytestmark = pytest.mark.central

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "tracetrack-station"


def _scan(store, parents: int, children: int) -> int:
    svc = login(store)
    n = 0
    try:
        for p in range(parents):
            svc.record_scan(f"SB{p + 1:05d}")
            n += 1
            for c in range(children):
                assert svc.record_scan(f"K{p:03d}{c:04d}").ok
                n += 1
    finally:
        svc.close()
    return n


def _assert_exactly_once(admin_url: str, store, total: int) -> None:
    assert central_scalar(admin_url, "SELECT count(*) FROM station_events") == total
    assert central_scalar(admin_url, "SELECT count(DISTINCT event_id) FROM station_events") == total
    links = local_rows(store, "SELECT count(*) FROM links")[0][0]
    assert central_scalar(admin_url, "SELECT count(*) FROM link") == links
    assert central_scalar(admin_url, "SELECT count(*) FROM scan") == links  # no doubled scans
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
    eng.dispose()
    states = dict(local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1"))
    assert set(states) <= {"applied", "duplicate"} and sum(states.values()) == total


def test_connection_cuts_many_times_lose_and_double_nothing(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=4, children=30)  # 124 events
    faults = [
        ("before", lambda p, k: p.cut_before_request(b"station_session", skip=k)),
        ("mid", lambda p, k: p.cut_mid_request(b"station_record", skip=k)),
        ("after_commit", lambda p, k: p.cut_after_reply(b"COMMIT", skip=k)),
    ]
    with TcpProxy(upstream_of(central_db.url)) as proxy:
        worker = worker_for(store, via_proxy(url, proxy), max_batch_events=4)
        try:
            rounds = 0
            for rnd in range(15):
                name, arm = faults[rnd % 3]
                proxy.fired.clear()
                arm(proxy, rnd % 4)
                summary = worker.run_once()
                assert proxy.fired.is_set(), f"fault {name} did not fire in round {rnd}"
                assert summary.error is not None and summary.state == "offline"
                rounds += 1
            assert proxy.fired_count == rounds == 15
            pending_before = local_rows(store, "SELECT count(*) FROM events WHERE sync_state='pending'")[0][0]
            assert 0 < pending_before < total  # some went through, some are still queued
            final = worker.run_once()
        finally:
            worker.close()
    assert final.error is None, final.error
    assert final.pending == 0 and final.converged is True
    _assert_exactly_once(central_db.url, store, total)
    store.close()


def test_killed_station_process_resumes_where_it_was(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=12, children=30)  # 372 events
    store.close()
    env = dict(os.environ, TRACETRACK_NO_KEYRING="1")
    base = ["--basedir", str(tmp_path)]
    cmd = [str(EXE), *base, "sync", "--central", url, "--batch", "2", "--interval", "60"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def acked() -> int:
            return central_scalar(central_db.url, "SELECT count(*) FROM station_events")

        until(lambda: acked() >= 40 or proc.poll() is not None, 60, "the drain to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    from station.paths import resolve
    from station.store.local import LocalStore

    store = LocalStore.open(resolve(tmp_path))
    synced = local_rows(store, "SELECT count(*) FROM events WHERE sync_state != 'pending'")[0][0]
    assert 0 < synced < total, "kill the process mid-drain"
    # The password was kept aside, not in the settings: the restart finds it by itself.
    again = subprocess.run([str(EXE), *base, "--json", "sync", "--once"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["pending"] == 0 and summary["error"] is None
    # Only what was still pending (plus at most the one batch in flight at the kill) is resent.
    assert summary["sent"] <= total - synced + 2
    assert summary["applied"] + summary["duplicate"] == summary["sent"]
    _assert_exactly_once(central_db.url, store, total)
    store.close()


# -- PostgreSQL restart --------------------------------------------------------------------------


@pytest.fixture()
def own_server():
    """A PostgreSQL server of this test alone, so restarting it disturbs nobody else."""
    pgserver = pytest.importorskip("pgserver")
    from pgserver._commands import pg_ctl

    from central.db import make_engine, migrate
    from central.users import add_demo_users

    tmp = Path(tempfile.mkdtemp(prefix="tt-pg-restart-"))
    server = pgserver.get_server(tmp, cleanup_mode="delete")
    admin = server.get_uri()
    eng = make_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE central")
    eng.dispose()
    url = server.get_uri("central")
    eng = make_engine(url, poolclass=sa.pool.NullPool)
    migrate(eng)
    with eng.begin() as conn:
        add_demo_users(conn, "North")
    eng.dispose()

    def restart() -> None:
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user,
               timeout=60)

    try:
        yield url, restart
    finally:
        server.cleanup()


@pytest.mark.slow
def test_worker_recovers_by_itself_after_postgresql_restart(own_server, tmp_path) -> None:
    admin_url, restart = own_server
    from central.stations import add_station

    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        url = add_station(conn, admin_url, "D1", "North")["url"]
    eng.dispose()
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=10, children=30)
    from sync.worker import SyncListener, SyncSummary

    errors: list[str] = []

    class Record(SyncListener):
        def run_finished(self, summary: SyncSummary) -> None:
            if summary.error:
                errors.append(summary.error)

    worker = worker_for(store, url, max_batch_events=2, interval_s=30, listener=Record())
    worker.start()
    try:
        until(lambda: central_scalar(admin_url, "SELECT count(*) FROM station_events") >= 30,
              60, "the drain to start")
        restart()
        pending_after_restart = local_rows(
            store, "SELECT count(*) FROM events WHERE sync_state='pending'")[0][0]
        assert pending_after_restart > 0, "the restart came too late to be mid-drain"
        until(lambda: local_rows(store, "SELECT count(*) FROM events WHERE sync_state='pending'")
              == [(0,)], 90, "the drain to finish after the restart")
        until(lambda: local_rows(store, "SELECT value FROM sync_state WHERE key='centre_state'")
              == [("online",)], 30, "the worker to report online")
    finally:
        worker.stop()
    assert worker.failures == 0
    assert errors, "the worker never saw the restart"
    _assert_exactly_once(admin_url, store, total)
    store.close()
