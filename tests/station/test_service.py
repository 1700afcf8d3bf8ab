"""The station service on a real SQLite store: linking, undo, bills, roles, events."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select, text

from station.errors import NotLoggedIn
from station.rules import Outcome
from station.service import StationService
from station.store.schema import bags, events, links

A, W, R = Outcome.ACCEPTED, Outcome.WARNING, Outcome.REFUSED


def fill(service: StationService, parent: str, n: int, prefix: str = "C") -> None:
    assert service.record_scan(parent).ok
    for i in range(n):
        r = service.record_scan(f"{prefix}{parent[-5:]}{i:03d}")
        assert r.outcome is A, r.message


def invariants(service: StationService) -> list[str]:
    """Recompute each parent's counters from its links (docs/rules.md §3: never edited by hand)."""
    rows = service.conn.execute(text(
        "SELECT b.code, b.child_count, b.weight_kg, b.status, t.capacity, "
        "(SELECT count(*) FROM links l WHERE l.parent_code = b.code) "
        "FROM bags b JOIN bag_types t ON t.name = b.bag_type WHERE b.kind = 'parent'"
    )).all()
    service.conn.rollback()
    bad = []
    for code, count, weight, status, cap, real in rows:
        want = "pending" if real == 0 else "completed" if real >= cap else "in_progress"
        if (count, weight, status) != (real, float(real), want) or real > cap:
            bad.append(f"{code}: {count}/{weight}/{status} but links say {real}")
    return bad


def test_scanning_a_parent_selects_and_creates_it(service: StationService) -> None:
    r = service.record_scan("sb00001")
    assert (r.outcome, r.reason, r.code) == (A, "parent_created", "SB00001")
    assert r.parent is not None and (r.parent.child_count, r.parent.capacity) == (0, 30)
    r = service.record_scan("SB00001")
    assert r.reason == "parent_selected"
    n = service.conn.execute(select(bags.c.code).where(bags.c.code.ilike("sb00001"))).all()
    service.conn.rollback()
    assert len(n) == 1  # case never creates a second bag


def test_child_needs_a_parent(service: StationService) -> None:
    r = service.record_scan("C1234")
    assert (r.outcome, r.reason) == (R, "no_parent")
    assert "Scan a parent bag first" in r.message
    assert service.lookup_bag("C1234") is None  # a refusal stores nothing


def test_full_cycle_completes_and_releases_the_parent(service: StationService) -> None:
    service.record_scan("SB00001")
    for i in range(29):
        r = service.record_scan(f"C{i:04d}")
        assert (r.outcome, r.reason) == (A, "child_linked")
        assert r.parent.child_count == i + 1
    r = service.record_scan("C0029")
    assert (r.outcome, r.reason) == (A, "parent_completed")
    assert r.parent.status == "completed" and r.parent.child_count == 30
    assert service.current_parent() is None  # back to waiting for a parent
    r = service.record_scan("C0030")
    assert r.reason == "no_parent"
    # scanning the full parent again selects it, and the next child is refused as full
    service.record_scan("SB00001")
    r = service.record_scan("C0030")
    assert (r.outcome, r.reason) == (R, "parent_full")
    assert r.message == "SB00001 is full (30/30). Scan the next parent bag"
    assert invariants(service) == []


def test_m444_capacity_is_15(service: StationService) -> None:
    fill(service, "M444-00001", 14)
    r = service.record_scan("D99999")
    assert r.reason == "parent_completed" and r.parent.capacity == 15


def test_rescan_warns_without_an_event(service: StationService) -> None:
    service.record_scan("SB00001")
    service.record_scan("C1234")
    before = len(service.event_log())
    r = service.record_scan("c1234")
    assert (r.outcome, r.reason, r.message) == (W, "already_on_parent", "C1234 already on SB00001")
    assert len(service.event_log()) == before
    assert service.lookup_bag("SB00001").child_count == 1


def test_child_on_another_parent_is_refused(service: StationService) -> None:
    service.record_scan("SB00077")
    service.record_scan("C1234")
    service.record_scan("SB00001")
    r = service.record_scan("C1234")
    assert (r.outcome, r.reason) == (R, "child_on_other_parent")
    assert r.message.startswith("C1234 is already in SB00077")


