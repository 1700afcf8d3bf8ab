"""Reason codes and the words operators see for them (docs/rules.md, "Reasons and messages").

`Reason` names every reason a scan, an operation or an event can be refused, warned or accepted
with: the code rules (station/codes.py), the link, bill and role rules (station/rules.py), the
station service, login, the window, and the centre's own checks. It is a StrEnum, so a member is
equal to its string and serialises as it: events, sync replies, sync issues and stored rows keep
the very values they carried before it existed.

`MESSAGES` is the one table of the sentences shown for them: each reason has a template, or a
few named variants when one reason is worded differently by situation ("bill_closed" when loading
a closed bill, closing it again, or closing it). The rules' own sentences are the '' variants;
the "present" variants (and a few others) are the words `station.vocabulary.present` puts in
front of the operator, with the next step their role can take. `say` fills one in:

    say(Reason.PARENT_FULL, parent="SB00001", count=30, capacity=30)
    say(Reason.BILL_CLOSED, "already", bill="B-17")

Templates are `str.format` strings with named fields; nothing here imports anything but the
standard library, so the rules, the centre and the window all read from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Reason(StrEnum):
    # -- the code rules (station/codes.py, docs/rules.md §1) ---------------------------------
    TOO_LONG = "too_long"
    EMPTY = "empty"
    DAMAGED_PARENT = "damaged_parent"
    BAD_LABEL_NUMBER = "bad_label_number"
    NOT_A_CODE = "not_a_code"
    BAD_BILL_ID = "bad_bill_id"
    CODE_IS_BAG = "code_is_bag"
    # -- parents and linking (docs/rules.md §2) -----------------------------------------------
    PARENT_CREATED = "parent_created"
    PARENT_SELECTED = "parent_selected"
    CODE_IS_CHILD = "code_is_child"
    NO_PARENT = "no_parent"
    PARENT_ON_CLOSED_BILL = "parent_on_closed_bill"
    CODE_IS_PARENT = "code_is_parent"
    PARENT_FULL = "parent_full"
    ALREADY_ON_PARENT = "already_on_parent"
    CHILD_ON_OTHER_PARENT = "child_on_other_parent"
    CHILD_LINKED = "child_linked"
    PARENT_COMPLETED = "parent_completed"
    PARENT_FINISHED = "parent_finished"
    PARENT_FINISHED_SHORT = "parent_finished_short"
    NOT_LINKED = "not_linked"
    NOT_YOUR_LINK = "not_your_link"
    UNDO_TOO_OLD = "undo_too_old"
    CHILD_UNLINKED = "child_unlinked"
    NOTHING_TO_UNDO = "nothing_to_undo"
    # -- bills (docs/rules.md §4) ---------------------------------------------------------------
    BILL_SELECTED = "bill_selected"
    BILL_EXISTS = "bill_exists"
    BAD_TARGET = "bad_target"
    BILL_CREATED = "bill_created"
    NO_BILL = "no_bill"
    NO_BILL_OPEN = "no_bill_open"
    BILL_CLOSED = "bill_closed"
    NOT_A_PARENT = "not_a_parent"
    ALREADY_ON_BILL = "already_on_bill"
    PARENT_ON_OTHER_BILL = "parent_on_other_bill"
    BILL_FULL = "bill_full"
    PARENT_UNKNOWN = "parent_unknown"
    PARENT_SHORT = "parent_short"
    BILL_PARENT_ADDED = "bill_parent_added"
    NOT_ON_BILL = "not_on_bill"
    BILL_PARENT_REMOVED = "bill_parent_removed"
    REASON_REQUIRED = "reason_required"
    BILL_CLOSED_SHORT = "bill_closed_short"
    BILL_NOT_CLOSED = "bill_not_closed"
    BILL_REOPENED = "bill_reopened"
    # -- operators (docs/rules.md §5) -------------------------------------------------------------
    NOT_ALLOWED = "not_allowed"
    NOT_LOGGED_IN = "not_logged_in"
    UNKNOWN_USER = "unknown_user"
    LOCKED = "locked"
    WRONG_PASSWORD = "wrong_password"
    CANNOT_LOG_IN_HERE = "cannot_log_in_here"
    # -- the station ----------------------------------------------------------------------------
    FIELD_LIMIT = "field_limit"  # a value over station.limits: nothing the centre would refuse is queued
    NOT_SAVED = "not_saved"  # the store could not take a scan (disk full, locked, logged out)
    SCANNING_PAUSED = "scanning_paused"  # a read while a screen takes no scans
    # -- the centre's own (docs/sync.md) -------------------------------------------------------
    MISSING_CODE = "missing_code"
    MALFORMED_EVENT = "malformed_event"
    SEQ_CONFLICT = "seq_conflict"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNKNOWN_OPERATOR = "unknown_operator"
    OPERATOR_NOT_VERIFIED = "operator_not_verified"
    OPERATOR_OTHER_AREA = "operator_other_area"
    # a code held as the other kind of bag: sync/pull.py corrects a rejected parent scan for it;
    # today's centre says code_is_child instead
    KIND_CONFLICT = "kind_conflict"


# Rejections an administrator can mend at the centre (a user added, verified, or moved to the
# station's area), so that a biller or admin may send the event again.
MENDABLE: Final = frozenset(
    {Reason.UNKNOWN_OPERATOR, Reason.OPERATOR_NOT_VERIFIED, Reason.OPERATOR_OTHER_AREA}
)

# Warnings that still record the change (the other warnings are harmless re-scans).
WARNINGS_THAT_CHANGE: Final = frozenset({Reason.PARENT_SHORT, Reason.PARENT_UNKNOWN})

# Warnings that change nothing: the centre answers them as duplicates.
NO_CHANGE_WARNINGS: Final = frozenset({Reason.ALREADY_ON_PARENT, Reason.ALREADY_ON_BILL})

_MANY_CHILDREN = "child codes are 4-20 letters or digits"
_SEND_AGAIN = "then a biller or admin presses Send again on the Sync issues screen"

# The one table of operator messages. A value is a template, or {variant: template}.
MESSAGES: Final[Mapping[Reason, str | Mapping[str, str]]] = {
    Reason.TOO_LONG: "Not a bag code: too long ({length} characters, at most {most}): {read}",
    Reason.EMPTY: "Nothing to read in {read}: the scan was empty",
    Reason.DAMAGED_PARENT: (
        "{read} looks like a parent code but is not one: {type} parent codes look like {example}"
    ),
    Reason.BAD_LABEL_NUMBER: (
        "Label number {number} in {read} is not a child code: " + _MANY_CHILDREN
    ),
    Reason.NOT_A_CODE: (
        "Not a bag code: {read} (parent codes look like {examples}; " + _MANY_CHILDREN + ")"
    ),
    Reason.BAD_BILL_ID: (
        "Not a bill id: {read} (bill ids are 3-50 characters of letters, digits and - _ / .)"
    ),
    Reason.CODE_IS_BAG: "{bill} is a bag code: choose another bill id",
    Reason.PARENT_CREATED: "New parent {parent}: scan its child bags",
    Reason.PARENT_SELECTED: {
        "": "Parent {parent} selected",
        "count": "Parent {parent} selected ({count}/{capacity})",
    },
    Reason.CODE_IS_CHILD: "{parent} is a child bag, not a parent: scan a parent bag",
    Reason.NO_PARENT: {
        "": "Scan a parent bag first (then {child})",
        "finish": "No parent bag is selected: nothing to finish",
        "present": "{child} not linked: no parent bag is selected. Scan a parent bag, then "
                   "{child} again",
        "after_complete": "{child} not linked: {parent} is complete ({count}/{capacity}) and "
                          "no parent bag is selected now. Scan the next parent bag, then "
                          "{child} again",
    },
    Reason.PARENT_ON_CLOSED_BILL: {
        "": "{parent} is on closed bill {bill}",
        "present": "{code} not changed: {said} and cannot change; {next}",
        "selected": "{parent} is on closed bill {bill} ({count}/{capacity}): its children "
                    "cannot change; {next}. Scan another parent bag",
    },
    Reason.CODE_IS_PARENT: "{child} is a parent bag and cannot go in a parent",
    Reason.PARENT_FULL: "{parent} is full ({count}/{capacity}). Scan the next parent bag",
    Reason.ALREADY_ON_PARENT: "{child} already on {parent}",
    Reason.CHILD_ON_OTHER_PARENT: "{child} is already in {parent}{where}",
    Reason.CHILD_LINKED: "{child} linked to {parent} ({count}/{capacity})",
    Reason.PARENT_COMPLETED: "{child} linked: {parent} complete ({count}/{capacity})",
    Reason.PARENT_FINISHED: "{parent} is complete ({count}/{capacity})",
    Reason.PARENT_FINISHED_SHORT: (
        "{parent} finished short ({count}/{capacity}): scan it again to resume"
    ),
    Reason.NOT_LINKED: {
        "": "{child} is not in any parent bag",
        "other": "{child} is not in {parent} (it is in {current})",
    },
    Reason.NOT_YOUR_LINK: (
        "{child} in {parent} was linked by {linked_by}: "
        "a dispatcher may only undo their own links (ask a biller)"
    ),
    Reason.UNDO_TOO_OLD: (
        "{child} was linked to {parent} {minutes} minutes ago: a dispatcher "
        "may only undo links of the last {window} minutes (ask a biller)"
    ),
    Reason.CHILD_UNLINKED: "{child} removed from {parent} ({count}/{capacity})",
    Reason.NOTHING_TO_UNDO: "Nothing to undo: no link made here",
    Reason.BILL_SELECTED: {
        "": "Bill {bill} scanned",
        "opened": "Bill {bill} opened",
    },
    Reason.BILL_EXISTS: "Bill {bill} exists already",
    Reason.BAD_TARGET: (
        "Bill {bill}: target {target} parent bags is out of range (1-{most})"
    ),
    Reason.BILL_CREATED: "Bill {bill} created: target {target} parent bags",
    Reason.NO_BILL: "Bill {bill} does not exist here",
    Reason.NO_BILL_OPEN: "No bill is open: scan or type a bill id first ({read} was not added)",
    Reason.BILL_CLOSED: {
        "": "Bill {bill} is closed: reopen it first",
        "already": "Bill {bill} is closed already",
        "closed": "Bill {bill} closed ({linked}/{target})",
        "present": "{what}: bill {bill} is closed; {next}",
    },
    Reason.NOT_A_PARENT: {
        "": "{parent} is a child bag: only parent bags go on a bill",
        "centre": "{parent} is not a parent code: parent codes look like {examples}",
    },
    Reason.ALREADY_ON_BILL: "{parent} already on bill {bill}",
    Reason.PARENT_ON_OTHER_BILL: "{parent} is on bill {other}",
    Reason.BILL_FULL: {
        "": "Bill {bill} is full ({linked}/{target})",
        "present": "{code} not added: bill {bill} is full ({linked}/{target} parent bags). "
                   "Keep {code} aside; {next}",
    },
    Reason.PARENT_UNKNOWN: {
        "": (
            "{parent} is not known here yet: added to bill {bill} {progress} "
            "provisionally, the centre confirms it at sync"
        ),
        "centre": (
            "{parent} is not known at the centre (never scanned as a parent bag): "
            "not added to bill {bill}"
        ),
        "no_centre": (
            "{parent} is not known at this station: added to bill {bill} ({linked}/{target}) "
            "with no children or weight. This station has no centre to fill them in: pack "
            "{parent} on this station (F2) to count it"
        ),
    },
    Reason.PARENT_SHORT: {
        "": "{parent} has only {count}/{capacity} children; added to bill {bill} {progress}",
        "refused": (
            "{parent} has only {count}/{capacity} children: finish it before loading it on a bill"
        ),
    },
    Reason.BILL_PARENT_ADDED: "{parent} added to bill {bill} {progress}",
    Reason.NOT_ON_BILL: "{parent} is not on bill {bill}",
    Reason.BILL_PARENT_REMOVED: "{parent} removed from bill {bill} ({linked}/{target})",
    Reason.REASON_REQUIRED: (
        "Bill {bill} has {linked}/{target} parent bags: closing it short needs a reason"
    ),
    Reason.BILL_CLOSED_SHORT: "Bill {bill} closed short ({linked}/{target}): {reason}",
    Reason.BILL_NOT_CLOSED: "Bill {bill} is not closed",
    Reason.BILL_REOPENED: "Bill {bill} reopened",
    Reason.NOT_ALLOWED: {
        "": "{who} may not {what}",
        "bills": "{said}: bills are loaded by a biller or an admin",
    },
    Reason.NOT_LOGGED_IN: (
        "Not recorded: {read} was scanned before anyone logged in. Log in first"
    ),
    Reason.UNKNOWN_USER: {
        "": "No operator {name!r} at this station: check the user name",
        "bad_name": "No operator {name} at this station: {problem}",
    },
    Reason.LOCKED: {
        "": "{user} is locked after {most} wrong passwords until {until}",
        "now": "Wrong password for {user}: locked for 15 minutes, until {until}",
    },
    Reason.WRONG_PASSWORD: "Wrong password for {user} (attempt {failed} of {most})",
    Reason.CANNOT_LOG_IN_HERE: "{user}: {why}",
    Reason.FIELD_LIMIT: {
        "": "{problem}: nothing was saved",
        "code": "{problem}: not recorded",
        "event": "Not saved: this {what} event could not be sent to the centre ({problem})",
    },
    Reason.NOT_SAVED: {
        "": "{read} was NOT saved: {problem}",
        "logged_out": "{read} not recorded: {problem}",
    },
    Reason.SCANNING_PAUSED: "{text}",  # worded by the screen that took the read (ui/keys.py)
    Reason.MISSING_CODE: "The event names no {kind} bag",
    Reason.MALFORMED_EVENT: {
        "": "Event {event} (seq {seq}) cannot be applied: {problem}",
        "unrecorded": "An event that cannot be recorded: {problem}",
    },
    Reason.SEQ_CONFLICT: (
        "Station {station} sent two different events with sequence number {seq}: "
        "the second was not applied"
    ),
    Reason.UNKNOWN_EVENT_TYPE: "Event type {type!r} is not known at the centre",
    Reason.UNKNOWN_OPERATOR: (
        "Operator {operator!r} is not a user of the central system: an administrator "
        "adds the user, " + _SEND_AGAIN
    ),
    Reason.OPERATOR_NOT_VERIFIED: (
        "Operator {operator} is not verified at the centre: an administrator verifies the "
        "user, " + _SEND_AGAIN
    ),
    Reason.OPERATOR_OTHER_AREA: (
        "Operator {operator} ({role} of area {area}) may not work at station "
        "{station} of area {station_area}: an administrator changes the "
        "user's area (or role), " + _SEND_AGAIN
    ),
    Reason.KIND_CONFLICT: "{code} is a {known} bag at the centre, not a {kind}",
}


def template(reason: Reason, variant: str = "") -> str:
    """The template of `reason` (its `variant` when it has several; '' is the usual one)."""
    entry = MESSAGES[reason]
    if isinstance(entry, str):
        if variant:
            raise KeyError(f"{reason} has no message variant {variant!r}")
        return entry
    return entry[variant]


def say(reason: Reason, variant: str = "", /, **facts: object) -> str:
    """The operator's sentence for `reason`, filled in with `facts`."""
    return template(reason, variant).format(**facts)


__all__ = [
    "MENDABLE", "MESSAGES", "NO_CHANGE_WARNINGS", "Reason", "WARNINGS_THAT_CHANGE", "say",
    "template",
]
