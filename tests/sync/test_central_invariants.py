"""check_invariants finds each kind of violation when the tables are damaged behind its back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from tests.sync.conftest import Events, push_as

pytestmark = pytest.mark.central


def test_check_invariants_reports_each_violation(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1", operator="biller")
    events = [ev.parent("M444-00001")] + [ev.link("M444-00001", f"K{i:04d}") for i in range(15)]
    events += [ev.parent("SB00002"), ev.link("SB00002", "C0001"), ev.bill("B-1", 1),
               ev.bill_add("B-1", "M444-00001"), ev.bill_close("B-1")]
    push_as(url, "D1", events)
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
    with eng.begin() as conn:  # damage, as a careless direct writer could
        conn.exec_driver_sql("INSERT INTO bag (qr_id, type) VALUES ('SB00099', 'child')")
        conn.exec_driver_sql(
            "INSERT INTO bag (qr_id, type) SELECT 'X' || g, 'child' FROM generate_series(1, 2) g")
        conn.exec_driver_sql(
            "INSERT INTO link (parent_bag_id, child_bag_id) SELECT p.id, c.id FROM bag p, bag c "
            "WHERE p.qr_id = 'M444-00001' AND c.qr_id LIKE 'X%%'")
        conn.exec_driver_sql("UPDATE bag SET child_count = 7 WHERE qr_id = 'SB00002'")
        conn.exec_driver_sql(
            "INSERT INTO bill_bag (bill_id, bag_id) SELECT b.id, p.id FROM bill b, bag p "
            "WHERE b.bill_id = 'B-1' AND p.qr_id = 'SB00002'")
    with eng.begin() as conn:  # an event log that says a closed bill was changed
        conn.exec_driver_sql(
            "INSERT INTO station_events (event_id, station_id, seq, type, operator, device_time, "
            "parent_code, bill_code, protocol_version, result) VALUES "
            "('forged', 'D1', 999, 'bill_parent_added', 'biller', '', 'SB00002', 'B-1', 1, 'applied')")
    with eng.connect() as conn:
        problems = check_invariants(conn)
    eng.dispose()
    text = "\n".join(problems)
    assert "1: SB00099 is a parent code but stored as a child bag" in text
    assert "3: parent M444-00001 holds 17 children, capacity 15" in text
    assert "6: parent M444-00001 child_count 15 but 17 links" in text
    assert "6: parent SB00002 child_count 7 but 1 links" in text
    assert "5: bill B-1 holds 2 parents, target 1" in text
    assert "6: bill B-1 linked_parent_count 1 but 2 lines" in text
    assert "7: bill_parent_added SB00002 changed closed bill B-1" in text
