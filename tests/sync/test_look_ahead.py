"""Deciding a batch sent ahead while the one before it is written (docs/sync.md §4b): its
decisions stand only when the facts it read under locks, once the batch before committed, are
exactly those it looked ahead at. Every test but the last runs a real `tracetrack-central serve`
process; the batch before is held in its writing by an uncommitted row of another session, so
each step is seen in PostgreSQL before the next is taken."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from central.ahead import Handoffs
from central.apply_load import BatchState
from central.invariants import check_invariants
from tests.sync.conftest import Events, batch
from tests.sync.stationkit import central_rows, central_scalar

pytestmark = pytest.mark.central


def _waiting(central_db, query_start: str) -> bool:
    """A session of the service waits for a lock in a statement starting so."""
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            return bool(conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND position(%s in query) > 0", (query_start,)).scalar())
    finally:
        eng.dispose()


def _first_and_second(station: str) -> tuple[list[dict], list[dict]]:
    ev = Events(station)
    first = [ev.parent("SB00001"), ev.link("SB00001", "C00001"), ev.link("SB00001", "C00002"),
             ev.link("SB00001", "CX0001")]
    # Each of these is decided on what the first batch did: the unlink finds C00001 linked,
    # C00002 is already on SB00001, and C00001 is free for SB00002 once taken out.
    second = [ev.unlink("SB00001", "C00001"), ev.link("SB00001", "C00003"),
              ev.parent("SB00002"), ev.link("SB00002", "C00001"),
              ev.link("SB00001", "C00002")]
    return first, second


def _hold_and_push(qtbot, central_db, access, station, first, second, meanwhile=None):
    """Push `first`; while it is held in its writing (its new bag CX0001 is being inserted by
    another session, uncommitted), push `second` sent ahead of it; once `second` has looked
    ahead and waits for `first` to commit, run `meanwhile` (a change by the web system), then
    let `first` go. Returns both replies and the transport that pushed `second`."""
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    holder = eng.connect()
    t1, t2 = access.transport(), access.transport()
    t2.timing_log = []
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        holder.exec_driver_sql(
            "INSERT INTO bag (qr_id, type, child_count, status, weight_kg, created_at, "
            "updated_at) VALUES ('CX0001', 'child', 0, 'pending', 0, now(), now())")
        one = pool.submit(t1.push, batch(station, first))
        # decided, and writing: its COPY of new bags waits for the uncommitted CX0001
        qtbot.waitUntil(lambda: _waiting(central_db, 'COPY "bag"'), timeout=15_000)
        two = pool.submit(t2.push, batch(station, second), after_seq=first[-1]["seq"])
        # looked ahead, and now waits for the first batch's commit (the station's row)
        qtbot.waitUntil(lambda: _waiting(central_db, "FOR KEY SHARE"), timeout=15_000)
        if meanwhile is not None:
            meanwhile()
        holder.rollback()
        reply1 = one.result(timeout=30)
        reply2 = two.result(timeout=30)
    finally:
        holder.rollback()
        holder.close()
        eng.dispose()
        pool.shutdown(wait=True)
        t1.close()
        t2.close()
    return reply1, reply2, t2


def _children(central_db, parent: str) -> list[str]:
    return [r[0] for r in central_rows(
        central_db, "SELECT c.qr_id FROM link l JOIN bag c ON c.id = l.child_bag_id "
        "JOIN bag p ON p.id = l.parent_bag_id WHERE p.qr_id = %s ORDER BY 1", parent)]


def test_a_batch_sent_ahead_is_decided_while_the_one_before_is_written(central_db,
                                                                      qtbot) -> None:
    access = central_db.add_station("LA1")
    first, second = _first_and_second("LA1")
    reply1, reply2, t2 = _hold_and_push(qtbot, central_db, access, "LA1", first, second)
    assert [r.result for r in reply1.results] == ["applied"] * 4
    assert [(r.result, r.reason) for r in reply2.results] == [
        ("applied", "child_unlinked"), ("applied", "child_linked"),
        ("applied", "parent_created"), ("applied", "child_linked"),
        ("duplicate", "already_on_parent")]
    # decided on the look ahead, and those decisions stood
    assert "ahead_stood" in t2.last_server_timing
    assert "ahead_redone" not in t2.last_server_timing
    assert _children(central_db, "SB00001") == ["C00002", "C00003", "CX0001"]
    assert _children(central_db, "SB00002") == ["C00001"]
    assert central_scalar(central_db, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 3
    assert reply2.high_seq == 9 and reply2.station_count == 9
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
    eng.dispose()


def test_a_look_ahead_whose_facts_changed_meanwhile_is_decided_again(central_db,
                                                                    qtbot) -> None:
    """The web system puts C00003 into another parent after the batch sent ahead looked, and
    before it is applied: it is decided again on what it reads under locks, and the link of
    C00003 to SB00001 is refused as the rules refuse it, naming the central system."""
    access = central_db.add_station("LA2")
    first, second = _first_and_second("LA2")

    def web_system_links_c00003() -> None:
        eng = central_db.engine(poolclass=sa.pool.NullPool)
        with eng.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO bag (qr_id, type, name, child_count, dispatch_area, status, "
                "weight_kg, created_at, updated_at) VALUES "
                "('SB00009', 'parent', 'SB', 1, 'North', 'pending', 1.0, now(), now()), "
                "('C00003', 'child', NULL, 0, 'North', 'pending', 0, now(), now())")
            conn.exec_driver_sql(
                "INSERT INTO link (parent_bag_id, child_bag_id, created_at) SELECT p.id, c.id, "
                "now() FROM bag p, bag c WHERE p.qr_id = 'SB00009' AND c.qr_id = 'C00003'")
        eng.dispose()

    reply1, reply2, t2 = _hold_and_push(qtbot, central_db, access, "LA2", first, second,
                                        web_system_links_c00003)
    assert [r.result for r in reply1.results] == ["applied"] * 4
    results = [(r.result, r.reason) for r in reply2.results]
    assert results[1] == ("rejected", "child_on_other_parent")
    assert "the central system" in reply2.results[1].message
    assert results[0] == ("applied", "child_unlinked")
    assert results[4] == ("duplicate", "already_on_parent")
    assert "ahead_redone" in t2.last_server_timing
    assert "ahead_stood" not in t2.last_server_timing
    assert _children(central_db, "SB00009") == ["C00003"]
    assert _children(central_db, "SB00001") == ["C00002", "CX0001"]
    assert central_scalar(central_db, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 2


def test_handoffs_give_a_decided_state_to_the_batch_waiting_for_it(qtbot) -> None:
    h = Handoffs()
    state = BatchState((), "S1", "North")
    # nothing in flight under that number: no wait at all
    assert h.wait("S1", 5, time.monotonic() + 30) is None
    h.begin("S1", 5)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(h.wait("S1", 5, time.monotonic() + 30)))
    waiter.start()
    qtbot.waitUntil(lambda: h._flight[("S1", 5)][2] == 1, timeout=5_000)
    h.decided("S1", 5, state)
    h.end("S1", 5)
    waiter.join(timeout=10)
    assert got == [state]
    assert h._flight == {}  # let go once the batch ended and its waiter had the state
    # a batch that ends without being decided (turned away, failed): its waiter gets None
    h.begin("S1", 7)
    got.clear()
    waiter = threading.Thread(target=lambda: got.append(h.wait("S1", 7, time.monotonic() + 30)))
    waiter.start()
    qtbot.waitUntil(lambda: h._flight[("S1", 7)][2] == 1, timeout=5_000)
    h.end("S1", 7)
    waiter.join(timeout=10)
    assert got == [None] and h._flight == {}


def test_a_look_ahead_that_fails_leaves_the_batch_decided_after_the_commit(central_db,
                                                                          caplog) -> None:
    """A look ahead is only a shortcut: one that cannot be made (here the state handed over is
    missing a link's time) is logged, and the batch is decided after the commit as always."""
    import logging

    from central.apply_load import _Bag
    from central.db import make_engine
    from central.service import Pacing, push

    central_db.register("LA3")
    first, second = _first_and_second("LA3")
    eng = make_engine(central_db.service_url(), poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            assert [r.result for r in push(conn, "LA3", batch("LA3", first)).results] == [
                "applied"] * 4
        h = Handoffs()
        upto = first[-1]["seq"]
        broken = BatchState((), "LA3", "North")
        # C00001's bag and link, without the time it was linked at
        broken.bags["C00001"] = _Bag(1, "C00001", "child", "North", None)
        broken.link_parent["C00001"] = "SB00001"
        h.begin("LA3", upto)
        h.decided("LA3", upto, broken)
        pacing = Pacing(upto, time.monotonic() + 10, ahead=h)
        with caplog.at_level(logging.ERROR, logger="tracetrack.central"), \
                eng.connect() as conn:
            reply = push(conn, "LA3", batch("LA3", second), pacing=pacing)
        h.end("LA3", upto)
    finally:
        eng.dispose()
    assert [(r.result, r.reason) for r in reply.results] == [
        ("applied", "child_unlinked"), ("applied", "child_linked"),
        ("applied", "parent_created"), ("applied", "child_linked"),
        ("duplicate", "already_on_parent")]
    assert pacing.look_stood is None  # no look ahead stood or was redone: there was none
    assert "looking ahead failed" in caplog.text
    assert _children(central_db, "SB00002") == ["C00001"]


def test_with_look_ahead_off_the_batch_sent_ahead_is_decided_after_the_commit(central_db,
                                                                             qtbot) -> None:
    """`serve --look-ahead off`: the same batches, the same results, decided one after the
    other (no look ahead in the reply's Server-Timing)."""
    central_db.service(extra=("--look-ahead", "off"))
    access = central_db.add_station("LA4")
    first, second = _first_and_second("LA4")
    reply1, reply2, t2 = _hold_and_push(qtbot, central_db, access, "LA4", first, second)
    assert [r.result for r in reply1.results] == ["applied"] * 4
    assert [(r.result, r.reason) for r in reply2.results] == [
        ("applied", "child_unlinked"), ("applied", "child_linked"),
        ("applied", "parent_created"), ("applied", "child_linked"),
        ("duplicate", "already_on_parent")]
    assert not {"ahead_stood", "ahead_redone"} & set(t2.last_server_timing)
    assert "apply" in t2.last_server_timing
