"""Deciding a station's next batch while the one before it is written (docs/sync.md §4b).

A station draining a backlog sends batch N+1 while the centre applies N (§4a). N+1 is loaded,
decided and written only once N has committed, so the service's Python (deciding) and
PostgreSQL (writing) would take turns, one batch at a time. Here, as soon as N is decided (its
net changes cut, not yet written), a batch N+1 waiting in the same serve process decides itself
on a look ahead: the facts its events name, read without locks (as they stand before N
commits), with N's decided facts put over them for everything N held. Once N has committed, N+1
loads its facts under locks as always; if they are exactly the look ahead's, its decisions
stand (deciding is a function of the facts and the events alone), and if anything differs (a
batch of another station, the web system, N decided again after a conflict) it decides again
on what it loaded. So each batch is still decided on its facts read under locks, in
station-sequence order, and written in one transaction.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, fields
from typing import Any

from central.apply_decide import CentreResult, decide_batch
from central.apply_load import BatchState, _Bag, _Bill, _codes_of, load_state, take_new_ids
from central.apply_write import Delta, take_delta
from station.codes import BagType
from station.events import Event


class Handoffs:
    """This serve process's batches in flight, by station and last sequence number, and the
    state each one leaves once decided (before it is written)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # (station, last seq) -> [requests in flight, decided state, batches waiting for it]
        self._flight: dict[tuple[str, int], list[Any]] = {}
        # station -> (area, scope, bag types) of its last decided batch: what its next look
        # ahead reads its facts with before the batch before it is decided
        self._station: dict[str, tuple[str, str, tuple[BagType, ...]]] = {}

    def in_flight(self, station_id: str, upto: int) -> bool:
        with self._cond:
            entry = self._flight.get((station_id, upto))
            return entry is not None and entry[0] > 0

    def station_facts(self, station_id: str) -> tuple[str, str, tuple[BagType, ...]] | None:
        with self._cond:
            return self._station.get(station_id)

    def begin(self, station_id: str, upto: int) -> None:
        with self._cond:
            entry = self._flight.setdefault((station_id, upto), [0, None, 0])
            if entry[0] == 0:
                entry[1] = None  # a state left by an earlier request of the same batch
            entry[0] += 1

    def decided(self, station_id: str, upto: int, state: BatchState) -> None:
        with self._cond:
            entry = self._flight.get((station_id, upto))
            if entry is not None:
                entry[1] = state
                self._cond.notify_all()
            if len(self._station) >= 10_000:
                self._station.clear()
            self._station[station_id] = (state.station_area, state.station_scope, state.types)

    def end(self, station_id: str, upto: int) -> None:
        with self._cond:
            key = (station_id, upto)
            entry = self._flight.get(key)
            if entry is not None:
                entry[0] -= 1
                if entry[0] <= 0 and entry[2] <= 0:
                    del self._flight[key]
                self._cond.notify_all()

    def wait(self, station_id: str, upto: int, deadline: float) -> BatchState | None:
        """The decided state of the station's batch ending at `upto`, once it has one; None at
        once when that batch is not in flight in this process, or when it ends undecided, or
        at `deadline` (monotonic)."""
        key = (station_id, upto)
        with self._cond:
            entry = self._flight.get(key)
            if entry is None:
                return None
            entry[2] += 1
            try:
                while entry[1] is None and entry[0] > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                return entry[1]  # type: ignore[no-any-return]
            finally:
                entry[2] -= 1
                if entry[0] <= 0 and entry[2] <= 0:
                    self._flight.pop(key, None)


@dataclass
class LookAhead:
    """A batch decided on a look ahead: what it assumed, and what it decided."""

    indices: list[int]  # the events decided, by their place in the batch, in sequence order
    facts: tuple[Any, ...]  # facts(state) before deciding
    state: BatchState  # after deciding, its delta cut
    delta: Delta
    outcomes: list[CentreResult]


def read_ahead(cur: Any, station_id: str,
               station: tuple[str, str, tuple[BagType, ...]] | None,
               fresh: list[tuple[int, Event]]) -> BatchState | None:
    """The facts `fresh` names as they stand now, read without locks, for a look ahead made
    once the batch before is decided (its facts then go over these). `station`: the area,
    scope and bag types to read them with (None: not known yet, nothing read)."""
    if station is None:
        return None
    area, scope, types = station
    return load_state(cur, [e for _, e in fresh], station_id, area, types, scope,
                      lock=False, take_ids=False)


