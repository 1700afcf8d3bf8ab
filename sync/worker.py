"""The sync worker: a plain thread that pushes pending events to the centre, pulls its changes,
checks convergence, and backs off (exponential, full jitter, capped) when the centre is away.

It owns its own SQLite connection (short BEGIN IMMEDIATE transactions) and its own transport; a
listener (the Qt bridge, the command line) hears about state changes through plain callbacks,
called on the worker thread.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from station import APP_VERSION, PROTOCOL_VERSION
from station.errors import StoreError
from station.events import SyncState
from station.reasons import Reason
from station.store import db
from station.store.local import LocalStore, iso, parse_iso, utcnow
from station.store.schema import events, sync_issues
from sync import align as align_mod
from sync import pull as pull_mod
from sync.centre_settings import CentreSettings
from sync.errors import (
    Busy,
    OutOfOrder,
    StationMismatch,
    StationRevoked,
    SyncError,
    TransientError,
    UpgradeRequired,
)
from sync.protocol import MENDABLE_REASONS, PushBatch, PushReply, rolling_hash
from sync.transport import Transport

log = logging.getLogger(__name__)

# sync_state keys (station/status.py reads the first two).
CENTRE_STATE = "centre_state"
LAST_SYNC_AT = "last_sync_at"
LAST_ERROR = "last_error"
CONVERGENCE = "convergence"
HASH_SEQ = "hash_seq"
HASH_VALUE = "hash_value"
CLOCK_SKEW = "clock_skew_s"
CLOCK_SKEW_WARN_S = 300.0

ONLINE, OFFLINE, SYNCING, BLOCKED = "online", "offline", "syncing", "blocked"

MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1_000_000
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
BUSY_BATCH_KEEP_S = 30.0  # a batch turned away as "busy" is resent unchanged within this
# "Busy" is the centre pacing its line, not a broken link. The centre's busy answer names when
# to come back (its Retry-After is the batch's turn, docs/sync.md §8): the station comes back
# then (never sooner, up to a fifth later), however many busy answers came before. A busy
# answer without one backs off exponentially, but only up to BUSY_CAP_S: with the 60 s cap, a
# station turned away five or six times in a storm slept up to half a minute while the centre
# had room.
BUSY_CAP_S = 4.0
BUSY_MIN_S = 0.05
NOTIFY_EVERY_S = 0.2  # while draining, the listener hears the figures at most this often


# The next batch: the wire's columns (sync.pull.WIRE_COLUMNS), then the resend mark, then an upper
# bound of the event's size as JSON (every text column, escaped at worst, plus keys and numbers).
_PENDING = f"sync_state = '{SyncState.PENDING.value}'"
# (every column but the two numbers; bytes, not characters: SQLite's length() of text stops at
# a NUL)
_BOUND_SQL = " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)"
                        for c in pull_mod.WIRE_COLUMNS if c not in ("seq", "protocol_version"))
_BATCH_COLUMNS = (f"{', '.join(pull_mod.WIRE_COLUMNS)}, result_reason, "
                  f"{pull_mod.WIRE_BOUND_PER_BYTE} * ({_BOUND_SQL}) + {pull_mod.WIRE_BOUND_FIXED}")
_REASON, _BOUND = len(pull_mod.WIRE_COLUMNS), len(pull_mod.WIRE_COLUMNS) + 1
_BATCH_SQL = f"SELECT {_BATCH_COLUMNS} FROM events WHERE {_PENDING} ORDER BY seq LIMIT ?"
_BATCH_AFTER_SQL = (f"SELECT {_BATCH_COLUMNS} FROM events WHERE {_PENDING} AND seq > ? "
                    "ORDER BY seq LIMIT ?")
_BACKLOG_SQL = f"SELECT count(*) FROM events WHERE {_PENDING}"
_HEAD_SQL = f"SELECT device_time FROM events WHERE {_PENDING} ORDER BY seq LIMIT 1"

# A sync issue for a rejected event (seq, reason, message, created_at), once per event.
_ISSUE_SQL = ("INSERT INTO sync_issues (event_seq, reason, message, created_at) "
              "VALUES (?, ?, ?, ?) ON CONFLICT (event_seq)")
_ISSUE_AGAIN = (" DO UPDATE SET reason = excluded.reason, message = excluded.message, "
                "created_at = excluded.created_at, acknowledged_by = NULL, acknowledged_at = NULL")

# Marks an event with the centre's result, only while it is pending (a result for an event
# marked meanwhile, e.g. by a reply that came twice, changes nothing).
_MARK_SQL = (f"UPDATE events SET sync_state = ?, result_reason = ?, result_message = ?, "
             f"synced_at = ? WHERE event_id = ? AND sync_state = '{SyncState.PENDING.value}'")


def backoff_delay(failures: int, rng: random.Random, *, base: float = BACKOFF_BASE_S,
                  cap: float = BACKOFF_CAP_S, retry_after: float | None = None,
                  busy: bool = False) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**failures)); the centre's retry-after is a floor.
    After a busy answer: the centre's retry-after, up to a fifth later (the cap only bounds the
    fifth: never sooner than asked); without one, full jitter with a cap of BUSY_CAP_S at most."""
    if busy and retry_after is not None:
        return max(BUSY_MIN_S, retry_after, min(cap, retry_after * rng.uniform(1.0, 1.2)))
    if busy:
        cap = min(cap, BUSY_CAP_S)
    ceiling = min(cap, base * (2 ** min(failures, 30)))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclass
