"""Codes a station sends in another spelling (lower case, padded) are the same bag at the
centre (docs/rules.md §1): what the centre records of an event must name the bag it decided
about, so that who linked a child (the undo rule, the winner named in a refusal) and the
replay of invariant 7 find it."""

from __future__ import annotations

import pytest

from central.invariants import check_invariants
from tests.sync.conftest import Events, push_as

pytestmark = pytest.mark.central


def test_a_child_linked_in_lower_case_is_still_the_dispatchers_to_undo(central_db) -> None:
    access = central_db.add_station("LC1")
    ev = Events("LC1")
    first = push_as(access, "LC1", [ev.parent("SB00001"), ev.link("SB00001", "c0001")])
    assert [r.result for r in first.results] == ["applied", "applied"]
    undo = push_as(access, "LC1", [ev.unlink("SB00001", "C0001")])
    assert (undo.results[0].result, undo.results[0].reason) == ("applied", "child_unlinked"), \
        undo.results[0].message
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_the_refusal_names_the_station_that_linked_a_child_sent_in_lower_case(central_db) -> None:
    a = central_db.add_station("LC2")
    b = central_db.add_station("LC3")
    ea, eb = Events("LC2"), Events("LC3")
    push_as(a, "LC2", [ea.parent("SB00002"), ea.link("SB00002", " c0002 ")])
    got = push_as(b, "LC3", [eb.parent("SB00003"), eb.link("SB00003", "C0002")]).results[1]
    assert got.reason == "child_on_other_parent"
    assert "station LC2" in (got.message or ""), got.message


def test_a_link_sent_under_another_spelling_of_the_operator_is_still_theirs_to_undo(
        central_db) -> None:
    """Operators are matched ignoring case (and surrounding spaces) at the centre as at login:
    the link made as 'Dispatcher ' is the user dispatcher's, whom the undo rule lets undo it."""
    access = central_db.add_station("LC4")
    ev = Events("LC4")
    first = push_as(access, "LC4", [ev.parent("SB00004"),
                                    ev.link("SB00004", "C0004", operator="Dispatcher ")])
    assert [r.result for r in first.results] == ["applied", "applied"]
    undo = push_as(access, "LC4", [ev.unlink("SB00004", "C0004", operator="dispatcher")])
    assert (undo.results[0].result, undo.results[0].reason) == ("applied", "child_unlinked"), \
        undo.results[0].message
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_a_child_sent_as_its_printed_label_is_the_bag_of_that_label_number(central_db) -> None:
    """A child field holding a whole printed label ("LABEL NO.:0016586 LOT NO.:...") is the
    child of that label number (docs/rules.md §1.5), at the centre too: a label number already
    in another parent is refused as child_on_other_parent, the batch's other events stand."""
    a = central_db.add_station("LC5")
    b = central_db.add_station("LC6")
    ea, eb = Events("LC5"), Events("LC6")
    push_as(a, "LC5", [ea.parent("SB00005"), ea.link("SB00005", "0016586")])
    got = push_as(b, "LC6", [eb.parent("SB00006"),
                            eb.link("SB00006", "LABEL NO.:0016586 LOT NO.:L7"),
                            eb.link("SB00006", "C0006")]).results
    assert [r.result for r in got] == ["applied", "rejected", "applied"], \
        [(r.reason, r.message) for r in got]
    assert got[1].reason == "child_on_other_parent", got[1].message
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_an_event_under_another_stations_event_id_is_rejected_not_given_its_result(
        central_db) -> None:
    """Event ids are unique at the centre. An event that comes from one station under an id
    another station's event holds cannot be recorded: it is rejected (so it reaches that
    station's sync issues) instead of being answered with the other station's result, which
    made a station mark an event applied that the centre never applied."""
    a = central_db.add_station("LC7")
    b = central_db.add_station("LC8")
    ea, eb = Events("LC7"), Events("LC8")
    theirs = ea.parent("SB00071")
    push_as(a, "LC7", [theirs, ea.parent("SB00072")])
    mine = eb.parent("SB00081")
    mine["event_id"] = theirs["event_id"]  # same sequence number 1 as well
    got = push_as(b, "LC8", [mine, eb.parent("SB00082")])
    assert [(r.event_id, r.seq) for r in got.results] == [(mine["event_id"], 1),
                                                          (got.results[1].event_id, 2)]
    assert got.results[0].result == "rejected", got.results[0]
    assert "SB00071" not in (got.results[0].message or "")
    assert got.results[1].result == "applied"
    with central_db.engine().connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM bag WHERE qr_id = 'SB00081'").scalar() == 0
        assert check_invariants(conn) == []


