"""`ScreenHost`: exactly what a screen may ask of the window that holds it.

Screens take a `ScreenHost`, never the main window itself: what they read (who is logged in,
the station's settings, the store), what they use (the task runner, the sounds) and what they
may ask for (a read handed to the one read path, another screen, a bill opened, a notice).
What a screen tells the window (a scan's result, an operator logged in, settings saved) it
tells by emitting its own Qt signals, which the window connects.

`ui.main_window.MainWindow` implements this protocol; nothing here imports it. The window asks
a screen for what the protocols at the end name (`TakesReads`, `Guarded`, `ShownHook`,
`ShowsMessages`), each only when the screen has it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import QSettings, SignalInstance

from station.scanner import Read
from station.service import Operator
from station.settings import StationSettings
from station.store.local import LocalStore
from ui.sounds import SoundPlayer
from ui.tasks import TaskRunner


class ScreenHost(Protocol):
    """The window as its screens see it."""

    # -- what a screen reads ------------------------------------------------------------------

    @property
    def operator(self) -> Operator | None:
        """Who is logged in (None: nobody, the login screen shows)."""

    @property
    def settings(self) -> StationSettings:
        """The station's settings as they are now."""

    @property
    def store(self) -> LocalStore:
        """The station's store (its paths; store work runs on the task runner)."""

    @property
    def ui_settings(self) -> QSettings:
        """ui.ini: window layout, the last folder an export was saved to."""

    @property
    def last_scanner_read(self) -> Read | None:
        """The last read of the keyboard-wedge scanner, with its timing."""

    # -- what a screen uses -------------------------------------------------------------------

    @property
    def task_runner(self) -> TaskRunner:
        """Where every store operation of a screen runs (one thread, in submission order)."""

    @property
    def sounds(self) -> SoundPlayer:
        """The station's feedback sounds."""

    # -- the window's signals a screen may listen to ------------------------------------------

    @property
    def operator_changed(self) -> SignalInstance:
        """(Operator | None) after a log-in or a log-out."""

    @property
    def settings_changed(self) -> SignalInstance:
        """(StationSettings) after the settings were saved and applied."""

    @property
    def scan_recorded(self) -> SignalInstance:
        """(ScanRecord) after each read's result."""

    # -- what a screen may ask for ------------------------------------------------------------

    def handle_read(self, raw: str, source: str) -> None:
        """Hand a read (typed in a screen's field) to the window's one read path."""

    def show_screen(self, key: str) -> bool:
        """Switch to another screen; False when it does not exist or is not allowed."""

    def open_bill(self, bill_id: str) -> bool:
        """Show the bill screen with this bill; False when this station or operator has none."""

    def notify(self, kind: str, text: str) -> None:
        """A message of the window itself, in the key bar on every screen."""


# -- what the window asks of a screen (each part optional) -----------------------------------


@runtime_checkable
class TakesReads(Protocol):
    """A screen that reads are routed to (ui/keys.py SCAN_ROUTES says which record them)."""

    def handle_read(self, raw: str, source: str) -> None: ...


@runtime_checkable
class Guarded(Protocol):
    """A screen not every operator may open."""

    def allowed_for(self, operator: Operator) -> bool: ...


@runtime_checkable
class ShownHook(Protocol):
    """A screen that refreshes or takes the keyboard each time it is shown."""

    def on_shown(self) -> None: ...


@runtime_checkable
class ShowsMessages(Protocol):
    """A screen with a place for the window's word (a scan refused there: scanning is paused)."""

    def show_message(self, kind: str, text: str) -> None: ...