def test_a_code_is_a_parent_or_a_child_for_ever(service: StationService) -> None:
    service.record_scan("SB00001")
    r = service.record_scan("SB00002")  # a parent code always selects, never links
    assert r.reason == "parent_created" and r.parent.code == "SB00002"
    assert service.lookup_bag("SB00001").child_count == 0


def test_child_takes_the_parents_area_and_label_text(service: StationService) -> None:
    service.record_scan("SB00001")
    raw = "LABEL NO.:0016586 LOT NO.:STAR44GG24611, D.O.T.:30/09/2025"
    r = service.record_scan(raw)
    assert r.code == "0016586" and r.outcome is A
    bag = service.lookup_bag("0016586")
    assert bag.area == "North" and bag.parent == "SB00001"
    assert bag.label_text == raw
    ev = service.event_log()[-1]
    assert ev["data"]["label_text"] == raw


def test_events_are_explicit_gap_free_uuid7(service: StationService) -> None:
    service.record_scan("SB00001")
    service.record_scan("C1")  # refused: not a code (3 characters)
    service.record_scan("C1111")
    service.record_scan("C2222")
    service.undo_last()
    log = service.event_log()
    assert [e["seq"] for e in log] == [1, 2, 3, 4]
    assert [e["type"] for e in log] == [
        "parent_scanned", "child_linked", "child_linked", "child_unlinked"]
    for e in log:
        assert uuid.UUID(e["event_id"]).version == 7
        assert e["station_id"] == "TEST-1" and e["operator"] == "dispatcher"
        assert e["device_time"].startswith("2026-11-23T08:00")
        assert e["app_version"] and e["protocol_version"] == 1
        assert e["sync_state"] == "pending"
    # codes are explicit, never "the current one"
    assert (log[1]["parent_code"], log[1]["child_code"]) == ("SB00001", "C1111")
    assert (log[3]["parent_code"], log[3]["child_code"]) == ("SB00001", "C2222")
    assert log[1]["data"]["source"] == "scanner"


def test_typed_and_camera_reads_are_marked(service: StationService) -> None:
    service.record_scan("SB00001", source="typed")
    service.record_scan("C1111", source="camera")
    sources = [e["data"]["source"] for e in service.event_log()]
    assert sources == ["typed", "camera"]


def test_finish_short_then_resume_shows_real_count(service: StationService) -> None:
    fill(service, "SB00001", 12)
    r = service.finish_parent()
    assert (r.outcome, r.reason) == (W, "parent_finished_short")
    assert "12/30" in r.message
    assert service.current_parent() is None
    bag = service.lookup_bag("SB00001")
    assert bag.status == "in_progress" and bag.child_count == 12
    r = service.record_scan("SB00001")
    assert r.parent.child_count == 12 and "(12/30)" in r.message
    assert service.event_log()[-2]["type"] == "parent_finished"
    assert service.finish_parent().outcome is W
    assert service.finish_parent().reason == "no_parent"


def test_current_parent_survives_a_restart(service: StationService, make_service) -> None:
    fill(service, "SB00001", 3)
    service.close()
    again = make_service("dispatcher")
    assert again.current_parent().code == "SB00001"
    r = again.record_scan("C9999")
    assert r.parent.child_count == 4


def test_undo_last_reopens_a_completed_parent(service: StationService) -> None:
    fill(service, "SB00001", 30)
    assert service.current_parent() is None
    r = service.undo_last()
    assert (r.outcome, r.reason) == (A, "child_unlinked")
    assert r.code == "C00001029"  # the last child
    assert r.parent.code == "SB00001" and r.parent.child_count == 29
    assert r.parent.status == "in_progress"
    freed = service.lookup_bag(r.code)
    assert freed is not None and freed.parent is None  # both bags stay; the child is free
    assert service.record_scan(r.code).outcome is A  # and can be linked again
    assert invariants(service) == []


