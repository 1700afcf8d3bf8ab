"""The sync worker against a real centre: drains, results per event, batching, convergence, backoff."""

from __future__ import annotations

import random

import pytest

from station.store.local import LocalStore
from sync.worker import (
    BACKOFF_CAP_S,
    BUSY_CAP_S,
    BUSY_MIN_S,
    SyncListener,
    backoff_delay,
    list_issues,
    read_status,
)
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


def test_a_busy_answer_is_retried_at_the_turn_the_centre_gave() -> None:
    """The centre said busy and when to come back (its turn for the batch): the station comes
    back then, never sooner and at most a fifth later, however many busy answers came before
    (no backoff grown on the luck of the line, not capped below what the centre asked)."""
    rng = random.Random(7)
    for failures in (0, 1, 5, 30):
        delays = [backoff_delay(failures, rng, retry_after=0.3, busy=True) for _ in range(200)]
        assert all(0.3 <= d <= 0.36 for d in delays)
        assert max(delays) - min(delays) > 0.03  # spread, so turned-away stations do not bunch
    assert all(12.5 <= backoff_delay(30, rng, retry_after=12.5, busy=True) <= 15.0
               for _ in range(100))
    assert backoff_delay(3, rng, retry_after=0.0, busy=True) >= BUSY_MIN_S
    assert backoff_delay(3, rng, retry_after=600.0, busy=True) == 600.0  # never sooner


