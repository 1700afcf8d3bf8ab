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
from station.reasons import WARNINGS_THAT_CHANGE, Reason, say

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
    reason: str  # a Reason (station/reasons.py); typed str for reasons passed through as read
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
        return self.outcome is Outcome.ACCEPTED or self.reason in WARNINGS_THAT_CHANGE


def accept(reason: str, message: str) -> Decision:
    return Decision(Outcome.ACCEPTED, reason, message)


def warn(reason: str, message: str) -> Decision:
    return Decision(Outcome.WARNING, reason, message)


def refuse(reason: str, message: str) -> Decision:
    return Decision(Outcome.REFUSED, reason, message)


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
    return refuse(Reason.NOT_ALLOWED, say(Reason.NOT_ALLOWED, who=who, what=_ACTION_WORDS[action]))


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
        return refuse(Reason.CODE_IS_CHILD, say(Reason.CODE_IS_CHILD, parent=code))
    if known_kind is None:
        return accept(Reason.PARENT_CREATED, say(Reason.PARENT_CREATED, parent=code))
    return accept(Reason.PARENT_SELECTED, say(Reason.PARENT_SELECTED, parent=code))


def _closed_bill(parent: ParentFacts) -> Decision:
    return refuse(
        Reason.PARENT_ON_CLOSED_BILL,
        say(Reason.PARENT_ON_CLOSED_BILL, parent=parent.code, bill=parent.bill_id),
    )