def test_undo_rules_by_role_and_time(service: StationService, make_service, clock) -> None:
    fill(service, "SB00001", 2)
    other = make_service("dispatcher")
    clock.advance(minutes=61)
    r = other.undo_last()
    assert (r.outcome, r.reason) == (R, "undo_too_old")
    biller = make_service("biller")
    r = biller.undo_last()
    assert r.outcome is A  # billers may remove any link
    assert other.undo_last().reason == "undo_too_old"  # the first link is still there
    assert biller.undo_last().outcome is A
    r = biller.undo_last()
    assert (r.reason, r.message) == ("nothing_to_undo", "Nothing to undo: no link made here")


def test_dispatcher_cannot_undo_someone_elses_link(service: StationService, make_service) -> None:
    biller = make_service("biller")
    biller.record_scan("SB00001")
    biller.record_scan("C1111")
    r = service.undo_last()
    assert (r.outcome, r.reason) == (R, "not_your_link")
    assert "linked by biller" in r.message
    r = service.remove_child("c1111")
    assert r.reason == "not_your_link"
    admin = make_service("admin")
    assert admin.remove_child("C1111").outcome is A
    assert admin.remove_child("C1111").reason == "not_linked"


def test_closed_bill_freezes_its_parents(service: StationService, make_service) -> None:
    fill(service, "SB00001", 30)
    biller = make_service("biller")
    biller.create_bill("B-17", 1)
    assert biller.add_parent_to_bill("B-17", "SB00001").outcome is A
    assert biller.close_bill("B-17").outcome is A
    r = service.undo_last()
    assert (r.outcome, r.reason) == (R, "parent_on_closed_bill")
    assert r.message == "SB00001 is on closed bill B-17"
    service.record_scan("SB00001")
    r = service.record_scan("C5555")
    assert r.reason == "parent_on_closed_bill"
    assert invariants(service) == []


def test_bill_flow(service: StationService, make_service) -> None:
    fill(service, "SB00001", 30)
    fill(service, "SB00002", 10)
    fill(service, "M444-00003", 15)
    biller = make_service("biller")
    r = biller.create_bill("b-17", 3, "mustard", "Jaipur", "RJ14 1234")
    assert (r.outcome, r.code) == (A, "B-17")
    assert r.bill.status == "new"
    assert biller.create_bill("B-17", 3).reason == "bill_exists"  # unique ignoring case
    r = biller.add_parent_to_bill("B-17", "SB00001")
    assert r.outcome is A and r.bill.status == "processing" and r.bill.linked == 1
    r = biller.add_parent_to_bill("B-17", "sb00001")
    assert (r.outcome, r.reason) == (W, "already_on_bill")
    r = biller.add_parent_to_bill("B-17", "SB00002")
    assert (r.outcome, r.reason) == (W, "parent_short")
    r = biller.add_parent_to_bill("B-17", "M444-00003")
    assert r.outcome is A
    p = r.bill
    assert (p.linked, p.target, p.children, p.actual_kg, p.expected_kg) == (3, 3, 55, 55.0, 75.0)
    assert p.shortfall_kg == 20.0 and p.percent == 100.0
    r = biller.add_parent_to_bill("B-17", "SB00009")
    assert r.reason == "bill_full" and r.message == "Bill B-17 is full (3/3)"
    biller.create_bill("B-12", 5)
    r = biller.add_parent_to_bill("B-12", "SB00001")
    assert r.message == "SB00001 is on bill B-17"
    r = biller.add_parent_to_bill("B-12", "C00001000")
    assert r.reason in ("not_a_parent",)
    r = biller.remove_parent_from_bill("B-17", "SB00002")
    assert r.outcome is A and r.bill.linked == 2
    r = biller.close_bill("B-17")
    assert r.reason == "reason_required"
    r = biller.close_bill("B-17", "truck left early")
    assert r.outcome is W and r.bill.status == "completed"
    assert biller.lookup_bill("B-17").closed_reason == "truck left early"
    assert biller.add_parent_to_bill("B-17", "SB00002").reason == "bill_closed"
    assert biller.remove_parent_from_bill("B-17", "SB00001").reason == "bill_closed"
    assert biller.reopen_bill("B-17").reason == "not_allowed"
    admin = make_service("admin")
    r = admin.reopen_bill("B-17")
    assert r.outcome is A and r.bill.status == "processing"
    info = admin.lookup_bill("B-17")
    assert info.to_json() == {
        "bill_id": "B-17", "status": "processing", "target": 3, "linked": 2, "children": 45,
        "actual_kg": 45.0, "expected_kg": 45.0, "parents": ["SB00001", "M444-00003"],
    }
    assert (info.description, info.destination, info.vehicle) == ("mustard", "Jaipur", "RJ14 1234")
    assert info.closed_reason is None  # reopening clears it, as at the centre


