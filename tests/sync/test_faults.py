"""Fault checks (docs/sync.md §18) with the real sync service, a real PostgreSQL and real
sockets: a TCP proxy between station and service cuts connections before a request, in the
middle of one and after the centre committed; a killed station process; PostgreSQL restarted,
and the sync service itself restarted, in the middle of a drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from sync.errors import TransientError
from sync.worker import SyncListener, SyncSummary
from tests.sync.proxy import TcpProxy
from tests.sync.service_proc import CentralService
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


GZIP_MAGIC = b"\x1f\x8b\x08"  # the first bytes of every gzip body (batches over 1 KB)

FAULTS = [
    # The proxy never forwards the request: the service never sees it.
    ("before", lambda p, k: p.cut_before_request(b"POST /v1/push", skip=k)),
    # Half of the request line and headers reach the service, then the connection dies.
    ("mid_headers", lambda p, k: p.cut_mid_request(b"POST /v1/push", skip=k)),
    # The headers went through; half of the (gzip) body does, then the connection dies.
    ("mid_body", lambda p, k: p.cut_mid_request(GZIP_MAGIC, skip=k)),
    # The centre applied and committed the batch; its 200 answer never reaches the station.
    ("after_commit", lambda p, k: p.cut_after_reply(b"HTTP/1.1 200", skip=k)),
]


def test_connection_cuts_many_times_lose_and_double_nothing(central_db, tmp_path) -> None:
    access = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=8, children=30)  # 248 events
    rounds = 12
    with TcpProxy(upstream_of(access)) as proxy:
        worker = worker_for(store, via_proxy(access, proxy), max_batch_events=5)
        try:
            for rnd in range(rounds):
                name, arm = FAULTS[rnd % len(FAULTS)]
                proxy.fired.clear()
                arm(proxy, rnd // len(FAULTS))
                summary = worker.run_once()
                assert proxy.fired.is_set(), f"fault {name} did not fire in round {rnd}"
                assert summary.error is not None and summary.state == "offline", summary
                assert summary.pending > 0
                # The centre holds exactly one batch the station does not know was taken when
                # the answer was lost, none otherwise (what was cut before or in the middle of
                # a request was never applied; the lost batch went again first the next round).
                acked = local_rows(store, "SELECT count(*) FROM events "
                                          "WHERE sync_state != 'pending'")[0][0]
                at_centre = central_scalar(central_db.url, "SELECT count(*) FROM station_events")
                assert at_centre - acked == (5 if name == "after_commit" else 0), (name, rnd)
            assert proxy.fired_count == rounds
            pending_before = local_rows(store, "SELECT count(*) FROM events WHERE sync_state='pending'")[0][0]
            assert 0 < pending_before < total  # some went through, some are still queued
            # Each batch committed whose answer was lost is still pending here: it goes again.
            final = worker.run_once()
        finally:
            worker.close()
    assert final.error is None, final.error
    assert final.pending == 0 and final.converged is True
    _assert_exactly_once(central_db.url, store, total)
    store.close()


def test_killed_station_process_resumes_where_it_was(central_db, tmp_path) -> None:
    access = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=12, children=30)  # 372 events
    store.close()
    env = dict(os.environ, TRACETRACK_NO_KEYRING="1")
    env.pop("TRACETRACK_CENTRAL_TOKEN", None)
    base = ["--basedir", str(tmp_path)]
    cmd = [str(EXE), *base, "sync", "--central", access.url, "--batch", "2", "--interval", "60"]
    proc = subprocess.Popen(cmd, env=dict(env, TRACETRACK_CENTRAL_TOKEN=access.token),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
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
    # The token was kept aside, not in the settings: the restart finds it by itself.
    for f in store.paths.data_dir.iterdir():  # the store, its WAL, ...: all but the secrets
        if f.is_file() and f.name != "secrets.json":
            assert access.token not in f.read_bytes().decode("latin-1"), f.name
    again = subprocess.run([str(EXE), *base, "--json", "sync", "--once"], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["pending"] == 0 and summary["error"] is None
    # Only what was still pending (plus at most the one batch in flight at the kill) is resent.
    assert summary["sent"] <= total - synced + 2
    assert summary["applied"] + summary["duplicate"] == summary["sent"]
    _assert_exactly_once(central_db.url, store, total)
    store.close()


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "just-used"])
def test_service_connections_ended_by_postgresql(central_db, monkeypatch, idle) -> None:
    """PostgreSQL ends the service's connection (a restart, an administrator). Idle longer than
    PING_AFTER_IDLE_S, it is pinged and replaced when taken from the pool, unseen by the
    request; used moments ago, its request fails as "database unavailable" (the station keeps
    its events and retries) and the next request gets a new connection."""
    from central import app

    monkeypatch.setattr(app, "PING_AFTER_IDLE_S", 0.0 if idle else 3600.0)
    token = central_db.register("PK1")
    centre = app.Centre(app.ServiceConfig(url=central_db.service_url()))
    try:
        who = centre.identify(token)
        assert who is not None and who.station_id == "PK1"
        ended = central_scalar(
            central_db.url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'tracetrack-central-serve' AND datname = current_database()")
        assert ended == 1
        if not idle:
            with pytest.raises(TransientError, match="cannot be reached"):
                centre.identify(token)
        who = centre.identify(token)
        assert who is not None and who.station_id == "PK1"
    finally:
        centre.engine.dispose()


# -- restarts mid-drain ------------------------------------------------------------------------


class _Errors(SyncListener):
    """Every run's error, as the worker reported it."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def run_finished(self, summary: SyncSummary) -> None:
        if summary.error:
            self.errors.append(summary.error)


