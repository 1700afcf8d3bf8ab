"""Field limits (station.limits, central.validate): every field of a wire event against every
kind of junk, the station's entry checks, and the promise that the check never raises."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.validate import check_batch, check_event, event_key, event_problems, loggable
from station.events import Event, EventType, uuid7
from station.limits import (
    LIMITS,
    IntLimit,
    TextLimit,
    _wire_problems,
    check_code,
    check_int,
    check_text,
    fast_ok,
    validate_wire_event,
    wire_problems,
)

TIME = "2026-11-23T08:00:00.000+00:00"


def wire(etype: EventType = EventType.BILL_CREATED, **over: Any) -> dict[str, Any]:
    """A well-formed event of each shape the station makes."""
    fields: dict[str, Any] = {
        EventType.PARENT_SCANNED: {"parent": "SB00001",
                                   "data": {"bag_type": "SB", "area": "North", "source": "scanner"}},
        EventType.CHILD_LINKED: {"parent": "SB00001", "child": "C1234",
                                 "data": {"source": "camera", "label_text": "LABEL NO.:1234"}},
        EventType.CHILD_UNLINKED: {"parent": "SB00001", "child": "C1234"},
        EventType.PARENT_FINISHED: {"parent": "SB00001", "data": {"child_count": 12}},
        EventType.BILL_CREATED: {"bill": "B-17", "data": {
            "target": 40, "description": "mustard\nsecond line", "destination": "Jaipur",
            "vehicle": "RJ14 1234"}},
        EventType.BILL_PARENT_ADDED: {"bill": "B-17", "parent": "SB00001",
                                      "data": {"source": "scanner"}},
        EventType.BILL_PARENT_REMOVED: {"bill": "B-17", "parent": "SB00001"},
        EventType.BILL_CLOSED: {"bill": "B-17", "data": {"reason": "truck left\tearly"}},
        EventType.BILL_REOPENED: {"bill": "B-17"},
    }[etype]
    w = Event(event_id=str(uuid7()), station_id="DISPATCH-1", seq=7, type=etype,
              operator="biller", device_time=TIME, app_version="0.3.0", protocol_version=1,
              **fields).to_wire()
    w.update(over)
    return w


@pytest.mark.parametrize("etype", list(EventType))
def test_every_event_shape_the_station_makes_passes(etype: EventType) -> None:
    w = wire(etype)
    assert validate_wire_event(w) is None
    assert wire_problems(w) == []
    assert check_event(w) is None
    # the detailed checks agree with the fast path that answered
    assert fast_ok(w) or etype in (EventType.BILL_CREATED, EventType.BILL_CLOSED)  # \n, \t
    assert list(_wire_problems(w)) == []


def _set(path: str, value: Any) -> Any:
    """A mutation of the good bill_created event: `path` is a key or data.key; DELETE drops it."""
    def mutate(w: dict[str, Any]) -> None:
        target, key = (w["data"], path[5:]) if path.startswith("data.") else (w, path)
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
    return mutate


DELETE = object()
BIG = "x" * 300_000

# (path to change, bad value, the field reported, words the message must hold)
MALFORMED: list[tuple[str, Any, str, str]] = [
    # event id: UUID text, 36 characters
    ("event_id", "", "event_id", "empty"),
    ("event_id", "not-a-uuid", "event_id", "lower-case UUID"),
    ("event_id", BIG, "event_id", "at most 36"),
    ("event_id", "0190A6C4-1111-7000-8000-000000000000", "event_id", "lower-case UUID"),
    ("event_id", "0190a6c4-1111-7000-8000-00000000000g", "event_id", "lower-case UUID"),
    ("event_id", "0190a6c4-1111-7000-8000-00000000000\x00", "event_id", "NUL"),
    ("event_id", 12345, "event_id", "must be text, not a number"),
    ("event_id", None, "event_id", "must be text, not null"),
    ("event_id", DELETE, "event_id", "missing"),
    # station id: the centre's 1-40 capital letters, digits, - _
    ("station_id", "dispatch-1", "station_id", "capital letters"),
    ("station_id", "D" * 41, "station_id", "at most 40"),
    ("station_id", "", "station_id", "empty"),
    ("station_id", "D1\x00", "station_id", "NUL"),
    ("station_id", ["D1"], "station_id", "not a list"),
    # sequence: 1 .. 2^63-1, a whole number
    ("seq", 0, "seq", "allowed 1-9223372036854775807"),
    ("seq", -1, "seq", "allowed 1-"),
    ("seq", 2**63, "seq", "out of range"),
    ("seq", 10**5000, "seq", "a huge number"),
    ("seq", True, "seq", "not a true/false value"),
    ("seq", 7.0, "seq", "whole number, not a number"),
    ("seq", "7", "seq", "whole number, not text"),
    ("seq", None, "seq", "not null"),
    # type: one of the known ones
    ("type", "child_teleported", "type", "not an event type"),
    ("type", 3, "type", "must be text"),
    ("type", DELETE, "type", "missing"),
    # operator: "user".username varchar(64)
    ("operator", "a" * 65, "operator", "65 characters (at most 64)"),
    ("operator", "", "operator", "empty"),
    ("operator", "bil\x00ler", "operator", "NUL"),
    ("operator", "bil\ud800ler", "operator", "lone surrogate"),
    ("operator", "bil\x1bler", "operator", "control character (\\x1b"),
    ("operator", 42, "operator", "must be text"),
    # device time: ISO 8601 with a zone, bounded
    ("device_time", "2026-11-23T08:00:00", "device_time", "ISO 8601"),
    ("device_time", "yesterday", "device_time", "ISO 8601"),
    ("device_time", "2026-13-01T08:00:00Z", "device_time", "not a date and time"),
    ("device_time", "0001-01-01T00:00:00+05:00", "device_time", "year"),
    ("device_time", "9999-12-31T23:59:59-05:00", "device_time", "year"),
    ("device_time", "2026-11-23T08:00:00.000+00:00" + " " * 20, "device_time", "at most 40"),
    ("device_time", "２０２６-11-23T08:00:00Z", "device_time", "ISO 8601"),
    ("device_time", 1700000000, "device_time", "must be text"),
    # codes: bag.qr_id varchar(255), the code rules
    ("parent", "SB" + "0" * 300, "parent", "302 characters (at most 255)"),
    ("parent", "SB0\x000001", "parent", "NUL"),
    ("parent", "SB\ud83d0001", "parent", "lone surrogate"),
    ("parent", "SB00001\x1d", "parent", "control character"),
    ("parent", "   ", "parent", "empty"),
    ("parent", 10001, "parent", "must be text, not a number"),
    ("child", "C" * 256, "child", "at most 255"),
    ("child", {"code": "C1"}, "child", "not an object"),
    # bill id: 3-50 of A-Z 0-9 - _ / .
    ("bill", "B" * 51, "bill", "at most 50"),
    ("bill", "B 17", "bill", "3-50 characters"),
    ("bill", "B1", "bill", "3-50 characters"),
    ("bill", "B-1\x00", "bill", "NUL"),
    ("bill", 17, "bill", "must be text"),
    # versions
    ("app_version", "v" * 65, "app_version", "at most 64"),
    ("app_version", 3, "app_version", "must be text"),
    ("app_version", None, "app_version", "must be text, not null"),
    ("protocol_version", -1, "protocol_version", "out of range"),
    ("protocol_version", 2**31, "protocol_version", "out of range"),
    ("protocol_version", "1", "protocol_version", "whole number"),
    # data: an object with bounded, storable values
    ("data", [], "data", "must be an object, not a list"),
    ("data", "target=3", "data", "must be an object, not text"),
    ("data", {f"k{i}": 1 for i in range(33)}, "data", "too many keys"),
    ("data", {"": 1}, "data", "empty"),
    ("data", {"k" * 65: 1}, "data", "at most 64"),
    ("data", {"a\x00": 1}, "data", "NUL"),
    ("data.description", "d" * 1001, "data.description", "1001 characters (at most 1000)"),
    ("data.description", "mustard\x00", "data.description", "NUL"),
    ("data.description", "mustard\ud800", "data.description", "lone surrogate"),
    ("data.description", "mus\x07tard", "data.description", "only tab and line breaks"),
    ("data.description", 5, "data.description", "must be text"),
    ("data.destination", "J" * 300, "data.destination", "300 characters (at most 200)"),
    ("data.destination", "Jai\npur", "data.destination", "control character (\\x0a"),
    ("data.vehicle", "V" * 51, "data.vehicle", "at most 50"),
    ("data.area", "A" * 51, "data.area", "at most 50"),
    ("data.reason", "r" * 501, "data.reason", "at most 500"),
    ("data.bag_type", "T" * 65, "data.bag_type", "at most 64"),
    ("data.source", "s" * 33, "data.source", "at most 32"),
    ("data.label_text", "L" * 513, "data.label_text", "at most 512"),
    ("data.target", "40", "data.target", "whole number, not text"),
    ("data.target", 40.0, "data.target", "whole number, not a number"),
    ("data.target", True, "data.target", "true/false"),
    ("data.target", 2**31, "data.target", "out of range"),
    ("data.target", math.nan, "data.target", "whole number"),
    ("data.child_count", -1, "data.child_count", "out of range"),
    ("data.extra", math.nan, "data.extra", "finite number, not nan"),
    ("data.extra", math.inf, "data.extra", "finite number, not inf"),
    ("data.extra", -math.inf, "data.extra", "finite number"),
    ("data.extra", 2**63, "data.extra", "out of range"),
    ("data.extra", 10**5000, "data.extra", "huge"),
    ("data.extra", "x" * 1001, "data.extra", "at most 1000"),
    ("data.extra", "x\x00", "data.extra", "NUL"),
    ("data.extra", ["ok", "\ud800"], "data.extra[1]", "lone surrogate"),
    ("data.extra", {"a": {"b": {"c": 1}}}, "data.extra.a.b", "nested too deeply"),
    ("data.extra", [0] * 201, "data", "too many values"),
    ("data.extra", {"k": [1, 2, math.nan]}, "data.extra.k[2]", "finite number"),
    ("data.extra", {"k": {5: 1}}, "data.extra.k", "keys must be text"),
    ("data.extra", object(), "data.extra", "JSON value"),
    ("data.extra", b"bytes", "data.extra", "JSON value"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), MALFORMED,
                         ids=[f"{p}-{i}" for i, (p, *_r) in enumerate(MALFORMED)])
def test_every_malformed_field_is_named_with_its_limit(
    path: str, value: Any, field: str, words: str
) -> None:
    w = wire()
    _set(path, value)(w)
    problem = validate_wire_event(w)
    assert problem is not None, f"{path}={value!r:.60} passed"
    got_field, message = problem
    assert got_field == field
    assert words in message, message
    assert message.startswith(field.split("[")[0].split(".")[0]) or message.startswith(field)
    # the message is safe to store in any text column and to show
    assert len(message) < 400
    message.encode("utf-8")
    assert "\x00" not in message and all(ch.isprintable() for ch in message)


def test_a_bill_target_out_of_the_rule_range_is_left_to_the_rule() -> None:
    """501 and 0 are the rule's `bad_target` (station and centre agree on it), not malformed."""
    for target in (0, 501, -5):
        assert validate_wire_event(wire(data={"target": target})) is None