def test_unknown_parent_goes_on_a_bill_provisionally(make_service) -> None:
    biller = make_service("biller")
    biller.create_bill("B-1", 2)
    r = biller.add_parent_to_bill("B-1", "SB04444")
    assert (r.outcome, r.reason) == (W, "parent_unknown")
    assert "provisionally" in r.message and r.bill.linked == 1
    assert biller.add_parent_to_bill("B-1", "SB04444").reason == "already_on_bill"
    biller.create_bill("B-2", 2)
    assert biller.add_parent_to_bill("B-2", "SB04444").reason == "parent_on_other_bill"


def test_short_parent_can_be_an_error(make_service, store) -> None:
    store.save_settings(store.settings().replace(short_parent_is_error=True))
    biller = make_service("biller")
    biller.record_scan("SB00001")
    biller.record_scan("C1")
    biller.record_scan("C1111")
    biller.create_bill("B-1", 2)
    r = biller.add_parent_to_bill("B-1", "SB00001")
    assert (r.outcome, r.reason) == (R, "parent_short")
    assert r.bill.linked == 0 and biller.lookup_bag("SB00001").bill is None
    assert biller.event_log()[-1]["type"] == "bill_created"


def test_target_limits(make_service) -> None:
    biller = make_service("biller")
    assert biller.create_bill("B-1", 0).reason == "bad_target"
    assert biller.create_bill("B-1", 501).reason == "bad_target"
    assert biller.create_bill("B 1", 5).reason == "bad_bill_id"
    assert biller.create_bill("B-1", 500).outcome is A


def test_roles_are_enforced_in_the_service(service: StationService) -> None:
    for r in (
        service.create_bill("B-1", 5),
        service.add_parent_to_bill("B-1", "SB00001"),
        service.close_bill("B-1", "x"),
        service.reopen_bill("B-1"),
        service.remove_parent_from_bill("B-1", "SB00001"),
    ):
        assert (r.outcome, r.reason) == (R, "not_allowed")
        assert "dispatcher" in r.message
    assert service.event_log() == []


def test_operations_need_an_operator(store, make_service) -> None:
    anonymous = make_service(None)
    with pytest.raises(NotLoggedIn):
        anonymous.record_scan("SB00001")


def test_scanning_a_known_bill_id_selects_the_bill(service: StationService, make_service) -> None:
    make_service("biller").create_bill("B-17", 5)
    r = service.record_scan("b-17")
    assert (r.outcome, r.reason, r.kind, r.code) == (A, "bill_selected", "bill", "B-17")
    make_service("biller").create_bill("BILL0001", 5)  # looks like a child code
    r = service.record_scan("BILL0001")
    assert r.reason == "bill_selected"


def test_a_bill_id_scanned_while_packing_a_parent_opens_the_bill_not_a_child(
    service: StationService, make_service
) -> None:
    """A bill id that also fits a child pattern, scanned with a parent selected (the bill's
    sheet lies on the bench): the bill, as with no parent selected; before, it was linked into
    the parent as a child bag."""
    assert make_service("biller").create_bill("BILL0001", 5).ok
    assert service.record_scan("SB00001").ok
    r = service.record_scan("BILL0001")
    assert (r.outcome, r.reason, r.kind, r.code) == (A, "bill_selected", "bill", "BILL0001")
    assert [e for e in service.event_log() if e["type"] == "child_linked"] == []
    assert service.lookup_bag("SB00001").child_count == 0
    current = service.current_parent()
    assert current is not None and current.code == "SB00001"  # still packing it


