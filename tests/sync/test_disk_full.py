"""A full disk, with a real small filesystem (a tmpfs mounted for the test):

- at the station: the store lives on a 6 MB filesystem that a filler file fills up while a real
  `tracetrack-station scan --file -` process is fed reads; the scan that cannot be stored is
  refused in plain words, nothing acknowledged before is lost, the store passes its integrity
  check, and scanning resumes once the filler is deleted;
- at the centre: the central database's tables are moved to a tablespace on a small tmpfs, which
  a filler file fills: PostgreSQL refuses writes with 53100 disk_full ("No space left on
  device"); the sync service answers 503 (a server fault, never a rejection), the station's
  events stay pending with no rejection recorded anywhere, and the drain completes by itself
  once there is room again.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

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

STATION_BIN = Path(sys.executable).with_name("tracetrack-station")


@contextlib.contextmanager
def small_disk(size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of `size` mounted on a fresh folder (root only: the tests run as root)."""
    where = Path(tempfile.mkdtemp(prefix="tt-small-disk-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                        str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        where.rmdir()
        raise RuntimeError(f"cannot mount a {size} tmpfs for the full-disk test (it needs root, "
                           f"as the suite runs in CI): {r.stderr.strip()}")
    try:
        if owner:
            pw = pwd.getpwnam(owner)
            os.chown(where, pw.pw_uid, pw.pw_gid)
            os.chmod(where, 0o700)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def fill(disk: Path, name: str = "filler") -> Path:
    """Write a file until the filesystem says it is full (ENOSPC)."""
    path = disk / name
    block = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError:  # ENOSPC: full (a last partial block may not fit either)
                break
    finally:
        os.close(fd)
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ, TRACETRACK_PASSWORD="demo", TRACETRACK_NO_KEYRING="1")
    env.pop("TRACETRACK_BASEDIR", None)
    return env


def _scanner(basedir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(STATION_BIN), "--basedir", str(basedir), "--json", "scan", "--as", "dispatcher",
         "--file", "-"], env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, bufsize=1)