def test_busy_answers_without_a_turn_back_off_to_a_few_seconds_only() -> None:
    """Busy with no time to come back given: the delay grows with the busy answers in a row up
    to BUSY_CAP_S, with full jitter, so a station turned away again and again is back within
    seconds instead of sleeping up to a minute while the centre has room."""
    rng = random.Random(7)
    assert 1.0 < BUSY_CAP_S < BACKOFF_CAP_S
    for failures in range(0, 40):
        ceiling = min(BUSY_CAP_S, 1.0 * 2**failures)
        delays = [backoff_delay(failures, rng, busy=True) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2
    # a link that keeps failing still backs off to the full cap
    assert max(backoff_delay(30, rng) for _ in range(200)) > BUSY_CAP_S * 2


def test_a_batch_reports_the_backlog_and_the_age_of_the_queue_s_head(tmp_path) -> None:
    """Each batch carries the station's backlog (every pending event) and how long the event at
    the head of the queue (the first recorded of those pending) has waited, by the worker's
    clock; a batch sent ahead (after the one in flight) reports the same head."""
    from datetime import UTC, datetime

    from sync.worker import SyncWorker

    store = make_station(tmp_path, "Q1")
    _fill(store, parents=1, children=5)  # six events, seq 1-6
    with store.engine.begin() as conn:
        for seq in range(1, 7):
            conn.exec_driver_sql("UPDATE events SET device_time = ? WHERE seq = ?",
                                 (f"2026-11-02T06:{seq:02d}:00.000+00:00", seq))
        # the device clock jumped back an hour before event 5 was scanned
        conn.exec_driver_sql("UPDATE events SET device_time = '2026-11-02T05:05:00.000+00:00' "
                             "WHERE seq = 5")
    now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    worker = SyncWorker(store, lambda: None, clock=lambda: now, max_batch_events=2)  # type: ignore[arg-type,return-value]
    try:
        first = worker.next_batch()
        assert first is not None and first.seqs == [1, 2]
        assert first.backlog == 6 and first.oldest_pending_s == pytest.approx(59 * 60)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE events SET sync_state = 'applied' WHERE seq <= 2")
        head = worker.next_batch()
        assert head is not None and head.seqs == [3, 4]
        assert head.backlog == 4 and head.oldest_pending_s == pytest.approx(57 * 60)
        ahead = worker.next_batch(after_seq=4)
        assert ahead is not None and ahead.seqs == [5, 6]
        assert ahead.backlog == 4 and ahead.oldest_pending_s == pytest.approx(57 * 60)
    finally:
        worker.close()
        store.close()


def test_a_batch_is_the_events_wire_form_within_its_byte_bound(tmp_path) -> None:
    """The batch is read straight from the rows: each event exactly as Event.to_wire() has it
    (text the JSON encoding escapes at length included), and a byte bound that the cheap
    estimate lets through is still kept when the real encoding is close to it."""
    import json

    from sync.pull import event_from_row
    from sync.worker import _BATCH_SQL, SyncWorker

    store = make_station(tmp_path, "W1")
    _fill(store, parents=1, children=3)  # seq 1-4
    # a character outside the BMP, a quote, a backslash, a control character, a NUL
    odd = "\U0001f600\"\\\x01\x00é"
    with store.engine.begin() as conn:
        # (a NUL first: SQLite's length() of text counts only what comes before it)
        conn.exec_driver_sql("UPDATE events SET operator = ? WHERE seq = 2", ("\x00" + odd * 60,))
        conn.exec_driver_sql("UPDATE events SET data = ? WHERE seq = 4",
                             (json.dumps({"note": odd * 30}),))
        conn.exec_driver_sql("UPDATE events SET data = '' WHERE seq = 3")
        rows = conn.exec_driver_sql("SELECT * FROM events ORDER BY seq").all()
        bounds = [r[-1] for r in conn.exec_driver_sql(_BATCH_SQL, (10,)).all()]
    expected = [event_from_row(r).to_wire() for r in rows]
    whole = len(json.dumps(expected, separators=(",", ":")))
    # the estimate SQLite makes of each event's size is never under its real size
    sizes = [len(json.dumps(w, separators=(",", ":"))) for w in expected]
    assert all(n <= b for n, b in zip(sizes, bounds, strict=True)), (sizes, bounds)
    try:
        worker = SyncWorker(store, lambda: None)  # type: ignore[arg-type,return-value]
        batch = worker.next_batch()
        assert batch is not None and batch.events == expected and batch.seqs == [1, 2, 3, 4]
        worker.close()
        # A limit under the whole encoding (less its commas and brackets): the last no longer fits.
        worker = SyncWorker(store, lambda: None, max_batch_bytes=whole - 10)  # type: ignore[arg-type,return-value]
        batch = worker.next_batch()
        assert batch is not None and batch.seqs == [1, 2, 3]
        worker.close()
        worker = SyncWorker(store, lambda: None, max_batch_bytes=whole)  # type: ignore[arg-type,return-value]
        batch = worker.next_batch()
        assert batch is not None and batch.seqs == [1, 2, 3, 4]
    finally:
        worker.close()
        store.close()


def test_the_worker_reads_its_figures_and_hashes_the_history_without_the_write_lock(
        tmp_path, monkeypatch) -> None:
    """A scan commits under the store's write lock; the worker's status read (after every run
    and every 0.2 s of a drain) and its hashing of the history for the convergence check (0.2 s
    for 200 000 events) must never hold that lock, or the scan waits for them."""
    import sqlite3

    import sync.worker as worker_mod
    from sync.protocol import rolling_hash_of
    from sync.worker import SyncWorker

    store = make_station(tmp_path, "L1")
    _fill(store, parents=1, children=5)  # six events
    worker = SyncWorker(store, lambda: None)  # type: ignore[arg-type,return-value]
    scan = sqlite3.connect(store.paths.store, timeout=0.2, isolation_level=None)
    got_lock: list[bool] = []
    hash_one = worker_mod.rolling_hash

    def hashing(prev: str, event_id: str) -> str:  # a scan arrives while the worker hashes
        if not got_lock:
            try:
                scan.execute("BEGIN IMMEDIATE")
                scan.execute("ROLLBACK")
                got_lock.append(True)
            except sqlite3.OperationalError:
                got_lock.append(False)
        return hash_one(prev, event_id)

    monkeypatch.setattr(worker_mod, "rolling_hash", hashing)
    try:
        count, high, h = worker.local_figures()
        assert got_lock == [True]
        ids = [r[0] for r in local_rows(store, "SELECT event_id FROM events ORDER BY seq")]
        assert (count, high, h) == (6, 6, rolling_hash_of(ids))
        # the status read while a scan holds the write lock: answered at once
        scan.execute("BEGIN IMMEDIATE")
        status = worker.status()
        scan.execute("ROLLBACK")
        assert (status.pending, status.issues) == (6, 0)
    finally:
        scan.close()
        worker.close()
        store.close()


def test_an_event_of_unknown_type_stops_the_batch_as_before(tmp_path) -> None:
    """A row whose type the station does not know is not sent (the same error as reading it as
    an Event), instead of travelling as something the centre would have to guess at."""
    from sync.worker import SyncWorker

    store = make_station(tmp_path, "W2")
    _fill(store, parents=1, children=1)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
        conn.exec_driver_sql("UPDATE events SET type = 'bag_teleported' WHERE seq = 2")
    worker = SyncWorker(store, lambda: None)  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(ValueError, match="bag_teleported"):
            worker.next_batch()
    finally:
        worker.close()
        store.close()


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

    def spy(after_seq=None):  # noqa: ANN001, ANN202
        b = original(after_seq)
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
    """`tracetrack-station sync` as a process: connecting tries the centre first (nothing kept
    when it cannot be reached); a run cut off by the network says so and exits 6 with the
    events still queued; the next run, with the kept address and token, sends them (exit 0)."""
    import json
    import os
    import subprocess
    from pathlib import Path

    from station.paths import resolve
    from tests.sync.proxy import TcpProxy
    from tests.sync.service_proc import free_port
    from tests.sync.stationkit import upstream_of, via_proxy

    exe = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "tracetrack-station"
    access = central_db.add_station("D1")
    env = dict(os.environ, TRACETRACK_NO_KEYRING="1")
    env.pop("TRACETRACK_CENTRAL_TOKEN", None)
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=3)
    store.close()
    base = [str(exe), "--basedir", str(tmp_path), "--json"]

    def run(*args: str, token: str | None = None) -> tuple[int, dict, str]:
        child_env = dict(env, TRACETRACK_CENTRAL_TOKEN=token) if token else env
        p = subprocess.run([*base, *args], env=child_env, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1]), p.stderr

    def central_url_setting() -> str:
        s = LocalStore.open(resolve(tmp_path))
        try:
            return s.settings().central_url
        finally:
            s.close()

    # Nothing listens at the address: refused before anything is kept.
    rc, out, err = run("sync", "--once", "--central", f"http://127.0.0.1:{free_port()}",
                       token=access.token)
    assert rc == 6
    assert "cannot be reached" in out["error"] and "cannot be reached" in err
    assert central_url_setting() == ""
    # No token at all (none in the environment, no terminal to ask at): refused too.
    rc, out, _ = run("sync", "--once", "--central", access.url)
    assert rc == 6 and "TRACETRACK_CENTRAL_TOKEN" in out["error"]
    assert central_url_setting() == ""

    with TcpProxy(upstream_of(access.url)) as proxy:
        proxy_access = via_proxy(access, proxy)
        # The centre knows the token (whoami goes through), then the network drops the push.
        proxy.cut_before_request(b"POST /v1/push")
        rc, out, _ = run("sync", "--once", "--central", proxy_access.url, token=access.token)
        assert proxy.fired.is_set()
        assert rc == 6
        assert out["pending"] == 4 and out["state"] == "offline" and out["sent"] == 0
        assert "cut before its answer" in out["error"]
        assert central_url_setting() == proxy_access.url
        rc, summary, err = run("sync", "--once")  # the address and the token were kept
    assert rc == 0, err
    assert {k: summary[k] for k in ("sent", "applied", "duplicate", "rejected", "pending")} == {
        "sent": 4, "applied": 4, "duplicate": 0, "rejected": 0, "pending": 0}
    assert summary["pulled"] >= 0 and summary["converged"] is True
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 4


