"""Applying the centre's state to the local view: pull pages, replay of own pending events, and
correcting the view after the centre rejected one of this station's events.

After a pull the view is the centre's state plus this station's still-pending events
(docs/sync.md §14): centre rows are written as they come, then the pending events that touch the
same bags or bills are replayed with station.view.apply_event (an event the centre's state makes
impossible, such as a child the centre has in another parent, is skipped: the centre will reject
it and it lands in sync issues).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from station.codes import classify
from station.effects import effects_of, undo_of
from station.errors import CodeRefused
from station.events import Event, EventType, SyncState
from station.reasons import Reason
from station.store.local import upsert_operator
from station.store.schema import (
    bag_types,
    bags,
    bill_lines,
    bills,
    events,
    links,
    operators,
    sync_state,
)
from station.view import (
    apply_event,
    bill_of_parent,
    link_effects,
    link_of,
    load_bag_types,
    read_bill,
    recount_parents,
    set_bill_status,
    write_effects,
)
from sync.protocol import PullPage, PullRequest

log = logging.getLogger(__name__)

PULL_CURSOR = "pull_cursor"
BOOTSTRAPPED = "bootstrapped"
# The operators a first download brought so far (a JSON list, kept with the download's pages):
# when it is done, the operators it did not bring go (the demo users of `init --demo`, or the
# users of a centre this station was connected to before).
DOWNLOAD_USERS = "download_users"


def get_sync_state(conn: Connection, key: str) -> str | None:
    return conn.execute(select(sync_state.c.value).where(sync_state.c.key == key)).scalar()


def set_sync_state(conn: Connection, key: str, value: str | None) -> None:
    stmt = sqlite_insert(sync_state).values(key=key, value=value)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    )


def event_from_row(row: Any) -> Event:
    m = row._mapping if hasattr(row, "_mapping") else row
    return Event(
        event_id=m["event_id"], station_id=m["station_id"], seq=m["seq"],
        type=EventType(m["type"]), operator=m["operator"], device_time=m["device_time"],
        parent=m["parent_code"], child=m["child_code"], bill=m["bill_id"],
        data=json.loads(d) if (d := m["data"]) and d != "{}" else {}, app_version=m["app_version"],
        protocol_version=m["protocol_version"],
    )


# An event's row as the wire has it (Event.to_wire()), read without building an Event.
WIRE_COLUMNS = ("seq", "event_id", "station_id", "type", "operator", "device_time",
                "parent_code", "child_code", "bill_id", "data", "app_version", "protocol_version")
# Bytes of JSON a byte of stored (UTF-8) text can become at most (a control character or NUL is
# written as a 6-byte \uXXXX escape; a 4-byte character as two), and the bytes of an event's
# keys, numbers and punctuation.
WIRE_BOUND_PER_BYTE = 6
WIRE_BOUND_FIXED = 320
_EVENT_TYPES = frozenset(t.value for t in EventType)


def wire_from_values(v: Any) -> dict[str, Any]:
    """The wire form of an event from its row's WIRE_COLUMNS values (in that order): the same
    dict as event_from_row(row).to_wire(), and the same ValueError for an unknown type."""
    if v[3] not in _EVENT_TYPES:
        raise ValueError(f"{v[3]!r} is not a valid EventType")
    d = v[9]
    return {
        "event_id": v[1], "station_id": v[2], "seq": v[0], "type": v[3], "operator": v[4],
        "device_time": v[5], "parent": v[6], "child": v[7], "bill": v[8],
        "data": json.loads(d) if d and d != "{}" else {}, "app_version": v[10],
        "protocol_version": v[11],
    }


@dataclass
class _Touched:
    parents: set[str]
    codes: set[str]
    bills: set[str]


# -- one page ---------------------------------------------------------------------------------


def apply_page(conn: Connection, page: PullPage) -> int:
    """Write one page of centre changes (inside the caller's transaction); returns rows applied."""
    touched = _Touched(set(), set(), set())
    changes = page.changes
    i = 0
    # Consecutive rows of one table and op go to SQLite together (executemany): a bootstrap page
    # is one long run; order between runs is kept because it matters (unlink then relink).
    while i < len(changes):
        j = i
        table, op = changes[i]["table"], changes[i]["op"]
        while j < len(changes) and changes[j]["table"] == table and changes[j]["op"] == op:
            j += 1
        rows = [c["row"] for c in changes[i:j]]
        _APPLY[(table, op)](conn, rows, touched, page.bootstrap)
        i = j
    if touched.codes or touched.bills or touched.parents:
        _replay_and_recount(conn, touched)
    return len(changes)


_BAG_UPSERT = (
    "INSERT INTO bags (code, kind, bag_type, status, child_count, weight_kg, area, created_at, "
    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
    "kind = excluded.kind, bag_type = excluded.bag_type, status = excluded.status, "
    "child_count = excluded.child_count, weight_kg = excluded.weight_kg, area = excluded.area, "
    "updated_at = excluded.updated_at"
)
# A link this station made keeps its local event (undo needs it) when the centre agrees on it.
_LINK_UPSERT = (
    "INSERT INTO links (child_code, parent_code, linked_at, operator, station_id, event_seq) "
    "VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (child_code) DO UPDATE SET "
    "parent_code = excluded.parent_code, linked_at = excluded.linked_at, "
    "operator = excluded.operator, station_id = excluded.station_id, "
    "event_seq = CASE WHEN links.parent_code = excluded.parent_code THEN links.event_seq END"
)


def _raw(conn: Connection) -> Any:
    """The sqlite3 cursor of this connection, inside its current transaction: bulk rows go
    through executemany with plain tuples (a million-bag download is dominated by this)."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _bag_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    cur = _raw(conn)
    cur.executemany(_BAG_UPSERT, [
        (r["code"], r["kind"], r.get("bag_type"), r.get("status") or "pending",
         int(r.get("child_count") or 0), float(r.get("weight_kg") or 0.0), r.get("area"),
         str(r.get("created_at") or ""), str(r.get("updated_at") or ""))
        for r in rows
    ])
    cur.close()
    if not bootstrap:
        # The centre's counters leave out this station's pending links: recounted after replay.
        t.parents.update(r["code"] for r in rows if r["kind"] == "parent")
        t.codes.update(r["code"] for r in rows)


def _bag_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    codes = [r["code"] for r in rows]
    for code in codes:
        parents = conn.execute(select(links.c.parent_code).where(links.c.child_code == code)).scalars()
        t.parents.update(parents)
        conn.execute(delete(links).where(or_(links.c.child_code == code, links.c.parent_code == code)))
        conn.execute(delete(bill_lines).where(bill_lines.c.parent_code == code))
        conn.execute(delete(bags).where(bags.c.code == code))
    t.codes.update(codes)
    t.parents.difference_update(codes)


def _stub_bags(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Make sure both ends of a link exist (a link may come before its bag's own row)."""
    types = load_bag_types(conn)
    for code, kind in pairs:
        bag_type = None
        if kind == "parent":
            try:
                parsed = classify(code, types)
                bag_type = parsed.bag_type.name if parsed.bag_type else None
            except CodeRefused:
                bag_type = None
        conn.execute(
            sqlite_insert(bags)
            .values(code=code, kind=kind, bag_type=bag_type, status="pending", child_count=0,
                    weight_kg=0.0, created_at="", updated_at="")
            .on_conflict_do_nothing(index_elements=["code"])
        )


def _link_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    if not bootstrap:
        children = [r["child_code"] for r in rows]
        for k in range(0, len(children), 500):
            t.parents.update(
                conn.execute(
                    select(links.c.parent_code).where(links.c.child_code.in_(children[k:k + 500]))
                ).scalars()
            )
    values = [
        (r["child_code"], r["parent_code"], str(r.get("linked_at") or ""), r.get("operator"),
         r.get("station_id"))
        for r in rows
    ]
    try:
        with conn.begin_nested():
            _executemany(conn, _LINK_UPSERT, values)
    except (sqlite3.IntegrityError, IntegrityError):
        # A link whose bag this station has not received yet: in the feed a link can come
        # before its bag's row, and the first download reads bags before links while stations
        # keep linking. Both ends get a minimal row now; the bag's own row follows.
        _stub_missing(conn, rows)
        _executemany(conn, _LINK_UPSERT, values)
    if not bootstrap:
        t.parents.update(r["parent_code"] for r in rows)
        t.codes.update(r["child_code"] for r in rows)
        t.codes.update(r["parent_code"] for r in rows)


def _executemany(conn: Connection, sql: str, values: list[tuple[Any, ...]]) -> None:
    cur = _raw(conn)
    try:
        cur.executemany(sql, values)
    finally:
        cur.close()


def _stub_missing(conn: Connection, rows: list[dict[str, Any]]) -> None:
    known: set[str] = set()
    codes = list({r["child_code"] for r in rows} | {r["parent_code"] for r in rows})
    for k in range(0, len(codes), 500):
        known.update(
            conn.execute(select(bags.c.code).where(bags.c.code.in_(codes[k:k + 500]))).scalars()
        )
    missing = [(r["parent_code"], "parent") for r in rows if r["parent_code"] not in known]
    missing += [(r["child_code"], "child") for r in rows if r["child_code"] not in known]
    if missing:
        _stub_bags(conn, dict(missing).items())


def _link_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    # The feed names the child only (a child has at most one parent): whatever link it has goes.
    for r in rows:
        child = r["child_code"]
        cond = [links.c.child_code == child]
        if r.get("parent_code"):
            cond.append(links.c.parent_code == r["parent_code"])
        parent = conn.execute(select(links.c.parent_code).where(*cond)).scalar()
        if parent is None:
            continue
        conn.execute(delete(links).where(*cond))
        t.parents.add(parent)
        t.codes.update((child, parent))


def _bill_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    stmt = sqlite_insert(bills)
    cols = ("description", "destination", "vehicle", "target", "status", "created_by",
            "updated_at", "closed_reason")
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["bill_id"], set_={c: stmt.excluded[c] for c in cols}
        ),
        [
            {"bill_id": r["bill_id"], "description": r.get("description") or "",
             "destination": r.get("destination") or "", "vehicle": r.get("vehicle") or "",
             "target": int(r["target"]), "status": r.get("status") or "new",
             "created_by": r.get("created_by"), "created_at": str(r.get("created_at") or ""),
             "updated_at": str(r.get("updated_at") or ""), "closed_reason": r.get("closed_reason")}
            for r in rows
        ],
    )
    if not bootstrap:
        t.bills.update(r["bill_id"] for r in rows)


