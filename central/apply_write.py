"""Writing a batch's net changes (central.apply, docs/sync.md §3).

`take_delta` cuts the net changes of the decided events from the `BatchState` (the figures
deciding set from station.effects, no status derived here); `write_delta` writes them
set-based in foreign-key order (COPY, execute_values), then recounts the bills they touch.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg2.extensions import encodings
from psycopg2.extras import execute_values

from central.apply_decide import CentreResult, RetryBatch
from central.apply_load import BatchState, _Bag, _Bill, bag_type_of
from station.bills import BillParent, bill_figures
from station.codes import BagType, normalise
from station.events import Event


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
                b.status if parent else "pending",
                repr(b.weight) if parent else "0.0", _iso(b.created_at),
                _iso(b.updated_at or b.created_at),
            ))))
            b.new = False
            b.orig_count = b.count
        elif b.kind == "parent" and b.count != b.orig_count:
            # figures as station.effects gave them when the links changed
            d.counted.append((b, b.count, b.weight, b.status, b.updated_at))
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
    """Set the bills' counters to what their lines and parents say (only where they differ).

    Parents on the bill, their children and the expected kg are station.bills.bill_figures of
    the bill's parents; the total weight is the sum of the parents' own weight_kg, as the
    centre stores them (what invariant 6 compares it with), so it is summed here.
    """
    cur.execute(
        "SELECT b.id, b.parent_bag_count, b.linked_parent_count, b.total_child_bags, "
        "b.total_weight_kg, b.expected_weight_kg FROM bill b WHERE b.id = ANY(%s)",
        (bill_ids,),
    )
    got = cur.fetchall()
    current = {r[0]: r[2:] for r in got}
    targets = {r[0]: int(r[1] or 0) for r in got}
    parents: dict[int, list[BillParent]] = {bid: [] for bid in current}
    weights: dict[int, float] = dict.fromkeys(current, 0.0)
    cur.execute(
        "SELECT bb.bill_id, p.qr_id, p.name, p.child_count, p.weight_kg FROM bill_bag bb "
        "JOIN bag p ON p.id = bb.bag_id WHERE bb.bill_id = ANY(%s)",
        (bill_ids,),
    )
    for bid, code, name, count, weight in cur.fetchall():
        btype = bag_type_of(code, name, types)
        parents[bid].append(BillParent(count, None, btype.nominal_kg if btype else None))
        weights[bid] += weight
    totals = {}
    for bid, lines in parents.items():
        f = bill_figures(targets[bid], lines)
        totals[bid] = (f.linked, f.children, weights[bid], f.expected_kg)
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


def _code(v: str | None) -> str:
    """A bag or bill code of a decided event as the centre decided it (normalised: docs/rules.md
    §1), so that station_link_origins and the replay of invariant 7 find it by its bag's code."""
    return _NULL if v is None else _copy_str(normalise(v))


def event_prefix(station_id: str, ev: Event) -> str:
    """The columns of an event's log row that do not depend on its result (COPY text, ending
    in a tab). Built before the batch waits for its turn, so it costs nothing while the
    station's row is held (central.service)."""
    return "\t".join((
        _copy_str(ev.event_id), _copy_str(station_id), str(ev.seq), _copy_str(str(ev.type)),
        _copy_str(ev.operator), _copy_str(ev.device_time), _code(ev.parent), _code(ev.child),
        _code(ev.bill), _copy_json(ev.data), _copy_str(ev.app_version),
        str(ev.protocol_version), "",
    ))


def event_line(station_id: str, ev: Event, res: CentreResult, prefix: str | None = None) -> str:
    """The event log row of a decided event, as a COPY text line (`prefix`: its
    event_prefix, when already built)."""
    if prefix is None:
        prefix = event_prefix(station_id, ev)
    return f"{prefix}{res.result}\t{_text(res.reason)}\t{_text(res.message)}\n"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)