class SyncSummary:
    """What one run (one wake-up) did; `sync --json` prints it."""

    sent: int = 0
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    pulled: int = 0
    pending: int = 0
    batches: int = 0
    state: str = OFFLINE
    error: str | None = None
    converged: bool | None = None
    clock_skew_s: float | None = None
    notice: str | None = None  # something the operator should know (e.g. a renumbered store)
    settings_changed: bool = False  # the pull brought settings from the centre, now applied
    ack_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("ack_ms")
        return d


@dataclass(frozen=True)
class SyncStatus:
    """A snapshot for the status bar (docs/sync.md §15); counts come from the local queue."""

    state: str
    pending: int
    oldest_pending_s: float | None
    last_sync_at: str | None
    issues: int
    message: str | None = None


@dataclass(frozen=True)
class Batch:
    events: list[dict[str, Any]]
    seqs: list[int]
    backlog: int
    oldest_pending_s: float | None
    resend: tuple[str, ...] = ()  # ids a person asked to send again (see request_resend)


# events.result_reason of an event waiting to be resent
RESEND_REQUESTED = align_mod.RESEND_REQUESTED


class SyncListener:
    """Callbacks from the worker thread; override what you need (the Qt bridge emits signals)."""

    def status_changed(self, status: SyncStatus) -> None:  # pragma: no cover - default no-op
        pass

    def run_finished(self, summary: SyncSummary) -> None:  # pragma: no cover
        pass