def _bill_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    for r in rows:
        conn.execute(delete(bill_lines).where(bill_lines.c.bill_id == r["bill_id"]))
        conn.execute(delete(bills).where(bills.c.bill_id == r["bill_id"]))
        t.bills.add(r["bill_id"])


def _bill_bag_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched,
                     bootstrap: bool) -> None:
    # A line of a bill this station has not received yet (created while the first download
    # ran) is left to the feed, which brings the bill and its lines again.
    wanted = list({r["bill_id"] for r in rows})
    known: set[str] = set()
    for k in range(0, len(wanted), 500):
        known.update(conn.execute(
            select(bills.c.bill_id).where(bills.c.bill_id.in_(wanted[k:k + 500]))).scalars())
    rows = [r for r in rows if r["bill_id"] in known]
    if not rows:
        return
    stmt = sqlite_insert(bill_lines)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["parent_code"],
            set_={"bill_id": stmt.excluded.bill_id, "added_at": stmt.excluded.added_at,
                  "provisional": 0},
        ),
        [
            {"parent_code": r["parent_code"], "bill_id": r["bill_id"],
             "added_at": str(r.get("added_at") or ""), "operator": r.get("operator"),
             "provisional": 0}
            for r in rows
        ],
    )
    if not bootstrap:
        t.bills.update(r["bill_id"] for r in rows)
        t.codes.update(r["parent_code"] for r in rows)


