"""Operator passwords: verify the web system's werkzeug hashes (scrypt and pbkdf2:sha256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


def verify_password(stored: str, password: str) -> bool:
    """True when `password` matches a `scrypt:N:r:p$salt$hex` or `pbkdf2:sha256:N$salt$hex` hash."""
    try:
        method, salt, expected = stored.split("$", 2)
    except ValueError:
        return False
    parts = method.split(":")
    pw = password.encode("utf-8")
    salt_b = salt.encode("utf-8")
    try:
        if parts[0] == "scrypt":
            n, r, p = (int(x) for x in (parts[1:4] if len(parts) == 4 else (32768, 8, 1)))
            got = hashlib.scrypt(pw, salt=salt_b, n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
        elif parts[0] == "pbkdf2":
            hash_name = parts[1] if len(parts) > 1 else "sha256"
            iterations = int(parts[2]) if len(parts) > 2 else 600000
            got = hashlib.pbkdf2_hmac(hash_name, pw, salt_b, iterations).hex()
        else:
            return False
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def make_password_hash(password: str, method: str = "scrypt") -> str:
    """A hash in the same format the web system writes (used for demo operators)."""
    salt = secrets.token_urlsafe(12)[:16]
    if method == "scrypt":
        n, r, p = 32768, 8, 1
        digest = hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
        ).hex()
        return f"scrypt:{n}:{r}:{p}${salt}${digest}"
    iterations = 600000
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"