class _Recorder:
    """The station's real transport, noting when each push left, when its answer came back
    and what it said."""

    def __init__(self, access) -> None:  # noqa: ANN001
        import threading

        self.inner = access.transport()
        self.lock = threading.Lock()
        # (sent at, answered at, status, Retry-After header, retry_after in the body)
        self.pushes: list[tuple[float, float, int, str | None, float | None]] = []
        self.inner.client.event_hooks["response"].append(self._on_response)
        self._sent_at = 0.0

    def _on_response(self, response) -> None:  # noqa: ANN001
        import time

        if response.request.url.path != "/v1/push":
            return
        answered = time.monotonic()
        response.read()
        retry = response.json().get("retry_after") if response.status_code == 503 else None
        with self.lock:
            self.pushes.append((self._sent_at, answered, response.status_code,
                                response.headers.get("retry-after"), retry))

    def push(self, batch):  # noqa: ANN001, ANN201
        import time

        self._sent_at = time.monotonic()
        return self.inner.push(batch)

    def pull(self, request):  # noqa: ANN001, ANN201
        return self.inner.pull(request)

    def close(self) -> None:
        self.inner.close()

    def seen(self) -> list[tuple[float, float, int, str | None, float | None]]:
        with self.lock:
            return list(self.pushes)


@pytest.mark.central
def test_busy_centre_is_retried_no_sooner_than_it_asked(central_db, tmp_path) -> None:
    """Every admission slot is taken (another session holds them): the service waits its short
    while in line, then answers 503 busy with Retry-After; the station keeps its events, shows
    "syncing" and sends again no sooner than it was asked."""
    import sqlalchemy as sa

    from central.app import ADMISSION_LOCK
    from central.service import EXPRESS_OFFSET
    from sync.worker import SyncSummary, SyncWorker
    from tests.sync.stationkit import until

    # One common slot and one express slot (for small batches like this one): the defaults.
    central_db.service(extra=("--admission-wait", "0.2", "--slots", "1", "--express-slots", "1"))
    slots = (0, EXPRESS_OFFSET)
    access = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    _fill(store, parents=1, children=2)
    holder = sa.create_engine(central_db.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                              poolclass=sa.pool.NullPool)
    transports: list[_Recorder] = []

    def factory() -> _Recorder:
        transports.append(_Recorder(access))
        return transports[-1]

    runs: list[SyncSummary] = []

    class Runs(SyncListener):
        def run_finished(self, summary: SyncSummary) -> None:
            runs.append(summary)

    worker = SyncWorker(store, factory, listener=Runs(), backoff_base_s=0.01, backoff_cap_s=60,
                        interval_s=60)
    try:
        with holder.connect() as conn:
            for slot in slots:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({ADMISSION_LOCK}, {slot})")
            busy = worker.run_once()
            assert busy.state == "syncing" and "busy" in (busy.error or "")
            assert busy.pending == 3 and busy.applied == 0
            [(_sent, _answered, status, header, retry_after)] = transports[0].seen()
            assert status == 503 and header is not None and int(header) >= 1
            assert retry_after is not None and retry_after > 0
            assert worker.next_delay_s >= retry_after  # the centre's retry-after is a floor
            # The worker on its thread (its first run goes at once): it keeps asking, each
            # time no sooner than the previous answer said.
            worker.start()
            until(lambda: len(transports[0].seen()) >= 4, 30, "three more busy answers")
            worker.stop()
            seen = transports[0].seen()[1:]
            assert [s[2] for s in seen] == [503] * len(seen)
            for prev, nxt in zip(seen, seen[1:], strict=False):
                asked = prev[4]
                assert asked is not None and nxt[0] - prev[1] >= asked, (prev, nxt)
            assert _states(store) == {"pending": 3}
            for slot in slots:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({ADMISSION_LOCK}, {slot})")
            conn.rollback()
        # Scanned while the centre was busy: sent after the batch that was turned away
        # (which goes again as it was), none of them lost. The holder's slot is free again.
        _fill(store, parents=1, children=1, prefix="N")
        runs.clear()
        worker.start()
        until(lambda: any(r.pending == 0 and r.error is None for r in list(runs)), 30,
              "the queue to drain once the slot is free")
        worker.stop()
    finally:
        worker.stop()
        worker.close()
        holder.dispose()
    done = list(runs)
    assert [r.error for r in done] == [None] * len(done)
    assert (sum(r.applied for r in done), sum(r.duplicate for r in done), done[-1].pending) == (
        5, 0, 0)
    assert _states(store) == {"applied": 5}
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 5
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


