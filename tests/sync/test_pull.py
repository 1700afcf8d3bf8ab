"""Pull: first download (resumable), then the change feed; the local view is the centre's state
plus this station's own pending events; operators arrive so login works offline."""

from __future__ import annotations

import pytest

import sync.pull as pull_mod
from station.paths import resolve
from station.service import StationService
from station.store.local import LocalStore
from sync.pull import PULL_CURSOR, pull_all
from tests.sync.conftest import Events, push_as
from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import (
    central_exec,
    central_rows,
    local_rows,
    login,
    make_station,
    upstream_of,
    via_proxy,
    worker_for,
)

pytestmark = pytest.mark.central


def _seed_centre(central_db, parents: int = 5, children: int = 10) -> None:
    url = central_db.add_station("SEED")
    ev = Events("SEED")
    events = []
    for p in range(parents):
        events.append(ev.parent(f"SB{p + 1:05d}"))
        events += [ev.link(f"SB{p + 1:05d}", f"Q{p:03d}{c:03d}") for c in range(children)]
    events.append(ev.bill("B-1", 3))
    events.append(ev.bill_add("B-1", "SB00001"))
    reply = push_as(url, "SEED", events)
    assert {r.result for r in reply.results} == {"applied"}


def _fresh_station(tmp_path, station_id: str) -> LocalStore:
    """A station set up without demo operators: who may log in comes from the centre."""
    store = LocalStore.open(resolve(tmp_path), create=True)
    store.init_station(station_id, "North")
    return store


def _view(store: LocalStore) -> dict[str, object]:
    return {
        "bags": local_rows(store, "SELECT code, kind, child_count, status FROM bags ORDER BY code"),
        "links": local_rows(store, "SELECT child_code, parent_code FROM links ORDER BY child_code"),
        "bills": local_rows(store, "SELECT bill_id, target, status FROM bills ORDER BY bill_id"),
        "lines": local_rows(store, "SELECT parent_code, bill_id FROM bill_lines ORDER BY 1"),
    }


def test_first_download_brings_area_and_operators_for_offline_login(central_db, tmp_path) -> None:
    _seed_centre(central_db)
    url = central_db.add_station("D1")
    store = _fresh_station(tmp_path, "D1")
    assert local_rows(store, "SELECT count(*) FROM operators") == [(0,)]
    worker = worker_for(store, url)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.error is None, summary.error
    assert summary.pulled > 0
    view = _view(store)
    assert len(view["links"]) == 50
    assert ("SB00003", "parent", 10, "in_progress") in view["bags"]
    assert view["bills"] == [("B-1", 3, "processing")]
    assert view["lines"] == [("SB00001", "B-1")]
    centre_links = central_rows(
        central_db.url,
        "SELECT c.qr_id, p.qr_id FROM link l JOIN bag c ON c.id = l.child_bag_id "
        "JOIN bag p ON p.id = l.parent_bag_id ORDER BY 1")
    assert view["links"] == centre_links
    # The centre's operators, with their password hashes: login works with no centre at all.
    svc = StationService(store)
    try:
        op = svc.login("biller", "demo")
        assert op.role == "biller"
    finally:
        svc.close()
    store.close()