@pytest.mark.parametrize(
    "good",
    [
        {"device_time": "2026-11-23T08:00:00Z"},
        {"device_time": "2026-11-23T13:30:00+05:30"},
        {"device_time": "1970-01-01T00:00:00.000+00:00"},  # a station whose clock was reset
        {"parent": None, "child": None},
        {"data": {}},
        {"data": None},
        {"data": {"description": "d" * 1000, "destination": "J" * 200, "vehicle": "V" * 50,
                  "target": 500}},
        {"data": {"description": "मुंबई गोदाम\u200d", "destination": "Jaipur — गोदाम 3"}},
        {"data": {"reason": None, "extra": [1, 2.5, "x", None, True, {"k": "v"}]}},
        {"operator": "ü" * 64},
        {"bill": "b-17/2026.x"},  # checked after normalising, as the centre does
    ],
)
def test_values_within_the_limits_pass(good: dict[str, Any]) -> None:
    w = wire(**good)
    assert validate_wire_event(w) is None
    assert list(_wire_problems(w)) == []  # also without the fast path


def test_optional_fields_may_be_absent_but_not_null() -> None:
    w = wire()
    del w["app_version"], w["protocol_version"], w["parent"], w["data"]
    assert validate_wire_event(w) is None
    assert Event.from_wire(w).protocol_version == 1
    assert validate_wire_event(wire(protocol_version=None))[0] == "protocol_version"
    assert validate_wire_event(wire(app_version=None))[0] == "app_version"


