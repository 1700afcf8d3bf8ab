"""station.effects: what an accepted event changes, as data (docs/rules.md §3, §4)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from station.codes import CodeKind
from station.effects import (
    NO_EFFECTS,
    BillChange,
    Effects,
    ParentChange,
    bill_after,
    effects_of,
    parent_after,
    undo_of,
)
from station.events import EventType
from station.reasons import Reason
from station.rules import BillFacts, ChildFacts, ParentFacts, decide_link, decide_unlink

E = EventType


def test_parent_figures_follow_the_count() -> None:
    assert parent_after("SB00001", 0, 30, 1.0) == ParentChange("SB00001", 0, 0.0, "pending")
    assert parent_after("SB00001", 1, 30, 1.0) == ParentChange("SB00001", 1, 1.0, "in_progress")
    assert parent_after("SB00001", 29, 30, 2.5) == ParentChange("SB00001", 29, 72.5, "in_progress")
    assert parent_after("SB00001", 30, 30, 1.0) == ParentChange("SB00001", 30, 30.0, "completed")
    # a bag type not known here: capacity 0, so any child completes it
    assert parent_after("X0001", 1, 0, 1.0).status == "completed"


def test_bill_status_follows_lines_unless_closed() -> None:
    assert bill_after(BillFacts("B-1", "processing", 5, 1), 0) == BillChange("B-1", 0, "new")
    assert bill_after(BillFacts("B-1", "new", 5, 0), 1) == BillChange("B-1", 1, "processing")
    assert bill_after(BillFacts("B-1", "completed", 5, 5), 4) == BillChange("B-1", 4, None)


def test_link_adds_the_link_and_counts_the_parent() -> None:
    parent = ParentFacts("SB00001", 30, 12)
    eff = effects_of(E.CHILD_LINKED, parent=parent, child=ChildFacts("C0001"), kg_per_child=1.0)
    assert eff == Effects(parent=ParentChange("SB00001", 13, 13.0, "in_progress"),
                          link_added=("C0001", "SB00001"))
    full = effects_of(E.CHILD_LINKED, parent=ParentFacts("SB00001", 30, 29),
                      child=ChildFacts("C0002"))
    assert full.parent == ParentChange("SB00001", 30, 30.0, "completed")


def test_link_to_a_parent_not_held_is_the_link_only() -> None:
    eff = effects_of(E.CHILD_LINKED, child=ChildFacts("C0001"), parent_code="SB00009")
    assert eff == Effects(link_added=("C0001", "SB00009"))
    assert effects_of(E.CHILD_LINKED, parent=ParentFacts("SB00001", 30, 0)) == NO_EFFECTS


def test_unlink_removes_the_link_when_it_is_there() -> None:
    parent = ParentFacts("SB00001", 30, 30)
    eff = effects_of(E.CHILD_UNLINKED, parent=parent,
                     child=ChildFacts("C0001", CodeKind.CHILD, "SB00001"), kg_per_child=1.0)
    assert eff == Effects(parent=ParentChange("SB00001", 29, 29.0, "in_progress"),
                          link_removed=("C0001", "SB00001"))
    last = effects_of(E.CHILD_UNLINKED, parent=ParentFacts("SB00001", 30, 1),
                      child=ChildFacts("C0001", CodeKind.CHILD, "SB00001"))
    assert last.parent == ParentChange("SB00001", 0, 0.0, "pending")


def test_unlink_of_a_link_that_is_not_there_keeps_the_figures() -> None:
    # a replay over state that moved on: the figures are those of what is there
    parent = ParentFacts("SB00001", 30, 4)
    for child in (ChildFacts("C0001"), ChildFacts("C0001", CodeKind.CHILD, "SB00002"), None):
        eff = effects_of(E.CHILD_UNLINKED, parent=parent, child=child)
        assert eff == Effects(parent=ParentChange("SB00001", 4, 4.0, "in_progress"))


def test_unlink_with_a_parent_not_held() -> None:
    there = ChildFacts("C0001", CodeKind.CHILD, "SB00009")
    assert effects_of(E.CHILD_UNLINKED, child=there, parent_code="SB00009") == Effects(
        link_removed=("C0001", "SB00009"))
    assert effects_of(E.CHILD_UNLINKED, child=there, parent_code="SB00001") == NO_EFFECTS
    assert effects_of(E.CHILD_UNLINKED, child=ChildFacts("C0001"),
                      parent_code="SB00001") == NO_EFFECTS


def test_parent_scan_creates_an_unknown_parent_only() -> None:
    eff = effects_of(E.PARENT_SCANNED, parent_code="SB00001", kg_per_child=1.0)
    assert eff == Effects(parent=ParentChange("SB00001", 0, 0.0, "pending"), created=True)
    known = ParentFacts("SB00001", 30, 3)
    assert effects_of(E.PARENT_SCANNED, parent=known, parent_code="SB00001") == NO_EFFECTS


def test_parent_finished_is_a_marker() -> None:
    assert effects_of(E.PARENT_FINISHED, parent=ParentFacts("SB00001", 30, 3)) == NO_EFFECTS


def test_bill_created_is_new_and_empty() -> None:
    assert effects_of(E.BILL_CREATED, bill_id="B-1") == Effects(
        bill=BillChange("B-1", 0, "new"), created=True)


def test_bill_line_added() -> None:
    bill = BillFacts("B-1", "new", 2, 0)
    assert effects_of(E.BILL_PARENT_ADDED, parent_code="SB00001", bill=bill) == Effects(
        bill=BillChange("B-1", 1, "processing"), line_added=("SB00001", "B-1"))
    # a parent given by its facts only
    eff = effects_of(E.BILL_PARENT_ADDED, parent=ParentFacts("SB00002", 30, 30), bill=bill)
    assert eff.line_added == ("SB00002", "B-1")
    # a closed bill (a replay over the centre's state) keeps its status
    closed = BillFacts("B-1", "completed", 2, 2)
    assert effects_of(E.BILL_PARENT_ADDED, parent_code="SB00001", bill=closed).bill == \
        BillChange("B-1", 3, None)
    # a bill not held: the line only
    assert effects_of(E.BILL_PARENT_ADDED, parent_code="SB00001", bill_id="B-9") == Effects(
        line_added=("SB00001", "B-9"))


def test_bill_line_removed() -> None:
    bill = BillFacts("B-1", "processing", 2, 1)
    assert effects_of(E.BILL_PARENT_REMOVED, parent_code="SB00001", bill=bill,
                      on_bill="B-1") == Effects(bill=BillChange("B-1", 0, "new"),
                                                line_removed=("SB00001", "B-1"))
    # not on it (any more): nothing removed, the status follows the lines there are
    assert effects_of(E.BILL_PARENT_REMOVED, parent_code="SB00001", bill=bill,
                      on_bill="B-2") == Effects(bill=BillChange("B-1", 1, "processing"))
    assert effects_of(E.BILL_PARENT_REMOVED, parent_code="SB00001", bill_id="B-9",
                      on_bill="B-9") == Effects(line_removed=("SB00001", "B-9"))
    assert effects_of(E.BILL_PARENT_REMOVED, parent_code="SB00001", bill_id="B-9",
                      on_bill=None) == NO_EFFECTS


def test_bill_closed_and_reopened() -> None:
    short = BillFacts("B-1", "processing", 5, 3)
    assert effects_of(E.BILL_CLOSED, bill=short, closed_reason="truck left") == Effects(
        bill=BillChange("B-1", 3, "completed", "truck left", True))
    closed = BillFacts("B-1", "completed", 5, 3)
    assert effects_of(E.BILL_REOPENED, bill=closed) == Effects(
        bill=BillChange("B-1", 3, "processing", None, True))
    empty = BillFacts("B-2", "completed", 5, 0)
    assert effects_of(E.BILL_REOPENED, bill=empty).bill == BillChange("B-2", 0, "new", None, True)
    assert effects_of(E.BILL_CLOSED) == NO_EFFECTS
    assert effects_of(E.BILL_REOPENED) == NO_EFFECTS


def test_undo_of_a_rejected_event() -> None:
    assert undo_of(E.CHILD_LINKED, Reason.CHILD_ON_OTHER_PARENT) is E.CHILD_UNLINKED
    assert undo_of(E.CHILD_UNLINKED, Reason.PARENT_ON_CLOSED_BILL) is E.CHILD_LINKED
    assert undo_of(E.CHILD_UNLINKED, Reason.NOT_LINKED) is None
    assert undo_of(E.BILL_PARENT_ADDED, Reason.BILL_FULL) is E.BILL_PARENT_REMOVED
    assert undo_of(E.BILL_PARENT_ADDED, "already_on_bill") is None
    assert undo_of(E.BILL_PARENT_REMOVED, Reason.BILL_CLOSED) is E.BILL_PARENT_ADDED
    assert undo_of(E.BILL_PARENT_REMOVED, Reason.NOT_ON_BILL) is None
    assert undo_of(E.BILL_CLOSED, Reason.REASON_REQUIRED) is E.BILL_REOPENED
    assert undo_of(E.BILL_CLOSED, Reason.BILL_CLOSED) is None
    assert undo_of(E.BILL_CLOSED, None) is E.BILL_REOPENED
    for t in (E.PARENT_SCANNED, E.PARENT_FINISHED, E.BILL_CREATED, E.BILL_REOPENED):
        assert undo_of(t, Reason.NOT_ALLOWED) is None


@given(capacity=st.integers(1, 40), count=st.integers(0, 40), kg=st.sampled_from([0.5, 1.0, 2.0]))
def test_link_effects_agree_with_the_decision(capacity: int, count: int, kg: float) -> None:
    """What the rules say an accepted link or unlink does (the count in its message, whether it
    completes the parent) is what its effects do."""
    parent = ParentFacts("SB00001", capacity, count)
    d = decide_link(parent, ChildFacts("C0001"))
    if not d.refused:
        eff = effects_of(E.CHILD_LINKED, parent=parent, child=ChildFacts("C0001"),
                         kg_per_child=kg)
        assert eff.parent is not None
        assert f"({eff.parent.child_count}/{capacity})" in d.message
        assert (eff.parent.status == "completed") == (d.reason == Reason.PARENT_COMPLETED)
        assert eff.parent.weight_kg == eff.parent.child_count * kg
    if count >= 1:
        child = ChildFacts("C0001", CodeKind.CHILD, "SB00001")
        now = datetime(2026, 1, 1, tzinfo=UTC)
        u = decide_unlink(child_code="C0001", parent=parent, linked_by="asha", linked_at=now,
                          username="asha", role="biller", now=now)
        eff = effects_of(E.CHILD_UNLINKED, parent=parent, child=child, kg_per_child=kg)
        assert eff.parent is not None and eff.link_removed == ("C0001", "SB00001")
        if not u.refused:
            assert f"({eff.parent.child_count}/{capacity})" in u.message
        assert eff.parent.status == ("pending" if count == 1 else
                                     "completed" if count - 1 >= capacity else "in_progress")


@given(linked=st.integers(0, 20), target=st.integers(1, 20),
       status=st.sampled_from(["new", "processing", "completed"]))
def test_bill_status_never_leaves_a_closed_bill(linked: int, target: int, status: str) -> None:
    bill = BillFacts("B-1", status, target, linked)
    added = effects_of(E.BILL_PARENT_ADDED, parent_code="SB00001", bill=bill).bill
    assert added is not None and added.linked == linked + 1
    assert added.status == (None if status == "completed" else "processing")
    removed = effects_of(E.BILL_PARENT_REMOVED, parent_code="SB00001", bill=bill,
                         on_bill="B-1").bill
    assert removed is not None and removed.linked == linked - 1
    if status != "completed":
        assert removed.status == ("processing" if linked - 1 > 0 else "new")
