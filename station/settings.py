"""Typed station settings, declared once: type, default, allowed range and label per setting.

`StationSettings` is the frozen dataclass the code reads; each field is declared with
`setting(...)` (default, label, allowed range or choices, text limit), and its type is the
field's annotation. `SETTINGS` is the table built from those declarations; everything that takes
a setting from outside goes through it:

- `validate(current, changes)`: the one check for a set of changes (the settings screen, the
  command line, anything a sync brings): each value is coerced by its declared type and checked
  against its range, choices or text limit; any bad value raises `SettingError` naming the
  setting and what is allowed ("Setting scanner_max_gap_ms: 500 is outside 5-200") and nothing
  of the set is applied;
- `check_settings(s)`: the same checks over a whole `StationSettings` (the store checks every
  save with it, so nothing out of range is ever written);
- `load_settings`: a stored value that no longer parses or is out of range falls back to its
  default (text keeps what is stored: a station id from before the limits stays usable).

The table is documented in docs/architecture.md §8 (a test keeps the two the same).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from station.errors import StationError
from station.limits import LIMITS, TextLimit, check_text
from station.store.schema import settings as settings_table


class SettingError(StationError, ValueError):
    """A setting value that may not be stored; the message names the setting and what is allowed."""


@dataclass(frozen=True)
class Setting:
    """One setting's declaration (built from the dataclass field and its `setting(...)`)."""

    name: str
    kind: type  # bool, int, float or str: the field's annotation
    default: Any
    label: str
    lo: float | None = None  # numbers: the allowed range, both ends included
    hi: float | None = None
    choices: tuple[str, ...] = ()  # text with a fixed set of values
    limit: str | None = None  # text: its limit in station.limits.LIMITS
    pattern: str | None = None  # text: the whole value must match (shape says what it looks like)
    shape: str = ""
    required: bool = False  # text that may not be empty
    case: str = ""  # "upper" | "lower": how typed text is normalised
    path: bool = False  # text naming a file: kept absolute (a relative name is from where typed)

    @property
    def allowed(self) -> str:
        """What values are allowed, in words ("5-200", "enter, tab or none", "on or off")."""
        if self.kind is bool:
            return "on or off"
        if self.lo is not None and self.hi is not None:
            return f"{_num(self.lo)}-{_num(self.hi)}"
        if self.choices:
            return ", ".join(self.choices[:-1]) + f" or {self.choices[-1]}"
        parts = [self.shape] if self.shape else []
        if self.limit is not None:
            lim = LIMITS[self.limit]
            if isinstance(lim, TextLimit):
                parts.append(lim.shape or f"at most {lim.max_len} characters")
        if self.required:
            parts.append("not empty")
        return ", ".join(parts) or "any text"

    def coerce(self, value: Any) -> Any:
        """The value as the declared type (from text or a typed value); SettingError if it is not one."""
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str):
                word = value.strip().lower()
                if word in _TRUE:
                    return True
                if word in _FALSE:
                    return False
            raise self.error(f"{value!r} is not on or off (true/false, yes/no, 1/0)")
        if kind is int:
            if isinstance(value, bool):
                raise self.error(f"{value!r} is not a whole number")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    pass
            raise self.error(f"{value!r} is not a whole number")
        if kind is float:
            if isinstance(value, bool):
                raise self.error(f"{value!r} is not a number")
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    pass
            raise self.error(f"{value!r} is not a number")
        if not isinstance(value, str):
            raise self.error(f"{value!r} is not text")
        return value

    def typed(self, value: Any) -> Any:
        """A value given by a person or a sync: coerced, and text normalised (trimmed, cased)."""
        value = self.coerce(value)
        if self.kind is str:
            value = value.strip()
            if self.case == "upper":
                value = value.upper()
            elif self.case == "lower" or self.choices:
                value = value.lower()
            if self.path and value:
                value = os.path.abspath(os.path.expanduser(value))
        return value

    def problem(self, value: Any) -> str | None:
        """None when the (typed) value may be stored, else the message naming the setting."""
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return self._say(f"{value!r} is not a number")
            if isinstance(value, float) and not math.isfinite(value):
                return self._say(f"{value!r} is not a finite number")
            if self.lo is not None and self.hi is not None and not self.lo <= value <= self.hi:
                return self._say(f"{_num(value)} is outside {self.allowed}")
            return None
        if self.kind is bool:
            return None if isinstance(value, bool) else self._say(f"{value!r} is not on or off")
        if not isinstance(value, str):
            return self._say(f"{value!r} is not text")
        if self.limit is not None:
            problem = check_text(self.limit, value)
            if problem is not None:
                return self._say(problem)
        if self.required and not value.strip():
            return self._say(f"{self.label} is empty")
        if self.choices and value not in self.choices:
            return self._say(f"{value!r} is not one of {self.allowed}")
        if self.pattern is not None and value and not re.fullmatch(self.pattern, value):
            return self._say(f"{value!r} is not {self.shape}")
        return None

    def error(self, detail: str) -> SettingError:
        return SettingError(self._say(detail))

    def _say(self, detail: str) -> str:
        return f"Setting {self.name}: {detail}"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(default: Any, label: str, **spec: Any) -> Any:
    """A StationSettings field: its default, label and what is allowed (see `Setting`)."""
    return dataclasses.field(default=default, metadata={"setting": {"label": label, **spec}})


RESOLUTION_PATTERN = r"[1-9]\d{1,4}x[1-9]\d{1,4}"


