"""Operator login: werkzeug hash formats, wrong passwords, lockout after five failures."""

from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from station.auth import make_password_hash, verify_password
from station.errors import LoginFailed
from station.service import StationService
from station.store.local import upsert_operator


@pytest.mark.parametrize(
    "method", ["scrypt", "scrypt:16384:8:1", "pbkdf2:sha256", "pbkdf2:sha256:1000"]
)
def test_werkzeug_hashes_verify(method: str) -> None:
    stored = generate_password_hash("s3cret ü", method=method)
    assert verify_password(stored, "s3cret ü")
    assert not verify_password(stored, "s3cret u")
    assert not verify_password(stored, "")


@pytest.mark.parametrize("stored", ["", "plain", "md5$x$y", "scrypt:x:y:z$salt$00", "pbkdf2:sha256$a"])
def test_unusable_hashes_never_match(stored: str) -> None:
    assert not verify_password(stored, "plain")


def test_our_hashes_use_the_web_formats() -> None:
    scrypt = make_password_hash("demo")
    assert scrypt.startswith("scrypt:32768:8:1$") and verify_password(scrypt, "demo")
    pbkdf2 = make_password_hash("demo", "pbkdf2")
    assert pbkdf2.startswith("pbkdf2:sha256:600000$") and verify_password(pbkdf2, "demo")


def test_login_with_a_web_system_hash(make_service, store) -> None:
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "ravi", generate_password_hash("pw", "pbkdf2:sha256:1000"),
                        "biller", "North")
    svc: StationService = make_service()
    op = svc.login("Ravi", "pw")  # user names match ignoring case
    assert (op.username, op.role) == ("ravi", "biller")


def test_wrong_password_and_unknown_user(make_service) -> None:
    svc = make_service()
    with pytest.raises(LoginFailed) as info:
        svc.login("dispatcher", "nope")
    assert info.value.reason == "wrong_password"
    assert "Wrong password for dispatcher (attempt 1 of 5)" == info.value.message
    with pytest.raises(LoginFailed) as info:
        svc.login("ghost", "demo")
    assert info.value.reason == "unknown_user" and "'ghost'" in info.value.message
    assert svc.operator is None


def test_lockout_after_five_failures(make_service, clock) -> None:
    svc = make_service()
    for attempt in range(1, 5):
        with pytest.raises(LoginFailed) as info:
            svc.login("dispatcher", "bad")
        assert f"attempt {attempt} of 5" in info.value.message
    with pytest.raises(LoginFailed) as info:
        svc.login("dispatcher", "bad")
    assert info.value.reason == "locked" and "locked for 15 minutes, until" in info.value.message
    # the right password does not help while locked, and the lock is in the store
    with pytest.raises(LoginFailed) as info:
        make_service().login("dispatcher", "demo")
    assert info.value.reason == "locked" and "until" in info.value.message
    # other users are not locked
    assert make_service().login("biller", "demo").role == "biller"
    clock.advance(minutes=15, seconds=1)
    assert svc.login("dispatcher", "demo").username == "dispatcher"
    # a success resets the count
    with pytest.raises(LoginFailed) as info:
        svc.login("dispatcher", "bad")
    assert "attempt 1 of 5" in info.value.message