class SyncWorker:
    def __init__(
        self,
        store: LocalStore,
        transport_factory: Callable[[], Transport],
        *,
        listener: SyncListener | None = None,
        max_batch_events: int = MAX_BATCH_EVENTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        interval_s: float = 15.0,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        pull_limit: int = 5000,
        pull: bool = True,
        pull_bootstrap_limit: int = 20000,
        pull_write_rows: int | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = utcnow,
        on_ack: Callable[[float], None] | None = None,
    ) -> None:
        self.store = store
        self.transport_factory = transport_factory
        self.listener = listener or SyncListener()
        self.max_batch_events = max_batch_events
        self.max_batch_bytes = max_batch_bytes
        self.interval_s = interval_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = min(backoff_cap_s, BACKOFF_CAP_S)
        self.pull_limit = pull_limit
        self.pull_bootstrap_limit = pull_bootstrap_limit
        self.pull_write_rows = pull_write_rows
        self.pull_enabled = pull
        self.rng = rng or random.Random()
        self.clock = clock
        self.on_ack = on_ack
        self.failures = 0
        self.next_delay_s = 0.0
        self._notified_at = 0.0  # monotonic, when the listener last heard the figures
        self._wake = threading.Event()
        self._retry_now = threading.Event()  # cuts a backoff short: a new connection, stop()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        # Whether this connection has asked the centre what it holds under this station's id
        # (align.py). Asked again until an answer came: a station that starts offline must not
        # push before it knows (a reinstalled store would reuse numbers the centre holds).
        self._aligned = False
        self._conn: Connection | None = None
        self._read_conn: Connection | None = None
        self._station_id = store.settings().station_id
        self._factory_lock = threading.Lock()
        self._new_factory: Callable[[], Transport] | None = None
        # The batch a "busy" centre turned away, sent again as it is: its events cannot have
        # changed (only a reply marks them), and 200 stations retrying must not each re-read
        # and re-encode their batch from the store at every try.
        self._busy_batch: tuple[float, Batch] | None = None
        # both sides' figures when the events were last sent again for a disagreement (§16)
        self._resent_for: tuple[int, int, str, int, int, str] | None = None
        self._centre_to_note: str | None = None  # a first centre's id, not stored yet
        self._stored_state: tuple[str | None, str | None] = (None, None)  # as last written
        self.aligned_message: str | None = None  # set when the store was renumbered (align.py)

    # -- thread control ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sync-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after the current request, and wait for it."""
        self._stop.set()
        self._wake.set()
        self._retry_now.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("sync worker did not stop within %.0f s", timeout)
            self._thread = None

    def use_transport(self, factory: Callable[[], Transport]) -> None:
        """Talk to another centre (or with another credential) from the next run on."""
        with self._factory_lock:
            self._new_factory = factory
        self.failures = 0
        self.wake()
        self._retry_now.set()  # a new address or token: try it now, not after the backoff

    def wake(self) -> None:
        """New events were recorded (or the user asked): sync now, backoff permitting."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except Exception as exc:  # noqa: BLE001 - nothing may end the sync thread
                    # Outside what a run handles itself (the store unreadable at its end, say):
                    # logged, and tried again after a backoff; the queue is untouched.
                    log.exception("sync run failed")
                    try:
                        self._failed(SyncSummary(), OFFLINE,
                                     f"Sync failed unexpectedly: {exc!r} (see the log)")
                    except Exception:  # noqa: BLE001 - the store itself may be what fails
                        log.exception("sync state not recorded")
                if self._stop.is_set():
                    break
                delay = self.next_delay_s
                if self.failures == 0:
                    # Healthy: wait for new events or the pull timer.
                    self._wake.wait(delay)
                    self._wake.clear()
                else:
                    # Backing off: a new scan does not cut the wait short (no stampede); a new
                    # connection (use_transport) or stop() does.
                    self._retry_now.wait(delay)
                self._retry_now.clear()
        finally:
            self._close()

    def _close(self) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail; nothing to keep
                pass
            self._transport = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._read_conn is not None:
            self._read_conn.close()
            self._read_conn = None

    def close(self) -> None:
        """Release the connections after run_once() was used without the thread."""
        self._close()

    # -- one run -------------------------------------------------------------------------------

    def _db(self) -> Connection:
        if self._conn is None:
            self._conn = self.store.connect(write=True)
        return self._conn

    def _reader(self) -> Connection:
        """A connection for reads only (a plain BEGIN): in WAL mode it never holds the write lock,
        so reading the next batch (500 rows and a count over the whole queue) never makes the
        operator's scans wait, however fast the drain goes."""
        if self._read_conn is None:
            self._read_conn = self.store.connect()
        return self._read_conn

    def run_once(self) -> SyncSummary:
        """Push everything pending, check convergence, pull; never raises for centre trouble."""
        summary = SyncSummary()
        retry_after: float | None = None
        try:
            with self._factory_lock:
                new_factory, self._new_factory = self._new_factory, None
            if new_factory is not None:
                self._drop_transport()
                self.transport_factory = new_factory
            if self._transport is None:
                self._transport = self.transport_factory()
                self._aligned = False
                self._busy_batch = None  # read again: asking the centre may renumber the queue
            if not self._aligned:
                summary.notice = self._align(summary)
                self._aligned = True
            self._push_all(summary)
            if not self._stop.is_set() and self.pull_enabled:
                self._set_state(SYNCING)
                centre_settings = CentreSettings()  # settings set at the centre come last
                summary.pulled = pull_mod.pull_all(
                    self._db(), self._transport, self._station_id, limit=self.pull_limit,
                    bootstrap_limit=self.pull_bootstrap_limit, write_rows=self.pull_write_rows,
                    should_stop=self._stop.is_set, on_page=centre_settings,
                )
                summary.notice = centre_settings.apply(self._db()) or summary.notice
                summary.settings_changed = centre_settings.changed
            self.failures = 0
            self.next_delay_s = self.interval_s
            if self._stop.is_set():
                # stopped part-way (the window closing, a new connection): not a sync that
                # finished, so neither "online" nor a new time of last sync is recorded
                summary.state = SYNCING
            else:
                summary.state = ONLINE
                self._set_state(ONLINE, last_sync=True)
        except Busy as exc:
            retry_after = exc.retry_after
            # Reachable, just busy: still "syncing" for the operator.
            self._failed(summary, SYNCING, exc.message, retry_after, busy=True)
        except TransientError as exc:
            self._failed(summary, OFFLINE, exc.message)
        except (StationRevoked, UpgradeRequired, StationMismatch) as exc:
            self._drop_transport()
            self._failed(summary, BLOCKED, exc.message, blocked=True)
        except SyncError as exc:
            self._drop_transport()
            self._failed(summary, BLOCKED, exc.message, blocked=True)
        except StoreError as exc:
            self._failed(summary, OFFLINE, exc.message)
        except Exception as exc:
            # A bug: logged with its traceback and shown; the queue is untouched.
            log.exception("sync run failed")
            self._drop_transport()
            self._failed(summary, OFFLINE, f"Sync failed unexpectedly: {exc!r} (see the log)")
        summary.pending = self._pending_count()
        try:
            self.listener.run_finished(summary)
        except Exception:  # noqa: BLE001 - a listener bug must not stop syncing
            log.exception("sync listener failed")
        self._notify()
        return summary

    def _align(self, summary: SyncSummary) -> str | None:
        """Once per connection, before pushing: does the centre hold events of this station that
        this store does not know (a reinstalled or restored station)? Then the events still
        queued under numbers the centre has used go first as they are (those it holds come back
        with their first results), and the rest continue after the centre's."""
        figures = align_mod.centre_figures(self._transport)
        if figures is None:
            return None
        # Both looked at on the reading connection (a plain BEGIN): a connection's first run
        # takes the store's write lock only when there is something to write.
        centre = getattr(self._transport, "centre_id", None)
        moved = None
        known = align_mod.known_centre(self._reader()) if centre else None
        if centre and known is None:
            # the first centre this store meets: kept with the run's last write (_note_skew),
            # not in a transaction of its own (200 stations coming online at once all do this)
            self._centre_to_note = centre
        elif centre and known != centre:
            moved = align_mod.note_centre(self._db(), centre, also_reset=(CONVERGENCE,))
            self._resent_for = None
        if not align_mod.holds_unknown(self._reader(), figures):
            return moved  # the usual case: the store knows all the centre holds
        self._send_queued_upto(figures.high_seq, summary)
        if self._stop.is_set():
            raise TransientError("Stopped before the queue was compared with the centre")
        message = align_mod.align(self._db(), figures)
        if message is not None:
            conn = self._db()
            with conn.begin():
                pull_mod.set_sync_state(conn, CONVERGENCE, message)
            self.aligned_message = message
        return message or moved

    def _send_queued_upto(self, high: int, summary: SyncSummary) -> None:
        """Send the pending events numbered up to `high` as they are, batch by batch, and mark
        what the centre answers, except `seq_conflict` (another event of the centre's under that
        number: nothing was recorded there, and `align` renumbers these)."""
        assert self._transport is not None
        after: int | None = None
        while not self._stop.is_set():
            batch = self.next_batch(after)
            if batch is None:
                return
            keep = [i for i, seq in enumerate(batch.seqs) if seq <= high]
            if not keep:
                return
            if len(keep) < len(batch.seqs):
                batch = replace(batch, events=[batch.events[i] for i in keep],
                                seqs=[batch.seqs[i] for i in keep])
            self.record_reply(batch, self._send(batch, summary), summary,
                              keep_pending=(Reason.SEQ_CONFLICT,))
            after = batch.seqs[-1]

    def _failed(self, summary: SyncSummary, state: str, message: str,
                retry_after: float | None = None, *, blocked: bool = False,
                busy: bool = False) -> None:
        self.failures += 1
        if blocked:
            # Nothing will change by retrying fast: retry at the cap, with jitter.
            self.next_delay_s = self.backoff_cap_s * (0.5 + 0.5 * self.rng.random())
        else:
            self.next_delay_s = backoff_delay(
                self.failures - 1, self.rng, base=self.backoff_base_s, cap=self.backoff_cap_s,
                retry_after=retry_after, busy=busy,
            )
        summary.state = state
        summary.error = message
        log.info("sync %s: %s (next try in %.1f s)", state, message, self.next_delay_s)
        self._set_state(state, error=message)

    def _drop_transport(self) -> None:
        if self._transport is not None:
            try:
                self._transport.close()
            except Exception:  # noqa: BLE001
                pass
            self._transport = None

    # -- push ----------------------------------------------------------------------------------

    def _push_all(self, summary: SyncSummary) -> None:
        """Send every pending batch in sequence order. Through a transport that allows it, the
        next batch is read, encoded and sent while the centre applies the one before (one
        ahead; docs/sync.md, "Sending ahead"): the centre applies it only after that one, and
        replies are recorded in order. The first batch of a run goes alone, so a busy centre is
        not sent two; nor is one that said it had to queue a batch (the transport's
        `ahead_welcome`)."""
        assert self._transport is not None
        transport = self._transport
        ahead_ok = bool(getattr(transport, "pipelining", False))
        last_reply: PushReply | None = None
        inflight: deque[tuple[Batch, Future[tuple[PushReply, float, float]]]] = deque()
        pool: ThreadPoolExecutor | None = None
        prev_done = 0.0
        try:
            while True:
                welcome = getattr(transport, "ahead_welcome", True)
                depth = 2 if ahead_ok and welcome and last_reply is not None else 1
                while len(inflight) < depth and not self._stop.is_set():
                    after = inflight[-1][0].seqs[-1] if inflight else None
                    batch = self._next_to_send(after)
                    if batch is None:
                        break
                    if summary.batches == 0 and not inflight:
                        self._set_state(SYNCING)
                    if pool is None:
                        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync-push")
                    inflight.append((batch, pool.submit(self._request, transport, batch, after)))
                if not inflight:
                    break
                batch, fut = inflight.popleft()
                try:
                    reply, t0, t1 = fut.result()
                except Busy:
                    self._busy_batch = (time.monotonic(), batch)
                    raise
                except OutOfOrder:
                    # Sent ahead, and the batch before it took longer than the centre waits:
                    # nothing of it was written. The rest of this run goes one at a time.
                    self._settle(inflight, summary)
                    ahead_ok = False
                    continue
                # A batch sent ahead is timed from when its turn came (the reply before it).
                self._note_ack(batch, (t1 - max(t0, prev_done)) * 1000.0, summary)
                prev_done = t1
                last_reply = reply
                answered = self.record_reply(batch, reply, summary)
                if answered < len(batch.events):
                    # Those events are still pending at the head of the queue: sending them
                    # again at once would send the same batch in a loop that never ends (a
                    # centre or a proxy that drops results keeps dropping them). Retried later.
                    raise TransientError(
                        f"The centre answered for only {answered} of the {len(batch.events)} "
                        "events sent: the others stay queued and are sent again later")
                if reply.retry_after:
                    ahead_ok = False  # applied, but the centre asks to slow down
                    if self._stop.wait(min(reply.retry_after, self.backoff_cap_s)):
                        return
        finally:
            self._settle(inflight, summary)
            if pool is not None:
                pool.shutdown(wait=True)
        if self._stop.is_set():
            return
        if last_reply is None:
            # Nothing to send: an empty batch reports our backlog and brings the centre's figures.
            last_reply = self._send(self._empty_batch(), summary)
        self._note_skew(last_reply, summary)
        summary.converged = self.check_convergence(last_reply)

    def _next_to_send(self, after_seq: int | None) -> Batch | None:
        if after_seq is not None:
            return self.next_batch(after_seq)
        kept, self._busy_batch = self._busy_batch, None
        if kept is not None and time.monotonic() - kept[0] < BUSY_BATCH_KEEP_S:
            return kept[1]
        return self.next_batch()

    def _settle(self, inflight: deque[tuple[Batch, Future[tuple[PushReply, float, float]]]],
                summary: SyncSummary) -> None:
        """After a failed or stopped drain: wait for the batches still in flight and record any
        answer that came (a batch sent ahead may have been applied); failures leave theirs
        pending, to be sent again."""
        while inflight:
            batch, fut = inflight.popleft()
            try:
                reply = fut.result()[0]
            except SyncError as exc:
                log.debug("a batch sent ahead was not applied: %s", exc.message)
                continue
            except Exception:  # noqa: BLE001 - the drain's own error is the one reported
                log.exception("a batch sent ahead failed")
                continue
            self.record_reply(batch, reply, summary)

    def _pack(self, batch: Batch) -> PushBatch:
        return PushBatch(
            station_id=self._station_id, protocol_version=PROTOCOL_VERSION,
            app_version=APP_VERSION, events=batch.events, backlog=batch.backlog,
            oldest_pending_s=batch.oldest_pending_s, device_time=iso(self.clock()),
            resend=list(batch.resend),
        )

    def _request(self, transport: Transport, batch: Batch,
                 after_seq: int | None) -> tuple[PushReply, float, float]:
        """One push, on a sending thread: (reply, sent at, answered at)."""
        pb = self._pack(batch)
        t0 = time.perf_counter()
        if after_seq is None:
            reply = transport.push(pb)
        else:
            reply = transport.push(pb, after_seq=after_seq)  # type: ignore[call-arg]
        return reply, t0, time.perf_counter()

    def _note_ack(self, batch: Batch, ms: float, summary: SyncSummary) -> None:
        if batch.events:
            summary.ack_ms.append(ms)
            if self.on_ack is not None:
                self.on_ack(ms)

    def _note_skew(self, reply: PushReply, summary: SyncSummary) -> None:
        """Device clocks never decide anything; a skew over 5 minutes is only shown (item 9)."""
        skew = getattr(reply, "clock_skew_s", None)
        summary.clock_skew_s = skew
        conn = self._db()
        with conn.begin():
            pull_mod.set_sync_state(conn, CLOCK_SKEW, None if skew is None else f"{skew:.1f}")
            if self._centre_to_note is not None:
                pull_mod.set_sync_state(conn, align_mod.CENTRE_ID, self._centre_to_note)
                self._centre_to_note = None
        if skew is not None and abs(skew) > CLOCK_SKEW_WARN_S:
            log.warning("this station's clock is %.0f s %s the centre's", abs(skew),
                        "ahead of" if skew > 0 else "behind")

    def _send(self, batch: Batch, summary: SyncSummary) -> PushReply:
        assert self._transport is not None
        reply, t0, t1 = self._request(self._transport, batch, None)
        self._note_ack(batch, (t1 - t0) * 1000.0, summary)
        return reply

    def _empty_batch(self) -> Batch:
        return Batch([], [], 0, None)

    def next_batch(self, after_seq: int | None = None) -> Batch | None:
        """The oldest pending events (after `after_seq`, those of a batch still in flight),
        bounded by count and bytes, in sequence order."""
        conn = self._reader()
        with conn.begin():
            if after_seq is None:
                rows = conn.exec_driver_sql(_BATCH_SQL, (self.max_batch_events,)).all()
            else:
                rows = conn.exec_driver_sql(_BATCH_AFTER_SQL,
                                            (after_seq, self.max_batch_events)).all()
            if not rows:
                return None
            backlog = conn.exec_driver_sql(_BACKLOG_SQL).scalar_one()
            # The age of the event at the head of the queue (the first recorded of those
            # pending): found on the queue's index, where the oldest device time would read
            # every pending row, for every batch (4 ms a batch with 40 000 pending)
            oldest = rows[0][5] if after_seq is None else conn.exec_driver_sql(_HEAD_SQL).scalar()
        out: list[dict[str, Any]] = []
        seqs: list[int] = []
        resend: list[str] = []
        # Straight from the row to the wire (the same dict Event.to_wire() gives: building
        # Event objects first cost as much as reading the rows)
        wires = [pull_mod.wire_from_values(r) for r in rows]
        # Measured one by one only when all of them together may be over the limit: the rows'
        # text, as JSON, is at most WIRE_BOUND_PER_BYTE bytes a byte (the bound is summed by
        # SQLite), and one encoding of the list is several times cheaper than one per event.
        whole = (sum(r[_BOUND] for r in rows) <= self.max_batch_bytes
                 or len(json.dumps(wires, separators=(",", ":"))) <= self.max_batch_bytes)
        size = 0
        for r, wire in zip(rows, wires, strict=True):
            if not whole:
                n = len(json.dumps(wire, separators=(",", ":")))
                if out and size + n > self.max_batch_bytes:
                    break
                size += n
            out.append(wire)
            seqs.append(r[0])
            if r[_REASON] == RESEND_REQUESTED:
                resend.append(r[1])
        oldest_s = None
        if oldest:
            oldest_s = max(0.0, (self.clock() - parse_iso(oldest)).total_seconds())
        return Batch(out, seqs, int(backlog), oldest_s, tuple(resend))

    def record_reply(self, batch: Batch, reply: PushReply, summary: SyncSummary,
                     keep_pending: tuple[str, ...] = ()) -> int:
        """Mark what the reply says, in one short local transaction; unknown ids stay pending,
        and so do results whose reason is in `keep_pending`. Returns how many of the batch's
        events the reply answered (each counted once)."""
        sent = {e["event_id"]: e for e in batch.events}
        now = iso(self.clock())
        marks: list[tuple[str, str | None, str | None, str, str]] = []
        rejected: list[tuple[int, str, str, str | None]] = []
        answered: set[str] = set()
        for r in reply.results:
            ev = sent.get(r.event_id)
            if ev is None or r.seq != ev["seq"]:
                log.warning("the centre answered for an event not in the batch: %s", r.event_id)
                continue
            if r.event_id in answered:
                continue  # answered twice: the first answer counts
            answered.add(r.event_id)
            if r.reason in keep_pending:
                continue
            marks.append((r.result, r.reason, r.message, now, r.event_id))
            if r.result == "rejected":
                reason = r.reason or "rejected"
                message = r.message or f"The centre refused event {r.seq} ({reason})"
                rejected.append((r.seq, reason, message, r.reason))
        summary.sent += len(batch.events)
        summary.batches += 1
        if len(answered) < len(batch.events):
            missing = len(batch.events) - len(answered)
            log.warning("%d events of the batch got no result; they stay pending", missing)
        conn = self._db()
        with db.translated(self.store.paths.store), conn.begin():
            if marks:
                # one prepared statement for all (no per-row work of the SQL layer)
                conn.exec_driver_sql(_MARK_SQL, marks)
            if rejected:
                self._record_rejected(conn, rejected,
                                      {sent[e]["seq"] for e in batch.resend if e in sent}, now)
        for m in marks:
            if m[0] == "applied":
                summary.applied += 1
            elif m[0] == "duplicate":
                summary.duplicate += 1
            else:
                summary.rejected += 1
        # The figures a window shows (a status read is a few milliseconds: not after every
        # batch of a fast drain); the run's end always tells the last ones
        if time.monotonic() - self._notified_at >= NOTIFY_EVERY_S:
            self._notify()
        return len(answered)

    def _record_rejected(self, conn: Connection, rejected: list[tuple[int, str, str, str | None]],
                         resent: set[int], now: str) -> None:
        """A sync issue for each rejected event (open again for one that was sent again), and
        the view corrected after each (in seq order)."""
        issues = [(seq, reason, message, now) for seq, reason, message, _raw in rejected]
        new = [i for i in issues if i[0] not in resent]
        again = [i for i in issues if i[0] in resent]
        if new:
            conn.exec_driver_sql(_ISSUE_SQL + " DO NOTHING", new)
        if again:
            # sent again and refused again: an open issue again, with the new reason
            conn.exec_driver_sql(_ISSUE_SQL + _ISSUE_AGAIN, again)
        seqs = [r[0] for r in rejected]
        rows = {r.seq: r for r in conn.exec_driver_sql(
            f"SELECT * FROM events WHERE seq IN ({', '.join('?' * len(seqs))})", tuple(seqs))}
        # Newest first, as undoing goes: a refused step put right here before the refusal came
        # back (a child removed and scanned back in) is taken back before the step it put right
        todo = [(seq, pull_mod.event_from_row(rows[seq]), raw)
                for seq, _reason, _message, raw in sorted(rejected, reverse=True) if seq in rows]
        at = pull_mod.sqlite_now(self.clock())
        # In a savepoint: a view that cannot be corrected must not stop the results being
        # recorded (the events would be resent for ever); the feed fixes it. All in one first;
        # if one fails, each in its own, so the others still count.
        try:
            with conn.begin_nested():
                for _seq, ev, raw in todo:
                    pull_mod.correct_rejected(conn, ev, raw, now=at)
            return
        except Exception:  # noqa: BLE001 - found again below, event by event
            pass
        for seq, ev, raw in todo:
            try:
                with conn.begin_nested():
                    pull_mod.correct_rejected(conn, ev, raw, now=at)
            except Exception:
                log.exception("could not correct the view after rejected event %s", seq)

    # -- convergence (docs/sync.md §16) ----------------------------------------------------------

    def local_figures(self) -> tuple[int, int, str]:
        """(count, highest seq, rolling hash) over this station's events, hash cached by prefix;
        on top of the centre's figures a reinstalled store continues from (sync/align.py).
        Read without the store's write lock: hashing a long history takes a while (0.2 s for
        200 000 events), and scans must not wait for it to commit (events are never changed,
        only added after `high`; the cache is written after, in a short transaction)."""
        conn = self._reader()
        with conn.begin():
            b_count, b_seq, b_hash = align_mod.base_of(conn)
            count, high = conn.execute(
                select(func.count(), func.coalesce(func.max(events.c.seq), 0))
                .where(events.c.seq > b_seq)).one()
            count, high = int(count) + b_count, max(int(high), b_seq)
            done_seq = int(pull_mod.get_sync_state(conn, HASH_SEQ) or 0)
            h = pull_mod.get_sync_state(conn, HASH_VALUE) or ""
            if done_seq > high or done_seq < b_seq:
                done_seq, h = b_seq, b_hash
            for (eid,) in conn.exec_driver_sql(
                    "SELECT event_id FROM events WHERE seq > ? AND seq <= ? ORDER BY seq",
                    (done_seq, high)):
                h = rolling_hash(h, eid)
        if high > done_seq:
            conn = self._db()
            with conn.begin():
                pull_mod.set_sync_state(conn, HASH_SEQ, str(high))
                pull_mod.set_sync_state(conn, HASH_VALUE, h)
        return int(count), int(high), h

    def check_convergence(self, reply: PushReply) -> bool | None:
        """Compare with the centre after a drain; on a mismatch, resend what it may lack."""
        if self._pending_count() > 0:
            return None  # not drained (stopped or new events arrived): nothing to compare yet
        count, high, h = self.local_figures()
        ok = (count, high, h) == (reply.station_count, reply.high_seq, reply.rolling_hash)
        figures = (count, high, h, reply.station_count, reply.high_seq, reply.rolling_hash)
        conn = self._db()
        with conn.begin():
            if ok:
                self._resent_for = None
                pull_mod.set_sync_state(conn, CONVERGENCE, f"ok {count} {high}")
                return True
            if figures == self._resent_for:
                # Sent again already, and neither side's figures moved: sending again would
                # change nothing, and waking at once would send the history in a tight loop.
                # Kept as it is (shown) until new events or the centre's figures change it.
                msg = (f"Station and centre still disagree after this station sent its events "
                       f"again: here {count} events up to {high}, centre {reply.station_count} "
                       f"up to {reply.high_seq}. Nothing is sent again until that changes; "
                       "an administrator should compare this station's events with the centre's")
                if pull_mod.get_sync_state(conn, CONVERGENCE) != msg:
                    log.warning(msg)
                    pull_mod.set_sync_state(conn, CONVERGENCE, msg)
                return False
            self._resent_for = figures
            msg = (f"Station and centre disagree: here {count} events up to {high}, "
                   f"centre {reply.station_count} up to {reply.high_seq}; resending")
            log.warning(msg)
            pull_mod.set_sync_state(conn, CONVERGENCE, msg)
            # Resend exactly what the centre lacks: the events after the longest prefix of this
            # store that the centre's figures match (count, high sequence and rolling hash), e.g.
            # after the centre was restored from a backup; everything when no prefix matches
            # (idempotent at the centre either way, docs/sync.md §3).
            start = align_mod.matching_prefix(conn, reply)
            if start is None or start >= high:
                start = 0
            resent = conn.execute(
                update(events)
                .where(events.c.seq > start, events.c.sync_state != SyncState.PENDING.value)
                .values(sync_state=SyncState.PENDING.value)
            ).rowcount
            log.warning("%s events after number %d queued again for the centre", resent, start)
        self.wake()
        return False

    # -- state for the status bar ----------------------------------------------------------------

    def _pending_count(self) -> int:
        conn = self._reader()
        with conn.begin():
            return int(conn.exec_driver_sql(_BACKLOG_SQL).scalar_one())

    def _set_state(self, state: str, *, last_sync: bool = False, error: str | None = None) -> None:
        # Only what changed is written: a station told "busy" again and again (200 stations
        # draining at once) must not commit the same state to its disk at every try.
        if not last_sync and self._stored_state == (state, error or self._stored_state[1]):
            return
        conn = self._db()
        with db.translated(self.store.paths.store), conn.begin():
            pull_mod.set_sync_state(conn, CENTRE_STATE, state)
            if last_sync:
                pull_mod.set_sync_state(conn, LAST_SYNC_AT, iso(self.clock()))
                pull_mod.set_sync_state(conn, LAST_ERROR, None)
            if error is not None:
                pull_mod.set_sync_state(conn, LAST_ERROR, error)
        self._stored_state = (state, error if error is not None else
                              None if last_sync else self._stored_state[1])
        self._notify()

    def status(self) -> SyncStatus:
        # on the reading connection: a plain BEGIN, never the write lock scans commit under
        return read_status(self._reader(), self.clock)

    def _notify(self) -> None:
        self._notified_at = time.monotonic()
        if type(self.listener).status_changed is SyncListener.status_changed:
            return  # nobody listens (a headless station): the figures are not read for nothing
        try:
            self.listener.status_changed(self.status())
        except Exception:  # noqa: BLE001 - a listener bug must not stop syncing
            log.exception("sync listener failed")


