"""Nothing a station sends breaks the centre or stalls a queue: each malformed field rejects only
its own event (malformed_event, naming the field), through the real service; a batch the database
itself refuses is split until the one event it refuses is found."""

from __future__ import annotations

import math

import pytest

from central.invariants import check_invariants
from tests.sync.conftest import Events, push_as
from tests.sync.stationkit import central_exec, central_scalar, local_rows, make_station, worker_for

pytestmark = pytest.mark.central

BAD_AT = 500


def _thousand(ev: Events) -> list[dict]:
    """1 000 events: 40 parents of 24 children each (no conflicts, all applicable)."""
    out = []
    for p in range(40):
        out.append(ev.parent(f"SB{p + 1:05d}"))
        out += [ev.link(f"SB{p + 1:05d}", f"K{p:03d}{c:03d}") for c in range(24)]
    return out


def _set(path: tuple, value):
    def mutate(w: dict) -> None:
        target = w
        for k in path[:-1]:
            target = target.setdefault(k, {})
        target[path[-1]] = value
    return mutate


CASES = [
    ("bill destination of 300 characters", "destination", None),
    ("a NUL in a typed description", "description", None),
    ("a NUL in the child code", "child", _set(("child",), "K\x00BAD")),
    ("a lone surrogate in the operator", "operator", _set(("operator",), "disp\udc80atcher")),
    ("a number where a code belongs", "child", _set(("child",), 12345)),
    ("a sequence of 2**63", "seq", _set(("seq",), 2**63)),
    ("NaN in the event data", "data", _set(("data", "weight"), math.nan)),
    ("a time that is not ISO 8601", "device_time", _set(("device_time",), "yesterday")),
    ("an unknown event type", "type", _set(("type",), "child_teleported")),
    ("a 300 kB event id", "event_id", _set(("event_id",), "e" * 300_000)),
]


@pytest.mark.parametrize(("what", "field", "mutate"), CASES, ids=[c[0] for c in CASES])
def test_one_bad_event_in_a_thousand_is_rejected_alone(central_db, what, field, mutate) -> None:
    access = central_db.add_station("V1")
    ev = Events("V1")
    events = _thousand(ev)
    if mutate is None:  # bill fields: the bad event is a bill creation in the middle
        seq = events[BAD_AT]["seq"]
        bad = ev.make("bill_created", bill="B-BAD", operator="biller", data={
            "target": 5, "description": "dock\x00 3" if field == "description" else "",
            "destination": "X" * 300 if field == "destination" else "", "vehicle": ""})
        bad["seq"] = seq
        events[BAD_AT] = bad
        # keep the parent's link that was replaced: nothing else depends on it
    else:
        mutate(events[BAD_AT])
    reply = push_as(access, "V1", events)
    assert len(reply.results) == 1000
    bad_results = [r for r in reply.results if r.result == "rejected"]
    assert len(bad_results) == 1, [(r.reason, r.message) for r in bad_results][:3]
    assert bad_results[0].reason == "malformed_event"
    assert field in bad_results[0].message, bad_results[0].message
    assert sum(r.result == "applied" for r in reply.results) == 999
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_a_batch_the_database_refuses_is_split_to_the_one_event(central_db, tmp_path) -> None:
    """A check constraint the centre's database has (and the rules do not know of) refuses one
    child: the other 999 events are applied in the same drain, the one lands in sync issues."""
    access = central_db.add_station("V2")
    central_exec(central_db.url, "ALTER TABLE bag ADD CONSTRAINT no_k9 CHECK (qr_id NOT LIKE 'K9%')")
    store = make_station(tmp_path, "V2")
    from tests.sync.stationkit import login

    svc = login(store)
    for p in range(40):
        assert svc.record_scan(f"SB{p + 1:05d}").ok
        for c in range(24):
            code = "K9REFUSED" if (p, c) == (20, 11) else f"K{p:03d}{c:03d}"
            assert svc.record_scan(code).ok
    svc.close()
    worker = worker_for(store, access)
    summary = worker.run_once()
    worker.close()
    assert summary.error is None, summary.error
    assert (summary.applied, summary.rejected) == (999, 1)
    issues = local_rows(store, "SELECT reason, message FROM sync_issues")
    assert len(issues) == 1 and issues[0][0] == "malformed_event"
    assert "no_k9" in issues[0][1] and "refused" in issues[0][1]
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 1000
    assert central_scalar(central_db.url, "SELECT count(*) FROM link") == 959
    assert local_rows(store, "SELECT count(*) FROM events WHERE sync_state = 'pending'")[0][0] == 0


def test_a_tampered_local_event_is_rejected_and_the_queue_moves_on(central_db, tmp_path) -> None:
    """A damaged row in a station's own queue (here a 300-character operator) is one sync issue
    naming the field; everything behind it is applied in the same drain."""
    access = central_db.add_station("V3")
    store = make_station(tmp_path, "V3")
    from tests.sync.stationkit import login

    svc = login(store)
    assert svc.record_scan("SB00001").ok
    for c in range(20):
        assert svc.record_scan(f"T{c:05d}").ok
    svc.close()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE events SET operator = ? WHERE seq = 5", ("o" * 300,))
    worker = worker_for(store, access)
    summary = worker.run_once()
    worker.close()
    assert (summary.applied, summary.rejected) == (20, 1) and summary.error is None
    issues = local_rows(store, "SELECT event_seq, message FROM sync_issues")
    assert issues[0][0] == 5 and "operator" in issues[0][1] and "64" in issues[0][1]
