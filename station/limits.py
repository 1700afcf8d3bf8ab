"""Field limits shared by the station (refused when typed) and the centre (refused per event).

One table, `LIMITS`, holds the bound of every field an event carries and of the settings typed
at a station: the sizes come from the central columns the values land in (`bag.qr_id`
varchar(255), `"user".username` varchar(64), `bill.destination` varchar(200), ...). The station
checks what is typed against it before anything is stored, so nothing it queues is refused by
the centre for its shape; the centre checks every received event with `validate_wire_event`
before anything is written, so one bad event is that event's `malformed_event` result and never
breaks its batch.

Pure functions: no Qt, no SQL, no I/O. `validate_wire_event` never raises, whatever it is given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from station.codes import BILL_ID_PATTERN, MAX_RAW_LENGTH, normalise
from station.events import EventType
from station.reasons import Reason

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The centre's station id rule (central/stations.py: the role name is made from it).
STATION_ID_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_\-]{0,39}")
# ISO 8601 with a zone, as the station writes it (2026-11-23T08:00:00.000+00:00); ASCII digits.
DEVICE_TIME_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
)
# Years a device clock may show (a reset clock says 1970; 9999 + a zone would overflow).
DEVICE_YEARS = (1900, 9998)

# Whitespace control characters a multi-line field (description, close reason) may hold.
_LINE_CONTROLS = frozenset("\t\n\r")


@dataclass(frozen=True)
class TextLimit:
    """A text field: length in characters (as PostgreSQL counts them), no NUL, no lone
    surrogates, no control characters (tab and line breaks only where `multiline`), and, when
    `pattern` is set, the whole value must match it (`shape` says how, in words)."""

    label: str  # how messages name the field ("destination")
    max_len: int
    min_len: int = 0
    multiline: bool = False
    pattern: re.Pattern[str] | None = None
    shape: str = ""
    column: str = ""  # where it lands at the centre (for readers of this table)


@dataclass(frozen=True)
class IntLimit:
    """A whole number (never a bool or a float) in lo..hi. `wire` is the range the centre
    accepts on the wire when the rule functions give values outside lo..hi their own reason
    (a bill target of 501 is the rule's `bad_target`, not a malformed event)."""

    label: str
    lo: int
    hi: int
    wire: tuple[int, int] | None = None
    column: str = ""

    @property
    def wire_range(self) -> tuple[int, int]:
        return self.wire or (self.lo, self.hi)


Limit = TextLimit | IntLimit

LIMITS: dict[str, Limit] = {
    # -- the event itself
    "event_id": TextLimit("event id", 36, 36, pattern=UUID_PATTERN,
                          shape="a lower-case UUID (8-4-4-4-12 hex digits)",
                          column="station_events.event_id"),
    "station_id": TextLimit("station id", 40, 1, pattern=STATION_ID_PATTERN,
                            shape="1-40 capital letters, digits, - or _ (e.g. DISPATCH-2)",
                            column="station_stations.station_id"),
    "seq": IntLimit("sequence number", 1, INT64_MAX, column="station_events.seq bigint"),
    "operator": TextLimit("operator", 64, 1, column='"user".username varchar(64)'),
    "device_time": TextLimit("device time", 40, pattern=DEVICE_TIME_PATTERN,
                             shape="an ISO 8601 time with a zone (2026-11-23T08:00:00.000+00:00)",
                             column="station_events.device_time, bag.created_at"),
    "code": TextLimit("bag code", 255, 1, column="bag.qr_id varchar(255)"),
    "bill_id": TextLimit("bill id", 50, 3, pattern=BILL_ID_PATTERN,
                         shape="3-50 characters of letters, digits and - _ / .",
                         column="bill.bill_id varchar(50)"),
    "app_version": TextLimit("app version", 64, column="station_events.app_version"),
    "protocol_version": IntLimit("protocol version", 0, INT32_MAX,
                                 column="station_events.protocol_version integer"),
    # -- event data
    "description": TextLimit("description", 1000, multiline=True, column="bill.description"),
    "destination": TextLimit("destination", 200, column="bill.destination varchar(200)"),
    "vehicle": TextLimit("vehicle number", 50, column="bill.vehicle_number varchar(50)"),
    "area": TextLimit("area", 50, column="bag.dispatch_area varchar(50)"),
    "reason": TextLimit("close reason", 500, multiline=True,
                        column="station_bill_notes.closed_reason"),
    "target": IntLimit("target", 1, 500, wire=(-INT32_MAX - 1, INT32_MAX),
                       column="bill.parent_bag_count integer"),
    "child_count": IntLimit("child count", 0, INT32_MAX, column="bag.child_count integer"),
    "bag_type": TextLimit("bag type", 64, column="station_bag_types.name"),
    "source": TextLimit("source", 32),
    "label_text": TextLimit("label text", MAX_RAW_LENGTH),
    "data_key": TextLimit("data key", 64, 1),
    "data_text": TextLimit("text", 1000, multiline=True),  # any other string in event data
    # -- settings typed at the station (local only: bounded, no control characters)
    "central_url": TextLimit("centre URL", 2048),
    "central_ca_file": TextLimit("centre CA file", 4096),
    "serial_port": TextLimit("serial port", 255),
    "camera": TextLimit("camera", 4096),
    "camera_resolution": TextLimit("camera resolution", 20),
    "scanner_suffix": TextLimit("scanner suffix", 10),
    "decoder_backend": TextLimit("decoder backend", 10),
    "username": TextLimit("user name", 64, 1, column='"user".username varchar(64)'),
}

# Event data: which limit a known key takes (any other key: data_text / numbers / nesting).
DATA_FIELDS: dict[str, str] = {
    "description": "description",
    "destination": "destination",
    "vehicle": "vehicle",
    "area": "area",
    "reason": "reason",
    "target": "target",
    "child_count": "child_count",
    "bag_type": "bag_type",
    "source": "source",
    "label_text": "label_text",
}
MAX_DATA_KEYS = 32
MAX_DATA_DEPTH = 3  # data -> list/dict -> list/dict -> scalars
MAX_DATA_NODES = 200

EVENT_TYPES = frozenset(str(t) for t in EventType)
MALFORMED = Reason.MALFORMED_EVENT  # the centre's reason for an event over these limits


# -- showing values in messages ------------------------------------------------------------


def show(value: object, limit: int = 40) -> str:
    """A value for a message: quoted text with control characters and surrogates escaped and
    cut to `limit`, or the name of its type. Always plain printable UTF-8."""
    if isinstance(value, str):
        head = value[:limit]
        out: list[str] = []
        for ch in head:
            if ch == "\\":
                out.append("\\\\")
            elif ch == "'" or ch.isprintable():
                out.append(ch)
            else:
                cp = ord(ch)
                out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp < 0x10000
                           else f"\\U{cp:08x}")
        more = "…" if len(value) > limit else ""
        return "'" + "".join(out) + more + "'"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _type_name(value)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a " + type(value).__name__


