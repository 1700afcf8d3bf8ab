"""Loading a batch's facts under row locks (central.apply, docs/sync.md §3).

The facts of every bag and bill the batch names are read once, under row locks taken in one
global order (bags by qr_id, then bills by bill_id) so concurrent stations cannot deadlock on
them, together with who linked each named child (for refusal messages and the undo rule), into
a `BatchState` that deciding (central.apply_decide) then changes with no database access.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from station.codes import (
    DEFAULT_BAG_TYPES,
    LABEL_PATTERN,
    BagType,
    ParsedCode,
    classify,
    normalise,
)
from station.errors import CodeRefused
from station.events import Event, EventType


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
    weight: float = 0.0  # with status, set from station.effects when its links change
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
    operators: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # name -> id,name,role
    operator_facts: dict[str, tuple[str | None, bool]] = field(default_factory=dict)  # area, verified
    station_scope: str = "area"
    scans: list[tuple[datetime, str, str, int | None]] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)  # bag ids taken for bags this batch makes
    parsed: dict[str, ParsedCode | CodeRefused] = field(default_factory=dict)
    unknown: int = 0  # codes named that are no bag yet (each may become one)

    def operator_named(self, raw: str) -> str | None:
        """The user an event's operator is, as station.session logs them in: the one spelt so
        (trimmed), else the one whose name differs only in case; None when there is none, or
        when several differ only in case and none is spelt so."""
        name = raw.strip()
        if name in self.operators:
            return name
        folded = name.lower()
        names = [n for n in self.operators if n.lower() == folded]
        return names[0] if len(names) == 1 else None

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
                code = normalise(c)
                bag_codes.add(code)
                label = LABEL_PATTERN.search(code)
                if label is not None:  # a printed label is the child of its number (rules §1)
                    bag_codes.add(label.group(1))
        if ev.bill:
            bill = normalise(ev.bill)
            bill_codes.add(bill)
            if ev.type is EventType.BILL_CREATED:
                bag_codes.add(bill)  # a bill id may not be a bag code
        users.add(ev.operator.strip().lower())
    return bag_codes, bill_codes, users


def load_state(cur: Any, events: list[Event], station_id: str, area: str,
               types: tuple[BagType, ...] | None = None, scope: str = "area", *,
               lock: bool = True, take_ids: bool = True) -> BatchState:
    """The facts of everything `events` name, under row locks (unless `lock` is False: a
    look ahead, central.ahead), with the ids for the bags they may make taken (`take_ids`;
    else later, with take_new_ids)."""
    state = BatchState(load_bag_types(cur) if types is None else types, station_id, area,
                       station_scope=scope)
    bag_codes, bill_codes, users = _codes_of(events)
    for_update = " FOR UPDATE" if lock else ""
    cur.execute(
        "SELECT id, qr_id, type, name, dispatch_area, status, created_at FROM bag "
        f"WHERE qr_id = ANY(%s) ORDER BY qr_id{for_update}",
        (sorted(bag_codes),),
    )
    by_id: dict[int, _Bag] = {}
    for bid, code, kind, name, b_area, status, created in cur.fetchall():
        b = _Bag(bid, code, kind, b_area, None, status=status, created_at=created)
        if kind == "parent":
            b.btype = bag_type_of(code, name, state.types)
        state.bags[code] = b
        by_id[bid] = b
    state.unknown = len(bag_codes) - len(by_id)
    if take_ids:
        take_new_ids(cur, state, state.unknown)
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
            f"WHERE upper(bill_id) = ANY(%s) ORDER BY upper(bill_id){for_update}",
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
            state.operators[name] = (uid, name, (role or "").lower())
            state.operator_facts[name] = (op_area, verified is not False)
    return state



def take_new_ids(cur: Any, state: BatchState, unknown: int) -> None:
    """Every code a batch names that is not a bag yet may become one (at most one each): take
    that many ids now, so that writing needs no round trip for them (unused ones are gaps in
    the sequence, as after any rollback)."""
    if unknown > 0:
        cur.execute(
            # the sequence's name looked up once, not per row (that cost ~5 us per bag)
            "WITH q AS MATERIALIZED (SELECT pg_get_serial_sequence('bag', 'id')::regclass "
            "AS seq) SELECT nextval(q.seq) FROM q, generate_series(1, %s)",
            (unknown,),
        )
        state.new_ids = [r[0] for r in reversed(cur.fetchall())]