def test_every_problem_is_listed_and_the_first_is_returned() -> None:
    w = wire(operator="", seq=0, data={"destination": "J" * 201})
    problems = wire_problems(w)
    assert [f for f, _ in problems] == ["seq", "operator", "data.destination"]
    assert validate_wire_event(w) == problems[0]
    assert event_problems(w) == problems


@pytest.mark.parametrize("junk", [None, 0, 1.5, math.nan, "event", b"event", [], [wire()],
                                  {"event_id": None}, {1: 2}, {"data": {"a": [[[[[]]]]]}}])
def test_any_input_is_an_answer_never_an_exception(junk: Any) -> None:
    problem = validate_wire_event(junk)
    assert problem is not None and not fast_ok(junk)
    assert isinstance(problem[0], str) and isinstance(problem[1], str)


# -- never raises: arbitrary JSON-ish input ----------------------------------------------------

any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=[]), max_size=300)  # + surrogates
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62)
           | st.floats(allow_nan=True, allow_infinity=True) | any_text)
json_ish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text | st.integers(), inner,
                                                                 max_size=5),
    max_leaves=30,
)
WIRE_KEYS = ["event_id", "station_id", "seq", "type", "operator", "device_time", "parent",
             "child", "bill", "data", "app_version", "protocol_version"]
