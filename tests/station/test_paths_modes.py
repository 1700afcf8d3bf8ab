"""Station files are private: folders 0700, the store and its -wal/-shm 0600 (new stores and old
0644 ones alike), and a store other users can write is refused with its path."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from station import paths as paths_mod
from station.cli import EXIT_STORE
from station.paths import StationPaths, resolve
from station.service import StationService
from station.store import db
from station.store.db import StoreNotPrivate
from station.store.local import LocalStore

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy-store" / "station.sqlite3"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def side(store: Path, suffix: str) -> Path:
    return store.with_name(store.name + suffix)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most desktops have (files 0644, folders 0755 unless the code says otherwise)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_station_is_private(tmp_path: Path, usual_umask: None) -> None:
    p = StationPaths(tmp_path / "data", tmp_path / "config", tmp_path / "logs" / "x", False)
    store = LocalStore.open(p, create=True)
    store.init_station("D1", "North", demo=True)
    svc = StationService(store)
    svc.login("dispatcher", "demo")
    assert svc.record_scan("SB00001").ok  # a write: the -wal and -shm exist while it is open
    try:
        for d in (p.data_dir, p.config_dir, p.log_dir):
            assert mode(d) == 0o700, d
        assert mode(tmp_path / "logs") == 0o755  # a parent made on the way is not the station's
        for f in (p.store, side(p.store, "-wal"), side(p.store, "-shm")):
            assert f.exists() and mode(f) == 0o600, f
    finally:
        svc.close()
        store.close()


def test_an_old_0644_store_in_a_0755_folder_is_made_private_on_open(
    tmp_path: Path, usual_umask: None
) -> None:
    base = tmp_path / "legacy"
    base.mkdir(mode=0o755)
    os.chmod(base, 0o755)
    shutil.copyfile(LEGACY, base / "station.sqlite3")
    store_file = base / "station.sqlite3"
    os.chmod(store_file, 0o644)
    # another program has it open in WAL mode: a -wal and -shm made 0644 by the old station
    other = sqlite3.connect(store_file)
    other.execute("PRAGMA journal_mode = WAL")
    other.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
    other.commit()
    for suffix in ("-wal", "-shm"):
        os.chmod(side(store_file, suffix), 0o644)
    try:
        store = LocalStore.open(resolve(base))
        try:
            assert store.settings().station_id == "LEGACY-1"
            assert mode(base) == 0o700
            for f in (store_file, side(store_file, "-wal"), side(store_file, "-shm")):
                assert mode(f) == 0o600, f
            svc = StationService(store)
            svc.login("dispatcher", "demo")
            assert svc.record_scan("SB07777").ok
            svc.close()
            assert mode(side(store_file, "-wal")) == 0o600
        finally:
            store.close()
    finally:
        other.close()
    assert mode(store_file) == 0o600


def test_the_folder_others_can_write_is_refused_and_left_alone(paths: StationPaths) -> None:
    os.chmod(paths.data_dir, 0o777)
    before = digest(paths.store)
    with pytest.raises(StoreNotPrivate) as info:
        LocalStore.open(paths)
    msg = info.value.message
    assert msg.startswith(f"{paths.data_dir} can be written by every user (mode 0777)")
    assert "The station was not started" in msg and "chmod 700" in msg
    assert mode(paths.data_dir) == 0o777 and digest(paths.store) == before


@pytest.mark.parametrize(("suffix", "bad_mode"), [("", 0o666), ("", 0o602), ("-wal", 0o646),
                                                  ("-shm", 0o666), ("-journal", 0o622)])
def test_store_files_others_can_write_are_refused(
    paths: StationPaths, suffix: str, bad_mode: int
) -> None:
    target = side(paths.store, suffix) if suffix else paths.store
    if not target.exists():
        target.write_bytes(b"")
    os.chmod(target, bad_mode)
    with pytest.raises(StoreNotPrivate) as info:
        LocalStore.open(paths)
    assert info.value.path == str(target)
    assert str(target) in info.value.message and f"{bad_mode:04o}" in info.value.message
    assert mode(target) == bad_mode  # refused, not silently "fixed"


def test_group_write_is_refused_unless_the_group_is_the_owners_own(
    paths: StationPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.chmod(paths.store, 0o664)  # what umask 002 (user private groups) made
    monkeypatch.setattr(db, "_private_group", lambda gid, uid: False)
    with pytest.raises(StoreNotPrivate) as info:
        LocalStore.open(paths)
    assert "can be written by the users of group" in info.value.message
    monkeypatch.setattr(db, "_private_group", lambda gid, uid: True)
    LocalStore.open(paths).close()
    assert mode(paths.store) == 0o600


def _stat(mode_bits: int, uid: int, gid: int = 4000) -> os.stat_result:
    return os.stat_result((stat.S_IFREG | mode_bits, 1, 1, 1, uid, gid, 0, 0, 0, 0))


@pytest.mark.parametrize(("mode_bits", "uid", "private_group", "words"), [
    (0o600, 1000, False, None),
    (0o644, 1000, False, None),  # readable by others: fixed on open, not refused
    (0o640, 1000, False, None),
    (0o600, 0, False, None),  # root could write anything anyway
    (0o600, 4242, False, "belongs to another user (uid 4242)"),
    (0o666, 1000, False, "every user (mode 0666)"),
    (0o602, 1000, True, "every user"),
    (0o620, 1000, False, "users of group 4000 (mode 0620)"),
    (0o660, 1000, True, None),
    (0o1777, 1000, False, "every user (mode 1777)"),
])
def test_who_else_can_write(
    monkeypatch: pytest.MonkeyPatch, mode_bits: int, uid: int, private_group: bool,
    words: str | None,
) -> None:
    monkeypatch.setattr(db.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(db, "_private_group", lambda gid, u: private_group)
    why = db._others_can_write(_stat(mode_bits, uid))
    assert (why is None) == (words is None)
    if words:
        assert why is not None and words in why


def test_private_group_is_the_users_own() -> None:
    import grp
    import pwd

    me = pwd.getpwuid(os.geteuid())
    own = grp.getgrgid(me.pw_gid)
    expect = own.gr_name == me.pw_name and not (set(own.gr_mem) - {me.pw_name})
    assert db._private_group(me.pw_gid, me.pw_uid) is expect
    assert db._private_group(2**31 - 7, me.pw_uid) is False  # no such group


def test_ensure_makes_existing_folders_private_when_they_are_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, usual_umask: None
) -> None:
    base = tmp_path / "b"
    (base / "logs").mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(base / "logs", 0o775)
    resolve(base).ensure()
    assert mode(base) == 0o700 and mode(base / "logs") == 0o700
    # a folder someone else owns is left as it is (opening the store checks it)
    other = tmp_path / "theirs"
    other.mkdir(mode=0o755)
    os.chmod(other, 0o755)
    monkeypatch.setattr(paths_mod.os, "geteuid", lambda: other.stat().st_uid + 1)
    resolve(other).ensure()
    assert mode(other) == 0o755


def test_the_command_line_refuses_with_exit_status_5(paths: StationPaths) -> None:
    os.chmod(paths.store, 0o666)
    exe = str(Path(sys.executable).with_name("tracetrack-station"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    p = subprocess.run([exe, "--basedir", str(paths.data_dir), "show", "SB00001"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == EXIT_STORE, (p.stdout, p.stderr)
    assert str(paths.store) in p.stderr and "other users could change" in p.stderr
