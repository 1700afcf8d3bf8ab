"""Deciding a batch's events against its loaded state (central.apply, docs/rules.md).

Each event is decided in station-sequence order by the same station.rules functions the station
uses, and what an accepted one changes comes from station.effects (shared with the station's
view), translated here into the in-memory `BatchState`; no database access (load_state read
everything). First applied wins: the order is the centre's, never the device clocks'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from central.apply_load import BatchState, _Bag, _Bill, _Origin, bag_type_of, hhmm, parse_time
from station.codes import BagType, CodeKind, normalise, parse_bill_id
from station.effects import BillChange, ParentChange, effects_of
from station.errors import CodeRefused
from station.events import Event, EventType
from station.reasons import Reason, say
from station.rules import (
    Action,
    BillFacts,
    ChildFacts,
    Decision,
    ParentFacts,
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
    refuse,
)

APPLIED, DUPLICATE, REJECTED = "applied", "duplicate", "rejected"

_ACTION_OF = {
    EventType.PARENT_SCANNED: Action.SCAN,
    EventType.CHILD_LINKED: Action.SCAN,
    EventType.PARENT_FINISHED: Action.SCAN,
    EventType.BILL_CREATED: Action.BILLS,
    EventType.BILL_PARENT_ADDED: Action.BILLS,
    EventType.BILL_PARENT_REMOVED: Action.BILLS,
    EventType.BILL_CLOSED: Action.BILLS,
    EventType.BILL_REOPENED: Action.REOPEN_BILL,
}


class RetryBatch(Exception):
    """A row the batch needs was created by a concurrent transaction: roll back and redo."""


@dataclass(frozen=True)
class CentreResult:
    """One event's result at the centre."""

    result: str
    reason: str | None
    message: str | None


# -- the facts the rules and the effects take, from the batch state -----------------------------


def _parent_facts(state: BatchState, code: str) -> ParentFacts | None:
    b = state.bags.get(code)
    if b is None or b.kind != "parent":
        return None
    bill_code = state.bag_bill.get(code)
    bill = state.bills.get(bill_code) if bill_code else None
    capacity = b.btype.capacity if b.btype else 0
    nominal = b.btype.nominal_kg if b.btype else 0.0
    return ParentFacts(
        code, capacity, b.count, bill_code, bool(bill and bill.status == "completed"), nominal
    )


def _bill_facts(state: BatchState, code: str) -> BillFacts | None:
    b = state.bills.get(code)
    return BillFacts(b.code, b.status, b.target, b.linked) if b else None


def _kind(state: BatchState, code: str) -> CodeKind | None:
    b = state.bags.get(code)
    return CodeKind(b.kind) if b else None


def _classified(code: str | None, want: CodeKind, state: BatchState) -> tuple[str, Decision | None]:
    """Run the code rules on an event's code; a Decision when it is refused."""
    types = state.types
    if not code:
        return "", refuse(Reason.MISSING_CODE, f"The event names no {want.value} bag")
    try:
        parsed = state.classify(code)
    except CodeRefused as exc:
        return code, refuse(exc.reason, exc.message)
    if want is CodeKind.PARENT and parsed.kind is not CodeKind.PARENT:
        return parsed.code, refuse(
            Reason.NOT_A_PARENT, f"{parsed.code} is not a parent code: parent codes look like "
            + " or ".join(t.example or t.name for t in types)
        )
    return parsed.code, None


def _ensure_parent(state: BatchState, code: str, ev: Event, user_id: int | None, when: datetime,
                   btype: BagType | None = None) -> _Bag:
    b = state.bags.get(code)
    if b is None:
        if btype is None:
            btype = bag_type_of(code, None, state.types)
        area = state.station_area  # from the station's registration, never from the event
        b = _Bag(None, code, "parent", area, btype, new=True, user_id=user_id,
                 created_at=when, updated_at=when)
        state.bags[code] = b
        state.bag_bill.setdefault(code, None)
        state.bag_bill_orig.setdefault(code, None)
    return b


# -- translating station.effects into the batch state -------------------------------------------


def _kg_per_child(b: _Bag) -> float:
    return b.btype.kg_per_child if b.btype else 1.0


def _set_parent(b: _Bag, ch: ParentChange, when: datetime) -> None:
    b.count = ch.child_count
    b.weight = ch.weight_kg
    b.status = ch.status
    b.updated_at = when


