"""Admission at the sync service: a bounded number of batches applied at once, a short line to
wait in (first come, first served, across workers), 503 + Retry-After beyond it, and an express
lane that keeps a live station's fresh scans from waiting behind catch-up batches."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from central.app import ADMISSION_LOCK
from central.service import EXPRESS_OFFSET, Turns
from sync.errors import Busy, OutOfOrder
from tests.sync.conftest import Events, batch, push_as
from tests.sync.service_proc import CentralService
from tests.sync.stationkit import central_scalar, until

pytestmark = pytest.mark.central


@pytest.fixture
def slow_line(central_db, tmp_path):
    """A serve process whose admission wait is short (0.5 s), and an admin session that can
    hold its slots the way a long batch of another station would."""
    service = CentralService(central_db.service_url(), tmp_path / "adm",
                             extra=("--admission-wait", "0.5"))
    service.start()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    conn = eng.connect()
    yield service, conn
    conn.rollback()
    conn.close()
    eng.dispose()
    service.stop()


def _hold(conn, slot: int) -> None:
    conn.exec_driver_sql("SELECT pg_advisory_lock(%s, %s)", (ADMISSION_LOCK, slot))


def _release(conn, slot: int) -> None:
    conn.exec_driver_sql("SELECT pg_advisory_unlock(%s, %s)", (ADMISSION_LOCK, slot))


def _waiting_in_line(conn, n: int, what: str) -> None:
    """Until `n` batches wait in PostgreSQL's lock queue for an admission slot."""
    until(lambda: conn.exec_driver_sql(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid = %s", (ADMISSION_LOCK,)).scalar() == n, timeout=20, what=what)


def _batches(sid: str) -> tuple[list[dict], list[dict]]:
    ev = Events(sid)
    big = [ev.parent("SB00001")] + [ev.link("SB00001", f"{sid}C{i:03d}") for i in range(29)]
    big += [ev.parent("SB00002")] + [ev.link("SB00002", f"{sid}D{i:03d}") for i in range(29)]
    return big, [ev.parent("SB00003")]


def test_fresh_scans_pass_while_catch_up_batches_are_turned_away(central_db, slow_line) -> None:
    service, conn = slow_line
    big_token = central_db.register("BIG")
    live_token = central_db.register("LIVE")
    big, _ = _batches("BIG")
    ev = Events("LIVE")
    _hold(conn, 0)  # the one common slot is taken by a long batch
    with pytest.raises(Busy) as busy:
        push_as(service.access("BIG", big_token), "BIG", big)
    assert busy.value.retry_after > 0
    reply = push_as(service.access("LIVE", live_token), "LIVE", [ev.parent("SB00009")])
    assert reply.results[0].result == "applied"  # through the express lane
    # with the express slot taken too, a small batch is turned away after its wait
    _hold(conn, EXPRESS_OFFSET)
    with pytest.raises(Busy):
        push_as(service.access("LIVE", live_token), "LIVE", [ev.link("SB00009", "LIVEC1")])
    _release(conn, EXPRESS_OFFSET)
    _release(conn, 0)
    assert len(push_as(service.access("BIG", big_token), "BIG", big).results) == 60


def test_a_batch_waits_in_line_instead_of_being_sent_away(central_db, tmp_path) -> None:
    service = CentralService(central_db.service_url(), tmp_path / "line",
                             extra=("--admission-wait", "20"))
    service.start()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    conn = eng.connect()
    try:
        token = central_db.register("W1")
        big, _ = _batches("W1")
        _hold(conn, 0)
        out: dict = {}

        transport = service.access("W1", token).transport()

        def push() -> None:
            try:
                out["reply"] = transport.push(batch("W1", big))
            except Exception as exc:  # noqa: BLE001 - reported below
                out["error"] = exc

        t = threading.Thread(target=push, name="waiting-push")
        t.start()
        _waiting_in_line(conn, 1, "the batch waiting in line for the slot")
        _release(conn, 0)
        t.join(30)
        assert "error" not in out, out.get("error")
        assert sum(r.result == "applied" for r in out["reply"].results) == 60
        # It had to queue: the centre tells the station not to send ahead (docs/sync.md §4a);
        # a station whose batch found a slot free is not told so.
        assert transport.ahead_welcome is False
        transport.close()
        other = service.access("W2", central_db.register("W2")).transport()
        try:
            other.push(batch("W2", [Events("W2").parent("SB00005")]))
            assert other.ahead_welcome is True
        finally:
            other.close()
    finally:
        conn.rollback()
        conn.close()
        eng.dispose()
        service.stop()


def test_while_stations_are_turned_away_replies_ask_not_to_send_ahead(central_db, slow_line,
                                                                      qtbot) -> None:
    """A storm: a batch turned away busy makes the next replies say "don't send ahead" (a batch
    sent ahead would only add to the pushes turned away); once no one has been turned away for a
    while, they welcome it again, and the station's transport follows the latest reply."""
    service, conn = slow_line
    big, _ = _batches("T1")
    _hold(conn, 0)
    with pytest.raises(Busy):
        push_as(service.access("T1", central_db.register("T1")), "T1", big)
    _release(conn, 0)
    calm = service.access("T2", central_db.register("T2")).transport()
    ev = Events("T2")
    try:
        calm.push(batch("T2", [ev.parent("SB00001")]))
        assert calm.ahead_welcome is False
        n = [1]

        def welcome_again() -> bool:
            n[0] += 1
            calm.push(batch("T2", [ev.link("SB00001", f"T2C{n[0]:03d}")]))
            return calm.ahead_welcome

        qtbot.waitUntil(welcome_again, timeout=15_000)
    finally:
        calm.close()


def test_a_batch_sent_ahead_of_one_turned_away_is_answered_at_once(central_db) -> None:
    """The batch before it was refused (so it never holds the station's row and never lands):
    the one sent ahead is answered out_of_order after about a second with nothing written,
    instead of holding a service thread for the whole order wait."""
    central_db.service(extra=("--order-wait", "30"))
    access = central_db.add_station("T3")
    ev = Events("T3", start_seq=61)
    transport = access.transport()
    try:
        t0 = time.monotonic()
        with pytest.raises(OutOfOrder):
            transport.push(batch("T3", [ev.parent("SB00004")]), after_seq=60)
        waited = time.monotonic() - t0
    finally:
        transport.close()
    assert waited < 15, waited  # not the 30 s order wait
    assert central_scalar(central_db, "SELECT count(*) FROM station_events "
                          "WHERE station_id = 'T3'") == 0


def test_with_no_line_a_push_is_turned_away_before_its_events_are_read(central_db,
                                                                       tmp_path) -> None:
    """No admission wait: a push finding every slot taken gets 503 before its body is decoded
    (in a storm most pushes end there, so they must cost little); the same body with a slot
    free is read, and refused for what it is."""
    service = CentralService(central_db.service_url(), tmp_path / "noline",
                             extra=("--admission-wait", "0"))
    service.start()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    conn = eng.connect()
    token = central_db.register("N1")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    not_json = b'{"station_id": "N1", "events": [' + b'{"event_id": "x"},' * 40 + b' oops'
    try:
        _hold(conn, 0)
        r = httpx.post(service.url + "/v1/push", content=not_json, headers=headers)
        assert r.status_code == 503 and r.json()["error"] == "busy", r.text
        assert int(r.headers["Retry-After"]) >= 1
        _release(conn, 0)
        r = httpx.post(service.url + "/v1/push", content=not_json, headers=headers)
        assert r.status_code == 400 and r.json()["error"] == "bad_json", r.text
        # and a real batch goes through once the slot is free
        reply = push_as(service.access("N1", token), "N1", [Events("N1").parent("SB00001")])
        assert reply.results[0].result == "applied"
    finally:
        conn.rollback()
        conn.close()
        eng.dispose()
        service.stop()


def test_serve_takes_one_slot_per_worker_by_default(central_db, tmp_path) -> None:
    """`serve --workers 2` without `--slots` applies two batches at once (BENCHMARKS.md: one
    decided while the other is written): with one slot held a batch still gets in, with both
    held it is turned away."""
    service = CentralService(central_db.service_url(), tmp_path / "two", workers=2,
                             extra=("--admission-wait", "0"))
    service.start()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    conn = eng.connect()
    try:
        access = service.access("TW", central_db.register("TW"))
        big, _ = _batches("TW")
        _hold(conn, 0)
        assert sum(r.result == "applied" for r in push_as(access, "TW", big[:30]).results) == 30
        _hold(conn, 1)
        with pytest.raises(Busy):
            push_as(access, "TW", big[30:])
        _release(conn, 1)
        assert sum(r.result == "applied" for r in push_as(access, "TW", big[30:]).results) == 30
        _release(conn, 0)
    finally:
        conn.rollback()
        conn.close()
        eng.dispose()
        service.stop()


@contextlib.contextmanager
def _serving(central_db, folder, extra: tuple[str, ...]) -> Iterator[tuple[CentralService, Any,
                                                                         list[threading.Thread]]]:
    """A serve process with `extra`, an admin session, and a list for the threads pushing in
    the background (joined before the service stops)."""
    service = CentralService(central_db.service_url(), folder, extra=extra)
    service.start()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    conn = eng.connect()
    threads: list[threading.Thread] = []
    try:
        yield service, conn, threads
    finally:
        conn.rollback()
        for t in threads:
            t.join(30)
        conn.close()
        eng.dispose()
        service.stop()


def _push_behind(threads: list[threading.Thread], access, sid: str, events: list[dict]) -> dict:
    """Push on a thread of its own; the dict gets its "reply" or "error", and "thread"."""
    out: dict = {}

    def run() -> None:
        try:
            out["reply"] = push_as(access, sid, events)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            out["error"] = exc

    out["thread"] = threading.Thread(target=run, name=f"push-{sid}")
    out["thread"].start()
    threads.append(out["thread"])
    return out


def _applied_behind(out: dict) -> int:
    out["thread"].join(30)
    assert "error" not in out, out.get("error")
    return sum(r.result == "applied" for r in out["reply"].results)


@pytest.mark.parametrize("worker_slots", [1, 0])
def test_a_worker_applies_one_catch_up_batch_at_a_time(central_db, tmp_path,
                                                       worker_slots: int) -> None:
    """Two slots, one worker: with `--worker-slots 1` (what serve takes with one slot per
    worker) a second catch-up batch waits for the worker's first one even though a slot is free
    (two batches under one interpreter lock would only take turns), and is turned away after
    its wait; fresh scans still pass. With `--worker-slots 0` it takes the free slot."""
    extra = ("--slots", "2", "--worker-slots", str(worker_slots), "--admission-wait", "0.5")
    first, _ = _batches("G1")
    ev = Events("G2")  # parents of its own, so either batch may go first
    second = [ev.parent("SB00011")] + [ev.link("SB00011", f"G2C{i:03d}") for i in range(29)]
    second += [ev.parent("SB00012")] + [ev.link("SB00012", f"G2D{i:03d}") for i in range(29)]
    tokens = {sid: central_db.register(sid) for sid in ("G1", "G2", "G3")}
    with _serving(central_db, tmp_path / f"gate{worker_slots}", extra) as (service, conn, threads):
        # G1's batch is in the worker, stopped at its station's row (held here)
        conn.exec_driver_sql("SELECT 1 FROM station_stations WHERE station_id = 'G1' FOR UPDATE")
        out = _push_behind(threads, service.access("G1", tokens["G1"]), "G1", first)
        until(lambda: conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND application_name = 'tracetrack-central-serve'").scalar() == 1,
              timeout=20, what="G1's batch waiting for its station's row")
        if worker_slots == 1:
            with pytest.raises(Busy):
                push_as(service.access("G2", tokens["G2"]), "G2", second)
            assert central_scalar(central_db, "SELECT count(*) FROM station_events "
                                  "WHERE station_id = 'G2'") == 0
        else:
            applied = push_as(service.access("G2", tokens["G2"]), "G2", second).results
            assert sum(r.result == "applied" for r in applied) == 60
        live = push_as(service.access("G3", tokens["G3"]), "G3", [Events("G3").parent("SB00009")])
        assert live.results[0].result == "applied"  # fresh scans do not wait for the gate
        conn.rollback()  # G1's row is free: its batch goes on
        assert _applied_behind(out) == 60
        # the worker let its gate go with that batch: the next one gets in
        assert len(push_as(service.access("G2", tokens["G2"]), "G2", second).results) == 60
        assert central_scalar(central_db, "SELECT count(*) FROM station_events "
                              "WHERE station_id = 'G2'") == 60


def test_beyond_the_queue_a_catch_up_batch_is_turned_away_at_once(central_db, tmp_path) -> None:
    """`--queue 1`: with one catch-up batch in the worker (waiting in line for the slot held
    here), the next is answered busy at once instead of waiting its turn in a long line; fresh
    scans queue apart and pass; the waiting batch is applied once the slot is free."""
    first, _ = _batches("Q1")
    ev = Events("Q2")
    second = [ev.parent("SB00011")] + [ev.link("SB00011", f"Q2C{i:03d}") for i in range(29)]
    tokens = {sid: central_db.register(sid) for sid in ("Q1", "Q2", "Q3")}
    extra = ("--queue", "1", "--admission-wait", "20")
    with _serving(central_db, tmp_path / "q1", extra) as (service, conn, threads):
        _hold(conn, 0)
        out = _push_behind(threads, service.access("Q1", tokens["Q1"]), "Q1", first)
        _waiting_in_line(conn, 1, "Q1's batch waiting in line")
        t0 = time.monotonic()
        with pytest.raises(Busy) as busy:
            push_as(service.access("Q2", tokens["Q2"]), "Q2", second)
        assert time.monotonic() - t0 < 10  # not after the 20 s admission wait
        assert "queue" in str(busy.value)
        live = push_as(service.access("Q3", tokens["Q3"]), "Q3", [Events("Q3").parent("SB00021")])
        assert live.results[0].result == "applied"
        _release(conn, 0)
        assert _applied_behind(out) == 60
        assert central_scalar(central_db, "SELECT count(*) FROM station_events "
                              "WHERE station_id = 'Q2'") == 0


def test_batches_turned_away_are_given_turns_one_after_another(central_db, tmp_path) -> None:
    """`--queue 1`, one worker, its line full: each catch-up batch turned away is told to come
    back at a later turn than the one before it (Retry-After), so a storm's stations come back
    one after another; once the turns given have passed, the next batch turned away is told to
    come back soon again. Nothing of the turned-away batches is written."""
    first, _ = _batches("T1")
    sids = [f"T{i}" for i in range(2, 8)]
    tokens = {sid: central_db.register(sid) for sid in ["T1", *sids]}
    extra = ("--queue", "1", "--admission-wait", "20", "--workers", "1")
    with _serving(central_db, tmp_path / "turns", extra) as (service, conn, threads):
        _hold(conn, 0)
        out = _push_behind(threads, service.access("T1", tokens["T1"]), "T1", first)
        _waiting_in_line(conn, 1, "T1's batch waiting in line")
        given: list[tuple[float, float]] = []  # (when answered, come back after)
        transports = {sid: service.access(sid, tokens[sid]).transport() for sid in sids}
        try:
            pushes = []
            for sid, transport in transports.items():
                transport.whoami()  # connected before, so the pushes come close together
                ev = Events(sid)
                pushes.append(batch(sid, [ev.parent("SB00031")] + [
                    ev.link("SB00031", f"{sid}C{i:03d}") for i in range(29)]))
            for pb, transport in zip(pushes, transports.values(), strict=True):
                with pytest.raises(Busy) as busy:
                    transport.push(pb)
                given.append((time.monotonic(), busy.value.retry_after))
        finally:
            for transport in transports.values():
                transport.close()
        due = [at + after for at, after in given]
        assert due == sorted(due) and due[-1] - due[0] > 0.1, given  # later and later turns
        assert given[-1][1] > given[0][1]
        # Fresh scans have a book of their own: with the express slot taken and one small batch
        # waiting for it, another is turned away with a turn of its own, not one behind the
        # catch-up batches' turns given above
        _hold(conn, EXPRESS_OFFSET)
        small = _push_behind(threads, service.access("T2", tokens["T2"]), "T2",
                             [Events("T2").parent("SB00051")])
        _waiting_in_line(conn, 2, "T2's fresh scan waiting in line too")
        with pytest.raises(Busy) as live:
            push_as(service.access("T3", tokens["T3"]), "T3", [Events("T3").parent("SB00061")])
        assert live.value.retry_after == pytest.approx(Turns().floor_s)  # its book's first turn
        assert live.value.retry_after < given[-1][1]
        _release(conn, EXPRESS_OFFSET)
        assert _applied_behind(small) == 1
        # after the last turn given has passed, a batch turned away gets a turn soon again
        until(lambda: time.monotonic() > due[-1], timeout=30, what="the turns to pass")
        ev = Events("T4")
        with pytest.raises(Busy) as again:
            push_as(service.access("T4", tokens["T4"]), "T4",
                    [ev.parent("SB00041")] + [ev.link("SB00041", f"T4E{i:03d}") for i in range(29)])
        assert again.value.retry_after < given[-1][1]
        _release(conn, 0)
        assert _applied_behind(out) == 60
        assert central_scalar(central_db, "SELECT count(*) FROM station_events "
                              "WHERE station_id <> 'T1'") == 1  # T2's fresh scan only
