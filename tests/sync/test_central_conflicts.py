"""Conflicting offline work from several stations: first applied wins, the invariants hold."""

from __future__ import annotations

import random
import threading
import time

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from sync.errors import Busy
from sync.protocol import rolling_hash_of
from tests.sync.conftest import Events, batch, push_as

pytestmark = pytest.mark.central


def test_two_stations_link_the_same_child_offline_exactly_one_wins(central_db):
    url1, url2 = central_db.add_station("DISPATCH-1"), central_db.add_station("DISPATCH-2")
    a, b = Events("DISPATCH-1"), Events("DISPATCH-2")
    work_a = [a.parent("SB00001"), a.link("SB00001", "C1234", device_time="2026-11-20T10:41:00+00:00")]
    # station B's clock says it scanned earlier: device clocks do not decide, arrival does
    work_b = [b.parent("SB00077"), b.link("SB00077", "C1234", device_time="2026-11-20T09:00:00+00:00")]
    first = push_as(url1, "DISPATCH-1", work_a)
    second = push_as(url2, "DISPATCH-2", work_b)
    assert first.results[1].result == "applied"
    lost = second.results[1]
    assert (lost.result, lost.reason) == ("rejected", "child_on_other_parent")
    assert lost.message == "C1234 is already in SB00001, linked at station DISPATCH-1 at 10:41"
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
        assert conn.exec_driver_sql(
            "SELECT p.qr_id FROM link l JOIN bag p ON p.id = l.parent_bag_id "
            "JOIN bag c ON c.id = l.child_bag_id WHERE c.qr_id = 'C1234'").scalar() == "SB00001"
        assert conn.exec_driver_sql(
            "SELECT child_count FROM bag WHERE qr_id = 'SB00077'").scalar() == 0
    eng.dispose()


def test_two_stations_fill_the_same_bill_and_one_closes_it(central_db):
    url1, url2 = central_db.add_station("D1"), central_db.add_station("D2")
    a, b = Events("D1"), Events("D2")
    work_a = [a.bill("B-9", 2)]
    for p in ("SB00001", "SB00002"):
        work_a += [a.parent(p)] + [a.link(p, f"{p}C{c:02d}") for c in range(30)]
    work_a += [a.bill_add("B-9", "SB00001"), a.bill_add("B-9", "SB00002"), a.bill_close("B-9")]
    work_b = [b.bill("B-9", 3), b.parent("SB00003"), b.link("SB00003", "X0001"),
              b.bill_add("B-9", "SB00003"), b.link("SB00001", "X0002")]
    push_as(url1, "D1", work_a)
    reply = push_as(url2, "D2", work_b)
    got = [(r.result, r.reason) for r in reply.results]
    assert got == [("rejected", "bill_exists"), ("applied", "parent_created"),
                   ("applied", "child_linked"), ("rejected", "bill_closed"),
                   ("rejected", "parent_on_closed_bill")]
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def _station_work(sid: str, rng: random.Random, shared_children: list[str],
                  shared_parents: list[str]) -> list[dict]:
    """A backlog built offline: own parents, children partly contested by other stations,
    contested parents and bills (some closed while others still add to them)."""
    ev = Events(sid, operator="biller")
    out = []
    n = int(sid.split("-")[1])
    for p in range(3):
        parent = f"SB{n:03d}{p:02d}"
        out.append(ev.parent(parent))
        for c in range(rng.randint(10, 34)):  # over capacity sometimes: parent_full
            child = rng.choice(shared_children) if rng.random() < 0.4 else f"S{n:02d}P{p}C{c:02d}"
            out.append(ev.link(parent, child))
        if rng.random() < 0.3:
            out.append(ev.unlink(parent, out[-1]["child"]))
    for parent in rng.sample(shared_parents, 2):  # parents other stations also fill
        out.append(ev.parent(parent))
        out += [ev.link(parent, rng.choice(shared_children)) for _ in range(8)]
    bill = f"BILL-{rng.randint(1, 4)}"
    out.append(ev.bill(bill, rng.randint(2, 5)))
    for p in rng.sample(shared_parents, 3) + [f"SB{n:03d}00"]:
        out.append(ev.bill_add(bill, p))
    if rng.random() < 0.5:
        out.append(ev.bill_close(bill, reason="short"))
    if rng.random() < 0.3:
        out.append(ev.bill_reopen(bill))
        out.append(ev.bill_remove(bill, f"SB{n:03d}00"))
    return out


