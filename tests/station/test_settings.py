"""Typed settings: one declaration per setting (type, default, allowed values, label), one
validation for every way a setting comes in, all or nothing; the command line path run as the
real `tracetrack-station` process on a real store."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

from station.cli import EXIT_LOGIN, EXIT_OK, EXIT_USAGE
from station.errors import StoreError
from station.settings import (
    SETTINGS,
    SettingError,
    StationSettings,
    check_settings,
    parse_setting,
    validate,
)
from station.store.local import LocalStore
from tests.station.test_cli import lines, run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


@pytest.fixture
def base(paths) -> Path:  # noqa: ANN001
    return paths.data_dir


def test_every_field_is_declared_with_its_type_and_a_default_it_allows() -> None:
    hints = get_type_hints(StationSettings)
    assert [f.name for f in fields(StationSettings)] == list(SETTINGS)
    for name, decl in SETTINGS.items():
        assert decl.kind is hints[name] and decl.label
        assert decl.default == getattr(StationSettings(), name)
        if name not in ("station_id", "area"):  # set at init
            assert decl.problem(decl.default) is None, name
        if decl.kind in (int, float):
            assert decl.lo is not None and decl.hi is not None, f"{name} has no range"
    assert check_settings(StationSettings(station_id="D1", area="North")) is None


def test_values_are_coerced_by_the_declared_type() -> None:
    s = validate(StationSettings(), {
        "scanner_max_gap_ms": " 50 ", "sound_muted": "yes", "short_parent_is_error": "off",
        "camera_holdoff_s": "2.5", "scanner_suffix": " TAB ", "camera_resolution": "640X480",
        "station_id": " dispatch-2 ", "serial_baud": 19200,
    })
    assert (s.scanner_max_gap_ms, s.sound_muted, s.short_parent_is_error, s.camera_holdoff_s,
            s.scanner_suffix, s.camera_resolution, s.station_id, s.serial_baud) == (
        50, True, False, 2.5, "tab", "640x480", "DISPATCH-2", 19200)
    for name, text, why in [
        ("scanner_max_gap_ms", "fast", "'fast' is not a whole number"),
        ("scanner_max_gap_ms", True, "True is not a whole number"),
        ("sound_muted", "maybe", "'maybe' is not on or off (true/false, yes/no, 1/0)"),
        ("camera_holdoff_s", "soon", "'soon' is not a number"),
        ("camera_holdoff_s", "inf", "inf is not a finite number"),
        ("camera", 7, "7 is not text"),
    ]:
        with pytest.raises(SettingError) as info:
            parse_setting(name, text)  # type: ignore[arg-type]
        assert info.value.message == f"Setting {name}: {why}"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("scanner_max_gap_ms", "500", "Setting scanner_max_gap_ms: 500 is outside 5-200"),
    ("scanner_max_gap_ms", "4", "Setting scanner_max_gap_ms: 4 is outside 5-200"),
    ("scanner_min_length", "0", "Setting scanner_min_length: 0 is outside 1-50"),
    ("scanner_silence_ms", "5000", "Setting scanner_silence_ms: 5000 is outside 20-1000"),
    ("serial_baud", "300", "Setting serial_baud: 300 is outside 1200-921600"),
    ("idle_release_minutes", "0", "Setting idle_release_minutes: 0 is outside 1-240"),
    ("camera_holdoff_s", "600.5", "Setting camera_holdoff_s: 600.5 is outside 0-600"),
    ("scanner_suffix", "space", "Setting scanner_suffix: 'space' is not one of enter, tab or none"),
    ("decoder_backend", "opencv", "Setting decoder_backend: 'opencv' is not one of zxing or zbar"),
    ("camera_resolution", "1280 by 720",
     "Setting camera_resolution: '1280 by 720' is not width x height (e.g. 1280x720)"),
    ("area", "N" * 51, "Setting area: Area is too long: 51 characters (at most 50)"),
    ("area", "  ", "Setting area: Area is empty"),
    ("nonsense", "1", "Unknown setting 'nonsense' (settings: station_id, area, "),
])
def test_a_bad_value_names_the_setting_and_what_is_allowed(name, value, message) -> None:  # noqa: ANN001
    current = StationSettings(station_id="D1", area="North")
    with pytest.raises(SettingError) as info:
        validate(current, {name: value})
    assert info.value.message.startswith(message)


def test_a_set_of_changes_is_all_or_nothing_and_names_every_bad_one() -> None:
    current = StationSettings(station_id="D1", area="North")
    with pytest.raises(SettingError) as info:
        validate(current, {"sound_muted": "yes", "scanner_max_gap_ms": "500",
                           "decoder_backend": "opencv"})
    assert info.value.message == (
        "Setting scanner_max_gap_ms: 500 is outside 5-200; "
        "Setting decoder_backend: 'opencv' is not one of zxing or zbar")
    assert current == StationSettings(station_id="D1", area="North")  # frozen, untouched


def test_the_store_refuses_out_of_range_and_keeps_what_it_had(store: LocalStore) -> None:
    before = store.settings()
    with pytest.raises(StoreError) as info:
        store.save_settings(before.replace(sound_muted=True, idle_release_minutes=0))
    assert info.value.message == "Setting idle_release_minutes: 0 is outside 1-240"
    assert store.settings() == before


def test_a_stored_value_out_of_range_falls_back_to_its_default(store: LocalStore) -> None:
    with store.engine.begin() as conn:
        for key, value in (("scanner_max_gap_ms", 9999), ("decoder_backend", "opencv"),
                           ("sound_muted", "perhaps"), ("serial_baud", 19200)):
            conn.exec_driver_sql("UPDATE settings SET value = ? WHERE key = ?",
                                 (json.dumps(value), key))
    s = store.settings()
    assert (s.scanner_max_gap_ms, s.decoder_backend, s.sound_muted, s.serial_baud) == (
        30, "zxing", False, 19200)


def test_the_docs_table_is_the_declarations() -> None:
    text = DOCS.read_text(encoding="utf-8")
    rows = {m[0]: m[1:] for m in re.findall(
        r"^\s*\| `([a-z_]+)` \| (\w+) \| `([^`]*)` \| ([^|]+) \| ([^|]+) \|$", text, re.M)}
    assert list(rows) == list(SETTINGS)
    for name, decl in SETTINGS.items():
        assert rows[name] == (decl.kind.__name__, json.dumps(decl.default), decl.allowed,
                              decl.label), name


# -- the command line ---------------------------------------------------------------------------------


def _stored(base: Path) -> dict[str, object]:
    p = run("settings", "--json", basedir=base)
    assert p.returncode == EXIT_OK, p.stderr
    return {row["setting"]: row["value"] for row in lines(p)}


def test_cli_lists_the_settings_with_what_each_allows(base: Path) -> None:
    p = run("settings", basedir=base, password=None)
    assert p.returncode == EXIT_OK, p.stderr
    assert "scanner_max_gap_ms = 30  (5-200): Scanner: keys at most this far apart (ms)" in \
        p.stdout.splitlines()
    rows = lines(run("settings", "--json", basedir=base))
    assert [r["setting"] for r in rows] == list(SETTINGS)
    assert rows[list(SETTINGS).index("decoder_backend")]["allowed"] == "zxing or zbar"


def test_cli_refuses_a_bad_value_and_saves_nothing(base: Path) -> None:
    before = _stored(base)
    p = run("settings", "--as", "admin", "sound_muted=yes", "scanner_max_gap_ms=500", basedir=base)
    assert p.returncode == EXIT_USAGE
    assert p.stderr.strip() == (
        "Settings NOT saved: Setting scanner_max_gap_ms: 500 is outside 5-200")
    assert _stored(base) == before
    p = run("settings", "--as", "admin", "scanner_suffix=space", basedir=base)
    assert p.returncode == EXIT_USAGE
    assert "Setting scanner_suffix: 'space' is not one of enter, tab or none" in p.stderr
    p = run("settings", "--as", "admin", "scanner_max_gap_ms", basedir=base)
    assert p.returncode == EXIT_USAGE and "settings takes NAME=VALUE" in p.stderr
    assert _stored(base) == before


def test_cli_settings_are_for_admins(base: Path) -> None:
    before = _stored(base)
    p = run("settings", "--as", "dispatcher", "sound_muted=yes", basedir=base)
    assert p.returncode == EXIT_LOGIN
    assert "dispatcher (dispatcher) may not change station settings" in p.stderr
    p = run("settings", "sound_muted=yes", basedir=base)
    assert p.returncode == EXIT_USAGE and "--as USER" in p.stderr
    assert _stored(base) == before


def test_cli_saves_a_good_set(base: Path) -> None:
    p = run("settings", "--as", "admin", "--json", "sound_muted=yes", "scanner_max_gap_ms=50",
            "camera_resolution=640X480", basedir=base)
    assert p.returncode == EXIT_OK, p.stderr
    assert lines(p) == [
        {"setting": "sound_muted", "value": True, "was": False},
        {"setting": "scanner_max_gap_ms", "value": 50, "was": 30},
        {"setting": "camera_resolution", "value": "640x480", "was": "1280x720"},
    ]
    stored = _stored(base)
    assert (stored["sound_muted"], stored["scanner_max_gap_ms"], stored["camera_resolution"]) == (
        True, 50, "640x480")


def test_a_ca_file_set_by_a_relative_path_is_kept_as_the_file_it_named(base: Path,
                                                                        tmp_path: Path) -> None:
    """`settings --as admin central_ca_file=centre-ca.pem` typed in the folder holding it: the
    setting is that file wherever the station runs from later (before: the relative name was
    kept, and the window or `sync` started elsewhere said 'The CA file centre-ca.pem cannot be
    used'), as `sync --ca-file` and `init --ca-file` already keep it."""
    import os
    import subprocess

    from tests.station.test_cli import EXE

    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "centre-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env["TRACETRACK_PASSWORD"] = "demo"
    p = subprocess.run([EXE, "--basedir", str(base), "settings", "--as", "admin",
                        "central_ca_file=centre-ca.pem"], cwd=certs, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == EXIT_OK, p.stderr
    listed = {o["setting"]: o["value"] for o in lines(run("settings", "--json", basedir=base))}
    assert listed["central_ca_file"] == str(certs / "centre-ca.pem")
    assert parse_setting("central_ca_file", "") == ""  # none: the system's CAs