def test_bootstrap_resumes_after_a_cut(central_db, tmp_path) -> None:
    _seed_centre(central_db, parents=6, children=20)
    url = central_db.add_station("D1")
    store = _fresh_station(tmp_path, "D1")
    pages: list[int] = []
    with TcpProxy(upstream_of(url)) as proxy:
        t = via_proxy(url, proxy).transport()
        conn = store.connect(write=True)
        try:
            from sync.errors import TransientError

            def on_page(page) -> None:
                # The connection dies after the second page holding bags.
                if any(c["table"] == "bag" for c in page.changes):
                    pages.append(len(page.changes))
                if len(pages) == 2 and not proxy.fired_count:
                    proxy.cut_before_request(b"POST /v1/pull")

            with pytest.raises(TransientError):
                pull_all(conn, t, "D1", limit=10, bootstrap_limit=10, on_page=on_page)
            with conn.begin():
                cursor = conn.exec_driver_sql(
                    "SELECT value FROM sync_state WHERE key = ?", (PULL_CURSOR,)).scalar()
            assert cursor is not None and cursor.startswith("b:")
            got = local_rows(store, "SELECT count(*) FROM bags")[0][0]
            assert 0 < got < 126
            # Resume: the pages already stored are not fetched again.
            pages.clear()
            rows = pull_all(conn, t, "D1", limit=10, bootstrap_limit=10, on_page=lambda p: pages.append(len(p.changes)))
        finally:
            conn.close()
            t.close()
    assert rows < 126 + 120 + 3 + 3 + 1  # less than a full download
    view = _view(store)
    assert len(view["links"]) == 120 and len([b for b in view["bags"] if b[1] == "parent"]) == 6
    store.close()


def test_a_first_download_page_is_written_in_short_transactions_cursor_last(
        central_db, tmp_path, monkeypatch) -> None:
    """With write_rows (the window's sync), a page of the first download is written in
    transactions of at most that many rows and its cursor comes with the last; a page cut short
    by a failure is written again whole from the cursor before it, to the same view."""
    from sqlalchemy import event

    _seed_centre(central_db, parents=6, children=20)
    url = central_db.add_station("D1")
    whole = _fresh_station(tmp_path / "whole", "D1")
    store = _fresh_station(tmp_path / "cut", "D1")
    t = url.transport()
    conn = store.connect(write=True)
    commits: list[int] = []  # rows written by each committed transaction
    written = {"rows": 0}
    chunks: dict[str, int] = {}  # page cursor -> writes of that page so far
    cut: list[str] = []  # the cursor of the page a failure cut short

    def count_rows(*_args: object) -> None:
        if written["rows"]:  # (not the pull's own reads)
            commits.append(written["rows"])
        written["rows"] = 0

    event.listen(conn, "commit", count_rows)
    original = pull_mod.apply_page

    def applying(c, page):  # noqa: ANN001, ANN202
        chunks[page.cursor] = chunks.get(page.cursor, 0) + 1
        if chunks[page.cursor] == 2 and not cut:  # a power cut in a page's second write
            cut.append(page.cursor)
            raise RuntimeError("power cut")
        written["rows"] += len(page.changes)
        return original(c, page)

    monkeypatch.setattr(pull_mod, "apply_page", applying)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            pull_all(conn, t, "D1", bootstrap_limit=40, write_rows=15)
        with conn.begin():
            cursor = conn.exec_driver_sql(
                "SELECT value FROM sync_state WHERE key = ?", (PULL_CURSOR,)).scalar()
        assert cut and cursor != cut[0]  # the page cut short left its cursor unwritten
        pull_all(conn, t, "D1", bootstrap_limit=40, write_rows=15)
    finally:
        conn.close()
    assert len(commits) > 4 and max(commits) <= 15
    wconn = whole.connect(write=True)
    try:
        pull_all(wconn, t, "D1", bootstrap_limit=40)
    finally:
        wconn.close()
        t.close()
    assert _view(store) == _view(whole)
    assert len(_view(store)["links"]) == 120
    store.close()
    whole.close()


def test_bill_written_directly_in_central_tables_reaches_the_station(central_db, tmp_path) -> None:
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    worker = worker_for(store, url)
    try:
        assert worker.run_once().error is None
        # The web system writes a bill with plain SQL, knowing nothing about stations.
        central_exec(
            central_db.url,
            "INSERT INTO bill (bill_id, description, parent_bag_count, linked_parent_count, "
            "total_child_bags, total_weight_kg, expected_weight_kg, status, destination, "
            "vehicle_number, created_at, updated_at) VALUES ('WEB-77', 'from the web', 12, 0, 0, "
            "0, 0, 'new', 'Jaipur', 'RJ14-1234', now(), now())")
        summary = worker.run_once()
        assert summary.error is None and summary.pulled >= 1
        assert _view(store)["bills"] == [("WEB-77", 12, "new")]
        assert local_rows(store, "SELECT destination, vehicle FROM bills") == [("Jaipur", "RJ14-1234")]
        central_exec(central_db.url, "UPDATE bill SET parent_bag_count = 20 WHERE bill_id = 'WEB-77'")
        assert worker.run_once().error is None
        assert _view(store)["bills"] == [("WEB-77", 20, "new")]
    finally:
        worker.close()
    store.close()


