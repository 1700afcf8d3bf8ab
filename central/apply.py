"""Applying one batch of station events to the central tables, in the caller's transaction.

The facts of every bag and bill the batch names are read once, under row locks taken in one
global order (bags by qr_id, then bills by bill_id) so concurrent stations cannot deadlock on
them, together with who linked each named child (for refusal messages and the undo rule); each
event is then decided in station-sequence order by the same station.rules functions the station
uses, against that in-memory state, with no database access; the net changes (take_delta) are
written set-based at the end (write_delta: COPY, execute_values). First applied wins: the order
is the centre's, never the device clocks'.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg2.extensions import encodings
from psycopg2.extras import execute_values

from station.codes import (
    DEFAULT_BAG_TYPES,
    BagType,
    CodeKind,
    ParsedCode,
    classify,
    parse_bill_id,
)
from station.errors import CodeRefused
from station.events import Event, EventType
from station.rules import (
    Action,
    BillFacts,
    ChildFacts,
    Decision,
    ParentFacts,
    bill_status_after,
    check_permission,
    decide_bill_add,
    decide_bill_close,
    decide_bill_remove,
    decide_bill_reopen,
    decide_create_bill,
    decide_finish,
    decide_link,
    decide_select_parent,
    decide_unlink,
    parent_status,
    refuse,
)

APPLIED, DUPLICATE, REJECTED = "applied", "duplicate", "rejected"

# Warnings that change nothing: the fact is already there, so the event is a harmless duplicate.
_NO_CHANGE_WARNINGS = frozenset({"already_on_parent", "already_on_bill"})

_ACTION_OF = {
    EventType.PARENT_SCANNED: Action.SCAN,
    EventType.CHILD_LINKED: Action.SCAN,
    EventType.PARENT_FINISHED: Action.SCAN,
    EventType.BILL_CREATED: Action.BILLS,
    EventType.BILL_PARENT_ADDED: Action.BILLS,
    EventType.BILL_PARENT_REMOVED: Action.BILLS,
    EventType.BILL_CLOSED: Action.BILLS,
    EventType.BILL_REOPENED: Action.REOPEN_BILL,
}


class RetryBatch(Exception):
    """A row the batch needs was created by a concurrent transaction: roll back and redo."""


@dataclass(frozen=True)
class CentreResult:
    """One event's result at the centre."""

    result: str
    reason: str | None
    message: str | None


def parse_time(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def hhmm(text: str | None) -> str:
    if not text:
        return "?"
    try:
        return parse_time(text).astimezone(UTC).strftime("%H:%M")
    except ValueError:
        return text[11:16]


def load_bag_types(cur: Any) -> tuple[BagType, ...]:
    cur.execute(
        "SELECT name, pattern, lookalike, capacity, nominal_kg, kg_per_child, example "
        "FROM station_bag_types ORDER BY name"
    )
    return bag_types_from_rows(cur.fetchall())


def bag_types_from_rows(rows: Iterable[Any]) -> tuple[BagType, ...]:
    """Bag types from (name, pattern, lookalike, capacity, nominal_kg, kg_per_child, example)
    rows; the built-in ones when the table is empty."""
    got = tuple(BagType(r[0], r[1], r[2], int(r[3]), float(r[4]), float(r[5]), r[6] or "")
                for r in rows)
    return got or DEFAULT_BAG_TYPES


def bag_type_of(code: str, name: str | None, types: tuple[BagType, ...]) -> BagType | None:
    """A parent's type: by its code's pattern, else by the name column (web-made bags)."""
    for t in types:
        if t.matches(code):
            return t
    for t in types:
        if name and t.name == name:
            return t
    return None


@dataclass
class _Bag:
    id: int | None
    code: str
    kind: str
    area: str | None
    btype: BagType | None
    count: int = 0
    orig_count: int = 0
    status: str = "pending"
    new: bool = False
    user_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class _Bill:
    id: int | None
    code: str
    status: str
    target: int
    linked: int
    orig_status: str = ""
    new: bool = False
    description: str = ""
    destination: str = ""
    vehicle: str = ""
    created_by_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    closed_reason: str | None = None
    reason_set: bool = False


@dataclass
class _Origin:
    station_id: str
    operator: str
    device_time: str


@dataclass
class BatchState:
    """Facts of everything a batch names, read under locks, then changed event by event."""

    types: tuple[BagType, ...]
    station_id: str
    station_area: str
    bags: dict[str, _Bag] = field(default_factory=dict)
    link_parent: dict[str, str | None] = field(default_factory=dict)  # child -> parent code
    link_orig: dict[str, str | None] = field(default_factory=dict)
    link_time: dict[str, datetime] = field(default_factory=dict)
    origins: dict[str, _Origin] = field(default_factory=dict)  # child -> who linked it (by event)
    bag_bill: dict[str, str | None] = field(default_factory=dict)  # parent -> bill code
    bag_bill_orig: dict[str, str | None] = field(default_factory=dict)
    line_time: dict[str, datetime] = field(default_factory=dict)
    bills: dict[str, _Bill] = field(default_factory=dict)
    touched_bills: set[str] = field(default_factory=set)
    operators: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # lower -> id,name,role
    operator_facts: dict[str, tuple[str | None, bool]] = field(default_factory=dict)  # area, verified
    station_scope: str = "area"
    scans: list[tuple[datetime, str, str, int | None]] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)  # bag ids taken for bags this batch makes
    parsed: dict[str, ParsedCode | CodeRefused] = field(default_factory=dict)

    def classify(self, code: str) -> ParsedCode:
        """station.codes.classify, remembered per code for the batch (parents recur)."""
        got = self.parsed.get(code)
        if got is None:
            try:
                got = classify(code, self.types)
            except CodeRefused as exc:
                got = exc
            self.parsed[code] = got
        if isinstance(got, CodeRefused):
            raise got
        return got


