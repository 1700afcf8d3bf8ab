"""The seven invariants of docs/rules.md §8, recomputed from the central tables (tests, benches).

check_invariants(conn) returns one plain sentence per violation; an empty list means all hold.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from central.apply import bag_type_of, load_bag_types
from station.codes import CodeKind, classify
from station.errors import CodeRefused

_BILL_CHANGES = ("bill_parent_added", "bill_parent_removed")
_LINK_CHANGES = ("child_linked", "child_unlinked")
LIMIT = 50  # violations listed per invariant


def check_invariants(conn: Connection) -> list[str]:
    own = not conn.in_transaction()
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        # one snapshot for every check, so concurrent writers cannot produce false alarms
        if own:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return _check(cur)
    finally:
        cur.close()
        if own:
            conn.rollback()


def _rows(cur: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    cur.execute(sql, args or None)
    return cur.fetchall()


def _check(cur: Any) -> list[str]:
    out: list[str] = []
    types = load_bag_types(cur)

    # 1. a code is one bag, one type
    for code, n in _rows(cur, "SELECT upper(qr_id), count(*) FROM bag GROUP BY 1 HAVING count(*) > 1 LIMIT %s", LIMIT):
        out.append(f"1: code {code} is {n} bags")
    cur.execute("SELECT qr_id, type FROM bag")
    bad = 0
    while bad < LIMIT:
        chunk = cur.fetchmany(20000)
        if not chunk:
            break
        for code, kind in chunk:
            if kind not in ("parent", "child"):
                out.append(f"1: bag {code} has type {kind!r}")
                bad += 1
                continue
            try:
                parsed = classify(code, types)
            except CodeRefused:
                continue  # web-made codes outside the station's rules: not the station's to judge
            if kind == "child" and parsed.kind is CodeKind.PARENT:
                out.append(f"1: {code} is a parent code but stored as a child bag")
                bad += 1
    if bad >= LIMIT:
        cur.fetchall()

    # 2. a child has at most one parent (and links join a parent to a child)
    for code, n in _rows(cur, "SELECT c.qr_id, count(*) FROM link l JOIN bag c ON c.id = l.child_bag_id GROUP BY 1 HAVING count(*) > 1 LIMIT %s", LIMIT):
        out.append(f"2: child {code} is in {n} parents")
    for child, ckind, parent, pkind in _rows(
        cur,
        "SELECT c.qr_id, c.type, p.qr_id, p.type FROM link l JOIN bag c ON c.id = l.child_bag_id "
        "JOIN bag p ON p.id = l.parent_bag_id WHERE c.type <> 'child' OR p.type <> 'parent' LIMIT %s",
        LIMIT,
    ):
        out.append(f"2: link {child} ({ckind}) in {parent} ({pkind}) does not join a child to a parent")

    # 3. a parent holds at most its capacity;  6. parent counters follow the links
    rows = _rows(
        cur,
        "SELECT p.qr_id, p.name, p.child_count, p.weight_kg, p.status, count(l.id) FROM bag p "
        "LEFT JOIN link l ON l.parent_bag_id = p.id WHERE p.type = 'parent' "
        "GROUP BY p.id, p.qr_id, p.name, p.child_count, p.weight_kg, p.status",
    )
    from station.rules import parent_status

    for code, name, count, weight, status, n in rows:
        btype = bag_type_of(code, name, types)
        if btype is not None and n > btype.capacity:
            out.append(f"3: parent {code} holds {n} children, capacity {btype.capacity}")
        if count != n:
            out.append(f"6: parent {code} child_count {count} but {n} links")
        kg = n * (btype.kg_per_child if btype else 1.0)
        if abs(float(weight) - kg) > 1e-6:
            out.append(f"6: parent {code} weight_kg {weight} but links say {kg}")
        if btype is not None and status != parent_status(n, btype.capacity):
            out.append(f"6: parent {code} status {status} but {n}/{btype.capacity} children")

    # 4. a parent is on at most one bill (and only parents go on bills)
    for code, n in _rows(cur, "SELECT p.qr_id, count(*) FROM bill_bag bb JOIN bag p ON p.id = bb.bag_id GROUP BY 1 HAVING count(*) > 1 LIMIT %s", LIMIT):
        out.append(f"4: parent {code} is on {n} bills")
    for (code,) in _rows(cur, "SELECT p.qr_id FROM bill_bag bb JOIN bag p ON p.id = bb.bag_id WHERE p.type <> 'parent' LIMIT %s", LIMIT):
        out.append(f"4: child bag {code} is on a bill")

    # 5. a bill holds at most its target;  6. bill counters follow lines and parents
    bills = _rows(
        cur,
        "SELECT id, bill_id, parent_bag_count, linked_parent_count, total_child_bags, "
        "total_weight_kg, expected_weight_kg FROM bill",
    )
    lines: dict[int, list[float]] = {}
    for bid, code, name, count, weight in _rows(
        cur,
        "SELECT bb.bill_id, p.qr_id, p.name, p.child_count, p.weight_kg FROM bill_bag bb "
        "JOIN bag p ON p.id = bb.bag_id",
    ):
        t = lines.setdefault(bid, [0, 0, 0.0, 0.0])
        btype = bag_type_of(code, name, types)
        t[0] += 1
        t[1] += count
        t[2] += weight
        t[3] += btype.nominal_kg if btype else 0.0
    for bid, code, target, linked, children, kg, expected in bills:
        n, c, w, e = lines.get(bid, [0, 0, 0.0, 0.0])
        if n > target:
            out.append(f"5: bill {code} holds {n} parents, target {target}")
        if linked != n:
            out.append(f"6: bill {code} linked_parent_count {linked} but {n} lines")
        if children != c:
            out.append(f"6: bill {code} total_child_bags {children} but parents hold {c}")
        if abs(float(kg) - w) > 1e-6:
            out.append(f"6: bill {code} total_weight_kg {kg} but parents weigh {w}")
        if abs(float(expected) - e) > 1e-6:
            out.append(f"6: bill {code} expected_weight_kg {expected} but nominal sum is {e}")

    # 7. closed bills do not change: replay the applied events in the centre's order
    out += _closed_bills_unchanged(cur)
    return out


def _closed_bills_unchanged(cur: Any) -> list[str]:
    out: list[str] = []
    closed: set[str] = set()
    on_bill: dict[str, str] = {}
    cur.execute(
        "SELECT id, type, parent_code, bill_code FROM station_events "
        "WHERE result = 'applied' AND type IN ('bill_closed', 'bill_reopened', "
        "'bill_parent_added', 'bill_parent_removed', 'child_linked', 'child_unlinked') "
        "ORDER BY id"
    )
    while len(out) < LIMIT:
        chunk = cur.fetchmany(20000)
        if not chunk:
            break
        for eid, etype, parent, bill in chunk:
            bill = (bill or "").upper()
            if etype == "bill_closed":
                closed.add(bill)
            elif etype == "bill_reopened":
                closed.discard(bill)
            elif etype in _BILL_CHANGES:
                if bill in closed:
                    out.append(f"7: {etype} {parent} changed closed bill {bill} (event #{eid})")
                if etype == "bill_parent_added":
                    on_bill[parent] = bill
                else:
                    on_bill.pop(parent, None)
            elif etype in _LINK_CHANGES:
                b = on_bill.get(parent)
                if b is not None and b in closed:
                    out.append(f"7: {etype} changed {parent} on closed bill {b} (event #{eid})")
    return out
