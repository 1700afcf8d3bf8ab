"""The centre checks who an event says did it: the operator must exist, be verified and be
allowed at the station (its area, or a biller or admin); the bag's area is the station's.
Rejections an administrator can mend are sent again from the station, keeping id and sequence."""

from __future__ import annotations

import pytest

from central.invariants import check_invariants
from central.users import add_user
from sync.worker import list_issues, request_resend
from tests.sync.conftest import Events, push_as
from tests.sync.stationkit import (
    central_exec,
    central_rows,
    central_scalar,
    local_rows,
    login,
    make_station,
    worker_for,
)

pytestmark = pytest.mark.central


def _add_user(central_db, name: str, role: str, area: str | None) -> None:
    eng = central_db.engine()
    with eng.begin() as conn:
        add_user(conn, name, "pw", role, area)
    eng.dispose()


def test_operator_of_another_area_is_rejected_and_the_area_is_the_stations(central_db) -> None:
    access = central_db.add_station("LKO-1", area="Lucknow")
    _add_user(central_db, "kdisp", "dispatcher", "Kanpur")
    _add_user(central_db, "kbill", "biller", "Kanpur")
    _add_user(central_db, "ldisp", "dispatcher", "Lucknow")
    # areas compare without case (add_user spells an area as its stations do: the web system
    # may not)
    central_exec(central_db.url,
                 """UPDATE "user" SET dispatch_area = 'lucknow' WHERE username = 'ldisp'""")
    ev = Events("LKO-1")
    events = [
        ev.make("parent_scanned", parent="SB00001", operator="kdisp",
                data={"bag_type": "SB", "area": "Kanpur"}),
        ev.make("parent_scanned", parent="SB00002", operator="kbill",
                data={"bag_type": "SB", "area": "Kanpur"}),
        ev.make("parent_scanned", parent="SB00003", operator="ldisp",
                data={"bag_type": "SB", "area": "Kanpur"}),
    ]
    results = push_as(access, "LKO-1", events).results
    assert (results[0].result, results[0].reason) == ("rejected", "operator_other_area")
    assert "kdisp" in results[0].message and "Kanpur" in results[0].message
    assert "Lucknow" in results[0].message and "Send again" in results[0].message
    assert [r.result for r in results[1:]] == ["applied", "applied"]
    areas = dict(central_rows(central_db.url, "SELECT qr_id, dispatch_area FROM bag"))
    assert areas == {"SB00002": "Lucknow", "SB00003": "Lucknow"}  # never the event's "Kanpur"


def test_supervisor_station_takes_every_areas_operators(central_db) -> None:
    access = central_db.add_station("SUP-1", area="HQ", scope="all")
    _add_user(central_db, "kdisp", "dispatcher", "Kanpur")
    ev = Events("SUP-1", operator="kdisp")
    assert push_as(access, "SUP-1", [ev.parent("SB00009")]).results[0].result == "applied"


def test_unverified_operator_then_send_again_after_the_fix(central_db, tmp_path) -> None:
    access = central_db.add_station("D1")
    central_exec(central_db.url, """UPDATE "user" SET verified = false WHERE username = 'dispatcher'""")
    store = make_station(tmp_path, "D1")
    svc = login(store)
    assert svc.record_scan("SB00001").ok
    for c in range(3):
        assert svc.record_scan(f"C{c:04d}").ok
    svc.close()
    worker = worker_for(store, access)
    summary = worker.run_once()
    assert summary.rejected == 4 and summary.error is None
    conn = store.connect(write=True)
    issues = list_issues(conn)
    assert {i.reason for i in issues} == {"operator_not_verified"}
    assert "not verified" in issues[0].message
    # a dispatcher may not ask; a biller may, once the user is verified at the centre
    with pytest.raises(Exception, match="biller or admin"):
        request_resend(conn, [i.id for i in issues], "dispatcher", "dispatcher")
    central_exec(central_db.url, """UPDATE "user" SET verified = true WHERE username = 'dispatcher'""")
    assert request_resend(conn, [i.id for i in issues], "biller", "biller") == 4
    assert list_issues(conn) == []  # acknowledged by the biller while they are resent
    summary = worker.run_once()
    worker.close()
    assert summary.applied == 4 and summary.rejected == 0, summary
    assert local_rows(store, "SELECT count(*) FROM events WHERE sync_state = 'pending'")[0][0] == 0
    # the centre holds each event once, now applied; its figures did not move
    assert central_rows(central_db.url, "SELECT result, count(*) FROM station_events GROUP BY 1") == [
        ("applied", 4)]
    assert central_scalar(central_db.url, "SELECT child_count FROM bag WHERE qr_id = 'SB00001'") == 3
    assert summary.converged is True
    with central_db.engine().connect() as c:
        assert check_invariants(c) == []
    conn.close()


def test_refused_again_is_an_open_issue_again_and_others_cannot_be_resent(central_db, tmp_path) -> None:
    access = central_db.add_station("D2")
    central_exec(central_db.url, """DELETE FROM "user" WHERE username = 'dispatcher'""")
    store = make_station(tmp_path, "D2")
    svc = login(store)
    assert svc.record_scan("SB00001").ok
    svc.close()
    worker = worker_for(store, access)
    worker.run_once()
    conn = store.connect(write=True)
    [issue] = list_issues(conn)
    assert issue.reason == "unknown_operator"
    assert request_resend(conn, [issue.id], "admin", "admin") == 1
    summary = worker.run_once()  # the user was never added: refused again
    assert summary.rejected == 1
    [again] = list_issues(conn)
    assert again.id == issue.id and again.acknowledged_at is None
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == 1
    # a rule rejection is not mendable centrally: nothing is queued again
    central_exec(central_db.url, """UPDATE station_events SET reason = 'parent_full'""")
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE sync_issues SET reason = 'parent_full'")
    assert request_resend(conn, [issue.id], "admin", "admin") == 0
    worker.close()
    conn.close()