def _bill_bag_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched,
                     bootstrap: bool) -> None:
    # The feed names the parent only (a parent is on at most one bill).
    for r in rows:
        cond = [bill_lines.c.parent_code == r["parent_code"]]
        if r.get("bill_id"):
            cond.append(bill_lines.c.bill_id == r["bill_id"])
        bill_id = conn.execute(select(bill_lines.c.bill_id).where(*cond)).scalar()
        if bill_id is None:
            continue
        conn.execute(delete(bill_lines).where(*cond))
        t.bills.add(bill_id)
        t.codes.add(r["parent_code"])


def _user_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    for r in rows:
        upsert_operator(conn, r["username"], r["password_hash"], r["role"], r.get("area"))
    # The feed's first page, which ends the first download, counts too: it brings the
    # operators added at the centre while the download ran.
    if rows and (bootstrap or get_sync_state(conn, BOOTSTRAPPED) != "1"):
        seen = set(json.loads(get_sync_state(conn, DOWNLOAD_USERS) or "[]"))
        seen.update(r["username"] for r in rows)
        set_sync_state(conn, DOWNLOAD_USERS, json.dumps(sorted(seen)))


def _drop_operators_not_downloaded(conn: Connection) -> None:
    """After a first download: only the operators the centre sent may log in here (a demo
    station's admin/demo, another centre's users, stop). A centre that sent none leaves
    them all (nobody could log in at all otherwise)."""
    seen = set(json.loads(get_sync_state(conn, DOWNLOAD_USERS) or "[]"))
    if seen:
        gone = [u for u in conn.execute(select(operators.c.username)).scalars() if u not in seen]
        for u in gone:
            conn.execute(delete(operators).where(operators.c.username == u))
        if gone:
            log.warning("operators the centre does not have can no longer log in here: %s",
                        ", ".join(gone))
    else:
        log.warning("the centre sent no operators: the ones this station had are kept")
    set_sync_state(conn, DOWNLOAD_USERS, None)


