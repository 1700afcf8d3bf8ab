"""The centre's decisions behind the sync service: push (apply a batch), pull (snapshot, then
change feed), status. The HTTP app (central/app.py) authenticates the station by its token and
calls these with the station id the token belongs to, on the service role's own connection.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import psycopg2
import psycopg2.errors
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from central import ahead as ahead_mod
from central import apply, feed, validate
from station.codes import BagType
from station.events import Event
from station.reasons import Reason, say
from sync.errors import (
    Busy,
    OutOfOrder,
    StationMismatch,
    StationRevoked,
    SyncError,
    TransientError,
    UpgradeRequired,
)
from sync.protocol import (
    ACCEPTED_VERSIONS,
    MENDABLE_REASONS,
    EventResult,
    PullPage,
    PullRequest,
    PushBatch,
    PushReply,
    rolling_hash,
)

_log = logging.getLogger("tracetrack.central")

MAX_ATTEMPTS = 6
_RETRY_CODES = {"40P01", "40001", "23505"}  # deadlock, serialization, concurrent insert


@dataclass(frozen=True)
class StationRow:
    station_id: str
    area: str
    scope: str
    high_seq: int
    event_count: int
    rolling_hash: str
    now: datetime


def raw_cursor(conn: Connection) -> Any:
    """A DBAPI cursor on the same connection and transaction as `conn`."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def _pg(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc


def _translate(exc: BaseException, station_id: str) -> Exception | None:
    err = _pg(exc)
    code = getattr(err, "pgcode", None)
    text = str(err)
    if code == "TT001":
        me = text.split("station_mismatch", 1)[-1].split()[0] if "station_mismatch" in text else "?"
        return StationMismatch(me, station_id)
    if code == "TT002":
        return StationRevoked(station_id)
    if isinstance(err, (psycopg2.OperationalError, psycopg2.InterfaceError)) and code not in _RETRY_CODES:
        if "not permitted to log in" in text or "password authentication failed" in text:
            # the service's own login (stations have none): a configuration problem at the
            # centre, never a refusal of the station, which keeps its events and retries
            return TransientError("The sync service cannot log in to the central database "
                                  "(its role's password or login changed): the centre's "
                                  "administrator restarts it with the current URL")
        return TransientError(f"The central database cannot be reached: {text.strip()}")
    return None


def session(cur: Any, station_id: str) -> StationRow:
    """Check the caller may act as `station_id` and lock its row for this transaction."""
    cur.execute(
        "SELECT station_id, area, scope, high_seq, event_count, rolling_hash, now() "
        "FROM station_session(%s)",
        (station_id,),
    )
    r = cur.fetchone()
    return StationRow(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5], r[6])


class Turns:
    """When a batch turned away busy should come back: the Retry-After of this process's busy
    answers (docs/sync.md §8). Each one turned away is given the next free turn in a book of
    turns, one every `spacing_s`: how often this process finished a catch-up batch while
    batches were being turned away. So a storm's stations come back one after another at the
    pace the centre applies, not all at once, and when only a few are left they come back as
    soon as there is room instead of after a backoff grown on the luck of the line.

    The book is this process's own (each worker turns away and applies its share); a turn not
    taken up costs only that much of the horizon, which falls back to now as time passes."""

    LEARN = 0.1  # weight of the newest interval in the spacing's moving average
    BUSY_GAP_S = 1.0  # finishes further apart than this: the process was not busy in between

    def __init__(self, spacing_s: float = 0.05, floor_s: float = 0.1,
                 ceiling_s: float = 30.0) -> None:
        self.spacing_s = spacing_s
        self.floor_s = floor_s
        self.ceiling_s = ceiling_s
        self.booked_until = 0.0  # monotonic: the last turn given
        self._last_finish: float | None = None
        self._lock = threading.Lock()

    def finished(self, now: float | None = None) -> None:
        """A catch-up batch was applied (committed) by this process."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last, self._last_finish = self._last_finish, now
            if last is not None and 0 < now - last < self.BUSY_GAP_S:
                self.spacing_s += self.LEARN * ((now - last) - self.spacing_s)

    def next_turn(self, now: float | None = None) -> float:
        """Seconds until the next free turn, which is given (booked) to the caller."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.booked_until = max(self.booked_until, now) + self.spacing_s
            return min(self.ceiling_s, max(self.floor_s, self.booked_until - now))


