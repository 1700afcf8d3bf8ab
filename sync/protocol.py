"""The sync protocol: the messages station and centre exchange (plain-dict JSON, any transport).

Qt-free and SQLAlchemy-free so the direct and the gateway transport share it.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from station import PROTOCOL_VERSION as _STATION_PROTOCOL_VERSION
from station.reasons import MENDABLE

PROTOCOL_VERSION: int = _STATION_PROTOCOL_VERSION
ACCEPTED_VERSIONS: frozenset[int] = frozenset({PROTOCOL_VERSION, PROTOCOL_VERSION - 1})

ResultKind = Literal["applied", "duplicate", "rejected"]
APPLIED: ResultKind = "applied"
DUPLICATE: ResultKind = "duplicate"
REJECTED: ResultKind = "rejected"

CLOCK_SKEW_WARN_S = 300.0
_INT64_MAX = 2**63 - 1  # the centre's sequence numbers and counts are bigint

# Rejection reasons an administrator can mend at the centre (a user added, verified, or moved to
# the station's area): the station offers "Send again" for these, and the centre decides such an
# event anew when a batch lists it in `resend`.
# A push sent ahead, before the previous batch's answer, carries this header: the highest
# sequence number of that previous batch. The centre applies it only once the station's events
# up to there are stored, so batches are applied in sequence order (docs/sync.md, "Sending ahead").
AFTER_SEQ_HEADER = "X-Tracetrack-After-Seq"
# A push reply with this header set to "no": the batch found every admission slot taken, so
# sending the next one ahead would only lengthen the centre's queue; the station stops doing so.
SEND_AHEAD_HEADER = "X-Tracetrack-Send-Ahead"
# Which centre answered (a random id of its database): a station that meets another one downloads
# that centre's state afresh (status and whoami carry it).
CENTRE_HEADER = "TraceTrack-Centre"

MENDABLE_REASONS = MENDABLE

# Tables named in PullPage.changes rows.
PULL_TABLES = ("bag", "link", "bill", "bill_bag", "user", "bag_type")


def rolling_hash(prev_hex: str, event_id: str) -> str:
    """Next value of a station's convergence hash (start from ""), in station-sequence order."""
    return hashlib.sha256((prev_hex + event_id).encode("ascii")).hexdigest()


def rolling_hash_of(event_ids: list[str] | tuple[str, ...]) -> str:
    h = ""
    for eid in event_ids:
        h = rolling_hash(h, eid)
    return h