def _user_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched, bootstrap: bool) -> None:
    for r in rows:
        conn.execute(delete(operators).where(operators.c.username == r["username"]))


def _bag_type_upsert(conn: Connection, rows: list[dict[str, Any]], t: _Touched,
                     bootstrap: bool) -> None:
    stmt = sqlite_insert(bag_types)
    cols = ("pattern", "lookalike", "capacity", "nominal_kg", "kg_per_child", "example")
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["name"], set_={c: stmt.excluded[c] for c in cols}),
        [
            {"name": r["name"], "pattern": r["pattern"], "lookalike": r.get("lookalike") or "",
             "capacity": int(r["capacity"]), "nominal_kg": float(r["nominal_kg"]),
             "kg_per_child": float(r.get("kg_per_child") or 1.0), "example": r.get("example") or ""}
            for r in rows
        ],
    )


def _bag_type_delete(conn: Connection, rows: list[dict[str, Any]], t: _Touched,
                     bootstrap: bool) -> None:
    """A type gone at the centre. Renamed there (the new name came in this page's upserts), the
    parents held here under the old name go over to the type that now reads their codes; a type
    whose parents no other type reads stays, or they could not be read as parents any more."""
    gone = {r["name"] for r in rows}
    left = tuple(bt for bt in load_bag_types(conn) if bt.name not in gone)
    for name in sorted(gone):
        codes = conn.execute(select(bags.c.code).where(bags.c.bag_type == name)).scalars().all()
        needed = False
        for code in codes:
            try:
                parsed = classify(code, left)
            except CodeRefused:
                parsed = None
            if parsed is None or parsed.bag_type is None:
                needed = True
                continue
            conn.execute(update(bags).where(bags.c.code == code)
                         .values(bag_type=parsed.bag_type.name))
            t.parents.add(code)
        if not needed:
            conn.execute(delete(bag_types).where(bag_types.c.name == name))


_Apply = Callable[[Connection, list[dict[str, Any]], _Touched, bool], None]
_APPLY: dict[tuple[str, str], _Apply] = {
    ("bag", "upsert"): _bag_upsert,
    ("bag", "delete"): _bag_delete,
    ("link", "upsert"): _link_upsert,
    ("link", "delete"): _link_delete,
    ("bill", "upsert"): _bill_upsert,
    ("bill", "delete"): _bill_delete,
    ("bill_bag", "upsert"): _bill_bag_upsert,
    ("bill_bag", "delete"): _bill_bag_delete,
    ("user", "upsert"): _user_upsert,
    ("user", "delete"): _user_delete,
    ("bag_type", "upsert"): _bag_type_upsert,
    ("bag_type", "delete"): _bag_type_delete,
}


# -- view = centre + own pending events ------------------------------------------------------------


def pending_events(conn: Connection, touched: _Touched | None = None) -> list[Event]:
    q = select(events).where(events.c.sync_state == SyncState.PENDING.value)
    if touched is None:
        return [event_from_row(r) for r in conn.execute(q.order_by(events.c.seq))]
    # The codes a page touched go 500 at a time, as elsewhere here: a page of the feed may touch
    # tens of thousands, over the variables SQLite allows one statement (32 766 by default).
    codes = list(touched.codes | touched.parents)
    bill_ids = list(touched.bills)
    found: dict[int, Any] = {}
    for k in range(0, len(codes), 500):
        part = codes[k:k + 500]
        cond = or_(events.c.parent_code.in_(part), events.c.child_code.in_(part))
        found.update((r.seq, r) for r in conn.execute(q.where(cond)))
    for k in range(0, len(bill_ids), 500):
        part = bill_ids[k:k + 500]
        found.update((r.seq, r) for r in conn.execute(q.where(events.c.bill_id.in_(part))))
    return [event_from_row(found[seq]) for seq in sorted(found)]