def test_an_event_sent_again_twice_in_one_batch_gets_one_result(central_db) -> None:
    """The same event twice in one batch gets the first one's result (docs/sync.md §3), also
    when a person asked to send it again: both copies are answered with the new result, not
    the second with the refusal it had before (which the station would have kept)."""
    from tests.sync.stationkit import central_exec

    access = central_db.add_station("LC9")
    central_exec(central_db.url, """UPDATE "user" SET verified = false WHERE username = 'dispatcher'""")
    ev = Events("LC9")
    first = ev.parent("SB00091")
    assert push_as(access, "LC9", [first]).results[0].reason == "operator_not_verified"
    central_exec(central_db.url, """UPDATE "user" SET verified = true WHERE username = 'dispatcher'""")
    got = push_as(access, "LC9", [first, first], resend=[first["event_id"]]).results
    assert [(r.result, r.reason) for r in got] == [("applied", "parent_created")] * 2, got
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_two_users_differing_only_in_case_are_each_themselves(central_db) -> None:
    """The web system may hold 'kumar' (a dispatcher) and 'Kumar' (an admin). A station logs in
    the one spelt as typed (station.session), so the centre decides an event under the user of
    that exact spelling, not whichever of the two it read last."""
    from tests.sync.conftest import DEMO_AREA
    from tests.sync.stationkit import central_exec

    for name, role in (("kumar", "dispatcher"), ("Kumar", "admin"), ("kumar ", "biller")):
        # as the web system writes them (tracetrack-central add-user refuses a second spelling)
        central_exec(central_db.url, 'INSERT INTO "user" (username, password_hash, role, '
                     "dispatch_area, verified) VALUES (%s, 'x', %s, %s, true)",
                     name, role, DEMO_AREA)
    access = central_db.add_station("LC10")
    ev = Events("LC10")
    got = push_as(access, "LC10", [
        ev.bill("B-KUMAR", 5, operator="kumar"),   # a dispatcher may not work on bills
        ev.bill("B-KUMAR2", 5, operator="Kumar"),  # an admin may
    ]).results
    assert [(r.result, r.reason) for r in got] == [
        ("rejected", "not_allowed"), ("applied", "bill_created")], got
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []


def test_a_link_of_a_user_differing_only_in_case_is_not_yours_to_undo(central_db) -> None:
    from tests.sync.conftest import DEMO_AREA
    from tests.sync.stationkit import central_exec

    central_exec(central_db.url, 'INSERT INTO "user" (username, password_hash, role, '
                 "dispatch_area, verified) VALUES ('Dispatcher', 'x', 'dispatcher', %s, true)",
                 DEMO_AREA)
    access = central_db.add_station("LC11")
    ev = Events("LC11")
    push_as(access, "LC11", [ev.parent("SB00111"),
                             ev.link("SB00111", "C0111", operator="Dispatcher")])
    got = push_as(access, "LC11", [ev.unlink("SB00111", "C0111", operator="dispatcher")])
    assert got.results[0].reason == "not_your_link", got.results[0]


def test_an_event_applied_on_send_again_takes_its_place_in_the_centres_order(central_db) -> None:
    """Send again decides a refused event anew, after everything applied since: replaying the
    applied events in the centre's order (invariant 7) must see it where it was applied. A
    bill line refused (operator not verified) while its bill was closed, applied on Send again
    after the bill was reopened, changed no closed bill."""
    from tests.sync.stationkit import central_exec

    access = central_db.add_station("LC12")
    ev = Events("LC12")
    first = push_as(access, "LC12", [ev.parent("SB00121"), ev.parent("SB00122"),
                                     ev.bill("B-12", 2), ev.bill_add("B-12", "SB00121"),
                                     ev.bill_close("B-12", "lorry left early")])
    assert all(r.result == "applied" for r in first.results), first.results
    central_exec(central_db.url, """UPDATE "user" SET verified = false WHERE username = 'biller'""")
    late = ev.bill_add("B-12", "SB00122")
    assert push_as(access, "LC12", [late]).results[0].reason == "operator_not_verified"
    assert push_as(access, "LC12", [ev.bill_reopen("B-12")]).results[0].result == "applied"
    central_exec(central_db.url, """UPDATE "user" SET verified = true WHERE username = 'biller'""")
    again = push_as(access, "LC12", [late], resend=[late["event_id"]]).results[0]
    assert (again.result, again.reason) == ("applied", "parent_short"), again
    with central_db.engine().connect() as conn:
        assert check_invariants(conn) == []
