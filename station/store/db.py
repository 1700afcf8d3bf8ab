"""Opening the local store: file checks first (never overwrite a damaged file, never open one
other users can write), then pragmas (WAL, foreign keys, synchronous=FULL) and Alembic
migrations. The store, its -wal and -shm are private (0600) in a private folder (0700)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from station.errors import StoreCorrupt, StoreError, StoreFull, StoreLocked
from station.paths import POSIX_MODES, PRIVATE_DIR, make_private_dir

SCHEMA_VERSION = "0002"  # the Alembic head; tests check they agree
SQLITE_MAGIC = b"SQLite format 3\x00"
MIGRATIONS = Path(__file__).with_name("migrations")


PRIVATE_FILE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


class StoreNotPrivate(StoreError):
    """The store, a file beside it or its folder can be written by other users."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"{path} {detail}: other users could change the station store (its operators and "
            "password hashes, its queued scans). The station was not started. Make it "
            f"private (chmod 700 on the folder, chmod 600 on the station.sqlite3 files), "
            "check nobody changed it, then start again."
        )
        self.path = path


class StoreTooNew(StoreError):
    """The store's schema is a revision this version does not know (a newer version made it)."""

    def __init__(self, path: str, revision: str) -> None:
        super().__init__(
            f"The station store {path} has schema {revision}, which this version of TraceTrack Station "
            f"(schema {SCHEMA_VERSION}) does not know: a newer version made or upgraded it. "
            "Nothing was changed in it. Install that newer version again to use this store."
        )
        self.path = path
        self.revision = revision


def store_files(path: Path) -> list[Path]:
    """The store and the files SQLite keeps beside it."""
    return [path] + [path.with_name(path.name + suffix) for suffix in SIDE_FILES]


def _private_group(gid: int, uid: int) -> bool:
    """True for a user's own group (user private groups: the group of the same name, with no
    other members), whose write bit lets no other user in (umask 002 makes files 0664)."""
    try:
        import grp
        import pwd

        group = grp.getgrgid(gid)
        user = pwd.getpwuid(uid)
    except (ImportError, KeyError):
        return False
    others = set(group.gr_mem) - {user.pw_name}
    return not others and group.gr_name == user.pw_name and user.pw_gid == gid


def _others_can_write(st: os.stat_result) -> str | None:
    """Why users other than this one (and root) can write the file or folder, or None."""
    mode = stat.S_IMODE(st.st_mode)
    if st.st_uid not in (os.geteuid(), 0):
        return f"belongs to another user (uid {st.st_uid})"
    if mode & stat.S_IWOTH:
        return f"can be written by every user (mode {mode:04o})"
    if mode & stat.S_IWGRP and not _private_group(st.st_gid, st.st_uid):
        return f"can be written by the users of group {st.st_gid} (mode {mode:04o})"
    return None


def check_private(path: Path) -> None:
    """Refuse a store whose folder, file, -wal or -shm other users can write (StoreNotPrivate,
    naming the path). Files only readable by others are fixed by make_private, not refused."""
    if not POSIX_MODES:
        return
    for p in [path.parent, *store_files(path)]:
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"The station store {p} cannot be checked: {exc.strerror or exc}") from exc
        why = _others_can_write(st)
        if why:
            raise StoreNotPrivate(str(p), why)


def make_private(path: Path) -> None:
    """The store's folder 0700, the store and the files beside it 0600 (those this user owns)."""
    if not POSIX_MODES:
        return
    me = os.geteuid()
    for p, mode in [(path.parent, PRIVATE_DIR)] + [(f, PRIVATE_FILE) for f in store_files(path)]:
        try:
            st = p.stat()
            if st.st_uid == me and stat.S_IMODE(st.st_mode) != mode:
                os.chmod(p, mode)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(
                f"The station store {p} cannot be made private: {exc.strerror or exc}"
            ) from exc


