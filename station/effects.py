"""What an accepted event does, as data (docs/rules.md §3, §4; docs/architecture.md §2).

`station.rules` decides whether an event may happen; `effects_of` says what it then changes:
the link added or removed, the parent's figures after it (children, weight, status), the bill
line added or removed and the bill's figures after it (parents on it, status, closing reason).
It is pure (no SQL, no Qt) and takes the same facts the rules take (`ParentFacts`,
`ChildFacts`, `BillFacts`), read by each side its own way before the event is applied. Each
store then only translates the result into its own rows:

- the station's view (`station.view.apply_event`, and `sync.pull` after a pull or a rejection);
- the centre's batch state (`central.apply_decide`), whose net changes are written set-based.

So no store derives a parent's status or a bill's status itself: `parent_after` and
`bill_after` are the only places that do, and a recount (after a pull) uses them too.

The results are NamedTuples: immutable, and the cheapest values to build on the centre's hot
path (one per accepted event).
"""

from __future__ import annotations

from typing import NamedTuple

from station.events import EventType
from station.reasons import Reason
from station.rules import BillFacts, ChildFacts, ParentFacts, bill_status_after, parent_status


class ParentChange(NamedTuple):
    """A parent bag's figures after an event: they always follow its links."""

    code: str
    child_count: int
    weight_kg: float
    status: str  # the web system's values: pending, in_progress, completed


class BillChange(NamedTuple):
    """A bill's figures after an event."""

    bill_id: str
    linked: int  # parent bags on it (its lines)
    status: str | None  # None: unchanged (a closed bill keeps its status while lines follow)
    closed_reason: str | None = None  # the reason kept beside it, when `sets_reason`
    sets_reason: bool = False  # closing sets the reason (a short close's); reopening clears it


class Effects(NamedTuple):
    """The changes one event makes. Empty (`NO_EFFECTS`) for a marker event.

    A link or a bill line added names bags that may not be held yet: each store makes them
    with its own details (area, label, user) when they are missing. `created` says that the
    parent (a parent scan) or the bill (a bill created) is new, with the figures given; a
    store that holds it already keeps its own.
    """

    parent: ParentChange | None = None  # the parent's figures after the event
    link_added: tuple[str, str] | None = None  # (child, parent)
    link_removed: tuple[str, str] | None = None  # (child, parent)
    bill: BillChange | None = None  # the bill's figures after the event
    line_added: tuple[str, str] | None = None  # (parent, bill)
    line_removed: tuple[str, str] | None = None  # (parent, bill)
    created: bool = False


NO_EFFECTS = Effects()

# The centre builds one or two of these per event: tuple.__new__ skips the generated __new__
# (its defaults and keyword handling cost as much again as the tuple itself).
_tuple = tuple.__new__


def parent_after(code: str, child_count: int, capacity: int, kg_per_child: float) -> ParentChange:
    """A parent's figures with `child_count` children (docs/rules.md §3): weight is children x
    kg per child of its bag type (1.0 when the type is not known), status by its capacity."""
    return _tuple(ParentChange, (code, child_count, child_count * kg_per_child,
                                 parent_status(child_count, capacity)))



def bill_after(bill: BillFacts, linked: int) -> BillChange:
    """An open bill's status follows its lines (new / processing); a closed one keeps its own."""
    if bill.closed:
        return BillChange(bill.bill_id, linked, None)
    return BillChange(bill.bill_id, linked, bill_status_after(linked, False))