def _set_bill(state: BatchState, bl: _Bill, ch: BillChange, when: datetime) -> None:
    bl.linked = ch.linked
    if ch.status is not None:
        bl.status = ch.status
    if ch.sets_reason:
        bl.closed_reason = ch.closed_reason or None
        bl.reason_set = True
    bl.updated_at = when
    state.touched_bills.add(bl.code)


def _operator_refused(state: BatchState, raw: str, username: str, role: str) -> CentreResult | None:
    """An operator must be verified and may work at this station: its area's, or a biller or
    admin anywhere (a supervisor station takes everyone's)."""
    op_area, verified = state.operator_facts.get(state.operator_named(raw) or "", (None, True))
    if not verified:
        return CentreResult(
            REJECTED, Reason.OPERATOR_NOT_VERIFIED,
            f"Operator {username} is not verified at the centre: an administrator verifies the "
            "user, then a biller or admin presses Send again on the Sync issues screen")
    if role in ("biller", "admin") or state.station_scope == "all":
        return None
    if (op_area or "").strip().lower() != state.station_area.strip().lower():
        return CentreResult(
            REJECTED, Reason.OPERATOR_OTHER_AREA,
            f"Operator {username} ({role} of area {op_area or 'none'}) may not work at station "
            f"{state.station_id} of area {state.station_area}: an administrator changes the "
            "user's area (or role), then a biller or admin presses Send again on the Sync "
            "issues screen")
    return None


def decide_batch(state: BatchState, fresh: list[tuple[int, Event]]) -> list[CentreResult]:
    """Decide a batch's new events in the order given (sequence order), each on its own: one
    the rules cannot read is rejected as malformed and the rest go on."""
    out: list[CentreResult] = []
    for _, ev in fresh:
        try:
            out.append(decide_event(state, ev))
        except (KeyError, TypeError, ValueError) as exc:
            out.append(CentreResult(
                REJECTED, Reason.MALFORMED_EVENT,
                say(Reason.MALFORMED_EVENT, event=ev.event_id, seq=ev.seq, problem=exc),
            ))
    return out


def decide_event(state: BatchState, ev: Event) -> CentreResult:
    """Decide one event with the station's rule functions and change the batch state by its
    effects (station.effects); no database access: load_state read everything the batch needs."""
    when = parse_time(ev.device_time)
    name = state.operator_named(ev.operator)
    op = state.operators.get(name) if name is not None else None
    if op is None:
        return CentreResult(
            REJECTED, Reason.UNKNOWN_OPERATOR,
            f"Operator {ev.operator!r} is not a user of the central system: an administrator "
            "adds the user, then a biller or admin presses Send again on the Sync issues screen",
        )
    user_id, username, role = op
    refused = _operator_refused(state, ev.operator, username, role)
    if refused is not None:
        return refused
    action = _ACTION_OF.get(ev.type)
    if action is not None:
        deny = check_permission(role, action, username)
        if deny:
            return _reject(deny)
    t = ev.type
    if t is EventType.PARENT_SCANNED:
        code, bad = _classified(ev.parent, CodeKind.PARENT, state)
        if bad:
            return _reject(bad)
        d = decide_select_parent(code, _kind(state, code))
        if d.refused:
            return _reject(d)
        if code not in state.bags:  # its facts are None: the parent comes into being
            btype = bag_type_of(code, None, state.types)
            eff = effects_of(t, parent_code=code,
                             kg_per_child=btype.kg_per_child if btype else 1.0)
            if eff.parent is not None:
                _set_parent(_ensure_parent(state, code, ev, user_id, when, btype), eff.parent,
                            when)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.CHILD_LINKED:
        return _link(state, ev, user_id, when)
    if t is EventType.CHILD_UNLINKED:
        return _unlink(state, ev, username, role, when)
    if t is EventType.PARENT_FINISHED:
        code, bad = _classified(ev.parent, CodeKind.PARENT, state)
        if bad:
            return _reject(bad)
        d = decide_finish(_parent_facts(state, code))
        if d.refused:
            return _reject(d)
        return CentreResult(APPLIED, d.reason, d.message)  # a marker: no effects
    if t is EventType.BILL_CREATED:
        return _bill_create(state, ev, user_id, when)
    if t is EventType.BILL_PARENT_ADDED:
        return _bill_add(state, ev, when)
    if t is EventType.BILL_PARENT_REMOVED:
        bill_code = normalise(ev.bill or "")
        code = normalise(ev.parent or "")
        bill = _bill_facts(state, bill_code)
        on_bill = state.bag_bill.get(code)
        d = decide_bill_remove(bill_code, bill, code, on_bill)
        if d.refused:
            return _reject(d)
        eff = effects_of(t, parent_code=code, bill=bill, on_bill=on_bill)
        if eff.line_removed is not None:
            state.bag_bill[eff.line_removed[0]] = None
        if eff.bill is not None:
            _set_bill(state, state.bills[bill_code], eff.bill, when)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.BILL_CLOSED:
        bill_code = normalise(ev.bill or "")
        bill = _bill_facts(state, bill_code)
        reason = ev.data.get("reason")
        d = decide_bill_close(bill_code, bill, reason)
        if d.refused:
            return _reject(d)
        eff = effects_of(t, bill=bill, closed_reason=reason)
        if eff.bill is not None:
            _set_bill(state, state.bills[bill_code], eff.bill, when)
        return CentreResult(APPLIED, d.reason, d.message)
    if t is EventType.BILL_REOPENED:
        bill_code = normalise(ev.bill or "")
        bill = _bill_facts(state, bill_code)
        d = decide_bill_reopen(bill_code, bill)
        if d.refused:
            return _reject(d)
        eff = effects_of(t, bill=bill)
        if eff.bill is not None:
            _set_bill(state, state.bills[bill_code], eff.bill, when)
        return CentreResult(APPLIED, d.reason, d.message)
    return CentreResult(REJECTED, Reason.UNKNOWN_EVENT_TYPE,
                        f"Event type {t!r} is not known at the centre")


