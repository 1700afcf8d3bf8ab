"""The words people see for states and results: one vocabulary for the window, the exports, the
PDF sheet and the command line (Qt-free).

The store keeps the web system's values (docs/rules.md §3, §4): bags `pending` / `in_progress` /
`completed`, bills `new` / `processing` / `completed`. People never see those. They see:

- bag states: **pending** (no children), **in progress**, **completed** (children = capacity);
- bill states, from the figures, not from the stored value: **new** (no parents), **loading**
  (some), **full** (linked = target, still open), **closed** (closed with linked = target) and
  **closed short** (closed with fewer: shown with its reason and its shortfall).

`present` words a service result for the person in front of the station: the bag, the bill,
the rule, and the next step that person's role can take.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from station.reasons import Reason, say

# -- bags ---------------------------------------------------------------------------------------

BAG_PENDING = "pending"
BAG_IN_PROGRESS = "in progress"
BAG_COMPLETED = "completed"
BAG_STATES = (BAG_PENDING, BAG_IN_PROGRESS, BAG_COMPLETED)

_BAG_WORDS = {"pending": BAG_PENDING, "in_progress": BAG_IN_PROGRESS,
              "completed": BAG_COMPLETED}


def bag_state(status: str | None) -> str:
    """The word for a stored bag status ('in_progress' -> 'in progress')."""
    if not status:
        return "not known here"
    return _BAG_WORDS.get(status, status.replace("_", " "))


# -- bills --------------------------------------------------------------------------------------


class BillState(StrEnum):
    NEW = "new"
    LOADING = "loading"
    FULL = "full"
    CLOSED = "closed"
    CLOSED_SHORT = "closed short"

    @property
    def is_closed(self) -> bool:
        return self in (BillState.CLOSED, BillState.CLOSED_SHORT)


BILL_STATES: tuple[BillState, ...] = tuple(BillState)
OPEN_STATES = (BillState.NEW, BillState.LOADING, BillState.FULL)
CLOSED_STORED = "completed"  # the stored value of a closed bill (the web system's word)


def bill_state(status: str, linked: int, target: int) -> BillState:
    """The state people see, from the stored status and the figures."""
    if status == CLOSED_STORED:
        return BillState.CLOSED_SHORT if linked < target else BillState.CLOSED
    if linked <= 0:
        return BillState.NEW
    if linked >= target:
        return BillState.FULL
    return BillState.LOADING


def parse_bill_state(text: str) -> BillState | None:
    """'closed short', 'closed-short', 'Closed_Short' -> BillState.CLOSED_SHORT; else None."""
    word = " ".join(text.strip().lower().replace("-", " ").replace("_", " ").split())
    try:
        return BillState(word)
    except ValueError:
        return None


def bill_state_choices() -> str:
    return ", ".join(s.value for s in BILL_STATES)


def cli_state_names() -> tuple[str, ...]:
    """The states as one word each for a command line (`closed-short`)."""
    return tuple(s.value.replace(" ", "-") for s in BILL_STATES)


@dataclass(frozen=True)
class Shortfall:
    parents: int  # parent bags missing to the target
    kg: float  # expected minus actual kg of the parents on the bill

    @property
    def any(self) -> bool:
        return self.parents > 0 or self.kg > 0.05

    def text(self) -> str:
        """'1 parent bag and 56.0 kg short', '56.0 kg short', '' (nothing short)."""
        parts = []
        if self.parents > 0:
            parts.append(count(self.parents, "parent bag"))
        if self.kg > 0.05:
            parts.append(f"{self.kg:,.1f} kg")
        return (" and ".join(parts) + " short") if parts else ""


def shortfall(linked: int, target: int, expected_kg: float, actual_kg: float) -> Shortfall:
    return Shortfall(max(target - linked, 0), max(expected_kg - actual_kg, 0.0))


def bill_state_text(state: BillState, short: Shortfall | None = None,
                    reason: str | None = None) -> str:
    """'closed short (1 parent bag short: truck left early)', 'full', 'closed (56.0 kg short)'."""
    text = state.value
    extra = []
    if short is not None and short.any and state is not BillState.NEW:
        if state in (BillState.LOADING,):
            if short.kg > 0.05:
                extra.append(f"{short.kg:,.1f} kg short so far")
        else:
            extra.append(short.text())
    if state is BillState.CLOSED_SHORT and reason:
        extra.append(f"reason: {reason}")
    return f"{text} ({'; '.join(extra)})" if extra else text


def bill_tone(state: BillState, short: Shortfall | None = None) -> str:
    """How a bill is coloured: 'done' (closed, nothing short), 'attention' (closed short, or
    full/closed with a kg shortfall), 'open'."""
    if state is BillState.CLOSED_SHORT:
        return "attention"
    if state in (BillState.CLOSED, BillState.FULL):
        return "attention" if short is not None and short.kg > 0.05 else "done"
    return "open"


# -- numbers --------------------------------------------------------------------------------------


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 bill', '2 bills', '1,200 children' (count(n, 'child', 'children'))."""
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Presented:
    outcome: str  # accepted | warning | refused | info
    message: str


