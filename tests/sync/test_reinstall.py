"""A reinstalled or restored station continues after what the centre already holds for its id:
no seq_conflict loop, nothing lost on either side (sync/align.py)."""

from __future__ import annotations

import shutil

import pytest

from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import (
    central_rows,
    central_scalar,
    local_rows,
    make_station,
    scan,
    upstream_of,
    worker_for,
)

pytestmark = pytest.mark.central


def _sync(store, access):
    worker = worker_for(store, access)
    try:
        return worker.run_once()
    finally:
        worker.close()


def _no_conflicts(central_db) -> None:
    reasons = central_rows(central_db.url, "SELECT coalesce(reason, '') FROM station_events")
    assert not [r for (r,) in reasons if r == "seq_conflict"]


def test_reinstalled_station_continues_after_the_centres_sequence(central_db, tmp_path) -> None:
    access = central_db.add_station("RI-1")
    first = make_station(tmp_path / "first", "RI-1")
    scan(first, ["SB00001"] + [f"A{i:04d}" for i in range(9)])
    assert _sync(first, access).applied == 10
    first.close()
    # the computer is reinstalled: a new store with the same id and token, scans before syncing
    again = make_station(tmp_path / "again", "RI-1")
    scan(again, ["SB00002", "B0001", "B0002", "B0003", "B0004"])
    assert [s for (s,) in local_rows(again, "SELECT seq FROM events ORDER BY seq")] == [1, 2, 3, 4, 5]
    summary = _sync(again, access)
    assert summary.error is None and summary.applied == 5 and summary.rejected == 0
    assert "renumbered" in (summary.notice or "") and "Nothing was lost" in summary.notice
    assert summary.converged is True
    assert [s for (s,) in local_rows(again, "SELECT seq FROM events ORDER BY seq")] == list(range(11, 16))
    # new scans continue after it, and the next drain agrees with the centre at once
    scan(again, ["B0005"])
    assert local_rows(again, "SELECT max(seq) FROM events")[0][0] == 16
    summary = _sync(again, access)
    assert summary.applied == 1 and summary.converged is True and summary.notice is None
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 16
    assert central_scalar(central_db.url, "SELECT max(seq) FROM station_events") == 16
    _no_conflicts(central_db)
    # what the first installation scanned is still at the centre, and pulled into the new store
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 9
    assert local_rows(again, "SELECT child_count FROM bags WHERE code = 'SB00001'") == [(9,)]


def test_store_restored_from_an_older_backup(central_db, tmp_path) -> None:
    access = central_db.add_station("RB-1")
    store = make_station(tmp_path / "live", "RB-1")
    scan(store, ["SB00001", "C0001", "C0002", "C0003", "C0004"])
    assert _sync(store, access).applied == 5
    store.close()
    shutil.copytree(tmp_path / "live", tmp_path / "backup")  # last night's backup
    from station.paths import resolve
    from station.store.local import LocalStore

    store = LocalStore.open(resolve(tmp_path / "live"))
    scan(store, ["C0005", "C0006", "C0007", "C0008", "C0009"])
    assert _sync(store, access).applied == 5
    store.close()
    restored = LocalStore.open(resolve(tmp_path / "backup"))  # the disk died: back to the backup
    scan(restored, ["SB00002", "D0001", "D0002"])
    summary = _sync(restored, access)
    assert summary.error is None and (summary.applied, summary.rejected) == (3, 0)
    assert summary.converged is True
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 13
    _no_conflicts(central_db)
    assert local_rows(restored, "SELECT child_count FROM bags WHERE code = 'SB00001'") == [(9,)]
    restored.close()


def test_a_reinstalled_station_that_starts_offline_still_continues_after_the_centre(
        central_db, tmp_path) -> None:
    """The question to the centre (what do you hold under my id?) fails while the link is
    down; the worker asks it again on the first run that reaches the centre, before pushing,
    instead of pushing numbers the centre already holds (each refused as seq_conflict)."""
    access = central_db.add_station("RI-2")
    first = make_station(tmp_path / "first", "RI-2")
    scan(first, ["SB00001", "A0001", "A0002", "A0003"])
    assert _sync(first, access).applied == 4
    first.close()
    again = make_station(tmp_path / "again", "RI-2")  # reinstalled, in a shed with no link
    scan(again, ["SB00002", "B0001", "B0002"])
    with TcpProxy(upstream_of(access.url)) as proxy:
        worker = worker_for(again, access.at(f"http://127.0.0.1:{proxy.port}"))
        try:
            proxy.refuse(True)
            down = worker.run_once()
            assert down.error is not None and down.state == "offline" and down.applied == 0
            proxy.refuse(False)  # the link is back
            summary = worker.run_once()
        finally:
            worker.close()
    assert summary.error is None and (summary.applied, summary.rejected) == (3, 0)
    assert "renumbered" in (summary.notice or "")
    assert summary.converged is True
    assert [s for (s,) in local_rows(again, "SELECT seq FROM events ORDER BY seq")] == [5, 6, 7]
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 7
    _no_conflicts(central_db)
    again.close()


def test_a_backup_with_events_queued_that_the_centre_received_since(central_db, tmp_path) -> None:
    """Last night's backup still had three events queued (the station was offline); the live
    store sent them and two more, then its disk died and the backup came back. The three are
    the centre's already, under the same numbers: they are marked with their first results,
    only the new scan is renumbered after the centre's, and everything converges. (Before, all
    four were renumbered, the centre refused the three by their ids with a 500 on every try,
    and nothing the station scanned after the restore ever reached the centre.)"""
    from station.paths import resolve
    from station.store.local import LocalStore

    access = central_db.add_station("RB-2")
    store = make_station(tmp_path / "live", "RB-2")
    scan(store, ["SB00001", "C0001", "C0002"])  # offline all day: 3 events queued
    store.close()
    shutil.copytree(tmp_path / "live", tmp_path / "backup")
    store = LocalStore.open(resolve(tmp_path / "live"))
    assert _sync(store, access).applied == 3
    scan(store, ["C0003", "C0004"])
    assert _sync(store, access).applied == 2
    store.close()
    restored = LocalStore.open(resolve(tmp_path / "backup"))  # the disk died
    scan(restored, ["C0005"])
    summary = _sync(restored, access)
    assert summary.error is None, summary.error
    assert (summary.pending, summary.rejected, summary.converged) == (0, 0, True)
    assert "renumbered" in (summary.notice or "")
    assert local_rows(restored, "SELECT seq, sync_state FROM events ORDER BY seq") == [
        (1, "applied"), (2, "applied"), (3, "applied"), (6, "applied")]
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 6
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 5
    _no_conflicts(central_db)
    again = _sync(restored, access)  # and it stays converged
    assert (again.sent, again.converged) == (0, True)
    restored.close()