def look_ahead(cur: Any, station_id: str, prior: BatchState,
               fresh: list[tuple[int, Event]], early: BatchState | None = None,
               ) -> LookAhead | None:
    """Decide `fresh` on the facts as they will stand once the batch that left `prior` commits
    (None: that cannot be told here, it is decided after that commit as always). `early`: its
    facts read (read_ahead) before prior was decided, used if read for the same station facts."""
    events = [e for _, e in fresh]
    if early is not None and (early.station_area, early.station_scope, early.types) == (
            prior.station_area, prior.station_scope, prior.types):
        state = early
    else:
        state = load_state(cur, events, station_id, prior.station_area, prior.types,
                           prior.station_scope, lock=False, take_ids=False)
    bag_codes, bill_codes, _ = _codes_of(events)
    if not _overlay(state, prior, bag_codes, bill_codes):
        return None
    state.unknown = len(bag_codes - state.bags.keys())
    take_new_ids(cur, state, state.unknown)
    seen = facts(state)
    outcomes = decide_batch(state, fresh)
    return LookAhead([i for i, _ in fresh], seen, state, take_delta(state), outcomes)


def _as_loaded_bag(b: _Bag) -> _Bag:
    parent = b.kind == "parent"
    return _Bag(b.id, b.code, b.kind, b.area, b.btype if parent else None,
                count=b.count if parent else 0, orig_count=b.count if parent else 0,
                status=b.status, created_at=b.created_at)


def _overlay(state: BatchState, prior: BatchState, bag_codes: set[str],
             bill_codes: set[str]) -> bool:
    """Put the decided facts of `prior` over `state` (read before prior's batch committed),
    in the shape load_state gives them, for every code prior held."""
    for code in bag_codes:
        pb = prior.bags.get(code)
        if pb is None:
            continue
        if pb.id is None:
            return False
        state.bags[code] = _as_loaded_bag(pb)
        if pb.kind == "child":
            parent = prior.link_parent.get(code)
            if parent is None:
                for m in (state.link_parent, state.link_orig, state.link_time, state.origins):
                    m.pop(code, None)
            else:
                state.link_parent[code] = state.link_orig[code] = parent
                state.link_time[code] = prior.link_time[code]
                origin = prior.origins.get(code)
                if origin is None:
                    state.origins.pop(code, None)
                else:
                    state.origins[code] = origin
        elif pb.kind == "parent":
            bill = prior.bag_bill.get(code)
            if bill is None:
                state.bag_bill.pop(code, None)
                state.bag_bill_orig.pop(code, None)
            else:
                state.bag_bill[code] = state.bag_bill_orig[code] = bill
    wanted = set(bill_codes) | {b for b in state.bag_bill.values() if b}
    for code in wanted:
        pl = prior.bills.get(code)
        if pl is None:
            continue
        if pl.id is None:
            return False
        state.bills[code] = _Bill(pl.id, pl.code, pl.status, pl.target, pl.linked,
                                  orig_status=pl.status, created_at=pl.created_at)
    for code in list(state.bills):
        if code not in wanted:
            del state.bills[code]
    return True


_BAG_FIELDS = tuple(f.name for f in fields(_Bag))
_BILL_FIELDS = tuple(f.name for f in fields(_Bill))


def facts(s: BatchState) -> tuple[Any, ...]:
    """Everything deciding reads from a batch's state (all but the codes' parse cache and the
    ids taken for new bags), as plain values to compare."""
    types: tuple[BagType, ...] = s.types
    return (
        types, s.station_id, s.station_area, s.station_scope,
        {c: tuple(getattr(b, n) for n in _BAG_FIELDS) for c, b in s.bags.items()},
        dict(s.link_parent), dict(s.link_orig), dict(s.link_time),
        {c: (o.station_id, o.operator, o.device_time) for c, o in s.origins.items()},
        dict(s.bag_bill), dict(s.bag_bill_orig), dict(s.line_time),
        {c: tuple(getattr(b, n) for n in _BILL_FIELDS) for c, b in s.bills.items()},
        set(s.touched_bills), dict(s.operators), dict(s.operator_facts), list(s.scans),
    )
