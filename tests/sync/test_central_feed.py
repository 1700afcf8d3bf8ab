"""Pull: resumable snapshot, change feed with a commit-safe cursor, direct writes by the web system."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from central.service import pull
from central.users import add_user
from sync.protocol import PullRequest
from tests.sync.conftest import Events, push_as
from tests.sync.service_proc import StationAccess

pytestmark = pytest.mark.central


class Puller:
    """A station's side of pull: its access (address + token) to the sync service, over HTTP."""

    def __init__(self, access, station_id: str) -> None:
        self.transport = access.transport()
        self.station_id = station_id
        self.cursor: str | None = None

    def page(self, limit: int = 1000):
        page = self.transport.pull(PullRequest(self.station_id, self.cursor, limit))
        self.cursor = page.cursor
        return page

    def drain(self, limit: int = 1000) -> list[dict]:
        changes: list[dict] = []
        for _ in range(10_000):
            page = self.page(limit)
            changes += page.changes
            if page.done:
                return changes
        raise AssertionError("pull never caught up")

    def close(self) -> None:
        self.transport.close()


def _rows(changes: list[dict], table: str, op: str = "upsert") -> dict:
    key = {"bag": "code", "link": "child_code", "bill": "bill_id", "bill_bag": "parent_code",
           "user": "username", "bag_type": "name"}[table]
    return {c["row"][key]: c["row"] for c in changes if c["table"] == table and c["op"] == op}


def test_bootstrap_is_resumable_and_complete(central_db):
    url = central_db.add_station("D1")
    ev = Events("D1")
    events = []
    for p in range(5):
        events.append(ev.parent(f"SB{p:05d}"))
        events += [ev.link(f"SB{p:05d}", f"K{p}{c:03d}") for c in range(7)]
    events += [ev.bill("B-1", 3), ev.bill_add("B-1", "SB00001")]
    push_as(url, "D1", events)
    puller = Puller(url, "D1")
    pages = []
    for _ in range(100):
        page = puller.page(limit=4)  # tiny pages: many resumable steps
        pages.append(page)
        if page.done:
            break
    changes = [c for p in pages for c in p.changes]
    assert any(p.bootstrap for p in pages) and not pages[-1].bootstrap
    assert all(p.cursor for p in pages)
    bags = _rows(changes, "bag")
    assert len(bags) == 5 + 35
    assert bags["SB00001"]["child_count"] == 7 and bags["SB00001"]["bag_type"] == "SB"
    links = _rows(changes, "link")
    assert len(links) == 35
    assert links["K1003"]["parent_code"] == "SB00001" and links["K1003"]["station_id"] == "D1"
    assert links["K1003"]["operator"] == "dispatcher"
    assert _rows(changes, "bill")["B-1"]["target"] == 3
    assert _rows(changes, "bill_bag")["SB00001"]["bill_id"] == "B-1"
    assert set(_rows(changes, "bag_type")) == {"SB", "M444"}
    # a second station resuming from a page in the middle gets the rest, not the start again
    again = Puller(url, "D1")
    again.cursor = pages[3].cursor
    rest = again.drain(limit=4)
    assert len(_rows(rest, "bag")) < 40
    puller.close()
    again.close()


def test_operators_pulled_are_the_areas_plus_billers_and_admins(central_db):
    url = central_db.add_station("D1", area="North")
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        add_user(conn, "south_disp", "pw", "dispatcher", "South")
        add_user(conn, "north_disp", "pw", "dispatcher", "North")
    puller = Puller(url, "D1")
    users = _rows(puller.drain(), "user")
    assert set(users) == {"dispatcher", "biller", "admin", "north_disp"}
    assert users["north_disp"]["password_hash"].startswith("scrypt:")
    # the user moves to the South: the station is told to forget them
    with eng.begin() as conn:
        conn.exec_driver_sql("UPDATE \"user\" SET dispatch_area = 'South' WHERE username = 'north_disp'")
    changes = puller.drain()
    assert "north_disp" in _rows(changes, "user", "delete")
    puller.close()
    eng.dispose()


def test_bill_written_directly_by_the_web_system_reaches_the_feed(central_db):
    url = central_db.add_station("D1")
    puller = Puller(url, "D1")
    puller.drain()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:  # plain SQL, as the web system writes it
        conn.exec_driver_sql(
            "INSERT INTO bill (bill_id, description, parent_bag_count, status, destination, "
            "vehicle_number) VALUES ('WEB-17', 'from the web', 12, 'new', 'Pune', 'MH-12')"
        )
    bills = _rows(puller.drain(), "bill")
    assert bills["WEB-17"]["target"] == 12
    assert bills["WEB-17"]["destination"] == "Pune" and bills["WEB-17"]["vehicle"] == "MH-12"
    with eng.begin() as conn:
        conn.exec_driver_sql("DELETE FROM bill WHERE bill_id = 'WEB-17'")
    assert "WEB-17" in _rows(puller.drain(), "bill", "delete")
    puller.close()
    eng.dispose()