def replay(conn: Connection, evs: Iterable[Event]) -> tuple[set[str], set[str]]:
    """Re-apply pending events over centre rows; returns (parents, bills) they touch.

    Replaying an event whose effect is already there (the link exists) or that the centre's state
    makes impossible fails on a constraint and is skipped in its own savepoint.
    """
    parents: set[str] = set()
    bill_ids: set[str] = set()
    for ev in evs:
        if ev.type is EventType.CHILD_LINKED and ev.child and ev.parent:
            elsewhere = conn.execute(
                select(links.c.parent_code).where(links.c.child_code == ev.child)
            ).scalar()
            if elsewhere is not None:
                # Its parent is counted again all the same: after a first download its row
                # holds the centre's count, which leaves this pending link out.
                parents.add(ev.parent)
                if elsewhere == ev.parent:
                    # Our own link, already in the centre's rows: keep the event for undo.
                    conn.execute(
                        update(links)
                        .where(links.c.child_code == ev.child, links.c.event_seq.is_(None),
                               links.c.station_id == ev.station_id)
                        .values(event_seq=ev.seq)
                    )
                continue
        try:
            with conn.begin_nested():
                apply_event(conn, ev, ev.seq)
        except IntegrityError:
            log.info("pending event %s (%s) does not fit the centre's state; left to the centre",
                     ev.seq, ev.type)
        if ev.parent:
            parents.add(ev.parent)
        if ev.bill:
            bill_ids.add(ev.bill)
    return parents, bill_ids


def _replay_and_recount(conn: Connection, touched: _Touched) -> None:
    parents, bill_ids = replay(conn, pending_events(conn, touched))
    recount(conn, touched.parents | parents, touched.bills | bill_ids, with_bills=bool(bill_ids))


def _now(conn: Connection) -> str:
    return conn.execute(select(func.strftime("%Y-%m-%dT%H:%M:%fZ", "now"))).scalar_one()