def test_a_double_read_of_the_child_that_completed_its_parent_is_a_harmless_rescan(
    service: StationService,
) -> None:
    """The scanner sends the 30th child twice; the first read completed the parent (no parent
    is selected after it). The second is an amber "already on", as any re-scan of a packed
    child, not a red "scan the next parent, then the child again" (which was not true)."""
    service.record_scan("SB00001")
    for i in range(29):
        assert service.record_scan(f"C{i:04d}").outcome is A
    assert service.record_scan("C0029").reason == "parent_completed"
    again = service.record_scan("C0029")
    assert (again.outcome, again.reason) == (W, "already_on_parent")
    assert "SB00001" in again.message and not again.changes.events
    assert service.lookup_bag("SB00001").child_count == 30
    loose = service.record_scan("C9999")  # a child never packed, still no parent: refused
    assert (loose.outcome, loose.reason) == (R, "no_parent")


def test_bill_ids_and_bag_codes_do_not_clash(service: StationService, make_service) -> None:
    service.record_scan("SB00001")
    service.record_scan("C1111")
    r = make_service("biller").create_bill("C1111", 5)
    assert (r.outcome, r.reason) == (R, "code_is_bag")


def test_event_and_view_commit_together(service: StationService) -> None:
    """A child link is one transaction: event row and view rows appear together."""
    service.record_scan("SB00001")
    service.record_scan("C1111")
    reader = service.store.connect()
    n_events = reader.execute(select(events.c.seq)).all()
    n_links = reader.execute(select(links.c.child_code)).all()
    reader.close()
    assert len(n_events) == 2 and len(n_links) == 1


def test_lookup_json_shape(service: StationService) -> None:
    fill(service, "SB00001", 2)
    bag = service.lookup_bag("sb00001").to_json()
    assert bag == {
        "code": "SB00001", "type": "parent", "status": "in_progress", "child_count": 2,
        "children": ["C00001001", "C00001000"], "parent": None, "bill": None,
    }
    child = service.lookup_bag("C00001000").to_json()
    assert child["type"] == "child" and child["parent"] == "SB00001"
    json.dumps(bag)


# -- field limits at entry: nothing the centre would refuse is queued ---------------------------

def _no_new_events(svc: StationService, before: int) -> bool:
    return len(svc.event_log()) == before


@pytest.mark.parametrize(("field", "value", "words"), [
    ("destination", "J" * 201, "Destination is too long: 201 characters (at most 200)"),
    ("destination", "J" * 300, "Destination is too long: 300 characters (at most 200)"),
    ("destination", "Jai\x00pur", "Destination holds a NUL character"),
    ("destination", "Jai\npur", "Destination holds a control character (\\x0a"),
    ("description", "d" * 1001, "Description is too long: 1001 characters (at most 1000)"),
    ("description", "mustard\x00", "Description holds a NUL character"),
    ("description", "mus\x1btard", "Description holds a control character (\\x1b"),
    ("description", "mustard\ud800", "Description is not valid text (a lone surrogate"),
    ("vehicle", "V" * 51, "Vehicle number is too long: 51 characters (at most 50)"),
    ("vehicle", "RJ14\t1234", "Vehicle number holds a control character (\\x09"),
])
def test_bill_text_over_the_limits_is_refused_when_typed(
    make_service, field: str, value: str, words: str
) -> None:
    biller = make_service("biller")
    r = biller.create_bill("B-17", 5, **{field: value})
    assert (r.outcome, r.reason) == (R, "field_limit")
    assert r.message.startswith(f"Bill B-17: {words}"), r.message
    assert "nothing was saved" in r.message
    assert biller.event_log() == [] and biller.lookup_bill("B-17") is None


def test_bill_text_at_the_limits_is_kept_exactly(make_service) -> None:
    biller = make_service("biller")
    desc = "mustard seed\nlot 7\tgrade A" + "d" * 973
    r = biller.create_bill("B-17", 5, desc, " " + "J" * 200 + " ", "V" * 50)
    assert r.outcome is A, r.message
    info = biller.lookup_bill("B-17")
    assert (info.description, info.destination, info.vehicle) == (desc, "J" * 200, "V" * 50)
    (ev,) = biller.event_log()
    assert ev["data"]["destination"] == "J" * 200  # trimmed before the check and the event