# -- loading facts under locks ------------------------------------------------------------------


def _codes_of(events: Iterable[Event]) -> tuple[set[str], set[str], set[str]]:
    bag_codes: set[str] = set()
    bill_codes: set[str] = set()
    users: set[str] = set()
    for ev in events:
        for c in (ev.parent, ev.child):
            if c:
                bag_codes.add(c.strip().upper())
        if ev.bill:
            bill_codes.add(ev.bill.strip().upper())
            if ev.type is EventType.BILL_CREATED:
                bag_codes.add(ev.bill.strip().upper())  # a bill id may not be a bag code
        users.add(ev.operator.strip().lower())
    return bag_codes, bill_codes, users


def load_state(cur: Any, events: list[Event], station_id: str, area: str,
               types: tuple[BagType, ...] | None = None, scope: str = "area") -> BatchState:
    state = BatchState(load_bag_types(cur) if types is None else types, station_id, area,
                       station_scope=scope)
    bag_codes, bill_codes, users = _codes_of(events)
    cur.execute(
        "SELECT id, qr_id, type, name, dispatch_area, status, created_at FROM bag "
        "WHERE qr_id = ANY(%s) ORDER BY qr_id FOR UPDATE",
        (sorted(bag_codes),),
    )
    by_id: dict[int, _Bag] = {}
    for bid, code, kind, name, b_area, status, created in cur.fetchall():
        b = _Bag(bid, code, kind, b_area, None, status=status, created_at=created)
        if kind == "parent":
            b.btype = bag_type_of(code, name, state.types)
        state.bags[code] = b
        by_id[bid] = b
    # Every code the batch names that is not a bag yet may become one (at most one each):
    # take that many ids now, so that writing needs no round trip for them (unused ones are
    # gaps in the sequence, as after any rollback)
    unknown = len(bag_codes) - len(by_id)
    if unknown:
        cur.execute(
            # the sequence's name looked up once, not per row (that cost ~5 us per bag)
            "WITH q AS MATERIALIZED (SELECT pg_get_serial_sequence('bag', 'id')::regclass "
            "AS seq) SELECT nextval(q.seq) FROM q, generate_series(1, %s)",
            (unknown,),
        )
        state.new_ids = [r[0] for r in reversed(cur.fetchall())]
    child_ids = [b.id for b in by_id.values() if b.kind == "child"]
    parent_ids = [b.id for b in by_id.values() if b.kind == "parent"]
    if child_ids:
        cur.execute(
            "SELECT c.qr_id, p.qr_id, l.created_at FROM link l "
            "JOIN bag c ON c.id = l.child_bag_id JOIN bag p ON p.id = l.parent_bag_id "
            "WHERE l.child_bag_id = ANY(%s)",
            (child_ids,),
        )
        for child, parent, created in cur.fetchall():
            state.link_parent[child] = parent
            state.link_orig[child] = parent
            state.link_time[child] = created
    if state.link_parent:
        # who linked them, for refusal messages and the undo rule: read now, in one query,
        # so that deciding never needs the database (write_delta may be using it meanwhile)
        cur.execute("SELECT * FROM station_link_origins(%s)", (sorted(state.link_parent),))
        for row in cur.fetchall():
            state.origins[row[0]] = _Origin(row[1], row[2], row[3])
    if parent_ids:
        cur.execute(
            "SELECT parent_bag_id, count(*) FROM link WHERE parent_bag_id = ANY(%s) GROUP BY 1",
            (parent_ids,),
        )
        for pid, n in cur.fetchall():
            by_id[pid].count = by_id[pid].orig_count = int(n)
        cur.execute(
            "SELECT p.qr_id, upper(b.bill_id) FROM bill_bag bb JOIN bill b ON b.id = bb.bill_id "
            "JOIN bag p ON p.id = bb.bag_id WHERE bb.bag_id = ANY(%s)",
            (parent_ids,),
        )
        for parent, bill_code in cur.fetchall():
            state.bag_bill[parent] = state.bag_bill_orig[parent] = bill_code
            bill_codes.add(bill_code)
    if bill_codes:
        cur.execute(
            "SELECT id, upper(bill_id), status, parent_bag_count, created_at FROM bill "
            "WHERE upper(bill_id) = ANY(%s) ORDER BY upper(bill_id) FOR UPDATE",
            (sorted(bill_codes),),
        )
        bill_by_id: dict[int, _Bill] = {}
        for bid, code, status, target, created in cur.fetchall():
            bl = _Bill(bid, code, status, int(target), 0, orig_status=status, created_at=created)
            state.bills[code] = bl
            bill_by_id[bid] = bl
        if bill_by_id:
            cur.execute(
                "SELECT bill_id, count(*) FROM bill_bag WHERE bill_id = ANY(%s) GROUP BY 1",
                (list(bill_by_id),),
            )
            for bid, n in cur.fetchall():
                bill_by_id[bid].linked = int(n)
    if users:
        cur.execute(
            'SELECT id, username, role, dispatch_area, verified FROM "user" '
            "WHERE lower(username) = ANY(%s)",
            (sorted(users),),
        )
        for uid, name, role, op_area, verified in cur.fetchall():
            state.operators[name.lower()] = (uid, name, (role or "").lower())
            state.operator_facts[name.lower()] = (op_area, verified is not False)
    return state


