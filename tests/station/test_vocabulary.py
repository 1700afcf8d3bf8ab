"""One vocabulary of states (station/vocabulary.py): the words, the shortfall, and results worded
for the person (the bag, the bill, the rule, and only what that role can do next)."""

from __future__ import annotations

import pytest

from station import vocabulary as vocab
from station.rules import Outcome
from station.service import BillProgress, OpResult
from station.view import ParentRow
from station.vocabulary import BillState


@pytest.mark.parametrize(("status", "linked", "target", "state"), [
    ("new", 0, 4, BillState.NEW),
    ("processing", 0, 4, BillState.NEW),  # every parent removed again: no parents
    ("processing", 2, 4, BillState.LOADING),
    ("processing", 4, 4, BillState.FULL),
    ("completed", 4, 4, BillState.CLOSED),
    ("completed", 3, 4, BillState.CLOSED_SHORT),
    ("completed", 0, 4, BillState.CLOSED_SHORT),
])
def test_bill_state_from_the_figures(status, linked, target, state) -> None:  # noqa: ANN001
    assert vocab.bill_state(status, linked, target) is state
    assert state.is_closed == (status == "completed")


def test_words_and_their_spellings() -> None:
    assert [s.value for s in vocab.BILL_STATES] == [
        "new", "loading", "full", "closed", "closed short"]
    assert vocab.cli_state_names()[-1] == "closed-short"
    for text in ("closed short", "Closed-Short", "closed_short", " CLOSED  SHORT "):
        assert vocab.parse_bill_state(text) is BillState.CLOSED_SHORT
    assert vocab.parse_bill_state("completed") is None  # the stored word is never shown
    assert [vocab.bag_state(s) for s in ("pending", "in_progress", "completed", None)] == [
        "pending", "in progress", "completed", "not known here"]
    assert vocab.count(1, "bill") == "1 bill" and vocab.count(2, "bill") == "2 bills"
    assert vocab.count(1200, "child", "children") == "1,200 children"


def test_shortfall_and_state_text() -> None:
    short = vocab.shortfall(3, 4, 120.0, 64.0)
    assert short == vocab.Shortfall(1, 56.0)
    assert short.text() == "1 parent bag and 56.0 kg short"
    assert vocab.Shortfall(0, 0.0).text() == "" and not vocab.Shortfall(0, 0.0).any
    assert vocab.bill_state_text(BillState.CLOSED_SHORT, short, "truck left") == (
        "closed short (1 parent bag and 56.0 kg short; reason: truck left)")
    assert vocab.bill_state_text(BillState.FULL, vocab.Shortfall(0, 56.0)) == "full (56.0 kg short)"
    assert vocab.bill_state_text(BillState.LOADING, vocab.shortfall(2, 4, 60, 30)) == (
        "loading (30.0 kg short so far)")
    assert vocab.bill_state_text(BillState.NEW, vocab.shortfall(0, 4, 0, 0)) == "new"
    # A full bill 56 kg short is not shown as done (no full green bar).
    assert vocab.bill_tone(BillState.FULL, vocab.Shortfall(0, 56.0)) == "attention"
    assert vocab.bill_tone(BillState.CLOSED, vocab.Shortfall(0, 0.0)) == "done"
    assert vocab.bill_tone(BillState.CLOSED_SHORT, vocab.Shortfall(1, 0.0)) == "attention"
    assert vocab.bill_tone(BillState.LOADING) == "open"


def _bill(bill_id: str = "B-17", linked: int = 4, target: int = 4,
          status: str = "processing") -> BillProgress:
    return BillProgress(bill_id, status, target, linked, 60, 60.0, 60.0)


def _parent(code: str = "SB00003", count: int = 30, bill: str | None = None,
            bill_status: str | None = None) -> ParentRow:
    return ParentRow(code, "SB", 30, count, "completed" if count == 30 else "in_progress",
                     float(count), bill, bill_status)


def test_a_full_bill_names_the_parent_and_what_the_role_can_do() -> None:
    r = OpResult(Outcome.REFUSED, "bill_full", "Bill B-17 is full (4/4)", "SB00007", "parent",
                 None, _bill())
    assert vocab.present(r, role="biller").message == (
        "SB00007 not added: bill B-17 is full (4/4 parent bags). Keep SB00007 aside; close it "
        "(Ctrl+E) or open another bill")


def test_a_closed_bill_tells_a_biller_to_ask_and_an_admin_to_reopen() -> None:
    r = OpResult(Outcome.REFUSED, "bill_closed", "Bill B-17 is closed: reopen it first",
                 "SB00007", "parent", None, _bill(status="completed"))
    biller = vocab.present(r, role="biller").message
    admin = vocab.present(r, role="admin").message
    assert "reopen it first" not in biller and "only an admin can reopen it" in biller
    assert admin.startswith("SB00007 not changed: bill B-17 is closed; reopen it first")


def test_a_child_after_a_completed_parent_says_the_parent_completed() -> None:
    r = OpResult(Outcome.REFUSED, "no_parent", "Scan a parent bag first (then C0031)", "C0031",
                 "child")
    assert vocab.present(r, role="dispatcher", last_parent=_parent()).message == (
        "C0031 not linked: SB00003 is complete (30/30) and no parent bag is selected now. "
        "Scan the next parent bag, then C0031 again")
    assert vocab.present(r, role="dispatcher").message == (
        "C0031 not linked: no parent bag is selected. Scan a parent bag, then C0031 again")


def test_a_parent_on_a_closed_bill_is_a_warning_not_a_selection() -> None:
    r = OpResult(Outcome.ACCEPTED, "parent_selected", "Parent SB00003 selected (30/30)",
                 "SB00003", "parent", _parent(bill="B-12", bill_status="completed"))
    shown = vocab.present(r, role="dispatcher")
    assert shown.outcome == "warning"
    assert shown.message == ("SB00003 is on closed bill B-12 (30/30): its children cannot "
                             "change; only an admin can reopen the bill. Scan another parent bag")


def test_provisional_words_depend_on_a_centre() -> None:
    r = OpResult(Outcome.WARNING, "parent_unknown", "SB00099 is not known here yet: added to bill "
                 "B-17 (3/4) provisionally, the centre confirms it at sync", "SB00099", "parent",
                 None, _bill(linked=3))
    assert vocab.present(r, role="biller", has_centre=True).message == r.message
    alone = vocab.present(r, role="biller", has_centre=False).message
    assert "centre confirms" not in alone and "This station has no centre" in alone


def test_results_that_need_no_other_words_keep_the_service_words() -> None:
    r = OpResult(Outcome.ACCEPTED, "child_linked", "C0001 linked to SB00001 (1/30)", "C0001",
                 "child", _parent("SB00001", 1))
    assert vocab.present(r, role="dispatcher") == vocab.Presented("accepted", r.message)
