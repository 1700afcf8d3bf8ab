"""`tracetrack-station` with no command: a demo station is created when none is set up, and
the window opens and paints (a real process, offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_first_run_creates_a_demo_station_and_opens_the_window(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env.update({
        "QT_QPA_PLATFORM": "offscreen",
        "TRACETRACK_STARTUP_PROBE": "1",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    })
    first = _run([], env)
    assert first.returncode == 0, first.stderr
    assert "created a demo station in" in first.stdout
    assert "STARTUP first_paint_s=" in first.stdout
    demo = tmp_path / "data" / "TraceTrackStation" / "demo" / "station.sqlite3"
    assert demo.exists()
    second = _run([], env)
    assert second.returncode == 0, second.stderr
    assert "opening the demo station" in second.stdout


def test_an_explicit_basedir_without_a_station_is_not_replaced_by_the_demo(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env.update({"QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "data")})
    r = _run(["--basedir", str(tmp_path / "empty")], env)
    assert r.returncode == 4
    assert "No station is set up in" in r.stderr
    assert not (tmp_path / "data" / "TraceTrackStation" / "demo").exists()
