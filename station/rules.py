"""Link, bill and role decisions (docs/rules.md §2, §4, §5) as pure functions.

Each takes the facts it needs and returns a Decision (accept / warn / refuse, a reason code and
a message naming the bag, bill or rule). The station store and the central apply code gather the
facts their own way (SQLite view; PostgreSQL rows under locks) and call the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from station.codes import CodeKind

UNDO_WINDOW = timedelta(minutes=60)
MAX_BILL_TARGET = 500


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    WARNING = "warning"
    REFUSED = "refused"


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    BILLER = "biller"
    ADMIN = "admin"


class Action(StrEnum):
    SCAN = "scan"  # scan parents and children, undo own recent links, look bags up
    UNLINK_ANY = "unlink_any"
    BILLS = "bills"  # create, scan, close bills; remove bill lines; review bills
    REOPEN_BILL = "reopen_bill"
    SETTINGS = "settings"  # station settings, bag types


_ALLOWED: dict[Role, frozenset[Action]] = {
    Role.DISPATCHER: frozenset({Action.SCAN}),
    Role.BILLER: frozenset({Action.SCAN, Action.UNLINK_ANY, Action.BILLS}),
    Role.ADMIN: frozenset(Action),
}

_ACTION_WORDS = {
    Action.SCAN: "scan bags",
    Action.UNLINK_ANY: "remove other operators' links",
    Action.BILLS: "work on bills",
    Action.REOPEN_BILL: "reopen bills",
    Action.SETTINGS: "change station settings",
}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str
    message: str

    @property
    def refused(self) -> bool:
        return self.outcome is Outcome.REFUSED

    @property
    def changes(self) -> bool:
        """Whether the decision leads to a new event (a warning on a re-scan does not)."""
        # A refusal never changes anything, even one sharing a warning's reason ("parent_short"
        # is a warning by default and a refusal when the station setting makes it an error).
        if self.outcome is Outcome.REFUSED:
            return False
        return self.outcome is Outcome.ACCEPTED or self.reason in _WARNINGS_THAT_CHANGE


def accept(reason: str, message: str) -> Decision:
    return Decision(Outcome.ACCEPTED, reason, message)


def warn(reason: str, message: str) -> Decision:
    return Decision(Outcome.WARNING, reason, message)


def refuse(reason: str, message: str) -> Decision:
    return Decision(Outcome.REFUSED, reason, message)


# Warnings that still record the change (the others are harmless re-scans).
_WARNINGS_THAT_CHANGE = frozenset({"parent_short", "parent_unknown"})


def role_of(value: str) -> Role | None:
    try:
        return Role(value.strip().lower())
    except ValueError:
        return None


def may(role: str, action: Action) -> bool:
    r = role_of(role)
    return r is not None and action in _ALLOWED[r]


def check_permission(role: str, action: Action, username: str = "") -> Decision | None:
    """None when allowed, else a refusal naming the role and what it may not do."""
    if may(role, action):
        return None
    who = f"{username} ({role})" if username else f"role {role!r}"
    return refuse("not_allowed", f"{who} may not {_ACTION_WORDS[action]}")


def parent_status(child_count: int, capacity: int) -> str:
    """The web system's bag status values."""
    if child_count <= 0:
        return "pending"
    if child_count >= capacity:
        return "completed"
    return "in_progress"


@dataclass(frozen=True)
class ParentFacts:
    code: str
    capacity: int
    child_count: int
    bill_id: str | None = None
    bill_closed: bool = False
    nominal_kg: float = 0.0


@dataclass(frozen=True)
class ChildFacts:
    code: str
    known_kind: CodeKind | None = None  # the kind of an existing bag with this code
    parent_code: str | None = None
    linked_where: str | None = None  # "station DISPATCH-2 at 10:41", for the centre's messages


@dataclass(frozen=True)
class BillFacts:
    bill_id: str
    status: str
    target: int
    linked: int

    @property
    def closed(self) -> bool:
        return self.status == "completed"


