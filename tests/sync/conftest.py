"""Central fixtures: one throwaway PostgreSQL per session (pgserver, or TRACETRACK_TEST_DATABASE_URL),
a template database migrated once, a fresh copy of it per test (CREATE DATABASE ... TEMPLATE), and
a real `tracetrack-central serve` process in front of it, started when a test first adds a station."""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.sync.service_proc import CentralService, StationAccess

TEMPLATE = f"tt_central_template_{os.getpid()}"  # one per test session
DEMO_AREA = "North"
_counter = itertools.count(1)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name` (postgresql:// form)."""
    u = make_url(url).set(database=name)
    return u.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://")


class CentralDB(str):
    """Admin URL of a fresh, initialised central database (a str), with helpers; its sync service
    (a real `serve` process) starts when first asked for."""

    name: str

    def __new__(cls, url: str, name: str, log_dir: Path | None = None) -> CentralDB:
        obj = super().__new__(cls, url)
        obj.name = name
        obj.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="tt-serve-"))
        obj._service = None
        return obj

    @property
    def url(self) -> str:
        return str(self)

    def engine(self, **kw: object) -> sa.Engine:
        from central.db import make_engine

        return make_engine(self.url, **kw)

    def service_url(self) -> str:
        """The sync service role's URL (a new password each call)."""
        from central.roles import ensure_service_role, role_url

        eng = self.engine(poolclass=sa.pool.NullPool)
        try:
            with eng.begin() as conn:
                role, password = ensure_service_role(conn, new_password=True)
        finally:
            eng.dispose()
        assert password is not None
        return role_url(self.url, role, password)

    def service(self, **kw: object) -> CentralService:
        """The running sync service for this database (started on first use)."""
        if self._service is None:
            self._service = CentralService(self.service_url(), self.log_dir, **kw).start()
        return self._service

    def stop_service(self, sig: int = signal.SIGTERM) -> None:
        if self._service is not None:
            self._service.stop(sig)
            self._service = None

    def register(self, station_id: str, area: str = DEMO_AREA, scope: str = "area") -> str:
        """Register a station in the database; returns its token."""
        from central.stations import add_station

        eng = self.engine(poolclass=sa.pool.NullPool)
        try:
            with eng.begin() as conn:
                return str(add_station(conn, station_id, area, scope=scope)["token"])
        finally:
            eng.dispose()

    def add_station(self, station_id: str, area: str = DEMO_AREA, scope: str = "area") -> StationAccess:
        """Register a station; returns its access to the running sync service (URL + token)."""
        token = self.register(station_id, area, scope)
        return self.service().access(station_id.strip().upper(), token)


def _admin_engine(url: str) -> sa.Engine:
    from central.db import make_engine

    return make_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def central_url() -> Iterator[str]:
    """Admin URL (maintenance database) of the session's PostgreSQL server."""
    env = os.environ.get("TRACETRACK_TEST_DATABASE_URL")
    if env:
        yield env
        return
    import pgserver  # a test dependency: missing, the run fails (never skips)

    tmp = Path(tempfile.mkdtemp(prefix="tt-pg-"))
    server = pgserver.get_server(tmp, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _drop_database(admin: sa.Engine, name: str) -> None:
    """Drop a test database and the station roles made for it (roles are server-wide)."""
    import re

    def _role_base(dbname: str) -> str:  # how central/roles.py names a database's roles
        return "tts_" + re.sub(r"[^a-z0-9_]", "_", dbname.lower())[:30]

    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        roles = conn.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE rolname = %s OR starts_with(rolname, %s) "
            "ORDER BY length(rolname) DESC",
            (_role_base(name), _role_base(name) + "_"),
        ).scalars().all()
        for role in roles:  # members first, the group last
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="session")
def _central_template(central_url: str) -> Iterator[str]:
    from central.db import migrate
    from central.users import add_demo_users

    admin = _admin_engine(central_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {TEMPLATE}")
    admin.dispose()
    url = with_database(central_url, TEMPLATE)
    eng = _admin_engine(url)
    migrate(eng)
    with eng.begin() as conn:
        add_demo_users(conn, DEMO_AREA)
    eng.dispose()
    yield url
    admin = _admin_engine(central_url)
    _drop_database(admin, TEMPLATE)
    admin.dispose()


@pytest.fixture
def central_db(central_url: str, _central_template: str, tmp_path: Path) -> Iterator[CentralDB]:
    """A fresh, initialised central database (schema + demo users dispatcher/biller/admin,
    password "demo", area North); the value is its admin URL."""
    name = f"tt_central_{os.getpid()}_{next(_counter)}"
    admin = _admin_engine(central_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    db = CentralDB(with_database(central_url, name), name, tmp_path / "serve")
    try:
        yield db
    finally:
        # The test is over and its database goes: nothing reads the service's exit or its log
        # any more, so no graceful stop to wait for (uvicorn's takes ~0.4 s of its ticks).
        # Tests of stopping and restarting the service do so themselves (test_faults.py).
        db.stop_service(signal.SIGKILL)
        _drop_database(admin, name)
        admin.dispose()


class Events:
    """Builds one station's events (wire dicts) with its gap-free sequence, for pushing."""

    def __init__(self, station_id: str, operator: str = "dispatcher", start_seq: int = 1) -> None:
        self.station_id = station_id
        self.operator = operator
        self.seq = start_seq - 1
        self.minute = 0

    def make(self, etype: str, *, parent: str | None = None, child: str | None = None,
             bill: str | None = None, data: dict | None = None, operator: str | None = None,
             device_time: str | None = None) -> dict:
        from station import APP_VERSION, PROTOCOL_VERSION
        from station.events import Event, EventType, uuid7

        self.seq += 1
        self.minute += 1
        when = device_time or f"2026-11-20T{8 + self.minute // 60 % 12:02d}:{self.minute % 60:02d}:00.000+00:00"
        return Event(
            event_id=str(uuid7()), station_id=self.station_id, seq=self.seq,
            type=EventType(etype), operator=operator or self.operator, device_time=when,
            parent=parent, child=child, bill=bill, data=data or {},
            app_version=APP_VERSION, protocol_version=PROTOCOL_VERSION,
        ).to_wire()

    def parent(self, code: str, **kw) -> dict:
        bag_type = "M444" if code.startswith("M444") else "SB"
        return self.make("parent_scanned", parent=code, data={"bag_type": bag_type, "area": DEMO_AREA}, **kw)

    def link(self, parent: str, child: str, **kw) -> dict:
        return self.make("child_linked", parent=parent, child=child, data={"source": "scanner"}, **kw)

    def unlink(self, parent: str, child: str, **kw) -> dict:
        return self.make("child_unlinked", parent=parent, child=child, **kw)

    def bill(self, bill_id: str, target: int, **kw) -> dict:
        kw.setdefault("operator", "biller")
        return self.make("bill_created", bill=bill_id, data={"target": target, "description": "",
                         "destination": "", "vehicle": ""}, **kw)

    def bill_add(self, bill_id: str, parent: str, **kw) -> dict:
        kw.setdefault("operator", "biller")
        return self.make("bill_parent_added", bill=bill_id, parent=parent, **kw)

    def bill_remove(self, bill_id: str, parent: str, **kw) -> dict:
        kw.setdefault("operator", "biller")
        return self.make("bill_parent_removed", bill=bill_id, parent=parent, **kw)

    def bill_close(self, bill_id: str, reason: str | None = None, **kw) -> dict:
        kw.setdefault("operator", "biller")
        return self.make("bill_closed", bill=bill_id, data={"reason": reason}, **kw)

    def bill_reopen(self, bill_id: str, **kw) -> dict:
        kw.setdefault("operator", "admin")
        return self.make("bill_reopened", bill=bill_id, **kw)


def batch(station_id: str, events: list[dict], **kw) -> object:
    from station import APP_VERSION
    from sync.protocol import PROTOCOL_VERSION, PushBatch

    kw.setdefault("protocol_version", PROTOCOL_VERSION)
    kw.setdefault("device_time", "")
    kw.setdefault("backlog", len(events))
    kw.setdefault("oldest_pending_s", None)
    return PushBatch(station_id=station_id, app_version=APP_VERSION, events=events, **kw)


def push_as(access: str, station_id: str, events: list[dict], **kw):
    """Push one batch through the sync service with a station's access (URL + token)."""
    transport = access.transport()  # type: ignore[attr-defined]
    try:
        return transport.push(batch(station_id, events, **kw))
    finally:
        transport.close()
