"""Typed station settings with their defaults in one place; stored as key/value rows in the store."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from station.limits import check_text
from station.store.schema import settings as settings_table


@dataclass(frozen=True)
class StationSettings:
    station_id: str = ""
    area: str = ""
    central_url: str = ""  # the centre's sync service, https://... (its token is never stored here)
    central_ca_file: str = ""  # a CA bundle for a centre with its own CA; empty = the system's
    short_parent_is_error: bool = False  # bill rule: a short parent is refused instead of warned
    # Scanner ("keyboard wedge") burst detection.
    scanner_max_gap_ms: int = 30
    scanner_min_length: int = 4
    scanner_suffix: str = "enter"  # enter | tab | none
    scanner_silence_ms: int = 80  # end of a burst without suffix
    serial_port: str = ""  # USB-CDC scanner port, empty = none
    serial_baud: int = 9600
    sound_muted: bool = False
    idle_release_minutes: int = 10
    camera: str = ""  # camera index, video file, image folder or stream URL; empty = none
    camera_resolution: str = "1280x720"
    decoder_backend: str = "zxing"  # zxing | zbar
    camera_holdoff_s: float = 0.0  # 0: a code is read again only after it left the view

    def replace(self, **changes: Any) -> StationSettings:
        return dataclasses.replace(self, **changes)


_TYPES = {f.name: f.type for f in fields(StationSettings)}


def _coerce(name: str, value: Any) -> Any:
    kind = _TYPES[name]
    if kind in ("bool", bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if kind in ("int", int):
        return int(value)
    if kind in ("float", float):
        return float(value)
    return str(value)


# Text settings and the limit (station.limits.LIMITS) each is checked against when set.
TEXT_LIMITS = {
    "station_id": "station_id",
    "area": "area",
    "central_url": "central_url",
    "central_ca_file": "central_ca_file",
    "scanner_suffix": "scanner_suffix",
    "serial_port": "serial_port",
    "camera": "camera",
    "camera_resolution": "camera_resolution",
    "decoder_backend": "decoder_backend",
}


def check_setting(name: str, value: Any) -> str | None:
    """None when a setting's value may be stored, else a message naming the setting and the
    limit (text over its length or holding control characters; a number that is not finite)."""
    limit = TEXT_LIMITS.get(name)
    if limit is not None:
        problem = check_text(limit, value)
        if problem is None and name == "area" and not value.strip():
            problem = "Area is empty"
        if problem is None and name == "station_id" and not value:
            problem = "Station id is empty"
        return None if problem is None else f"Setting {name}: {problem}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"Setting {name}: {value!r} is not a finite number"
    return None


def check_settings(s: StationSettings) -> str | None:
    """The first setting that may not be stored (see check_setting), or None."""
    for f in fields(StationSettings):
        problem = check_setting(f.name, getattr(s, f.name))
        if problem:
            return problem
    return None


def load_settings(conn: Connection) -> StationSettings:
    values: dict[str, Any] = {}
    for key, raw in conn.execute(select(settings_table.c.key, settings_table.c.value)):
        if key in _TYPES:
            try:
                values[key] = _coerce(key, json.loads(raw))
            except (ValueError, TypeError):
                continue  # a damaged value falls back to its default
    return StationSettings(**values)


def save_settings(conn: Connection, new: StationSettings) -> None:
    for f in fields(StationSettings):
        stmt = sqlite_insert(settings_table).values(
            key=f.name, value=json.dumps(getattr(new, f.name))
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
        )


def setting_names() -> list[str]:
    return list(_TYPES)


def parse_setting(name: str, text: str) -> Any:
    """Parse a setting typed as text (command line, settings screen); ValueError names the setting."""
    if name not in _TYPES:
        raise ValueError(f"Unknown setting {name!r}")
    try:
        value = _coerce(name, text)
    except ValueError as exc:
        raise ValueError(f"Setting {name}: {text!r} is not a valid {_TYPES[name]}") from exc
    problem = check_setting(name, value)
    if problem:
        raise ValueError(problem)
    return value