def decide_link(parent: ParentFacts | None, child: ChildFacts) -> Decision:
    """Linking a child to the current parent, checks in the order of docs/rules.md §2."""
    if parent is None:
        return refuse(Reason.NO_PARENT, say(Reason.NO_PARENT, child=child.code))
    if parent.bill_closed:
        return _closed_bill(parent)
    if child.known_kind is CodeKind.PARENT:
        return refuse(Reason.CODE_IS_PARENT, say(Reason.CODE_IS_PARENT, child=child.code))
    if parent.child_count >= parent.capacity:
        return refuse(Reason.PARENT_FULL, say(
            Reason.PARENT_FULL, parent=parent.code, count=parent.child_count,
            capacity=parent.capacity,
        ))
    if child.parent_code == parent.code:
        return warn(
            Reason.ALREADY_ON_PARENT,
            say(Reason.ALREADY_ON_PARENT, child=child.code, parent=parent.code),
        )
    if child.parent_code is not None:
        where = f", linked at {child.linked_where}" if child.linked_where else ""
        return refuse(Reason.CHILD_ON_OTHER_PARENT, say(
            Reason.CHILD_ON_OTHER_PARENT, child=child.code, parent=child.parent_code, where=where,
        ))
    count = parent.child_count + 1
    reason = Reason.PARENT_COMPLETED if count >= parent.capacity else Reason.CHILD_LINKED
    return accept(reason, say(
        reason, child=child.code, parent=parent.code, count=count, capacity=parent.capacity,
    ))


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
        return refuse(Reason.NOT_LINKED, say(Reason.NOT_LINKED, child=child_code))
    if parent.bill_closed:
        return _closed_bill(parent)
    if not may(role, Action.UNLINK_ANY):
        if not may(role, Action.SCAN):
            return refuse(Reason.NOT_ALLOWED, say(
                Reason.NOT_ALLOWED, who=f"{username} ({role})",
                what=f"remove {child_code} from its parent",
            ))
        if linked_by != username:
            return refuse(Reason.NOT_YOUR_LINK, say(
                Reason.NOT_YOUR_LINK, child=child_code, parent=parent.code,
                linked_by=linked_by or "the central system",  # made there, by no station
            ))
        if linked_at is not None and now - linked_at > UNDO_WINDOW:
            minutes = int((now - linked_at).total_seconds() // 60)
            return refuse(Reason.UNDO_TOO_OLD, say(
                Reason.UNDO_TOO_OLD, child=child_code, parent=parent.code, minutes=minutes,
                window=int(UNDO_WINDOW.total_seconds() // 60),
            ))
    count = max(parent.child_count - 1, 0)
    return accept(Reason.CHILD_UNLINKED, say(
        Reason.CHILD_UNLINKED, child=child_code, parent=parent.code, count=count,
        capacity=parent.capacity,
    ))


def decide_finish(parent: ParentFacts | None) -> Decision:
    if parent is None:
        return refuse(Reason.NO_PARENT, say(Reason.NO_PARENT, "finish"))
    facts = {"parent": parent.code, "count": parent.child_count, "capacity": parent.capacity}
    if parent.child_count >= parent.capacity:
        return accept(Reason.PARENT_FINISHED, say(Reason.PARENT_FINISHED, **facts))
    return warn(Reason.PARENT_FINISHED_SHORT, say(Reason.PARENT_FINISHED_SHORT, **facts))


def decide_create_bill(bill_id: str, target: int, exists: bool) -> Decision:
    if exists:
        return refuse(Reason.BILL_EXISTS, say(Reason.BILL_EXISTS, bill=bill_id))
    if not 1 <= target <= MAX_BILL_TARGET:
        return refuse(Reason.BAD_TARGET, say(
            Reason.BAD_TARGET, bill=bill_id, target=target, most=MAX_BILL_TARGET,
        ))
    return accept(Reason.BILL_CREATED, say(Reason.BILL_CREATED, bill=bill_id, target=target))


def _missing_bill(bill_id: str) -> Decision:
    return refuse(Reason.NO_BILL, say(Reason.NO_BILL, bill=bill_id))


def _bill_closed(bill: BillFacts, variant: str = "") -> Decision:
    return refuse(Reason.BILL_CLOSED, say(Reason.BILL_CLOSED, variant, bill=bill.bill_id))


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
        return _bill_closed(bill)
    if known_as_child:
        return refuse(Reason.NOT_A_PARENT, say(Reason.NOT_A_PARENT, parent=parent_code))
    if parent is not None and parent.bill_id == bill.bill_id:
        return warn(
            Reason.ALREADY_ON_BILL, say(Reason.ALREADY_ON_BILL, parent=parent_code, bill=bill.bill_id)
        )
    if parent is not None and parent.bill_id is not None:
        return refuse(Reason.PARENT_ON_OTHER_BILL, say(
            Reason.PARENT_ON_OTHER_BILL, parent=parent_code, other=parent.bill_id,
        ))
    if bill.linked >= bill.target:
        return refuse(Reason.BILL_FULL, say(
            Reason.BILL_FULL, bill=bill.bill_id, linked=bill.linked, target=bill.target,
        ))
    on = {"parent": parent_code, "bill": bill.bill_id,
          "progress": f"({bill.linked + 1}/{bill.target})"}
    if parent is None:
        return warn(Reason.PARENT_UNKNOWN, say(Reason.PARENT_UNKNOWN, **on))
    if parent.child_count < parent.capacity:
        short = {"count": parent.child_count, "capacity": parent.capacity}
        if short_is_error:
            return refuse(Reason.PARENT_SHORT, say(Reason.PARENT_SHORT, "refused", **on, **short))
        return warn(Reason.PARENT_SHORT, say(Reason.PARENT_SHORT, **on, **short))
    return accept(Reason.BILL_PARENT_ADDED, say(Reason.BILL_PARENT_ADDED, **on))


def decide_bill_remove(bill_id: str, bill: BillFacts | None, parent_code: str, on_bill: str | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if bill.closed:
        return _bill_closed(bill)
    if on_bill != bill.bill_id:
        return refuse(Reason.NOT_ON_BILL, say(Reason.NOT_ON_BILL, parent=parent_code, bill=bill.bill_id))
    return accept(Reason.BILL_PARENT_REMOVED, say(
        Reason.BILL_PARENT_REMOVED, parent=parent_code, bill=bill.bill_id,
        linked=bill.linked - 1, target=bill.target,
    ))


def decide_bill_close(bill_id: str, bill: BillFacts | None, reason: str | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if bill.closed:
        return _bill_closed(bill, "already")
    figures = {"bill": bill.bill_id, "linked": bill.linked, "target": bill.target}
    if bill.linked < bill.target:
        if not (reason or "").strip():
            return refuse(Reason.REASON_REQUIRED, say(Reason.REASON_REQUIRED, **figures))
        return warn(Reason.BILL_CLOSED_SHORT, say(Reason.BILL_CLOSED_SHORT, **figures, reason=reason))
    return accept(Reason.BILL_CLOSED, say(Reason.BILL_CLOSED, "closed", **figures))


def decide_bill_reopen(bill_id: str, bill: BillFacts | None) -> Decision:
    if bill is None:
        return _missing_bill(bill_id)
    if not bill.closed:
        return refuse(Reason.BILL_NOT_CLOSED, say(Reason.BILL_NOT_CLOSED, bill=bill.bill_id))
    return accept(Reason.BILL_REOPENED, say(Reason.BILL_REOPENED, bill=bill.bill_id))


def bill_status_after(linked: int, closed: bool) -> str:
    if closed:
        return "completed"
    return "processing" if linked > 0 else "new"
