"""What the window and its screens show of one read: the recorded scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from station.rules import Outcome
from station.service import OpResult


@dataclass(frozen=True)
class ScanRecord:
    """What `scan_recorded` carries: the service's OpResult plus where the read came from."""

    result: OpResult
    raw: str
    source: str  # scanner | serial | typed | camera | action
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    # The OpResult's fields, so listeners can treat a record like the result itself.
    @property
    def outcome(self) -> Outcome:
        return self.result.outcome

    @property
    def reason(self) -> str:
        return self.result.reason

    @property
    def message(self) -> str:
        return self.result.message

    @property
    def code(self) -> str | None:
        return self.result.code

    @property
    def ok(self) -> bool:
        return self.result.ok