def _reject(d: Decision) -> CentreResult:
    return CentreResult(REJECTED, d.reason, d.message)


def _link(state: BatchState, ev: Event, user_id: int | None, when: datetime) -> CentreResult:
    pcode, bad = _classified(ev.parent, CodeKind.PARENT, state)
    if bad:
        return _reject(bad)
    if ev.child is None:
        return _reject(refuse(Reason.MISSING_CODE, "The event names no child bag"))
    try:
        parsed = state.classify(ev.child)
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    ccode = parsed.code
    d = decide_select_parent(pcode, _kind(state, pcode))
    if d.refused:
        return _reject(d)
    facts = _parent_facts(state, pcode)
    btype = None
    if facts is None:
        # the parent was never scanned here: it comes into being, as on the station
        btype = bag_type_of(pcode, None, state.types)
        facts = ParentFacts(pcode, btype.capacity if btype else 0, 0)
    kind = CodeKind.PARENT if parsed.kind is CodeKind.PARENT else _kind(state, ccode)
    current = state.link_parent.get(ccode)
    where = None
    if current is not None and current != pcode:
        origin = state.origins.get(ccode)
        if origin is not None:
            where = f"station {origin.station_id} at {hhmm(origin.device_time)}"
        else:
            at = state.link_time.get(ccode)
            where = "the central system" + (f" at {at.astimezone(UTC):%H:%M}" if at else "")
    child = ChildFacts(ccode, kind, current, where)
    d = decide_link(facts, child)
    if d.refused:
        return _reject(d)
    if not d.changes:
        return CentreResult(DUPLICATE, d.reason, d.message)
    parent_bag = _ensure_parent(state, pcode, ev, user_id, when, btype)
    eff = effects_of(EventType.CHILD_LINKED, parent=facts, child=child,
                     kg_per_child=_kg_per_child(parent_bag))
    if ccode not in state.bags:
        state.bags[ccode] = _Bag(None, ccode, "child", parent_bag.area, None, new=True,
                                 user_id=user_id, created_at=when, updated_at=when)
        state.link_orig.setdefault(ccode, None)
    state.link_orig.setdefault(ccode, current)
    state.link_parent[ccode] = pcode  # eff.link_added
    state.link_time[ccode] = when
    state.origins[ccode] = _Origin(ev.station_id, ev.operator, ev.device_time)
    if eff.parent is not None:
        _set_parent(parent_bag, eff.parent, when)
    state.scans.append((when, pcode, ccode, user_id))
    return CentreResult(APPLIED, d.reason, d.message)


