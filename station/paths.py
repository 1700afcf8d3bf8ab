"""Every path the station uses: platformdirs by default, one --basedir (or env var) for all."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

BASEDIR_ENV = "TRACETRACK_BASEDIR"
APP_NAME = "TraceTrackStation"


@dataclass(frozen=True)
class StationPaths:
    data_dir: Path
    config_dir: Path
    log_dir: Path
    explicit: bool  # True when --basedir or the env var chose the folder

    @property
    def store(self) -> Path:
        return self.data_dir / "station.sqlite3"

    @property
    def secrets(self) -> Path:
        return self.config_dir / "secrets.json"

    @property
    def qsettings(self) -> Path:
        return self.config_dir / "ui.ini"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "station.log"

    def ensure(self) -> StationPaths:
        for d in (self.data_dir, self.config_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self


def resolve(basedir: str | os.PathLike[str] | None = None) -> StationPaths:
    """--basedir wins, then TRACETRACK_BASEDIR, then the platform's user folders."""
    chosen = basedir if basedir is not None else os.environ.get(BASEDIR_ENV) or None
    if chosen:
        base = Path(chosen).expanduser().resolve()
        return StationPaths(base, base, base / "logs", True)
    return StationPaths(
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        False,
    )


def demo_paths() -> StationPaths:
    """Where `make run` puts the demo station when none is configured."""
    base = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "demo"
    return StationPaths(base, base, base / "logs", True)
