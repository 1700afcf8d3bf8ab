"""Operator login: werkzeug hash formats, wrong passwords, lockout after five failures, stored
hashes this station cannot use (never a wrong password, never a lockout, never an exception)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from station import auth
from station.auth import (
    MAX_FAILURES,
    PasswordCheck,
    check_password,
    hash_problem,
    make_password_hash,
    verify_password,
)
from station.errors import LoginFailed
from station.service import StationService
from station.store.local import upsert_operator
from station.store.schema import operators


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


# -- stored hashes this station cannot use ---------------------------------------------------

GOOD_SCRYPT = generate_password_hash("pw", "scrypt")
_, GOOD_SALT, GOOD_DIGEST = GOOD_SCRYPT.split("$")

# (kind, stored hash): each is "this account cannot log in here", never a wrong password
UNUSABLE = [
    ("empty", ""),
    ("no separators", "plain"),
    ("two parts", "pbkdf2:sha256$a"),
    ("four parts", f"scrypt:32768:8:1${GOOD_SALT}${GOOD_DIGEST}$x"),
    ("unknown method md5", "md5$x$y"),
    ("legacy sha256 hmac", f"sha256${GOOD_SALT}${GOOD_DIGEST[:64]}"),
    ("argon2", "argon2id$v=19$m=65536"),
    ("scrypt words", "scrypt:x:y:z$salt$00"),
    ("scrypt two params", f"scrypt:32768:8${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt n not a power of 2", f"scrypt:30000:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt n zero", f"scrypt:0:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt n above 4x", f"scrypt:262144:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt r above 4x", f"scrypt:1024:33:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt p above 4x", f"scrypt:1024:8:5${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt work above 4x", f"scrypt:131072:32:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt huge n", f"scrypt:{2**60}:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt huge digits", f"scrypt:{'9' * 5000}:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt negative", f"scrypt:-32768:8:1${GOOD_SALT}${GOOD_DIGEST}"),
    ("scrypt short digest", f"scrypt:32768:8:1${GOOD_SALT}${GOOD_DIGEST[:-2]}"),
    ("scrypt upper-case digest", f"scrypt:32768:8:1${GOOD_SALT}${GOOD_DIGEST.upper()}"),
    ("scrypt empty digest", f"scrypt:32768:8:1${GOOD_SALT}$"),
    ("empty salt", f"scrypt:32768:8:1$${GOOD_DIGEST}"),
    ("pbkdf2 iterations above 4x", f"pbkdf2:sha256:4000001${GOOD_SALT}${'0' * 64}"),
    ("pbkdf2 zero iterations", f"pbkdf2:sha256:0${GOOD_SALT}${'0' * 64}"),
    ("pbkdf2 iterations words", f"pbkdf2:sha256:many${GOOD_SALT}${'0' * 64}"),
    ("pbkdf2 unknown hash", f"pbkdf2:md5:1000${GOOD_SALT}${'0' * 32}"),
    ("pbkdf2 made-up hash", f"pbkdf2:whirlpool9:1000${GOOD_SALT}${'0' * 64}"),
    ("pbkdf2 too many params", f"pbkdf2:sha256:1000:1${GOOD_SALT}${'0' * 64}"),
    ("pbkdf2 digest length", f"pbkdf2:sha512:1000${GOOD_SALT}${'0' * 64}"),
    ("non-ASCII digest", f"scrypt:32768:8:1${GOOD_SALT}${GOOD_DIGEST[:-1]}é"),
    ("non-ASCII salt", f"scrypt:32768:8:1$sälz${GOOD_DIGEST}"),
    ("non-ASCII method", f"scrÿpt${GOOD_SALT}${GOOD_DIGEST}"),
    ("NUL inside", f"scrypt:32768:8:1${GOOD_SALT}\x00${GOOD_DIGEST}"),
    ("space in salt", f"scrypt:32768:8:1$a b${GOOD_DIGEST}"),
    ("lone surrogate", f"scrypt:32768:8:1${GOOD_SALT}\ud800${GOOD_DIGEST}"),
    ("huge", "scrypt:32768:8:1$" + "s" * 100_000 + "$" + GOOD_DIGEST),
]


@pytest.mark.parametrize(("kind", "stored"), UNUSABLE, ids=[k for k, _ in UNUSABLE])
def test_malformed_or_unknown_hashes_are_unusable_without_hashing(
    kind: str, stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hashing(*_a: object, **_k: object) -> bytes:
        raise AssertionError(f"{kind}: the password was hashed")

    monkeypatch.setattr(auth.hashlib, "scrypt", no_hashing)
    monkeypatch.setattr(auth.hashlib, "pbkdf2_hmac", no_hashing)
    assert check_password(stored, "pw") is PasswordCheck.UNUSABLE
    assert check_password(stored, "pässwörd \ud800") is PasswordCheck.UNUSABLE
    assert hash_problem(stored)
    assert not verify_password(stored, "pw")


@pytest.mark.parametrize("stored", [None, 5, b"scrypt$a$b"])
def test_a_stored_value_that_is_not_text_is_unusable(stored: object) -> None:
    assert check_password(stored, "pw") is PasswordCheck.UNUSABLE


def test_cost_limits_are_four_times_werkzeugs_defaults() -> None:
    from werkzeug import security

    n, r, p = auth.WERKZEUG_SCRYPT
    assert generate_password_hash("x").startswith(f"scrypt:{n}:{r}:{p}$")
    assert auth.MAX_PBKDF2_ITERATIONS == 4 * security.DEFAULT_PBKDF2_ITERATIONS
    assert (auth.MAX_SCRYPT_N, auth.MAX_SCRYPT_R, auth.MAX_SCRYPT_P) == (131072, 32, 4)
    # at the limits: usable (not hashed here: 4 million iterations take seconds)
    assert hash_problem(f"pbkdf2:sha256:4000000${GOOD_SALT}${'0' * 64}") is None
    assert hash_problem(f"scrypt:131072:8:1${GOOD_SALT}${GOOD_DIGEST}") is None
    assert hash_problem(f"scrypt:32768:8:4${GOOD_SALT}${GOOD_DIGEST}") is None
    assert "above this station's limit" in hash_problem(f"scrypt:32768:8:5${GOOD_SALT}${GOOD_DIGEST}")


# (not "pw\x00": HMAC pads keys with zero bytes, so werkzeug's hashes take it for "pw" too)
@pytest.mark.parametrize("password", ["pässwörd", "密码", "\x00pw", "pw\ud800", "", "p" * 10_000])
def test_non_ascii_passwords_never_raise(password: str) -> None:
    for method in ("scrypt", "pbkdf2:sha256:1000"):
        stored = generate_password_hash("pw", method)
        assert check_password(stored, password) is PasswordCheck.MISMATCH
        assert check_password(stored, "pw") is PasswordCheck.MATCH
    assert check_password(generate_password_hash("pässwörd", "pbkdf2:sha256:1000"),
                          "pässwörd") is PasswordCheck.MATCH


_REFUSED_AT_LOGIN = [u for u in UNUSABLE if u[0] in {
    "empty", "unknown method md5", "scrypt n above 4x", "pbkdf2 iterations above 4x",
    "non-ASCII digest", "non-ASCII salt", "scrypt words", "legacy sha256 hmac", "huge",
}]


# ids by kind: a hash made at import has a fresh salt, and every worker of a run must collect
# the same test ids
@pytest.mark.parametrize(("kind", "stored"), _REFUSED_AT_LOGIN,
                         ids=[k for k, _ in _REFUSED_AT_LOGIN])
def test_login_with_an_unusable_hash_says_ask_an_administrator(
    kind: str, stored: str, make_service, store
) -> None:
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "ravi", stored, "biller", "North")
    svc: StationService = make_service()
    for _ in range(MAX_FAILURES + 2):  # never counted as wrong passwords: no lockout
        with pytest.raises(LoginFailed) as info:
            svc.login("ravi", "pw")
        assert info.value.reason == "cannot_log_in_here"
        assert info.value.message == "ravi: this account cannot log in here: ask an administrator"
    with store.connect() as conn:
        failed, locked = conn.execute(
            select(operators.c.failed_count, operators.c.locked_until)
            .where(operators.c.username == "ravi")
        ).one()
    assert (failed, locked) == (0, None)
    assert svc.operator is None
    # an administrator sets a usable password: it works at once (nothing was locked)
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "ravi", generate_password_hash("pw", "pbkdf2:sha256:1000"),
                        "biller", "North")
    assert svc.login("ravi", "pw").username == "ravi"


def test_a_user_without_a_password_at_the_centre_cannot_log_in_here(make_service, store) -> None:
    with store.connect(write=True) as conn, conn.begin():
        upsert_operator(conn, "nopw", None, "biller", "North")  # "user".password_hash NULL
    with pytest.raises(LoginFailed) as info:
        make_service().login("nopw", "")
    assert info.value.reason == "cannot_log_in_here"


@pytest.mark.parametrize("name", ["r" * 65, "ravi\ud800", "ra\x00vi", "ra\nvi"])
def test_login_with_an_impossible_user_name_never_raises_anything_else(
    name: str, make_service
) -> None:
    with pytest.raises(LoginFailed) as info:
        make_service().login(name, "pw")
    assert info.value.reason == "unknown_user"
    assert "No operator" in info.value.message
    info.value.message.encode("utf-8")
