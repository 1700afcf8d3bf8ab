"""A station made by the previous release (it logged in to the central database with a password)
upgraded in place: the store opens, the station says plainly that the centre must be connected
again (address and token from add-station), its queued scans stay queued, and once connected to
the sync service every one of them is sent exactly once; the old database password goes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sync.stationkit import central_scalar, local_rows

pytestmark = pytest.mark.central

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "tracetrack-station"
LEGACY = ROOT / "tests" / "data" / "legacy-store"
OLD_PASSWORD = "s3cret-pass"  # what the previous release kept in secrets.json


@pytest.fixture()
def legacy_base(tmp_path: Path) -> Path:
    base = tmp_path / "legacy"
    base.mkdir()
    for name in ("station.sqlite3", "secrets.json"):
        shutil.copy2(LEGACY / name, base / name)
    (base / "secrets.json").chmod(0o600)
    assert json.loads((base / "secrets.json").read_text()) == {"LEGACY-1": OLD_PASSWORD}
    return base


def _station(base: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TRACETRACK_NO_KEYRING="1")
    env.pop("TRACETRACK_CENTRAL_TOKEN", None)
    env.pop("TRACETRACK_BASEDIR", None)
    if token is not None:
        env["TRACETRACK_CENTRAL_TOKEN"] = token
    return subprocess.run([str(EXE), "--basedir", str(base), *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def _events(base: Path) -> dict[str, int]:
    from station.paths import resolve
    from station.store.local import LocalStore

    store = LocalStore.open(resolve(base))
    try:
        return dict(local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1"))
    finally:
        store.close()


def test_previous_release_store_reconnects_and_sends_its_queue_once(legacy_base, central_db) -> None:
    base = legacy_base
    # Opened by this release: it works, and says what to do about the old database address.
    first = _station(base, "sync", "--once")
    assert first.returncode == 6, first.stdout + first.stderr
    said = first.stdout + first.stderr
    assert "is a database address" in said
    assert "add-station" in said and "https://" in said and "token" in said
    assert OLD_PASSWORD not in said  # the old credential is never shown
    assert "Traceback" not in said
    assert _events(base) == {"pending": 6}  # nothing lost, nothing marked

    # doctor reads the whole store and names the one problem, with the same way out.
    doctor = _station(base, "doctor")
    assert doctor.returncode == 6, doctor.stdout + doctor.stderr  # EXIT_CENTRE
    assert "LEGACY-1" in doctor.stdout and "integrity: ok" in doctor.stdout
    assert "pending_events: 6" in doctor.stdout
    problems = [line for line in doctor.stdout.splitlines() if "PROBLEM" in line]
    assert len(problems) == 1 and "add-station" in problems[0] and "token" in problems[0]
    assert OLD_PASSWORD not in doctor.stdout + doctor.stderr

    # The administrator registers the station at a real centre and gives it address and token.
    access = central_db.add_station("LEGACY-1")
    sent = _station(base, "--json", "sync", "--once", "--central", access.url, token=access.token)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    summary = json.loads(sent.stdout.strip().splitlines()[-1])
    assert summary["error"] is None
    assert (summary["sent"], summary["applied"], summary["rejected"], summary["pending"]) == (
        6, 6, 0, 0)
    assert summary["converged"] is True
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events "
                                          "WHERE station_id = 'LEGACY-1'") == 6
    assert central_scalar(central_db.url, "SELECT count(DISTINCT event_id) FROM station_events") == 6
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id = 'SB00101'") == 3
    assert _events(base) == {"applied": 6}
    # The token replaced the old database password; no file keeps the password any more.
    assert json.loads((base / "secrets.json").read_text()) == {"LEGACY-1": access.token}
    assert (base / "secrets.json").stat().st_mode & 0o077 == 0
    for f in base.rglob("*"):
        if f.is_file():
            assert OLD_PASSWORD not in f.read_bytes().decode("latin-1"), f.name

    # Again, with what was kept: nothing new goes, the centre still has each event once.
    again = _station(base, "--json", "sync", "--once")
    assert again.returncode == 0, again.stdout + again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert (summary["sent"], summary["pending"], summary["error"]) == (0, 0, None)
    assert summary["converged"] is True
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 6

    doctor = _station(base, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert access.url in doctor.stdout and "postgresql://" not in doctor.stdout
    assert "PROBLEM" not in doctor.stdout and "pending_events: 0" in doctor.stdout