# -- deciding -------------------------------------------------------------------------------------


def _parent_facts(state: BatchState, code: str) -> ParentFacts | None:
    b = state.bags.get(code)
    if b is None or b.kind != "parent":
        return None
    bill_code = state.bag_bill.get(code)
    bill = state.bills.get(bill_code) if bill_code else None
    capacity = b.btype.capacity if b.btype else 0
    nominal = b.btype.nominal_kg if b.btype else 0.0
    return ParentFacts(
        code, capacity, b.count, bill_code, bool(bill and bill.status == "completed"), nominal
    )


def _bill_facts(state: BatchState, code: str) -> BillFacts | None:
    b = state.bills.get(code)
    return BillFacts(b.code, b.status, b.target, b.linked) if b else None


def _kind(state: BatchState, code: str) -> CodeKind | None:
    b = state.bags.get(code)
    return CodeKind(b.kind) if b else None


def _classified(code: str | None, want: CodeKind, state: BatchState) -> tuple[str, Decision | None]:
    """Run the code rules on an event's code; a Decision when it is refused."""
    types = state.types
    if not code:
        return "", refuse("missing_code", f"The event names no {want.value} bag")
    try:
        parsed = state.classify(code)
    except CodeRefused as exc:
        return code, refuse(exc.reason, exc.message)
    if want is CodeKind.PARENT and parsed.kind is not CodeKind.PARENT:
        return parsed.code, refuse(
            "not_a_parent", f"{parsed.code} is not a parent code: parent codes look like "
            + " or ".join(t.example or t.name for t in types)
        )
    return parsed.code, None


def _ensure_parent(state: BatchState, code: str, ev: Event, user_id: int | None, when: datetime) -> _Bag:
    b = state.bags.get(code)
    if b is None:
        btype = bag_type_of(code, None, state.types)
        area = state.station_area  # from the station's registration, never from the event
        b = _Bag(None, code, "parent", area, btype, new=True, user_id=user_id,
                 created_at=when, updated_at=when)
        state.bags[code] = b
        state.bag_bill.setdefault(code, None)
        state.bag_bill_orig.setdefault(code, None)
    return b


def _operator_refused(state: BatchState, raw: str, username: str, role: str) -> CentreResult | None:
    """An operator must be verified and may work at this station: its area's, or a biller or
    admin anywhere (a supervisor station takes everyone's)."""
    op_area, verified = state.operator_facts.get(raw.strip().lower(), (None, True))
    if not verified:
        return CentreResult(
            REJECTED, "operator_not_verified",
            f"Operator {username} is not verified at the centre: an administrator verifies the "
            "user, then a biller or admin presses Send again on the Sync issues screen")
    if role in ("biller", "admin") or state.station_scope == "all":
        return None
    if (op_area or "").strip().lower() != state.station_area.strip().lower():
        return CentreResult(
            REJECTED, "operator_other_area",
            f"Operator {username} ({role} of area {op_area or 'none'}) may not work at station "
            f"{state.station_id} of area {state.station_area}: an administrator changes the "
            "user's area (or role), then a biller or admin presses Send again on the Sync "
            "issues screen")
    return None