def _pending(store) -> int:
    return local_rows(store, "SELECT count(*) FROM events WHERE sync_state='pending'")[0][0]


def _drain_through(admin_url: str, store, access, disturb, total: int) -> list[str]:
    """The worker drains in small batches on its thread; `disturb()` runs once the drain is
    under way; the worker must finish by itself. Returns the errors it reported."""
    listener = _Errors()
    worker = worker_for(store, access, max_batch_events=2, interval_s=30, listener=listener)
    worker.start()
    try:
        until(lambda: central_scalar(admin_url, "SELECT count(*) FROM station_events") >= 30,
              60, "the drain to start")
        disturb()
        assert _pending(store) > 0, "the disturbance came too late to be mid-drain"
        until(lambda: _pending(store) == 0, 90, "the drain to finish after the disturbance")
        until(lambda: local_rows(store, "SELECT value FROM sync_state WHERE key='centre_state'")
              == [("online",)], 30, "the worker to report online")
    finally:
        worker.stop()
    assert worker.failures == 0
    _assert_exactly_once(admin_url, store, total)
    return listener.errors


@pytest.fixture()
def own_server(tmp_path):
    """A PostgreSQL server of this test alone, so restarting it disturbs nobody else, with the
    sync service in front of it: .url (admin), .service, .restart(), .stop(), .start()."""
    import pgserver  # a test dependency: missing, the run fails (never skips)
    from pgserver._commands import pg_ctl

    from central.db import make_engine, migrate
    from central.roles import ensure_service_role, role_url
    from central.users import add_demo_users

    tmp = Path(tempfile.mkdtemp(prefix="tt-pg-restart-"))
    server = pgserver.get_server(tmp, cleanup_mode="delete")
    service = None
    try:
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
            role, password = ensure_service_role(conn, new_password=True)
        eng.dispose()
        assert password is not None
        service = CentralService(role_url(url, role, password), tmp_path / "serve").start()

        def pg(*args: str) -> None:
            pg_ctl(["-w", *args], pgdata=server.pgdata, user=server.system_user, timeout=60)

        socket = upstream_of(url)  # pgserver listens on a Unix socket only: start it so again
        assert isinstance(socket, str)
        yield SimpleNamespace(
            url=url, service=service,
            restart=lambda: pg("-m", "fast", "restart"),
            stop=lambda: pg("-m", "fast", "stop"),
            start=lambda: pg("-o", '-h ""', "-o", f"-k {os.path.dirname(socket)}",
                             "-l", str(Path(server.pgdata) / "restart.log"), "start"),
        )
    finally:
        if service is not None:
            service.stop()
        server.cleanup()


def _station_at(pg, station_id: str = "D1"):  # noqa: ANN001, ANN202
    from central.stations import add_station

    eng = sa.create_engine(pg.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        token = str(add_station(conn, station_id, "North")["token"])
    eng.dispose()
    return pg.service.access(station_id, token)


@pytest.mark.slow
def test_worker_recovers_by_itself_after_postgresql_restart(own_server, tmp_path) -> None:
    """PostgreSQL restarts while the service runs: the worker backs off through the failed
    requests and finishes by itself; the service rides it out."""
    access = _station_at(own_server)
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=10, children=30)
    errors = _drain_through(own_server.url, store, access, own_server.restart, total)
    assert errors, "the worker never saw the restart"
    proc = own_server.service.proc
    assert proc is not None and proc.poll() is None  # the same service process throughout
    store.close()


@pytest.mark.slow
def test_centre_answers_database_unavailable_while_postgresql_is_down(own_server) -> None:
    """What a station is told while the database is away: 503 database_unavailable with a
    Retry-After (the transport: TransientError, retry later); the service answers again once
    PostgreSQL is back, without being restarted."""
    import httpx

    from sync.errors import TransientError
    from sync.protocol import PullRequest

    access = _station_at(own_server)
    t = access.transport()
    try:
        assert t.whoami()["station_id"] == "D1"
        own_server.stop()
        try:
            r = httpx.get(access.url + "/v1/whoami", timeout=30,
                          headers={"Authorization": f"Bearer {access.token}"})
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "database_unavailable"
            assert int(r.headers["retry-after"]) >= 1
            with pytest.raises(TransientError, match="database cannot be reached"):
                t.pull(PullRequest("D1", None, 10))
        finally:
            own_server.start()

        def answers() -> bool:
            try:
                return t.whoami()["station_id"] == "D1"
            except TransientError:
                return False

        until(answers, 30, "the service to answer again")
    finally:
        t.close()
    proc = own_server.service.proc
    assert proc is not None and proc.poll() is None


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_worker_recovers_by_itself_after_sync_service_restart(central_db, tmp_path, how) -> None:
    """The sync service goes away mid-drain (stopped and started again, or killed outright and
    started again): the worker backs off and finishes by itself, nothing lost or doubled."""
    access = central_db.add_station("D1")
    service = central_db.service()
    store = make_station(tmp_path, "D1")
    total = _scan(store, parents=10, children=30)
    first = service.proc

    def bounce() -> None:
        if how == "restart":
            service.restart()
        else:
            service.stop(signal.SIGKILL)
            service.start()

    errors = _drain_through(central_db.url, store, access, bounce, total)
    assert service.proc is not first and service.starts == 2
    assert errors, "the worker never saw the service go away"
    store.close()