def test_view_is_centre_state_plus_own_pending_events(central_db, tmp_path) -> None:
    """Pending links stay visible over fresher centre rows; a child the centre has elsewhere
    shows where the centre has it, and the pending event is rejected into sync issues."""
    other = central_db.add_station("D2")
    ev = Events("D2")
    push_as(other, "D2", [ev.parent("SB00001")] + [ev.link("SB00001", f"A{i:04d}") for i in range(2)])
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    worker = worker_for(store, url)
    try:
        assert worker.run_once().error is None
        assert local_rows(store, "SELECT child_count FROM bags WHERE code='SB00001'") == [(2,)]
        # Offline at D1: three more children into SB00001, and Z0001 into SB00002.
        svc = login(store)
        svc.record_scan("SB00001")
        for c in ("L0001", "L0002", "L0003"):
            assert svc.record_scan(c).ok
        svc.record_scan("SB00002")
        assert svc.record_scan("Z0001").ok
        svc.close()
        # Meanwhile D2 adds a child to SB00001 and takes Z0001 into SB00003.
        push_as(other, "D2", [ev.link("SB00001", "A0009"), ev.parent("SB00003"),
                              ev.link("SB00003", "Z0001")])
        # Pull only (the push has not happened yet).
        conn = store.connect(write=True)
        t = url.transport()
        try:
            pull_all(conn, t, "D1")
        finally:
            conn.close()
            t.close()
        assert local_rows(store, "SELECT child_count, status FROM bags WHERE code='SB00001'") == [
            (6, "in_progress")]  # 3 from the centre + 3 pending here
        assert local_rows(store, "SELECT parent_code FROM links WHERE child_code='Z0001'") == [
            ("SB00003",)]
        assert local_rows(store, "SELECT child_count FROM bags WHERE code='SB00002'") == [(0,)]
        pending = local_rows(store, "SELECT count(*) FROM events WHERE sync_state='pending'")
        assert pending == [(6,)]
        summary = worker.run_once()
    finally:
        worker.close()
    assert (summary.applied, summary.rejected) == (5, 1)
    issues = local_rows(store, "SELECT i.reason, e.child_code FROM sync_issues i "
                               "JOIN events e ON e.seq = i.event_seq")
    assert issues == [("child_on_other_parent", "Z0001")]
    assert local_rows(store, "SELECT child_count FROM bags WHERE code='SB00001'") == [(6,)]
    store.close()


def test_unlink_and_bill_line_removal_elsewhere_reach_the_station(central_db, tmp_path) -> None:
    other = central_db.add_station("D2")
    ev = Events("D2")
    push_as(other, "D2", [ev.parent("SB00001"), ev.link("SB00001", "A0001"),
                          ev.link("SB00001", "A0002"), ev.bill("B-9", 2),
                          ev.bill_add("B-9", "SB00001")])
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    worker = worker_for(store, url)
    try:
        assert worker.run_once().error is None
        assert _view(store)["lines"] == [("SB00001", "B-9")]
        push_as(other, "D2", [ev.unlink("SB00001", "A0001"), ev.bill_remove("B-9", "SB00001")])
        assert worker.run_once().error is None
    finally:
        worker.close()
    view = _view(store)
    assert view["links"] == [("A0002", "SB00001")]
    assert ("SB00001", "parent", 1, "in_progress") in view["bags"]
    assert view["lines"] == []
    assert view["bills"] == [("B-9", 2, "new")]
    store.close()


