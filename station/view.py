"""The local view: reading facts for the rules, and applying an event to the view tables.

`apply_event` is the only writer of bags, links, bills and bill lines from events, so the
service (new events) and sync (replaying pending events over the centre's state) agree.
These run on every scan, so they are plain SQL through the connection's driver: building and
caching SQLAlchemy constructs cost more than the statements themselves (bench/scan_path.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from station.codes import BagType, CodeKind
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
        where = f"station {row[2]} at {row[3][11:16]}"
    return ChildFacts(code, CodeKind(row[0]), row[1], where)


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


# child_count, weight_kg and status always follow the links (never edited by hand).
_RECOUNT_SQL = (
    "UPDATE bags SET "
    "child_count = (SELECT count(*) FROM links WHERE parent_code = :p), "
    "weight_kg = (SELECT count(*) FROM links WHERE parent_code = :p) * "
    "  coalesce((SELECT kg_per_child FROM bag_types WHERE name = bags.bag_type), 1.0), "
    "status = CASE "
    "  WHEN (SELECT count(*) FROM links WHERE parent_code = :p) = 0 THEN 'pending' "
    "  WHEN (SELECT count(*) FROM links WHERE parent_code = :p) >= "
    "       coalesce((SELECT capacity FROM bag_types WHERE name = bags.bag_type), 0) "
    "  THEN 'completed' ELSE 'in_progress' END, "
    "updated_at = :t WHERE code = :p"
)

_INSERT_PARENT_SQL = (
    "INSERT INTO bags (code, kind, bag_type, status, child_count, weight_kg, area, created_by, "
    "created_at, updated_at) VALUES (:code, 'parent', :bag_type, 'pending', 0, 0.0, :area, :op, "
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

# A bill's status follows its lines unless it is closed.
_BILL_STATUS_SQL = (
    "UPDATE bills SET status = CASE WHEN EXISTS "
    "(SELECT 1 FROM bill_lines WHERE bill_id = :b) THEN 'processing' ELSE 'new' END, "
    "updated_at = :t WHERE bill_id = :b AND status != 'completed'"
)


def _ensure_parent(conn: Connection, ev: Event) -> None:
    conn.exec_driver_sql(
        _INSERT_PARENT_SQL,
        {"code": ev.parent, "bag_type": ev.data.get("bag_type"), "area": ev.data.get("area"),
         "op": ev.operator, "t": ev.device_time},
    )


def apply_event(conn: Connection, ev: Event, local_seq: int | None = None) -> None:
    """Apply one event to the view tables (inside the caller's transaction)."""
    when = ev.device_time
    t = ev.type
    x = conn.exec_driver_sql
    if t is EventType.PARENT_SCANNED:
        _ensure_parent(conn, ev)
    elif t is EventType.CHILD_LINKED:
        x(_INSERT_CHILD_SQL, {"code": ev.child, "parent": ev.parent,
                              "label": ev.data.get("label_text"), "op": ev.operator, "t": when})
        x(_INSERT_LINK_SQL, {"child": ev.child, "parent": ev.parent, "t": when,
                             "op": ev.operator, "station": ev.station_id, "seq": local_seq})
        x(_RECOUNT_SQL, {"p": ev.parent, "t": when})
    elif t is EventType.CHILD_UNLINKED:
        x("DELETE FROM links WHERE child_code = :c AND parent_code = :p",
          {"c": ev.child, "p": ev.parent})
        x(_RECOUNT_SQL, {"p": ev.parent, "t": when})
    elif t is EventType.PARENT_FINISHED:
        pass  # a marker for the record: the parent keeps its real status
    elif t is EventType.BILL_CREATED:
        d = ev.data
        x(
            "INSERT INTO bills (bill_id, description, destination, vehicle, target, status, "
            "created_by, created_at, updated_at) VALUES (:b, :d, :dest, :v, :target, 'new', :op, "
            ":t, :t)",
            {"b": ev.bill, "d": d.get("description", ""), "dest": d.get("destination", ""),
             "v": d.get("vehicle", ""), "target": int(d["target"]), "op": ev.operator, "t": when},
        )
    elif t is EventType.BILL_PARENT_ADDED:
        x(
            "INSERT INTO bill_lines (parent_code, bill_id, added_at, operator, provisional) "
            "VALUES (:p, :b, :t, :op, NOT EXISTS (SELECT 1 FROM bags WHERE code = :p))",
            {"p": ev.parent, "b": ev.bill, "t": when, "op": ev.operator},
        )
        x(_BILL_STATUS_SQL, {"b": ev.bill, "t": when})
    elif t is EventType.BILL_PARENT_REMOVED:
        x("DELETE FROM bill_lines WHERE parent_code = :p AND bill_id = :b",
          {"p": ev.parent, "b": ev.bill})
        x(_BILL_STATUS_SQL, {"b": ev.bill, "t": when})
    elif t is EventType.BILL_CLOSED:
        x("UPDATE bills SET status = 'completed', closed_reason = :r, updated_at = :t "
          "WHERE bill_id = :b", {"r": ev.data.get("reason"), "t": when, "b": ev.bill})
    elif t is EventType.BILL_REOPENED:
        x("UPDATE bills SET status = 'new', updated_at = :t WHERE bill_id = :b",
          {"t": when, "b": ev.bill})
        x(_BILL_STATUS_SQL, {"b": ev.bill, "t": when})


def recount_parent(conn: Connection, parent_code: str, when: str) -> None:
    """Set a parent's child_count, weight_kg and status from its links (e.g. after a pull)."""
    conn.exec_driver_sql(_RECOUNT_SQL, {"p": parent_code, "t": when})


def set_bill_status(conn: Connection, bill_id: str, when: str) -> None:
    """Set an open bill's status from its lines (new / processing); closed bills keep theirs."""
    conn.exec_driver_sql(_BILL_STATUS_SQL, {"b": bill_id, "t": when})
