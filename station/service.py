"""The station service: every operation the window and the command line call.

Each operation checks the rules against the local view, writes its event(s) and the view change
in one transaction (committed with synchronous=FULL) and returns a small frozen OpResult.
A service object and its connection belong to one thread.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Connection

from station import APP_VERSION, PROTOCOL_VERSION
from station.bills import BillFigures, Derived, bill_figures
from station.codes import CodeKind, ParsedCode, classify, normalise, parse_bill_id
from station.errors import (
    CodeRefused,
    NotLoggedIn,
    StationError,
    StoreError,
    StoreFull,
    StoreLocked,
)
from station.events import Event, EventType, uuid7
from station.limits import check_code, check_text, wire_problems
from station.reasons import Reason, say
from station.reports import bill_parent_facts
from station.rules import (
    Action,
    Decision,
    Outcome,
    ParentFacts,
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
    warn,
)
from station.session import Operator, log_in, logged_in, login_name, permission
from station.settings import StationSettings, load_settings
from station.store import db
from station.store.local import LocalStore, iso, parse_iso, utcnow
from station.store.schema import (
    SEQ_FLOOR_KEY,
    bag_types,
    bags,
    bill_lines,
    bills,
    events,
    links,
)
from station.view import (
    ParentRow,
    apply_event,
    bill_of_parent,
    known_kind,
    load_bag_types,
    read_bill,
    read_child,
    read_parent,
    read_state_parent,
)

CURRENT_PARENT = "current_parent"
# The reason of a refusal for a value over the field limits of station.limits (typed text,
# an over-long code): nothing the centre would have to refuse is ever queued.
FIELD_LIMIT = Reason.FIELD_LIMIT

_INSERT_EVENT_SQL = (
    "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, parent_code, "
    "child_code, bill_id, data, app_version, protocol_version, sync_state) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')"
)


@dataclass(frozen=True)
class BillProgress(Derived):
    """A bill's figures (station.bills.bill_figures) with its id and stored status; percent,
    parents_missing, shortfall_kg and shortfall come with `Derived`."""

    bill_id: str
    status: str
    target: int
    linked: int
    children: int
    actual_kg: float
    expected_kg: float

    @classmethod
    def of(cls, bill_id: str, status: str, figures: BillFigures) -> BillProgress:
        return cls(bill_id, status, figures.target, figures.linked, figures.children,
                   figures.actual_kg, figures.expected_kg)



@dataclass(frozen=True)
class Changes:
    bags: frozenset[str] = frozenset()
    bills: frozenset[str] = frozenset()
    events: tuple[int, ...] = ()


@dataclass(frozen=True)
class OpResult:
    outcome: Outcome
    reason: str
    message: str
    code: str | None = None  # the bag or bill the result is about
    kind: str | None = None  # parent | child | bill
    parent: ParentRow | None = None  # the current parent after the operation
    bill: BillProgress | None = None
    changes: Changes = field(default_factory=Changes)

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.REFUSED

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "message": self.message,
            "parent": self.parent.code if self.parent else None,
            "parent_count": self.parent.child_count if self.parent else None,
            "parent_capacity": self.parent.capacity if self.parent else None,
            "bill": asdict(self.bill) if self.bill else None,
            "events": list(self.changes.events),
        }


@dataclass(frozen=True)
class BagInfo:
    code: str
    kind: str
    bag_type: str | None
    status: str
    child_count: int
    weight_kg: float
    area: str | None
    parent: str | None
    bill: str | None
    children: tuple[str, ...]
    label_text: str | None
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "type": self.kind,
            "status": self.status,
            "child_count": self.child_count,
            "children": list(self.children),
            "parent": self.parent,
            "bill": self.bill,
        }


@dataclass(frozen=True)
class BillInfo:
    bill_id: str
    status: str
    target: int
    linked: int
    children: int
    actual_kg: float
    expected_kg: float
    parents: tuple[tuple[str, int, int], ...]  # (code, child_count, capacity)
    description: str
    destination: str
    vehicle: str
    created_by: str | None
    created_at: str
    closed_reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "bill_id": self.bill_id,
            "status": self.status,
            "target": self.target,
            "linked": self.linked,
            "children": self.children,
            "actual_kg": self.actual_kg,
            "expected_kg": self.expected_kg,
            "parents": [p[0] for p in self.parents],
        }


def refused(decision: Decision, code: str | None = None, kind: str | None = None,
            parent: ParentRow | None = None) -> OpResult:
    return OpResult(decision.outcome, decision.reason, decision.message, code, kind, parent)


class UnsendableEvent(StationError):
    """An event the centre would refuse for its shape (a field over its limit): never stored."""


_Op = TypeVar("_Op", bound=Callable[..., OpResult])


def _refuses_unsendable(method: _Op) -> _Op:
    """An operation whose event would break a field limit is refused (its transaction was rolled
    back when the event was built), with the message naming the field and the limit."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> OpResult:
        try:
            return method(*args, **kwargs)
        except UnsendableEvent as exc:
            return OpResult(Outcome.REFUSED, FIELD_LIMIT, exc.message)

    return cast(_Op, wrapper)


