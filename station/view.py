"""The local view: reading facts for the rules, and applying an event to the view tables.

`apply_event` is the only writer of bags, links, bills and bill lines from events, so the
service (new events) and sync (replaying pending events over the centre's state) agree. What
an event changes comes from station.effects (shared with the centre): this module reads the
facts and translates the effects into rows (`write_effects`); it derives no count or status.
These run on every scan, so they are plain SQL through the connection's driver: building and
caching SQLAlchemy constructs cost more than the statements themselves (bench/scan_path.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from station.codes import BagType, CodeKind
from station.effects import Effects, ParentChange, bill_after, effects_of, parent_after
from station.events import Event, EventType
from station.rules import BillFacts, ChildFacts, ParentFacts


def _one(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Any:
    return conn.exec_driver_sql(sql, params or {}).first()


def _scalar(conn: Connection, sql: str, params: dict[str, Any] | None = None) -> Any:
    row = conn.exec_driver_sql(sql, params or {}).first()
    return row[0] if row else None


def load_bag_types(conn: Connection) -> tuple[BagType, ...]:
    rows = conn.exec_driver_sql(
        "SELECT name, pattern, lookalike, capacity, nominal_kg, kg_per_child, example "
        "FROM bag_types ORDER BY name"
    ).all()
    return tuple(BagType(*r) for r in rows)


@dataclass(frozen=True)
class ParentRow:
    """A parent bag as the screen shows it."""

    code: str
    bag_type: str
    capacity: int
    child_count: int
    status: str
    weight_kg: float
    bill_id: str | None
    bill_status: str | None

    def facts(self, nominal_kg: float = 0.0) -> ParentFacts:
        return ParentFacts(
            self.code, self.capacity, self.child_count, self.bill_id,
            self.bill_status == "completed", nominal_kg,
        )


_PARENT_SQL = (
    "SELECT b.code, b.bag_type, t.capacity, b.child_count, b.status, b.weight_kg, "
    "l.bill_id, bi.status FROM bags b JOIN bag_types t ON t.name = b.bag_type "
    "LEFT JOIN bill_lines l ON l.parent_code = b.code "
    "LEFT JOIN bills bi ON bi.bill_id = l.bill_id "
)


def read_parent(conn: Connection, code: str) -> ParentRow | None:
    row = _one(conn, _PARENT_SQL + "WHERE b.code = :code AND b.kind = 'parent'", {"code": code})
    return ParentRow(*row) if row else None


def read_state_parent(conn: Connection, key: str) -> ParentRow | None:
    """The parent named by a station_state key (the current parent), in one query."""
    row = _one(
        conn,
        _PARENT_SQL + "JOIN station_state s ON s.value = b.code WHERE s.key = :key "
        "AND b.kind = 'parent'",
        {"key": key},
    )
    return ParentRow(*row) if row else None


def known_kind(conn: Connection, code: str) -> CodeKind | None:
    kind = _scalar(conn, "SELECT kind FROM bags WHERE code = :code", {"code": code})
    return CodeKind(kind) if kind else None


def read_child(conn: Connection, code: str) -> ChildFacts:
    row = _one(
        conn,
        "SELECT b.kind, l.parent_code, l.station_id, l.linked_at FROM bags b "
        "LEFT JOIN links l ON l.child_code = b.code WHERE b.code = :code",
        {"code": code},
    )
    if row is None:
        return ChildFacts(code)
    where = None
    if row[1] is not None and row[2]:
        where = f"station {row[2]} at {_local_hhmm(row[3])}"
    return ChildFacts(code, CodeKind(row[0]), row[1], where)


def _local_hhmm(stored: str) -> str:
    """A stored time (ISO, UTC) as the station's local HH:MM, as every time a station shows."""
    try:
        return datetime.fromisoformat(stored).astimezone().strftime("%H:%M")
    except (TypeError, ValueError):
        return (stored or "")[11:16]


def read_bill(conn: Connection, bill_id: str) -> BillFacts | None:
    row = _one(
        conn,
        "SELECT bill_id, status, target, "
        "(SELECT count(*) FROM bill_lines WHERE bill_id = :b) FROM bills WHERE bill_id = :b",
        {"b": bill_id},
    )
    return BillFacts(row[0], row[1], row[2], row[3]) if row else None


def bill_of_parent(conn: Connection, code: str) -> str | None:
    return _scalar(conn, "SELECT bill_id FROM bill_lines WHERE parent_code = :c", {"c": code})


# The facts an event's effects need (station.effects), read before it is applied. A parent's
# count is its links (the centre's counters leave this station's pending links out until the
# replay after a pull); a bag type not known here counts as capacity 0, 1.0 kg per child.
_PARENT_COUNTS_SQL = (
    "SELECT b.kind, coalesce(t.capacity, 0), coalesce(t.kg_per_child, 1.0), "
    "(SELECT count(*) FROM links WHERE parent_code = b.code) "
    "FROM bags b LEFT JOIN bag_types t ON t.name = b.bag_type WHERE b.code = :p"
)