def test_rejected_bill_line_is_taken_off_the_local_view(central_db, tmp_path) -> None:
    """Two stations load the last free place of a bill offline: one wins; the other's line goes
    from its view, its event goes to sync issues, and both views end as the centre's."""
    bill_maker = central_db.add_station("B0")
    ev = Events("B0")
    push_as(bill_maker, "B0", [ev.bill("B-77", 1)])
    stations = []
    for sid, parent in (("D1", "SB00001"), ("D2", "SB00002")):
        url = central_db.add_station(sid)
        store = make_station(tmp_path / sid, sid)
        worker = worker_for(store, url)
        assert worker.run_once().error is None  # knows bill B-77 now
        svc = login(store, "biller")
        svc.record_scan(parent)
        for c in range(30):
            assert svc.record_scan(f"{sid}C{c:03d}").ok
        r = svc.add_parent_to_bill("B-77", parent)
        assert r.ok, r.message
        svc.close()
        stations.append((store, worker))
    summaries = [w.run_once() for _, w in stations]
    assert [s.rejected for s in summaries] == [0, 1]
    for _, w in stations:  # one more pull each: the winner's line reaches the loser
        assert w.run_once().error is None
        w.close()
    centre = central_rows(central_db.url, "SELECT p.qr_id FROM bill_bag bb JOIN bag p "
                                          "ON p.id = bb.bag_id")
    assert centre == [("SB00001",)]
    for store, _ in stations:
        assert _view(store)["lines"] == [("SB00001", "B-77")]
        assert local_rows(store, "SELECT status FROM bills WHERE bill_id='B-77'") == [("processing",)]
    loser = stations[1][0]
    assert local_rows(loser, "SELECT i.reason FROM sync_issues i") == [("bill_full",)]
    for store, _ in stations:
        store.close()


def test_links_made_while_the_first_download_runs_keep_the_view_whole(central_db, tmp_path) -> None:
    """Bags are read before links; a station linking a new child into a new parent in between
    gives a link whose bags were never sent in the download: the view still has both bags."""
    _seed_centre(central_db, parents=2, children=3)
    other = central_db.add_station("D2")
    ev = Events("D2")
    url = central_db.add_station("D1")
    store = _fresh_station(tmp_path, "D1")

    class LinkingMidway:
        """The real transport; just before the link phase is read, D2 pushes a new link."""

        def __init__(self) -> None:
            self.inner = url.transport()
            self.pushed = False

        def pull(self, request):  # noqa: ANN001, ANN201
            if request.cursor and request.cursor.startswith("b:link") and not self.pushed:
                push_as(other, "D2", [ev.parent("SB00050"), ev.link("SB00050", "NEW0001")])
                self.pushed = True
            return self.inner.pull(request)

        def close(self) -> None:
            self.inner.close()

    t = LinkingMidway()
    conn = store.connect(write=True)
    try:
        pull_all(conn, t, "D1", bootstrap_limit=4)
        fk = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        conn.rollback()
    finally:
        conn.close()
        t.close()
    assert t.pushed and fk == 1  # foreign keys are back on after the download
    assert local_rows(store, "SELECT parent_code FROM links WHERE child_code='NEW0001'") == [
        ("SB00050",)]
    assert local_rows(store, "SELECT kind FROM bags WHERE code IN ('SB00050', 'NEW0001') "
                             "ORDER BY code") == [("child",), ("parent",)]
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    assert local_rows(store, "SELECT child_count FROM bags WHERE code='SB00050'") == [(1,)]
    store.close()