@pytest.mark.parametrize(("reason", "words"), [
    ("r" * 501, "Close reason is too long: 501 characters (at most 500)"),
    ("truck\x00left", "Close reason holds a NUL character"),
    ("truck\x07left", "Close reason holds a control character (\\x07"),
])
def test_a_close_reason_over_the_limits_is_refused(make_service, reason: str, words: str) -> None:
    biller = make_service("biller")
    biller.create_bill("B-1", 2)
    r = biller.close_bill("B-1", reason)
    assert (r.outcome, r.reason) == (R, "field_limit")
    assert words in r.message
    assert biller.lookup_bill("B-1").status == "new" and len(biller.event_log()) == 1
    r = biller.close_bill("B-1", "truck left early\nsecond line " + "r" * 400)
    assert r.outcome is W and biller.lookup_bill("B-1").status == "completed"


def test_codes_longer_than_the_central_column_are_never_stored(make_service, store) -> None:
    """A bag type whose pattern allows codes over 255 characters (bag.qr_id varchar(255))."""
    from station.codes import BagType
    from station.store.local import write_bag_types

    with store.connect(write=True) as conn, conn.begin():
        write_bag_types(conn, (BagType("LONG", r"L\d{10,400}", r"L\d", 30, 30.0, 1.0, "L0000000000"),))
    svc = make_service("biller")
    ok = "L" + "1" * 254
    assert svc.record_scan(ok).outcome is A  # 255 characters: fits
    r = svc.record_scan("L" + "2" * 300)
    assert (r.outcome, r.reason) == (R, "field_limit")
    assert "Bag code is too long: 301 characters (at most 255)" in r.message
    assert svc.lookup_bag("L" + "2" * 300) is None
    svc.create_bill("B-1", 2)
    before = len(svc.event_log())
    r = svc.add_parent_to_bill("B-1", "L" + "3" * 300)
    assert (r.outcome, r.reason) == (R, "field_limit") and "at most 255" in r.message
    assert len(svc.event_log()) == before


def test_an_event_over_the_limits_is_refused_whatever_its_source(make_service, store) -> None:
    """The last guard in the service: an area stored before the limits (over dispatch_area's
    varchar(50)) would make every parent event unsendable; it is refused, nothing stored."""
    from sqlalchemy import update

    from station.store.schema import settings as settings_table

    with store.connect(write=True) as conn, conn.begin():
        conn.execute(update(settings_table).where(settings_table.c.key == "area")
                     .values(value=json.dumps("N" * 60)))
    svc = make_service("dispatcher")
    r = svc.record_scan("SB00001")
    assert (r.outcome, r.reason) == (R, "field_limit")
    assert "data.area is too long: 60 characters (at most 50)" in r.message
    assert svc.event_log() == [] and svc.lookup_bag("SB00001") is None
    # a scan source from a caller is bounded too
    with store.connect(write=True) as conn, conn.begin():
        conn.execute(update(settings_table).where(settings_table.c.key == "area")
                     .values(value=json.dumps("North")))
    svc.reload()
    r = svc.record_scan("SB00001", source="s" * 40)
    assert r.reason == "field_limit" and "data.source" in r.message
    assert svc.record_scan("SB00001", source="camera").outcome is A


