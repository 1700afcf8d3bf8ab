"""The local store: pragmas, migrations, damaged files, a full disk, paths."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from station.errors import NoStation, StoreCorrupt, StoreError, StoreFull
from station.paths import BASEDIR_ENV, resolve
from station.service import StationService
from station.store import db
from station.store.local import LocalStore


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pragmas(store: LocalStore) -> None:
    with store.connect(write=True) as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_schema_version_is_the_alembic_head(store: LocalStore) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == db.SCHEMA_VERSION
    with store.engine.connect() as conn:
        assert db.current_revision(conn) == db.SCHEMA_VERSION


def test_a_store_from_the_first_migration_is_upgraded(tmp_path: Path) -> None:
    """Opening runs the migrations a store needs (here: all of them, from empty)."""
    store = LocalStore.open(resolve(tmp_path), create=True)
    with store.engine.connect() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master"))}
    store.close()
    assert {"events", "bags", "links", "bills", "bill_lines", "operators", "sync_issues"} <= names


def test_garbage_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    store_file = resolve(tmp_path).store
    store_file.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    before = digest(store_file)
    with pytest.raises(StoreCorrupt) as info:
        LocalStore.open(resolve(tmp_path))
    assert str(store_file) in info.value.message
    assert "Nothing was changed" in info.value.message
    assert digest(store_file) == before
    assert not Path(str(store_file) + "-wal").exists()


def test_damaged_database_pages_are_reported(paths, tmp_path: Path) -> None:
    # Overwrite the schema page of a real store: the header is fine, the content is not.
    data = bytearray(paths.store.read_bytes())
    for wal in (Path(str(paths.store) + "-wal"), Path(str(paths.store) + "-shm")):
        wal.unlink(missing_ok=True)
    data[100:4096] = os.urandom(3996)
    paths.store.write_bytes(bytes(data))
    before = digest(paths.store)
    with pytest.raises(StoreCorrupt) as info:
        LocalStore.open(paths)
    assert "damaged" in info.value.message
    assert digest(paths.store) == before


def test_missing_station(tmp_path: Path) -> None:
    with pytest.raises(NoStation) as info:
        LocalStore.open(resolve(tmp_path / "nowhere"))
    assert "tracetrack-station init" in info.value.message


def test_full_disk_refuses_the_scan_and_keeps_everything(paths, clock) -> None:
    store = LocalStore.open(paths)
    service = StationService(store, clock=clock)
    service.login("dispatcher", "demo")
    service.record_scan("SB00001")
    for i in range(5):
        service.record_scan(f"C{i:05d}")
    # SQLite's own "database or disk is full" error, by capping the file at its current size.
    pages = service.conn.exec_driver_sql("PRAGMA page_count").scalar()
    service.conn.rollback()
    raw: sqlite3.Connection = service.conn.connection.dbapi_connection  # type: ignore[assignment]
    raw.execute(f"PRAGMA max_page_count = {pages}")
    refused_at = None
    for i in range(5, 2000):
        try:
            service.record_scan(f"D{'X' * 15}{i:04d}")
        except StoreFull as exc:
            refused_at = i
            assert "disk" in exc.message and "NOT saved" in exc.message
            assert "Everything saved before it is safe" in exc.message
            break
    assert refused_at is not None, "the capped store never filled up"
    raw.execute("PRAGMA max_page_count = 1073741823")
    bag = service.lookup_bag("SB00001")
    assert bag.child_count == 5 + (refused_at - 5)
    assert len(service.event_log()) == 1 + 5 + (refused_at - 5)
    # and scanning works again once there is room
    assert service.record_scan("E99999").ok
    service.close()
    store.close()


def test_paths_basedir_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = resolve(tmp_path / "a")
    assert p.store == (tmp_path / "a" / "station.sqlite3").resolve() and p.explicit
    monkeypatch.setenv(BASEDIR_ENV, str(tmp_path / "b"))
    assert resolve().data_dir == (tmp_path / "b").resolve()
    assert resolve(tmp_path / "c").data_dir == (tmp_path / "c").resolve()  # --basedir wins
    monkeypatch.delenv(BASEDIR_ENV)
    assert not resolve().explicit


def test_integrity_check_on_a_sound_store(store: LocalStore) -> None:
    assert db.integrity_check(store.engine) == []


@pytest.mark.parametrize("folder", ["Station 2? (spare)", "stock 100%41 full", "Lager #3 Ölmühle"])
def test_the_store_is_the_file_in_the_folder_whatever_the_folder_is_called(
        tmp_path: Path, folder: str) -> None:
    """A basedir whose name has '?' or '%' (a folder named by hand) still holds the store: the
    station's data goes to its station.sqlite3 and to no other file (before: SQLite was handed a
    URL, so 'Station 2? (spare)' wrote the store to a file 'Station 2' beside the folder, world-
    readable, and '%41' opened a folder that does not exist)."""
    base = tmp_path / folder
    store = LocalStore.open(resolve(base), create=True)
    try:
        store.init_station("D1", "North", demo=True)
        with store.engine.connect() as conn:
            files = [r[2] for r in conn.exec_driver_sql("PRAGMA database_list") if r[1] == "main"]
    finally:
        store.close()
    assert files == [str(base / "station.sqlite3")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]
    reopened = LocalStore.open(resolve(base))
    try:
        assert reopened.settings().station_id == "D1"
    finally:
        reopened.close()


def test_a_store_from_a_newer_version_is_refused_in_plain_words(paths) -> None:
    """A store a newer release migrated (the older package installed again over it) is refused
    with its path and what to do, and left as it is (before: Alembic's 'Can't locate revision'
    traceback, exit 1 from every command)."""
    raw = sqlite3.connect(paths.store)
    raw.execute("UPDATE alembic_version SET version_num = '0099'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError) as info:
        LocalStore.open(paths)
    assert str(paths.store) in info.value.message and "0099" in info.value.message
    assert "newer version" in info.value.message and "Nothing was changed" in info.value.message
    raw = sqlite3.connect(paths.store)
    assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [("0099",)]
    raw.close()


# The first process: holds the write lock (its migration has begun) until told, then migrates.
FIRST_PROCESS = """
import sys
from alembic import command
from alembic.config import Config
from station.store import db
cfg = Config()
cfg.set_main_option("script_location", str(db.MIGRATIONS))
engine = db.make_engine(sys.argv[1])
with engine.connect().execution_options(immediate=True) as conn, conn.begin():
    conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar()
    print("holding", flush=True)
    sys.stdin.readline()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