def effects_of(
    etype: EventType,
    *,
    parent: ParentFacts | None = None,
    child: ChildFacts | None = None,
    bill: BillFacts | None = None,
    parent_code: str | None = None,
    bill_id: str | None = None,
    kg_per_child: float = 1.0,
    on_bill: str | None = None,
    closed_reason: str | None = None,
) -> Effects:
    """The changes of an event of type `etype` that the rules accepted, given the facts before it.

    - `parent`: the parent's facts (`child_count` = its links before the event); None when the
      store does not hold it. `kg_per_child` is its bag type's (1.0 when the type is unknown).
    - `child`: the child's facts; `child.parent_code` is the parent it is in before the event.
    - `bill`: the bill's facts (`linked` = its lines before the event); None when not held.
    - `parent_code`, `bill_id`: the codes the event names, for what is not held yet.
    - `on_bill`: the bill the parent is on before the event (removing a bill line).
    - `closed_reason`: the reason an event closing a bill carries.

    A store replaying an event over state that has moved on (a pull) gets the effects that
    still apply: removing a link or a line that is not there removes nothing, and the figures
    are those of what is there.
    """
    if etype is EventType.CHILD_LINKED:
        if child is None:
            return NO_EFFECTS
        if parent is None:  # a parent the store does not hold: the link only
            return Effects(link_added=(child.code, parent_code or ""))
        # parent_after, inlined: this is the event the centre decides most (thousands a second)
        n = parent.child_count + 1
        figures = _tuple(ParentChange, (parent.code, n, n * kg_per_child,
                                        parent_status(n, parent.capacity)))
        return _tuple(Effects, (figures, (child.code, parent.code), None, None, None, None, False))
    if etype is EventType.PARENT_SCANNED:
        if parent is not None:
            return NO_EFFECTS  # selecting a known parent changes nothing
        code = parent_code or ""
        return Effects(parent=parent_after(code, 0, 0, kg_per_child), created=True)
    if etype is EventType.CHILD_UNLINKED:
        if parent is None:  # a parent the store does not hold: the link only, if it is there
            if child is None or child.parent_code is None or child.parent_code != parent_code:
                return NO_EFFECTS
            return Effects(link_removed=(child.code, child.parent_code))
        there = child is not None and child.parent_code == parent.code
        return Effects(
            parent=parent_after(parent.code, parent.child_count - 1 if there else
                                parent.child_count, parent.capacity, kg_per_child),
            link_removed=(child.code, parent.code) if there and child is not None else None,
        )
    if etype is EventType.BILL_PARENT_ADDED:
        code = parent_code if parent_code is not None else (parent.code if parent else "")
        if bill is None:
            return Effects(line_added=(code, bill_id or ""))
        return Effects(bill=bill_after(bill, bill.linked + 1), line_added=(code, bill.bill_id))
    if etype is EventType.BILL_PARENT_REMOVED:
        code = parent_code if parent_code is not None else (parent.code if parent else "")
        if bill is None:  # a bill the store does not hold: the line only, if it is there
            if on_bill is None or on_bill != bill_id:
                return NO_EFFECTS
            return Effects(line_removed=(code, on_bill))
        there = on_bill == bill.bill_id
        return Effects(
            bill=bill_after(bill, bill.linked - 1 if there else bill.linked),
            line_removed=(code, bill.bill_id) if there else None,
        )
    if etype is EventType.BILL_CREATED:
        return Effects(bill=BillChange(bill_id or "", 0, bill_status_after(0, False)),
                       created=True)
    if etype is EventType.BILL_CLOSED:
        if bill is None:
            return NO_EFFECTS
        return Effects(bill=BillChange(bill.bill_id, bill.linked,
                                       bill_status_after(bill.linked, True), closed_reason,
                                       True))
    if etype is EventType.BILL_REOPENED:
        if bill is None:
            return NO_EFFECTS
        return Effects(bill=BillChange(bill.bill_id, bill.linked,
                                       bill_status_after(bill.linked, False), None, True))
    return NO_EFFECTS  # parent_finished: a marker for the record


# An event the centre rejected is taken back locally by the effects of its opposite, except
# when the reason says its effect never was this station's own (the centre's state is that way
# already, and the feed brings it).
_UNDONE_BY = {
    EventType.CHILD_LINKED: EventType.CHILD_UNLINKED,
    EventType.CHILD_UNLINKED: EventType.CHILD_LINKED,
    EventType.BILL_PARENT_ADDED: EventType.BILL_PARENT_REMOVED,
    EventType.BILL_PARENT_REMOVED: EventType.BILL_PARENT_ADDED,
    EventType.BILL_CLOSED: EventType.BILL_REOPENED,
}
_NOTHING_TO_UNDO = {
    EventType.CHILD_UNLINKED: Reason.NOT_LINKED,  # the link was gone at the centre already
    EventType.BILL_PARENT_ADDED: Reason.ALREADY_ON_BILL,  # the centre has the line already
    EventType.BILL_PARENT_REMOVED: Reason.NOT_ON_BILL,  # the line was gone at the centre already
    EventType.BILL_CLOSED: Reason.BILL_CLOSED,  # the bill is closed at the centre already
}


def undo_of(etype: EventType, reason: str | None) -> EventType | None:
    """The event type whose effects take back a rejected event's local effects; None when the
    rejection leaves nothing to take back (a rejected parent scan is sync.pull's own case)."""
    if reason is not None and _NOTHING_TO_UNDO.get(etype) == reason:
        return None
    return _UNDONE_BY.get(etype)


__all__ = [
    "NO_EFFECTS", "BillChange", "Effects", "ParentChange", "bill_after", "effects_of",
    "parent_after", "undo_of",
]