def test_every_event_the_station_makes_passes_the_centres_check(service, make_service) -> None:
    from station.events import Event
    from station.limits import validate_wire_event

    fill(service, "SB00001", 30)
    fill(service, "M444-00002", 3)
    service.record_scan("LABEL NO.:0016586 LOT NO.:STAR44GG24611, D.O.T.:30/09/2025")
    service.undo_last()
    service.finish_parent()
    biller = make_service("biller")
    biller.create_bill("b-17/x", 2, "mustard\nseed", "Jaipur — गोदाम", "RJ14 1234")
    biller.add_parent_to_bill("B-17/X", "SB00001")
    biller.add_parent_to_bill("B-17/X", "SB09999")
    biller.remove_parent_from_bill("B-17/X", "SB09999")
    biller.close_bill("B-17/X", "short\ttoday")
    make_service("admin").reopen_bill("B-17/X")
    log = service.event_log()
    assert {e["type"] for e in log} >= {"parent_scanned", "child_linked", "child_unlinked",
                                        "parent_finished", "bill_created", "bill_parent_added",
                                        "bill_parent_removed", "bill_closed", "bill_reopened"}
    for e in log:
        ev = Event(e["event_id"], e["station_id"], e["seq"], e["type"], e["operator"],
                   e["device_time"], e["parent_code"], e["child_code"], e["bill_id"], e["data"],
                   e["app_version"], e["protocol_version"])
        assert validate_wire_event(ev.to_wire()) is None, e


# -- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "words"), [
    ({"area": "N" * 51}, "Setting area: Area is too long: 51 characters (at most 50)"),
    ({"area": "Nor\x00th"}, "Setting area: Area holds a NUL character"),
    ({"area": "   "}, "needs a station id and an area"),
    ({"station_id": "DISPATCH 2"}, "Setting station_id: Station id must be 1-40 capital"),
    ({"station_id": "D" * 41}, "at most 40"),
    ({"camera": "/dev/video0\n"}, "Setting camera: Camera holds a control character"),
    ({"camera": "c" * 4097}, "at most 4096"),
    ({"serial_port": "/dev/tty\x00"}, "Setting serial_port: Serial port holds a NUL"),
    ({"central_url": "https://centre/" + "x" * 2100}, "Setting central_url: Centre URL is too long"),
    ({"camera_resolution": "1280x720\x1b"}, "control character"),
    ({"camera_holdoff_s": float("nan")}, "Setting camera_holdoff_s: nan is not a finite number"),
])
def test_settings_over_the_limits_are_not_saved(store, change: dict, words: str) -> None:
    from station.errors import StoreError

    before = store.settings()
    with pytest.raises(StoreError) as info:
        store.save_settings(before.replace(**change))
    assert words in info.value.message
    assert store.settings() == before


def test_settings_within_the_limits_are_saved(store) -> None:
    new = store.settings().replace(area="A" * 50, camera="rtsp://cam/" + "c" * 2000,
                                   station_id="D" * 40)
    store.save_settings(new)
    assert store.settings() == new


def test_init_refuses_a_station_id_the_centre_could_not_register(tmp_path) -> None:
    from station.errors import StoreError
    from station.paths import resolve
    from station.settings import parse_setting
    from station.store.local import LocalStore

    store = LocalStore.open(resolve(tmp_path / "s"), create=True)
    try:
        with pytest.raises(StoreError) as info:
            store.init_station("dispatch 1", "North")
        assert "Station id must be 1-40 capital letters" in info.value.message
        with pytest.raises(StoreError) as info:
            store.init_station("D1", "N" * 51)
        assert "Area is too long: 51 characters (at most 50)" in info.value.message
        assert store.init_station("dispatch-1", "North").station_id == "DISPATCH-1"
    finally:
        store.close()
    with pytest.raises(ValueError, match="Setting area: Area is too long"):
        parse_setting("area", "N" * 51)
    with pytest.raises(ValueError, match="not a finite number"):
        parse_setting("camera_holdoff_s", "inf")
    assert parse_setting("camera", "0") == "0"


def test_a_station_id_from_before_the_limits_stays_usable(store, make_service) -> None:
    """An id set up before (one the centre could not register) is kept: the station works alone,
    its other settings can be saved, its events are recorded."""
    from sqlalchemy import update

    from station.store.schema import settings as settings_table

    with store.connect(write=True) as conn, conn.begin():
        conn.execute(update(settings_table).where(settings_table.c.key == "station_id")
                     .values(value=json.dumps("old station")))
    store.save_settings(store.settings().replace(camera="0"))
    assert store.settings().station_id == "old station" and store.settings().camera == "0"
    svc = make_service("dispatcher")
    assert svc.record_scan("SB00001").outcome is A
    assert svc.event_log()[-1]["station_id"] == "old station"


