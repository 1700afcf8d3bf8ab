"""The centre's check of what a station sends, before anything is written.

Pure functions on the decoded JSON (no database, never raising): every field of every event is
checked against the central column it lands in (the table is `station.limits.LIMITS`, the same
one the station checks typed values against). A failing event is that event's `rejected`
result with reason `malformed_event` and a message naming the field and the limit; the other
events of its batch are decided as usual.

    problem = check_event(wire)             # None, or (field, message)
    if problem:
        result = ("rejected", MALFORMED, problem[1])
        key = event_key(wire)               # (event_id, seq) to record it under, or None
        row = loggable(wire)                # the event's fields made safe for station_events
"""

from __future__ import annotations

from typing import Any

from station.limits import (
    LIMITS,
    MALFORMED,
    IntLimit,
    TextLimit,
    check_device_time,
    check_int,
    check_text,
    show,
    validate_wire_event,
    wire_problems,
)

__all__ = [
    "MALFORMED", "check_batch", "check_event", "event_key", "event_problems", "loggable",
    "safe_text",
]


def check_event(wire: Any) -> tuple[str, str] | None:
    """(field, message) of the first problem of one wire event (Event.to_wire() shape), or
    None when it may be decided and written. Never raises."""
    return validate_wire_event(wire)


def event_problems(wire: Any) -> list[tuple[str, str]]:
    """Every problem of one wire event, in field order (for logs and tests). Never raises."""
    return wire_problems(wire)


def event_key(wire: Any) -> tuple[str, int] | None:
    """(event_id, seq) of an event whose id and sequence number are both well formed, so a
    malformed event can still be recorded (once) and a resend find its stored result; None when
    either is unusable (then the event can only be answered, not recorded)."""
    try:
        if not isinstance(wire, dict):
            return None
        event_id, seq = wire.get("event_id"), wire.get("seq")
        id_lim, seq_lim = LIMITS["event_id"], LIMITS["seq"]
        assert isinstance(id_lim, TextLimit) and isinstance(seq_lim, IntLimit)
        if not isinstance(event_id, str) or id_lim.pattern is None:
            return None
        if id_lim.pattern.fullmatch(event_id) is None:
            return None
        if isinstance(seq, bool) or not isinstance(seq, int):
            return None
        if not seq_lim.lo <= seq <= seq_lim.hi:
            return None
        return event_id, seq
    except Exception:
        return None


def safe_text(value: Any, limit: int = 200) -> str:
    """Any value as text that any text column takes: no NUL, no control characters, no lone
    surrogates, at most `limit` characters (text is shown escaped, other values by kind)."""
    try:
        shown = show(value, limit)
        if isinstance(value, str):
            shown = shown[1:-1]  # show() quotes text
        if len(shown) > limit:  # escapes made it longer
            shown = shown[: max(limit - 1, 0)] + "…"
        return shown
    except Exception:
        return "?"


def loggable(wire: Any) -> dict[str, Any]:
    """The fields of a (possibly malformed) wire event made safe to write to station_events:
    text escaped and cut to its limit, `seq` and `protocol_version` only when in range,
    `data` only when it passed its own check (else {})."""
    w = wire if isinstance(wire, dict) else {}

    def text(key: str, field: str, empty: str = "") -> str:
        lim = LIMITS[field]
        assert isinstance(lim, TextLimit)
        v = w.get(key)
        return empty if v is None else safe_text(v, lim.max_len)

    def code(key: str) -> str | None:
        v = w.get(key)
        return None if v is None else safe_text(v, 255)

    pv = w.get("protocol_version")
    pv_ok = isinstance(pv, int) and not isinstance(pv, bool) and 0 <= pv <= 2**31 - 1
    data = w.get("data")
    data_ok = isinstance(data, dict) and not any(
        f == "data" or f.startswith("data.") for f, _ in wire_problems({"data": data})
    )
    key = event_key(wire)
    return {
        "event_id": key[0] if key else text("event_id", "event_id"),
        "seq": key[1] if key else None,
        "type": "?" if w.get("type") is None else safe_text(w.get("type"), 40),
        "operator": text("operator", "operator", "?"),
        "device_time": text("device_time", "device_time"),
        "parent_code": code("parent"),
        "child_code": code("child"),
        "bill_code": code("bill"),
        "data": data if data_ok else {},
        "app_version": text("app_version", "app_version"),
        "protocol_version": pv if pv_ok else None,
    }


def check_batch(obj: Any) -> tuple[str, str] | None:
    """The first problem of a push batch's own fields (not its events), or None: station id,
    protocol and app version, backlog, oldest pending age, device time, events a list."""
    try:
        if not isinstance(obj, dict):
            return "batch", f"the batch must be an object, not {show(obj)}"
        for key in ("station_id", "protocol_version", "events"):
            if key not in obj:
                return key, f"{key} is missing"
        problem = check_text("station_id", obj["station_id"])
        if problem:
            return "station_id", problem
        problem = check_int("protocol_version", obj["protocol_version"])
        if problem:
            return "protocol_version", problem
        if obj.get("app_version") is not None:
            problem = check_text("app_version", obj["app_version"])
            if problem:
                return "app_version", problem
        backlog = obj.get("backlog", 0)
        if isinstance(backlog, bool) or not isinstance(backlog, int) or not (
            0 <= backlog <= 2**31 - 1
        ):
            return "backlog", f"backlog must be a whole number 0-{2**31 - 1}, not {show(backlog)}"
        oldest = obj.get("oldest_pending_s")
        if oldest is not None:
            if isinstance(oldest, bool) or not isinstance(oldest, (int, float)):
                return "oldest_pending_s", f"oldest_pending_s must be a number, not {show(oldest)}"
            if not (0 <= oldest < 1e12):  # also false for NaN
                return "oldest_pending_s", (
                    f"oldest_pending_s must be a finite number of seconds, not {oldest!r}"
                )
        device_time = obj.get("device_time")
        if device_time not in (None, ""):
            problem = check_device_time(device_time)
            if problem:
                return "device_time", problem
        if not isinstance(obj["events"], list):
            return "events", f"events must be a list, not {show(obj['events'])}"
        return None
    except Exception as exc:
        return "batch", f"the batch cannot be checked ({type(exc).__name__})"
