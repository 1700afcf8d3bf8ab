"""The station's local store as one object: open (checked), initialise a station, settings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from station.auth import make_password_hash
from station.codes import DEFAULT_BAG_TYPES, BagType
from station.errors import NoStation, StationExists, StoreError
from station.paths import StationPaths
from station.settings import (
    SettingError,
    StationSettings,
    check_settings,
    load_settings,
    save_settings,
)
from station.store import db
from station.store.schema import bag_types, operators, station_state

DEMO_OPERATORS = (("dispatcher", "dispatcher"), ("biller", "biller"), ("admin", "admin"))
DEMO_PASSWORD = "demo"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class InitRefused(StoreError, SettingError):
    """init_station refused the station id or area it was given: bad input (a SettingError, which
    the command line says with exit 2), still the StoreError init_station has always raised."""


class LocalStore:
    def __init__(self, paths: StationPaths, engine: Engine) -> None:
        self.paths = paths
        self.engine = engine

    @classmethod
    def open(cls, paths: StationPaths, *, create: bool = False) -> LocalStore:
        """Open the store; without `create`, a missing or uninitialised station raises NoStation."""
        if not create and not paths.store.exists():
            raise NoStation(str(paths.data_dir))
        if create:
            paths.ensure()
        try:
            engine = db.open_engine(paths.store, create=create)
        except FileNotFoundError as exc:
            raise NoStation(str(paths.data_dir)) from exc
        store = cls(paths, engine)
        if not create and not store.is_initialised():
            engine.dispose()
            raise NoStation(str(paths.data_dir))
        return store

    def close(self) -> None:
        self.engine.dispose()

    def connect(self, *, write: bool = False) -> Connection:
        conn = self.engine.connect()
        if write:
            conn = conn.execution_options(immediate=True)
        return conn

    def is_initialised(self) -> bool:
        with db.translated(self.paths.store), self.engine.connect() as conn:
            return bool(load_settings(conn).station_id)

    def settings(self) -> StationSettings:
        with db.translated(self.paths.store), self.engine.connect() as conn:
            return load_settings(conn)

    def save_settings(self, new: StationSettings) -> None:
        if not new.station_id.strip() or not new.area.strip():
            raise StoreError("A station needs a station id and an area")
        with db.translated(self.paths.store), self.connect(write=True) as conn, conn.begin():
            current = load_settings(conn)
            # an id set up before the limits existed stays (it cannot change under the events)
            checked = new.replace(station_id="X") if new.station_id == current.station_id else new
            problem = check_settings(checked)
            if problem:
                raise StoreError(problem)
            save_settings(conn, new)

    def init_station(
        self, station_id: str, area: str, *, demo: bool = False, central_url: str = ""
    ) -> StationSettings:
        station_id = station_id.strip().upper()
        area = area.strip()
        if not station_id or not area:
            raise InitRefused("init needs --station-id and --area (neither may be empty): "
                              "no station was set up")
        with db.translated(self.paths.store), self.connect(write=True) as conn, conn.begin():
            current = load_settings(conn)
            if current.station_id:
                raise StationExists(
                    f"A station ({current.station_id}, area {current.area}) is already set up in "
                    f"{self.paths.data_dir}; nothing was changed"
                )
            new = StationSettings(station_id=station_id, area=area, central_url=central_url)
            problem = check_settings(new)
            if problem:
                raise InitRefused(f"{problem}: no station was set up")
            save_settings(conn, new)
            has_types = conn.execute(select(func.count()).select_from(bag_types)).scalar_one()
            if demo or not has_types:
                write_bag_types(conn, DEFAULT_BAG_TYPES)
            if demo:
                for username, role in DEMO_OPERATORS:
                    upsert_operator(conn, username, make_password_hash(DEMO_PASSWORD), role, area)
        return new

    @staticmethod
    def set_state(conn: Connection, key: str, value: str | None) -> None:
        stmt = sqlite_insert(station_state).values(key=key, value=value)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
        )


def write_bag_types(conn: Connection, types: tuple[BagType, ...]) -> None:
    for t in types:
        stmt = sqlite_insert(bag_types).values(
            name=t.name, pattern=t.pattern, lookalike=t.lookalike, capacity=t.capacity,
            nominal_kg=t.nominal_kg, kg_per_child=t.kg_per_child, example=t.example,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={c: stmt.excluded[c] for c in (
                    "pattern", "lookalike", "capacity", "nominal_kg", "kg_per_child", "example"
                )},
            )
        )


def upsert_operator(
    conn: Connection, username: str, password_hash: str | None, role: str, area: str | None
) -> None:
    """Add or update an operator. A user without a password hash at the centre (NULL) is kept
    with an empty one: such an account cannot log in here (station.auth), it breaks nothing."""
    stmt = sqlite_insert(operators).values(
        username=username, password_hash=password_hash if isinstance(password_hash, str) else "",
        role=role, area=area,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["username"],
            set_={"password_hash": stmt.excluded.password_hash, "role": stmt.excluded.role,
                  "area": stmt.excluded.area},
        )
    )

