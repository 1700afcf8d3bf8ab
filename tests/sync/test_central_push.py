"""Pushing batches to the centre: per-event results, resends, bad events, versions, identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from central.invariants import check_invariants
from central.service import push, station_status
from central.stations import list_stations, revoke_station
from sync.errors import (
    StationMismatch,
    StationRevoked,
    SyncError,
    TokenRefused,
    TransientError,
    UpgradeRequired,
)
from sync.protocol import PROTOCOL_VERSION, rolling_hash_of
from tests.sync.conftest import Events, batch, push_as

pytestmark = pytest.mark.central


def _snapshot(central_db) -> dict[str, list]:
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    out = {}
    with eng.connect() as conn:
        for table in ("bag", "link", "scan", "bill", "bill_bag", "station_events"):
            out[table] = conn.exec_driver_sql(f'SELECT * FROM "{table}" ORDER BY id').all()
        out["station"] = conn.exec_driver_sql(
            "SELECT high_seq, event_count, rolling_hash FROM station_stations").all()
    eng.dispose()
    return out


def _scalar(central_db, sql: str, *args):
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        value = conn.exec_driver_sql(sql, args or ()).scalar()
    eng.dispose()
    return value


def test_push_applies_links_and_keeps_counters(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    events = [ev.parent("SB00001")] + [ev.link("SB00001", f"C{i:04d}") for i in range(31)]
    events.append(ev.link("SB00001", "C0003"))  # already on this parent
    reply = push_as(url, "D1", events)
    results = [(r.result, r.reason) for r in reply.results]
    assert results[0] == ("applied", "parent_created")
    assert results[30] == ("applied", "parent_completed")
    assert results[31][0] == "rejected" and results[31][1] == "parent_full"
    assert "SB00001 is full (30/30)" in reply.results[31].message
    assert results[32] == ("rejected", "parent_full")  # full is checked before "already on"
    assert _scalar(central_db, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 30
    assert _scalar(central_db, "SELECT status FROM bag WHERE qr_id = 'SB00001'") == "completed"
    assert _scalar(central_db, "SELECT count(*) FROM scan") == 30
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []
    assert reply.station_count == len(events)
    assert reply.high_seq == len(events)
    assert reply.rolling_hash == rolling_hash_of([e["event_id"] for e in events])


def test_resent_batch_returns_original_results_and_changes_nothing(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    events = [ev.parent("SB00001"), ev.link("SB00001", "C0001"), ev.link("SB00002", "C0001"),
              ev.parent("SB00002"), ev.link("SB00002", "C0001")]
    first = push_as(url, "D1", events)
    before = _snapshot(central_db)
    again = push_as(url, "D1", events)
    assert again.results == first.results
    assert (again.station_count, again.high_seq, again.rolling_hash) == (
        first.station_count, first.high_seq, first.rolling_hash)
    after = _snapshot(central_db)
    for table in before:
        if table != "station":
            assert after[table] == before[table], table
    # a resend mixed with new events: old ones keep their results, the new one is applied
    extra = ev.link("SB00002", "C0002")
    mixed = push_as(url, "D1", events[2:] + [extra])
    assert mixed.results[:3] == first.results[2:]
    assert mixed.results[3].result == "applied"


def test_duplicate_when_the_fact_is_already_there(central_db):
    url1 = central_db.add_station("D1")
    url2 = central_db.add_station("D2")
    a, b = Events("D1"), Events("D2")
    push_as(url1, "D1", [a.parent("SB00001"), a.link("SB00001", "C0001")])
    reply = push_as(url2, "D2", [b.parent("SB00001"), b.link("SB00001", "C0001")])
    assert [r.result for r in reply.results] == ["applied", "duplicate"]
    assert reply.results[1].reason == "already_on_parent"
    assert _scalar(central_db, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 1


def test_one_bad_event_in_a_thousand(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    events = []
    for p in range(34):
        parent = f"SB{p:05d}"
        events.append(ev.parent(parent))
        for c in range(29):
            events.append(ev.link(parent, f"K{p:03d}{c:03d}"))
    events = events[:999]
    bad = ev.link("SB00001", "SB00002")  # a parent code scanned as a child
    events.insert(500, bad)
    # the bad one carries seq 1000 but sits in the middle: sequence order decides
    reply = push_as(url, "D1", events)
    assert len(reply.results) == 1000
    rejected = [r for r in reply.results if r.result == "rejected"]
    assert [(r.event_id, r.reason) for r in rejected] == [(bad["event_id"], "code_is_parent")]
    assert "SB00002 is a parent bag" in rejected[0].message
    assert sum(r.result == "applied" for r in reply.results) == 999
    assert _scalar(central_db, "SELECT count(*) FROM link") == 999 - 34
    assert _scalar(central_db, "SELECT count(*) FROM station_events") == 1000


def test_unreadable_event_is_rejected_and_the_rest_applied(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    good1, broken, good2 = ev.parent("SB00001"), ev.link("SB00001", "C0001"), ev.link("SB00001", "C0002")
    broken = dict(broken, type="child_teleported")
    reply = push_as(url, "D1", [good1, broken, good2])
    assert [r.result for r in reply.results] == ["applied", "rejected", "applied"]
    assert reply.results[1].reason == "malformed_event"
    assert "child_teleported" in reply.results[1].message
    assert reply.station_count == 3  # recorded, so the convergence figures still agree


def test_protocol_versions(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    ok = push_as(url, "D1", [ev.parent("SB00001")], protocol_version=PROTOCOL_VERSION)
    assert ok.results[0].result == "applied"
    prev = push_as(url, "D1", [ev.parent("SB00002")], protocol_version=PROTOCOL_VERSION - 1)
    assert prev.results[0].result == "applied"
    unaccepted = [v for v in (PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 7, PROTOCOL_VERSION - 2)
                  if v >= 0]  # version numbers start at 0
    assert unaccepted
    for version in unaccepted:
        with pytest.raises(UpgradeRequired) as info:  # 426: upgrade the station
            push_as(url, "D1", [ev.parent("SB00003")], protocol_version=version)
        assert f"version {version}" in info.value.message
        assert PROTOCOL_VERSION in info.value.accepted
    # a version number no station ever had is refused outright, not retried
    with pytest.raises(SyncError) as bad:
        push_as(url, "D1", [ev.parent("SB00003")], protocol_version=-1)
    assert not isinstance(bad.value, TransientError)
    assert _scalar(central_db, "SELECT count(*) FROM station_events") == 2


def test_station_cannot_push_under_another_stations_id(central_db):
    d1 = central_db.add_station("D1")
    central_db.add_station("D2")
    other = Events("D2")
    # D1's token with a batch that says it is D2's: refused by the service (409), nothing written
    with pytest.raises(StationMismatch) as info:
        push_as(d1, "D2", [other.parent("SB00001")])
    assert "D1" in info.value.message and "D2" in info.value.message
    assert (info.value.authenticated, info.value.claimed) == ("D1", "D2")
    # D1's own batch with an event of D2 inside: the whole batch is refused
    mine = Events("D1")
    transport = d1.transport()
    try:
        assert transport.whoami()["station_id"] == "D1"  # the token says who it is
        with pytest.raises(StationMismatch) as inside:
            transport.push(batch("D1", [mine.parent("SB00001"), other.parent("SB00002")]))
        assert (inside.value.authenticated, inside.value.claimed) == ("D1", "D2")
    finally:
        transport.close()
    assert _scalar(central_db, "SELECT count(*) FROM station_events") == 0
    assert _scalar(central_db, "SELECT count(*) FROM bag") == 0
    assert _scalar(central_db, "SELECT event_count FROM station_stations WHERE station_id = 'D2'") == 0


def test_revoked_station_is_refused(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    assert push_as(url, "D1", [ev.parent("SB00001")]).results[0].result == "applied"
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        revoke_station(conn, "D1")
    with pytest.raises(StationRevoked) as info:  # 403 through the service
        push_as(url, "D1", [ev.parent("SB00002")])
    assert not isinstance(info.value, TokenRefused)  # known, but revoked
    assert info.value.station_id == "D1"
    with eng.connect() as conn:
        # the centre's push itself refuses a revoked station, whoever calls it
        with pytest.raises(StationRevoked):
            push(conn, "D1", batch("D1", [ev.parent("SB00003")]))
        assert [s.station_id for s in list_stations(conn) if s.revoked] == ["D1"]
        assert conn.exec_driver_sql("SELECT count(*) FROM station_events").scalar() == 1
        assert conn.exec_driver_sql("SELECT count(*) FROM bag").scalar() == 1
    eng.dispose()


def test_clock_skew_recorded_and_flagged_scanning_continues(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    late = (datetime.now(UTC) - timedelta(minutes=42)).isoformat()
    reply = push_as(url, "D1", [ev.parent("SB00001")], device_time=late)
    assert reply.results[0].result == "applied"
    assert reply.clock_skew_s is not None and -42 * 60 - 30 < reply.clock_skew_s < -42 * 60 + 30
    assert reply.clock_skew_flagged
    with central_db.engine().connect() as conn:
        (info,) = list_stations(conn)
        status = station_status(conn, "D1")
    assert info.skew_flagged and info.last_contact is not None
    assert (status.station_count, status.high_seq) == (1, 1)
    now = datetime.now(UTC).isoformat()
    reply = push_as(url, "D1", [ev.parent("SB00002")], device_time=now)
    assert not reply.clock_skew_flagged


def test_seq_reused_with_another_event_id_is_rejected(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    first = ev.parent("SB00001")
    push_as(url, "D1", [first])
    clash = dict(ev.parent("SB00002"), seq=first["seq"])
    reply = push_as(url, "D1", [clash])
    assert reply.results[0].reason == "seq_conflict"
    assert _scalar(central_db, "SELECT count(*) FROM bag") == 1


def test_an_event_sent_again_under_a_new_number_gets_its_first_result(central_db):
    """The same event (its id) pushed again under a number above what the centre holds, as a
    store renumbered by mistake would: its first result, under the number it came with,
    nothing recorded twice; the new event beside it is applied (before: a unique violation
    on the event id, a 500 on every try, and the station's queue stuck behind it)."""
    url = central_db.add_station("D1")
    ev = Events("D1")
    held = [ev.parent("SB00001"), ev.link("SB00001", "C0001")]
    first = push_as(url, "D1", held)
    again = [dict(e, seq=e["seq"] + 10) for e in held] + [dict(ev.link("SB00001", "C0002"), seq=13)]
    reply = push_as(url, "D1", again)
    assert [(r.event_id, r.seq, r.result) for r in reply.results] == [
        (held[0]["event_id"], 11, first.results[0].result),
        (held[1]["event_id"], 12, first.results[1].result),
        (again[2]["event_id"], 13, "applied"),
    ]
    assert _scalar(central_db, "SELECT count(*) FROM station_events") == 3
    assert _scalar(central_db, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 2
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_a_bill_id_that_reads_as_a_parent_code_is_refused_at_the_centre(central_db):
    """Stations refuse a bill id shaped like a parent code (a read of it is that parent bag);
    the centre refuses it too when an older or modified station sends one, known bag or not."""
    url = central_db.add_station("D1")
    ev = Events("D1")
    reply = push_as(url, "D1", [ev.bill("SB00123", 3), ev.bill("B-OK", 3)])
    assert [(r.result, r.reason) for r in reply.results] == [
        ("rejected", "code_is_bag"), ("applied", "bill_created")]
    assert "SB00123 is a bag code" in reply.results[0].message
    assert _scalar(central_db, "SELECT count(*) FROM bill WHERE bill_id = 'SB00123'") == 0
