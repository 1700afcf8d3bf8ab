"""How the sync worker reaches the centre: one Transport interface, the direct (PostgreSQL) one here.

A transport returns a structured reply or raises a SyncError; it never lets a half-known outcome
through, so events are only marked synced from a PushReply (sync.md item 4).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sync.errors import StationRevoked, SyncError, TransientError
from sync.protocol import PullPage, PullRequest, PushBatch, PushReply

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
ADMISSION_SLOTS = 1  # batches applied at the centre at once (measured best on 2 cores)
ADMISSION_LOCK = 0x7474  # advisory lock class id of the admission slots ("tt")
STATEMENT_TIMEOUT_MS = 60_000


class Transport(Protocol):
    def push(self, batch: PushBatch) -> PushReply: ...

    def pull(self, request: PullRequest) -> PullPage: ...

    def close(self) -> None: ...


def make_transport(url: str, station_id: str = "") -> Transport:
    """The transport for a central URL (with its secret already joined in)."""
    if url.startswith(("postgresql://", "postgresql+psycopg2://", "postgres://")):
        return DirectTransport(url, station_id=station_id)
    if url.startswith(("http://", "https://")):
        raise SyncError(
            f"The gateway transport ({url.split('://')[0]}://) is not available in this version: "
            "use the centre's postgresql:// station URL"
        )
    raise SyncError(f"Not a central URL: {redact(url)!r} (expected postgresql://...)")


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from station.secrets import split_secret

    return split_secret(url)[0]


class DirectTransport:
    """Applies batches directly in the central PostgreSQL database with the station's own role."""

    def __init__(self, url: str, *, station_id: str = "",
                 connect_timeout: int = CONNECT_TIMEOUT_S,
                 admission_slots: int = ADMISSION_SLOTS, busy_retry_s: float = 0.2) -> None:
        import sqlalchemy as sa

        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        self.url = url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg2://" + url[len("postgresql://"):]  # the driver installed
        self.station_id = station_id
        self.admission_slots = admission_slots
        self.busy_retry_s = busy_retry_s
        # One connection kept between batches (the worker is one thread); pre-ping finds a
        # connection a restart, a revocation or a network cut killed, before a batch is sent on
        # it (so a revoked station is told so at once, not "offline" first).
        self.engine = sa.create_engine(
            url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": connect_timeout,
                "application_name": "tracetrack-station",
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            },
        )

    def push(self, batch: PushBatch) -> PushReply:
        from central import service

        # Admission control (sync.md item 8): a station finding every slot taken is told
        # "busy, retry after N s" and backs off with jitter: 200 stations coming back at once
        # queue up instead of all waiting on each other's locks inside the database.
        admission = (service.Admission(self.admission_slots, ADMISSION_LOCK, self.busy_retry_s)
                     if self.admission_slots > 0 else None)
        return self._run(lambda conn: service.push(conn, self._who(conn), batch, admission))

    def pull(self, request: PullRequest) -> PullPage:
        from central import service

        return self._run(lambda conn: service.pull(conn, self._who(conn), request))

    def status(self) -> Any:
        from central import service

        return self._run(lambda conn: service.station_status(conn, self._who(conn)))

    def close(self) -> None:
        self.engine.dispose()

    def _who(self, conn: Any) -> str:
        """The station this connection logs in as: asked once per database connection."""
        from central import service

        info = conn.connection.info  # lives as long as the database connection
        who = info.get("tracetrack_station")
        if who:
            return str(who)
        who = info["tracetrack_station"] = service.authenticated_station(conn)
        if not who:
            raise SyncError(
                f"{redact(self.url)} is not a station's credential (an administrator's?): use the "
                "URL `tracetrack-central add-station` printed for this station"
            )
        return str(who)

    def _run(self, fn: Any) -> Any:
        from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

        try:
            conn = self.engine.connect()
        except (OperationalError, InterfaceError, DisconnectionError) as exc:
            raise self._lost(exc) from exc
        try:
            result = fn(conn)
            if conn.in_transaction():
                conn.commit()
            return result
        except TransientError:
            conn.invalidate()  # never hand a connection in an unknown state back to the pool
            self.engine.dispose()
            raise
        except SyncError:
            raise
        except (OperationalError, InterfaceError, DisconnectionError) as exc:
            # Connection refused or cut, server restarting, timeouts: the outcome is unknown, so
            # nothing is marked; a resend gets the original results (exactly-once effect).
            conn.invalidate()
            raise self._lost(exc) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise self._lost(exc) from exc
            raise
        finally:
            conn.close()

    def _lost(self, exc: BaseException) -> SyncError:
        self.engine.dispose()
        text = str(getattr(exc, "orig", None) or exc)
        if "not permitted to log in" in text or "password authentication failed" in text:
            return StationRevoked(self.station_id or "?")
        return TransientError(f"The centre is unreachable: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(exc).__name__