@dataclass(frozen=True)
class Admission:
    """Admission control (docs/sync.md §8): at most `slots` batches applied at once, whoever
    sends them. A slot is an advisory lock (class `lock_class`) of the batch's own transaction,
    taken by its first statement and free again at commit or rollback (or when its connection
    dies). With every slot taken, push() raises Busy ("retry after ~busy_retry_s")."""

    slots: int
    lock_class: int
    busy_retry_s: float
    wait_s: float = 0.0  # with every slot taken, wait this long (in line, FIFO) before Busy
    # Fresh scans first: a batch of at most `express_max_events` (a station scanning live, with
    # little backlog) may also take one of these slots, which catch-up batches never take, so
    # it is not stuck behind 500-event batches of stations draining a day's backlog.
    express_slots: int = 1
    express_max_events: int = 25
    # Catch-up batches this process applies at once (None: no limit of its own). A worker
    # process that held two slots would decide both batches under one interpreter lock, in
    # turn, while another worker stood idle; with one per process each slot has its own CPU.
    # A batch waits here first (first come, first served within the process), then for a slot.
    gate: threading.Semaphore | None = field(default=None, compare=False)
    # When a batch turned away should come back (None: about busy_retry_s, jittered); fresh
    # scans (small batches) have a book of their own, so a live scan turned away is never given
    # a turn behind a storm's catch-up batches.
    turns: Turns | None = field(default=None, compare=False)
    express_turns: Turns | None = field(default=None, compare=False)

    def busy(self, message: str = "The centre is busy with other stations' batches: "
             "retrying shortly", *, small: bool = False) -> Busy:
        """The busy answer for a batch turned away, with its turn to come back."""
        book = self.express_turns if small else self.turns
        retry = (book.next_turn() if book is not None
                 else random.uniform(0.5, 1.5) * self.busy_retry_s)
        return Busy(retry, message)


@dataclass
class Pacing:
    """What a push carries and learns besides its batch and reply: a batch sent ahead waits
    until the events up to `after_seq` are stored, or OutOfOrder at `deadline` (monotonic);
    `queued` is set when the batch found every admission slot taken, so the service can tell
    the station that sending ahead only adds to the queue (docs/sync.md §4a)."""

    after_seq: int | None = None
    deadline: float = 0.0
    queued: bool = False
    # perf_counter() when the batch was in order (its events checked, the one before stored)
    # and when it got its slot: the service's Server-Timing parts
    ordered_at: float = 0.0
    admitted_at: float = 0.0
    # this process's batches in flight, for a batch sent ahead to decide itself while the one
    # before it is written (central.ahead, docs/sync.md §4b); `upto`: this batch's last seq
    ahead: ahead_mod.Handoffs | None = None
    upto: int | None = None
    # how long the look ahead took (s), and whether its decisions stood (None: no look ahead)
    look_s: float = 0.0
    look_stood: bool | None = None


class TokenChanged(SyncError):
    """The token a push was identified by is no longer the station's (rotated or revoked while
    the service remembered it): nothing was written; the service looks the token up again."""

    def __init__(self, station_id: str) -> None:
        super().__init__(f"The token of station {station_id} changed at the centre")
        self.station_id = station_id


EXPRESS_OFFSET = 1000  # express slot k is advisory lock (lock_class, EXPRESS_OFFSET + k)


def push(
    conn: Connection, authenticated_station_id: str, batch: PushBatch,
    admission: Admission | None = None, pacing: Pacing | None = None, *,
    token_hash: str | None = None,
) -> PushReply:
    """Apply one batch in one transaction (committed here); per-event results in batch order.

    `conn` must not be inside a transaction. The station id comes from the authenticated
    credential: the batch and every event in it must carry the same one. A batch sent ahead
    (`pacing.after_seq`: the last sequence number of the batch sent before it) is applied only
    once the station's events up to there are stored; at `pacing.deadline` without them it is
    refused with OutOfOrder and nothing is written. `pacing.queued` tells whether the batch had
    to queue for admission. With `token_hash` (the service's identity of the caller, possibly
    remembered from an earlier request) the station's row must still hold that token, checked
    in the batch's own transaction: else TokenChanged, nothing written.
    """
    sid = authenticated_station_id
    if batch.protocol_version not in ACCEPTED_VERSIONS:
        raise UpgradeRequired(batch.protocol_version, sorted(ACCEPTED_VERSIONS))
    if batch.station_id != sid:
        raise StationMismatch(sid, batch.station_id)
    for w in batch.events:
        claimed = str(w.get("station_id", sid)) if isinstance(w, dict) else sid
        if claimed != sid:
            raise StationMismatch(sid, claimed)
    handoffs = pacing.ahead if pacing is not None else None
    if pacing is None or handoffs is None or not batch.events:
        return _push_split(conn, sid, batch, admission, {}, pacing, token_hash)
    last = batch.events[-1].get("seq") if isinstance(batch.events[-1], dict) else None
    pacing.upto = last if isinstance(last, int) and not isinstance(last, bool) else None
    if pacing.upto is None:
        return _push_split(conn, sid, batch, admission, {}, pacing, token_hash)
    handoffs.begin(sid, pacing.upto)
    try:
        return _push_split(conn, sid, batch, admission, {}, pacing, token_hash)
    finally:
        handoffs.end(sid, pacing.upto)


