"""Reason codes and their messages (station/reasons.py): one value per reason, the very strings
events, sync replies and sync issues carried before the enum, and a message for every reason
the rules can give."""

from __future__ import annotations

import itertools
import json
import re
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from station import codes, rules
from station.codes import DEFAULT_BAG_TYPES, CodeKind, classify, parse_bill_id
from station.errors import CodeRefused
from station.reasons import (
    MENDABLE,
    MESSAGES,
    NO_CHANGE_WARNINGS,
    WARNINGS_THAT_CHANGE,
    Reason,
    say,
    template,
)
from station.rules import BillFacts, ChildFacts, ParentFacts
from tests.rule_cases import CASES

# Every reason string that was written as a bare literal before the enum (station, window,
# centre, sync): stored in events and sync issues, sent in replies. They must not change.
OLD_WIRE = {
    # code rules
    "too_long", "empty", "damaged_parent", "bad_label_number", "not_a_code", "bad_bill_id",
    "code_is_bag",
    # parents and links
    "parent_created", "parent_selected", "code_is_child", "no_parent", "parent_on_closed_bill",
    "code_is_parent", "parent_full", "already_on_parent", "child_on_other_parent",
    "child_linked", "parent_completed", "parent_finished", "parent_finished_short",
    "not_linked", "not_your_link", "undo_too_old", "child_unlinked", "nothing_to_undo",
    # bills
    "bill_selected", "bill_exists", "bad_target", "bill_created", "no_bill", "no_bill_open",
    "bill_closed", "not_a_parent", "already_on_bill", "parent_on_other_bill", "bill_full",
    "parent_unknown", "parent_short", "bill_parent_added", "not_on_bill",
    "bill_parent_removed", "reason_required", "bill_closed_short", "bill_not_closed",
    "bill_reopened",
    # operators
    "not_allowed", "not_logged_in", "unknown_user", "locked", "wrong_password",
    "cannot_log_in_here",
    # the station
    "field_limit", "not_saved", "scanning_paused",
    # the centre
    "missing_code", "malformed_event", "seq_conflict", "unknown_event_type",
    "unknown_operator", "operator_not_verified", "operator_other_area", "kind_conflict",
}


def test_values_are_the_old_strings_and_unique() -> None:
    assert {r.value for r in Reason} == OLD_WIRE
    # no two names share a value (an alias would hide in __members__ only)
    assert len(Reason.__members__) == len(list(Reason)) == len(OLD_WIRE)
    for r in Reason:
        assert r == r.value and str(r) == r.value and r.name.lower() == r.value
        assert json.dumps({"reason": r}) == json.dumps({"reason": r.value})
        assert Reason(r.value) is r


