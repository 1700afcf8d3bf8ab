"""`tracetrack-station --smoke-test` (packaging/smoke.sh runs it on the frozen build): the real
window, offscreen, until the login screen has painted; exit 0 only when every part is there.
Real processes, as the packaged program is run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from station import APP_VERSION
from station.paths import StationPaths
from station.store.local import LocalStore

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRACETRACK_") and k not in ("QT_QPA_PLATFORM", "DISPLAY",
                                                            "WAYLAND_DISPLAY")}
    env.update({f"XDG_{d}_HOME": str(tmp_path / d.lower()) for d in ("DATA", "CONFIG", "STATE",
                                                                       "CACHE")})
    return env


def _run(args: list[str], env: dict[str, str], code: str | None = None,
         ) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "ui.cli", *args]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)  # no terminal: nothing is offered


@pytest.fixture
def basedir(tmp_path: Path) -> Path:
    base = tmp_path / "station"
    store = LocalStore.open(StationPaths(base, base, base / "logs", True), create=True)
    store.init_station("SMOKE-1", "North", demo=True)
    store.close()
    return base


def test_smoke_test_paints_the_login_screen_without_a_display_and_exits_0(
        basedir: Path, tmp_path: Path) -> None:
    r = _run(["--basedir", str(basedir), "--smoke-test"], _env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "smoke test passed: login screen painted" in r.stdout
    assert "platform offscreen" in r.stdout  # chosen by the flag: no screen here
    assert f"TraceTrack Station {APP_VERSION}" in r.stdout
    assert "decoders: zxing-cpp" in r.stdout
    assert "FAILED" not in r.stderr


# The program with one module taken away, as a build that left it out would be.
WITHOUT = """
import sys
sys.modules[{module!r}] = None  # `import` of it now raises ImportError
from ui.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("module", ["PySide6.QtSerialPort", "openpyxl", "zxingcpp"])
def test_smoke_test_fails_loudly_on_a_missing_module(basedir: Path, tmp_path: Path,
                                                     module: str) -> None:
    r = _run(["--basedir", str(basedir), "--smoke-test"], _env(tmp_path),
             code=WITHOUT.format(module=module))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "smoke test FAILED" in r.stderr
    assert f"module {module} cannot be imported" in r.stderr
    assert "smoke test passed" not in r.stdout


def test_smoke_test_without_a_station_fails_before_any_window(tmp_path: Path) -> None:
    r = _run(["--basedir", str(tmp_path / "empty"), "--smoke-test"], _env(tmp_path))
    assert r.returncode == 4
    assert "No station is set up in" in r.stderr
    assert not (tmp_path / "data" / "TraceTrackStation" / "demo").exists()


def test_smoke_test_takes_no_command_and_version_prints_the_version(tmp_path: Path) -> None:
    r = _run(["--smoke-test", "doctor"], _env(tmp_path))
    assert r.returncode == 2
    assert "no command with it" in r.stderr
    v = _run(["--version"], _env(tmp_path))
    assert v.returncode == 0
    assert v.stdout.strip() == f"tracetrack-station {APP_VERSION}"
