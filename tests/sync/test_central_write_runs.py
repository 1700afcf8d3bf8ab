"""A large batch is decided and written in runs (central.service.WRITE_RUN): each run's writing,
in a helper thread on the batch's own connection and transaction, overlaps with deciding the
next. The runs must leave exactly what one write at the end leaves, and a failure in either
thread must leave nothing of the batch."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from central import apply, service
from central.invariants import check_invariants
from central.service import push
from tests.sync.conftest import Events, batch

pytestmark = pytest.mark.central


def _work(sid: str, n: int, rng: random.Random) -> list[dict]:
    """One station's backlog in namespace `n` (its codes carry n): parents filled (one past its
    capacity), children unlinked and linked elsewhere later in the batch, a parent refused,
    bills created, filled, emptied, closed and reopened."""
    ev = Events(sid, operator="biller")
    out: list[dict] = []
    parents = [f"SB{n}{p:04d}" for p in range(4)]
    for p, parent in enumerate(parents):
        out.append(ev.parent(parent))
        for c in range(rng.randint(8, 25) if p else 32):  # parent 0 overflows: parent_full
            out.append(ev.link(parent, f"C{n}{p}{c:02d}"))
    for c in range(5):  # moved: unlinked from parent 1, linked to parent 2 (far apart in runs)
        out.append(ev.unlink(parents[1], f"C{n}1{c:02d}"))
    out.append(ev.link(parents[3], f"C{n}0{0:02d}"))  # already in parent 0: refused
    out += [ev.link(parents[2], f"C{n}1{c:02d}") for c in range(5)]
    out.append(ev.bill(f"B{n}-1", 3))
    out += [ev.bill_add(f"B{n}-1", p) for p in parents[:3]]
    out.append(ev.bill_close(f"B{n}-1", reason="short"))
    out.append(ev.bill_add(f"B{n}-1", parents[3]))  # closed: refused
    out.append(ev.bill_reopen(f"B{n}-1"))
    out.append(ev.bill_remove(f"B{n}-1", parents[0]))
    out.append(ev.bill(f"B{n}-2", 1))
    out.append(ev.bill_add(f"B{n}-2", parents[0]))
    out.append(ev.unlink(parents[0], f"C{n}0{3:02d}"))  # a parent on a bill changes count
    return out


def _state(conn: sa.Connection, n: int) -> dict[str, list]:
    """Namespace n's centre state with its codes' n taken out, ids and clocks left out."""
    def norm(v):
        return v.replace(str(n), "#", 1) if isinstance(v, str) else v

    q = {
        "bags": "SELECT qr_id, type, name, child_count, status, weight_kg FROM bag "
                "WHERE qr_id ~ %s",
        "links": "SELECT p.qr_id, c.qr_id FROM link l JOIN bag p ON p.id = l.parent_bag_id "
                 "JOIN bag c ON c.id = l.child_bag_id WHERE p.qr_id ~ %s",
        "scans": "SELECT p.qr_id, c.qr_id FROM scan s JOIN bag p ON p.id = s.parent_bag_id "
                 "JOIN bag c ON c.id = s.child_bag_id WHERE p.qr_id ~ %s",
        "bills": "SELECT bill_id, status, parent_bag_count, linked_parent_count, "
                 "total_child_bags, total_weight_kg, expected_weight_kg FROM bill "
                 "WHERE bill_id ~ %s",
        "lines": "SELECT b.bill_id, p.qr_id FROM bill_bag bb JOIN bill b ON b.id = bb.bill_id "
                 "JOIN bag p ON p.id = bb.bag_id WHERE b.bill_id ~ %s",
    }
    pattern = {"bags": f"^(SB|C){n}", "links": f"^SB{n}", "scans": f"^SB{n}",
               "bills": f"^B{n}-", "lines": f"^B{n}-"}
    out = {k: sorted(tuple(norm(v) for v in row)
                     for row in conn.exec_driver_sql(sql, (pattern[k],)).all())
           for k, sql in q.items()}
    out["log"] = [tuple(r) for r in conn.exec_driver_sql(
        "SELECT seq, type, result, reason FROM station_events WHERE station_id = %s ORDER BY id",
        (f"D{n}",)).all()]
    return out


def test_a_batch_written_in_runs_leaves_what_one_write_leaves(central_db, monkeypatch):
    central_db.add_station("D1")
    central_db.add_station("D2")
    one = _work("D1", 1, random.Random(5))
    runs = _work("D2", 2, random.Random(5))
    assert len(one) > 100
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    written: list[int] = []
    real_write = apply.write_delta

    def counting(cur, d, types):
        written.append(len(d.new_bags) + len(d.links_added))
        return real_write(cur, d, types)

    monkeypatch.setattr(apply, "write_delta", counting)
    with eng.connect() as conn:
        monkeypatch.setattr(service, "WRITE_RUN", 0)
        whole = push(conn, "D1", batch("D1", one))
        assert len(written) == 1
        monkeypatch.setattr(service, "WRITE_RUN", 7)  # runs cut through every kind of change
        in_runs = push(conn, "D2", batch("D2", runs))
        assert len(written) == 1 + -(-len(runs) // 7)
        assert [(r.seq, r.result, r.reason) for r in in_runs.results] == [
            (r.seq, r.result, r.reason) for r in whole.results]
        reasons = {r.reason for r in whole.results}
        assert {"parent_full", "child_on_other_parent", "child_unlinked", "bill_closed",
                "bill_reopened", "bill_parent_removed"} <= reasons, reasons
        assert _state(conn, 2) == _state(conn, 1)
        assert check_invariants(conn) == []
    eng.dispose()


@pytest.mark.parametrize("fails_in", ["deciding", "writing"])
def test_a_failure_while_a_run_is_written_leaves_nothing_of_the_batch(
        central_db, monkeypatch, fails_in):
    central_db.add_station("D1")
    events = _work("D1", 1, random.Random(5))
    monkeypatch.setattr(service, "WRITE_RUN", 10)
    calls = {"decide": 0, "write": 0}
    real_decide, real_write = apply.decide_event, apply.write_delta

    def decide(state, ev):
        calls["decide"] += 1
        if fails_in == "deciding" and calls["decide"] == 35:  # runs 1-3 handed to the writer
            raise RuntimeError("deciding failed")
        return real_decide(state, ev)

    def write(cur, d, types):
        calls["write"] += 1
        real_write(cur, d, types)  # written in the transaction, then the run fails
        if fails_in == "writing" and calls["write"] == 3:
            raise RuntimeError("writing failed")

    monkeypatch.setattr(apply, "decide_event", decide)
    monkeypatch.setattr(apply, "write_delta", write)
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        with pytest.raises(RuntimeError, match=f"{fails_in} failed"):
            push(conn, "D1", batch("D1", events))
        assert calls["write"] >= 3
        for table in ("bag", "link", "scan", "bill", "bill_bag", "station_events"):
            assert conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar() == 0, table
        conn.rollback()
        # the same connection goes on: the batch applies whole once nothing fails
        monkeypatch.setattr(apply, "decide_event", real_decide)
        monkeypatch.setattr(apply, "write_delta", real_write)
        reply = push(conn, "D1", batch("D1", events))
        assert reply.high_seq == len(events)
        assert conn.exec_driver_sql("SELECT count(*) FROM station_events").scalar() == len(events)
        assert check_invariants(conn) == []
    eng.dispose()