class _DatabaseRefused(Exception):
    """The database refused the batch for what is in it (not for being unreachable or busy)."""

    def __init__(self, exc: BaseException) -> None:
        err = _pg(exc)
        text = str(err).strip().splitlines()
        super().__init__(text[0] if text else type(exc).__name__)
        # an event this centre holds already, sent under another number (its id is unique)
        diag = getattr(err, "diag", None)
        self.event_id_taken = isinstance(err, psycopg2.errors.UniqueViolation) and (
            getattr(diag, "constraint_name", None) == "station_events_event_id_key")


# In `refused`: look every event's id up (some came before under other numbers), not an id.
LOOK_UP_IDS = "\x00look up every id"


def _push_split(
    conn: Connection, sid: str, batch: PushBatch, admission: Admission | None,
    refused: dict[str, str], pacing: Pacing | None = None, token_hash: str | None = None,
) -> PushReply:
    """Push a batch; if the database refuses it for its content, apply it in halves (each its
    own transaction, in sequence order) down to the one event it refuses, which is recorded as
    rejected: a batch always ends with a result for every event (docs/sync.md §5)."""
    try:
        return _push_attempts(conn, sid, batch, admission, refused, pacing, token_hash)
    except _DatabaseRefused as exc:
        if exc.event_id_taken and LOOK_UP_IDS not in refused:
            # events received before, under other numbers: their first results, all at once
            refused[LOOK_UP_IDS] = ""
            return _push_split(conn, sid, batch, admission, refused, pacing, token_hash)
        if len(batch.events) <= 1:
            key = validate.event_key(batch.events[0]) if batch.events else None
            if key is None or key[0] in refused:
                raise TransientError(f"The central database refused a batch: {exc}") from exc
            refused[key[0]] = f"the central database refused it ({exc})"
            return _push_attempts(conn, sid, batch, admission, refused, None, token_hash)
        mid = len(batch.events) // 2
        first = _push_split(conn, sid, replace(batch, events=batch.events[:mid]), admission,
                            refused, None, token_hash)
        second = _push_split(conn, sid, replace(batch, events=batch.events[mid:]), admission,
                             refused, None, token_hash)
        return replace(second, results=first.results + second.results)


# Errors that come from what a batch holds: splitting it finds the event the database refuses.
_CONTENT_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError, psycopg2.ProgrammingError,
                   psycopg2.InternalError, ValueError, UnicodeError)


def _push_attempts(
    conn: Connection, sid: str, batch: PushBatch, admission: Admission | None,
    refused: dict[str, str], pacing: Pacing | None = None, token_hash: str | None = None,
) -> PushReply:
    for attempt in range(MAX_ATTEMPTS):
        held: list[threading.Semaphore] = []  # the process's gate, once this attempt has it
        try:
            with conn.begin():
                reply = _push_once(conn, sid, batch, admission, refused, pacing, token_hash,
                                   held)
                # Let go before the commit: the station's next batch, sent ahead, waits for
                # this commit (its row) and must find the gate free when it comes
                _let_go(held)
            return reply
        except apply.RetryBatch:
            pass
        except (psycopg2.Error, sa_exc.DBAPIError) as exc:
            err = _pg(exc)
            if getattr(err, "pgcode", None) in _RETRY_CODES and attempt + 1 < MAX_ATTEMPTS:
                pass
            else:
                mapped = _translate(exc, sid)
                if mapped is not None:
                    raise mapped from exc
                if isinstance(err, _CONTENT_ERRORS) and not isinstance(
                        err, psycopg2.errors.InsufficientPrivilege):
                    raise _DatabaseRefused(exc) from exc
                raise
        except (ValueError, UnicodeError) as exc:  # the driver refused a value
            raise _DatabaseRefused(exc) from exc
        finally:
            _let_go(held)
        # another station got there first: back off a little, then decide again
        time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    raise TransientError("The centre is busy with conflicting batches: retrying later")


