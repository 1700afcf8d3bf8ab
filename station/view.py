"""The local view: reading facts for the rules, and applying an event to the view tables.

`apply_event` is the only writer of bags, links, bills and bill lines from events, so the
service (new events) and sync (replaying pending events over the centre's state) agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection

from station.codes import BagType, CodeKind
from station.events import Event, EventType
from station.rules import BillFacts, ChildFacts, ParentFacts, bill_status_after, parent_status
from station.store.schema import bag_types, bags, bill_lines, bills, links


def load_bag_types(conn: Connection) -> tuple[BagType, ...]:
    rows = conn.execute(select(bag_types).order_by(bag_types.c.name)).mappings()
    return tuple(
        BagType(
            r["name"], r["pattern"], r["lookalike"], r["capacity"], r["nominal_kg"],
            r["kg_per_child"], r["example"],
        )
        for r in rows
    )


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


def read_parent(conn: Connection, code: str) -> ParentRow | None:
    row = conn.execute(
        select(
            bags.c.code, bags.c.bag_type, bag_types.c.capacity, bags.c.child_count, bags.c.status,
            bags.c.weight_kg, bill_lines.c.bill_id, bills.c.status,
        )
        .select_from(
            bags.join(bag_types, bag_types.c.name == bags.c.bag_type)
            .outerjoin(bill_lines, bill_lines.c.parent_code == bags.c.code)
            .outerjoin(bills, bills.c.bill_id == bill_lines.c.bill_id)
        )
        .where(bags.c.code == code, bags.c.kind == "parent")
    ).first()
    if row is None:
        return None
    return ParentRow(*row)


def known_kind(conn: Connection, code: str) -> CodeKind | None:
    kind = conn.execute(select(bags.c.kind).where(bags.c.code == code)).scalar()
    return CodeKind(kind) if kind else None


def read_child(conn: Connection, code: str) -> ChildFacts:
    row = conn.execute(
        select(bags.c.kind, links.c.parent_code, links.c.station_id, links.c.linked_at)
        .select_from(bags.outerjoin(links, links.c.child_code == bags.c.code))
        .where(bags.c.code == code)
    ).first()
    if row is None:
        return ChildFacts(code)
    where = None
    if row[1] is not None and row[2]:
        where = f"station {row[2]} at {row[3][11:16]}"
    return ChildFacts(code, CodeKind(row[0]), row[1], where)


def read_bill(conn: Connection, bill_id: str) -> BillFacts | None:
    row = conn.execute(
        select(bills.c.bill_id, bills.c.status, bills.c.target).where(bills.c.bill_id == bill_id)
    ).first()
    if row is None:
        return None
    linked = conn.execute(
        select(func.count()).select_from(bill_lines).where(bill_lines.c.bill_id == bill_id)
    ).scalar_one()
    return BillFacts(row[0], row[1], row[2], linked)


def bill_of_parent(conn: Connection, code: str) -> str | None:
    return conn.execute(
        select(bill_lines.c.bill_id).where(bill_lines.c.parent_code == code)
    ).scalar()


def _kg_per_child(conn: Connection, parent_code: str) -> float:
    value = conn.execute(
        select(bag_types.c.kg_per_child)
        .select_from(bags.join(bag_types, bag_types.c.name == bags.c.bag_type))
        .where(bags.c.code == parent_code)
    ).scalar()
    return float(value) if value is not None else 1.0


def _recount_parent(conn: Connection, parent_code: str, when: str) -> None:
    """child_count, weight_kg and status always follow the links (never edited by hand)."""
    count = conn.execute(
        select(func.count()).select_from(links).where(links.c.parent_code == parent_code)
    ).scalar_one()
    capacity = conn.execute(
        select(bag_types.c.capacity)
        .select_from(bags.join(bag_types, bag_types.c.name == bags.c.bag_type))
        .where(bags.c.code == parent_code)
    ).scalar()
    conn.execute(
        update(bags)
        .where(bags.c.code == parent_code)
        .values(
            child_count=count,
            weight_kg=count * _kg_per_child(conn, parent_code),
            status=parent_status(count, capacity or 0),
            updated_at=when,
        )
    )


def _ensure_parent(conn: Connection, ev: Event) -> None:
    code = ev.parent
    assert code is not None
    if known_kind(conn, code) is None:
        conn.execute(
            insert(bags).values(
                code=code,
                kind="parent",
                bag_type=ev.data.get("bag_type"),
                status="pending",
                child_count=0,
                weight_kg=0.0,
                area=ev.data.get("area"),
                created_by=ev.operator,
                created_at=ev.device_time,
                updated_at=ev.device_time,
            )
        )


def _set_bill_status(conn: Connection, bill_id: str, when: str) -> None:
    status = conn.execute(select(bills.c.status).where(bills.c.bill_id == bill_id)).scalar()
    if status == "completed":
        return
    linked = conn.execute(
        select(func.count()).select_from(bill_lines).where(bill_lines.c.bill_id == bill_id)
    ).scalar_one()
    conn.execute(
        update(bills)
        .where(bills.c.bill_id == bill_id)
        .values(status=bill_status_after(linked, False), updated_at=when)
    )


def apply_event(conn: Connection, ev: Event, local_seq: int | None = None) -> None:
    """Apply one event to the view tables (inside the caller's transaction)."""
    when = ev.device_time
    t = ev.type
    if t is EventType.PARENT_SCANNED:
        _ensure_parent(conn, ev)
    elif t is EventType.CHILD_LINKED:
        assert ev.parent and ev.child
        _ensure_parent(conn, ev)
        if known_kind(conn, ev.child) is None:
            area = conn.execute(select(bags.c.area).where(bags.c.code == ev.parent)).scalar()
            conn.execute(
                insert(bags).values(
                    code=ev.child,
                    kind="child",
                    status="pending",
                    area=area,
                    label_text=ev.data.get("label_text"),
                    created_by=ev.operator,
                    created_at=when,
                    updated_at=when,
                )
            )
        conn.execute(
            insert(links).values(
                child_code=ev.child,
                parent_code=ev.parent,
                linked_at=when,
                operator=ev.operator,
                station_id=ev.station_id,
                event_seq=local_seq,
            )
        )
        _recount_parent(conn, ev.parent, when)
    elif t is EventType.CHILD_UNLINKED:
        assert ev.parent and ev.child
        conn.execute(
            delete(links).where(links.c.child_code == ev.child, links.c.parent_code == ev.parent)
        )
        _recount_parent(conn, ev.parent, when)
    elif t is EventType.PARENT_FINISHED:
        pass  # a marker for the record: the parent keeps its real status
    elif t is EventType.BILL_CREATED:
        d = ev.data
        conn.execute(
            insert(bills).values(
                bill_id=ev.bill,
                description=d.get("description", ""),
                destination=d.get("destination", ""),
                vehicle=d.get("vehicle", ""),
                target=int(d["target"]),
                status="new",
                created_by=ev.operator,
                created_at=when,
                updated_at=when,
            )
        )
    elif t is EventType.BILL_PARENT_ADDED:
        assert ev.bill and ev.parent
        conn.execute(
            insert(bill_lines).values(
                parent_code=ev.parent,
                bill_id=ev.bill,
                added_at=when,
                operator=ev.operator,
                provisional=1 if known_kind(conn, ev.parent) is None else 0,
            )
        )
        _set_bill_status(conn, ev.bill, when)
    elif t is EventType.BILL_PARENT_REMOVED:
        assert ev.bill and ev.parent
        conn.execute(
            delete(bill_lines).where(
                bill_lines.c.parent_code == ev.parent, bill_lines.c.bill_id == ev.bill
            )
        )
        _set_bill_status(conn, ev.bill, when)
    elif t is EventType.BILL_CLOSED:
        conn.execute(
            update(bills)
            .where(bills.c.bill_id == ev.bill)
            .values(status="completed", closed_reason=ev.data.get("reason"), updated_at=when)
        )
    elif t is EventType.BILL_REOPENED:
        conn.execute(
            update(bills).where(bills.c.bill_id == ev.bill).values(status="new", updated_at=when)
        )
        assert ev.bill
        _set_bill_status(conn, ev.bill, when)