engine.dispose()
"""


def test_two_processes_opening_a_store_that_needs_a_migration_both_start(paths) -> None:
    """The first start after an upgrade that brings a migration, by two station processes at
    once (the window and `sync`, say): the second waits for the first one's migration and opens
    the migrated store (before: it had read the old revision, then its own migration found the
    store changed under it and it stopped with 'The station store ... is busy')."""
    import subprocess
    import sys
    import threading

    import sqlalchemy as sa
    from alembic import command

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    old = db.make_engine(paths.store)
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")  # a store made before the last revision
    old.dispose()

    first = subprocess.Popen([sys.executable, "-c", FIRST_PROCESS, str(paths.store)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline() == "holding\n"

    second_writes = threading.Event()

    def watch(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith(
                ("BEGIN IMMEDIATE", "CREATE", "DROP", "ALTER", "INSERT", "UPDATE")):
            second_writes.set()  # the second process now needs the write lock

    opened: list[object] = []

    def second() -> None:
        try:
            LocalStore.open(paths).close()
            opened.append("ok")
        except Exception as exc:  # noqa: BLE001 - the failure is what the test reports
            opened.append(exc)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", watch)
    try:
        thread = threading.Thread(target=second, name="second-station-process")
        thread.start()
        assert second_writes.wait(60)
        first.stdin.write("go\n")  # the first process migrates and commits
        first.stdin.close()
        assert first.wait(60) == 0
        thread.join(60)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", watch)
        if first.poll() is None:  # the test failed early: the first process goes too
            first.kill()
            first.wait(60)
        first.stdout.close()
    assert opened == ["ok"]
    store = LocalStore.open(paths)
    with store.engine.connect() as conn:
        assert db.current_revision(conn) == db.SCHEMA_VERSION
    store.close()


@contextlib.contextmanager
def small_disk(size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on a fresh folder (root only: the tests run as root)."""
    where = Path(tempfile.mkdtemp(prefix="tt-small-disk-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                        str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        where.rmdir()
        raise RuntimeError(f"cannot mount a {size} tmpfs for the full-disk test (it needs root, "
                           f"as the suite runs in CI): {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem says it is full (ENOSPC)."""
    path = disk / "filler"
    block = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                os.write(fd, block)
            except OSError:  # ENOSPC: full
                break
    finally:
        os.close(fd)
    return path


def test_a_store_on_a_full_disk_is_said_to_be_on_a_full_disk_not_damaged() -> None:
    """A station started when its disk is already full (after a restart): SQLite cannot make the
    store's -shm file and says 'disk I/O error'. That is a full disk, said as one with what to
    do (before: 'damaged ... restore a backup', which would throw away a sound store)."""
    with small_disk("8m") as disk:
        paths = resolve(disk / "station")
        store = LocalStore.open(paths, create=True)
        store.init_station("D1", "North", demo=True)
        store.close()
        before = digest(paths.store)
        filler = fill(disk)
        with pytest.raises(StoreFull) as info:
            LocalStore.open(paths)
        assert str(paths.store) in info.value.message
        assert "full" in info.value.message and "free some disk space" in info.value.message.lower()
        assert "damaged" not in info.value.message and "backup" not in info.value.message
        assert digest(paths.store) == before
        filler.unlink()
        store = LocalStore.open(paths)
        try:
            assert store.settings().station_id == "D1"
        finally:
            store.close()