def read_status(conn: Connection, clock: Callable[[], datetime] = utcnow) -> SyncStatus:
    with conn.begin():
        pending = conn.exec_driver_sql(_BACKLOG_SQL).scalar_one()
        # the age of the queue's head, as a batch reports it (on the queue's index: the oldest
        # device time of all pending events read every one of them, 20 ms at 200 000 pending)
        oldest = conn.exec_driver_sql(_HEAD_SQL).scalar()
        issues = conn.execute(
            select(func.count()).select_from(sync_issues).where(
                sync_issues.c.acknowledged_at.is_(None))
        ).scalar_one()
        state = pull_mod.get_sync_state(conn, CENTRE_STATE) or OFFLINE
        last = pull_mod.get_sync_state(conn, LAST_SYNC_AT)
        err = pull_mod.get_sync_state(conn, LAST_ERROR)
    age = None
    if oldest:
        age = max(0.0, (clock() - parse_iso(oldest)).total_seconds())
    return SyncStatus(state, int(pending), age, last, int(issues), err)


@dataclass(frozen=True)
class SyncIssue:
    """One rejected event as the sync issues screen lists it."""

    id: int
    event_seq: int
    event_type: str
    codes: str
    operator: str
    device_time: str
    reason: str
    message: str
    created_at: str
    acknowledged_by: str | None
    acknowledged_at: str | None


