"""Entry point of `tracetrack-station`: composes the Qt-free commands with the window.

Qt is only imported when the window (or another Qt-only command) actually runs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from station import APP_VERSION
from station import cli as station_cli
from station.cli import Output
from station.errors import NoStation, StationError, StoreError
from station.paths import BASEDIR_ENV, StationPaths, demo_paths, resolve
from station.store.local import LocalStore

DEMO_STATION_ID = "DEMO-1"
DEMO_AREA = "Demo"


def _has_station(paths: StationPaths) -> bool:
    return _station_state(paths) == "ok"


def _station_state(paths: StationPaths) -> str:
    """'ok', 'none' (no station set up there) or 'error' (a store that cannot be used)."""
    if not paths.store.exists():
        return "none"
    try:
        LocalStore.open(paths).close()
    except NoStation:
        return "none"
    except StationError:
        return "error"
    return "ok"


def _interactive() -> bool:
    return bool(sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty())


def _create_demo(paths: StationPaths) -> None:
    store = LocalStore.open(paths, create=True)
    try:
        store.init_station(DEMO_STATION_ID, DEMO_AREA, demo=True)
    finally:
        store.close()


def _offer_demo(paths: StationPaths, out: Output) -> bool:
    """A basedir was given (--basedir or TRACETRACK_BASEDIR) with no station in it: in a
    terminal, offer a demo station there; never replace the folder by another silently."""
    if not _interactive():
        return False
    try:
        answer = input(f"No station is set up in {paths.data_dir}. Create a demo station there "
                       "(operators dispatcher, biller, admin; password demo)? [y/N] ")
    except EOFError:
        return False
    if answer.strip().lower() not in ("y", "yes"):
        return False
    _create_demo(paths)
    out.emit({"demo": True, "basedir": str(paths.data_dir)},
             f"Created a demo station in {paths.data_dir}. Log in as dispatcher, biller or admin "
             "with password 'demo'.")
    return True


def start_window(args: argparse.Namespace, out: Output, *, smoke_test: bool = False) -> int:
    """Open the station window; with no station set up and no basedir given, use a demo one;
    with a basedir that holds no station, offer a demo station there (in a terminal)."""
    paths = resolve(args.basedir)
    if paths.explicit and _station_state(paths) == "none" and not _offer_demo(paths, out):
        out.error(
            f"No station is set up in {paths.data_dir}. Set one up with: tracetrack-station "
            f"--basedir {paths.data_dir} init --station-id ID --area AREA (add --demo for demo "
            f"operators), or run this in a terminal to be offered a demo station there. Without "
            f"--basedir and {BASEDIR_ENV} the demo station in {demo_paths().data_dir} opens."
        )
        return station_cli.EXIT_NO_STATION
    if not paths.explicit and not _has_station(paths):
        demo = demo_paths()
        if not _has_station(demo):
            _create_demo(demo)
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
        return run_window(paths, smoke_test=smoke_test)
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


SMOKE_FLAG = "--smoke-test"


def build_parser() -> argparse.ArgumentParser:
    """The station's commands plus the options of this program as a whole."""
    parser = station_cli.build_parser(registrars())
    parser.add_argument("--version", action="version",
                        version=f"tracetrack-station {APP_VERSION}")
    parser.add_argument(SMOKE_FLAG, action="store_true",
                        help="open the window offscreen, check that every part the station "
                             "loads is there, wait until the login screen has painted, exit "
                             "(0: all there)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Parsed here first for --version, --help and --smoke-test (which station.cli does not
    # know); the commands themselves are run by station.cli as always.
    top = build_parser().parse_args(args)
    handler = start_window
    if top.smoke_test:
        if top.command:
            print(f"tracetrack-station: {SMOKE_FLAG} opens the window: no command with it",
                  file=sys.stderr)
            return station_cli.EXIT_USAGE
        args = [a for a in args if a != SMOKE_FLAG]
        handler = functools.partial(start_window, smoke_test=True)
    return station_cli.main(args, registrars=registrars(), default_handler=handler)


if __name__ == "__main__":
    sys.exit(main())
