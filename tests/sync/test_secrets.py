"""The central password never lands in the settings: keyring or a 0600 file, and `init --central`."""

from __future__ import annotations

import json
import os
import stat

import pytest

from station.paths import resolve
from station.secrets import SecretError, SecretStore, join_secret, split_secret
from station.store.local import LocalStore
from ui.cli import main


def test_split_and_join_round_trip() -> None:
    clean, pw = split_secret("postgresql://station_d1:s%40cr%2Ft@db.example:5433/central?sslmode=require")
    assert clean == "postgresql://station_d1@db.example:5433/central?sslmode=require"
    assert pw == "s@cr/t"
    assert join_secret(clean, pw) == (
        "postgresql://station_d1:s%40cr%2Ft@db.example:5433/central?sslmode=require"
    )
    assert split_secret("postgresql://u@h/db") == ("postgresql://u@h/db", None)


def test_file_store_is_user_only(tmp_path) -> None:
    paths = resolve(tmp_path).ensure()
    secrets = SecretStore(paths, use_keyring=False)
    secrets.set("D1", "hunter2")
    mode = stat.S_IMODE(os.stat(paths.secrets).st_mode)
    assert mode == 0o600
    assert SecretStore(paths, use_keyring=False).get("D1") == "hunter2"
    secrets.delete("D1")
    assert secrets.get("D1") is None


def test_file_readable_by_others_is_refused(tmp_path) -> None:
    paths = resolve(tmp_path).ensure()
    paths.secrets.write_text(json.dumps({"D1": "x"}))
    os.chmod(paths.secrets, 0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        SecretStore(paths, use_keyring=False).get("D1")


def test_init_with_central_keeps_password_out_of_settings(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    url = "postgresql://station_n1:Very$ecret@127.0.0.1:5432/central"
    rc = main(["--basedir", str(tmp_path), "init", "--station-id", "n1", "--area", "North",
               "--central", url])
    assert rc == 0
    paths = resolve(tmp_path)
    store = LocalStore.open(paths)
    try:
        settings = store.settings()
        with store.engine.connect() as conn:
            raw = " ".join(v for (v,) in conn.exec_driver_sql("SELECT value FROM settings"))
    finally:
        store.close()
    assert settings.central_url == "postgresql://station_n1@127.0.0.1:5432/central"
    assert "Very$ecret" not in raw
    assert "Very$ecret" not in paths.store.read_bytes().decode("latin-1")
    assert SecretStore(paths).get("N1") == "Very$ecret"
    assert stat.S_IMODE(os.stat(paths.secrets).st_mode) == 0o600