class ParentCounts(NamedTuple):
    """A bag's facts for the effects of a link or an unlink, counted from its links."""

    kind: str
    facts: ParentFacts
    kg_per_child: float


def read_parent_counts(conn: Connection, code: str) -> ParentCounts | None:
    # Every link and unlink reads this: straight through the driver's connection (inside the
    # same transaction), as SQLAlchemy's per-statement work costs several times the query here.
    # A read only: a store error from it is a sqlite3 error, which station.store.db translates
    # as it does SQLAlchemy's.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    row = raw.execute(_PARENT_COUNTS_SQL, {"p": code}).fetchone()
    if row is None:
        return None
    return ParentCounts(row[0], ParentFacts(code, int(row[1]), int(row[3])), float(row[2]))


def link_of(conn: Connection, child_code: str) -> str | None:
    """The parent a child is linked to here, if any."""
    return _scalar(conn, "SELECT parent_code FROM links WHERE child_code = :c", {"c": child_code})


_INSERT_PARENT_SQL = (
    "INSERT INTO bags (code, kind, bag_type, status, child_count, weight_kg, area, created_by, "
    "created_at, updated_at) VALUES (:code, 'parent', :bag_type, :status, :n, :w, :area, :op, "
    ":t, :t) ON CONFLICT (code) DO NOTHING"
)

_INSERT_CHILD_SQL = (
    "INSERT INTO bags (code, kind, status, child_count, weight_kg, area, label_text, created_by, "
    "created_at, updated_at) VALUES (:code, 'child', 'pending', 0, 0.0, "
    "(SELECT area FROM bags WHERE code = :parent), :label, :op, :t, :t) "
    "ON CONFLICT (code) DO NOTHING"
)

_INSERT_LINK_SQL = (
    "INSERT INTO links (child_code, parent_code, linked_at, operator, station_id, event_seq) "
    "VALUES (:child, :parent, :t, :op, :station, :seq)"
)

_SET_PARENT_SQL = (
    "UPDATE bags SET child_count = :n, weight_kg = :w, status = :s, updated_at = :t "
    "WHERE code = :p"
)

# A line's parent not known here yet is provisional: the centre decides it at sync.
_INSERT_LINE_SQL = (
    "INSERT INTO bill_lines (parent_code, bill_id, added_at, operator, provisional) "
    "VALUES (:p, :b, :t, :op, NOT EXISTS (SELECT 1 FROM bags WHERE code = :p))"
)

_INSERT_KEPT_LINE_SQL = (
    "INSERT INTO bill_lines (parent_code, bill_id, added_at, operator, provisional) "
    "VALUES (:p, :b, :t, :op, 0)"
)


def _ensure_parent(conn: Connection, ev: Event, figures: ParentChange) -> None:
    conn.exec_driver_sql(
        _INSERT_PARENT_SQL,
        {"code": ev.parent, "bag_type": ev.data.get("bag_type"), "area": ev.data.get("area"),
         "status": figures.status, "n": figures.child_count, "w": figures.weight_kg,
         "op": ev.operator, "t": ev.device_time},
    )


def write_effects(
    conn: Connection,
    eff: Effects,
    when: str,
    *,
    operator: str | None = None,
    station_id: str | None = None,
    seq: int | None = None,
    added_at: str | None = None,
    provisional: bool = True,
) -> None:
    """Write an event's effects (station.effects) into the view tables, at time `when`.

    A link added records `operator`, `station_id` and `seq` (this station's event, for undo);
    links and bill lines added are dated `added_at` (default `when`); a bill line added is
    provisional while its parent is not known here, unless `provisional` is False (a line the
    centre kept). Bags and bills the effects create are written by apply_event, which has the
    event's details for them.
    """
    x = conn.exec_driver_sql
    at = when if added_at is None else added_at
    if eff.link_removed is not None:
        child, parent = eff.link_removed
        x("DELETE FROM links WHERE child_code = :c AND parent_code = :p", {"c": child, "p": parent})
    if eff.link_added is not None:
        child, parent = eff.link_added
        x(_INSERT_LINK_SQL, {"child": child, "parent": parent, "t": at, "op": operator,
                             "station": station_id, "seq": seq})
    p = eff.parent
    if p is not None and not eff.created:
        x(_SET_PARENT_SQL, {"n": p.child_count, "w": p.weight_kg, "s": p.status, "t": when,
                            "p": p.code})
    if eff.line_removed is not None:
        parent, bill = eff.line_removed
        x("DELETE FROM bill_lines WHERE parent_code = :p AND bill_id = :b",
          {"p": parent, "b": bill})
    if eff.line_added is not None:
        parent, bill = eff.line_added
        x(_INSERT_LINE_SQL if provisional else _INSERT_KEPT_LINE_SQL,
          {"p": parent, "b": bill, "t": at, "op": operator})
    b = eff.bill
    if b is not None and not eff.created and b.status is not None:
        if b.sets_reason:
            # Closing sets the reason kept beside the bill, reopening clears it (as at the centre).
            x("UPDATE bills SET status = :s, closed_reason = :r, updated_at = :t "
              "WHERE bill_id = :b", {"s": b.status, "r": b.closed_reason, "t": when,
                                     "b": b.bill_id})
        else:
            x("UPDATE bills SET status = :s, updated_at = :t WHERE bill_id = :b",
              {"s": b.status, "t": when, "b": b.bill_id})