def _push_until_admitted(transport, one_batch, deadline_s: float = 90.0):
    """Send a batch as a station's worker does: a busy centre (503, admission) is asked again
    after the wait it names; anything else is the test's failure."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return transport.push(one_batch)
        except Busy as exc:
            if time.monotonic() > deadline:
                raise
            time.sleep(min(exc.retry_after, 1.0))  # the centre's Retry-After (a backoff)


@pytest.mark.slow
@pytest.mark.parametrize("stations", [2, 20])
def test_many_stations_push_conflicting_backlogs_concurrently(central_db, stations):
    rng = random.Random(stations)
    shared_children = [f"SHARED{i:03d}" for i in range(60)]
    shared_parents = [f"M444-{i:05d}" for i in range(6)]
    ids = [f"ST-{i:02d}" for i in range(stations)]
    urls = {sid: central_db.add_station(sid) for sid in ids}
    work = {sid: _station_work(sid, rng, shared_children, shared_parents) for sid in ids}
    replies: dict[str, list] = {sid: [] for sid in ids}
    errors: list[BaseException] = []
    start = threading.Barrier(stations)

    def drain(sid: str) -> None:
        transport = urls[sid].transport()
        try:
            start.wait(timeout=30)
            events = work[sid]
            for i in range(0, len(events), 25):
                replies[sid].append(_push_until_admitted(transport, batch(sid, events[i:i + 25])))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            transport.close()

    threads = [threading.Thread(target=drain, args=(sid,), name=f"drain-{sid}") for sid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert check_invariants(conn) == []
        total = conn.exec_driver_sql("SELECT count(*) FROM station_events").scalar()
        contested = conn.exec_driver_sql(
            "SELECT c.qr_id, count(*) FROM link l JOIN bag c ON c.id = l.child_bag_id "
            "WHERE c.qr_id LIKE 'SHARED%%' GROUP BY 1 HAVING count(*) > 1").all()
    eng.dispose()
    assert total == sum(len(w) for w in work.values())
    assert contested == []
    results = [r for sid in ids for reply in replies[sid] for r in reply.results]
    assert {r.result for r in results} >= {"applied", "rejected"}
    reasons = {r.reason for r in results if r.result == "rejected"}
    assert "child_on_other_parent" in reasons
    for sid in ids:  # convergence figures agree with what each station sent
        last = replies[sid][-1]
        assert last.station_count == len(work[sid])
        assert last.rolling_hash == rolling_hash_of([e["event_id"] for e in work[sid]])


def test_bag_created_concurrently_makes_the_batch_start_again(central_db):
    """Another writer creates the same bag while the batch runs: the batch's insert waits on the
    unique index, fails when the other commits, and the batch is decided again on fresh facts."""
    url = central_db.add_station("D1")
    ev = Events("D1")
    push_as(url, "D1", [ev.parent("SB00001")])
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    other = eng.connect()
    other.exec_driver_sql("INSERT INTO bag (qr_id, type) VALUES ('C7777', 'child')")
    replies: list = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            replies.append(push_as(url, "D1", [ev.link("SB00001", "C7777")]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    worker = threading.Thread(target=run, name="push-D1")
    worker.start()
    try:
        with eng.connect() as watch:
            for _ in range(500):
                waiting = watch.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'tts_%%' "
                    "AND wait_event_type = 'Lock'").scalar()
                watch.rollback()
                if waiting:
                    break
                worker.join(timeout=0.02)
            assert waiting, "the push never waited for the other writer"
        other.commit()
    finally:
        other.close()
        worker.join(timeout=30)
    assert not errors, errors
    (reply,) = replies
    assert (reply.results[0].result, reply.results[0].reason) == ("applied", "child_linked")
    with eng.connect() as conn:
        assert check_invariants(conn) == []
        assert conn.exec_driver_sql("SELECT count(*) FROM bag WHERE qr_id = 'C7777'").scalar() == 1
    eng.dispose()


def test_a_link_the_web_system_moved_is_no_longer_the_dispatchers_to_undo(central_db):
    """A dispatcher linked C to SB1; the web system then moved C into SB2. The link in SB2 is
    the central system's: the dispatcher's undo of it is refused, naming the central system
    (before, the old event still credited them, and the undo was applied)."""
    url = central_db.add_station("D1")
    ev = Events("D1")
    push_as(url, "D1", [ev.parent("SB00001"), ev.parent("SB00002"), ev.link("SB00001", "C0001")])
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE link SET parent_bag_id = (SELECT id FROM bag WHERE qr_id = 'SB00002') "
            "WHERE child_bag_id = (SELECT id FROM bag WHERE qr_id = 'C0001')")
        conn.exec_driver_sql("UPDATE bag SET child_count = 0 WHERE qr_id = 'SB00001'")
        conn.exec_driver_sql("UPDATE bag SET child_count = 1 WHERE qr_id = 'SB00002'")
    eng.dispose()
    reply = push_as(url, "D1", [ev.unlink("SB00002", "C0001")])
    assert [(r.result, r.reason) for r in reply.results] == [("rejected", "not_your_link")]
    assert "linked by the central system" in reply.results[0].message