def _create_private(path: Path) -> None:
    """Create an empty store file 0600 before SQLite does (SQLite would make it 0644 and give
    its -wal and -shm the database file's mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def check_file(path: Path) -> None:
    """Refuse a file that is not an SQLite database, before SQLite gets a chance to write to it."""
    if not path.exists():
        return
    try:
        with path.open("rb") as fh:
            head = fh.read(100)
    except OSError as exc:
        raise StoreCorrupt(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    if len(head) == 0:
        return
    if not head.startswith(SQLITE_MAGIC) or len(head) < 100:
        raise StoreCorrupt(str(path), "the file does not start with an SQLite header")


def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # Autocommit at the driver level so SQLAlchemy's BEGIN is the only transaction control.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 5000")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = FULL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def _on_begin(conn: Connection) -> None:
    # Writers ask for the lock up front (execution option `immediate`), so two writers queue on
    # busy_timeout instead of failing on a read-to-write upgrade; readers never block.
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(path: Path) -> Engine:
    # The path as the URL's database, never parsed out of a URL string: a folder named with
    # '?' or '%' would otherwise open another file.
    url = sa.engine.URL.create("sqlite", database=str(path))
    engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=4)
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


class StoreFullAtOpen(StoreFull):
    """The disk holding the store is full as the store is opened (no scan was being saved)."""

    def __init__(self, path: str) -> None:
        StoreError.__init__(
            self,
            f"The disk holding {path} is full: the station store cannot be opened. Nothing in it "
            "was changed. Free some disk space, then start again.",
        )
        self.path = path


def translate(exc: BaseException, path: Path, *, opening: bool = False) -> StoreError | None:
    """Turn a low-level SQLite error into the station's plain-words error, or None for bugs.
    `opening`: the error came while the store was opened (a full disk is said so)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(orig).lower()
    # SQLite cannot grow the -shm file (WAL) when the disk is full, and says "disk I/O error"
    # for it: that is a full disk, not a damaged store.
    shm_full = getattr(orig, "sqlite_errorname", "") == "SQLITE_IOERR_SHMSIZE"
    if "disk is full" in text or "database or disk is full" in text or shm_full:
        return StoreFullAtOpen(str(path)) if opening else StoreFull(str(path))
    if "database is locked" in text or "database table is locked" in text:
        return StoreLocked(str(path))
    if "malformed" in text or "not a database" in text or "disk i/o error" in text:
        return StoreCorrupt(str(path), str(orig))
    if "unable to open database" in text or "readonly database" in text:
        return StoreError(
            f"The station store {path} cannot be opened for writing ({orig}). "
            "Check the folder exists and this user may write to it."
        )
    return None


@contextmanager
def translated(path: Path, *, opening: bool = False) -> Iterator[None]:
    try:
        yield
    except (DBAPIError, sqlite3.Error) as exc:
        err = translate(exc, path, opening=opening)
        if err is None:
            raise
        raise err from exc


def current_revision(conn: Connection) -> str | None:
    has = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
    ).first()
    if not has:
        return None
    row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return row[0] if row else None


def migrate(engine: Engine) -> None:
    """Bring the schema to SCHEMA_VERSION; Alembic is only loaded when there is work to do."""
    with engine.connect() as conn:
        rev = current_revision(conn)
        conn.rollback()
    if rev == SCHEMA_VERSION:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    # Under the write lock from the start (BEGIN IMMEDIATE), the revision read again: another
    # station process opening the store at the same time migrates it first and this one then
    # has nothing to do (with a plain BEGIN it would fail on the store changed under it).
    with engine.connect() as conn:
        conn = conn.execution_options(immediate=True)
        with conn.begin():
            rev = current_revision(conn)
            if rev is not None and rev not in known:
                raise StoreTooNew(str(engine.url.database), rev)
            if rev != SCHEMA_VERSION:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")


def open_engine(path: Path, *, create: bool) -> Engine:
    """Check, open and migrate the store at `path`: refused when other users can write it
    (StoreNotPrivate) or it is not an SQLite file (StoreCorrupt); made private (folder 0700,
    files 0600) before SQLite opens it, so the -wal and -shm SQLite creates are 0600 too."""
    check_private(path)
    check_file(path)
    if not create and not path.exists():
        raise FileNotFoundError(path)
    try:
        make_private_dir(path.parent)
    except OSError as exc:  # e.g. a folder from before 0700 on a disk now read-only
        raise StoreError(f"The station store's folder {path.parent} cannot be made private: "
                         f"{exc.strerror or exc}") from exc
    if create:
        _create_private(path)
    make_private(path)
    engine = make_engine(path)
    with translated(path, opening=True):
        with engine.connect() as conn:
            # Reading the schema makes SQLite look at every page header it needs to start.
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
            conn.rollback()
        migrate(engine)
    make_private(path)  # SQLite copies the store's mode to new -wal/-shm: this is a safeguard
    return engine


def integrity_check(engine: Engine) -> list[str]:
    """Full check for `doctor` (slow on big stores): an empty list means the store is sound."""
    with engine.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
        fk = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        conn.rollback()
    problems = [r for r in rows if r != "ok"]
    problems += [f"foreign key broken in {r[0]} row {r[1]}" for r in fk]
    return problems
