"""Bag types follow the centre: a type renamed there (the feed upserts the new name and deletes
the old) takes the parents held here under the old name along, so they can still be packed."""

from __future__ import annotations

from station.store.local import LocalStore
from sync.protocol import PullPage
from sync.pull import apply_page

M444X = {"name": "M444X", "pattern": r"M444-\d{5}", "lookalike": "M444", "capacity": 15,
         "nominal_kg": 15.0, "kg_per_child": 1.0, "example": "M444-12345"}


def _apply(store: LocalStore, changes: list[dict], n: int) -> None:
    with store.connect(write=True) as conn, conn.begin():
        apply_page(conn, PullPage(changes, f"f:1:{n}", True, False))


def _types_of(store: LocalStore) -> dict[str, str]:
    with store.connect() as conn:
        return dict(conn.exec_driver_sql(
            "SELECT code, bag_type FROM bags WHERE kind = 'parent'").all())


def test_a_bag_type_renamed_at_the_centre_takes_its_parents_along(store, make_service) -> None:
    svc = make_service("dispatcher")
    assert svc.record_scan("M444-00001").ok
    assert svc.record_scan("C00001").ok
    _apply(store, [{"table": "bag_type", "op": "upsert", "row": M444X},
                   {"table": "bag_type", "op": "delete", "row": {"name": "M444"}}], 1)
    assert _types_of(store) == {"M444-00001": "M444X"}
    # the parent is still a parent here: packing goes on into it
    r = svc.record_scan("C00002")
    assert r.ok, r.message
    again = make_service("dispatcher")
    assert again.record_scan("M444-00001").ok
    assert again.record_scan("C00003").ok


def test_a_bag_type_deleted_at_the_centre_stays_while_parents_here_need_it(
        store, make_service) -> None:
    """No other type takes its codes: the type stays, or its parents could not be read."""
    svc = make_service("dispatcher")
    assert svc.record_scan("M444-00001").ok
    _apply(store, [{"table": "bag_type", "op": "delete", "row": {"name": "M444"}}], 2)
    assert _types_of(store) == {"M444-00001": "M444"}
    assert svc.record_scan("C00009").ok