def _let_go(held: list[threading.Semaphore]) -> None:
    while held:
        held.pop().release()


def _bad(w: Any) -> tuple[str, int] | None:
    """(event_id, seq) of an event that cannot be applied, when those at least are well formed
    (then it is recorded as rejected, and a resend finds that result)."""
    return validate.event_key(w)


# Every statement here looks rows up by key. Right after a bulk load the planner's statistics
# still describe nearly empty tables and it would scan a million-row table for each batch.
_KEYED_PLANS = "SET LOCAL enable_seqscan = off"


def _admitted_session(
    cur: Any, sid: str, admission: Admission | None, small: bool = False,
    pacing: Pacing | None = None, token_hash: str | None = None,
    held: list[threading.Semaphore] | None = None,
) -> tuple[StationRow, tuple[BagType, ...]]:
    """The batch's first round trip: keyed plans, an admission slot, the station's row locked,
    the bag types, the station's token (each a round trip of its own before, and every one
    counts when 200 stations share two cores). With `token_hash`, the row must hold that token
    (TokenChanged otherwise, before waiting for a slot). A catch-up batch first takes the
    process's gate (Admission.gate), appended to `held` for the caller to let go after the
    transaction ends."""
    line_until = time.monotonic() + (admission.wait_s if admission else 0.0)
    if admission is not None and admission.gate is not None and not small and held is not None:
        if not admission.gate.acquire(blocking=False):
            if pacing is not None:
                pacing.queued = True
            if admission.wait_s <= 0 or not admission.gate.acquire(timeout=admission.wait_s):
                raise admission.busy()  # (the gate is for catch-up batches only)
        held.append(admission.gate)
    slots = list(range(admission.slots)) if admission else []
    random.shuffle(slots)
    express: list[int] = []
    if admission and small and admission.express_slots > 0:
        express = [EXPRESS_OFFSET + k for k in range(admission.express_slots)]
        random.shuffle(express)
        slots += express  # tried after the common ones
    lock_class = admission.lock_class if admission else 0
    lock = f"pg_try_advisory_xact_lock({lock_class}, %s)" if slots else "true"
    cur.execute(
        f"{_KEYED_PLANS}; SELECT {lock}, s.station_id, s.area, s.scope, s.high_seq, "
        "s.event_count, s.rolling_hash, now(), (SELECT coalesce(json_agg(json_build_array("
        "t.name, t.pattern, t.lookalike, t.capacity, t.nominal_kg, t.kg_per_child, t.example) "
        "ORDER BY t.name), '[]') FROM station_bag_types t), s.token_hash "
        "FROM station_session(%s) s",
        ((slots[0], sid) if slots else (sid,)),
    )
    r = cur.fetchone()
    if token_hash is not None and r[9] != token_hash:
        raise TokenChanged(sid)
    admitted = bool(r[0])
    for slot in slots[1:]:
        if admitted:
            break
        cur.execute(f"SELECT pg_try_advisory_xact_lock({lock_class}, %s)", (slot,))
        admitted = bool(cur.fetchone()[0])
    if not admitted and pacing is not None:
        pacing.queued = True
    if not admitted and admission is not None and admission.wait_s > 0:
        # Wait in PostgreSQL's lock queue (first come, first served, across all workers and
        # machines) for a bounded time; the wait is the service's own session, so no client can
        # make it longer.
        cur.execute("SAVEPOINT admission")
        try:
            line = express[0] if express else slots[0]  # a small batch waits in the express line
            left_ms = max(1, int((line_until - time.monotonic()) * 1000))
            cur.execute(f"SET LOCAL lock_timeout = {left_ms}; "
                        f"SELECT pg_advisory_xact_lock({lock_class}, %s); "
                        "SET LOCAL lock_timeout = 0", (line,))
            admitted = True
            cur.execute("RELEASE SAVEPOINT admission")
        except psycopg2.errors.LockNotAvailable:
            cur.execute("ROLLBACK TO SAVEPOINT admission")
    if not admitted:
        assert admission is not None
        raise admission.busy(small=small)
    types = apply.bag_types_from_rows(r[8])
    return StationRow(r[1], r[2], r[3], int(r[4]), int(r[5]), r[6], r[7]), types


