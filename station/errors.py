"""Typed errors of the station core. Environment problems carry a plain message with what to do."""

from __future__ import annotations


class StationError(Exception):
    """Base of every error the core raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CodeRefused(StationError):
    """A read that breaks a code rule; `reason` names the rule."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(StationError):
    """The local store cannot be used."""


class StoreCorrupt(StoreError):
    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"The station store {path} is damaged or is not a TraceTrack store ({detail}). "
            "Nothing was changed in it. Keep the file for support, then either restore a backup "
            "or start with another --basedir."
        )
        self.path = path


class StoreFull(StoreError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"The disk holding {path} is full: this scan was NOT saved. Everything saved before it "
            "is safe. Free some disk space, then scan again."
        )
        self.path = path


class StoreLocked(StoreError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"The station store {path} is busy (locked by another program). "
            "Close other TraceTrack windows or commands on this station and try again."
        )
        self.path = path


class NoStation(StationError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"No station is set up in {path}. Create one with: "
            "tracetrack-station init --station-id ID --area AREA [--demo]"
        )
        self.path = path


class StationExists(StationError):
    pass


class LoginFailed(StationError):
    """Wrong user or password, or a locked user."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotLoggedIn(StationError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Log in first: this action is recorded under an operator's "
                         "name")