event_ish = st.dictionaries(st.sampled_from(WIRE_KEYS) | any_text, json_ish, max_size=14)
mutated = st.builds(
    lambda etype, key, value: {**wire(etype), key: value},
    st.sampled_from(list(EventType)), st.sampled_from(WIRE_KEYS), json_ish,
)


def _storable(value: Any) -> bool:
    """What PostgreSQL text and jsonb take: UTF-8 without NUL, finite numbers, int64."""
    try:
        text = json.dumps(value, allow_nan=False)
        text.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError):
        return False
    if "\\u0000" in text:
        return False
    if isinstance(value, dict):
        return all(_storable(v) for v in value.values())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_ish, event_ish, mutated))
def test_validate_never_raises_and_what_passes_can_be_stored(w: Any) -> None:
    problem = validate_wire_event(w)
    problems = wire_problems(w)
    assert (problem is None) == (problems == [])
    if fast_ok(w):  # the fast path never lets through what the detailed checks refuse
        assert list(_wire_problems(w)) == []
    if problem is not None:
        field, message = problem
        assert isinstance(field, str) and isinstance(message, str)
        message.encode("utf-8")
        assert "\x00" not in message and len(message) < 2000
        assert problem == problems[0]
        return
    # passed: every field fits its central column
    assert isinstance(w, dict) and _storable(w)
    ev = Event.from_wire(w)  # what the centre does next
    assert 1 <= ev.seq < 2**63 and len(ev.operator) <= 64 and len(ev.event_id) == 36
    for code in (ev.parent, ev.child):
        assert code is None or len(code) <= 255
    data = w.get("data") or {}
    for key in ("destination", "vehicle", "area", "description"):
        lim = LIMITS[key]
        assert isinstance(lim, TextLimit)
        assert data.get(key) is None or len(data[key]) <= lim.max_len


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=1100)
near_limits = st.sampled_from([0, 1, 2, 3, 35, 36, 37, 40, 41, 49, 50, 51, 64, 65, 200, 201, 255,
                               256, 500, 501, 512, 513, 1000, 1001])
