"""Entry point of `tracetrack-station`: composes the Qt-free commands with the window.

Qt is only imported when the window (or another Qt-only command) actually runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from station import cli as station_cli
from station.cli import Output


def start_window(args: argparse.Namespace, out: Output) -> int:
    out.error(
        "The station window is not built yet. Use the commands instead: "
        "tracetrack-station --help"
    )
    return station_cli.EXIT_USAGE


def registrars() -> list[station_cli.Registrar]:
    """Sub-commands contributed by other packages (sync, reports, camera) are added here."""
    from station.camera import cli as camera_cli

    return [camera_cli.register]


def main(argv: Sequence[str] | None = None) -> int:
    return station_cli.main(argv, registrars=registrars(), default_handler=start_window)


if __name__ == "__main__":
    sys.exit(main())