def test_the_sets_of_reasons_kept_as_before() -> None:
    assert MENDABLE == {"unknown_operator", "operator_not_verified", "operator_other_area"}
    assert WARNINGS_THAT_CHANGE == {"parent_short", "parent_unknown"}
    assert NO_CHANGE_WARNINGS == {"already_on_parent", "already_on_bill"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_reason_has_a_message_and_every_template_fills_in() -> None:
    assert set(MESSAGES) == set(Reason)
    for reason, entry in MESSAGES.items():
        variants = {"": entry} if isinstance(entry, str) else dict(entry)
        assert "" in variants, f"{reason} has no usual message"
        for variant, text in variants.items():
            assert text.strip() and text == template(reason, variant)
            filled = say(reason, variant, **{f: "X" for f in _fields(text)})
            assert "{" not in filled and "}" not in filled, (reason, variant, filled)
    with pytest.raises(KeyError):
        template(Reason.EMPTY, "nonsense")
    with pytest.raises(KeyError):
        template(Reason.BILL_CLOSED, "nonsense")


def _rule_reasons() -> set[str]:
    """Every reason the code rules and the decision functions give, over a grid of facts."""
    out: set[str] = set()
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    for raw in ("", " ", "X" * 600, "SB1234", "SB00001", "C1234", "LABEL NO.:12", "a b",
                "LABEL NO.:0016586 LOT NO.:X"):
        try:
            classify(raw, DEFAULT_BAG_TYPES)
        except CodeRefused as exc:
            out.add(exc.reason)
    for raw in ("B", "B-1", "bad id!"):
        try:
            parse_bill_id(raw)
        except CodeRefused as exc:
            out.add(exc.reason)
    parents = [None] + [
        ParentFacts("SB00001", 30, n, bill, closed, 30.0)
        for n, (bill, closed) in itertools.product(
            (0, 5, 29, 30), ((None, False), ("B-1", False), ("B-1", True), ("B-2", False)))
    ]
    children = [ChildFacts("C1", kind, parent) for kind, parent in (
        (None, None), (CodeKind.CHILD, "SB00001"), (CodeKind.CHILD, "SB00002"),
        (CodeKind.PARENT, None))]
    bills = [None] + [BillFacts("B-1", status, 2, linked)
                      for status in ("new", "processing", "completed") for linked in (0, 1, 2)]
    for p in parents:
        out.add(rules.decide_finish(p).reason)
        for c in children:
            out.add(rules.decide_link(p, c).reason)
        for role, by, minutes in itertools.product(
                ("dispatcher", "biller", "nobody"), ("pat", "sam"), (5, 90)):
            out.add(rules.decide_unlink(
                child_code="C1", parent=p, linked_by=by, linked_at=now - timedelta(minutes=minutes),
                username="pat", role=role, now=now).reason)
        for b, as_child, short_error in itertools.product(bills, (False, True), (False, True)):
            out.add(rules.decide_bill_add("B-1", b, "SB00001", p, known_as_child=as_child,
                                          short_is_error=short_error).reason)
    for b in bills:
        for on in (None, "B-1", "B-2"):
            out.add(rules.decide_bill_remove("B-1", b, "SB00001", on).reason)
        for why in (None, "", "truck left"):
            out.add(rules.decide_bill_close("B-1", b, why).reason)
        out.add(rules.decide_bill_reopen("B-1", b).reason)
    for kind in (None, CodeKind.PARENT, CodeKind.CHILD):
        out.add(rules.decide_select_parent("SB00001", kind).reason)
    for exists, target in itertools.product((False, True), (0, 1, 500, 501)):
        out.add(rules.decide_create_bill("B-1", target, exists).reason)
    for role, action in itertools.product(("dispatcher", "biller", "admin", "x"), rules.Action):
        d = rules.check_permission(role, action, "pat")
        if d is not None:
            out.add(d.reason)
    return out


def test_every_reason_the_rules_give_is_a_reason_with_a_message() -> None:
    given = _rule_reasons() | {c.reason for c in CASES} | {
        c.centre[1] for c in CASES if c.centre is not None}
    # the grid reaches every reason the rule modules name
    named = {Reason[n] for m in (rules, codes) for n in re.findall(
        r"Reason\.([A-Z_]+)", Path(m.__file__).read_text(encoding="utf-8"))}
    assert named <= given, named - given
    for reason in given:
        assert isinstance(reason, Reason) or reason in OLD_WIRE, reason
        assert Reason(reason) in MESSAGES, reason


def test_rule_decisions_carry_reason_members() -> None:
    d = rules.decide_link(None, ChildFacts("C1"))
    assert d.reason is Reason.NO_PARENT and d.message == "Scan a parent bag first (then C1)"
    with pytest.raises(CodeRefused) as err:
        classify("SB1234")
    assert err.value.reason is Reason.DAMAGED_PARENT


@pytest.mark.parametrize(("reason", "variant", "facts", "said"), [
    (Reason.PARENT_FULL, "", {"parent": "SB00001", "count": 30, "capacity": 30},
     "SB00001 is full (30/30). Scan the next parent bag"),
    (Reason.BILL_CLOSED, "already", {"bill": "B-17"}, "Bill B-17 is closed already"),
    (Reason.UNKNOWN_USER, "", {"name": "zed"},
     "No operator 'zed' at this station: check the user name"),
    (Reason.BILL_CLOSED_SHORT, "", {"bill": "B-1", "linked": 1, "target": 2,
                                    "reason": "truck {left} early"},
     "Bill B-1 closed short (1/2): truck {left} early"),
])
def test_say_fills_in_as_the_literals_did(reason, variant, facts, said) -> None:  # noqa: ANN001
    assert say(reason, variant, **facts) == said