def test_a_rejection_whose_view_cannot_be_corrected_leaves_the_others_corrected(
        central_db, tmp_path) -> None:
    """Two links the centre rejects (their children are in another parent there): their view
    corrections go together, and when one of them fails (here the store refuses to delete that
    link) the other is still corrected and both results and sync issues are recorded."""
    other = central_db.add_station("D2")
    ev = Events("D2")
    push_as(other, "D2", [ev.parent("SB00003"), ev.link("SB00003", "Z0001"),
                          ev.link("SB00003", "Z0002")])
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    svc = login(store)
    svc.record_scan("SB00002")
    assert svc.record_scan("Z0001").ok and svc.record_scan("Z0002").ok
    svc.close()
    conn = store.connect(write=True)
    with conn.begin():
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_z1 BEFORE DELETE ON links WHEN old.child_code = 'Z0001' "
            "BEGIN SELECT RAISE(ABORT, 'this link stays'); END")
    conn.close()
    worker = worker_for(store, url, pull=False)
    try:
        summary = worker.run_once()
    finally:
        worker.close()
    assert summary.error is None, summary.error
    assert (summary.applied, summary.rejected) == (1, 2)
    assert local_rows(store, "SELECT child_code, sync_state FROM events WHERE child_code "
                             "IS NOT NULL ORDER BY 1") == [("Z0001", "rejected"),
                                                          ("Z0002", "rejected")]
    issues = local_rows(store, "SELECT e.child_code, i.reason FROM sync_issues i "
                               "JOIN events e ON e.seq = i.event_seq ORDER BY 1")
    assert issues == [("Z0001", "child_on_other_parent"), ("Z0002", "child_on_other_parent")]
    # Z0002's link made here is gone; Z0001's stays (its correction failed; the feed mends it)
    assert local_rows(store, "SELECT child_code, parent_code FROM links ORDER BY 1") == [
        ("Z0001", "SB00002")]
    # and so is the child bag that link made here (the centre never made it); SB00002 counts
    # only the link that stays
    assert local_rows(store, "SELECT code FROM bags WHERE kind = 'child' ORDER BY 1") == [
        ("Z0001",)]
    assert local_rows(store, "SELECT child_count FROM bags WHERE code = 'SB00002'") == [(1,)]
    store.close()


def test_a_link_made_here_during_the_first_download_is_counted_in_its_parent(
        central_db, tmp_path) -> None:
    """A parent selected and sent, then a child linked into it while the first download has not
    come yet: the download brings the parent with the centre's count (without that pending
    link); laying the pending events over it must count the link made here, as the view holds
    it (before, the link's own parent was left with the centre's count)."""
    other = central_db.add_station("D2")
    ev = Events("D2")
    push_as(other, "D2", [ev.parent("SB00001"), ev.link("SB00001", "A0001"),
                          ev.link("SB00001", "A0002")])
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    svc = login(store)
    assert svc.record_scan("SB00001").ok
    worker = worker_for(store, url, pull=False)
    try:
        assert worker.run_once().error is None  # the parent's selection reached the centre
    finally:
        worker.close()
    assert svc.record_scan("C0001").ok  # pending: linked here, not sent yet
    svc.close()
    conn = store.connect(write=True)
    t = url.transport()
    try:
        pull_all(conn, t, "D1")
    finally:
        conn.close()
        t.close()
    assert local_rows(store, "SELECT child_code FROM links WHERE parent_code = 'SB00001' "
                             "ORDER BY 1") == [("A0001",), ("A0002",), ("C0001",)]
    assert local_rows(store, "SELECT child_count, weight_kg FROM bags "
                             "WHERE code = 'SB00001'") == [(3, 3.0)]
    store.close()


class _Midway:
    """The station's real transport; when the first download asks for a page whose cursor
    starts with `at`, `action` changes the centre first (once)."""

    def __init__(self, access, at: str, action) -> None:  # noqa: ANN001
        self.inner = access.transport()
        self.at = at
        self.action = action
        self.done = False

    def pull(self, request):  # noqa: ANN001, ANN201
        if request.cursor and request.cursor.startswith(self.at) and not self.done:
            self.action()
            self.done = True
        return self.inner.pull(request)

    def close(self) -> None:
        self.inner.close()


