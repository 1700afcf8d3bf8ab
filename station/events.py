"""Immutable events: every change is one, self-contained (codes explicit) and replayable anywhere."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    PARENT_SCANNED = "parent_scanned"
    CHILD_LINKED = "child_linked"
    CHILD_UNLINKED = "child_unlinked"
    PARENT_FINISHED = "parent_finished"
    BILL_CREATED = "bill_created"
    BILL_PARENT_ADDED = "bill_parent_added"
    BILL_PARENT_REMOVED = "bill_parent_removed"
    BILL_CLOSED = "bill_closed"
    BILL_REOPENED = "bill_reopened"


class SyncState(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


_uuid_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix ms time, then random bits; monotonic within a process."""
    global _last_ms, _last_rand
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = (_last_rand + 1) & ((1 << 74) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big") & ((1 << 74) - 1)
        _last_ms, _last_rand = ms, rand
    rand_a = rand >> 62  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


@dataclass(frozen=True)
class Event:
    """One event as stored locally and sent to the centre (docs/sync.md §2, §3)."""

    event_id: str
    station_id: str
    seq: int
    type: EventType
    operator: str
    device_time: str  # ISO 8601 UTC
    parent: str | None = None
    child: str | None = None
    bill: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    app_version: str = ""
    protocol_version: int = 1

    def to_wire(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "station_id": self.station_id,
            "seq": self.seq,
            "type": str(self.type),
            "operator": self.operator,
            "device_time": self.device_time,
            "parent": self.parent,
            "child": self.child,
            "bill": self.bill,
            "data": self.data,
            "app_version": self.app_version,
            "protocol_version": self.protocol_version,
        }

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> Event:
        return cls(
            event_id=str(obj["event_id"]),
            station_id=str(obj["station_id"]),
            seq=int(obj["seq"]),
            type=EventType(obj["type"]),
            operator=str(obj["operator"]),
            device_time=str(obj["device_time"]),
            parent=obj.get("parent"),
            child=obj.get("child"),
            bill=obj.get("bill"),
            data=dict(obj.get("data") or {}),
            app_version=str(obj.get("app_version", "")),
            protocol_version=int(obj.get("protocol_version", 1)),
        )

    def data_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"), sort_keys=True)
