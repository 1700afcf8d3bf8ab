"""What the agreement tests share (test_rule_agreement.py, test_state_agreement.py): a demo
station run by its own StationService per operator on one clock, and one normalised snapshot of
the state (bags, links, counters, bills, bill lines, bill figures) read from either side."""

from __future__ import annotations

import difflib
import pprint
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from station.events import Event, EventType
from station.paths import resolve
from station.reports import list_bills
from station.service import StationService
from station.store.local import LocalStore
from sync.pull import correct_rejected, event_from_row

STATION = "TEST-1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def wire(row: dict) -> dict:
    return Event(
        event_id=row["event_id"], station_id=row["station_id"], seq=row["seq"],
        type=EventType(row["type"]), operator=row["operator"], device_time=row["device_time"],
        parent=row["parent_code"], child=row["child_code"], bill=row["bill_id"],
        data=row["data"], app_version=row["app_version"],
        protocol_version=row["protocol_version"],
    ).to_wire()


class Station:
    """A demo station (operators dispatcher/biller/admin, password demo) with one service per
    operator, all on the same store and clock."""

    def __init__(self, base: Path) -> None:
        self.store = LocalStore.open(resolve(base))
        self.clock = Clock()
        self.services: dict[str, StationService] = {}

    def run(self, operator: str, method: str, args: tuple):
        svc = self.services.get(operator)
        if svc is None:
            svc = self.services[operator] = StationService(self.store, clock=self.clock)
            svc.login(operator, "demo")
        return getattr(svc, method)(*args)

    def events(self) -> list[dict]:
        if not self.services:
            self.run("admin", "current_parent", ())
        svc = next(iter(self.services.values()))
        return [wire(r) for r in svc.event_log()]

    def close(self) -> None:
        for svc in self.services.values():
            svc.close()
        self.store.close()


# -- one normalised snapshot, two sources -------------------------------------------------------

Snapshot = dict[str, Any]


def _kg(value: Any) -> float:
    return round(float(value or 0.0), 3)


def _keep(code: str, codes: set[str] | None) -> bool:
    return codes is None or code in codes


def _build(bag_rows: Iterable[tuple[Any, ...]], link_rows: Iterable[tuple[Any, ...]],
           bill_rows: Iterable[tuple[Any, ...]], line_rows: Iterable[tuple[Any, ...]],
           codes: set[str] | None, bill_ids: set[str] | None) -> Snapshot:
    """The plain structure both sides are reduced to (restricted to `codes` and `bill_ids`)."""
    links = {c: p for c, p in link_rows if _keep(c, codes) or _keep(p, codes)}
    per_parent: dict[str, int] = {}
    for parent in links.values():
        per_parent[parent] = per_parent.get(parent, 0) + 1
    bags = {
        code: {"kind": kind, "bag_type": bag_type if kind == "parent" else None,
               "child_count": int(count), "status": status, "weight_kg": _kg(weight),
               "area": area}
        for code, kind, bag_type, count, status, weight, area in bag_rows if _keep(code, codes)
    }
    lines = {p: b for p, b in line_rows if _keep(b, bill_ids)}
    bills = {
        bill_id: {"status": status, "target": int(target), "closed_reason": reason or None,
                  "linked": int(linked), "children": int(children),
                  "actual_kg": _kg(actual), "expected_kg": _kg(expected),
                  "parents": sorted(p for p, b in lines.items() if b == bill_id)}
        for bill_id, status, target, reason, linked, children, actual, expected in bill_rows
        if _keep(bill_id, bill_ids)
    }
    return {
        "bags": dict(sorted(bags.items())),
        "links": dict(sorted(links.items())),
        # the counter each parent shows, next to what its links say
        "counters": {code: (b["child_count"], per_parent.get(code, 0))
                     for code, b in sorted(bags.items()) if b["kind"] == "parent"},
        "bills": dict(sorted(bills.items())),
        "bill_lines": dict(sorted(lines.items())),
    }


def station_snapshot(store: LocalStore, codes: set[str] | None = None,
                     bill_ids: set[str] | None = None) -> Snapshot:
    """The station's view (its SQLite store); bill figures as the station's reports compute them."""
    with store.engine.connect() as conn:
        bag_rows = conn.exec_driver_sql(
            "SELECT code, kind, bag_type, child_count, status, weight_kg, area FROM bags").all()
        link_rows = conn.exec_driver_sql("SELECT child_code, parent_code FROM links").all()
        line_rows = conn.exec_driver_sql("SELECT parent_code, bill_id FROM bill_lines").all()
        bill_rows = [(r.bill_id, r.status, r.target, r.closed_reason, r.linked, r.children,
                      r.actual_kg, r.expected_kg) for r in list_bills(conn)]
        conn.rollback()
    return _build(bag_rows, link_rows, bill_rows, line_rows, codes, bill_ids)


def centre_snapshot(admin_url: str, codes: set[str] | None = None,
                    bill_ids: set[str] | None = None) -> Snapshot:
    """The centre's tables (bill figures as the centre stores them in `bill`)."""
    eng = sa.create_engine(admin_url.replace("postgresql://", "postgresql+psycopg2://", 1),
                           poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            bag_rows = conn.exec_driver_sql(
                "SELECT qr_id, type, name, child_count, status, weight_kg, dispatch_area "
                "FROM bag").all()
            link_rows = conn.exec_driver_sql(
                "SELECT c.qr_id, p.qr_id FROM link l JOIN bag c ON c.id = l.child_bag_id "
                "JOIN bag p ON p.id = l.parent_bag_id").all()
            line_rows = conn.exec_driver_sql(
                "SELECT g.qr_id, b.bill_id FROM bill_bag bb JOIN bag g ON g.id = bb.bag_id "
                "JOIN bill b ON b.id = bb.bill_id").all()
            bill_rows = conn.exec_driver_sql(
                "SELECT b.bill_id, b.status, b.parent_bag_count, n.closed_reason, "
                "b.linked_parent_count, b.total_child_bags, b.total_weight_kg, "
                "b.expected_weight_kg FROM bill b "
                "LEFT JOIN station_bill_notes n ON n.bill_id = b.id").all()
            conn.rollback()
    finally:
        eng.dispose()
    return _build(bag_rows, link_rows, bill_rows, line_rows, codes, bill_ids)


def assert_same_state(station: Snapshot, centre: Snapshot, what: str = "") -> None:
    if station == centre:
        return
    diff = "\n".join(difflib.unified_diff(
        pprint.pformat(station, width=100).splitlines(),
        pprint.pformat(centre, width=100).splitlines(),
        "station", "centre", lineterm="", n=2,
    ))
    raise AssertionError(f"station and centre disagree{' ' + what if what else ''}:\n{diff}")


def correct_rejections(store: LocalStore, rejected: dict[str, str | None]) -> None:
    """What the station does with the centre's rejections of its own events (sync/worker.py)."""
    if not rejected:
        return
    with store.engine.connect() as conn, conn.begin():
        for row in conn.exec_driver_sql("SELECT * FROM events ORDER BY seq").mappings():
            if row["event_id"] in rejected:
                correct_rejected(conn, event_from_row(row), rejected[row["event_id"]])