def decide_select_parent(code: str, known_kind: CodeKind | None) -> Decision:
    if known_kind is CodeKind.CHILD:
        return refuse("code_is_child", f"{code} is a child bag, not a parent: scan a parent bag")
    if known_kind is None:
        return accept("parent_created", f"New parent {code}: scan its child bags")
    return accept("parent_selected", f"Parent {code} selected")


def _closed_bill(parent: ParentFacts) -> Decision:
    return refuse("parent_on_closed_bill", f"{parent.code} is on closed bill {parent.bill_id}")


def decide_link(parent: ParentFacts | None, child: ChildFacts) -> Decision:
    """Linking a child to the current parent, checks in the order of docs/rules.md §2."""
    if parent is None:
        return refuse("no_parent", f"Scan a parent bag first (then {child.code})")
    if parent.bill_closed:
        return _closed_bill(parent)
    if child.known_kind is CodeKind.PARENT:
        return refuse("code_is_parent", f"{child.code} is a parent bag and cannot go in a parent")
    if parent.child_count >= parent.capacity:
        return refuse(
            "parent_full",
            f"{parent.code} is full ({parent.child_count}/{parent.capacity}). "
            "Scan the next parent bag",
        )
    if child.parent_code == parent.code:
        return warn("already_on_parent", f"{child.code} already on {parent.code}")
    if child.parent_code is not None:
        where = f", linked at {child.linked_where}" if child.linked_where else ""
        return refuse(
            "child_on_other_parent", f"{child.code} is already in {child.parent_code}{where}"
        )
    count = parent.child_count + 1
    if count >= parent.capacity:
        return accept(
            "parent_completed",
            f"{child.code} linked: {parent.code} complete ({count}/{parent.capacity})",
        )
    return accept("child_linked", f"{child.code} linked to {parent.code} ({count}/{parent.capacity})")