def test_connecting_again_tries_at_once_instead_of_after_the_backoff(central_db, tmp_path) -> None:
    """A station that could not reach its centre backs off (here up to 60 s); the operator
    then connects with a good address and token (the Sync issues screen's Connect). The worker
    tries the new connection at once, not after the rest of its backoff."""
    import time

    from tests.sync.proxy import TcpProxy
    from tests.sync.stationkit import until, upstream_of

    access = central_db.add_station("RC-1")
    store = make_station(tmp_path / "st", "RC-1")
    _fill(store, 1, 3)

    class Runs(SyncListener):
        def __init__(self) -> None:
            self.runs: list = []

        def run_finished(self, summary) -> None:  # noqa: ANN001
            self.runs.append(summary)

    heard = Runs()
    with TcpProxy(upstream_of(access.url)) as proxy:
        proxy.refuse(True)  # the centre cannot be reached
        down = access.at(f"http://127.0.0.1:{proxy.port}")
        worker = worker_for(store, down, backoff_base_s=30.0, backoff_cap_s=60.0)
        worker.rng = random.Random(2)  # a backoff of 28.7 s
        worker.listener = heard
        worker.start()
        try:
            until(lambda: len(heard.runs) == 1, timeout=20, what="the first, failed run")
            backoff = worker.next_delay_s
            assert heard.runs[0].state == "offline" and backoff > 20
            t0 = time.monotonic()
            worker.use_transport(lambda: access.transport())
            until(lambda: any(r.applied for r in heard.runs), timeout=20,
                  what="a run on the new connection")
            assert time.monotonic() - t0 < 10.0
        finally:
            worker.stop()
            worker.close()
    assert _states(store) == {"applied": 4}
    store.close()


