"""Every path the station uses: platformdirs by default, one --basedir (or env var) for all.

The station's folders are private (0700): the store holds the operators' password hashes.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs

BASEDIR_ENV = "TRACETRACK_BASEDIR"
APP_NAME = "TraceTrackStation"
PRIVATE_DIR = 0o700
# Unix file modes mean something (Windows folders are private to the user by default).
POSIX_MODES = os.name == "posix"


def make_private_dir(d: Path) -> None:
    """Create `d` (and its missing parents) and make `d` itself 0700 when this user owns it."""
    d.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    if not POSIX_MODES:
        return
    st = d.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        os.chmod(d, PRIVATE_DIR)


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
        """Create the station's folders, private (0700): new ones, and existing ones this user
        owns (a folder owned by someone else is left as it is; opening the store checks it)."""
        for d in (self.data_dir, self.config_dir, self.log_dir):
            make_private_dir(d)
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
