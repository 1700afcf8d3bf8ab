"""Operators at a station (docs/rules.md §5): logging in against the stored werkzeug hashes with
the lockout, logging out, and who is working and what they may do.

Qt-free. `StationService` holds the logged-in `Operator` and calls these; its `login`, `logout`
and `operator` are the API the window and the command line use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from station.auth import CANNOT_LOG_IN_HERE, LOCKOUT, MAX_FAILURES, PasswordCheck, check_password
from station.codes import escape_read
from station.errors import LoginFailed, NotLoggedIn
from station.limits import check_text
from station.reasons import Reason, say
from station.rules import Action, Decision, check_permission
from station.store.local import iso, parse_iso
from station.store.schema import operators


@dataclass(frozen=True)
class Operator:
    username: str
    role: str
    area: str | None


def login_name(username: object) -> str:
    """The user name as typed, trimmed; LoginFailed for one no operator can have (over 64
    characters, a lone surrogate): it never reaches SQLite."""
    name = username.strip() if isinstance(username, str) else ""
    bad_name = check_text("username", name)
    if bad_name:
        raise LoginFailed(Reason.UNKNOWN_USER, say(
            Reason.UNKNOWN_USER, "bad_name", name=escape_read(name), problem=bad_name,
        ))
    return name


_COLUMNS = (operators.c.username, operators.c.password_hash, operators.c.role, operators.c.area,
            operators.c.failed_count, operators.c.locked_until)


def _operator_named(conn: Connection, name: str) -> Any:
    """The operator of this name: the one spelt so, else the one whose name differs only in
    case (in any script: SQLite's lower() knows ASCII only); None when there is none, or when
    two differ only in case and neither is spelt as typed (no guessing whose password it is)."""
    row = conn.execute(select(*_COLUMNS).where(operators.c.username == name)).first()
    if row is not None:
        return row
    folded = name.casefold()
    names = [u for u in conn.execute(select(operators.c.username)).scalars()
             if u.casefold() == folded]
    if len(names) != 1:
        return None
    return conn.execute(select(*_COLUMNS).where(operators.c.username == names[0])).first()


def log_in(conn: Connection, name: str, password: str, now: datetime) -> Operator:
    """Check `name` (as spelt, else ignoring case) and `password` inside the caller's write
    transaction on `conn`. A wrong password counts a failure, and the fifth locks the user for
    `LOCKOUT`: that count is committed before LoginFailed is raised, so it survives."""
    row = _operator_named(conn, name)
    if row is None:
        raise LoginFailed(Reason.UNKNOWN_USER, say(Reason.UNKNOWN_USER, name=name))
    uname, pw_hash, role, area, failed, locked_until = row
    if locked_until and parse_iso(locked_until) > now:
        until = parse_iso(locked_until).astimezone().strftime("%H:%M")
        raise LoginFailed(Reason.LOCKED, say(
            Reason.LOCKED, user=uname, most=MAX_FAILURES, until=until,
        ))
    check = check_password(pw_hash, password)
    if check is PasswordCheck.UNUSABLE:
        # the stored hash is malformed, unknown or too costly: not a wrong password, so no
        # failure is counted and nobody is locked out
        raise LoginFailed(Reason.CANNOT_LOG_IN_HERE, say(
            Reason.CANNOT_LOG_IN_HERE, user=uname, why=CANNOT_LOG_IN_HERE,
        ))
    if check is not PasswordCheck.MATCH:
        failed = (0 if locked_until else failed) + 1
        values: dict[str, Any] = {"failed_count": failed, "locked_until": None}
        if failed >= MAX_FAILURES:
            values = {"failed_count": 0, "locked_until": iso(now + LOCKOUT)}
        conn.execute(update(operators).where(operators.c.username == uname).values(values))
        if failed >= MAX_FAILURES:
            until = (now + LOCKOUT).astimezone().strftime("%H:%M")
            reason, msg = Reason.LOCKED, say(Reason.LOCKED, "now", user=uname, until=until)
        else:
            reason = Reason.WRONG_PASSWORD
            msg = say(Reason.WRONG_PASSWORD, user=uname, failed=failed, most=MAX_FAILURES)
        # Commit the failure count before raising, so it survives the refusal.
        conn.commit()
        raise LoginFailed(reason, msg)
    conn.execute(
        update(operators)
        .where(operators.c.username == uname)
        .values(failed_count=0, locked_until=None)
    )
    return Operator(uname, role, area)


def logged_in(operator: Operator | None) -> Operator:
    """The operator working, or NotLoggedIn: every change is recorded under a name."""
    if operator is None:
        raise NotLoggedIn()
    return operator


def permission(operator: Operator | None, action: Action) -> Decision | None:
    """None when the logged-in operator may do `action`, else the refusal naming them."""
    op = logged_in(operator)
    return check_permission(op.role, action, op.username)


__all__ = ["Operator", "log_in", "logged_in", "login_name", "permission"]