def decide_event(state: BatchState, ev: Event) -> CentreResult:
    """Decide one event with the station's rule functions and change the batch state (no
    database access: load_state read everything the batch needs)."""
    when = parse_time(ev.device_time)
    op = state.operators.get(ev.operator.strip().lower())
    if op is None:
        return CentreResult(
            REJECTED, "unknown_operator",
            f"Operator {ev.operator!r} is not a user of the central system: an administrator "
            "adds the user, then a biller or admin presses Send again on the Sync issues screen",
        )
    user_id, username, role = op
    refused = _operator_refused(state, ev.operator, username, role)
    if refused is not None:
        return refused
    action = _ACTION_OF.get(ev.type)
    if action is not None:
        deny = check_permission(role, action, username)
        if deny:
            return _reject(deny)
    t = ev.type
    if t is EventType.PARENT_SCANNED:
        code, bad = _classified(ev.parent, CodeKind.PARENT, state)
        if bad:
            return _reject(bad)
        d = decide_select_parent(code, _kind(state, code))
        if d.refused:
            return _reject(d)
        _ensure_parent(state, code, ev, user_id, when)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.CHILD_LINKED:
        return _link(state, ev, user_id, when)
    if t is EventType.CHILD_UNLINKED:
        return _unlink(state, ev, username, role, when)
    if t is EventType.PARENT_FINISHED:
        code, bad = _classified(ev.parent, CodeKind.PARENT, state)
        if bad:
            return _reject(bad)
        d = decide_finish(_parent_facts(state, code))
        if d.refused:
            return _reject(d)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.BILL_CREATED:
        return _bill_create(state, ev, user_id, when)
    if t is EventType.BILL_PARENT_ADDED:
        return _bill_add(state, ev, when)
    if t is EventType.BILL_PARENT_REMOVED:
        bill_code = (ev.bill or "").strip().upper()
        code = (ev.parent or "").strip().upper()
        d = decide_bill_remove(bill_code, _bill_facts(state, bill_code), code,
                               state.bag_bill.get(code))
        if d.refused:
            return _reject(d)
        bl = state.bills[bill_code]
        state.bag_bill[code] = None
        bl.linked -= 1
        bl.status = bill_status_after(bl.linked, False)
        bl.updated_at = when
        state.touched_bills.add(bill_code)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.BILL_CLOSED:
        bill_code = (ev.bill or "").strip().upper()
        reason = ev.data.get("reason")
        d = decide_bill_close(bill_code, _bill_facts(state, bill_code), reason)
        if d.refused:
            return _reject(d)
        bl = state.bills[bill_code]
        bl.status = "completed"
        bl.updated_at = when
        bl.closed_reason = (reason or None)
        bl.reason_set = True
        state.touched_bills.add(bill_code)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.BILL_REOPENED:
        bill_code = (ev.bill or "").strip().upper()
        d = decide_bill_reopen(bill_code, _bill_facts(state, bill_code))
        if d.refused:
            return _reject(d)
        bl = state.bills[bill_code]
        bl.status = bill_status_after(bl.linked, False)
        bl.updated_at = when
        bl.closed_reason = None
        bl.reason_set = True
        state.touched_bills.add(bill_code)
        return CentreResult(APPLIED, d.reason, d.message)
    return CentreResult(REJECTED, "unknown_event_type", f"Event type {t!r} is not known at the centre")


def _reject(d: Decision) -> CentreResult:
    return CentreResult(REJECTED, d.reason, d.message)


def _link(state: BatchState, ev: Event, user_id: int | None, when: datetime) -> CentreResult:
    pcode, bad = _classified(ev.parent, CodeKind.PARENT, state)
    if bad:
        return _reject(bad)
    if ev.child is None:
        return _reject(refuse("missing_code", "The event names no child bag"))
    try:
        parsed = state.classify(ev.child)
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    ccode = parsed.code
    d = decide_select_parent(pcode, _kind(state, pcode))
    if d.refused:
        return _reject(d)
    facts = _parent_facts(state, pcode)
    if facts is None:
        # the parent was never scanned here: it comes into being, as on the station
        btype = bag_type_of(pcode, None, state.types)
        facts = ParentFacts(pcode, btype.capacity if btype else 0, 0)
    kind = CodeKind.PARENT if parsed.kind is CodeKind.PARENT else _kind(state, ccode)
    current = state.link_parent.get(ccode)
    where = None
    if current is not None and current != pcode:
        origin = state.origins.get(ccode)
        if origin is not None:
            where = f"station {origin.station_id} at {hhmm(origin.device_time)}"
        else:
            at = state.link_time.get(ccode)
            where = "the central system" + (f" at {at.astimezone(UTC):%H:%M}" if at else "")
    d = decide_link(facts, ChildFacts(ccode, kind, current, where))
    if d.refused:
        return _reject(d)
    if not d.changes:
        return CentreResult(DUPLICATE, d.reason, d.message)
    parent_bag = _ensure_parent(state, pcode, ev, user_id, when)
    if ccode not in state.bags:
        state.bags[ccode] = _Bag(None, ccode, "child", parent_bag.area, None, new=True,
                                 user_id=user_id, created_at=when, updated_at=when)
        state.link_orig.setdefault(ccode, None)
    state.link_orig.setdefault(ccode, current)
    state.link_parent[ccode] = pcode
    state.link_time[ccode] = when
    state.origins[ccode] = _Origin(ev.station_id, ev.operator, ev.device_time)
    parent_bag.count += 1
    parent_bag.updated_at = when
    state.scans.append((when, pcode, ccode, user_id))
    return CentreResult(APPLIED, d.reason, d.message)