def test_an_operator_added_at_the_centre_during_the_first_download_may_log_in(
        central_db, tmp_path) -> None:
    """Operators are read at the start of the first download; one added at the centre while
    the rest of it is read comes in the feed right after it, and stays (before, the end of the
    download dropped every operator its operators' page had not brought, that one too, and the
    feed did not send them again)."""
    import sqlalchemy as sa

    from central.users import add_user

    _seed_centre(central_db, parents=2, children=3)
    url = central_db.add_station("D1")
    store = _fresh_station(tmp_path, "D1")

    def add_newcomer() -> None:
        eng = central_db.engine(poolclass=sa.pool.NullPool)
        with eng.begin() as c:
            add_user(c, "newcomer", "pw-newcomer", "dispatcher", "North")
        eng.dispose()

    # once the operators are read, the centre gets a new one
    t = _Midway(url, "b:bag", add_newcomer)
    conn = store.connect(write=True)
    try:
        pull_all(conn, t, "D1", bootstrap_limit=4)
    finally:
        conn.close()
        t.close()
    assert t.done
    assert local_rows(store, "SELECT username FROM operators ORDER BY 1") == [
        ("admin",), ("biller",), ("dispatcher",), ("newcomer",)]
    svc = StationService(store)
    try:
        assert svc.login("newcomer", "pw-newcomer").role == "dispatcher"
    finally:
        svc.close()
    store.close()


def test_a_first_feed_page_touching_many_bags_is_written_with_sqlites_default_limits(
        central_db, tmp_path) -> None:
    """17 000 bags imported at the centre (the web system) while a station's first download
    runs come again in the first page of the feed, which is asked for with the download's
    larger pages. Writing it looks up the station's pending events by every code it touches:
    that must hold under SQLite's default of 32 766 variables a statement (builds without a
    raised limit have it; before, one statement named each code twice, the page failed on
    every try and the download never finished)."""
    import sqlite3

    _seed_centre(central_db, parents=1, children=2)
    url = central_db.add_station("D1")
    store = _fresh_station(tmp_path, "D1")

    # once the operators are read, the centre imports the bags
    t = _Midway(url, "b:bill", lambda: central_exec(
        central_db.url,
        "INSERT INTO bag (qr_id, type, dispatch_area) SELECT 'K' || lpad(i::text, "
        "6, '0'), 'child', 'North' FROM generate_series(1, 17000) i"))
    conn = store.connect(write=True)
    raw = conn.connection.dbapi_connection
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32766)  # SQLite's default
    try:
        pull_all(conn, t, "D1")
        with conn.begin():
            done = conn.exec_driver_sql(
                "SELECT value FROM sync_state WHERE key = 'bootstrapped'").scalar()
    finally:
        conn.close()
        t.close()
    assert t.done and done == "1"
    assert local_rows(store, "SELECT count(*) FROM bags WHERE code LIKE 'K%'") == [(17000,)]
    store.close()


def test_a_bill_line_whose_bill_comes_later_in_the_feed_still_reaches_the_station(
        central_db, tmp_path) -> None:
    """The feed is read in the order of the writing transactions' ids, which are taken at their
    first write (or row lock), not at commit: a transaction that took its id first may add a
    parent to a bill that another one created and committed meanwhile (a batch sent ahead that
    arrived before the batch creating the bill: it locks the station's row while it waits).
    Its line then comes before the bill in the feed, and a page can end between them; the
    station, which keeps no line of a bill it does not know, must still get it (before, the
    line was dropped and never sent again)."""
    import sqlalchemy as sa

    other = central_db.add_station("D2")
    ev = Events("D2")
    push_as(other, "D2", [ev.parent("SB00001"), ev.link("SB00001", "A0001")])
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    conn = store.connect(write=True)
    t = url.transport()
    try:
        pull_all(conn, t, "D1")
        eng = central_db.engine(poolclass=sa.pool.NullPool)
        line, bill = eng.connect(), eng.connect()
        try:
            line.exec_driver_sql("SELECT pg_current_xact_id()")  # the smaller transaction id
            bill.exec_driver_sql(
                "INSERT INTO bill (bill_id, parent_bag_count, status) VALUES ('INV-1', 2, 'new')")
            bill.commit()
            line.exec_driver_sql(
                "INSERT INTO bill_bag (bill_id, bag_id) SELECT b.id, p.id FROM bill b, bag p "
                "WHERE b.bill_id = 'INV-1' AND p.qr_id = 'SB00001'")
            line.commit()
        finally:
            line.close()
            bill.close()
            eng.dispose()
        pull_all(conn, t, "D1", limit=1)  # one feed row a page: the line's page comes first
    finally:
        conn.close()
        t.close()
    assert local_rows(store, "SELECT bill_id FROM bills") == [("INV-1",)]
    assert local_rows(store, "SELECT parent_code, bill_id FROM bill_lines") == [
        ("SB00001", "INV-1")]
    store.close()


