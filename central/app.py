"""The centre's sync service over HTTP: the one way stations reach the centre (docs/sync.md).

A Starlette app (run by uvicorn, `tracetrack-central serve`). Every request names its station
only through its token (`Authorization: Bearer ...`): the station id is looked up from the
token's hash, never taken from the body. Bodies are read in full, within a size limit and a
time limit, before any database work starts, so a client that stalls mid-request holds nothing.
Applying a batch takes one of a bounded number of admission slots (advisory locks of the
service's own transactions, shared by every worker and machine on one PostgreSQL); a request
that finds them all taken waits in line for a short, bounded time, then gets 503 + Retry-After.

The service keeps no state between requests: more workers, or more machines behind a load
balancer, share one PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import sys
import threading
import time
import zlib
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Route

from central import db, service, validate
from central.openapi import openapi_document
from central.stations import IDENTIFY_SQL, StationIdentity, centre_id, token_hash
from station import APP_VERSION
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
    AFTER_SEQ_HEADER,
    CENTRE_HEADER,
    SEND_AHEAD_HEADER,
    PullRequest,
    PushBatch,
)

log = logging.getLogger("tracetrack.central")

# The most events one push may hold (a station sends at most 500: sync.worker.MAX_BATCH_EVENTS).
MAX_PUSH_EVENTS = 2000


class JSONResponse(_StarletteJSONResponse):
    """JSON answers in ASCII (\\uXXXX escapes): text a station sent that is not valid UTF-8 (a
    lone surrogate in an event id it gets back with its result, or in a station id it claimed)
    is answered as it came, instead of failing to encode after the batch was committed (a 500
    on every resend, the station's queue stuck behind it)."""

    def render(self, content: Any) -> bytes:
        try:
            return self._dumps(content)
        except ValueError:
            # NaN or Infinity, which a double precision column holds (the web system may write
            # them) and JSON has not: null, as a missing number (else every answer holding the
            # row was a 500, and a station's download stopped there for good)
            return self._dumps(_finite(content))

    @staticmethod
    def _dumps(content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("ascii")


def _finite(value: Any) -> Any:
    """`value` with every float that is not finite made None (lists, tuples, dicts walked)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value

CONFIG_ENV = "TRACETRACK_SERVE_CONFIG"  # JSON of ServiceConfig, for uvicorn's worker processes
ADMISSION_LOCK = 0x7474  # advisory lock class of the admission slots ("tt")
CONTENDED_S = 2.0  # after a push was turned away busy, replies say "don't send ahead" this long
# A pooled connection idle longer than this is pinged before use (a PostgreSQL restart leaves
# dead ones in the pool); one in use moments ago is not: that ping was a round trip per request.
PING_AFTER_IDLE_S = 1.0
KNOWN_TOKENS_MAX = 4096  # tokens a worker remembers (their stations), beyond which it forgets all

# The token's station (stations.IDENTIFY_SQL), and whether an admission slot is free right now
# (taken and let go by the one statement, which runs outside a transaction) for a known station
# that is not revoked.
_IDENTIFY_FREE_SQL = (
    "SELECT station_id, area, scope, revoked_at IS NOT NULL, revoked_at IS NOT NULL OR EXISTS "
    "(SELECT 1 FROM unnest(%s::int[]) k WHERE pg_try_advisory_xact_lock(%s, k)) "
    "FROM station_stations WHERE token_hash = %s")


@dataclass(frozen=True)
class ServiceConfig:
    url: str  # the service role's postgresql:// URL
    slots: int = 1  # batches applied at once, across all workers (serve: one per worker by default)
    admission_wait_s: float = 2.0  # wait in line for a slot this long before 503
    busy_retry_s: float = 1.0  # the Retry-After a busy answer suggests (jittered)
    express_slots: int = 1  # extra slots only small batches (fresh scans) may take
    # catch-up batches one worker process applies at once (0: as many as it gets slots for)
    worker_slots: int = 0
    express_max_events: int = 25  # a batch this small counts as fresh scans
    # A batch sent ahead waits this long for the one before it (0: the admission wait + 2 s)
    order_wait_s: float = 0.0
    queue_per_worker: int = 2  # pushes in one worker, each lane, beyond which 503 comes at once
    max_body_bytes: int = 4 * 1024 * 1024  # as sent (compressed or not): 413 above
    max_json_bytes: int = 16 * 1024 * 1024  # after decompressing: 413 above
    body_timeout_s: float = 10.0  # the whole body must arrive within this: 408 after
    statement_timeout_ms: int = 60_000
    idle_in_transaction_ms: int = 10_000
    pool_size: int = 8
    look_ahead: bool = True  # a batch sent ahead decides itself while the one before is written

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServiceConfig:
        raw = os.environ.get(CONFIG_ENV)
        if not raw:
            raise RuntimeError(f"{CONFIG_ENV} is not set: start the service with "
                               "`tracetrack-central serve`")
        return cls(**json.loads(raw))


class ApiError(Exception):
    """An answer other than 200: status, a stable code for programs, a message for people."""

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        body = {"error": self.code, "message": self.message, **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def _busy(retry_after: float, message: str) -> ApiError:
    return ApiError(503, "busy", message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
                    retry_after=retry_after)


def api_error_for(exc: SyncError) -> ApiError:
    """The HTTP answer for an error the centre's code raised on purpose."""
    if isinstance(exc, Busy):
        return _busy(exc.retry_after, exc.message)
    if isinstance(exc, UpgradeRequired):
        return ApiError(426, "upgrade_required", exc.message, accepted=sorted(ACCEPTED_VERSIONS),
                        version=exc.version)
    if isinstance(exc, StationMismatch):
        return ApiError(409, "station_mismatch", exc.message, station=exc.authenticated,
                        claimed=exc.claimed)
    if isinstance(exc, StationRevoked):
        return ApiError(403, "station_revoked", exc.message, station=exc.station_id)
    if isinstance(exc, OutOfOrder):
        return ApiError(409, "out_of_order", exc.message)
    if isinstance(exc, TransientError):
        return ApiError(503, "database_unavailable",
                        "The central database cannot be reached right now: retrying later",
                        headers={"Retry-After": "5"}, retry_after=5.0)
    return ApiError(400, "refused", exc.message)


class NotIdentified(Exception):
    """A request's token names no station (`who` None) or a revoked one."""

    def __init__(self, who: StationIdentity | None) -> None:
        super().__init__("not identified")
        self.who = who


def refusal(who: StationIdentity | None) -> ApiError:
    """The 401 / 403 for a token that names no station, or a revoked one."""
    if who is None:
        return ApiError(401, "token_unknown",
                        "The centre does not know this station token (mistyped, or replaced "
                        "by rotate-token): ask the central administrator for the current one",
                        headers={"WWW-Authenticate": "Bearer"})
    return ApiError(403, "station_revoked",
                    f"Station {who.station_id} is revoked at the centre: ask the central "
                    "administrator. Its scans stay queued at the station.",
                    station=who.station_id)


@dataclass
class Pushed:
    """A push applied: the reply; whether the station should stop sending ahead (the batch had
    to queue for admission, or another push was turned away busy a moment ago); when the
    work on it began on a thread, and how long each part took (s), for Server-Timing."""

    reply: dict[str, Any]
    no_ahead: bool
    started: float
    parts: dict[str, float]


def server_timing(parts: dict[str, float]) -> str:
    """The Server-Timing header of a push reply (durations in ms): where the centre spent
    the time of a batch, so a slow acknowledgement can be told apart from a slow link."""
    return ", ".join(f"{name};dur={secs * 1000:.1f}" for name, secs in parts.items())


def _note_idle(dbapi_conn: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """On checkout from the pool: ping a connection that sat idle over PING_AFTER_IDLE_S, and
    have the pool replace it if it is dead. (One that died while in use moments ago fails its
    request with "database unavailable", and the pool then drops every connection older.)"""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
        return
    import psycopg2

    dbapi_conn.autocommit = True
    try:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT 1")
        cur.close()
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        raise sa.exc.DisconnectionError(str(exc)) from exc
    finally:
        if not dbapi_conn.closed:
            dbapi_conn.autocommit = False


class Centre:
    """The service's database side: one engine (the service role), the admission settings."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.engine = db.make_engine(
            config.url,
            pool_size=config.pool_size,
            # the pushes of both lanes, and room for pulls and status calls, which no queue bounds
            max_overflow=2 * max(config.queue_per_worker, 24) + 4,
            pool_pre_ping=False,  # see _ping_if_idle
            pool_timeout=config.body_timeout_s + config.admission_wait_s + 5,
            connect_args={
                "connect_timeout": 5,
                "application_name": "tracetrack-central-serve",
                "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                "keepalives_count": 3,
                "options": (f"-c statement_timeout={config.statement_timeout_ms} "
                            f"-c idle_in_transaction_session_timeout="
                            f"{config.idle_in_transaction_ms}"),
            },
        )
        sa.event.listen(self.engine, "checkin", _note_idle)
        sa.event.listen(self.engine, "checkout", _ping_if_idle)
        self.contended_until = 0.0  # monotonic; see note_contended
        # token hash -> its station, for pushes: each push checks in its own transaction that
        # the station's row still holds the token (service.TokenChanged), so a rotated or
        # revoked token stops at once; this only saves the look-up's round trips.
        self.known: dict[str, StationIdentity] = {}
        self._centre_id: str | None = None
        # batches in flight here: one sent ahead decides itself while the one before it is
        # written (central.ahead)
        self.handoffs = service.ahead_mod.Handoffs() if config.look_ahead else None
        self.admission = (service.Admission(config.slots, ADMISSION_LOCK, config.busy_retry_s,
                                            config.admission_wait_s, config.express_slots,
                                            config.express_max_events,
                                            threading.BoundedSemaphore(config.worker_slots)
                                            if config.worker_slots > 0 else None,
                                            service.Turns(), service.Turns())
                          if config.slots > 0 else None)

    def _with_connection(self, fn: Any) -> Any:
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except SyncError:
            raise
        except DBAPIError as exc:
            mapped = service._translate(exc, "?")
            if mapped is not None or exc.connection_invalidated:
                raise mapped or TransientError(str(exc.orig)) from exc
            raise

    def identify(self, token: str) -> StationIdentity | None:
        """The station a token belongs to (None: a token the centre does not know)."""
        return self._with_connection(
            lambda conn: self._identify_on(conn, token_hash(token), None))[0]

    def turned_away(self, message: str | None = None, *, small: bool = False) -> Busy:
        """The busy answer for a push that finds every slot taken (or its queue full), with
        its turn to come back (service.Turns; fresh scans, `small`, from their own book)."""
        self.note_contended()
        if self.admission is None:
            return Busy(random.uniform(0.5, 1.5) * self.config.busy_retry_s,
                        message or "The centre is busy: retrying shortly")
        if message:
            return self.admission.busy(message, small=small)
        return self.admission.busy(small=small)

    def push(self, token: str, body: bytes, after_seq: int | None = None,
             probe_small: bool | None = None) -> Pushed:
        """Identify the token, read the push body and apply it: one connection and one thread
        for all of it. With `probe_small` set (no line to wait in), a push that finds every
        slot taken is turned away before its body is decoded (Busy)."""
        started = time.perf_counter()
        h = token_hash(token)
        remembered = self.known.get(h) if probe_small is None else None
        timing = {"started": started}

        def run(conn: sa.Connection) -> Pushed:
            who = remembered
            if who is None:
                who, free = self._identify_on(conn, h, probe_small)
                if who is None or who.revoked:
                    raise NotIdentified(who)
                self.remember(h, who)
                if not free:
                    raise self.turned_away(small=bool(probe_small))
            timing["identify"] = time.perf_counter() - started
            return self._apply(conn, who, h, body, after_seq, timing)

        try:
            return self._with_connection(run)
        except Busy:
            self.note_contended()
            raise
        except (TransientError, NotIdentified):
            raise
        except (SyncError, ApiError) as exc:
            if remembered is None:
                raise
            # Refused while identified from memory: the token may have changed since. Look it
            # up again, so the answer is the one a fresh request would get.
            self.known.pop(h, None)
            who = self._with_connection(lambda conn: self._identify_on(conn, h, None))[0]
            if who is None or who.revoked:
                raise NotIdentified(who) from None
            if isinstance(exc, service.TokenChanged):
                return self.push(token, body, after_seq, probe_small)
            raise

    def _apply(self, conn: sa.Connection, who: StationIdentity, h: str, body: bytes,
               after_seq: int | None, timing: dict[str, float]) -> Pushed:
        checking = time.perf_counter()
        batch = _push_batch(body)
        parsed = time.perf_counter()
        wait = self.config.order_wait_s or self.config.admission_wait_s + 2.0
        pacing = service.Pacing(after_seq, time.monotonic() + wait, ahead=self.handoffs)
        reply = service.push(conn, who.station_id, batch, self.admission, pacing, token_hash=h)
        done = time.perf_counter()
        a = self.admission
        if a is not None and a.turns is not None and len(batch.events) > a.express_max_events:
            a.turns.finished()  # the pace turns are given at (a catch-up batch applied)
        ordered = pacing.ordered_at or parsed
        admitted = pacing.admitted_at or ordered
        parts = {"identify": timing["identify"], "check": parsed - checking,
                 "order": ordered - parsed, "admission": admitted - ordered,
                 "apply": done - admitted}
        if pacing.look_stood is not None:
            # decided on a look ahead while the batch before was written (inside "order"):
            # whether those decisions stood, or were made again on the facts read under locks
            parts["ahead_stood" if pacing.look_stood else "ahead_redone"] = pacing.look_s
        return Pushed(reply.to_json(), pacing.queued or time.monotonic() < self.contended_until,
                      timing["started"], parts)

    def _identify_on(self, conn: sa.Connection, h: str, probe_small: bool | None,
                     ) -> tuple[StationIdentity | None, bool]:
        """The station of token hash `h` and, with `probe_small` set, whether a slot is free
        (else True): one statement outside any transaction (one round trip, not three)."""
        import psycopg2

        a = self.admission
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        dbapi.autocommit = True
        try:
            cur = dbapi.cursor()
            if probe_small is None or a is None:
                cur.execute(IDENTIFY_SQL, (h,))
            else:
                cur.execute(_IDENTIFY_FREE_SQL, (service.slot_keys(a, probe_small),
                                                 a.lock_class, h))
            row = cur.fetchone()
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            conn.invalidate()
            raise TransientError(f"The central database cannot be reached: {exc}") from exc
        finally:
            if not dbapi.closed:
                dbapi.autocommit = False
        if row is None:
            return None, True
        return StationIdentity(*row[:4]), True if len(row) < 5 else bool(row[4])

    def remember(self, h: str, who: StationIdentity) -> None:
        if len(self.known) >= KNOWN_TOKENS_MAX:
            self.known.clear()
        self.known[h] = who

    def note_contended(self) -> None:
        """A push was turned away busy (every slot taken, or this worker's queue full): for the
        next CONTENDED_S, replies ask stations not to send ahead (in a storm a batch sent ahead
        only adds to the pushes being turned away; docs/sync.md §4a)."""
        self.contended_until = time.monotonic() + CONTENDED_S

    def pull(self, who: StationIdentity, request: PullRequest) -> dict[str, Any]:
        return self._with_connection(
            lambda conn: service.pull(conn, who.station_id, request)).to_json()

    def status(self, who: StationIdentity) -> dict[str, Any]:
        return self._with_connection(
            lambda conn: service.station_status(conn, who.station_id)).to_json()

    def centre_id(self) -> str:
        """This centre's identity (central.stations.centre_id), read once per process."""
        if self._centre_id is None:
            def run(conn: sa.Connection) -> str:
                with conn.begin():
                    return centre_id(conn)
            self._centre_id = self._with_connection(run)
        return self._centre_id

    def health(self) -> str | None:
        def run(conn: sa.Connection) -> str | None:
            rev = db.current_revision(conn)
            conn.rollback()
            return rev
        return self._with_connection(run)


def _after_seq(request: Request) -> int | None:
    """The sequence number a batch sent ahead must wait for (AFTER_SEQ_HEADER), if any."""
    raw = request.headers.get(AFTER_SEQ_HEADER)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, "bad_request",
                       f"{AFTER_SEQ_HEADER} must be a sequence number (digits), not {raw[:40]!r}")
    return int(raw)


async def _read_body(request: Request, config: ServiceConfig) -> bytes:
    declared = request.headers.get("content-length")
    limit = config.max_body_bytes
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, "bad_request", "Content-Length is not a number") from None
        if size > limit:
            raise ApiError(413, "too_large",
                           f"The request body is {size} bytes; the limit is {limit} bytes")
    chunks: list[bytes] = []
    received = 0

    async def collect() -> None:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ApiError(413, "too_large", f"The request body is over the limit of "
                               f"{limit} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(collect(), timeout=config.body_timeout_s)
    except TimeoutError:
        raise ApiError(408, "body_timeout", f"The request body did not arrive within "
                       f"{config.body_timeout_s:.0f} s") from None
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise ApiError(415, "unsupported_encoding",
                       f"Content-Encoding {encoding!r} is not supported (use gzip)")
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, config.max_json_bytes + 1)
    except zlib.error as exc:
        raise ApiError(400, "bad_encoding", f"The {encoding} body cannot be decompressed: {exc}") from None
    if len(out) > config.max_json_bytes or inflater.unconsumed_tail:
        raise ApiError(413, "too_large", f"The decompressed request body is over the limit of "
                       f"{config.max_json_bytes} bytes")
    return out


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"The request body is not JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "The request body is not JSON the centre reads: "
                       "nested too deep") from None
    if not isinstance(obj, dict):
        raise ApiError(400, "bad_request", "The request body must be a JSON object")
    return obj


async def _json_body(request: Request, config: ServiceConfig) -> dict[str, Any]:
    return _json_object(await _read_body(request, config))


def _push_batch(body: bytes) -> PushBatch:
    """A push body as the protocol's batch, or 400 naming what is wrong with it."""
    obj = _json_object(body)
    problem = validate.check_batch(obj)
    if problem is not None:
        raise ApiError(400, "bad_request", f"Not a push batch: {problem[1]}", field=problem[0])
    if not isinstance(obj.get("events", []), list):
        raise ApiError(400, "bad_request", "Not a push batch: events must be a list")
    n = len(obj.get("events", []))
    if n > MAX_PUSH_EVENTS:
        # a batch holds an admission slot while it is applied: its size is bounded as its bytes
        # are (stations send at most 500)
        raise ApiError(413, "too_many_events", f"A push holds at most {MAX_PUSH_EVENTS} events, "
                       f"this one {n}: send it in smaller batches")
    try:
        return PushBatch.from_json(obj)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ApiError(400, "bad_request",
                       f"Not a push batch: {type(exc).__name__}: {exc}") from None


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "token_missing", "No station token: send Authorization: Bearer "
                       "<token> (the token tracetrack-central add-station printed)",
                       headers={"WWW-Authenticate": "Bearer"})
    if len(token) > 200 or not token.isascii():
        raise ApiError(401, "token_unknown", "This station token is not known at the centre",
                       headers={"WWW-Authenticate": "Bearer"})
    return token


