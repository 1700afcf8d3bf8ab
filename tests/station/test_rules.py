"""Link, bill and role decisions (docs/rules.md §2, §4, §5), driven by a table of rule cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from station.codes import CodeKind
from station.rules import (
    Action,
    BillFacts,
    ChildFacts,
    Outcome,
    ParentFacts,
    bill_status_after,
    check_permission,
    decide_bill_add,
    decide_bill_close,
    decide_bill_remove,
    decide_bill_reopen,
    decide_create_bill,
    decide_finish,
    decide_link,
    decide_select_parent,
    decide_unlink,
    may,
    parent_status,
)

A, W, R = Outcome.ACCEPTED, Outcome.WARNING, Outcome.REFUSED

SB1 = ParentFacts("SB00001", 30, 5)
SB1_FULL = ParentFacts("SB00001", 30, 30)
SB1_LAST = ParentFacts("SB00001", 30, 29)
SB1_CLOSED_BILL = ParentFacts("SB00001", 30, 5, "B-17", True)
M1 = ParentFacts("M444-00001", 15, 14)

LINK_CASES = [
    # id, parent, child, outcome, reason, message fragment
    ("no parent", None, ChildFacts("C1234"), R, "no_parent", "Scan a parent bag first"),
    ("full", SB1_FULL, ChildFacts("C1234"), R, "parent_full",
     "SB00001 is full (30/30). Scan the next parent bag"),
    ("full before already-on", SB1_FULL, ChildFacts("C1234", CodeKind.CHILD, "SB00001"), R,
     "parent_full", "is full"),
    ("already on this parent", SB1, ChildFacts("C1234", CodeKind.CHILD, "SB00001"), W,
     "already_on_parent", "C1234 already on SB00001"),
    ("on another parent", SB1, ChildFacts("C1234", CodeKind.CHILD, "SB00077"), R,
     "child_on_other_parent", "C1234 is already in SB00077"),
    ("other parent, with where", SB1,
     ChildFacts("C1234", CodeKind.CHILD, "SB00077", "station DISPATCH-2 at 10:41"), R,
     "child_on_other_parent", "C1234 is already in SB00077, linked at station DISPATCH-2 at 10:41"),
    ("new child", SB1, ChildFacts("C1234"), A, "child_linked", "C1234 linked to SB00001 (6/30)"),
    ("known free child", SB1, ChildFacts("C1234", CodeKind.CHILD), A, "child_linked", "(6/30)"),
    ("completes the parent", SB1_LAST, ChildFacts("C1234"), A, "parent_completed",
     "SB00001 complete (30/30)"),
    ("M444 completes at 15", M1, ChildFacts("C9"), A, "parent_completed", "(15/15)"),
    ("a parent code is never a child", SB1, ChildFacts("SB00002", CodeKind.PARENT), R,
     "code_is_parent", "SB00002 is a parent bag"),
    ("parent on closed bill", SB1_CLOSED_BILL, ChildFacts("C1234"), R, "parent_on_closed_bill",
     "SB00001 is on closed bill B-17"),
]


@pytest.mark.parametrize("case", LINK_CASES, ids=[c[0] for c in LINK_CASES])
def test_link_rules(case: tuple) -> None:
    _, parent, child, outcome, reason, fragment = case
    d = decide_link(parent, child)
    assert (d.outcome, d.reason) == (outcome, reason)
    assert fragment in d.message


def test_select_parent() -> None:
    assert decide_select_parent("SB00001", None).reason == "parent_created"
    assert decide_select_parent("SB00001", CodeKind.PARENT).reason == "parent_selected"
    d = decide_select_parent("SB00001", CodeKind.CHILD)
    assert d.refused and d.reason == "code_is_child" and "SB00001 is a child bag" in d.message


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

UNLINK_CASES = [
    # id, username, role, linked_by, minutes ago, parent, outcome, reason
    ("dispatcher own recent", "ann", "dispatcher", "ann", 5, SB1, A, "child_unlinked"),
    ("dispatcher own at 60 min", "ann", "dispatcher", "ann", 60, SB1, A, "child_unlinked"),
    ("dispatcher own 61 min", "ann", "dispatcher", "ann", 61, SB1, R, "undo_too_old"),
    ("dispatcher other's", "ann", "dispatcher", "bob", 1, SB1, R, "not_your_link"),
    ("biller any", "bea", "biller", "ann", 600, SB1, A, "child_unlinked"),
    ("admin any", "root", "admin", "ann", 6000, SB1, A, "child_unlinked"),
    ("not linked", "bea", "biller", None, 0, None, R, "not_linked"),
    ("closed bill", "bea", "admin", "ann", 1, SB1_CLOSED_BILL, R, "parent_on_closed_bill"),
    ("unknown role", "eve", "visitor", "eve", 1, SB1, R, "not_allowed"),
]


@pytest.mark.parametrize("case", UNLINK_CASES, ids=[c[0] for c in UNLINK_CASES])
def test_unlink_rules(case: tuple) -> None:
    _, user, role, linked_by, ago, parent, outcome, reason = case
    d = decide_unlink(
        child_code="C1234", parent=parent, linked_by=linked_by,
        linked_at=NOW - timedelta(minutes=ago) if linked_by else None,
        username=user, role=role, now=NOW,
    )
    assert (d.outcome, d.reason) == (outcome, reason)
    assert "C1234" in d.message or "SB00001" in d.message


def test_finish() -> None:
    assert decide_finish(None).reason == "no_parent"
    short = decide_finish(SB1)
    assert short.outcome is W and "finished short (5/30)" in short.message
    assert decide_finish(SB1_FULL).outcome is A


BILL = BillFacts("B-17", "processing", 40, 10)
BILL_NEW = BillFacts("B-17", "new", 40, 0)
BILL_FULL = BillFacts("B-17", "processing", 40, 40)
BILL_CLOSED = BillFacts("B-17", "completed", 40, 40)
FULL_PARENT = ParentFacts("SB00001", 30, 30)

BILL_ADD_CASES = [
    # id, bill, parent, kwargs, outcome, reason, fragment
    ("no bill", None, FULL_PARENT, {}, R, "no_bill", "Bill B-17 does not exist"),
    ("closed bill", BILL_CLOSED, FULL_PARENT, {}, R, "bill_closed", "Bill B-17 is closed"),
    ("already on this bill", BILL, ParentFacts("SB00001", 30, 30, "B-17"), {}, W,
     "already_on_bill", "SB00001 already on bill B-17"),
    ("on another bill", BILL, ParentFacts("SB00001", 30, 30, "B-12"), {}, R,
     "parent_on_other_bill", "SB00001 is on bill B-12"),
    ("bill full", BILL_FULL, FULL_PARENT, {}, R, "bill_full", "Bill B-17 is full (40/40)"),
    ("short parent warns", BILL, ParentFacts("SB00001", 30, 12), {}, W, "parent_short",
     "SB00001 has only 12/30 children"),
    ("short parent refused by setting", BILL, ParentFacts("SB00001", 30, 12),
     {"short_is_error": True}, R, "parent_short", "12/30"),
    ("unknown parent provisional", BILL, None, {}, W, "parent_unknown", "provisionally"),
    ("full parent", BILL_NEW, FULL_PARENT, {}, A, "bill_parent_added",
     "SB00001 added to bill B-17 (1/40)"),
    ("child is not a parent", BILL, None, {"known_as_child": True}, R, "not_a_parent",
     "SB00001 is a child bag"),
]


@pytest.mark.parametrize("case", BILL_ADD_CASES, ids=[c[0] for c in BILL_ADD_CASES])
def test_bill_add_rules(case: tuple) -> None:
    _, bill, parent, kwargs, outcome, reason, fragment = case
    d = decide_bill_add("B-17", bill, "SB00001", parent, **kwargs)
    assert (d.outcome, d.reason) == (outcome, reason)
    assert fragment in d.message


def test_warnings_that_record_a_change() -> None:
    # A short or unknown parent is still linked; a re-scan on the same bill is not.
    assert decide_bill_add("B-17", BILL, "SB00001", ParentFacts("SB00001", 30, 1)).changes
    assert decide_bill_add("B-17", BILL, "SB00001", None).changes
    again = ParentFacts("SB00001", 30, 30, "B-17")
    assert not decide_bill_add("B-17", BILL, "SB00001", again).changes
    assert not decide_link(SB1, ChildFacts("C1", CodeKind.CHILD, "SB00001")).changes


def test_create_bill_rules() -> None:
    assert decide_create_bill("B-17", 1, False).outcome is A
    assert decide_create_bill("B-17", 500, False).outcome is A
    for bad in (0, 501, -3):
        d = decide_create_bill("B-17", bad, False)
        assert d.reason == "bad_target" and "1-500" in d.message
    assert decide_create_bill("B-17", 10, True).reason == "bill_exists"


def test_bill_remove_close_reopen_rules() -> None:
    assert decide_bill_remove("B-17", BILL, "SB00001", "B-17").outcome is A
    assert decide_bill_remove("B-17", BILL, "SB00001", "B-12").reason == "not_on_bill"
    assert decide_bill_remove("B-17", BILL_CLOSED, "SB00001", "B-17").reason == "bill_closed"
    assert decide_bill_close("B-17", BILL_FULL, None).outcome is A
    short = decide_bill_close("B-17", BILL, "")
    assert short.reason == "reason_required" and "10/40" in short.message
    ok_short = decide_bill_close("B-17", BILL, "truck left")
    assert ok_short.outcome is W and "truck left" in ok_short.message
    assert decide_bill_close("B-17", BILL_CLOSED, "x").reason == "bill_closed"
    assert decide_bill_reopen("B-17", BILL_CLOSED).outcome is A
    assert decide_bill_reopen("B-17", BILL).reason == "bill_not_closed"
    assert decide_bill_reopen("B-17", None).reason == "no_bill"


@pytest.mark.parametrize(
    "role,action,allowed",
    [
        ("dispatcher", Action.SCAN, True),
        ("dispatcher", Action.BILLS, False),
        ("dispatcher", Action.UNLINK_ANY, False),
        ("dispatcher", Action.REOPEN_BILL, False),
        ("biller", Action.BILLS, True),
        ("biller", Action.UNLINK_ANY, True),
        ("biller", Action.REOPEN_BILL, False),
        ("biller", Action.SETTINGS, False),
        ("admin", Action.REOPEN_BILL, True),
        ("admin", Action.SETTINGS, True),
        ("Admin", Action.SETTINGS, True),
        ("nobody", Action.SCAN, False),
    ],
)
def test_roles(role: str, action: Action, allowed: bool) -> None:
    assert may(role, action) is allowed
    denial = check_permission(role, action, "pat")
    assert (denial is None) is allowed
    if denial:
        assert denial.reason == "not_allowed" and "pat" in denial.message


def test_statuses() -> None:
    assert [parent_status(n, 30) for n in (0, 1, 29, 30)] == [
        "pending", "in_progress", "in_progress", "completed"]
    assert bill_status_after(0, False) == "new"
    assert bill_status_after(3, False) == "processing"
    assert bill_status_after(3, True) == "completed"


def test_a_link_nobody_here_made_is_said_to_be_the_central_systems() -> None:
    """A link that came from the centre with no operator (made in the web system): a
    dispatcher's undo is refused naming the central system, not "linked by None"."""
    d = decide_unlink(child_code="C1234", parent=SB1, linked_by=None, linked_at=None,
                      username="dan", role="dispatcher", now=NOW)
    assert d.reason == "not_your_link"
    assert "linked by the central system" in d.message and "None" not in d.message