def list_issues(conn: Connection, *, include_acknowledged: bool = False) -> list[SyncIssue]:
    q = (
        select(sync_issues, events.c.type, events.c.parent_code, events.c.child_code,
               events.c.bill_id, events.c.operator, events.c.device_time)
        .select_from(sync_issues.join(events, events.c.seq == sync_issues.c.event_seq))
        .order_by(sync_issues.c.id)
    )
    if not include_acknowledged:
        q = q.where(sync_issues.c.acknowledged_at.is_(None))
    out = []
    with conn.begin():
        for r in conn.execute(q).mappings():
            codes = " ".join(c for c in (r["child_code"], r["parent_code"], r["bill_id"]) if c)
            out.append(SyncIssue(
                r["id"], r["event_seq"], r["type"], codes, r["operator"], r["device_time"],
                r["reason"], r["message"], r["created_at"], r["acknowledged_by"],
                r["acknowledged_at"],
            ))
    return out


def request_resend(conn: Connection, ids: list[int], username: str, role: str,
                   clock: Callable[[], datetime] = utcnow) -> int:
    """A biller or admin asks to send rejected events again after their cause was mended at the
    centre (a user added, verified or moved to this area). Only reasons an administrator can
    mend qualify; the event keeps its id and sequence, and the centre records its new result.
    Returns how many events were queued again."""
    from station.rules import Action, check_permission

    deny = check_permission(role, Action.BILLS, username)
    if deny is not None:
        raise SyncError(f"{username} ({role}) may not send events again: a biller or admin "
                        "must do it")
    with conn.begin():
        rows = conn.execute(
            select(sync_issues.c.id, sync_issues.c.event_seq, sync_issues.c.reason)
            .where(sync_issues.c.id.in_(ids))
        ).all()
        seqs = [r.event_seq for r in rows if r.reason in MENDABLE_REASONS]
        if not seqs:
            return 0
        conn.execute(
            update(events).where(events.c.seq.in_(seqs))
            .values(sync_state=SyncState.PENDING.value, result_reason=RESEND_REQUESTED,
                    result_message=None, synced_at=None)
        )
        conn.execute(
            update(sync_issues).where(sync_issues.c.event_seq.in_(seqs))
            .values(acknowledged_by=username, acknowledged_at=iso(clock()))
        )
    return len(seqs)



def acknowledge_issues(conn: Connection, ids: list[int], username: str, role: str,
                       clock: Callable[[], datetime] = utcnow) -> int:
    """A biller or admin confirms they have seen rejections; returns how many were acknowledged."""
    from station.rules import Action, check_permission

    deny = check_permission(role, Action.BILLS, username)
    if deny is not None:
        raise SyncError(f"{username} ({role}) may not acknowledge sync issues: a biller or "
                        "admin must do it")
    with conn.begin():
        res = conn.execute(
            update(sync_issues)
            .where(sync_issues.c.id.in_(ids), sync_issues.c.acknowledged_at.is_(None))
            .values(acknowledged_by=username, acknowledged_at=iso(clock()))
        )
    return int(res.rowcount or 0)


def now_utc() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "SyncListener", "SyncStatus", "SyncSummary", "SyncWorker", "backoff_delay", "read_status",
]
