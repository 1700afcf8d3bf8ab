"""Station settings set at the centre reach the station through a real pull and go through the
same validation as the window and the command line: a bad value is refused with its message as
the run's notice, nothing of the set is applied, and the station keeps its settings."""

from __future__ import annotations

import pytest

from tests.sync.stationkit import central_exec, make_station, worker_for

pytestmark = pytest.mark.central


def _centre_sets(central_db, **values: str) -> None:  # noqa: ANN001
    for name, value in values.items():
        central_exec(central_db.url,
                     "INSERT INTO station_centre_settings (key, value) VALUES (%s, %s) "
                     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                     f"station.{name}", value)


def test_settings_from_the_centre_are_validated_all_or_nothing(central_db, tmp_path) -> None:  # noqa: ANN001
    store = make_station(tmp_path, "D1")
    worker = worker_for(store, central_db.add_station("D1"))
    try:
        _centre_sets(central_db, scanner_max_gap_ms="50", sound_muted="yes",
                     decoder_backend="zbar")
        summary = worker.run_once()
        assert summary.error is None and summary.notice is None, summary
        good = store.settings()
        assert (good.scanner_max_gap_ms, good.sound_muted, good.decoder_backend) == (
            50, True, "zbar")

        # One bad value in the set: refused with its message, nothing of the set applied.
        _centre_sets(central_db, scanner_max_gap_ms="500", sound_muted="no")
        summary = worker.run_once()
        assert summary.error is None and summary.state == "online"
        assert summary.notice == (
            "Settings from the centre NOT applied: "
            "Setting scanner_max_gap_ms: 500 is outside 5-200")
        assert store.settings() == good

        _centre_sets(central_db, scanner_max_gap_ms="40", sound_muted="no",
                     decoder_backend="opencv")
        summary = worker.run_once()
        assert summary.notice == (
            "Settings from the centre NOT applied: "
            "Setting decoder_backend: 'opencv' is not one of zxing or zbar")
        assert store.settings() == good

        # The station's identity and its way to the centre are not the centre's to set.
        _centre_sets(central_db, decoder_backend="zxing", area="South")
        summary = worker.run_once()
        assert summary.notice == (
            "Settings from the centre NOT applied: "
            "Setting area: set at the station only, not from the centre")
        assert store.settings() == good

        central_exec(central_db.url, "DELETE FROM station_centre_settings WHERE key = %s",
                     "station.area")
        summary = worker.run_once()
        assert summary.notice is None
        now = store.settings()
        assert (now.scanner_max_gap_ms, now.sound_muted, now.decoder_backend) == (
            40, False, "zxing")
    finally:
        worker.close()
        store.close()


def test_the_centre_command_checks_as_the_station_does(central_db, tmp_path, capsys) -> None:  # noqa: ANN001
    from central.cli import main as central_main

    def run(*args: str) -> tuple[int, str, str]:
        rc = central_main(["station-settings", "--url", central_db.url, *args])
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert run() == (0, "The centre sets no station settings: each station keeps its own.\n", "")
    assert run("scanner_max_gap_ms=50", "sound_muted=yes", "camera_resolution=640X480")[0] == 0
    stored = "camera_resolution = 640x480\nscanner_max_gap_ms = 50\nsound_muted = true\n"
    assert run() == (0, stored, "")
    rc, _, err = run("idle_release_minutes=5", "scanner_max_gap_ms=500", "decoder_backend=opencv")
    assert rc == 2
    assert err == ("tracetrack-central: Setting scanner_max_gap_ms: 500 is outside 5-200; "
                   "Setting decoder_backend: 'opencv' is not one of zxing or zbar\n")
    rc, _, err = run("area=South")
    assert rc == 2 and "Setting area: set at the station only, not from the centre" in err
    assert run() == (0, stored, "")  # nothing of a refused set was stored

    store = make_station(tmp_path, "D2")
    worker = worker_for(store, central_db.add_station("D2"))
    try:
        assert worker.run_once().notice is None
        s = store.settings()
        assert (s.scanner_max_gap_ms, s.sound_muted, s.camera_resolution) == (50, True, "640x480")
        assert run("--unset", "sound_muted")[0] == 0
        assert run("--json")[1] == '{"camera_resolution": "640x480", "scanner_max_gap_ms": "50"}\n'
        worker.run_once()
        assert store.settings().sound_muted  # no longer set by the centre: the station keeps it
    finally:
        worker.close()
        store.close()