class Service:
    """The HTTP endpoints (one instance per worker process)."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.centre = Centre(config)
        self.waiting = {"small": 0, "large": 0}  # pushes in this worker (event loop only)

    async def who(self, request: Request) -> StationIdentity:
        """The station of the request's token (401 / 403 otherwise)."""
        who = await run_in_threadpool(self.centre.identify, _token(request))
        if who is None or who.revoked:
            raise refusal(who)
        return who

    async def push(self, request: Request) -> Response:
        t0 = time.perf_counter()
        after_seq = _after_seq(request)
        body = await _read_body(request, self.config)
        token = _token(request)
        # Catch-up batches and fresh scans queue apart, so a full queue of the first never
        # turns the second away. (Counted on the bytes, before decoding: a wrong count only
        # picks the queue; admission itself counts the decoded events.)
        small = body.count(b'"event_id"') <= self.config.express_max_events
        queue = "small" if small else "large"
        a = self.centre.admission
        # With no line to wait in (admission wait 0) a push that finds every slot taken is
        # turned away at once; in a storm that is most pushes, so it is found out as cheaply as
        # can be: here when this worker's own pushes hold every slot of the lane, else by the
        # token's look-up (the same statement). Its events are then never decoded or checked.
        probe = a is not None and a.wait_s <= 0 and after_seq is None
        lane = (a.slots + (a.express_slots if small else 0)) if a is not None else 0
        if probe and self.waiting[queue] >= lane:
            raise self.centre.turned_away(small=small)
        if self.waiting[queue] >= self.config.queue_per_worker:
            raise self.centre.turned_away("The centre has a full queue of batches: "
                                          "retrying shortly", small=small)
        self.waiting[queue] += 1
        try:
            t1 = time.perf_counter()
            pushed = await run_in_threadpool(self.centre.push, token, body, after_seq,
                                             small if probe else None)
        except NotIdentified as exc:
            raise refusal(exc.who) from None
        finally:
            self.waiting[queue] -= 1
        headers = {"Server-Timing": server_timing(
            {"receive": t1 - t0, "thread": pushed.started - t1, **pushed.parts,
             "total": time.perf_counter() - t0})}
        if pushed.no_ahead:
            # Slots all taken, or stations being turned away: sending ahead would only add to
            # the queue (§4a).
            headers[SEND_AHEAD_HEADER] = "no"
        return JSONResponse(pushed.reply, headers=headers)

    async def pull(self, request: Request) -> Response:
        who = await self.who(request)
        obj = await _json_body(request, self.config)
        try:
            req = PullRequest.from_json(obj)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ApiError(400, "bad_request", f"Not a pull request: {type(exc).__name__}: {exc}") from None
        if not 1 <= req.limit <= 20_000:
            raise ApiError(400, "bad_request", f"limit {req.limit} is outside 1-20000")
        if req.station_id != who.station_id:
            raise api_error_for(StationMismatch(who.station_id, req.station_id))
        try:
            page = await run_in_threadpool(self.centre.pull, who, req)
        except ValueError as exc:  # a cursor this centre never gave out
            raise ApiError(400, "bad_cursor", f"The pull cursor is not one this centre gave: {exc}") from None
        return JSONResponse(page)

    async def status(self, request: Request) -> Response:
        who = await self.who(request)
        figures = await run_in_threadpool(self.centre.status, who)
        cid = await run_in_threadpool(self.centre.centre_id)
        return JSONResponse(figures, headers={CENTRE_HEADER: cid})

    async def whoami(self, request: Request) -> Response:
        who = await self.who(request)
        cid = await run_in_threadpool(self.centre.centre_id)
        return JSONResponse({
            "station_id": who.station_id, "area": who.area, "scope": who.scope,
            "protocol_versions": sorted(ACCEPTED_VERSIONS), "service_version": APP_VERSION,
            "centre_id": cid,
        }, headers={CENTRE_HEADER: cid})

    async def healthz(self, request: Request) -> Response:
        try:
            rev = await run_in_threadpool(self.centre.health)
        except SyncError as exc:
            return JSONResponse({"ok": False, "database": exc.message}, status_code=503)
        ok = rev == db.SCHEMA_VERSION
        return JSONResponse({"ok": ok, "schema": rev, "expected_schema": db.SCHEMA_VERSION,
                             "version": APP_VERSION}, status_code=200 if ok else 503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document(APP_VERSION))


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _on_sync_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SyncError)
    return api_error_for(exc).response()


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal", "message": "The centre failed to handle the "
                         "request (logged there); the station keeps its events and retries"},
                        status_code=500)


def create_app(config: ServiceConfig) -> Starlette:
    svc = Service(config)
    routes = [
        Route("/v1/push", svc.push, methods=["POST"]),
        Route("/v1/pull", svc.pull, methods=["POST"]),
        Route("/v1/status", svc.status, methods=["GET"]),
        Route("/v1/whoami", svc.whoami, methods=["GET"]),
        Route("/healthz", svc.healthz, methods=["GET"]),
        Route("/openapi.json", svc.openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=4096, compresslevel=1)],
        exception_handlers={ApiError: _on_api_error, SyncError: _on_sync_error,
                            Exception: _on_unexpected},
    )
    app.state.service = svc
    return app


# How often the service's threads take turns at the GIL (Python's default: 5 ms). A batch being
# written waits on PostgreSQL with the GIL let go, and needs it back after each statement; a
# batch deciding on a look ahead meanwhile (pure Python) kept it up to 5 ms each time, so the
# writing took as much longer as the deciding saved (BENCHMARKS.md, "2026-12-01, seventh").
SWITCH_INTERVAL_S = 0.0005


def app_from_env() -> Starlette:
    """uvicorn's factory in each worker process (`serve` puts the config in the environment)."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return create_app(ServiceConfig.from_env())