def link_effects(conn: Connection, etype: EventType, child: str, parent: str,
                 child_parent: str | None, *, parents_only: bool = False) -> Effects:
    """The effects of a link or an unlink of `child` and `parent`, from what the view holds
    (`child_parent`: the parent the child is in now). With `parents_only`, a bag held as
    another kind gets no figures."""
    counts = read_parent_counts(conn, parent)
    facts = ChildFacts(child, parent_code=child_parent)
    if counts is None or (parents_only and counts.kind != "parent"):
        return effects_of(etype, child=facts, parent_code=parent)
    return effects_of(etype, parent=counts.facts, kg_per_child=counts.kg_per_child,
                      child=facts, parent_code=parent)


def apply_event(conn: Connection, ev: Event, local_seq: int | None = None) -> None:
    """Apply one event to the view tables (inside the caller's transaction): its effects
    (station.effects) from the facts read here, written by write_effects."""
    when = ev.device_time
    t = ev.type
    if t is EventType.PARENT_SCANNED:
        # Whether the parent is held already is left to the insert (nothing read first).
        eff = effects_of(t, parent_code=ev.parent)
        assert eff.parent is not None
        _ensure_parent(conn, ev, eff.parent)
    elif t is EventType.CHILD_LINKED:
        eff = link_effects(conn, t, ev.child or "", ev.parent or "", None)
        conn.exec_driver_sql(
            _INSERT_CHILD_SQL, {"code": ev.child, "parent": ev.parent,
                                "label": ev.data.get("label_text"), "op": ev.operator, "t": when})
        write_effects(conn, eff, when, operator=ev.operator, station_id=ev.station_id,
                      seq=local_seq)
    elif t is EventType.CHILD_UNLINKED:
        child = ev.child or ""
        write_effects(conn, link_effects(conn, t, child, ev.parent or "", link_of(conn, child)),
                      when)
    elif t is EventType.PARENT_FINISHED:
        pass  # a marker for the record: the parent keeps its real status
    elif t is EventType.BILL_CREATED:
        d = ev.data
        eff = effects_of(t, bill_id=ev.bill)
        assert eff.bill is not None
        conn.exec_driver_sql(
            "INSERT INTO bills (bill_id, description, destination, vehicle, target, status, "
            "created_by, created_at, updated_at) VALUES (:b, :d, :dest, :v, :target, :s, :op, "
            ":t, :t)",
            {"b": ev.bill, "d": d.get("description", ""), "dest": d.get("destination", ""),
             "v": d.get("vehicle", ""), "target": int(d["target"]), "s": eff.bill.status,
             "op": ev.operator, "t": when},
        )
    elif t is EventType.BILL_PARENT_ADDED:
        eff = effects_of(t, parent_code=ev.parent, bill_id=ev.bill,
                         bill=read_bill(conn, ev.bill or ""))
        write_effects(conn, eff, when, operator=ev.operator)
    elif t is EventType.BILL_PARENT_REMOVED:
        eff = effects_of(t, parent_code=ev.parent, bill_id=ev.bill,
                         bill=read_bill(conn, ev.bill or ""),
                         on_bill=bill_of_parent(conn, ev.parent or ""))
        write_effects(conn, eff, when)
    elif t is EventType.BILL_CLOSED:
        eff = effects_of(t, bill=read_bill(conn, ev.bill or ""),
                         closed_reason=ev.data.get("reason"))
        write_effects(conn, eff, when)
    elif t is EventType.BILL_REOPENED:
        write_effects(conn, effects_of(t, bill=read_bill(conn, ev.bill or "")), when)


def recount_parents(conn: Connection, codes: Iterable[str], when: str, *,
                    parents_only: bool = True) -> None:
    """Set parents' child_count, weight_kg and status from their links (e.g. after a pull);
    with `parents_only`, codes held as another kind of bag are left alone."""
    for code in codes:
        counts = read_parent_counts(conn, code)
        if counts is None or (parents_only and counts.kind != "parent"):
            continue
        f = counts.facts
        write_effects(conn, Effects(parent=parent_after(code, f.child_count, f.capacity,
                                                        counts.kg_per_child)), when)


def recount_parent(conn: Connection, parent_code: str, when: str) -> None:
    """Set a parent's child_count, weight_kg and status from its links."""
    recount_parents(conn, (parent_code,), when, parents_only=False)


def set_bill_status(conn: Connection, bill_id: str, when: str) -> None:
    """Set an open bill's status from its lines (new / processing); closed bills keep theirs."""
    bill = read_bill(conn, bill_id)
    if bill is not None:
        write_effects(conn, Effects(bill=bill_after(bill, bill.linked)), when)