plausible = (st.none() | st.booleans() | ascii_text | near_limits.map(lambda n: "A" * n)
             | near_limits | st.integers(-(2**64), 2**64) | st.just(2**63 - 1) | st.just(2**63)
             | st.just(2**31) | st.just(2**31 - 1) | st.just(TIME) | st.just("2026-11-23"))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(list(EventType)),
       st.lists(st.tuples(st.sampled_from(WIRE_KEYS + [f"data.{k}" for k in
                                                       ("target", "description", "destination",
                                                        "vehicle", "area", "reason", "source",
                                                        "child_count", "label_text", "other")]),
                          plausible), max_size=3))
def test_the_fast_path_never_passes_what_the_detailed_checks_refuse(
    etype: EventType, changes: list[tuple[str, Any]]
) -> None:
    w = wire(etype)
    for path, value in changes:
        if path.startswith("data."):
            if not isinstance(w.get("data"), dict):
                w["data"] = {}
            w["data"][path[5:]] = value
        else:
            w[path] = value
    detailed = list(_wire_problems(w))
    if fast_ok(w):
        assert detailed == []
    assert (validate_wire_event(w) is None) == (detailed == [])


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(EventType)), st.data())
def test_text_within_the_limits_always_passes(etype: EventType, data: st.DataObject) -> None:
    """The other direction: any printable text of an allowed length is accepted."""
    printable = st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"])
    w = wire(etype)
    for key in ("description", "destination", "vehicle", "area", "reason"):
        lim = LIMITS[key]
        assert isinstance(lim, TextLimit)
        w["data"][key] = data.draw(st.text(printable, max_size=lim.max_len))
    w["operator"] = data.draw(st.text(printable, min_size=1, max_size=64))
    assert validate_wire_event(w) is None
    assert list(_wire_problems(w)) == []


# -- the station's entry checks ----------------------------------------------------------------

TEXT_FIELDS = sorted(k for k, v in LIMITS.items() if isinstance(v, TextLimit) and v.pattern is None)


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_check_text_names_the_field_and_the_limit(field: str) -> None:
    lim = LIMITS[field]
    assert isinstance(lim, TextLimit)
    label = lim.label[:1].upper() + lim.label[1:]
    assert check_text(field, "a" * lim.max_len) is None
    too_long = check_text(field, "a" * (lim.max_len + 1))
    assert too_long == (f"{label} is too long: {lim.max_len + 1} characters "
                        f"(at most {lim.max_len})")
    nul = check_text(field, "a\x00b")
    assert nul is not None and nul.startswith(label) and "NUL" in nul
    surrogate = check_text(field, "a\udc80b")
    assert surrogate is not None and "lone surrogate" in surrogate
    bell = check_text(field, "a\x07b")
    assert bell is not None and "control character (\\x07" in bell
    newline = check_text(field, "a\nb")
    assert (newline is None) == lim.multiline
    del_char = check_text(field, "a\x7fb")
    assert del_char is not None and "\\x7f" in del_char
    assert check_text(field, 5) == f"{label} must be text, not a number"


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("station_id", "DISPATCH-2", True), ("station_id", "DISPATCH 2", False),
    ("station_id", "dispatch-2", False), ("station_id", "D" * 40, True),
    ("bill_id", "B-17", True), ("bill_id", "B+17", False),
    # a fresh id each run, named the same on every worker of the run
    pytest.param("event_id", str(uuid7()), True, id="event_id-uuid7"),
    pytest.param("event_id", str(uuid7()).upper(), False, id="event_id-uuid7-upper"),
    ("device_time", TIME, True),
])
def test_shaped_text_fields(field: str, value: str, ok: bool) -> None:
    assert (check_text(field, value) is None) == ok


def test_check_int_and_check_code() -> None:
    assert check_int("target", 500) is None
    assert check_int("target", 501) == "Target is out of range: 501 (allowed 1-500)"
    assert check_int("target", "5") == "Target must be a whole number, not text"
    assert check_int("seq", 2**63 - 1) is None and check_int("seq", 2**63) is not None
    assert check_code("SB00001") is None
    assert check_code("C" * 256) == "Bag code is too long: 256 characters (at most 255)"
    assert check_code("  ") == "Bag code is empty"
    assert check_code("SB\x1d00001") is not None
    with pytest.raises(KeyError):
        check_text("no_such_field", "x")
    with pytest.raises(TypeError):
        check_text("seq", "x")
    assert isinstance(LIMITS["seq"], IntLimit)


