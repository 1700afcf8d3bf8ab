"""A station connected to another centre (a trial centre first, then the real one): it learns
the new centre's identity from its answers, downloads that centre's state afresh and compares
its figures with the new centre's from scratch (docs/sync.md §12, §16)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sync.worker import SyncListener, SyncSummary
from tests.sync.conftest import (
    TEMPLATE,
    CentralDB,
    Events,
    _admin_engine,
    _drop_database,
    push_as,
    with_database,
)
from tests.sync.stationkit import central_scalar, local_rows, make_station, scan, worker_for

pytestmark = pytest.mark.central


@contextmanager
def _second_centre(central_db: CentralDB, central_url: str, tmp_path) -> Iterator[CentralDB]:
    """Another centre: its own database (from the same empty template) and serve process."""
    name = central_db.name + "_b"
    admin = _admin_engine(central_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    other = CentralDB(with_database(central_url, name), name, tmp_path / "serve_b")
    try:
        yield other
    finally:
        other.stop_service()
        _drop_database(admin, name)
        admin.dispose()


def test_connected_to_another_centre_the_station_downloads_that_centres_state(
        central_db, central_url, tmp_path) -> None:
    """Before, the station kept the first centre's download position and asked the new centre
    for what came after it: the new centre's bags never arrived."""
    with _second_centre(central_db, central_url, tmp_path) as other:
        peer = other.add_station("B-PEER")
        ev = Events("B-PEER")
        reply = push_as(peer, "B-PEER", [ev.parent("SB00077"), ev.link("SB00077", "K0001"),
                                         ev.link("SB00077", "K0002")])
        assert [r.result for r in reply.results] == ["applied"] * 3
        access_a = central_db.add_station("MOVE-1")
        store = make_station(tmp_path / "st", "MOVE-1")
        scan(store, ["SB00001", "A0001"])
        worker = worker_for(store, access_a)
        try:
            first = worker.run_once()
            assert (first.error, first.applied, first.notice) == (None, 2, None)
            access_b = other.add_station("MOVE-1")
            worker.use_transport(lambda: access_b.transport())
            moved = worker.run_once()
            assert moved.error is None
            assert "another centre" in (moved.notice or "")
            settled = worker.run_once()  # what B lacked was sent again: now they agree
            assert (settled.converged, settled.notice) == (True, None)
        finally:
            worker.close()
        assert local_rows(store, "SELECT child_count FROM bags WHERE code = 'SB00077'") == [(2,)]
        assert central_scalar(other.url, "SELECT count(*) FROM station_events "
                                         "WHERE station_id = 'MOVE-1'") == 2
        # connecting again to the same centre changes nothing
        worker = worker_for(store, access_b)
        try:
            again = worker.run_once()
            assert (again.sent, again.converged, again.notice) == (0, True, None)
        finally:
            worker.close()
        store.close()


class _Runs(SyncListener):
    def __init__(self) -> None:
        self.runs: list[SyncSummary] = []

    def run_finished(self, summary: SyncSummary) -> None:
        self.runs.append(summary)


def test_a_reinstalled_station_moved_to_another_centre_agrees_with_it(
        central_db, central_url, tmp_path) -> None:
    """A reinstalled store continues after what the first centre held under its id (its base).
    Moved to another centre, which never had those events, it compares from scratch and agrees
    (before: the old base was kept, the figures could never agree, and the worker sent its
    history again and again, hundreds of runs a second)."""
    access_a = central_db.add_station("RM-1")
    first = make_station(tmp_path / "first", "RM-1")
    scan(first, ["SB00001", "A0001", "A0002", "A0003"])
    w = worker_for(first, access_a)
    try:
        assert w.run_once().applied == 4
    finally:
        w.close()
    first.close()
    again = make_station(tmp_path / "again", "RM-1")  # reinstalled: continues after 4
    scan(again, ["SB00002", "B0001", "B0002"])
    with _second_centre(central_db, central_url, tmp_path) as other:
        worker = worker_for(again, access_a)
        heard = _Runs()
        try:
            s = worker.run_once()
            assert s.applied == 3 and s.converged is True and "renumbered" in (s.notice or "")
            assert local_rows(again, "SELECT min(seq), max(seq) FROM events") == [(5, 7)]
            access_b = other.add_station("RM-1")
            worker.use_transport(lambda: access_b.transport())
            worker.listener = heard
            worker.interval_s = 30.0  # healthy runs wait for new events, not a timer
            worker.start()
            from tests.sync.stationkit import until

            until(lambda: any(r.converged for r in heard.runs), timeout=30,
                  what="agreement with the new centre")
        finally:
            worker.stop()
            worker.close()
        assert len(heard.runs) <= 3, [(r.sent, r.converged) for r in heard.runs]
        assert central_scalar(other.url, "SELECT count(*) FROM station_events") == 3
        again.close()