def _feed(proc: subprocess.Popen[str], reads: list[str]) -> tuple[list[tuple[int, str]], dict | None]:
    """Feed reads one at a time; returns (acknowledged (seq, read)), the refusal line if any)."""
    acks: list[tuple[int, str]] = []
    assert proc.stdin is not None and proc.stdout is not None
    for read in reads:
        try:
            proc.stdin.write(read + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return acks, None
        line = proc.stdout.readline()
        if not line:
            return acks, None
        obj = json.loads(line)
        if "error" in obj:
            return acks, obj
        acks += [(int(s), read) for s in obj["events"]]
    return acks, None


def _reads(parent: int, n: int) -> list[str]:
    return [f"SB{parent:05d}"] + [f"F{parent:05d}{i:03d}" for i in range(n)]


@pytest.mark.slow
def test_station_disk_full_refuses_plainly_keeps_everything_and_resumes() -> None:
    with small_disk("6m") as disk:
        base = disk / "station"
        r = subprocess.run([str(STATION_BIN), "init", "--basedir", str(base), "--station-id",
                            "FULL-1", "--area", "North", "--demo"], env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        proc = _scanner(base)
        try:
            acks, refusal = _feed(proc, _reads(1, 20))
            assert refusal is None and len(acks) == 21
            filler = fill(disk)
            # scan on, parent after parent, until the disk refuses one
            for p in range(2, 200):
                more, refusal = _feed(proc, _reads(p, 25))
                acks += more
                if refusal is not None or proc.poll() is not None:
                    break
            proc.stdin.close()  # type: ignore[union-attr]
            err = proc.stderr.read()  # type: ignore[union-attr]
            assert proc.wait(30) == 5  # the store cannot be used: EXIT_STORE
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert refusal is not None, "the full disk never refused a scan"
        msg = refusal["error"]
        assert "is full: this scan was NOT saved" in msg and "Everything saved before it is safe" in msg
        assert "Free some disk space, then scan again" in msg and msg in err

        def stored() -> dict[int, str]:
            from station.paths import resolve
            from station.store.local import LocalStore

            store = LocalStore.open(resolve(base))
            try:
                assert local_rows(store, "PRAGMA integrity_check") == [("ok",)]
                return {int(s): c for s, c in local_rows(
                    store, "SELECT seq, coalesce(child_code, parent_code) FROM events")}
            finally:
                store.close()

        filler.unlink()  # room again
        have = stored()
        assert all(have.get(seq) == read for seq, read in acks), "an acknowledged scan was lost"
        # scanning resumes
        proc = _scanner(base)
        try:
            after, refusal = _feed(proc, _reads(500, 10))
            proc.stdin.close()  # type: ignore[union-attr]
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert refusal is None and len(after) == 11
        have = stored()
        assert all(have.get(seq) == read for seq, read in acks + after)


def _pg_user() -> str:
    import pgserver.postgres_server as ps  # noqa: F401 - pgserver runs PostgreSQL as this user

    return "pgserver" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def _auto(url: str, sql: str) -> None:
    """DDL outside a transaction block (CREATE TABLESPACE needs it)."""
    from tests.sync.conftest import _admin_engine

    eng = _admin_engine(url)
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        eng.dispose()


@pytest.mark.slow
def test_centre_disk_full_is_a_server_fault_not_a_rejection(central_db, tmp_path) -> None:
    from sync.worker import SyncListener

    access = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    svc = login(store)
    try:
        for p in range(1, 4):
            for code in _reads(p, 25):
                assert svc.record_scan(code).ok
    finally:
        svc.close()
    total = 3 * 26
    errors: list[str] = []

    class Errors(SyncListener):
        def run_finished(self, summary) -> None:  # noqa: ANN001
            if summary.error:
                errors.append(summary.error)

    with small_disk("24m", owner=_pg_user()) as disk:
        ts = f"tt_small_{central_db.name}"
        _auto(central_db.url, f"CREATE TABLESPACE {ts} LOCATION '{disk}'")
        try:
            central_db.stop_service()  # moving tables takes their locks: the service is away
            _auto(central_db.url, f"ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE {ts}")
            _auto(central_db.url, f"ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE {ts}")
            access = central_db.service().access("D1", access.token)
            filler = fill(disk)
            worker = worker_for(store, access, max_batch_events=100, listener=Errors(),
                                interval_s=600, backoff_base_s=0.2, backoff_cap_s=1.0)
            first = worker.run_once()
            # PostgreSQL refused the writes: a server fault, the events stay pending
            assert first.error is not None and first.state == "offline", first
            assert "database" in first.error, first.error
            assert first.pending == total and first.rejected == 0 and first.applied == 0
            # what PostgreSQL says on that filesystem: 53100 disk_full, as on a real full disk
            import psycopg2

            from central.db import make_engine
            from sync.worker import SyncWorker

            eng = make_engine(central_db.url, poolclass=sa.pool.NullPool)
            try:
                with eng.connect() as conn, pytest.raises(Exception) as refused:
                    conn.exec_driver_sql(f"CREATE TABLE tt_probe (x text) TABLESPACE {ts}")
                    conn.exec_driver_sql("INSERT INTO tt_probe SELECT repeat('x', 2000) "
                                         "FROM generate_series(1, 2000)")
            finally:
                eng.dispose()
            orig = getattr(refused.value, "orig", refused.value)
            assert isinstance(orig, psycopg2.errors.DiskFull) and orig.pgcode == "53100", orig
            assert "No space left on device" in str(orig)
            # and the service's answer to a push: 503 database_unavailable, with Retry-After
            import httpx

            peek = SyncWorker(store, lambda: access.transport())
            wire = peek.next_batch()
            peek.close()
            assert wire is not None
            from tests.sync.conftest import batch as make_batch

            r = httpx.post(access.url + "/v1/push", json=make_batch("D1", wire.events).to_json(),
                           headers={"Authorization": f"Bearer {access.token}"}, timeout=30)
            assert r.status_code == 503 and r.json()["error"] == "database_unavailable", r.text
            assert "retry-after" in r.headers
            assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 0
            # the worker keeps retrying by itself while the disk is full: still nothing rejected
            worker.start()
            until(lambda: len(errors) >= 2, 30, "the worker to retry")
            assert local_rows(store, "SELECT count(*) FROM sync_issues") == [(0,)]
            assert local_rows(store, "SELECT count(*) FROM events WHERE sync_state != 'pending'") \
                == [(0,)]
            # room again: the drain completes by itself
            filler.unlink()
            until(lambda: local_rows(store, "SELECT count(*) FROM events "
                                            "WHERE sync_state = 'pending'") == [(0,)],
                  60, "the drain to complete after the disk was freed")
            worker.stop()
            worker.close()
            states = dict(local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1"))
            assert states == {"applied": total}
            assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == total
            assert central_rows(central_db.url, "SELECT result, count(*) FROM station_events "
                                                "GROUP BY 1") == [("applied", total)]
            assert local_rows(store, "SELECT count(*) FROM sync_issues") == [(0,)]
        finally:
            central_db.stop_service()
            with contextlib.suppress(Exception):
                for f in disk.glob("filler*"):
                    f.unlink()
            _auto(central_db.url, f"ALTER TABLE ALL IN TABLESPACE {ts} SET TABLESPACE pg_default")
            _auto(central_db.url, f"ALTER INDEX ALL IN TABLESPACE {ts} SET TABLESPACE pg_default")
            _auto(central_db.url, f"DROP TABLESPACE {ts}")
    store.close()