def sqlite_now(at: datetime) -> str:
    """`at` as _now writes the time (SQLite's strftime('%Y-%m-%dT%H:%M:%fZ'))."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def recount(conn: Connection, parents: Iterable[str], bill_ids: Iterable[str],
            *, with_bills: bool = True) -> None:
    """Parents' figures from their links and open bills' statuses from their lines, now."""
    now = _now(conn)
    recount_parents(conn, parents, now)
    if with_bills:
        for b in bill_ids:
            set_bill_status(conn, b, now)


def rebuild_after_bootstrap(conn: Connection) -> None:
    """After the first download: lay every pending event over it and recount what they touch."""
    parents, bill_ids = replay(conn, pending_events(conn))
    recount(conn, parents, bill_ids)


# -- correcting the view after a rejection ------------------------------------------------------------


def correct_rejected(conn: Connection, ev: Event, reason: str | None,
                     now: str | None = None) -> None:
    """Undo the local effect of an event the centre rejected (the feed then brings its truth):
    the effects of the event that takes it back (station.effects.undo_of), written `now`
    (sqlite_now; default: SQLite's clock)."""
    undo = undo_of(ev.type, reason)
    when = now or _now(conn)
    if undo is EventType.CHILD_UNLINKED and ev.child and ev.parent:
        # Only the link this event made goes (its own event_seq); the parent's figures follow.
        # (plain SQL here and below: building the statement costs more than running it)
        own = conn.exec_driver_sql(
            "SELECT child_code FROM links WHERE child_code = :c AND parent_code = :p "
            "AND event_seq = :s", {"c": ev.child, "p": ev.parent, "s": ev.seq}).scalar()
        eff = link_effects(conn, undo, ev.child, ev.parent, ev.parent if own else None,
                           parents_only=True)
        write_effects(conn, eff, when)
        if own:
            _drop_own_child_bag(conn, ev)
    elif undo is EventType.CHILD_LINKED and ev.child and ev.parent:
        # The centre kept the link (e.g. the parent is on a closed bill): show it again.
        if link_of(conn, ev.child) is None and _exists(conn, ev.child) and _exists(conn, ev.parent):
            eff = link_effects(conn, undo, ev.child, ev.parent, None, parents_only=True)
            write_effects(conn, eff, when, added_at=ev.device_time)
    elif undo is EventType.BILL_PARENT_REMOVED and ev.parent and ev.bill:
        eff = effects_of(undo, parent_code=ev.parent, bill_id=ev.bill,
                         bill=read_bill(conn, ev.bill), on_bill=bill_of_parent(conn, ev.parent))
        write_effects(conn, eff, when)
    elif undo is EventType.BILL_PARENT_ADDED and ev.parent and ev.bill:
        # The centre kept the line: show it again (not provisional: the centre has it).
        bill = read_bill(conn, ev.bill)
        if bill_of_parent(conn, ev.parent) is None and bill is not None:
            eff = effects_of(undo, parent_code=ev.parent, bill=bill)
            write_effects(conn, eff, when, added_at=ev.device_time, provisional=False)
    elif undo is EventType.BILL_REOPENED and ev.bill:
        write_effects(conn, effects_of(undo, bill=read_bill(conn, ev.bill)), when)
    elif ev.type is EventType.BILL_CREATED and ev.bill and reason != Reason.BILL_EXISTS:
        # The centre never made this bill (refused for who made it, or for its id): the one made
        # here goes with its lines, while it is still this event's own (its time and operator;
        # a bill the feed sent has the centre's)
        own = {"b": ev.bill, "t": ev.device_time, "op": ev.operator}
        if conn.exec_driver_sql("SELECT 1 FROM bills WHERE bill_id = :b AND created_at = :t "
                                "AND created_by = :op", own).scalar() is not None:
            conn.exec_driver_sql("DELETE FROM bill_lines WHERE bill_id = :b", own)
            conn.exec_driver_sql("DELETE FROM bills WHERE bill_id = :b", own)
    elif ev.type is EventType.PARENT_SCANNED and ev.parent and \
            reason in (Reason.CODE_IS_CHILD, Reason.KIND_CONFLICT):
        # The centre holds the code as a child: the parent bag made here goes, unless in use.
        used = conn.execute(
            select(func.count()).select_from(links).where(
                or_(links.c.parent_code == ev.parent, links.c.child_code == ev.parent)
            )
        ).scalar_one()
        if not used:
            conn.execute(delete(bill_lines).where(bill_lines.c.parent_code == ev.parent))
            conn.execute(delete(bags).where(and_(bags.c.code == ev.parent, bags.c.kind == "parent")))


def _drop_own_child_bag(conn: Connection, ev: Event) -> None:
    """The child bag a rejected link made here goes with it, as the centre never made it: only
    when this event created it (its time and operator), it is in no parent now, and no other
    event of this station names it. A bag the centre sent keeps its own creation time."""
    if link_of(conn, ev.child or "") is not None:
        return
    others = conn.exec_driver_sql(
        "SELECT count(*) FROM events WHERE child_code = :c AND seq != :s",
        {"c": ev.child, "s": ev.seq}).scalar_one()
    if others:
        return
    conn.exec_driver_sql(
        "DELETE FROM bags WHERE code = :c AND kind = 'child' AND created_at = :t "
        "AND created_by = :op", {"c": ev.child, "t": ev.device_time, "op": ev.operator})


def _exists(conn: Connection, code: str) -> bool:
    found = conn.exec_driver_sql("SELECT 1 FROM bags WHERE code = :c", {"c": code}).scalar()
    return found is not None


# -- the pull loop ---------------------------------------------------------------------------------


def pull_all(
    store_conn: Connection,
    transport: Any,
    station_id: str,
    *,
    limit: int = 5000,
    bootstrap_limit: int = 20000,
    should_stop: Callable[[], bool] = lambda: False,
    on_page: Callable[[PullPage], None] | None = None,
    write_rows: int | None = None,
) -> int:
    """Follow the feed until caught up; each page and its cursor commit together (resumable).

    The first download asks for bigger pages (fewer round trips for a million bags); the feed
    afterwards uses `limit`, so one local transaction stays short while the window scans.
    With `write_rows`, a page of the first download is written in transactions of at most that
    many rows, its cursor with the last (its rows are upserts: a page cut short is simply written
    again), so a scan never waits long for the store's write lock.
    """
    total = 0
    with store_conn.begin():
        cursor = get_sync_state(store_conn, PULL_CURSOR)
        bootstrapping = get_sync_state(store_conn, BOOTSTRAPPED) != "1"

    def fetch(cur: str | None, boot: bool) -> PullPage:
        return transport.pull(PullRequest(station_id, cur, bootstrap_limit if boot else limit))

    # During the first download foreign keys are checked once at its end (stubs for any link
    # whose bag did not come, in the same transaction that marks the download done) instead of
    # twice per link row: half the cost of writing a million links. Per connection only.
    if bootstrapping:
        raw = store_conn.connection.dbapi_connection
        raw.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            total, cursor, finished = _pull_pages(store_conn, fetch, cursor, True, should_stop,
                                                  on_page, write_rows)
        finally:
            if store_conn.in_transaction():
                store_conn.rollback()
            raw.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
        if not finished:
            return total
    # The change feed, foreign keys on.
    more, _, _ = _pull_pages(store_conn, fetch, cursor, False, should_stop, on_page)
    return total + more


def _stub_dangling(conn: Connection) -> None:
    """Give every link both its bags (checked once, after a download without foreign keys)."""
    for column, kind in (("parent_code", "parent"), ("child_code", "child")):
        missing = list(conn.exec_driver_sql(
            f"SELECT DISTINCT {column} FROM links WHERE {column} NOT IN (SELECT code FROM bags)"
        ).scalars())
        if missing:
            _stub_bags(conn, [(code, kind) for code in missing])


def _pull_pages(
    store_conn: Connection,
    fetch: Callable[[str | None, bool], PullPage],
    cursor: str | None,
    bootstrapping: bool,
    should_stop: Callable[[], bool],
    on_page: Callable[[PullPage], None] | None,
    write_rows: int | None = None,
) -> tuple[int, str | None, bool]:
    """Pages until caught up, or (when `bootstrapping`) until the first download is complete;
    returns (rows, cursor, whether it went on to the feed)."""
    total = 0
    first_download = bootstrapping
    # While a page is written locally the next one is already being read at the centre
    # (one request at a time, in order; the transport is used by one thread at a time).
    # Leaving the block shuts the pool down and joins its thread: nothing outlives the pull.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull-read-ahead") as pool:
        ahead: Future[PullPage] | None = None
        while not should_stop():
            page = ahead.result() if ahead is not None else fetch(cursor, bootstrapping)
            ahead = None
            if page.bootstrap and not page.done and not should_stop():
                ahead = pool.submit(fetch, page.cursor, True)
            try:
                last = page
                if write_rows and page.bootstrap and len(page.changes) > write_rows:
                    cut = len(page.changes) - write_rows
                    for i in range(0, cut, write_rows):
                        with store_conn.begin():
                            total += apply_page(store_conn, replace(
                                page, changes=page.changes[i:min(i + write_rows, cut)]))
                    last = replace(page, changes=page.changes[cut:])
                with store_conn.begin():
                    total += apply_page(store_conn, last)
                    set_sync_state(store_conn, PULL_CURSOR, page.cursor)
                    if (not page.bootstrap or page.done) and \
                            get_sync_state(store_conn, BOOTSTRAPPED) != "1":
                        _stub_dangling(store_conn)
                        _drop_operators_not_downloaded(store_conn)
                        rebuild_after_bootstrap(store_conn)
                        set_sync_state(store_conn, BOOTSTRAPPED, "1")
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                    try:
                        ahead.result()
                    except Exception:  # noqa: BLE001 - the first error is the one reported
                        pass
                raise
            cursor = page.cursor
            bootstrapping = page.bootstrap
            if on_page is not None:
                on_page(page)
            if page.done:
                break
            if first_download and not page.bootstrap:
                return total, cursor, True
        if ahead is not None:  # stopped while a page was on its way: it is simply not used
            try:
                ahead.result()
            except Exception:  # noqa: BLE001
                pass
    return total, cursor, False


__all__ = [
    "PULL_CURSOR", "apply_page", "correct_rejected", "event_from_row", "get_sync_state",
    "pull_all", "rebuild_after_bootstrap", "replay", "set_sync_state",
]
