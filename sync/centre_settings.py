"""Station settings set at the centre (docs/architecture.md §8).

The centre keeps them as rows `station.<setting>` of its `station_centre_settings` table (text
values, written by its administrator or the web system); they come with the last page of every
pull (`PullPage.extra["settings"]`, central/feed.py) and go through the same
`station.settings.validate` as the settings screen and the command line: all or nothing. A bad
value is refused with the message naming the setting and what it allows, reported as the run's
notice (`SyncSummary.notice`, printed by `sync` and logged), and the station keeps its settings.
The station's identity and its way to the centre are set at the station only.
`tracetrack-central station-settings` sets them at the centre, checked the same way first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from station.settings import (
    SettingError,
    StationSettings,
    load_settings,
    save_settings,
    spec,
    validate,
)

log = logging.getLogger(__name__)

EXTRA_KEY = "settings"  # the key of PullPage.extra
CENTRE_PREFIX = "station."  # the key prefix in the centre's station_centre_settings
STATION_ONLY = ("station_id", "area", "central_url", "central_ca_file")


def apply_from_centre(conn: Connection, incoming: Mapping[str, Any]) -> str | None:
    """Apply the centre's settings in the caller's transaction; None when applied (or nothing
    changed), else why nothing was applied."""
    if not incoming:
        return None
    current = load_settings(conn)
    try:
        _refuse_station_only(incoming)
        new = validate(current, incoming)
    except SettingError as exc:
        return f"Settings from the centre NOT applied: {exc.message}"
    if new != current:
        save_settings(conn, new)
        log.info("settings from the centre applied: %s", ", ".join(
            name for name in incoming if getattr(new, name) != getattr(current, name)))
    return None


def _refuse_station_only(names: Iterable[str]) -> None:
    here = [name for name in names if name in STATION_ONLY]
    if here:
        raise SettingError("; ".join(
            f"Setting {name}: set at the station only, not from the centre" for name in here))


def centre_values(changes: Mapping[str, Any], unset: Iterable[str] = ()) -> dict[str, str]:
    """The texts the centre keeps for `changes` (by setting name), checked now exactly as the
    stations will check them; SettingError naming every bad one (then nothing is kept).
    `unset` names settings the centre stops setting (each must be a setting)."""
    for name in unset:
        spec(name)
    _refuse_station_only(changes)
    checked = validate(StationSettings(station_id="X", area="X"), changes)
    out: dict[str, str] = {}
    for name in changes:
        value = getattr(checked, name)
        out[name] = value if isinstance(value, str) else json.dumps(value)
    return out


class CentreSettings:
    """Pass as a pull's `on_page`: keeps the settings of the last page; `apply` then applies
    them in one local transaction and returns the notice for a refusal."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] | None = None
        self.changed = False  # set by apply: the station's settings are not what they were
        self.refused: str | None = None  # the settings came as something else than {name: value}

    def __call__(self, page: Any) -> None:
        if page.done and EXTRA_KEY in page.extra:
            raw = page.extra[EXTRA_KEY] or {}
            if isinstance(raw, Mapping) and all(isinstance(k, str) for k in raw):
                self.settings, self.refused = dict(raw), None
            else:
                self.settings = None
                self.refused = ("Settings from the centre NOT applied: they came as "
                                f"{type(raw).__name__}, not as values by setting name")

    def apply(self, conn: Connection) -> str | None:
        if self.refused:
            log.warning("%s", self.refused)
            return self.refused
        if not self.settings:
            return None
        with conn.begin():
            before = load_settings(conn)
            problem = apply_from_centre(conn, self.settings)
            self.changed = problem is None and load_settings(conn) != before
        if problem:
            log.warning("%s", problem)
        return problem