@dataclass(frozen=True)
class PushBatch:
    station_id: str
    protocol_version: int
    app_version: str
    events: list[dict[str, Any]]  # Event.to_wire() dicts in station-sequence order
    backlog: int = 0  # events still pending at the station, this batch included
    oldest_pending_s: float | None = None
    device_time: str = ""  # station clock when the batch was sent (ISO 8601 UTC)
    # ids of events in this batch that a person asked to send again after the cause of their
    # rejection was mended centrally (unknown operator, ...): the centre decides them anew
    resend: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # a shallow dict: asdict() deep-copies every event (~30 ms a 500-event batch)
        return {
            "station_id": self.station_id, "protocol_version": self.protocol_version,
            "app_version": self.app_version, "events": self.events, "backlog": self.backlog,
            "oldest_pending_s": self.oldest_pending_s, "device_time": self.device_time,
            "resend": self.resend,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PushBatch:
        oldest = obj.get("oldest_pending_s")
        resend = obj.get("resend") or []
        return cls(
            station_id=str(obj["station_id"]),
            protocol_version=int(obj["protocol_version"]),
            app_version=str(obj.get("app_version", "")),
            # an event that is not even an object is kept as sent: the centre rejects it alone
            events=[dict(e) if isinstance(e, dict) else e for e in obj.get("events", [])],
            backlog=int(obj.get("backlog", 0)),
            oldest_pending_s=None if oldest is None else float(oldest),
            device_time=str(obj.get("device_time", "")),
            resend=[r for r in resend if isinstance(r, str)] if isinstance(resend, list) else [],
        )


@dataclass(frozen=True)
class EventResult:
    event_id: str
    seq: int
    result: ResultKind
    reason: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        # by hand: asdict() costs ~15 us a result, ~7 ms for a 500-event reply
        return {"event_id": self.event_id, "seq": self.seq, "result": self.result,
                "reason": self.reason, "message": self.message}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EventResult:
        result = str(obj["result"])
        if result not in (APPLIED, DUPLICATE, REJECTED):
            raise ValueError(f"unknown event result {result!r}")
        for name in ("reason", "message"):
            if obj.get(name) is not None and not isinstance(obj[name], str):
                # recorded as the event's result and shown: text or nothing
                raise ValueError(f"the {name} of a result is not text")
        return cls(
            event_id=str(obj["event_id"]),
            seq=int(obj["seq"]),
            result=result,  # type: ignore[arg-type]
            reason=obj.get("reason"),
            message=obj.get("message"),
        )


@dataclass(frozen=True)
class PushReply:
    results: list[EventResult]
    station_count: int  # events the centre holds for this station (any result)
    high_seq: int  # highest station sequence the centre holds for this station
    rolling_hash: str  # rolling_hash over those events in sequence order
    retry_after: float | None = None
    clock_skew_s: float | None = None  # station clock minus centre clock, from the batch

    @property
    def clock_skew_flagged(self) -> bool:
        """Over 5 minutes apart (docs/sync.md §9): warn, keep scanning."""
        return self.clock_skew_s is not None and abs(self.clock_skew_s) > CLOCK_SKEW_WARN_S

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [r.to_json() for r in self.results],
            "station_count": self.station_count,
            "high_seq": self.high_seq,
            "rolling_hash": self.rolling_hash,
            "retry_after": self.retry_after,
            "clock_skew_s": self.clock_skew_s,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PushReply:
        retry = obj.get("retry_after")
        count, high = int(obj["station_count"]), int(obj["high_seq"])
        if not (0 <= count <= _INT64_MAX and 0 <= high <= _INT64_MAX):
            # figures no centre holds (its sequence numbers are bigint): the store is compared
            # with them, and renumbered after them (sync/align.py)
            raise ValueError(f"station figures out of range ({count} events up to {high})")
        return cls(
            results=[EventResult.from_json(r) for r in obj["results"]],
            station_count=count,
            high_seq=high,
            rolling_hash=str(obj["rolling_hash"]),
            retry_after=None if retry is None else float(retry),
            clock_skew_s=None if obj.get("clock_skew_s") is None else float(obj["clock_skew_s"]),
        )


@dataclass(frozen=True)
class PullRequest:
    station_id: str
    cursor: str | None = None  # None: start (bootstrap); else the cursor of the last page
    limit: int = 5000

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PullRequest:
        cursor = obj.get("cursor")
        return cls(
            station_id=str(obj["station_id"]),
            cursor=None if cursor is None else str(cursor),
            limit=int(obj.get("limit", 5000)),
        )


@dataclass(frozen=True)
class PullPage:
    # rows: {"table": one of PULL_TABLES, "op": "upsert"|"delete", "row": {...}}
    changes: list[dict[str, Any]]
    cursor: str  # opaque: pass back in the next PullRequest
    done: bool  # nothing more right now (caught up)
    bootstrap: bool  # these rows are part of the initial snapshot
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"changes": self.changes, "cursor": self.cursor, "done": self.done,
                "bootstrap": self.bootstrap, "extra": self.extra}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PullPage:
        return cls(
            changes=[dict(c) for c in obj["changes"]],
            cursor=str(obj["cursor"]),
            done=bool(obj["done"]),
            bootstrap=bool(obj.get("bootstrap", False)),
            extra=dict(obj.get("extra") or {}),
        )