def _role_may(role: str, action: str) -> bool:
    from station.rules import Action, may

    return may(role, Action(action))


def present(result: Any, *, role: str = "", has_centre: bool = True,
            last_parent: Any = None) -> Presented:
    """The words and colour for one service result (station.service.OpResult), for a person of
    `role` at a station with or without a centre. `last_parent` is the parent the screen showed
    before (a ParentRow), so a child scanned after it completed can say so.

    Only the wording changes (and a parent on a closed bill is amber, not green): the result
    itself, its reason and what was recorded stay as the service decided."""
    outcome = str(result.outcome)
    message = result.message
    reason = result.reason
    code = result.code
    bill = result.bill
    may_bills = _role_may(role, "bills") if role else False
    may_reopen = _role_may(role, "reopen_bill") if role else False

    if reason == Reason.BILL_FULL and bill is not None:
        nxt = ("close it (Ctrl+E) or open another bill" if may_bills
               else "ask a biller for another bill")
        message = say(Reason.BILL_FULL, "present", code=code, bill=bill.bill_id,
                      linked=bill.linked, target=bill.target, next=nxt)
    elif reason == Reason.BILL_CLOSED and result.kind != "bill":
        bill_id = bill.bill_id if bill is not None else "?"
        what = f"{code} not changed" if code else "Nothing changed"
        if may_reopen:
            nxt = "reopen it first (Ctrl+R on the bill screen, F3), or open another bill"
        else:
            nxt = "only an admin can reopen it: ask one, or open another bill"
        message = say(Reason.BILL_CLOSED, "present", what=what, bill=bill_id, next=nxt)
    elif reason == Reason.NO_PARENT and result.kind == "child" and code:
        lp = last_parent
        if lp is not None and getattr(lp, "status", "") == "completed":
            message = say(Reason.NO_PARENT, "after_complete", child=code, parent=lp.code,
                          count=lp.child_count, capacity=lp.capacity)
        else:
            message = say(Reason.NO_PARENT, "present", child=code)
    elif reason == Reason.PARENT_UNKNOWN and not has_centre and bill is not None:
        message = say(Reason.PARENT_UNKNOWN, "no_centre", parent=code, bill=bill.bill_id,
                      linked=bill.linked, target=bill.target)
    elif reason in (Reason.PARENT_SELECTED, Reason.PARENT_CREATED) and result.parent is not None \
            and result.parent.bill_id and result.parent.bill_status == CLOSED_STORED:
        p = result.parent
        nxt = ("reopen the bill first (F3, Ctrl+R)" if may_reopen
               else "only an admin can reopen the bill")
        outcome = "warning"
        message = say(Reason.PARENT_ON_CLOSED_BILL, "selected", parent=p.code, bill=p.bill_id,
                      count=p.child_count, capacity=p.capacity, next=nxt)
    elif reason == Reason.PARENT_ON_CLOSED_BILL:
        nxt = ("reopen the bill first (F3, Ctrl+R)" if may_reopen
               else "only an admin can reopen the bill")
        message = say(Reason.PARENT_ON_CLOSED_BILL, "present", code=code, said=message, next=nxt)
    elif reason == Reason.NOT_ALLOWED and "work on bills" in message:
        message = say(Reason.NOT_ALLOWED, "bills", said=message)
    return Presented(outcome, message)
