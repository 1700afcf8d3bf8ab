"""`tracetrack-station` with no command: a demo station is created when none is set up, and
the window opens and paints (a real process, offscreen); a basedir with no station is offered a
demo station there; SIGTERM closes the window like its close button (ui.ini is written)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    base = tmp_path / "empty"
    assert f"No station is set up in {base}. Set one up with: tracetrack-station --basedir " \
        f"{base} init --station-id ID --area AREA (add --demo for demo operators)" in r.stderr
    assert "run this in a terminal to be offered a demo station there" in r.stderr
    assert not (tmp_path / "data" / "TraceTrackStation" / "demo").exists()
    assert not (base / "station.sqlite3").exists()


def test_an_empty_basedir_is_offered_a_demo_station_in_a_terminal(tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:  # noqa: ANN001
    """`make run` with TRACETRACK_BASEDIR pointing at an empty folder, in a terminal: asked,
    and a yes makes a demo station there and opens it."""
    import ui.app
    import ui.cli
    from station.store.local import LocalStore

    opened: list[Path] = []
    monkeypatch.setattr(ui.cli, "_interactive", lambda: True)
    monkeypatch.setattr(ui.app, "run_window", lambda paths, **_: opened.append(paths.data_dir)
                        or 0)
    monkeypatch.setenv("TRACETRACK_BASEDIR", str(tmp_path / "empty"))
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: (print(prompt), next(answers))[1])
    assert ui.cli.main([]) == 4  # "no": nothing made, the way to set one up is said
    assert not (tmp_path / "empty" / "station.sqlite3").exists()
    assert ui.cli.main([]) == 0
    out = capsys.readouterr().out
    assert "Create a demo station there (operators dispatcher, biller, admin; password demo)?" \
        in out
    assert opened == [(tmp_path / "empty").resolve()]
    from station.paths import resolve

    store = LocalStore.open(resolve(tmp_path / "empty"))
    try:
        assert store.settings().station_id == "DEMO-1"
    finally:
        store.close()


def test_sigterm_closes_the_window_and_keeps_its_layout(tmp_path: Path, qtbot) -> None:  # noqa: ANN001
    from station.paths import resolve
    from station.store.local import LocalStore

    base = tmp_path / "st"
    store = LocalStore.open(resolve(base), create=True)
    store.init_station("T1", "North", demo=True)
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "--basedir", str(base)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = base / "logs" / "station.log"
    try:
        qtbot.waitUntil(lambda: proc.poll() is not None or (
            log.exists() and "window shown" in log.read_text(errors="replace")), timeout=60000)
        assert proc.poll() is None, proc.communicate()
        ini = base / "ui.ini"
        assert not ini.exists() or "geometry" not in ini.read_text()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "geometry=" in (base / "ui.ini").read_text()
    assert "SIGTERM received: closing the window" in log.read_text()


@pytest.fixture(autouse=True)
def _no_basedir_from_the_user(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("TRACETRACK_BASEDIR", raising=False)