def _unlink(
    state: BatchState, ev: Event, username: str, role: str, when: datetime
) -> CentreResult:
    ccode = (ev.child or "").strip().upper()
    pcode = (ev.parent or "").strip().upper()
    current = state.link_parent.get(ccode)
    if current is not None and current != pcode:
        return CentreResult(
            REJECTED, "not_linked", f"{ccode} is not in {pcode} (it is in {current})"
        )
    facts = _parent_facts(state, pcode) if current else None
    origin = state.origins.get(ccode) if current else None
    linked_at = state.link_time.get(ccode)
    if origin is not None:
        linked_at = parse_time(origin.device_time)
    d = decide_unlink(
        child_code=ccode, parent=facts, linked_by=origin.operator if origin else None,
        linked_at=linked_at, username=username, role=role, now=when,
    )
    if d.refused:
        return _reject(d)
    state.link_parent[ccode] = None
    state.link_orig.setdefault(ccode, current)
    state.origins.pop(ccode, None)
    b = state.bags[pcode]
    b.count -= 1
    b.updated_at = when
    return CentreResult(APPLIED, d.reason, d.message)


def _bill_create(state: BatchState, ev: Event, user_id: int | None, when: datetime) -> CentreResult:
    try:
        code = parse_bill_id(ev.bill or "")
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    if code not in state.bills and _kind(state, code) is not None:
        return _reject(refuse("code_is_bag", f"{code} is a bag code: choose another bill id"))
    try:
        target = int(ev.data.get("target", 0))
    except (TypeError, ValueError):
        target = 0
    d = decide_create_bill(code, target, code in state.bills)
    if d.refused:
        return _reject(d)
    state.bills[code] = _Bill(
        None, code, "new", target, 0, new=True,
        description=str(ev.data.get("description") or ""),
        destination=str(ev.data.get("destination") or ""),
        vehicle=str(ev.data.get("vehicle") or ""), created_by_id=user_id,
        created_at=when, updated_at=when,
    )
    state.touched_bills.add(code)
    return CentreResult(APPLIED, d.reason, d.message)


def _bill_add(state: BatchState, ev: Event, when: datetime) -> CentreResult:
    bill_code = (ev.bill or "").strip().upper()
    try:
        parsed = state.classify(ev.parent or "")
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    code = parsed.code
    kind = _kind(state, code)
    bill = _bill_facts(state, bill_code)
    if parsed.kind is CodeKind.CHILD and kind is not CodeKind.PARENT:
        d = decide_bill_add(bill_code, bill, code, None, known_as_child=True)
    else:
        d = decide_bill_add(bill_code, bill, code, _parent_facts(state, code))
    if d.refused:
        return _reject(d)
    if not d.changes:
        return CentreResult(DUPLICATE, d.reason, d.message)
    if d.reason == "parent_unknown":
        # the station accepted it provisionally; the centre is where that gets decided
        return CentreResult(
            REJECTED, "parent_unknown",
            f"{code} is not known at the centre (never scanned as a parent bag): "
            f"not added to bill {bill_code}",
        )
    bl = state.bills[bill_code]
    state.bag_bill[code] = bill_code
    state.line_time[code] = when
    bl.linked += 1
    bl.status = bill_status_after(bl.linked, False)
    bl.updated_at = when
    state.touched_bills.add(bill_code)
    return CentreResult(APPLIED, d.reason, d.message)


# -- writing the net changes ----------------------------------------------------------------------


def _weight(b: _Bag) -> float:
    return b.count * (b.btype.kg_per_child if b.btype else 1.0)


def _capacity(b: _Bag) -> int:
    return b.btype.capacity if b.btype else 0