def test_feed_never_skips_a_row_that_commits_late(central_db):
    """Feed ids are taken at write time, not commit time: a row with a smaller id can commit
    after a larger one was read. Two real concurrent transactions make exactly that happen."""
    url = central_db.add_station("D1")
    puller = Puller(url, "D1")
    puller.drain()
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    early, late = eng.connect(), eng.connect()
    try:
        early.exec_driver_sql("SELECT pg_current_xact_id()")  # the smaller xid
        late.exec_driver_sql("SELECT pg_current_xact_id()")
        late.exec_driver_sql(
            "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('LATE-1', 5)")  # smaller feed id
        early.exec_driver_sql(
            "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('EARLY-1', 5)")
        early.commit()
        ids = dict(early.exec_driver_sql(
            "SELECT f.key, f.id FROM station_feed f WHERE f.tbl = 'bill'").all())
        early.rollback()
        first = _rows(puller.drain(), "bill")
        assert "LATE-1" not in first  # not committed yet
        late.commit()
        second = _rows(puller.drain(), "bill")
        assert "LATE-1" in second, "the late commit was skipped"
        assert "EARLY-1" in first or "EARLY-1" in second
        with eng.connect() as conn:
            late_id = conn.exec_driver_sql(
                "SELECT f.id FROM station_feed f JOIN bill b ON b.id = f.key "
                "WHERE f.tbl = 'bill' AND b.bill_id = 'LATE-1'").scalar()
            early_id = conn.exec_driver_sql(
                "SELECT f.id FROM station_feed f JOIN bill b ON b.id = f.key "
                "WHERE f.tbl = 'bill' AND b.bill_id = 'EARLY-1'").scalar()
        assert late_id < early_id  # the case an `id > cursor` feed gets wrong
        assert ids  # the early transaction saw its own feed row
    finally:
        early.close()
        late.close()
        puller.close()
        eng.dispose()


def test_links_and_counts_follow_pushes_of_other_stations(central_db):
    url1 = central_db.add_station("D1")
    url2 = central_db.add_station("D2")
    puller = Puller(url1, "D1")
    puller.drain()
    ev = Events("D2")
    push_as(url2, "D2", [ev.parent("SB00009"), ev.link("SB00009", "C9001"),
                         ev.link("SB00009", "C9002"), ev.unlink("SB00009", "C9001")])
    changes = puller.drain()
    assert _rows(changes, "bag")["SB00009"]["child_count"] == 1
    assert set(_rows(changes, "link")) == {"C9002"}
    assert "C9001" in _rows(changes, "link", "delete") or "C9001" not in _rows(changes, "link")
    puller.close()


def test_feed_pages_follow_numeric_transaction_order(central_db):
    """xids 99 and 100 sort the other way round as text; the cursor must follow numeric order."""
    url = central_db.add_station("D1")
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        ids = conn.exec_driver_sql(
            "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('X-99', 1), ('X-100', 1) "
            "RETURNING id").scalars().all()
        conn.exec_driver_sql("DELETE FROM station_feed")
        conn.exec_driver_sql(
            "INSERT INTO station_feed (xid, tbl, key) VALUES ('99', 'bill', %s), ('100', 'bill', %s)",
            tuple(ids))
    eng.dispose()
    puller = Puller(url, "D1")
    puller.cursor = "f:0:0"
    seen, xids = [], []
    for _ in range(10):
        page = puller.page(limit=1)
        seen += list(_rows(page.changes, "bill"))
        xids.append(int(page.cursor.split(":")[1]))
        if page.done:
            break
    puller.close()
    assert seen == ["X-99", "X-100"]
    assert xids == sorted(xids)