def slot_keys(admission: Admission, small: bool) -> list[int]:
    """The advisory lock keys (of `admission.lock_class`) a batch may take: the common slots,
    and the express ones too for a `small` batch."""
    slots = list(range(admission.slots))
    if small:
        slots += [EXPRESS_OFFSET + k for k in range(admission.express_slots)]
    return slots


# A batch sent ahead whose predecessor is nowhere in sight (not being applied, not stored) for
# this long is answered OutOfOrder at once: the predecessor was refused (busy) or lost, so
# waiting the whole order wait would only hold a connection and a thread for nothing.
ORDER_ABSENT_S = 1.0


def _wait_in_order(cur: Any, sid: str, after_seq: int, deadline: float) -> None:
    """Until the station's events up to `after_seq` are stored (the batch sent before this one
    committed), or OutOfOrder at `deadline`. While the batch before is being applied it holds
    the station's row: this waits on that row lock (no polling, no slot; the lock is taken in a
    savepoint and let go at once, so the batch before is never held up by this one). When the
    batch before is not there at all for ORDER_ABSENT_S (refused busy, or not arrived), OutOfOrder
    comes early."""
    delay = 0.002
    absent_since: float | None = None
    while True:
        cur.execute("SELECT high_seq FROM station_stations WHERE station_id = %s", (sid,))
        row = cur.fetchone()
        if row is None or int(row[0]) >= after_seq:
            return
        now = time.monotonic()
        left = deadline - now
        if absent_since is not None and now - absent_since >= ORDER_ABSENT_S:
            left = 0.0
        if left <= 0:
            raise OutOfOrder(f"Station {sid}'s batch up to sequence {after_seq} had not reached "
                             "the centre when the batch sent after it did: both are sent again, "
                             "in order")
        if _applying(cur, sid, left):
            absent_since = None  # it was being applied, and is done now: look again at once
            continue
        if absent_since is None:
            absent_since = time.monotonic()
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.02)


def _applying(cur: Any, sid: str, wait_s: float) -> bool:
    """Whether a batch of the station was being applied (it holds the station's row); if so,
    wait (at most `wait_s`) until it is done. Any lock taken here is let go before returning."""
    probe = "SELECT 1 FROM station_stations WHERE station_id = %s FOR KEY SHARE"
    cur.execute("SAVEPOINT in_order")
    try:
        try:
            cur.execute(probe + " NOWAIT", (sid,))
            return False
        except psycopg2.errors.LockNotAvailable:
            cur.execute("ROLLBACK TO SAVEPOINT in_order")
        try:
            cur.execute(f"SET LOCAL lock_timeout = {max(1, int(wait_s * 1000))}; {probe}", (sid,))
        except psycopg2.errors.LockNotAvailable:
            pass
        return True
    finally:
        cur.execute("ROLLBACK TO SAVEPOINT in_order; RELEASE SAVEPOINT in_order")