@dataclass
class Delta:
    """What a run of decided events changed, values taken when it was cut (take_delta).

    Rows refer to _Bag/_Bill objects only for their database ids (read or taken by load_state,
    or given to new bills by write_delta); every other value is copied when the delta is cut.
    """

    new_bags: list[tuple[_Bag, str]] = field(default_factory=list)  # bag, COPY line after id
    new_bills: list[tuple[_Bill, tuple[Any, ...]]] = field(default_factory=list)
    links_gone: list[_Bag] = field(default_factory=list)  # children whose link row goes
    links_added: list[tuple[_Bag, _Bag, str]] = field(default_factory=list)  # parent, child, at
    scans: list[tuple[str, _Bag, _Bag, int | None]] = field(default_factory=list)
    lines_gone: list[_Bag] = field(default_factory=list)
    lines_added: list[tuple[_Bill, _Bag, datetime | None]] = field(default_factory=list)
    counted: list[tuple[_Bag, int, float, str, datetime | None]] = field(default_factory=list)
    bill_status: list[tuple[_Bill, str, datetime | None]] = field(default_factory=list)
    notes: list[tuple[_Bill, str | None]] = field(default_factory=list)
    recount: list[_Bill] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.new_bags, self.new_bills, self.links_gone, self.links_added, self.scans,
                    self.lines_gone, self.lines_added, self.counted, self.bill_status,
                    self.notes, self.recount))


_NULL = "\\N"  # COPY text format's NULL


def _iso(dt: datetime | None) -> str:
    return _NULL if dt is None else dt.isoformat()