def _unlink(
    state: BatchState, ev: Event, username: str, role: str, when: datetime
) -> CentreResult:
    ccode = normalise(ev.child or "")
    pcode = normalise(ev.parent or "")
    current = state.link_parent.get(ccode)
    if current is not None and current != pcode:
        return CentreResult(
            REJECTED, Reason.NOT_LINKED, f"{ccode} is not in {pcode} (it is in {current})"
        )
    facts = _parent_facts(state, pcode) if current else None
    origin = state.origins.get(ccode) if current else None
    linked_at = state.link_time.get(ccode)
    linked_by = origin.operator if origin else None
    if origin is not None:
        linked_at = parse_time(origin.device_time)
        if state.operator_named(origin.operator) == username:
            # the same user however the event spelt them (operators match ignoring case)
            linked_by = username
    d = decide_unlink(
        child_code=ccode, parent=facts, linked_by=linked_by,
        linked_at=linked_at, username=username, role=role, now=when,
    )
    if d.refused:
        return _reject(d)
    b = state.bags[pcode]
    eff = effects_of(EventType.CHILD_UNLINKED, parent=facts,
                     child=ChildFacts(ccode, parent_code=current), kg_per_child=_kg_per_child(b))
    if eff.link_removed is not None:
        state.link_parent[ccode] = None
        state.link_orig.setdefault(ccode, current)
        state.origins.pop(ccode, None)
    if eff.parent is not None:
        _set_parent(b, eff.parent, when)
    return CentreResult(APPLIED, d.reason, d.message)


def _reads_as_parent(state: BatchState, code: str) -> bool:
    try:
        return state.classify(code).kind is CodeKind.PARENT
    except CodeRefused:
        return False


def _bill_create(state: BatchState, ev: Event, user_id: int | None, when: datetime) -> CentreResult:
    try:
        code = parse_bill_id(ev.bill or "")
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    if code not in state.bills and (_kind(state, code) is not None or _reads_as_parent(state, code)):
        # a bag here, or a code a read of which is a parent bag (never this bill): as stations
        return _reject(refuse(Reason.CODE_IS_BAG, f"{code} is a bag code: choose another bill id"))
    try:
        target = int(ev.data.get("target", 0))
    except (TypeError, ValueError):
        target = 0
    d = decide_create_bill(code, target, code in state.bills)
    if d.refused:
        return _reject(d)
    created = effects_of(EventType.BILL_CREATED, bill_id=code).bill
    assert created is not None
    state.bills[code] = _Bill(
        None, code, created.status or "", target, created.linked, new=True,
        description=str(ev.data.get("description") or ""),
        destination=str(ev.data.get("destination") or ""),
        vehicle=str(ev.data.get("vehicle") or ""), created_by_id=user_id,
        created_at=when, updated_at=when,
    )
    state.touched_bills.add(code)
    return CentreResult(APPLIED, d.reason, d.message)


def _bill_add(state: BatchState, ev: Event, when: datetime) -> CentreResult:
    bill_code = normalise(ev.bill or "")
    try:
        parsed = state.classify(ev.parent or "")
    except CodeRefused as exc:
        return CentreResult(REJECTED, exc.reason, exc.message)
    code = parsed.code
    kind = _kind(state, code)
    bill = _bill_facts(state, bill_code)
    if parsed.kind is CodeKind.CHILD and kind is not CodeKind.PARENT:
        d = decide_bill_add(bill_code, bill, code, None, known_as_child=True)
    else:
        d = decide_bill_add(bill_code, bill, code, _parent_facts(state, code))
    if d.refused:
        return _reject(d)
    if not d.changes:
        return CentreResult(DUPLICATE, d.reason, d.message)
    if d.reason == Reason.PARENT_UNKNOWN:
        # the station accepted it provisionally; the centre is where that gets decided
        return CentreResult(
            REJECTED, Reason.PARENT_UNKNOWN,
            f"{code} is not known at the centre (never scanned as a parent bag): "
            f"not added to bill {bill_code}",
        )
    eff = effects_of(EventType.BILL_PARENT_ADDED, parent_code=code, bill=bill)
    if eff.line_added is not None:
        state.bag_bill[code] = bill_code
        state.line_time[code] = when
    if eff.bill is not None:
        _set_bill(state, state.bills[bill_code], eff.bill, when)
    return CentreResult(APPLIED, d.reason, d.message)