def _push_once(
    conn: Connection, sid: str, batch: PushBatch, admission: Admission | None,
    refused: dict[str, str] | None = None, pacing: Pacing | None = None,
    token_hash: str | None = None, held: list[threading.Semaphore] | None = None,
) -> PushReply:
    # Reading and checking the events needs no slot: it is done before asking for one, so it
    # overlaps with another batch being written.
    events: list[Event | None] = []
    prefixes: dict[int, str] = {}  # index -> its log row's columns before the result
    problems: dict[int, str] = {}
    for i, w in enumerate(batch.events):
        # Every field against the central column it lands in, before anything is written: a
        # bad event is rejected alone (malformed_event, naming the field and the limit).
        problem = validate.check_event(w)
        ekey = validate.event_key(w) if refused else None
        if ekey is not None and refused and ekey[0] in refused:
            problem = ("event", refused[ekey[0]])
        if problem is not None:
            events.append(None)
            problems[i] = problem[1]
            continue
        try:
            wire_ev = Event.from_wire(w)
            apply.parse_time(wire_ev.device_time)
            events.append(wire_ev)
            prefixes[i] = apply.event_prefix(sid, wire_ev)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            events.append(None)
            problems[i] = f"{type(exc).__name__}: {exc}"
    cur = raw_cursor(conn)
    look = _look_ahead(cur, sid, batch, events, pacing) if not refused else None
    if pacing is not None and pacing.after_seq is not None:
        _wait_in_order(cur, sid, pacing.after_seq, pacing.deadline)
    small = admission is not None and len(batch.events) <= admission.express_max_events
    if pacing is not None:
        pacing.ordered_at = time.perf_counter()
    st, types = _admitted_session(cur, sid, admission if batch.events else None, small, pacing,
                                  token_hash, held)
    if pacing is not None:
        pacing.admitted_at = time.perf_counter()
    ids = [e.event_id for e in events if e] + [b[0] for i in problems if (b := _bad(batch.events[i]))]
    seqs = [e.seq for e in events if e] + [b[1] for i in problems if (b := _bad(batch.events[i]))]
    stored: dict[str, Any] = {}
    if seqs and (min(seqs) <= st.high_seq or refused):
        # some of these may have been received before (a resend): their results stand.
        # (Above the high-water mark nothing was, unless the same event comes under a new
        # number: its unique id refuses it, and the batch comes back here with `refused` set.)
        cur.execute(
            "SELECT event_id, station_id, seq, result, reason, message "
            "FROM station_stored_results(%s, %s, %s)",
            (sid, ids, seqs),
        )
        stored = {r[0]: r for r in cur.fetchall()}
    stored_seq = {r[2]: r for r in stored.values() if r[1] == sid}

    results: list[EventResult | None] = [None] * len(events)
    records: list[dict[str, Any]] = []
    fresh: list[tuple[int, Event]] = []
    seen: dict[str, int] = {}
    fresh_seqs: set[int] = set()
    redo: set[str] = set()  # stored mendable rejections a person asked to send again
    resend = set(batch.resend)
    for i, ev in enumerate(events):
        key = ev.event_id if ev else (_bad(batch.events[i]) or ("", 0))[0]
        seq = ev.seq if ev else (_bad(batch.events[i]) or ("", 0))[1]
        if (key in stored and key in resend and ev is not None and key not in seen
                and stored[key][1] == sid and stored[key][3] == "rejected"
                and stored[key][4] in MENDABLE_REASONS):
            seen[key] = i
            redo.add(key)
            fresh.append((i, ev))
        elif key in redo:
            continue  # sent again twice in one batch: the first copy's new result
        elif key in stored and stored[key][1] != sid:
            # another station's event holds this id: this one cannot be recorded, and is not
            # given that event's result (its station would mark as applied what never was)
            results[i] = EventResult(
                key, seq, "rejected", Reason.MALFORMED_EVENT,
                say(Reason.MALFORMED_EVENT, "unrecorded",
                    problem=f"event id {key} is another station's event at the centre"))
        elif key in stored:
            r = stored[key]
            # its first result, under the number it came with (a store renumbered by mistake
            # must be able to mark it, not send it for ever)
            results[i] = EventResult(key, seq, r[3], r[4], r[5])
        elif seq in stored_seq or (seq in fresh_seqs and key not in seen):
            results[i] = EventResult(
                key, seq, "rejected", Reason.SEQ_CONFLICT,
                say(Reason.SEQ_CONFLICT, station=sid, seq=seq),
            )
        elif key in seen:
            continue  # the same event twice in one batch: it gets the first one's result
        elif ev is None:
            if key:
                seen[key] = i
                msg = say(Reason.MALFORMED_EVENT, event=key, seq=seq, problem=problems[i])
                results[i] = EventResult(key, seq, "rejected", Reason.MALFORMED_EVENT, msg)
                row = validate.loggable(batch.events[i])  # every field made safe to store
                row.update(event_id=key, seq=seq, result="rejected", reason=Reason.MALFORMED_EVENT,
                           message=msg, protocol_version=batch.protocol_version)
                records.append(row)
            else:
                # Not recordable (no usable id or sequence): answered, under what was sent so
                # the station can still mark it and show it.
                w = batch.events[i]
                raw_id = w.get("event_id") if isinstance(w, dict) else None
                raw_seq = w.get("seq") if isinstance(w, dict) else None
                results[i] = EventResult(
                    raw_id if isinstance(raw_id, str) else "",
                    raw_seq if isinstance(raw_seq, int) and not isinstance(raw_seq, bool) else -1,
                    "rejected", Reason.MALFORMED_EVENT,
                    say(Reason.MALFORMED_EVENT, "unrecorded", problem=problems[i]))
        else:
            seen[key] = i
            fresh_seqs.add(seq)
            fresh.append((i, ev))
    fresh.sort(key=lambda p: p[1].seq)
    applied: list[tuple[int, str]] = []  # (seq, event_id) of the events recorded now
    if fresh:
        if look is not None and (stored or redo or look.indices != [i for i, _ in fresh]):
            look = None  # it decided events that are not all new after all
        handoffs = pacing.ahead if pacing is not None else None
        publish = None
        if handoffs is not None and pacing is not None and pacing.upto is not None:
            upto = pacing.upto
            publish = lambda state: handoffs.decided(sid, upto, state)  # noqa: E731
        stood = _decide_and_write(cur, sid, st.area, types, fresh, results, applied, st.scope,
                                  redo, prefixes, look, publish)
        if pacing is not None:
            pacing.look_stood = stood
    for i, r in enumerate(results):
        if r is None:  # repeats inside the batch
            results[i] = results[seen[_key_of(events[i], batch.events[i])]]
    if records:  # unreadable events: recorded as rejected
        apply.copy_rows(cur, "station_events", apply.EVENT_COLUMNS,
                        [apply.event_row(sid, r) for r in records])
        applied += [(int(r["seq"]), str(r["event_id"])) for r in records]

    count, high, rhash = st.event_count, st.high_seq, st.rolling_hash
    if applied:
        applied.sort()
        count += len(applied)
        if applied[0][0] > st.high_seq:
            for _, eid in applied:
                rhash = rolling_hash(rhash, eid)
        else:  # arrived out of order: recompute over everything held for the station
            cur.execute("SELECT seq, event_id FROM station_event_ids(%s)", (sid,))
            rhash = ""
            for _, eid in sorted(cur.fetchall()):  # the new ones are stored by now
                rhash = rolling_hash(rhash, eid)
        high = max(high, applied[-1][0])
    skew = None
    if batch.device_time:
        try:
            skew = (apply.parse_time(batch.device_time) - st.now).total_seconds()
        except ValueError:
            skew = None
    info = {
        "high_seq": high, "event_count": count, "rolling_hash": rhash,
        "backlog": batch.backlog, "oldest_pending_s": batch.oldest_pending_s,
        "app_version": batch.app_version, "protocol_version": batch.protocol_version,
        "clock_skew_s": skew,
    }
    cur.execute("SELECT station_record(%s, %s::jsonb)", (sid, apply.dumps(info)))
    cur.close()
    final = [r for r in results if r is not None]
    return PushReply(final, count, high, rhash, None, skew)


