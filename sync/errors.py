"""Typed errors of the sync layer (station side and centre side), each with a plain message."""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error sync raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransientError(SyncError):
    """The centre could not be reached or answered oddly: keep the events, retry with backoff."""


class Busy(TransientError):
    """The centre asks to retry no sooner than `retry_after` seconds."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message or f"The centre is busy: retrying in {retry_after:.0f} s")
        self.retry_after = retry_after


class OutOfOrder(TransientError):
    """A batch sent ahead (before the previous one's answer) reached the centre before the
    previous one was applied, and that one did not arrive in time: send it again, in order."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "The centre had not received the batch before this one: "
                         "both are sent again, in order")


class UpgradeRequired(SyncError):
    """The centre does not accept this protocol version; the queue is kept until an upgrade."""

    def __init__(self, version: int, accepted: tuple[int, ...] | list[int] = ()) -> None:
        wanted = ", ".join(str(v) for v in sorted(accepted)) or "a newer one"
        super().__init__(
            f"The centre does not accept sync protocol version {version} (it accepts {wanted}): "
            "upgrade TraceTrack Station on this computer. Nothing was lost: scans stay queued."
        )
        self.version = version
        self.accepted = tuple(accepted)


class StationRevoked(SyncError):
    """The station's credential was revoked or is unknown; its local queue is kept."""

    def __init__(self, station_id: str) -> None:
        super().__init__(
            f"Station {station_id} is not allowed to sync (revoked or unknown at the centre): "
            "ask the central administrator. Nothing was lost: scans stay queued."
        )
        self.station_id = station_id


class StationMismatch(SyncError):
    """A batch or event names another station than the authenticated one."""

    def __init__(self, authenticated: str, claimed: str) -> None:
        super().__init__(
            f"This connection belongs to station {authenticated} but the events are from "
            f"station {claimed}: check the station id and the central URL in the settings"
        )
        self.authenticated = authenticated
        self.claimed = claimed


class TokenRefused(StationRevoked):
    """The centre does not know the station's token (mistyped, or replaced by a rotation)."""

    def __init__(self, station_id: str, message: str = "") -> None:
        super().__init__(station_id)
        told = message or ("The centre does not know this station's token: ask the central "
                           "administrator for the current token and connect again")
        self.message = told.rstrip(". ") + ". Nothing was lost: scans stay queued."
        self.args = (self.message,)
