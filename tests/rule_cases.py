"""The table of rule cases that the station (prediction) and the centre (decision) must agree on.

Each case: operations done at a station first (`setup`, each must record its events), then one
operation under test (`op`) with the outcome and reason the station gives, and `event`: the
event the centre is sent for it when the station itself refused (and so recorded nothing).
What the centre must answer follows from the station: an event the station recorded is
applied, a refusal is rejected with the same reason, a harmless re-scan is a duplicate;
`centre` states the few deliberate differences (a provisional station decision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Step = tuple[str, str, tuple[Any, ...]]  # (operator, StationService method, args)


def scan(*codes: str, who: str = "dispatcher") -> list[Step]:
    return [(who, "record_scan", (c,)) for c in codes]


def filled(parent: str, n: int, prefix: str = "K", who: str = "dispatcher") -> list[Step]:
    return scan(parent, *[f"{prefix}{i:04d}" for i in range(n)], who=who)


def bill(bill_id: str, target: int, *parents: str) -> list[Step]:
    steps: list[Step] = [("biller", "create_bill", (bill_id, target))]
    return steps + [("biller", "add_parent_to_bill", (bill_id, p)) for p in parents]


@dataclass(frozen=True)
class RuleCase:
    name: str
    setup: list[Step]
    op: Step
    outcome: str  # accepted | warning | refused (the station's answer)
    reason: str
    event: dict[str, Any] = field(default_factory=dict)  # type, parent, child, bill, data
    centre: tuple[str, str] | None = None  # (result, reason) when it deliberately differs
    minutes_before_op: int = 0


CASES: list[RuleCase] = [
    RuleCase("new parent", [], scan("SB00001")[0], "accepted", "parent_created"),
    RuleCase("parent scanned again", scan("SB00001"), scan("SB00001")[0], "accepted",
             "parent_selected"),
    RuleCase("child linked", scan("SB00001"), scan("C1234")[0], "accepted", "child_linked"),
    RuleCase("label text child linked", scan("SB00001"),
             scan("LABEL NO.:0016586 LOT NO.:STAR44GG24611, D.O.T.:30/09/2025")[0],
             "accepted", "child_linked"),
    RuleCase("child already on this parent", scan("SB00001", "C1234"), scan("C1234")[0],
             "warning", "already_on_parent",
             {"type": "child_linked", "parent": "SB00001", "child": "C1234"}),
    RuleCase("child on another parent", scan("SB00001", "C1234", "SB00002"), scan("C1234")[0],
             "refused", "child_on_other_parent",
             {"type": "child_linked", "parent": "SB00002", "child": "C1234"}),
    RuleCase("last child completes the parent", filled("M444-00001", 14), scan("K9999")[0],
             "accepted", "parent_completed"),
    RuleCase("parent full", filled("M444-00001", 15) + scan("M444-00001"), scan("K9999")[0], "refused", "parent_full",
             {"type": "child_linked", "parent": "M444-00001", "child": "K9999"}),
    RuleCase("parent on a closed bill cannot change",
             filled("M444-00001", 15, who="biller") + bill("B-1", 1, "M444-00001")
             + [("biller", "close_bill", ("B-1",))] + scan("SB00005", "M444-00001", who="biller"),
             ("biller", "remove_child", ("K0003",)), "refused", "parent_on_closed_bill",
             {"type": "child_unlinked", "parent": "M444-00001", "child": "K0003"}),
    RuleCase("undo own link", scan("SB00001", "C1234"), ("dispatcher", "undo_last", ()),
             "accepted", "child_unlinked"),
    RuleCase("undo after 60 minutes", scan("SB00001", "C1234"), ("dispatcher", "undo_last", ()),
             "refused", "undo_too_old",
             {"type": "child_unlinked", "parent": "SB00001", "child": "C1234"},
             minutes_before_op=61),
    RuleCase("dispatcher removes another operator's link", scan("SB00001", "C1234", who="biller"),
             ("dispatcher", "remove_child", ("C1234",)), "refused", "not_your_link",
             {"type": "child_unlinked", "parent": "SB00001", "child": "C1234"}),
    RuleCase("biller removes any link", scan("SB00001", "C1234"),
             ("biller", "remove_child", ("C1234",)), "accepted", "child_unlinked"),
    RuleCase("remove a child that is in no parent", scan("SB00001"),
             ("biller", "remove_child", ("C9999",)), "refused", "not_linked",
             {"type": "child_unlinked", "parent": "SB00001", "child": "C9999"}),
    RuleCase("finish a full parent", filled("M444-00001", 15) + scan("M444-00001"),
             ("dispatcher", "finish_parent", ()), "accepted", "parent_finished"),
    RuleCase("finish a parent short", scan("SB00001", "C1234"), ("dispatcher", "finish_parent", ()),
             "warning", "parent_finished_short"),
    RuleCase("create a bill", [], ("biller", "create_bill", ("B-1", 2)), "accepted",
             "bill_created"),
    RuleCase("bill id taken", bill("B-1", 2), ("biller", "create_bill", ("b-1", 3)), "refused",
             "bill_exists", {"type": "bill_created", "bill": "B-1", "data": {"target": 3}}),
    RuleCase("bill target out of range", [], ("biller", "create_bill", ("B-2", 501)), "refused",
             "bad_target", {"type": "bill_created", "bill": "B-2", "data": {"target": 501}}),
    RuleCase("dispatcher may not create bills", [], ("dispatcher", "create_bill", ("B-3", 2)),
             "refused", "not_allowed",
             {"type": "bill_created", "bill": "B-3", "data": {"target": 2}}),
    RuleCase("bill id that is a bag code", scan("SB00001", "C1234"),
             ("biller", "create_bill", ("C1234", 2)), "refused", "code_is_bag",
             {"type": "bill_created", "bill": "C1234", "data": {"target": 2}}),
    RuleCase("full parent onto a bill", filled("M444-00001", 15) + bill("B-1", 2),
             ("biller", "add_parent_to_bill", ("B-1", "M444-00001")), "accepted",
             "bill_parent_added"),
    RuleCase("short parent onto a bill", scan("SB00001", "C1234") + bill("B-1", 2),
             ("biller", "add_parent_to_bill", ("B-1", "SB00001")), "warning", "parent_short"),
    RuleCase("parent already on this bill", scan("SB00001", "C1234") + bill("B-1", 2, "SB00001"),
             ("biller", "add_parent_to_bill", ("B-1", "SB00001")), "warning", "already_on_bill",
             {"type": "bill_parent_added", "bill": "B-1", "parent": "SB00001"}),
    RuleCase("parent on another bill",
             scan("SB00001", "C1234") + bill("B-1", 2, "SB00001") + bill("B-2", 2),
             ("biller", "add_parent_to_bill", ("B-2", "SB00001")), "refused",
             "parent_on_other_bill",
             {"type": "bill_parent_added", "bill": "B-2", "parent": "SB00001"}),
    RuleCase("bill full", scan("SB00001", "C0001", "SB00002", "C0002") + bill("B-1", 1, "SB00001"),
             ("biller", "add_parent_to_bill", ("B-1", "SB00002")), "refused", "bill_full",
             {"type": "bill_parent_added", "bill": "B-1", "parent": "SB00002"}),
    RuleCase("closed bill takes no parent",
             scan("SB00001", "C0001", "SB00002", "C0002") + bill("B-1", 1, "SB00001")
             + [("biller", "close_bill", ("B-1",))],
             ("biller", "add_parent_to_bill", ("B-1", "SB00002")), "refused", "bill_closed",
             {"type": "bill_parent_added", "bill": "B-1", "parent": "SB00002"}),
    RuleCase("a child bag is not a parent for a bill", scan("SB00001", "C1234") + bill("B-1", 2),
             ("biller", "add_parent_to_bill", ("B-1", "C1234")), "refused", "not_a_parent",
             {"type": "bill_parent_added", "bill": "B-1", "parent": "C1234"}),
    RuleCase("no such bill", scan("SB00001", "C0001"),
             ("biller", "add_parent_to_bill", ("B-404", "SB00001")), "refused", "no_bill",
             {"type": "bill_parent_added", "bill": "B-404", "parent": "SB00001"}),
    RuleCase("parent unknown: provisional at the station, refused at the centre", bill("B-1", 2),
             ("biller", "add_parent_to_bill", ("B-1", "SB00042")), "warning", "parent_unknown",
             centre=("rejected", "parent_unknown")),
    RuleCase("remove a parent from its bill", scan("SB00001", "C0001") + bill("B-1", 2, "SB00001"),
             ("biller", "remove_parent_from_bill", ("B-1", "SB00001")), "accepted",
             "bill_parent_removed"),
    RuleCase("remove a parent that is not on the bill", scan("SB00001", "C0001") + bill("B-1", 2),
             ("biller", "remove_parent_from_bill", ("B-1", "SB00001")), "refused", "not_on_bill",
             {"type": "bill_parent_removed", "bill": "B-1", "parent": "SB00001"}),
    RuleCase("close a full bill", filled("M444-00001", 15) + bill("B-1", 1, "M444-00001"),
             ("biller", "close_bill", ("B-1",)), "accepted", "bill_closed"),
    RuleCase("close short without a reason", bill("B-1", 2), ("biller", "close_bill", ("B-1",)),
             "refused", "reason_required", {"type": "bill_closed", "bill": "B-1",
                                            "data": {"reason": None}}),
    RuleCase("close short with a reason", bill("B-1", 2),
             ("biller", "close_bill", ("B-1", "truck left early")), "warning", "bill_closed_short"),
    RuleCase("close a closed bill", bill("B-1", 2) + [("biller", "close_bill", ("B-1", "r"))],
             ("biller", "close_bill", ("B-1", "again")), "refused", "bill_closed",
             {"type": "bill_closed", "bill": "B-1", "data": {"reason": "again"}}),
    RuleCase("admin reopens", bill("B-1", 2) + [("biller", "close_bill", ("B-1", "r"))],
             ("admin", "reopen_bill", ("B-1",)), "accepted", "bill_reopened"),
    RuleCase("biller may not reopen", bill("B-1", 2) + [("biller", "close_bill", ("B-1", "r"))],
             ("biller", "reopen_bill", ("B-1",)), "refused", "not_allowed",
             {"type": "bill_reopened", "bill": "B-1"}),
    RuleCase("reopen an open bill", bill("B-1", 2), ("admin", "reopen_bill", ("B-1",)), "refused",
             "bill_not_closed", {"type": "bill_reopened", "bill": "B-1"}),
]
