"""Sending ahead: a station sends its next batch while the centre applies the one before it
(docs/sync.md, "Sending ahead"). The centre applies a batch sent ahead only after the events up
to its after-sequence are stored, so the order of the station's events is kept whatever order
the requests arrive in. Every test runs a real `tracetrack-central serve` process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from sync.errors import OutOfOrder
from sync.protocol import AFTER_SEQ_HEADER
from sync.transport import HttpTransport
from tests.sync.conftest import Events, batch
from tests.sync.stationkit import central_scalar, local_rows, login, make_station, worker_for

pytestmark = pytest.mark.central

def _waiting_on_row(central_db) -> bool:
    """A service session waits for the station's row (held by a batch being applied)."""
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            return bool(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND position('FOR KEY SHARE' in query) > 0").scalar())
    finally:
        eng.dispose()


def test_a_batch_that_arrives_first_waits_for_the_one_before_it(central_db, qtbot) -> None:
    access = central_db.add_station("A1")
    ev = Events("A1")
    first = [ev.parent("SB00001"), ev.link("SB00001", "C00001"), ev.link("SB00001", "C00002")]
    # Applied before the first batch, the unlink would be refused (not linked) and the link of
    # C00003 to a parent the centre does not know yet would create it differently.
    second = [ev.unlink("SB00001", "C00001"), ev.link("SB00001", "C00003")]
    transport = access.transport()
    other = access.transport()
    pool = ThreadPoolExecutor(max_workers=2)
    # The station's row held, as a batch being applied holds it: the batch sent ahead waits on
    # it (without polling) instead of giving up on a predecessor that is not there.
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    holder = eng.connect()
    try:
        holder.exec_driver_sql("SELECT 1 FROM station_stations WHERE station_id = 'A1' "
                               "FOR UPDATE")
        ahead = pool.submit(transport.push, batch("A1", second), after_seq=3)
        qtbot.waitUntil(lambda: _waiting_on_row(central_db), timeout=10_000)
        before = pool.submit(other.push, batch("A1", first))
        holder.rollback()  # the predecessor arrives after the batch sent ahead of it
        reply1 = before.result(timeout=30)
        reply2 = ahead.result(timeout=30)
    finally:
        holder.rollback()
        holder.close()
        eng.dispose()
        pool.shutdown(wait=True)
        transport.close()
        other.close()
    assert [r.result for r in reply1.results] == ["applied"] * 3
    assert [(r.seq, r.result) for r in reply2.results] == [(4, "applied"), (5, "applied")]
    assert reply2.high_seq == 5 and reply2.station_count == 5
    assert central_scalar(central_db, "SELECT count(*) FROM link l JOIN bag c ON c.id = "
                          "l.child_bag_id WHERE c.qr_id IN ('C00002', 'C00003')") == 2
    assert central_scalar(central_db, "SELECT count(*) FROM link l JOIN bag c ON c.id = "
                          "l.child_bag_id WHERE c.qr_id = 'C00001'") == 0


def test_a_batch_whose_predecessor_never_comes_is_refused_and_nothing_written(central_db) -> None:
    central_db.service(extra=("--order-wait", "0.3"))
    access = central_db.add_station("A2")
    ev = Events("A2", start_seq=11)
    transport = access.transport()
    try:
        with pytest.raises(OutOfOrder) as err:
            transport.push(batch("A2", [ev.parent("SB00002")]), after_seq=10)
    finally:
        transport.close()
    assert "sent again" in err.value.message
    assert central_scalar(central_db, "SELECT count(*) FROM station_events") == 0
    assert central_scalar(central_db, "SELECT high_seq FROM station_stations "
                          "WHERE station_id = 'A2'") == 0


def test_a_malformed_after_sequence_is_refused_by_name(central_db) -> None:
    access = central_db.add_station("A3")
    r = httpx.post(access.url + "/v1/push", json={},
                   headers={"Authorization": f"Bearer {access.token}", AFTER_SEQ_HEADER: "-1"})
    assert r.status_code == 400 and AFTER_SEQ_HEADER in r.json()["message"]


class Recording(HttpTransport):
    """The station's own transport, noting the after-sequence of every push and how many
    pushes were in flight at once."""

    def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
        super().__init__(*a, **kw)
        self.afters: list[int | None] = []
        self.first_seqs: list[int] = []
        self.lock = threading.Lock()
        self.now = self.most = 0

    def push(self, b, *, after_seq=None):  # noqa: ANN001, ANN201
        with self.lock:
            self.afters.append(after_seq)
            self.first_seqs.append(b.events[0]["seq"] if b.events else 0)
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super().push(b, after_seq=after_seq)
        finally:
            with self.lock:
                self.now -= 1


def test_the_worker_sends_one_ahead_and_every_event_lands_once_in_order(central_db,
                                                                        tmp_path) -> None:
    access = central_db.add_station("A4")
    store = make_station(tmp_path, "A4")
    svc = login(store)
    try:
        for p in range(4):
            assert svc.record_scan(f"SB{p:05d}").ok
            for c in range(10):
                assert svc.record_scan(f"C{p:02d}{c:03d}").ok
    finally:
        svc.close()
    seen: list[Recording] = []

    def factory() -> Recording:
        t = Recording(access.url, access.token, station_id="A4")
        seen.append(t)
        return t

    worker = worker_for(store, access, max_batch_events=5, pull=False)
    worker.transport_factory = factory
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    t = seen[0]
    assert summary.error is None and summary.applied == 44 and summary.converged is True
    assert summary.batches == 9  # 44 events in batches of 5
    # The first batch alone; after its answer the second goes with nothing in flight, and from
    # then on each next one is sent while the one before is applied, with its last sequence.
    sent = [(a, s) for a, s in zip(t.afters, t.first_seqs, strict=True) if s]
    assert sent[:2] == [(None, 1), (None, 6)]
    assert sent[2:] == [(s - 1, s) for s in range(11, 45, 5)]
    assert t.most == 2  # one ahead, never more
    assert local_rows(store, "SELECT count(*) FROM events WHERE sync_state = 'applied'")[0][0] == 44
    assert central_scalar(central_db, "SELECT count(*) FROM station_events") == 44
    store.close()
