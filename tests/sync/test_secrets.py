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


TOKEN = "tts_" + "Zq9" * 14 + "x"  # the shape add-station prints (43 url-safe characters)


def test_init_with_central_keeps_the_token_out_of_settings(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    monkeypatch.setenv("TRACETRACK_CENTRAL_TOKEN", TOKEN)
    rc = main(["--basedir", str(tmp_path), "init", "--station-id", "n1", "--area", "North",
               "--central", "https://central.example:8443/"])
    assert rc == 0, capsys.readouterr().err
    paths = resolve(tmp_path)
    store = LocalStore.open(paths)
    try:
        settings = store.settings()
        with store.engine.connect() as conn:
            raw = " ".join(v for (v,) in conn.exec_driver_sql("SELECT value FROM settings"))
    finally:
        store.close()
    assert settings.central_url == "https://central.example:8443"
    assert "https://central.example:8443" in raw  # the address is a setting
    assert TOKEN not in raw  # the token is not
    for f in paths.data_dir.rglob("*"):
        if f.is_file() and f != paths.secrets:
            assert TOKEN.encode() not in f.read_bytes(), f
    assert TOKEN not in capsys.readouterr().out
    assert SecretStore(paths).get("N1") == TOKEN
    assert stat.S_IMODE(os.stat(paths.secrets).st_mode) == 0o600


def test_init_refuses_a_database_url_and_says_what_to_use(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    monkeypatch.setenv("TRACETRACK_CENTRAL_TOKEN", TOKEN)
    url = "postgresql://station_n1:Very$ecret@127.0.0.1:5432/central"
    rc = main(["--basedir", str(tmp_path), "init", "--station-id", "n1", "--area", "North",
               "--central", url])
    assert rc == 2
    out = capsys.readouterr()
    text = out.out + out.err
    assert "database address" in text
    assert "add-station" in text and "https://" in text and "token" in text
    assert "Very$ecret" not in text  # the old password is not echoed
    assert not resolve(tmp_path).store.exists()  # nothing half made
    assert not resolve(tmp_path).secrets.exists()


def test_init_with_a_token_file_others_can_read_sets_nothing_up(tmp_path, monkeypatch,
                                                                capsys) -> None:
    """`init --central` where secrets.json is readable by others: refused before the station is
    set up, so doing what the message says (chmod 600) and running init again works (before:
    the station was set up without its token, and init again said 'already set up')."""
    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    monkeypatch.setenv("TRACETRACK_CENTRAL_TOKEN", TOKEN)
    paths = resolve(tmp_path)
    paths.secrets.write_text("{}")
    os.chmod(paths.secrets, 0o644)
    args = ["--basedir", str(tmp_path), "init", "--station-id", "n1", "--area", "North",
            "--central", "https://central.example:8443/"]
    assert main(args) == 5
    err = capsys.readouterr().err
    assert f"chmod 600 {paths.secrets}" in err and "no station was set up" in err
    os.chmod(paths.secrets, 0o600)
    assert main(args) == 0, capsys.readouterr().err
    assert SecretStore(paths).get("N1") == TOKEN


def test_a_full_disk_when_keeping_the_token_is_said_plainly_and_keeps_the_old_file() -> None:
    """The token cannot be written (the disk is full): SecretError saying so, which the commands
    print (before: OSError's traceback from init and sync --central), and the file as it was."""
    from tests.station.test_store import fill, small_disk

    with small_disk("1m") as disk:
        paths = resolve(disk / "station").ensure()
        secrets = SecretStore(paths, use_keyring=False)
        secrets.set("D1", "old-token")
        fill(disk)
        with pytest.raises(SecretError) as info:
            secrets.set("D1", "new-token" * 1000)
        assert str(paths.secrets) in info.value.message and "space" in info.value.message
        assert secrets.get("D1") == "old-token"
        assert not paths.secrets.with_name("secrets.json.tmp").exists()