def _decide_and_write(
    cur: Any, sid: str, area: str, types: tuple[BagType, ...], fresh: list[tuple[int, Event]],
    results: list[EventResult | None], applied: list[tuple[int, str]], scope: str = "area",
    redo: set[str] | None = None, prefixes: dict[int, str] | None = None,
    look: ahead_mod.LookAhead | None = None,
    publish: Callable[[apply.BatchState], None] | None = None,
) -> bool | None:
    """Decide the new events in sequence order, then write what they changed and their log
    (events decided anew, `redo`, get their logged result replaced instead).

    With `look` (the same events decided on a look ahead, central.ahead) the facts are still
    read under locks, and the look's decisions stand only if it assumed exactly those facts
    (returned: whether they stood; None without a look). `publish` is given the state once
    decided, before anything is written."""
    evs = [e for _, e in fresh]
    outcomes: list[apply.CentreResult] | None = None
    stood: bool | None = None
    if look is not None and (look.state.station_area, look.state.station_scope,
                             look.state.types) == (area, scope, types):
        state = apply.load_state(cur, evs, sid, area, types, scope, take_ids=False)
        stood = ahead_mod.facts(state) == look.facts
        if stood:
            state, delta, outcomes = look.state, look.delta, look.outcomes
        else:
            apply.take_new_ids(cur, state, state.unknown)
    else:
        state = apply.load_state(cur, evs, sid, area, types, scope)
    if outcomes is None:
        outcomes = apply.decide_batch(state, fresh)
        delta = apply.take_delta(state)
    if publish is not None:
        publish(state)
    # the log rows in the order the events were decided: a new row per new event, and an
    # event decided anew (`redo`) moved to its place in that order (a new id), since the log's
    # order is the centre's order (the replay of invariant 7, who linked a child last)
    runs: list[list[str] | tuple[str, str | None, str | None, str]] = []
    for (i, fev), out in zip(fresh, outcomes, strict=True):
        results[i] = EventResult(fev.event_id, fev.seq, out.result, out.reason, out.message)  # type: ignore[arg-type]
        if redo and fev.event_id in redo:
            runs.append((out.result, out.reason, out.message, fev.event_id))
            continue
        if not runs or not isinstance(runs[-1], list):
            runs.append([])
        runs[-1].append(apply.event_line(sid, fev, out, prefixes.get(i) if prefixes else None))  # type: ignore[union-attr]
        applied.append((fev.seq, fev.event_id))
    apply.write_delta(cur, delta, state.types)
    for run in runs:
        if isinstance(run, list):
            apply.copy_text(cur, "station_events", apply.EVENT_COLUMNS, run)
            continue
        # the event is already counted in the station's figures: only its result changes
        cur.execute(
            "UPDATE station_events SET result = %s, reason = %s, message = %s, "
            "received_at = now(), id = nextval(pg_get_serial_sequence('station_events', 'id')) "
            "WHERE event_id = %s AND station_id = %s",
            (*run[:3], run[3], sid))
    return stood