def _moves(
    now: dict[str, str | None], orig: dict[str, str | None],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Between a map's baseline and now (child -> parent, parent -> bill): the keys whose old
    row goes, and the (key, value) rows that come."""
    gone = [k for k, was in orig.items() if was is not None and now.get(k) != was]
    added = [(k, v) for k, v in now.items() if v is not None and orig.get(k) != v]
    return gone, added


def take_delta(state: BatchState) -> Delta:
    """The net changes of the decided events; the current state becomes the new baseline."""
    d = Delta()
    bags, bills = state.bags, state.bills
    # Bill counters follow the bills' lines and their parents' counts (invariant 6).
    affected = set(state.touched_bills)
    state.touched_bills = set()
    for p, b in bags.items():
        if b.kind == "parent" and b.count != b.orig_count:
            for bill_code in (state.bag_bill.get(p), state.bag_bill_orig.get(p)):
                if bill_code:
                    affected.add(bill_code)
    d.recount = [bills[c] for c in affected if c in bills]
    for b in bags.values():
        if b.new:
            parent = b.kind == "parent"
            if state.new_ids:
                b.id = state.new_ids.pop()
            d.new_bags.append((b, "\t".join((
                _copy_str(b.code), b.kind, _text(b.btype.name if b.btype else None),
                str(b.count), _NULL if b.user_id is None else str(b.user_id), _text(b.area),
                parent_status(b.count, _capacity(b)) if parent else "pending",
                repr(_weight(b)) if parent else "0.0", _iso(b.created_at),
                _iso(b.updated_at or b.created_at),
            ))))
            b.new = False
            b.orig_count = b.count
        elif b.kind == "parent" and b.count != b.orig_count:
            d.counted.append((b, b.count, _weight(b), parent_status(b.count, _capacity(b)),
                              b.updated_at))
            b.orig_count = b.count
    for bl in bills.values():
        if bl.new:
            d.new_bills.append((bl, (bl.code, bl.description, bl.target, bl.status,
                                     bl.created_by_id, bl.destination, bl.vehicle,
                                     bl.created_at, bl.updated_at)))
            bl.new = False
            bl.orig_status = bl.status
        elif bl.status != bl.orig_status:
            d.bill_status.append((bl, bl.status, bl.updated_at))
            bl.orig_status = bl.status
        if bl.reason_set:
            d.notes.append((bl, bl.closed_reason))
            bl.reason_set = False
    gone, added = _moves(state.link_parent, state.link_orig)
    d.links_gone = [bags[c] for c in gone]
    d.links_added = [(bags[p], bags[c], state.link_time[c].isoformat()) for c, p in added]
    state.link_orig = dict(state.link_parent)
    d.scans = [(ts.isoformat(), bags[p], bags[c], uid) for ts, p, c, uid in state.scans]
    state.scans = []
    gone, added = _moves(state.bag_bill, state.bag_bill_orig)
    d.lines_gone = [bags[p] for p in gone]
    d.lines_added = [(bills[b], bags[p], state.line_time.get(p)) for p, b in added]
    state.bag_bill_orig = dict(state.bag_bill)
    return d


def write_delta(cur: Any, d: Delta, types: tuple[BagType, ...]) -> None:
    """Write a delta, set-based, in foreign-key order, in the caller's transaction."""
    if d.new_bags:
        # ids first (load_state took them), then COPY (several times faster than INSERT ...
        # VALUES); a bag created by a concurrent batch meanwhile makes the COPY fail on qr_id,
        # and the batch is redone
        missing = [b for b, _ in d.new_bags if b.id is None]
        if missing:  # more new bags than load_state foresaw (not expected)
            cur.execute(
                "WITH q AS MATERIALIZED (SELECT pg_get_serial_sequence('bag', 'id')::regclass "
                "AS seq) SELECT nextval(q.seq) FROM q, generate_series(1, %s)",
                (len(missing),),
            )
            for b, (bid,) in zip(missing, cur.fetchall(), strict=True):
                b.id = bid
        lines = [f"{b.id}\t{rest}\n" for b, rest in d.new_bags]
        copy_text(cur, "bag", ("id", "qr_id", "type", "name", "child_count", "user_id",
                               "dispatch_area", "status", "weight_kg", "created_at",
                               "updated_at"), lines)
    if d.new_bills:
        rows = execute_values(
            cur,
            "INSERT INTO bill (bill_id, description, parent_bag_count, status, created_by_id, "
            "destination, vehicle_number, created_at, updated_at) VALUES %s "
            "ON CONFLICT DO NOTHING RETURNING id, bill_id",
            [values for _, values in d.new_bills],
            fetch=True,
            page_size=len(d.new_bills),
        )
        if len(rows) != len(d.new_bills):
            raise RetryBatch("a bill of this batch was created concurrently")
        by_code = {bl.code: bl for bl, _ in d.new_bills}
        for bid, code in rows:
            by_code[code.upper()].id = bid
    if d.links_gone:
        cur.execute("DELETE FROM link WHERE child_bag_id = ANY(%s)", ([b.id for b in d.links_gone],))
    if d.links_added:
        copy_text(cur, "link", ("parent_bag_id", "child_bag_id", "created_at"),
                  [f"{p.id}\t{c.id}\t{at}\n" for p, c, at in d.links_added])
    if d.scans:
        copy_text(cur, "scan", ("timestamp", "parent_bag_id", "child_bag_id", "user_id"),
                  [f"{at}\t{p.id}\t{c.id}\t{_NULL if u is None else u}\n"
                   for at, p, c, u in d.scans])
    if d.lines_gone:
        cur.execute("DELETE FROM bill_bag WHERE bag_id = ANY(%s)", ([b.id for b in d.lines_gone],))
    if d.lines_added:
        execute_values(
            cur, "INSERT INTO bill_bag (bill_id, bag_id, created_at) VALUES %s",
            [(bl.id, p.id, at) for bl, p, at in d.lines_added],
            template="(%s, %s, coalesce(%s, now()))", page_size=len(d.lines_added),
        )
    if d.counted:
        execute_values(
            cur,
            "UPDATE bag SET child_count = v.n, weight_kg = v.w, status = v.s, updated_at = v.u "
            "FROM (VALUES %s) AS v(id, n, w, s, u) WHERE bag.id = v.id",
            [(b.id, n, w, s, u) for b, n, w, s, u in d.counted],
            template="(%s::int, %s::int, %s::float8, %s::text, %s::timestamptz)",
            page_size=len(d.counted),
        )
    if d.bill_status:
        execute_values(
            cur,
            "UPDATE bill SET status = v.s, updated_at = v.u FROM (VALUES %s) AS v(id, s, u) "
            "WHERE bill.id = v.id",
            [(bl.id, s, u) for bl, s, u in d.bill_status],
            template="(%s::int, %s::text, %s::timestamptz)",
        )
    if d.notes:
        execute_values(
            cur,
            "INSERT INTO station_bill_notes (bill_id, closed_reason) VALUES %s "
            "ON CONFLICT (bill_id) DO UPDATE SET closed_reason = EXCLUDED.closed_reason",
            [(bl.id, reason) for bl, reason in d.notes],
        )
    ids = [bl.id for bl in d.recount if bl.id is not None]
    if ids:
        recount_bills(cur, ids, types)


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


_JSON_MEMO: dict[tuple[Any, ...], str] = {}


def _copy_json(v: Any) -> str:
    if not v:
        return "{}" if isinstance(v, dict) else "[]"
    # Event data repeats ({"source": "scanner"} on nearly every scan): encode each shape once.
    # Types are part of the key, since 1 == True hashes alike but encodes differently.
    key = None
    if type(v) is dict and len(v) <= 4:
        key = tuple((k, type(k), x, type(x)) for k, x in v.items())
        try:
            got = _JSON_MEMO.get(key)
        except TypeError:  # an unhashable value (a list, a dict): no memo
            key = None
        else:
            if got is not None:
                return got
    text = json.dumps(v, separators=(",", ":")).translate(_ESCAPES)
    if key is not None:
        if len(_JSON_MEMO) >= 4096:
            _JSON_MEMO.clear()
        _JSON_MEMO[key] = text
    return text


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search


def _copy_str(v: str) -> str:
    return v.translate(_ESCAPES) if _NEEDS_ESCAPE(v) else v


_COPY_FORMAT: dict[type, Any] = {
    str: _copy_str,
    int: str,
    float: repr,
    bool: lambda v: "t" if v else "f",
    type(None): lambda v: "\\N",
    datetime: datetime.isoformat,
    dict: _copy_json,
    list: _copy_json,
}


def _copy_value(v: Any) -> str:
    return _COPY_FORMAT.get(type(v), lambda x: str(x).translate(_ESCAPES))(v)  # type: ignore[no-any-return]


def copy_rows(cur: Any, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    """COPY rows into a table (text format) in the caller's transaction."""
    get = _COPY_FORMAT.get
    fallback = _copy_value
    # one dict lookup per value; this loop runs for every column of every row written
    copy_text(cur, table, columns,
              ["\t".join([get(type(v), fallback)(v) for v in row]) + "\n" for row in rows])


def copy_text(cur: Any, table: str, columns: tuple[str, ...], lines: list[str]) -> None:
    """COPY lines already in text format (each ending in a newline) into a table."""
    cols = ", ".join(f'"{c}"' for c in columns)
    # Bytes in the connection's encoding: psycopg2 then sends them as they are. (Given text, it
    # encodes every chunk it reads through a Python codec call, and a connection that dies in
    # the middle of that has made it raise SystemError instead of the connection error.)
    data = "".join(lines).encode(encodings.get(cur.connection.encoding, "utf-8"))
    cur.copy_expert(f'COPY "{table}" ({cols}) FROM STDIN', io.BytesIO(data))


def recount_bills(cur: Any, bill_ids: list[int], types: tuple[BagType, ...]) -> None:
    """Set the bills' counters to what their lines and parents say (only where they differ)."""
    cur.execute(
        "SELECT b.id, b.linked_parent_count, b.total_child_bags, b.total_weight_kg, "
        "b.expected_weight_kg FROM bill b WHERE b.id = ANY(%s)",
        (bill_ids,),
    )
    current = {r[0]: r[1:] for r in cur.fetchall()}
    totals: dict[int, list[float]] = {bid: [0, 0, 0.0, 0.0] for bid in current}
    cur.execute(
        "SELECT bb.bill_id, p.qr_id, p.name, p.child_count, p.weight_kg FROM bill_bag bb "
        "JOIN bag p ON p.id = bb.bag_id WHERE bb.bill_id = ANY(%s)",
        (bill_ids,),
    )
    for bid, code, name, count, weight in cur.fetchall():
        t = totals[bid]
        btype = bag_type_of(code, name, types)
        t[0] += 1
        t[1] += count
        t[2] += weight
        t[3] += btype.nominal_kg if btype else 0.0
    rows = []
    for bid, (n, children, kg, expected) in totals.items():
        cur_n, cur_c, cur_kg, cur_exp = current[bid]
        if (n, children) != (cur_n, cur_c) or abs(kg - cur_kg) > 1e-9 or abs(expected - cur_exp) > 1e-9:
            rows.append((bid, int(n), int(children), float(kg), float(expected)))
    if rows:
        execute_values(
            cur,
            "UPDATE bill SET linked_parent_count = v.n, total_child_bags = v.c, "
            "total_weight_kg = v.w, expected_weight_kg = v.e "
            "FROM (VALUES %s) AS v(id, n, c, w, e) WHERE bill.id = v.id",
            rows, template="(%s::int, %s::int, %s::int, %s::float8, %s::float8)",
        )


EVENT_COLUMNS = (
    "event_id", "station_id", "seq", "type", "operator", "device_time", "parent_code",
    "child_code", "bill_code", "data", "app_version", "protocol_version", "result", "reason",
    "message",
)


def event_row(station_id: str, r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["event_id"], station_id, r["seq"], r["type"], r["operator"], r["device_time"],
        r.get("parent_code"), r.get("child_code"), r.get("bill_code"), r.get("data") or {},
        r.get("app_version") or "", r["protocol_version"], r["result"], r.get("reason"),
        r.get("message"),
    )


def _text(v: Any) -> str:
    """A wire value for a text column: NULL, or escaped (not trusting its type)."""
    if v is None:
        return _NULL
    return _copy_str(v if type(v) is str else str(v))


def event_line(station_id: str, ev: Event, res: CentreResult) -> str:
    """The event log row of a decided event, as a COPY text line."""
    return "\t".join((
        _copy_str(ev.event_id), _copy_str(station_id), str(ev.seq), _copy_str(str(ev.type)),
        _copy_str(ev.operator), _copy_str(ev.device_time), _text(ev.parent), _text(ev.child),
        _text(ev.bill), _copy_json(ev.data), _copy_str(ev.app_version),
        str(ev.protocol_version), res.result, _text(res.reason), _text(res.message),
    )) + "\n"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


__all__ = [
    "APPLIED", "DUPLICATE", "REJECTED", "BatchState", "CentreResult", "Delta",
    "RetryBatch", "decide_event", "event_line", "load_state", "take_delta",
    "write_delta",
]