def test_a_bill_deleted_at_the_centre_with_its_closing_note_takes_no_other_bill_along(
        central_db, tmp_path) -> None:
    """An administrator deletes a bill closed short at the centre: its closing note first (it
    refers to the bill), then the bill. When a page of the feed ends between the two, the
    note's row must not be taken for the bill's: its bill_id is the bill's row number, not its
    id (before, the station deleted the bill whose id is that number, here '1002')."""
    central_exec(central_db.url, "SELECT setval('bill_id_seq', 1000)")
    central_exec(central_db.url, "INSERT INTO bill (bill_id, parent_bag_count) VALUES ('1002', 4)")
    maker = central_db.add_station("D2")
    ev = Events("D2")
    reply = push_as(maker, "D2", [ev.bill("B-9", 3), ev.bill_close("B-9", "lorry left early")])
    assert [r.result for r in reply.results] == ["applied", "applied"]
    assert central_rows(central_db.url, "SELECT b.id, n.closed_reason FROM bill b JOIN "
                                        "station_bill_notes n ON n.bill_id = b.id") == [
        (1002, "lorry left early")]
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    conn = store.connect(write=True)
    t = url.transport()
    try:
        pull_all(conn, t, "D1")
        assert local_rows(store, "SELECT bill_id FROM bills ORDER BY 1") == [("1002",), ("B-9",)]
        central_exec(central_db.url, "DELETE FROM station_bill_notes WHERE bill_id = 1002; "
                                     "DELETE FROM bill WHERE id = 1002")
        pull_all(conn, t, "D1", limit=1)  # the note's row and the bill's in pages of their own
    finally:
        conn.close()
        t.close()
    assert local_rows(store, "SELECT bill_id FROM bills ORDER BY 1") == [("1002",)]
    store.close()


def test_a_parent_of_another_area_deleted_at_the_centre_leaves_the_bills_here(
        central_db, tmp_path) -> None:
    """Bill lines reach every station, whatever the area of their parent. An administrator
    deletes a South parent that is on a bill (its line, then the bag): a North station must
    drop that line too, though the bag is of another area (its code is on the bill here)."""
    south = central_db.add_station("S-1", area="South")
    ev = Events("S-1", operator="biller")  # a biller works in any area
    reply = push_as(south, "S-1", [ev.parent("SB20001"), ev.link("SB20001", "C2001"),
                                   ev.bill("B-5", 2), ev.bill_add("B-5", "SB20001")])
    assert {r.result for r in reply.results} == {"applied"}
    url = central_db.add_station("D1")
    store = make_station(tmp_path, "D1")
    conn = store.connect(write=True)
    t = url.transport()
    try:
        pull_all(conn, t, "D1")
        assert _view(store)["lines"] == [("SB20001", "B-5")]
        central_exec(central_db.url,
                     "DELETE FROM bill_bag WHERE bag_id = (SELECT id FROM bag "
                     "WHERE qr_id = 'SB20001'); DELETE FROM link WHERE parent_bag_id = "
                     "(SELECT id FROM bag WHERE qr_id = 'SB20001'); "
                     "DELETE FROM bag WHERE qr_id IN ('SB20001', 'C2001')")
        pull_all(conn, t, "D1")
    finally:
        conn.close()
        t.close()
    assert _view(store)["lines"] == []
    store.close()