def decide_unlink(
    *,
    child_code: str,
    parent: ParentFacts | None,
    linked_by: str | None,
    linked_at: datetime | None,
    username: str,
    role: str,
    now: datetime,
) -> Decision:
    """Undo / remove a link: dispatchers their own links of the last 60 minutes, others any."""
    if parent is None:
        return refuse("not_linked", f"{child_code} is not in any parent bag")
    if parent.bill_closed:
        return _closed_bill(parent)
    if not may(role, Action.UNLINK_ANY):
        if not may(role, Action.SCAN):
            return refuse("not_allowed", f"{username} ({role}) may not remove {child_code} from its parent")
        if linked_by != username:
            return refuse(
                "not_your_link",
                f"{child_code} in {parent.code} was linked by {linked_by}: "
                "a dispatcher may only undo their own links (ask a biller)",
            )
        if linked_at is not None and now - linked_at > UNDO_WINDOW:
            minutes = int((now - linked_at).total_seconds() // 60)
            return refuse(
                "undo_too_old",
                f"{child_code} was linked to {parent.code} {minutes} minutes ago: a dispatcher "
                "may only undo links of the last 60 minutes (ask a biller)",
            )
    count = max(parent.child_count - 1, 0)
    return accept(
        "child_unlinked",
        f"{child_code} removed from {parent.code} ({count}/{parent.capacity})",
    )


def decide_finish(parent: ParentFacts | None) -> Decision:
    if parent is None:
        return refuse("no_parent", "No parent bag is selected: nothing to finish")
    if parent.child_count >= parent.capacity:
        return accept(
            "parent_finished",
            f"{parent.code} is complete ({parent.child_count}/{parent.capacity})",
        )
    return warn(
        "parent_finished_short",
        f"{parent.code} finished short ({parent.child_count}/{parent.capacity}): "
        "scan it again to resume",
    )


def decide_create_bill(bill_id: str, target: int, exists: bool) -> Decision:
    if exists:
        return refuse("bill_exists", f"Bill {bill_id} exists already")
    if not 1 <= target <= MAX_BILL_TARGET:
        return refuse(
            "bad_target",
            f"Bill {bill_id}: target {target} parent bags is out of range (1-{MAX_BILL_TARGET})",
        )
    return accept("bill_created", f"Bill {bill_id} created: target {target} parent bags")


def _missing_bill(bill_id: str) -> Decision:
    return refuse("no_bill", f"Bill {bill_id} does not exist here")


def decide_bill_add(
    bill_id: str,
    bill: BillFacts | None,
    parent_code: str,
    parent: ParentFacts | None,
    *,
    known_as_child: bool = False,
    short_is_error: bool = False,
) -> Decision:
    """Scanning a parent into a bill (parent None = not known here yet)."""
    if bill is None:
        return _missing_bill(bill_id)
    if bill.closed:
        return refuse("bill_closed", f"Bill {bill.bill_id} is closed: reopen it first")
    if known_as_child:
        return refuse("not_a_parent", f"{parent_code} is a child bag: only parent bags go on a bill")
    if parent is not None and parent.bill_id == bill.bill_id:
        return warn("already_on_bill", f"{parent_code} already on bill {bill.bill_id}")
    if parent is not None and parent.bill_id is not None:
        return refuse("parent_on_other_bill", f"{parent_code} is on bill {parent.bill_id}")
    if bill.linked >= bill.target:
        return refuse(
            "bill_full", f"Bill {bill.bill_id} is full ({bill.linked}/{bill.target})"
        )
    linked = bill.linked + 1
    progress = f"({linked}/{bill.target})"
    if parent is None:
        return warn(
            "parent_unknown",
            f"{parent_code} is not known here yet: added to bill {bill.bill_id} {progress} "
            "provisionally, the centre confirms it at sync",
        )
    if parent.child_count < parent.capacity:
        text = (
            f"{parent_code} has only {parent.child_count}/{parent.capacity} children"
        )
        if short_is_error:
            return refuse("parent_short", f"{text}: finish it before loading it on a bill")
        return warn("parent_short", f"{text}; added to bill {bill.bill_id} {progress}")
    return accept("bill_parent_added", f"{parent_code} added to bill {bill.bill_id} {progress}")


def decide_bill_remove(bill_id: str, bill: BillFacts | None, parent_code: str, on_bill: str | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if bill.closed:
        return refuse("bill_closed", f"Bill {bill.bill_id} is closed: reopen it first")
    if on_bill != bill.bill_id:
        return refuse("not_on_bill", f"{parent_code} is not on bill {bill.bill_id}")
    return accept(
        "bill_parent_removed",
        f"{parent_code} removed from bill {bill.bill_id} ({bill.linked - 1}/{bill.target})",
    )


def decide_bill_close(bill_id: str, bill: BillFacts | None, reason: str | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if bill.closed:
        return refuse("bill_closed", f"Bill {bill.bill_id} is closed already")
    if bill.linked < bill.target:
        if not (reason or "").strip():
            return refuse(
                "reason_required",
                f"Bill {bill.bill_id} has {bill.linked}/{bill.target} parent bags: "
                "closing it short needs a reason",
            )
        return warn(
            "bill_closed_short",
            f"Bill {bill.bill_id} closed short ({bill.linked}/{bill.target}): {reason}",
        )
    return accept("bill_closed", f"Bill {bill.bill_id} closed ({bill.linked}/{bill.target})")


def decide_bill_reopen(bill_id: str, bill: BillFacts | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if not bill.closed:
        return refuse("bill_not_closed", f"Bill {bill.bill_id} is not closed")
    return accept("bill_reopened", f"Bill {bill.bill_id} reopened")


def bill_status_after(linked: int, closed: bool) -> str:
    if closed:
        return "completed"
    return "processing" if linked > 0 else "new"