def _field_refusal(message: str, code: str | None = None, kind: str | None = None) -> OpResult:
    return OpResult(Outcome.REFUSED, FIELD_LIMIT, say(FIELD_LIMIT, problem=message), code, kind)


class StationService:
    def __init__(
        self, store: LocalStore, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.clock = clock
        self.conn = store.connect(write=True)
        self._path = store.paths.store  # for the store's errors (built once: every action uses it)
        # Reads go through a connection of their own (a plain BEGIN): a write connection's
        # transactions take the store's write lock (BEGIN IMMEDIATE), so a read there would wait
        # behind the sync worker's writes, or another program's, and hold up scans meanwhile.
        self.reader = store.connect()
        with self._read() as conn:
            self.settings: StationSettings = load_settings(conn)
            self.bag_types = load_bag_types(conn)
        self.operator: Operator | None = None
        # the current parent could not be let go at the last log-out: the next log-in does it
        self._release_at_login = False

    def close(self) -> None:
        self.conn.close()
        self.reader.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with db.translated(self._path), self.conn.begin():
            yield self.conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A consistent read: on the reading connection (never the write lock), or inside the
        write transaction under way, which sees its own changes."""
        with db.translated(self._path):
            if self.conn.in_transaction():
                yield self.conn
                return
            conn = self.reader
            outer = conn.in_transaction()
            try:
                yield conn
            finally:
                if not outer and conn.in_transaction():
                    conn.rollback()

    def reload(self) -> None:
        """Pick up settings and bag types changed elsewhere (settings screen, sync)."""
        with self._read() as conn:
            self.settings = load_settings(conn)
            self.bag_types = load_bag_types(conn)

    @property
    def station_id(self) -> str:
        return self.settings.station_id

    # -- operators ----------------------------------------------------------------------

    def login(self, username: str, password: str) -> Operator:
        """Log an operator in (station/session.py: matched ignoring case, the lockout)."""
        name = login_name(username)
        now = self.clock()
        with self._write() as conn:
            operator = log_in(conn, name, password, now)
            if self._release_at_login:
                self.store.set_state(conn, CURRENT_PARENT, None)
        self._release_at_login = False
        self.operator = operator
        return operator

    def logout(self) -> str | None:
        """Log the operator out and let go of the current parent bag. Logging out never fails:
        the operator is out first, so nothing more is recorded under their name whatever
        happens next; when the store cannot take the parent's release now (busy, full), the
        next log-in lets it go in its own transaction, and the sentence returned says so."""
        if self.operator is None:
            return None
        self.operator = None
        code = ""
        try:
            with self._read() as conn:
                current = self._current_parent(conn)
            if current is not None:
                code = f" {current.code}"
                self.release_parent()
        except StoreError as exc:
            self._release_at_login = True
            cause = ("the disk is full" if isinstance(exc, StoreFull) else
                     "another program is writing to the store" if isinstance(exc, StoreLocked)
                     else exc.message)
            return (f"The current parent bag{code} stays selected until the next log-in "
                    f"({cause})")
        return None

    def _who(self) -> Operator:
        """The operator working, as the store holds them now: a user removed at the centre
        (the pull took their row away) is logged out here, and one whose role or area changed
        works with the new ones, from their next action on, not from their next log-in."""
        op = logged_in(self.operator)
        # One keyed read on the driver's connection (every action does this: no transaction of
        # its own to begin and end): inside the write under way, else on the reading connection.
        conn = self.conn if self.conn.in_transaction() else self.reader
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with db.translated(self._path):
            row = raw.execute("SELECT role, area FROM operators WHERE username = ?",
                              (op.username,)).fetchone()
        if row is None:
            self.operator = None
            raise NotLoggedIn(f"{op.username} is no longer an operator of this station (removed "
                              "at the centre): log in again")
        if (row[0], row[1]) != (op.role, op.area):
            op = self.operator = Operator(op.username, row[0], row[1])
        return op

    def _permission(self, action: Action) -> Decision | None:
        self._who()
        return permission(self.operator, action)

    # -- events -------------------------------------------------------------------------

    def _record(
        self,
        conn: Connection,
        etype: EventType,
        *,
        parent: str | None = None,
        child: str | None = None,
        bill: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        op = self._who()
        # gap-free after this station's last event, or after the numbers the centre already
        # holds for a reinstalled station (sync/align.py sets the floor)
        seq = conn.exec_driver_sql(
            "SELECT max(coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT "
            "CAST(value AS INTEGER) FROM sync_state WHERE key = ?), 0)) + 1", (SEQ_FLOOR_KEY,)
        ).scalar_one()
        ev = Event(
            event_id=str(uuid7()),
            station_id=self.station_id,
            seq=seq,
            type=etype,
            operator=op.username,
            device_time=iso(self.clock()),
            parent=parent,
            child=child,
            bill=bill,
            data=data or {},
            app_version=APP_VERSION,
            protocol_version=PROTOCOL_VERSION,
        )
        # The last guard: every field within the centre's limits (the station id is checked
        # when it is set: an old store's id that the centre could not register stays usable
        # alone). Raising rolls the operation's transaction back.
        for fname, problem in wire_problems(ev.to_wire()):
            if fname != "station_id":
                raise UnsendableEvent(say(
                    Reason.FIELD_LIMIT, "event", what=etype.value.replace("_", " "),
                    problem=problem,
                ))
        conn.exec_driver_sql(
            _INSERT_EVENT_SQL,
            (seq, ev.event_id, ev.station_id, str(etype), ev.operator, ev.device_time, parent,
             child, bill, ev.data_json(), APP_VERSION, PROTOCOL_VERSION),
        )
        apply_event(conn, ev, seq)
        return seq

    # -- current parent -----------------------------------------------------------------

    def current_parent(self) -> ParentRow | None:
        with self._read() as conn:
            return self._current_parent(conn)

    def _current_parent(self, conn: Connection) -> ParentRow | None:
        return read_state_parent(conn, CURRENT_PARENT)

    def release_parent(self) -> None:
        """Forget the current parent (idle time-out, log out); no event: nothing changed."""
        with self._write() as conn:
            self.store.set_state(conn, CURRENT_PARENT, None)

    # -- scanning -----------------------------------------------------------------------

    @_refuses_unsendable
    def record_scan(self, raw: str, source: str = "scanner") -> OpResult:
        """One read from a scanner, camera or the manual field: select a parent or link a child."""
        deny = self._permission(Action.SCAN)  # NotLoggedIn first, as the operator's row says
        if deny:
            return refused(deny)
        try:
            parsed = classify(raw, self.bag_types)
        except CodeRefused as exc:
            bill = self._known_bill(raw)
            if bill is not None:
                return self._bill_selected(bill)
            with self._read() as conn:
                current = self._current_parent(conn)
            return OpResult(Outcome.REFUSED, exc.reason, exc.message, None, None, current)
        too_long = check_code(parsed.code)
        if too_long:
            with self._read() as conn:
                current = self._current_parent(conn)
            return OpResult(Outcome.REFUSED, FIELD_LIMIT, say(FIELD_LIMIT, "code", problem=too_long),
                            None, parsed.kind.value, current)
        if parsed.kind is CodeKind.PARENT:
            return self._select_parent(parsed, source)
        return self._link_child(parsed, source)

    def _known_bill(self, raw: str) -> str | None:
        try:
            bill_id = parse_bill_id(raw)
        except CodeRefused:
            return None
        with self._read() as conn:
            return conn.execute(select(bills.c.bill_id).where(bills.c.bill_id == bill_id)).scalar()

    def _bill_selected(self, bill_id: str) -> OpResult:
        return OpResult(
            Outcome.ACCEPTED, Reason.BILL_SELECTED, say(Reason.BILL_SELECTED, bill=bill_id),
            bill_id, "bill",
            bill=self.bill_progress(bill_id),
        )

    def _select_parent(self, parsed: ParsedCode, source: str) -> OpResult:
        code = parsed.code
        with self._write() as conn:
            kind = known_kind(conn, code)
            decision = decide_select_parent(code, kind)
            if decision.refused:
                return refused(decision, code, "parent", self._current_parent(conn))
            assert parsed.bag_type is not None
            seq = self._record(
                conn, EventType.PARENT_SCANNED, parent=code,
                data={"bag_type": parsed.bag_type.name, "area": self.settings.area,
                      "source": source},
            )
            self.store.set_state(conn, CURRENT_PARENT, code)
            parent = read_parent(conn, code)
        assert parent is not None
        message = decision.message
        if kind is not None:
            message = say(Reason.PARENT_SELECTED, "count", parent=code,
                          count=parent.child_count, capacity=parent.capacity)
        return OpResult(
            decision.outcome, decision.reason, message, code, "parent", parent,
            changes=Changes(frozenset({code}), frozenset(), (seq,)),
        )

    def _link_child(self, parsed: ParsedCode, source: str) -> OpResult:
        code = parsed.code
        with self._write() as conn:
            current = self._current_parent(conn)
            child = read_child(conn, code)
            if child.known_kind is None:  # a known bill's id opens the bill, parent or not
                bill = conn.exec_driver_sql(  # plain SQL: every new child asks this
                    "SELECT bill_id FROM bills WHERE bill_id = ?", (code,)).scalar()
                if bill is not None:
                    return self._bill_selected(bill)
            facts = current.facts() if current else None
            if facts is None and child.parent_code is not None:
                # A second read of a child already packed (the scanner sent it twice, and the
                # first read completed its parent): harmless, as with its parent selected.
                decision = warn(Reason.ALREADY_ON_PARENT, say(
                    Reason.ALREADY_ON_PARENT, child=code, parent=child.parent_code))
            else:
                decision = decide_link(facts, child)
            if not decision.changes:
                return refused(decision, code, "child", current)
            assert current is not None
            data: dict[str, Any] = {"source": source}
            if parsed.label_text:
                data["label_text"] = parsed.label_text
            seq = self._record(
                conn, EventType.CHILD_LINKED, parent=current.code, child=code, data=data
            )
            parent = read_parent(conn, current.code)
            assert parent is not None
            if parent.status == "completed":
                self.store.set_state(conn, CURRENT_PARENT, None)
        return OpResult(
            decision.outcome, decision.reason, decision.message, code, "child", parent,
            changes=Changes(frozenset({code, parent.code}), frozenset(), (seq,)),
        )

    @_refuses_unsendable
    def finish_parent(self) -> OpResult:
        """Finish the current parent (even short: the UI confirms first); it can be resumed."""
        with self._write() as conn:
            current = self._current_parent(conn)
            decision = decide_finish(current.facts() if current else None)
            if decision.refused or current is None:
                return refused(decision)
            seq = self._record(
                conn, EventType.PARENT_FINISHED, parent=current.code,
                data={"child_count": current.child_count},
            )
            self.store.set_state(conn, CURRENT_PARENT, None)
        return OpResult(
            decision.outcome, decision.reason, decision.message, current.code, "parent", None,
            changes=Changes(frozenset({current.code}), frozenset(), (seq,)),
        )

    def _unlink(self, conn: Connection, child_code: str, *, reselect: bool) -> OpResult:
        op = self._who()
        row = conn.execute(
            select(links.c.parent_code, links.c.operator, links.c.linked_at).where(
                links.c.child_code == child_code
            )
        ).first()
        parent = read_parent(conn, row[0]) if row else None
        decision = decide_unlink(
            child_code=child_code,
            parent=parent.facts() if parent else None,
            linked_by=row[1] if row else None,
            linked_at=parse_iso(row[2]) if row else None,
            username=op.username,
            role=op.role,
            now=self.clock(),
        )
        if decision.refused or parent is None:
            return refused(decision, child_code, "child", self._current_parent(conn))
        seq = self._record(conn, EventType.CHILD_UNLINKED, parent=parent.code, child=child_code)
        if reselect:
            self.store.set_state(conn, CURRENT_PARENT, parent.code)
        return OpResult(
            decision.outcome, decision.reason, decision.message, child_code, "child",
            self._current_parent(conn),
            changes=Changes(frozenset({child_code, parent.code}), frozenset(), (seq,)),
        )

    @_refuses_unsendable
    def undo_last(self) -> OpResult:
        """Unlink the last link made at this station; its parent becomes current again."""
        with self._write() as conn:
            child = conn.execute(
                select(links.c.child_code)
                .where(links.c.station_id == self.station_id, links.c.event_seq.is_not(None))
                .order_by(links.c.event_seq.desc())
                .limit(1)
            ).scalar()
            if child is None:
                return refused(refuse(Reason.NOTHING_TO_UNDO, say(Reason.NOTHING_TO_UNDO)))
            return self._unlink(conn, child, reselect=True)

    @_refuses_unsendable
    def remove_child(self, raw_code: str) -> OpResult:
        code = normalise(raw_code)
        with self._write() as conn:
            return self._unlink(conn, code, reselect=False)

    # -- bills --------------------------------------------------------------------------

    @_refuses_unsendable
    def create_bill(
        self, raw_bill_id: str, target: int, description: str = "", destination: str = "",
        vehicle: str = "",
    ) -> OpResult:
        deny = self._permission(Action.BILLS)
        if deny:
            return refused(deny)
        try:
            bill_id = parse_bill_id(raw_bill_id)
        except CodeRefused as exc:
            return OpResult(Outcome.REFUSED, exc.reason, exc.message, None, "bill")
        if self._is_parent_code(bill_id):
            # a read of it would be that parent bag, never this bill (docs/rules.md §1)
            return refused(refuse(Reason.CODE_IS_BAG, say(Reason.CODE_IS_BAG, bill=bill_id)),
                           bill_id, "bill")
        texts = {"description": description, "destination": destination, "vehicle": vehicle}
        for fname, value in texts.items():
            value = value.strip() if isinstance(value, str) else value
            problem = check_text(fname, value)
            if problem:
                return _field_refusal(f"Bill {bill_id}: {problem}", bill_id, "bill")
            texts[fname] = value
        with self._write() as conn:
            exists = conn.execute(select(bills.c.bill_id).where(bills.c.bill_id == bill_id)).scalar()
            if exists is None and known_kind(conn, bill_id) is not None:
                return refused(
                    refuse(Reason.CODE_IS_BAG, say(Reason.CODE_IS_BAG, bill=bill_id)),
                    bill_id, "bill",
                )
            decision = decide_create_bill(bill_id, target, exists is not None)
            if decision.refused:
                return refused(decision, bill_id, "bill")
            seq = self._record(
                conn, EventType.BILL_CREATED, bill=bill_id,
                data={"target": target, **texts},
            )
        return self._bill_result(decision, bill_id, None, (seq,))

    def _is_parent_code(self, code: str) -> bool:
        try:
            return classify(code, self.bag_types).kind is CodeKind.PARENT
        except CodeRefused:
            return False

    def _bill_result(
        self, decision: Decision, bill_id: str, parent: str | None, seqs: tuple[int, ...]
    ) -> OpResult:
        return OpResult(
            decision.outcome, decision.reason, decision.message, parent or bill_id,
            "parent" if parent else "bill", None, self.bill_progress(bill_id),
            Changes(frozenset({parent}) if parent else frozenset(), frozenset({bill_id}), seqs),
        )

    @_refuses_unsendable
    def add_parent_to_bill(self, raw_bill_id: str, raw_code: str, source: str = "scanner") -> OpResult:
        deny = self._permission(Action.BILLS)
        if deny:
            return refused(deny)
        bill_id = normalise(raw_bill_id)
        try:
            parsed = classify(raw_code, self.bag_types)
        except CodeRefused as exc:
            return OpResult(Outcome.REFUSED, exc.reason, exc.message, None, None, None,
                            self.bill_progress(bill_id))
        code = parsed.code
        too_long = check_code(code)
        if too_long:
            return OpResult(Outcome.REFUSED, FIELD_LIMIT, say(FIELD_LIMIT, "code", problem=too_long),
                            None, None, None, self.bill_progress(bill_id))
        with self._write() as conn:
            kind = known_kind(conn, code)
            # a code held here as a child is one for ever (docs/rules.md §1), even when a bag
            # type added since takes it in: never a line of a bill
            if kind is CodeKind.CHILD or (parsed.kind is CodeKind.CHILD
                                          and kind is not CodeKind.PARENT):
                decision = decide_bill_add(
                    bill_id, read_bill(conn, bill_id), code, None, known_as_child=True
                )
            else:
                parent = read_parent(conn, code)
                bill_of = bill_of_parent(conn, code)
                facts = parent.facts() if parent else None
                if facts is None and bill_of is not None:
                    # a provisional line: known on a bill but not yet as a bag here
                    facts = ParentFacts(code, 0, 0, bill_of)
                decision = decide_bill_add(
                    bill_id, read_bill(conn, bill_id), code, facts,
                    short_is_error=self.settings.short_parent_is_error,
                )
            if not decision.changes:
                return OpResult(decision.outcome, decision.reason, decision.message, code,
                                "parent", None, self.bill_progress(bill_id))
            seq = self._record(
                conn, EventType.BILL_PARENT_ADDED, bill=bill_id, parent=code,
                data={"source": source},
            )
        return self._bill_result(decision, bill_id, code, (seq,))

    @_refuses_unsendable
    def remove_parent_from_bill(self, raw_bill_id: str, raw_code: str) -> OpResult:
        deny = self._permission(Action.BILLS)
        if deny:
            return refused(deny)
        bill_id, code = normalise(raw_bill_id), normalise(raw_code)
        with self._write() as conn:
            decision = decide_bill_remove(
                bill_id, read_bill(conn, bill_id), code, bill_of_parent(conn, code)
            )
            if decision.refused:
                return OpResult(decision.outcome, decision.reason, decision.message, code,
                                "parent", None, self.bill_progress(bill_id))
            seq = self._record(conn, EventType.BILL_PARENT_REMOVED, bill=bill_id, parent=code)
        return self._bill_result(decision, bill_id, code, (seq,))

    @_refuses_unsendable
    def close_bill(self, raw_bill_id: str, reason: str | None = None) -> OpResult:
        deny = self._permission(Action.BILLS)
        if deny:
            return refused(deny)
        bill_id = normalise(raw_bill_id)
        reason = reason.strip() if isinstance(reason, str) else None
        if reason:
            problem = check_text("reason", reason)
            if problem:
                return _field_refusal(f"Bill {bill_id}: {problem}", bill_id, "bill")
        with self._write() as conn:
            bill = read_bill(conn, bill_id)
            decision = decide_bill_close(bill_id, bill, reason)
            if decision.refused:
                return OpResult(decision.outcome, decision.reason, decision.message, bill_id,
                                "bill", None, self.bill_progress(bill_id))
            seq = self._record(
                conn, EventType.BILL_CLOSED, bill=bill_id,
                data={"reason": reason or None},
            )
        return self._bill_result(decision, bill_id, None, (seq,))

    @_refuses_unsendable
    def reopen_bill(self, raw_bill_id: str) -> OpResult:
        deny = self._permission(Action.REOPEN_BILL)
        if deny:
            return refused(deny)
        bill_id = normalise(raw_bill_id)
        with self._write() as conn:
            decision = decide_bill_reopen(bill_id, read_bill(conn, bill_id))
            if decision.refused:
                return OpResult(decision.outcome, decision.reason, decision.message, bill_id,
                                "bill", None, self.bill_progress(bill_id))
            seq = self._record(conn, EventType.BILL_REOPENED, bill=bill_id)
        return self._bill_result(decision, bill_id, None, (seq,))

    # -- look-ups -----------------------------------------------------------------------

    def bill_progress(self, raw_bill_id: str) -> BillProgress | None:
        bill_id = normalise(raw_bill_id)
        with self._read() as conn:
            head = conn.execute(
                select(bills.c.status, bills.c.target).where(bills.c.bill_id == bill_id)
            ).first()
            if head is None:
                return None
            figures = bill_figures(head[1], bill_parent_facts(conn, bill_id))
        return BillProgress.of(bill_id, head[0], figures)

    def lookup_bag(self, raw_code: str) -> BagInfo | None:
        try:
            code = classify(raw_code, self.bag_types).code
        except CodeRefused:
            code = normalise(raw_code)
        with self._read() as conn:
            row = conn.execute(select(bags).where(bags.c.code == code)).mappings().first()
            if row is None:
                return None
            parent = conn.execute(
                select(links.c.parent_code).where(links.c.child_code == code)
            ).scalar()
            children = tuple(
                conn.execute(
                    select(links.c.child_code)
                    .where(links.c.parent_code == code)
                    .order_by(links.c.linked_at.desc(), literal_column("links.rowid").desc())
                ).scalars()
            )
            bill = bill_of_parent(conn, code if row["kind"] == "parent" else (parent or ""))
        return BagInfo(
            code, row["kind"], row["bag_type"], row["status"], row["child_count"],
            row["weight_kg"], row["area"], parent, bill, children, row["label_text"],
            row["created_at"],
        )

    def lookup_bill(self, raw_bill_id: str) -> BillInfo | None:
        bill_id = normalise(raw_bill_id)
        progress = self.bill_progress(bill_id)
        if progress is None:
            return None
        with self._read() as conn:
            head = conn.execute(select(bills).where(bills.c.bill_id == bill_id)).mappings().one()
            parents = tuple(
                (r[0], int(r[1] or 0), int(r[2] or 0))
                for r in conn.execute(
                    select(bill_lines.c.parent_code, bags.c.child_count, bag_types.c.capacity)
                    .select_from(
                        bill_lines.outerjoin(bags, bags.c.code == bill_lines.c.parent_code)
                        .outerjoin(bag_types, bag_types.c.name == bags.c.bag_type)
                    )
                    .where(bill_lines.c.bill_id == bill_id)
                    .order_by(bill_lines.c.added_at, literal_column("bill_lines.rowid"))
                )
            )
        return BillInfo(
            bill_id, progress.status, progress.target, progress.linked, progress.children,
            progress.actual_kg, progress.expected_kg, parents, head["description"],
            head["destination"], head["vehicle"], head["created_by"], head["created_at"],
            head["closed_reason"],
        )

    def event_log(self, since: int = 0) -> list[dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute(
                select(events).where(events.c.seq > since).order_by(events.c.seq)
            ).mappings().all()
        out = []
        for r in rows:
            item = dict(r)
            item["data"] = json.loads(item["data"] or "{}")
            out.append(item)
        return out

    def pending_count(self) -> int:
        with self._read() as conn:
            return conn.execute(
                select(func.count()).select_from(events).where(events.c.sync_state == "pending")
            ).scalar_one()

