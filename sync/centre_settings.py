"""Station settings set at the centre (docs/architecture.md §8).

The centre keeps them as rows `station.<setting>` of its `station_centre_settings` table (text
values, written by its administrator or the web system); they come with the last page of every
pull (`PullPage.extra["settings"]`, central/feed.py) and go through the same
`station.settings.validate` as the settings screen and the command line: all or nothing. A bad
value is refused with the message naming the setting and what it allows, reported as the run's
notice (`SyncSummary.notice`, printed by `sync` and logged), and the station keeps its settings.
The station's identity and its way to the centre are set at the station only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from station.settings import SettingError, load_settings, save_settings, validate

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
        here = [name for name in incoming if name in STATION_ONLY]
        if here:
            raise SettingError("; ".join(
                f"Setting {name}: set at the station only, not from the centre" for name in here))
        new = validate(current, incoming)
    except SettingError as exc:
        return f"Settings from the centre NOT applied: {exc.message}"
    if new != current:
        save_settings(conn, new)
        log.info("settings from the centre applied: %s", ", ".join(
            name for name in incoming if getattr(new, name) != getattr(current, name)))
    return None


class CentreSettings:
    """Pass as a pull's `on_page`: keeps the settings of the last page; `apply` then applies
    them in one local transaction and returns the notice for a refusal."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] | None = None

    def __call__(self, page: Any) -> None:
        if page.done and EXTRA_KEY in page.extra:
            self.settings = dict(page.extra[EXTRA_KEY] or {})

    def apply(self, conn: Connection) -> str | None:
        if not self.settings:
            return None
        with conn.begin():
            problem = apply_from_centre(conn, self.settings)
        if problem:
            log.warning("%s", problem)
        return problem
