"""Helpers for station-side sync tests: stations in temp folders, a proxy in front of the centre."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from station.paths import resolve
from station.service import StationService
from station.store.local import LocalStore
from sync.worker import SyncWorker
from tests.sync.proxy import TcpProxy

_templates: dict[str, Path] = {}


def _demo_template(area: str) -> Path:
    """A demo station set up once per test process and area (`init --demo`: the schema, the bag
    types and the demo operators, whose password hashes are most of the cost of a station)."""
    folder = _templates.get(area)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="tt-station-template-"))
        atexit.register(shutil.rmtree, folder, True)
        store = LocalStore.open(resolve(folder), create=True)
        store.init_station("TEMPLATE", area, demo=True)
        store.close()
        _templates[area] = folder
    return folder


def make_station(base: Path, station_id: str, area: str = "North") -> LocalStore:
    """A fresh station with demo operators (the centre's demo users have the same names): a
    copy of the process's demo station of that area, given its station id as `init` would."""
    paths = resolve(base)
    paths.ensure()
    shutil.copytree(_demo_template(area), paths.data_dir, dirs_exist_ok=True)
    store = LocalStore.open(paths)
    store.save_settings(store.settings().replace(station_id=station_id.strip().upper()))
    return store


def login(store: LocalStore, user: str = "dispatcher") -> StationService:
    service = StationService(store)
    service.login(user, "demo")
    return service


def scan(store: LocalStore, codes: list[str], user: str = "dispatcher") -> None:
    """Record each code as a scan of `user` (each must be accepted)."""
    svc = login(store, user)
    try:
        for code in codes:
            assert svc.record_scan(code).ok, code
    finally:
        svc.close()


def upstream_of(url: str) -> tuple[str, int] | str:
    """Where a server listens: the sync service's (host, port), or a PostgreSQL's Unix socket
    path (pgserver) or (host, port)."""
    if url.startswith(("http://", "https://")):
        import httpx

        u = httpx.URL(url)
        return ("127.0.0.1" if u.host == "localhost" else u.host, int(u.port or 443))
    pg = make_url(url)
    port = pg.port or 5432
    host = pg.query.get("host") or pg.host or "127.0.0.1"
    if isinstance(host, tuple):
        host = host[0]
    if str(host).startswith("/"):
        return os.path.join(str(host), f".s.PGSQL.{port}")
    return (str(host), port)


def via_proxy(access: str, proxy: TcpProxy) -> Any:
    """The same station access, but through the proxy on 127.0.0.1."""
    if access.startswith(("http://", "https://")):
        return access.at(f"http://127.0.0.1:{proxy.port}")  # type: ignore[attr-defined]
    u = make_url(access)
    query = {k: v for k, v in u.query.items() if k != "host"}
    u = u.set(host="127.0.0.1", port=proxy.port, query=query)
    return u.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://")


def worker_for(store: LocalStore, access: Any, **kw: Any) -> SyncWorker:
    """A worker for a station, talking to the sync service with the station's access."""
    kw.setdefault("backoff_base_s", 0.01)
    kw.setdefault("backoff_cap_s", 0.2)
    return SyncWorker(store, lambda: access.transport(), **kw)


def _raw(conn: Any, sql: str, args: tuple[Any, ...], fetch: bool = True) -> list[tuple[Any, ...]]:
    # The DBAPI cursor itself: '%' in LIKE patterns is only special when there are parameters.
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.execute(sql, args or None)
        return [tuple(r) for r in cur.fetchall()] if fetch else []
    finally:
        cur.close()


def central_scalar(admin_url: str, sql: str, *args: Any) -> Any:
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            rows = _raw(conn, sql, args)
            return rows[0][0] if rows else None
    finally:
        eng.dispose()


def central_rows(admin_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            return _raw(conn, sql, args)
    finally:
        eng.dispose()


def central_exec(admin_url: str, sql: str, *args: Any) -> None:
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    try:
        with eng.begin() as conn:
            _raw(conn, sql, args, fetch=False)
    finally:
        eng.dispose()


def local_rows(store: LocalStore, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.exec_driver_sql(sql)]
        conn.rollback()
    return rows


def until(cond: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll a condition that another thread or process makes true (with a deadline)."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