def test_reads_do_not_wait_for_another_writer(service: StationService, make_service) -> None:
    """Another program (the sync worker, a CLI command) holds the store's write lock. What the
    screens read (a bag, the current parent, the event log, a bill) is read at once, from what
    was committed, instead of waiting up to 5 s and failing as "store busy"; a write still waits
    for its turn."""
    import sqlite3
    import time

    assert make_service("biller").create_bill("B-1", 3).ok
    assert service.record_scan("SB00001").ok and service.record_scan("C0001").ok
    other = sqlite3.connect(str(service.store.paths.store), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        t0 = time.monotonic()
        bag = service.lookup_bag("SB00001")
        current = service.current_parent()
        log = service.event_log()
        bill = service.bill_progress("B-1")
        took = time.monotonic() - t0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert took < 1.0, took
    assert bag.child_count == 1 and current is not None and current.code == "SB00001"
    assert [e["type"] for e in log][-2:] == ["parent_scanned", "child_linked"]
    assert bill.target == 3


def test_a_code_held_here_as_a_child_never_goes_on_a_bill(service: StationService, make_service,
                                                         store) -> None:
    """A bag type added at the centre whose pattern takes in codes this station already holds
    as child bags: such a code is a child for ever (docs/rules.md §1), so loading it on a bill
    is `not_a_parent` (§4.2), as selecting it as a parent is `code_is_child`; it is never a
    line of the bill that counts towards its target."""
    from station.codes import BagType
    from station.store.local import write_bag_types

    service.record_scan("SB00001")
    service.record_scan("TB1234")  # a child bag today
    with store.engine.begin() as conn:
        write_bag_types(conn, (BagType("TB", r"TB\d{4}", r"TB\d", 20, 20.0, 1.0, "TB1234"),))
    service.reload()
    assert service.record_scan("TB1234").reason == "code_is_child"
    biller = make_service("biller")
    biller.create_bill("B-1", 1)
    r = biller.add_parent_to_bill("B-1", "TB1234")
    assert (r.outcome, r.reason) == (R, "not_a_parent")
    assert "TB1234" in r.message and not r.changes.events
    assert r.bill.linked == 0 and biller.lookup_bag("TB1234").bill is None


@pytest.fixture
def kolkata(monkeypatch: pytest.MonkeyPatch):
    """The station's local time zone is India's (UTC+05:30), as at a warehouse there."""
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_child_on_another_parent_says_when_in_local_time(service: StationService,
                                                           kolkata) -> None:
    """The refusal names when the child was linked in the station's own time, as every other
    time a station shows (reports, the lockout): a link made at 13:30 in India is not "08:00"."""
    service.record_scan("SB00001")
    service.record_scan("C1111")  # 08:00 UTC: 13:30 in India
    service.record_scan("SB00002")
    r = service.record_scan("C1111")
    assert (r.outcome, r.reason) == (R, "child_on_other_parent")
    assert r.message == "C1111 is already in SB00001, linked at station TEST-1 at 13:30"


def test_a_bill_id_shaped_like_a_parent_code_is_refused(service: StationService,
                                                        make_service) -> None:
    """A bill id that reads as a parent code (a sale bill numbered SB00123) would clash with
    the bag: scanned on the bill screen it would go onto the open bill as a parent, scanned
    while packing it would make a parent bag of that code (docs/rules.md §1: a read that is
    a bag code is a bag; bill ids and bag codes do not clash). It is refused when created."""
    from station.bill_routing import BillCursor, bill_read

    biller = make_service("biller")
    r = biller.create_bill("sb00123", 2)
    assert (r.outcome, r.reason) == (R, "code_is_bag")
    assert r.message == "SB00123 is a bag code: choose another bill id"
    assert biller.bill_progress("SB00123") is None
    assert biller.create_bill("M444-00017", 2).reason == "code_is_bag"
    assert biller.create_bill("SB-00123", 2).outcome is A  # not a bag code: a bill id
    cursor = BillCursor()
    assert bill_read(biller, cursor, "SB-00123", "scanner").result.reason == "bill_selected"
