"""The sync worker against a real centre: drains, results per event, batching, convergence, backoff."""

from __future__ import annotations

import random

import pytest

from station.store.local import LocalStore
from sync.worker import BACKOFF_CAP_S, SyncListener, backoff_delay, list_issues, read_status
from tests.sync.conftest import Events, push_as
from tests.sync.stationkit import (
    central_scalar,
    local_rows,
    login,
    make_station,
    worker_for,
)


def _fill(store: LocalStore, parents: int, children: int, prefix: str = "C") -> None:
    svc = login(store)
    try:
        for p in range(parents):
            assert svc.record_scan(f"SB{p + 1:05d}").ok
            for c in range(children):
                r = svc.record_scan(f"{prefix}{p:03d}{c:03d}")
                assert r.ok, r.message
    finally:
        svc.close()


def _states(store: LocalStore) -> dict[str, int]:
    return dict(local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY sync_state"))


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    rng = random.Random(7)
    for failures in range(0, 40):
        ceiling = min(BACKOFF_CAP_S, 1.0 * 2**failures)
        delays = [backoff_delay(failures, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range (full jitter) ...
        assert min(delays) < ceiling * 0.2  # ... not clustered at the top
    assert BACKOFF_CAP_S <= 60
    assert all(backoff_delay(0, rng, retry_after=12.5) >= 12.5 for _ in range(100))


@pytest.mark.central
def test_drain_marks_every_event_and_converges(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=3, children=30)  # three full parents
    svc = login(store)
    svc.record_scan("SB00004")
    for c in range(4):
        svc.record_scan(f"X{c:05d}")
    svc.close()
    total = 3 * 31 + 5
    worker = worker_for(store, url, max_batch_events=40)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.error is None, summary.error
    assert (summary.sent, summary.applied, summary.rejected, summary.pending) == (total, total, 0, 0)
    assert summary.batches == -(-total // 40)
    assert summary.converged is True
    assert _states(store) == {"applied": total}
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == total
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id='SB00004'") == 4
    assert central_scalar(central_db.url, "SELECT status FROM bag WHERE qr_id='SB00001'") == "completed"
    with store.connect() as conn:
        status = read_status(conn)
    assert (status.state, status.pending, status.issues) == ("online", 0, 0)
    assert status.last_sync_at is not None
    # A second run sends nothing and still agrees with the centre.
    worker = worker_for(store, url)
    try:
        again = worker.run_once()
    finally:
        worker.close()
    assert (again.sent, again.converged) == (0, True)
    store.close()


@pytest.mark.central
def test_batches_are_bounded_by_bytes(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=2, children=10)
    sizes: list[int] = []

    class Count(SyncListener):
        pass

    worker = worker_for(store, url, max_batch_bytes=1200, listener=Count())
    original = worker.next_batch

    def spy():
        b = original()
        if b is not None:
            import json

            sizes.append(len(b.events))
            assert len(json.dumps(b.events)) <= 1200 + 400 * len(b.events)
        return b

    worker.next_batch = spy  # type: ignore[method-assign]
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.applied == 22 and summary.error is None
    assert max(sizes) < 22 and len(sizes) == summary.batches > 1
    store.close()


@pytest.mark.central
def test_one_bad_event_in_a_thousand(central_db, tmp_path) -> None:
    """999 applied in the same drain, the one rejected lands in sync issues with the reason."""
    url = central_db.add_station("D1")
    other = central_db.add_station("D2")
    ev = Events("D2")
    # Another station already put child C010005 into SB90000.
    push_as(other, "D2", [ev.parent("SB90000"), ev.link("SB90000", "C010005")])
    store = make_station(tmp_path, "D1")
    svc = login(store)
    n = 0
    p = 0
    while n < 1000:
        p += 1
        svc.record_scan(f"SB{p:05d}")
        n += 1
        for c in range(29):
            if n >= 1000:
                break
            assert svc.record_scan(f"C{p:03d}{c:03d}").ok
            n += 1
    svc.close()
    assert local_rows(store, "SELECT count(*) FROM events")[0][0] == 1000
    worker = worker_for(store, url)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert (summary.applied, summary.rejected, summary.pending) == (999, 1, 0)
    with store.connect() as conn:
        issues = list_issues(conn)
    assert len(issues) == 1
    assert issues[0].reason == "child_on_other_parent"
    assert "C010005" in issues[0].message and "SB90000" in issues[0].message
    # The local view follows the centre: the child is where the centre has it.
    assert local_rows(store, "SELECT parent_code FROM links WHERE child_code='C010005'") == [
        ("SB90000",)
    ]
    assert local_rows(store, "SELECT child_count FROM bags WHERE code='SB00010'") == [(28,)]
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id='SB00010'") == 28
    store.close()


@pytest.mark.central
def test_convergence_mismatch_is_repaired_by_resending(central_db, tmp_path) -> None:
    """The centre lost this station's last events (restored from an older backup): the station
    notices after its next drain, says so, and resends what the centre lacks."""
    from sync.protocol import rolling_hash_of
    from tests.sync.stationkit import central_exec

    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=10)  # 11 events
    worker = worker_for(store, url)
    try:
        assert worker.run_once().converged is True
        ids = [r[0] for r in local_rows(store, "SELECT event_id FROM events ORDER BY seq")]
        central_exec(central_db.url, "DELETE FROM station_events WHERE station_id = 'D1' AND seq > 6")
        central_exec(
            central_db.url,
            "UPDATE station_stations SET high_seq = 6, event_count = 6, rolling_hash = %s "
            "WHERE station_id = 'D1'", rolling_hash_of(ids[:6]))
        found = worker.run_once()
        assert found.converged is False
        with store.connect() as conn:
            note = conn.exec_driver_sql(
                "SELECT value FROM sync_state WHERE key = 'convergence'").scalar()
            conn.rollback()
        assert "disagree" in note and "centre 6 up to 6" in note
        assert _states(store) == {"applied": 6, "pending": 5}  # queued again, not lost
        repaired = worker.run_once()
    finally:
        worker.close()
    assert repaired.sent == 5 and repaired.converged is True
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 11
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id='SB00001'") == 10
    store.close()


@pytest.mark.central
def test_sync_command_json_summary_and_exit_status(central_db, tmp_path) -> None:
    import json
    import os
    import subprocess
    from pathlib import Path

    from tests.sync.proxy import TcpProxy
    from tests.sync.stationkit import upstream_of, via_proxy

    exe = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tracetrack-station"
    env = dict(os.environ, TRACETRACK_NO_KEYRING="1")
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=3)
    store.close()
    base = [str(exe), "--basedir", str(tmp_path), "--json"]

    def run(*args: str) -> tuple[int, dict]:
        p = subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=120)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    with TcpProxy(upstream_of(central_db.url)) as proxy:
        proxy.refuse(True)  # the centre is unreachable
        rc, out = run("sync", "--once", "--central", via_proxy(url, proxy))
        assert rc == 6
        assert out["pending"] == 4 and out["state"] == "offline"
        assert "unreachable" in out["error"]
        proxy.refuse(False)
        rc, summary = run("sync", "--once")  # the URL and password were kept
    assert rc == 0
    assert {k: summary[k] for k in ("sent", "applied", "duplicate", "rejected", "pending")} == {
        "sent": 4, "applied": 4, "duplicate": 0, "rejected": 0, "pending": 0}
    assert summary["pulled"] >= 0 and summary["converged"] is True


@pytest.mark.central
def test_busy_centre_is_retried_no_sooner_than_it_asked(central_db, tmp_path) -> None:
    """Every admission slot is taken (another station applying a batch): the station is told
    "busy, retry after N s", keeps its events, shows "syncing" and waits at least N s."""
    import sqlalchemy as sa

    from sync.transport import ADMISSION_LOCK, ADMISSION_SLOTS, DirectTransport
    from sync.worker import SyncWorker

    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=2)
    holder = sa.create_engine(central_db.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                              poolclass=sa.pool.NullPool)
    worker = SyncWorker(store, lambda: DirectTransport(url, station_id="D1", busy_retry_s=4.0),
                        backoff_base_s=0.01, backoff_cap_s=60)
    try:
        with holder.connect() as conn:
            for slot in range(ADMISSION_SLOTS):
                assert conn.exec_driver_sql(
                    f"SELECT pg_try_advisory_lock({ADMISSION_LOCK}, {slot})").scalar()
            busy = worker.run_once()
            assert busy.state == "syncing" and "busy" in (busy.error or "")
            assert busy.pending == 3 and busy.applied == 0
            assert worker.next_delay_s >= 4.0 * 0.5  # the centre's retry-after is a floor
            conn.rollback()
        # Scanned while the centre was busy: sent after the batch that was turned away
        # (which goes again as it was), none of them lost.
        _fill(store, parents=1, children=1, prefix="N")
        # The holder's session ended: its slots are free again.
        done = worker.run_once()
    finally:
        worker.close()
        holder.dispose()
    assert (done.error, done.applied, done.duplicate, done.pending) == (None, 5, 0, 0)
    assert _states(store) == {"applied": 5}
    store.close()


@pytest.mark.central
def test_upgrade_required_blocks_and_keeps_the_queue(central_db, tmp_path, monkeypatch) -> None:
    import sync.worker as worker_mod

    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=2)
    monkeypatch.setattr(worker_mod, "PROTOCOL_VERSION", 99)  # a station far newer than the centre
    worker = worker_for(store, url)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.state == "blocked" and "upgrade" in (summary.error or "").lower()
    assert summary.pending == 3
    assert _states(store) == {"pending": 3}
    with store.connect() as conn:
        status = read_status(conn)
    assert status.state == "blocked" and "protocol version 99" in (status.message or "")
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 0
    store.close()
