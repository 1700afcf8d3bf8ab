"""Applying pages to the local view without a centre: rows that arrive before what they refer to
never make a pull fail (a failing page would stop the feed for good)."""

from __future__ import annotations

from sync.protocol import PullPage
from sync.pull import apply_page
from tests.sync.stationkit import local_rows, make_station


def _page(changes: list[dict], bootstrap: bool) -> PullPage:
    return PullPage(changes, "f:1:1", True, bootstrap)


def test_link_before_its_bags_and_line_before_its_bill(tmp_path) -> None:
    store = make_station(tmp_path, "D1")
    page = _page([
        {"table": "link", "op": "upsert", "row": {
            "child_code": "C0001", "parent_code": "SB00009", "linked_at": "2026-11-20T10:41:00Z",
            "station_id": "D2", "operator": "dispatcher"}},
        {"table": "bill_bag", "op": "upsert", "row": {
            "parent_code": "SB00009", "bill_id": "B-404", "added_at": "2026-11-20T10:42:00Z"}},
    ], bootstrap=True)
    with store.connect(write=True) as conn, conn.begin():
        assert apply_page(conn, page) == 2
    assert local_rows(store, "SELECT code, kind, bag_type FROM bags ORDER BY code") == [
        ("C0001", "child", None), ("SB00009", "parent", "SB")]
    assert local_rows(store, "SELECT child_code, parent_code FROM links") == [("C0001", "SB00009")]
    assert local_rows(store, "SELECT count(*) FROM bill_lines") == [(0,)]  # the feed brings it
    # The bag's own row then arrives and completes the stub.
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, _page([{"table": "bag", "op": "upsert", "row": {
            "code": "SB00009", "kind": "parent", "bag_type": "SB", "status": "in_progress",
            "child_count": 1, "weight_kg": 1.0, "area": "North",
            "created_at": "2026-11-20T10:40:00Z", "updated_at": "2026-11-20T10:41:00Z"}}], False))
    assert local_rows(store, "SELECT child_count, status, area FROM bags WHERE code='SB00009'") == [
        (1, "in_progress", "North")]
    store.close()


def test_feed_moves_a_child_and_recounts_both_parents(tmp_path) -> None:
    store = make_station(tmp_path, "D1")
    rows = [
        {"table": "bag", "op": "upsert", "row": {
            "code": c, "kind": "parent", "bag_type": "SB", "status": "pending", "child_count": 0,
            "weight_kg": 0, "area": "North", "created_at": "t", "updated_at": "t"}}
        for c in ("SB00001", "SB00002")
    ]
    link = {"child_code": "C0001", "parent_code": "SB00001", "linked_at": "t",
            "station_id": "D2", "operator": "dispatcher"}
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, _page(rows + [{"table": "link", "op": "upsert", "row": link}], False))
    assert local_rows(store, "SELECT code, child_count FROM bags WHERE kind='parent' ORDER BY 1") == [
        ("SB00001", 1), ("SB00002", 0)]
    moved = dict(link, parent_code="SB00002")
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, _page([{"table": "link", "op": "upsert", "row": moved}], False))
    assert local_rows(store, "SELECT code, child_count FROM bags WHERE kind='parent' ORDER BY 1") == [
        ("SB00001", 0), ("SB00002", 1)]
    with store.connect(write=True) as conn, conn.begin():
        # As the centre's feed sends it: the child's code only.
        apply_page(conn, _page([{"table": "link", "op": "delete", "row": {"child_code": "C0001"}}],
                               False))
    assert local_rows(store, "SELECT count(*) FROM links") == [(0,)]
    assert local_rows(store, "SELECT child_count, status FROM bags WHERE code='SB00002'") == [
        (0, "pending")]
    store.close()