def _look_ahead(cur: Any, sid: str, batch: PushBatch, events: list[Event | None],
                pacing: Pacing | None) -> ahead_mod.LookAhead | None:
    """For a batch sent ahead whose predecessor is being applied in this process: once that
    one is decided, decide this one on a look ahead (central.ahead) while it is written. Only
    a plain batch (every event readable, none repeated, all after the predecessor's, nothing
    to send again) looks ahead; anything else is decided after the predecessor commits."""
    if (pacing is None or pacing.ahead is None or pacing.after_seq is None or batch.resend
            or not events):
        return None
    fresh: list[tuple[int, Event]] = []
    for i, ev in enumerate(events):
        if ev is None or ev.seq <= pacing.after_seq:
            return None
        fresh.append((i, ev))
    if (len({ev.event_id for _, ev in fresh}) != len(fresh)
            or len({ev.seq for _, ev in fresh}) != len(fresh)):
        return None
    handoffs = pacing.ahead
    if not handoffs.in_flight(sid, pacing.after_seq):
        return None  # not being applied in this process (or committed already)
    began = time.perf_counter()
    fresh.sort(key=lambda p: p[1].seq)
    cur.execute(_KEYED_PLANS)
    try:
        # what does not depend on the batch before: read while it is loaded and decided
        early = ahead_mod.read_ahead(cur, sid, handoffs.station_facts(sid), fresh)
        prior = handoffs.wait(sid, pacing.after_seq, pacing.deadline)
        look = None if prior is None else ahead_mod.look_ahead(cur, sid, prior, fresh, early)
    except (psycopg2.Error, sa_exc.DBAPIError):
        raise  # the transaction is spoilt: the batch's attempt fails as any would
    except Exception:  # noqa: BLE001 - a look ahead is only ever a shortcut
        _log.exception("station %s: looking ahead failed; deciding after the commit", sid)
        look = None
    pacing.look_s = time.perf_counter() - began
    return look


def _key_of(ev: Event | None, w: Any) -> str:
    if ev is not None:
        return ev.event_id
    b = _bad(w)
    return b[0] if b else ""


def station_status(conn: Connection, station_id: str) -> PushReply:
    """The centre's convergence figures for a station (a PushReply without results)."""
    own = not conn.in_transaction()
    try:
        cur = raw_cursor(conn)
        try:
            st = session(cur, station_id)
        except psycopg2.Error as exc:
            mapped = _translate(exc, station_id)
            if mapped is not None:
                raise mapped from exc
            raise
        cur.close()
        return PushReply([], st.event_count, st.high_seq, st.rolling_hash)
    finally:
        if own:
            conn.rollback()


def pull(conn: Connection, station_id: str, request: PullRequest) -> PullPage:
    """One page of what the station should hold: the snapshot first (resumable), then the feed."""
    if request.station_id != station_id:
        raise StationMismatch(station_id, request.station_id)
    own = not conn.in_transaction()
    try:
        cur = raw_cursor(conn)
        cur.execute(_KEYED_PLANS)
        try:
            st = session(cur, station_id)
        except psycopg2.Error as exc:
            mapped = _translate(exc, station_id)
            if mapped is not None:
                raise mapped from exc
            raise
        page = feed.pull_page(cur, st.station_id, st.area, st.scope, request)
        cur.close()
        return page
    finally:
        if own:
            conn.rollback()