# -- the checks ------------------------------------------------------------------------------


def _bad_char(text: str, multiline: bool) -> str | None:
    """Why `text` cannot be stored, or None: NUL, a control character, a lone surrogate."""
    if text.isascii() and text.isprintable():
        return None  # what is typed and scanned almost always: no per-character look-ups
    for i, ch in enumerate(text):
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            return f"is not valid text (a lone surrogate \\u{cp:04x} at position {i + 1})"
        if cp == 0:
            return f"holds a NUL character (\\x00 at position {i + 1}): not allowed"
        if (cp < 0x20 or 0x7F <= cp < 0xA0) and not (multiline and ch in _LINE_CONTROLS):
            allowed = " (only tab and line breaks are)" if multiline else ""
            return (f"holds a control character (\\x{cp:02x} at position {i + 1}): "
                    f"not allowed{allowed}")
    return None


def _text_detail(lim: TextLimit, value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {_type_name(value)}"
    n = len(value)
    if n > lim.max_len:
        return f"is too long: {n} characters (at most {lim.max_len})"
    bad = _bad_char(value, lim.multiline)
    if bad:
        return bad
    if n < lim.min_len:
        if n == 0:
            return "is empty"
        if lim.pattern is None:
            return f"is too short: {n} characters (at least {lim.min_len})"
    if lim.pattern is not None and lim.pattern.fullmatch(value) is None:
        return f"must be {lim.shape} (got {show(value)})"
    return None


def _int_detail(lo: int, hi: int, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"must be a whole number, not {_type_name(value)}"
    if not lo <= value <= hi:
        shown = str(value) if -10**30 < value < 10**30 else ("a huge number" if value > 0
                                                             else "a huge negative number")
        return f"is out of range: {shown} (allowed {lo}-{hi})"
    return None


def _limit(field: str) -> Limit:
    try:
        return LIMITS[field]
    except KeyError:
        raise KeyError(f"no limit named {field!r} in station.limits.LIMITS") from None


def _named(label: str, detail: str) -> str:
    return label[:1].upper() + label[1:] + " " + detail


def check_text(field: str, value: object) -> str | None:
    """None when `value` fits the text limit `field` of LIMITS, else a message naming the field
    and the limit ("Destination is too long: 300 characters (at most 200)")."""
    lim = _limit(field)
    if not isinstance(lim, TextLimit):
        raise TypeError(f"{field!r} is not a text limit")
    detail = _text_detail(lim, value)
    return None if detail is None else _named(lim.label, detail)


def check_int(field: str, value: object) -> str | None:
    """None when `value` is a whole number within the limit `field` (its lo..hi), else a message
    naming the field and the range."""
    lim = _limit(field)
    if not isinstance(lim, IntLimit):
        raise TypeError(f"{field!r} is not a number limit")
    detail = _int_detail(lim.lo, lim.hi, value)
    return None if detail is None else _named(lim.label, detail)


def check_code(value: object, field: str = "code") -> str | None:
    """A bag code after the code rules (a station's parsed code, an event's parent or child):
    text without control characters whose normalised form is 1-255 characters (bag.qr_id)."""
    lim = _limit(field)
    assert isinstance(lim, TextLimit)
    detail = _code_detail(lim, value)
    return None if detail is None else _named(lim.label, detail)


def _code_detail(lim: TextLimit, value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be text, not {_type_name(value)}"
    if len(value) > lim.max_len:
        return f"is too long: {len(value)} characters (at most {lim.max_len})"
    bad = _bad_char(value, False)
    if bad:
        return bad
    code = normalise(value)
    if not code:
        return "is empty"
    if lim.pattern is not None and lim.pattern.fullmatch(code) is None:
        return f"must be {lim.shape} (got {show(value)})"
    return None


def _time_detail(value: object) -> str | None:
    lim = LIMITS["device_time"]
    assert isinstance(lim, TextLimit)
    detail = _text_detail(lim, value)
    if detail is not None:
        return detail
    assert isinstance(value, str)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if dt.tzinfo is None or dt.utcoffset() is None:
            return f"must be {lim.shape} (got {show(value)}: no zone)"
    except ValueError:
        return f"must be {lim.shape} (got {show(value)}: not a date and time)"
    lo, hi = DEVICE_YEARS
    if not lo <= dt.year <= hi:
        return f"is out of range: year {dt.year} (allowed {lo}-{hi})"
    dt.astimezone(UTC)  # within those years this cannot overflow
    return None


def check_device_time(value: object) -> str | None:
    detail = _time_detail(value)
    return None if detail is None else _named("device time", detail)


# -- a whole wire event ----------------------------------------------------------------------

_REQUIRED = ("event_id", "station_id", "seq", "type", "operator", "device_time")


def _wire_problems(wire: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(wire, dict):
        yield "event", f"event must be an object, not {_type_name(wire)}"
        return
    for key in _REQUIRED:
        if key not in wire:
            yield key, f"{key} is missing"
    if "event_id" in wire:
        yield from _text_field("event_id", "event_id", wire["event_id"])
    if "station_id" in wire:
        yield from _text_field("station_id", "station_id", wire["station_id"])
    if "seq" in wire:
        yield from _int_field("seq", "seq", wire["seq"])
    if "type" in wire:
        t = wire["type"]
        if not isinstance(t, str):
            yield "type", f"type must be text, not {_type_name(t)}"
        elif t not in EVENT_TYPES:
            yield "type", (f"type {show(t)} is not an event type this centre knows "
                           f"({', '.join(sorted(EVENT_TYPES))})")
    if "operator" in wire:
        yield from _text_field("operator", "operator", wire["operator"])
    if "device_time" in wire:
        detail = _time_detail(wire["device_time"])
        if detail:
            yield "device_time", "device_time " + detail
    for key in ("parent", "child"):
        value = wire.get(key)
        if value is not None:
            detail = _code_detail(_text_limit("code"), value)
            if detail:
                yield key, f"{key} {detail}"
    bill = wire.get("bill")
    if bill is not None:
        detail = _code_detail(_text_limit("bill_id"), bill)
        if detail:
            yield "bill", f"bill {detail}"
    # optional (Event.from_wire defaults them), but when present they must be right
    if "app_version" in wire:
        yield from _text_field("app_version", "app_version", wire["app_version"])
    if "protocol_version" in wire:
        yield from _int_field("protocol_version", "protocol_version", wire["protocol_version"])
    data = wire.get("data")
    if data is not None:
        yield from _data_problems(data)


def _text_limit(field: str) -> TextLimit:
    lim = LIMITS[field]
    assert isinstance(lim, TextLimit)
    return lim


def _text_field(path: str, field: str, value: object) -> Iterator[tuple[str, str]]:
    detail = _text_detail(_text_limit(field), value)
    if detail:
        yield path, f"{path} {detail}"


def _int_field(path: str, field: str, value: object) -> Iterator[tuple[str, str]]:
    lim = LIMITS[field]
    assert isinstance(lim, IntLimit)
    lo, hi = lim.wire_range
    detail = _int_detail(lo, hi, value)
    if detail:
        yield path, f"{path} {detail}"


def _data_problems(data: object) -> Iterator[tuple[str, str]]:
    if not isinstance(data, dict):
        yield "data", f"data must be an object, not {_type_name(data)}"
        return
    if len(data) > MAX_DATA_KEYS:
        yield "data", f"data has too many keys: {len(data)} (at most {MAX_DATA_KEYS})"
        return
    nodes = [0]
    for key, value in data.items():
        if not isinstance(key, str):
            yield "data", f"data keys must be text, not {_type_name(key)}"
            return
        detail = _text_detail(_text_limit("data_key"), key)
        if detail:
            yield "data", f"data key {show(key)} {detail}"
            return
        path = f"data.{key}"
        field = DATA_FIELDS.get(key)
        if value is None:
            continue
        lim = LIMITS.get(field) if field else None
        if isinstance(lim, TextLimit):
            detail = _text_detail(lim, value)
            if detail:
                yield path, f"{path} {detail}"
        elif isinstance(lim, IntLimit):
            lo, hi = lim.wire_range
            detail = _int_detail(lo, hi, value)
            if detail:
                yield path, f"{path} {detail}"
        else:
            problem = _json_value_problem(path, value, 1, nodes)
            if problem:
                yield problem


def _json_value_problem(
    path: str, value: object, depth: int, nodes: list[int]
) -> tuple[str, str] | None:
    """Any other data value: JSON scalars (finite numbers, bounded text) or a little nesting."""
    nodes[0] += 1
    if nodes[0] > MAX_DATA_NODES:
        return "data", f"data holds too many values (at most {MAX_DATA_NODES})"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        detail = _int_detail(-INT64_MAX - 1, INT64_MAX, value)
        return (path, f"{path} {detail}") if detail else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return path, f"{path} must be a finite number, not {value!r}"
        return None
    if isinstance(value, str):
        detail = _text_detail(_text_limit("data_text"), value)
        return (path, f"{path} {detail}") if detail else None
    if isinstance(value, (list, dict)):
        if depth >= MAX_DATA_DEPTH:
            return path, f"{path} is nested too deeply (at most {MAX_DATA_DEPTH} levels)"
        if len(value) > MAX_DATA_NODES:
            return "data", f"data holds too many values (at most {MAX_DATA_NODES})"
        if isinstance(value, list):
            for i, item in enumerate(value):
                p = _json_value_problem(f"{path}[{i}]", item, depth + 1, nodes)
                if p:
                    return p
            return None
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"{path} keys must be text, not {_type_name(key)}"
            detail = _text_detail(_text_limit("data_key"), key)
            if detail:
                return path, f"{path} key {show(key)} {detail}"
            p = _json_value_problem(f"{path}.{key}", item, depth + 1, nodes)
            if p:
                return p
        return None
    return path, f"{path} must be a JSON value, not {_type_name(value)}"


# -- the fast path ---------------------------------------------------------------------------
# What stations send is almost always ASCII and well inside every limit: one pass of C-level
# string tests per field says so (about 5 us an event). Anything else, good or bad, goes the
# detailed way above, which names the problem. fast_ok(w) implies no problems (tested).

_FAST_TEXT = tuple((key, _text_limit(key)) for key in ("event_id", "station_id", "operator"))
_CODE_MAX = _text_limit("code").max_len
_BILL_MAX = _text_limit("bill_id").max_len
_APP_MAX = _text_limit("app_version").max_len
_DATA_KEY_MAX = _text_limit("data_key").max_len
_DATA_TEXT_MAX = _text_limit("data_text").max_len
_DATA_TEXT = {k: lim.max_len for k, f in DATA_FIELDS.items()
              if isinstance(lim := LIMITS[f], TextLimit)}
_DATA_INT = {k: lim.wire_range for k, f in DATA_FIELDS.items()
             if isinstance(lim := LIMITS[f], IntLimit)}
_PV = LIMITS["protocol_version"]
assert isinstance(_PV, IntLimit)
_PV_RANGE = _PV.wire_range


def _plain(v: object, max_len: int) -> TypeGuard[str]:
    return type(v) is str and len(v) <= max_len and v.isascii() and v.isprintable()


def fast_ok(w: Any) -> bool:
    """True when a wire event is certainly within every limit (the common case), quickly;
    False means "look closer" (wire_problems), not "malformed"."""
    if type(w) is not dict:
        return False
    for key, lim in _FAST_TEXT:
        v = w.get(key)
        if not _plain(v, lim.max_len) or len(v) < lim.min_len:
            return False
        if lim.pattern is not None and lim.pattern.fullmatch(v) is None:
            return False
    seq = w.get("seq")
    if type(seq) is not int or not 1 <= seq <= INT64_MAX:
        return False
    t = w.get("type")
    if type(t) is not str or t not in EVENT_TYPES:
        return False
    dt_text = w.get("device_time")
    if not _plain(dt_text, 40) or DEVICE_TIME_PATTERN.fullmatch(dt_text) is None:
        return False
    try:
        dt = datetime.fromisoformat(dt_text.replace("Z", "+00:00"))
    except ValueError:
        return False
    if dt.tzinfo is None or dt.utcoffset() is None or not 1900 <= dt.year <= 9998:
        return False
    for key in ("parent", "child"):
        v = w.get(key)
        if v is not None and (not _plain(v, _CODE_MAX) or not v.strip()):
            return False
    bill = w.get("bill")
    if bill is not None and (
        not _plain(bill, _BILL_MAX) or BILL_ID_PATTERN.fullmatch(bill.strip().upper()) is None
    ):
        return False
    if "app_version" in w and not _plain(w["app_version"], _APP_MAX):
        return False
    if "protocol_version" in w:
        pv = w["protocol_version"]
        if type(pv) is not int or not _PV_RANGE[0] <= pv <= _PV_RANGE[1]:
            return False
    data = w.get("data")
    if data is None:
        return True
    if type(data) is not dict or len(data) > MAX_DATA_KEYS:
        return False
    for key, v in data.items():
        if not _plain(key, _DATA_KEY_MAX) or not key:
            return False
        if v is None:
            continue
        if key in _DATA_INT:
            lo, hi = _DATA_INT[key]
            if type(v) is not int or not lo <= v <= hi:
                return False
        elif key in _DATA_TEXT:
            if not _plain(v, _DATA_TEXT[key]):
                return False
        elif type(v) is str:
            if not _plain(v, _DATA_TEXT_MAX):
                return False
        elif type(v) is int:
            if not -INT64_MAX - 1 <= v <= INT64_MAX:
                return False
        elif type(v) is not bool:
            return False
    return True


def wire_problems(wire: Any) -> list[tuple[str, str]]:
    """Every problem of a wire event (Event.to_wire() shape) as (field, message); never raises."""
    try:
        if fast_ok(wire):
            return []
        return list(_wire_problems(wire))
    except Exception as exc:  # a safety net: a check that fails is a refusal, never a crash
        return [("event", f"event cannot be checked ({type(exc).__name__})")]


def validate_wire_event(wire: Any) -> tuple[str, str] | None:
    """The first problem of a wire event (Event.to_wire() shape) as (field, message), or None
    when every field fits its central column. Never raises, whatever `wire` is. The message
    names the field and the limit and is plain printable text (safe to store and show)."""
    try:
        if fast_ok(wire):
            return None
        return next(_wire_problems(wire), None)
    except Exception as exc:  # a safety net: a check that fails is a refusal, never a crash
        return "event", f"event cannot be checked ({type(exc).__name__})"


__all__ = [
    "DATA_FIELDS", "EVENT_TYPES", "INT32_MAX", "INT64_MAX", "LIMITS", "MALFORMED",
    "IntLimit", "TextLimit", "check_code", "check_device_time", "check_int", "check_text",
    "fast_ok", "show", "validate_wire_event", "wire_problems",
]
