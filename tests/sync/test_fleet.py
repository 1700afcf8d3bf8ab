"""Several stations with conflicting offline work sync at once: the centre's invariants hold, one
event wins each conflict, every loser is in its own station's sync issues, and after a pull every
station's view agrees with the centre. Also: identity (no events under another station's id) and
revocation (refused, queue kept)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from central.stations import revoke_station
from sync.protocol import PushBatch
from sync.worker import SyncListener, SyncSummary
from tests.sync.stationkit import (
    central_rows,
    central_scalar,
    local_rows,
    login,
    make_station,
    until,
    worker_for,
)

pytestmark = pytest.mark.central

SHARED = [f"SHARED{k:02d}" for k in range(10)]


def _offline_work(store, index: int) -> None:
    """Each station: its own parent, the ten shared children (conflicts), two of its own."""
    svc = login(store)
    try:
        assert svc.record_scan(f"SB{index + 1:05d}").ok
        for code in SHARED + [f"OWN{index:02d}A", f"OWN{index:02d}B"]:
            assert svc.record_scan(code).ok  # accepted locally: the station cannot know yet
    finally:
        svc.close()


class _Done(SyncListener):
    def __init__(self) -> None:
        self.summaries: list[SyncSummary] = []
        self.lock = threading.Lock()

    def run_finished(self, summary: SyncSummary) -> None:
        with self.lock:
            self.summaries.append(summary)


def _shared_winners(admin_url: str) -> dict[str, str]:
    return dict(central_rows(
        admin_url,
        "SELECT c.qr_id, p.qr_id FROM link l JOIN bag c ON c.id = l.child_bag_id "
        "JOIN bag p ON p.id = l.parent_bag_id WHERE c.qr_id LIKE 'SHARED%'"))


def _local_shared(store) -> dict[str, str]:
    return dict(local_rows(store, "SELECT child_code, parent_code FROM links "
                                  "WHERE child_code LIKE 'SHARED%'"))


def _run_fleet(central_db, tmp_path, n: int) -> None:
    stores, workers, listeners = [], [], []
    for i in range(n):
        sid = f"F{i:02d}"
        url = central_db.add_station(sid)
        store = make_station(tmp_path / sid, sid)
        _offline_work(store, i)
        listener = _Done()
        stores.append(store)
        listeners.append(listener)
        workers.append(worker_for(store, url, max_batch_events=5, listener=listener,
                                  interval_s=60))
    # All come back online at once.
    for w in workers:
        w.start()
    try:
        for store in stores:
            until(lambda s=store: local_rows(s, "SELECT count(*) FROM events "
                                                "WHERE sync_state='pending'") == [(0,)],
                  120, "every station to drain")
        winners = _shared_winners(central_db.url)
        # Every station pulls until its view of the contested children is the centre's. (The
        # feed holds back rows of transactions still running elsewhere: it converges, later.)
        for w, listener, store in zip(workers, listeners, stores, strict=True):
            def converged(w=w, lst=listener, s=store) -> bool:
                if _local_shared(s) == winners:
                    return True
                count = len(lst.summaries)
                w.wake()
                until(lambda: len(lst.summaries) > count, 60, "a pull")
                return _local_shared(s) == winners

            until(converged, 60, "the station's view to converge")
    finally:
        for w in workers:
            w.stop()

    eng = sa.create_engine(central_db.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
    eng.dispose()
    winners = _shared_winners(central_db.url)
    assert sorted(winners) == SHARED  # every shared child is in exactly one parent
    total_rejected = 0
    for i, store in enumerate(stores):
        mine = f"SB{i + 1:05d}"
        lost = {c for c, p in winners.items() if p != mine}
        issues = local_rows(store, "SELECT e.child_code, i.reason FROM sync_issues i "
                                   "JOIN events e ON e.seq = i.event_seq")
        assert {c for c, _ in issues} == lost, f"station {i}: every loser is in its sync issues"
        assert {r for _, r in issues} <= {"child_on_other_parent"}
        total_rejected += len(issues)
        # The view agrees with the centre for every shared child, winners and losers alike.
        assert _local_shared(store) == winners
        own = 2 + sum(1 for p in winners.values() if p == mine)
        assert local_rows(store, f"SELECT child_count FROM bags WHERE code='{mine}'") == [(own,)]
        assert central_scalar(central_db.url,
                              f"SELECT child_count FROM bag WHERE qr_id='{mine}'") == own
        store.close()
    assert total_rejected == len(SHARED) * (n - 1)
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == n * 13


def test_two_stations_link_the_same_children_offline(central_db, tmp_path) -> None:
    _run_fleet(central_db, tmp_path, 2)


@pytest.mark.slow
def test_twenty_stations_with_conflicting_offline_work(central_db, tmp_path) -> None:
    _run_fleet(central_db, tmp_path, 20)


def test_station_cannot_send_events_under_another_id(central_db, tmp_path) -> None:
    url_d1 = central_db.add_station("D1")
    central_db.add_station("D2")
    d2 = make_station(tmp_path / "d2", "D2")
    _offline_work(d2, 1)
    # D2's events sent with D1's credential (a copied URL): refused, nothing applied, kept queued.
    worker = worker_for(d2, url_d1)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.state == "blocked" and "D1" in (summary.error or "")
    assert summary.applied == 0 and summary.pending == 13
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 0
    # Forged batch: the batch says D1 (matching the credential) but the events say D2.
    t = url_d1.transport()
    forged = local_rows(d2, "SELECT seq FROM events ORDER BY seq LIMIT 1")
    assert forged
    from sync.errors import StationMismatch
    from sync.pull import event_from_row

    with d2.connect() as conn:
        row = conn.exec_driver_sql("SELECT * FROM events ORDER BY seq LIMIT 1").first()
        conn.rollback()
    wire = event_from_row(row).to_wire()
    try:
        with pytest.raises(StationMismatch):
            t.push(PushBatch("D1", 1, "test", [wire], 1, None, ""))
    finally:
        t.close()
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 0
    d2.close()


def test_revoked_station_is_refused_and_keeps_its_queue(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    svc = login(store)
    svc.record_scan("SB00001")
    svc.record_scan("C0001")
    worker = worker_for(store, url, backoff_cap_s=60)
    try:
        assert worker.run_once().applied == 2
        svc.record_scan("C0002")
        svc.record_scan("C0003")
        eng = central_db.engine(poolclass=sa.pool.NullPool)
        with eng.begin() as conn:
            revoke_station(conn, "D1")
        eng.dispose()
        summary = worker.run_once()
        assert summary.state == "blocked"
        assert "not allowed to sync" in (summary.error or "")
        assert summary.pending == 2
        assert worker.next_delay_s >= 30  # no hammering a centre that said no
    finally:
        worker.close()
        svc.close()
    assert local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1 ORDER BY 1") == [
        ("applied", 2), ("pending", 2)]
    assert local_rows(store, "SELECT value FROM sync_state WHERE key='centre_state'") == [("blocked",)]
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 2
    store.close()