def test_a_run_stopped_part_way_is_not_recorded_as_a_sync(central_db, tmp_path) -> None:
    """stop() while a run drains (the window closing): the run ends without sending the rest,
    and the store does not say "online, last sync just now" for a sync that did not finish."""
    access = central_db.add_station("ST-1")
    store = make_station(tmp_path / "st", "ST-1")
    _fill(store, 1, 3)
    worker = worker_for(store, access)
    try:
        worker.stop()  # asked to stop before the run gets going
        stopped = worker.run_once()
        assert (stopped.sent, stopped.state, stopped.pending) == (0, "syncing", 4)
        assert local_rows(store, "SELECT value FROM sync_state WHERE key = 'last_sync_at'") == []
    finally:
        worker.close()
    worker = worker_for(store, access)
    try:
        done = worker.run_once()
        assert (done.applied, done.state) == (4, "online")
        assert len(local_rows(store, "SELECT value FROM sync_state WHERE key = 'last_sync_at'")) == 1
    finally:
        worker.close()
    store.close()


def test_a_listener_that_fails_does_not_stop_syncing(central_db, tmp_path) -> None:
    """The window's listener raising at the end of a run (a bug, a window half closed) used to
    end the sync thread: nothing scanned after it was ever sent. The run is logged as failed
    in the listener, and the worker goes on."""
    from tests.sync.stationkit import until

    access = central_db.add_station("LF1")
    store = make_station(tmp_path, "LF1")
    _fill(store, parents=1, children=2)
    runs: list[int] = []

    class Failing(SyncListener):
        def run_finished(self, summary) -> None:  # noqa: ANN001
            runs.append(summary.pending)
            if len(runs) == 1:
                raise RuntimeError("Internal C++ object already deleted")

    worker = worker_for(store, access, listener=Failing(), interval_s=60)
    try:
        worker.start()
        until(lambda: len(runs) >= 1, 20, "the first run")
        _fill(store, parents=1, children=1, prefix="N")  # scanned after the failure
        worker.wake()
        until(lambda: runs[-1:] == [0] and len(runs) >= 2, 20, "the later scans sent")
        assert worker.running
    finally:
        worker.stop()
        worker.close()
    assert central_scalar(central_db, "SELECT count(*) FROM station_events") == 5
    store.close()
