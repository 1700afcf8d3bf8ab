"""Operator passwords: verify the web system's werkzeug hashes (scrypt and pbkdf2).

A stored hash is either usable here (then the password matches it or not) or not: malformed,
of a method this station does not know, or with cost parameters so far above werkzeug's own
defaults that checking it would stall the login. An unusable hash is never a wrong password
(no failure is counted, nobody is locked out): that account cannot log in at this station until
an administrator gives it a usable password. Nothing here raises on any text.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)

CANNOT_LOG_IN_HERE = "this account cannot log in here: ask an administrator"

# werkzeug's defaults (werkzeug/security.py: scrypt:32768:8:1; pbkdf2 1 000 000 iterations in
# werkzeug 3.1, 600 000 before); a stored hash may cost at most four times the largest.
WERKZEUG_SCRYPT = (32768, 8, 1)
WERKZEUG_PBKDF2_ITERATIONS = 1_000_000
COST_FACTOR = 4
MAX_SCRYPT_N = WERKZEUG_SCRYPT[0] * COST_FACTOR
MAX_SCRYPT_R = WERKZEUG_SCRYPT[1] * COST_FACTOR
MAX_SCRYPT_P = WERKZEUG_SCRYPT[2] * COST_FACTOR
MAX_SCRYPT_WORK = WERKZEUG_SCRYPT[0] * WERKZEUG_SCRYPT[1] * WERKZEUG_SCRYPT[2] * COST_FACTOR
MAX_PBKDF2_ITERATIONS = WERKZEUG_PBKDF2_ITERATIONS * COST_FACTOR
PBKDF2_HASHES = {"sha1": 20, "sha224": 28, "sha256": 32, "sha384": 48, "sha512": 64}
SCRYPT_DIGEST_BYTES = 64
MAX_SALT = 256  # werkzeug's salts are 16 characters
MAX_STORED = 1024

_NUMBER = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-f]+")
_SALT = re.compile(r"[!-~]+")  # printable ASCII without space (werkzeug's are letters and digits)


class PasswordCheck(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    UNUSABLE = "unusable"  # the stored hash cannot be used here (see hash_problem)


@dataclass(frozen=True)
class _Parsed:
    method: str  # scrypt | pbkdf2
    salt: bytes
    digest: str  # lower-case hex
    n: int = 0
    r: int = 0
    p: int = 0
    hash_name: str = ""
    iterations: int = 0


def _parse(stored: object) -> _Parsed | str:
    """The parsed hash, or why it cannot be used (plain words, no secrets)."""
    if not isinstance(stored, str) or not stored:
        return "no password is set"
    if len(stored) > MAX_STORED:
        return f"the stored hash is {len(stored)} characters long"
    if not stored.isascii():
        return "the stored hash holds non-ASCII characters"
    parts = stored.split("$")
    if len(parts) != 3:
        return "the stored hash is not method$salt$hash"
    method, salt, digest = parts
    if not salt or len(salt) > MAX_SALT or not _SALT.fullmatch(salt):
        return "the stored hash has no usable salt"
    if not _HEX.fullmatch(digest):
        return "the stored hash is not hexadecimal"
    args = method.split(":")
    salt_b = salt.encode("ascii")
    if args[0] == "scrypt":
        if len(args) == 1:
            n, r, p = WERKZEUG_SCRYPT
        elif len(args) == 4 and all(_NUMBER.fullmatch(a) for a in args[1:]):
            n, r, p = (int(a) for a in args[1:])
        else:
            return "the scrypt parameters are not scrypt:N:r:p"
        if n < 2 or n & (n - 1) or r < 1 or p < 1:
            return "the scrypt parameters are invalid"
        if n > MAX_SCRYPT_N or r > MAX_SCRYPT_R or p > MAX_SCRYPT_P or n * r * p > MAX_SCRYPT_WORK:
            return (f"the scrypt cost {n}:{r}:{p} is above this station's limit "
                    f"({COST_FACTOR} x werkzeug's {':'.join(map(str, WERKZEUG_SCRYPT))})")
        if len(digest) != 2 * SCRYPT_DIGEST_BYTES:
            return "the stored scrypt hash has the wrong length"
        return _Parsed("scrypt", salt_b, digest, n=n, r=r, p=p)
    if args[0] == "pbkdf2":
        if len(args) > 3:
            return "the pbkdf2 parameters are not pbkdf2:hash:iterations"
        hash_name = args[1] if len(args) > 1 else "sha256"
        if hash_name not in PBKDF2_HASHES:
            return "the pbkdf2 hash function is not one this station knows"
        if len(args) == 3:
            if not _NUMBER.fullmatch(args[2]):
                return "the pbkdf2 iteration count is not a number"
            iterations = int(args[2])
        else:
            iterations = WERKZEUG_PBKDF2_ITERATIONS
        if iterations < 1:
            return "the pbkdf2 iteration count is invalid"
        if iterations > MAX_PBKDF2_ITERATIONS:
            return (f"the pbkdf2 iteration count {iterations} is above this station's limit "
                    f"({COST_FACTOR} x werkzeug's {WERKZEUG_PBKDF2_ITERATIONS})")
        if len(digest) != 2 * PBKDF2_HASHES[hash_name]:
            return "the stored pbkdf2 hash has the wrong length"
        return _Parsed("pbkdf2", salt_b, digest, hash_name=hash_name, iterations=iterations)
    return "the hash method is not one this station knows (scrypt or pbkdf2)"


def hash_problem(stored: object) -> str | None:
    """Why a stored hash cannot be used at this station, or None when it can."""
    got = _parse(stored)
    return got if isinstance(got, str) else None


def check_password(stored: object, password: str) -> PasswordCheck:
    """MATCH or MISMATCH for a usable stored hash, UNUSABLE for any other; never raises."""
    parsed = _parse(stored)
    if isinstance(parsed, str):
        return PasswordCheck.UNUSABLE
    # A password that is not valid text (a lone surrogate) is hashed as its raw code points:
    # it cannot match what werkzeug made, and it does not raise.
    pw = password.encode("utf-8", "surrogatepass") if isinstance(password, str) else b""
    try:
        if parsed.method == "scrypt":
            n, r, p = parsed.n, parsed.r, parsed.p
            got = hashlib.scrypt(pw, salt=parsed.salt, n=n, r=r, p=p, maxmem=132 * n * r * p)
        else:
            got = hashlib.pbkdf2_hmac(parsed.hash_name, pw, parsed.salt, parsed.iterations)
    except (ValueError, MemoryError):
        return PasswordCheck.UNUSABLE
    ok = hmac.compare_digest(got.hex().encode("ascii"), parsed.digest.encode("ascii"))
    return PasswordCheck.MATCH if ok else PasswordCheck.MISMATCH


def verify_password(stored: object, password: str) -> bool:
    """True when `password` matches a `scrypt:N:r:p$salt$hex` or `pbkdf2:sha256:N$salt$hex` hash."""
    return check_password(stored, password) is PasswordCheck.MATCH


def make_password_hash(password: str, method: str = "scrypt") -> str:
    """A hash in the same format the web system writes (used for demo operators)."""
    salt = secrets.token_urlsafe(12)[:16]
    if method == "scrypt":
        n, r, p = WERKZEUG_SCRYPT
        digest = hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
        ).hex()
        return f"scrypt:{n}:{r}:{p}${salt}${digest}"
    iterations = 600000
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2:sha256:{iterations}${salt}${digest}"
