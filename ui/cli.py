"""Entry point of `tracetrack-station`: composes the Qt-free commands with the window.

Qt is only imported when the window (or another Qt-only command) actually runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from station import cli as station_cli
from station.cli import Output
from station.errors import NoStation, StationError, StoreError
from station.paths import StationPaths, demo_paths, resolve
from station.store.local import LocalStore

DEMO_STATION_ID = "DEMO-1"
DEMO_AREA = "Demo"


def _has_station(paths: StationPaths) -> bool:
    if not paths.store.exists():
        return False
    try:
        LocalStore.open(paths).close()
    except StationError:
        return False
    return True


def start_window(args: argparse.Namespace, out: Output) -> int:
    """Open the station window; with no station set up and no basedir given, use a demo one."""
    paths = resolve(args.basedir)
    if not paths.explicit and not _has_station(paths):
        demo = demo_paths()
        if not _has_station(demo):
            store = LocalStore.open(demo, create=True)
            try:
                store.init_station(DEMO_STATION_ID, DEMO_AREA, demo=True)
            finally:
                store.close()
            verb = "created a demo station"
        else:
            verb = "opening the demo station"
        out.emit(
            {"demo": True, "basedir": str(demo.data_dir)},
            f"No station is set up here: {verb} in {demo.data_dir}. Log in as dispatcher, "
            "biller or admin with password 'demo'. (Set up a real station with "
            "tracetrack-station init --station-id ID --area AREA.)",
        )
        paths = demo
    from ui.app import run_window

    try:
        return run_window(paths)
    except NoStation as exc:
        out.error(exc.message)
        return station_cli.EXIT_NO_STATION
    except StoreError as exc:
        out.error(exc.message)
        return station_cli.EXIT_STORE


def registrars() -> list[station_cli.Registrar]:
    """Sub-commands contributed by other packages (sync, reports, camera) are added here."""
    from station.camera import cli as camera_cli
    from sync import cli as sync_cli
    from ui import report_cli

    return [camera_cli.register, sync_cli.register, report_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    return station_cli.main(argv, registrars=registrars(), default_handler=start_window)


if __name__ == "__main__":
    sys.exit(main())