@dataclass(frozen=True)
class StationSettings:
    station_id: str = setting("", "Station id", limit="station_id", required=True, case="upper")
    area: str = setting("", "Area", limit="area", required=True)
    # the centre's sync service, https://... (its token is never stored here)
    central_url: str = setting("", "Centre address", limit="central_url")
    # a CA bundle for a centre with its own CA; empty = the system's
    central_ca_file: str = setting("", "Centre CA file", limit="central_ca_file", path=True)
    # bill rule: a short parent is refused instead of warned
    short_parent_is_error: bool = setting(False, "Refuse a parent bag that is not full on a bill")
    # Scanner ("keyboard wedge") burst detection.
    scanner_max_gap_ms: int = setting(30, "Scanner: keys at most this far apart (ms)", lo=5, hi=200)
    scanner_min_length: int = setting(4, "Scanner: shortest code (characters)", lo=1, hi=50)
    scanner_suffix: str = setting("enter", "Scanner: suffix after a code", limit="scanner_suffix",
                                  choices=("enter", "tab", "none"))
    scanner_silence_ms: int = setting(  # end of a burst without suffix
        80, "Scanner: end of a code without suffix after (ms)", lo=20, hi=1000)
    serial_port: str = setting("", "Serial scanner port (empty = none)", limit="serial_port")
    serial_baud: int = setting(9600, "Serial scanner speed (baud)", lo=1200, hi=921600)
    sound_muted: bool = setting(False, "Mute sounds")
    idle_release_minutes: int = setting(10, "Release a parent after idle (minutes)", lo=1, hi=240)
    # camera index, video file, image folder or stream URL; empty = none
    camera: str = setting("", "Camera (empty = none)", limit="camera")
    camera_resolution: str = setting("1280x720", "Camera resolution", limit="camera_resolution",
                                     pattern=RESOLUTION_PATTERN, case="lower",
                                     shape="width x height (e.g. 1280x720)", required=True)
    decoder_backend: str = setting("zxing", "Camera decoder", limit="decoder_backend",
                                   choices=("zxing", "zbar"))
    # 0: a code is read again only after it left the view
    camera_holdoff_s: float = setting(0.0, "Camera: read a code in view again after (s)",
                                      lo=0.0, hi=600.0)

    def replace(self, **changes: Any) -> StationSettings:
        return dataclasses.replace(self, **changes)


def _declarations() -> dict[str, Setting]:
    hints = get_type_hints(StationSettings)
    table: dict[str, Setting] = {}
    for f in fields(StationSettings):
        kind = hints[f.name]
        if kind not in (bool, int, float, str):  # pragma: no cover - a declaration error
            raise TypeError(f"setting {f.name}: unsupported type {kind!r}")
        table[f.name] = Setting(name=f.name, kind=kind, default=f.default, **f.metadata["setting"])
    return table


SETTINGS: dict[str, Setting] = _declarations()


def setting_names() -> list[str]:
    return list(SETTINGS)


def spec(name: str) -> Setting:
    """A setting's declaration; SettingError for an unknown name."""
    try:
        return SETTINGS[name]
    except KeyError:
        raise SettingError(
            f"Unknown setting {name!r} (settings: {', '.join(SETTINGS)})") from None


def check_setting(name: str, value: Any) -> str | None:
    """None when a (typed) value of a setting may be stored, else a message naming the setting
    and what is allowed: a number in its range, one of its choices, text within its limit."""
    return spec(name).problem(value)


def check_settings(s: StationSettings) -> str | None:
    """The first setting that may not be stored (see check_setting), or None."""
    for name, decl in SETTINGS.items():
        problem = decl.problem(getattr(s, name))
        if problem:
            return problem
    return None


def validate(current: StationSettings, changes: Mapping[str, Any]) -> StationSettings:
    """`current` with `changes` (typed values or text, by setting name) applied, every change
    coerced by its declared type and checked; SettingError naming each bad setting and what is
    allowed (several joined by '; '), and then nothing of the set applies. The window, the
    command line and anything a sync brings call this before saving."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in changes.items():
        try:
            decl = spec(name)
            value = decl.typed(raw)
        except SettingError as exc:
            problems.append(exc.message)
            continue
        problem = decl.problem(value)
        if problem:
            problems.append(problem)
        else:
            values[name] = value
    if problems:
        raise SettingError("; ".join(problems))
    return current.replace(**values)


def parse_setting(name: str, text: str) -> Any:
    """One setting typed as text, coerced and checked; SettingError (a ValueError) names it."""
    return getattr(validate(StationSettings(), {name: text}), name)


def load_settings(conn: Connection) -> StationSettings:
    values: dict[str, Any] = {}
    for key, raw in conn.execute(select(settings_table.c.key, settings_table.c.value)):
        decl = SETTINGS.get(key)
        if decl is None:
            continue
        try:
            value = decl.coerce(json.loads(raw))
        except (ValueError, TypeError):
            continue  # a damaged value falls back to its default
        if (decl.kind is not str or decl.choices) and decl.problem(value) is not None:
            continue  # so does a number out of its range or an unknown choice (other text stays)
        values[key] = value
    return StationSettings(**values)


def save_settings(conn: Connection, new: StationSettings) -> None:
    """Write every setting (in the caller's transaction; LocalStore.save_settings checks first)."""
    for f in fields(StationSettings):
        stmt = sqlite_insert(settings_table).values(
            key=f.name, value=json.dumps(getattr(new, f.name))
        )
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
        )