def test_the_table_matches_the_central_columns() -> None:
    """The sizes of 0001_central_station_tables.py the values land in."""
    sizes = {"operator": 64, "username": 64, "code": 255, "bill_id": 50, "destination": 200,
             "vehicle": 50, "area": 50, "station_id": 40, "event_id": 36}
    for field, size in sizes.items():
        lim = LIMITS[field]
        assert isinstance(lim, TextLimit) and lim.max_len == size, field
    from central.migrations.versions import __path__ as versions_path

    ddl = open(f"{versions_path[0]}/0001_central_station_tables.py").read()
    for column in ("username varchar(64)", "qr_id varchar(255)", "bill_id varchar(50)",
                   "destination varchar(200)", "vehicle_number varchar(50)",
                   "dispatch_area varchar(50)"):
        assert column in ddl


# -- central.validate --------------------------------------------------------------------------


def test_event_key_only_for_a_usable_id_and_sequence() -> None:
    w = wire()
    assert event_key(w) == (w["event_id"], 7)
    assert event_key(dict(w, data={"description": "\x00"})) == (w["event_id"], 7)
    for bad in ({"seq": 0}, {"seq": True}, {"seq": 2**63}, {"event_id": "x" * 300_000},
                {"event_id": None}):
        assert event_key(dict(w, **bad)) is None
    assert event_key(None) is None and event_key([w]) is None


@pytest.mark.parametrize("over", [
    {"operator": "bil\x00ler\ud800" + "x" * 500, "device_time": BIG, "type": ["x"]},
    {"parent": "SB\x00" * 200, "child": 5, "bill": "\ud800", "data": {"d": math.nan}},
    {"app_version": "\x00" * 100, "protocol_version": 2**70, "seq": "seven"},
])
def test_loggable_makes_a_malformed_event_safe_to_record(over: dict[str, Any]) -> None:
    w = wire()
    w.update(over)
    row = loggable(w)
    for key, value in row.items():
        if isinstance(value, str):
            value.encode("utf-8")
            assert "\x00" not in value and len(value) <= 2100, key
            assert all(ch.isprintable() for ch in value), key
    assert json.dumps(row["data"], allow_nan=False)
    assert row["protocol_version"] is None or 0 <= row["protocol_version"] < 2**31
    if "operator" in over:
        assert len(row["operator"]) <= 64 and row["operator"].startswith("bil\\x00ler\\ud800")
    assert row["event_id"] == w["event_id"]


def test_loggable_keeps_a_good_event_as_it_is() -> None:
    w = wire()
    row = loggable(copy.deepcopy(w))
    assert row["event_id"] == w["event_id"] and row["seq"] == 7
    assert (row["type"], row["operator"], row["bill_code"]) == ("bill_created", "biller", "B-17")
    assert row["data"] == w["data"]


@pytest.mark.parametrize(("over", "field"), [
    ({}, None),
    ({"station_id": "d 1"}, "station_id"),
    ({"protocol_version": "1"}, "protocol_version"),
    ({"app_version": "\x00"}, "app_version"),
    ({"backlog": -1}, "backlog"),
    ({"backlog": 2**40}, "backlog"),
    ({"oldest_pending_s": math.nan}, "oldest_pending_s"),
    ({"oldest_pending_s": math.inf}, "oldest_pending_s"),
    ({"oldest_pending_s": "3"}, "oldest_pending_s"),
    ({"device_time": "now"}, "device_time"),
    ({"events": {"a": 1}}, "events"),
])
def test_check_batch(over: dict[str, Any], field: str | None) -> None:
    batch = {"station_id": "D1", "protocol_version": 1, "app_version": "0.3.0",
             "events": [wire()], "backlog": 1, "oldest_pending_s": 2.5, "device_time": TIME}
    batch.update(over)
    problem = check_batch(batch)
    assert (problem[0] if problem else None) == field
    assert check_batch(None) is not None and check_batch({"events": []})[0] == "station_id"