def test_pull_refuses_another_station_and_a_revoked_one(central_db):
    from central.stations import revoke_station
    from sync.errors import StationMismatch, StationRevoked, TokenRefused

    d1 = central_db.add_station("D1")
    d2 = central_db.add_station("D2")
    mine = d1.transport()
    theirs = d2.transport()
    try:
        # D1's token asking for D2's pull: refused by the service (409), whatever the body says
        with pytest.raises(StationMismatch) as info:
            mine.pull(PullRequest("D2", None, 10))
        assert (info.value.authenticated, info.value.claimed) == ("D1", "D2")
        assert mine.pull(PullRequest("D1", None, 10)).bootstrap  # its own pull works
        assert theirs.pull(PullRequest("D2", None, 10)).bootstrap
        # the centre's pull itself refuses a request naming another station
        admin = central_db.engine(poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            with pytest.raises(StationMismatch):
                pull(conn, "D1", PullRequest("D2", None, 10))
        with admin.begin() as conn:
            revoke_station(conn, "D2")
        with pytest.raises(StationRevoked) as revoked:  # 403, at once, on a kept-alive connection
            theirs.pull(PullRequest("D2", None, 10))
        assert not isinstance(revoked.value, TokenRefused)
        with admin.connect() as conn:  # also below the HTTP layer
            with pytest.raises(StationRevoked):
                pull(conn, "D2", PullRequest("D2", None, 10))
        admin.dispose()
        assert mine.pull(PullRequest("D1", None, 10)).bootstrap  # D1 is not affected
        # an unknown token is refused too (401)
        stranger = StationAccess(d1.url, "tts_" + "x" * 43, "D1").transport()
        try:
            with pytest.raises(TokenRefused):
                stranger.pull(PullRequest("D1", None, 10))
        finally:
            stranger.close()
    finally:
        mine.close()
        theirs.close()


def test_a_bag_deleted_at_the_centre_is_told_only_to_stations_that_may_hold_it(central_db):
    """An administrator deletes children with their links (plain SQL, as the web system
    would): a North one, a South one in a North parent and a South one in a South parent. A
    North station is told that the first two are gone (it holds them, with their links), and
    hears nothing of the third, a South code it never held (before, every deleted bag's code
    went to every station)."""
    north = central_db.add_station("N-1", area="North")
    south = central_db.add_station("S-1", area="South")
    ev_n, ev_s = Events("N-1"), Events("S-1", operator="biller")  # a biller works anywhere
    push_as(north, "N-1", [ev_n.parent("SB10001"), ev_n.link("SB10001", "N0001")])
    push_as(south, "S-1", [ev_s.parent("SB20001"), ev_s.link("SB20001", "C2001"),
                           ev_s.link("SB20001", "C2002"), ev_s.unlink("SB20001", "C2002"),
                           ev_s.link("SB10001", "C2002")])  # a South child in a North parent
    puller = Puller(north, "N-1")
    held = puller.drain()
    assert "C2002" in _rows(held, "bag") and "C2001" not in _rows(held, "bag")
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM link WHERE child_bag_id IN "
            "(SELECT id FROM bag WHERE qr_id IN ('C2001', 'C2002', 'N0001'))")
        conn.exec_driver_sql("DELETE FROM bag WHERE qr_id IN ('C2001', 'C2002', 'N0001')")
    eng.dispose()
    changes = puller.drain()
    puller.close()
    assert {"C2002", "N0001"} <= set(_rows(changes, "bag", "delete"))
    assert "C2001" not in str(changes)


def test_a_user_or_bag_type_renamed_at_the_centre_leaves_its_old_name_at_the_station(
        central_db, tmp_path):
    """Stations keep operators by name: a user renamed at the centre (a spelling put right)
    used to reach them under the new name with the old one kept, which still logged in there
    with the old password and recorded scans the centre then refused as an unknown operator.
    The feed now deletes the old name; a bag type renamed likewise."""
    from station.errors import LoginFailed
    from station.service import StationService
    from tests.sync.stationkit import local_rows, make_station, worker_for

    access = central_db.add_station("RN1", area="North")
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        add_user(conn, "north_disp", "pw", "dispatcher", "North")
    store = make_station(tmp_path, "RN1")
    worker = worker_for(store, access)
    try:
        assert worker.run_once().error is None  # the first download: the centre's operators
        assert ("north_disp",) in local_rows(store, "SELECT username FROM operators")
        with eng.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE \"user\" SET username = 'nord_disp' WHERE username = 'north_disp'")
            conn.exec_driver_sql("UPDATE station_bag_types SET name = 'M444X' WHERE name = 'M444'")
        assert worker.run_once().error is None
    finally:
        worker.close()
        eng.dispose()
    names = {r[0] for r in local_rows(store, "SELECT username FROM operators")}
    assert "nord_disp" in names and "north_disp" not in names
    types = {r[0] for r in local_rows(store, "SELECT name FROM bag_types")}
    assert "M444X" in types and "M444" not in types
    svc = StationService(store)
    try:
        with pytest.raises(LoginFailed):
            svc.login("north_disp", "pw")  # spelt as the old name: no such operator any more
        assert svc.login("nord_disp", "pw").username == "nord_disp"
    finally:
        svc.close()
        store.close()


def test_a_user_whose_area_the_web_system_spelt_otherwise_reaches_that_areas_stations(
        central_db):
    """The centre accepts the events of a dispatcher whose area the web system wrote " north "
    at a North station (areas compare trimmed and ignoring case): the station must download
    them too, or nobody can log in as them there."""
    url = central_db.add_station("D1", area="North")
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        add_user(conn, "north_disp", "pw", "dispatcher", "North")
        add_user(conn, "south_disp", "pw", "dispatcher", "South")
        conn.exec_driver_sql(
            "UPDATE \"user\" SET dispatch_area = ' north ' WHERE username = 'north_disp'")
    eng.dispose()
    puller = Puller(url, "D1")
    try:
        users = _rows(puller.drain(), "user")
    finally:
        puller.close()
    assert "north_disp" in users and "south_disp" not in users
