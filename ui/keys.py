"""The station's global keys and where a scan goes on each screen: one table each.

`GLOBAL_KEYS` is what the key bar shows and what the main window binds (on every screen, whatever
has the focus); `SCAN_ROUTES` says what a read does on each screen. Screen keys that are not in
`SCAN_ROUTES` (a screen added later) pause scanning: a read is never recorded by accident on a
screen that was not made for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from station.rules import Action, may


@dataclass(frozen=True)
class GlobalKey:
    key: str  # QKeySequence text: "F2", "Esc"
    label: str  # what the key bar says
    action: str  # "screen:<key>", "logout", "back", "about"
    needs: Action | None = None  # the role must be allowed this (None: everyone logged in)
    bound_here: bool = True  # False: bound on its own (F1: the About box, ui/main_window.py)
    logged_out: bool = False  # shown (and working) before anyone logs in

    @property
    def screen(self) -> str | None:
        return self.action.split(":", 1)[1] if self.action.startswith("screen:") else None

    def allowed(self, role: str | None) -> bool:
        if role is None:
            return self.logged_out
        return self.needs is None or may(role, self.needs)


GLOBAL_KEYS: tuple[GlobalKey, ...] = (
    GlobalKey("F1", "About", "about", bound_here=False, logged_out=True),
    GlobalKey("F2", "Pack", "screen:station"),
    GlobalKey("F3", "Bill", "screen:bill", Action.BILLS),
    GlobalKey("F4", "Review", "screen:review", Action.BILLS),
    GlobalKey("F5", "Look up", "screen:lookup"),
    GlobalKey("F7", "Scanner test", "screen:scanner_test"),
    GlobalKey("F8", "Sync issues", "screen:sync_issues"),
    GlobalKey("F9", "Settings", "screen:settings", Action.SETTINGS),
    GlobalKey("F12", "Log out", "logout"),
    GlobalKey("Esc", "Back", "back"),
)


def key_for_screen(screen: str) -> GlobalKey | None:
    return next((k for k in GLOBAL_KEYS if k.screen == screen), None)


def key_named(key: str) -> GlobalKey | None:
    return next((k for k in GLOBAL_KEYS if k.key == key), None)


class Route(StrEnum):
    PACK = "pack"  # the packing screen records it (parent, child, or a bill id opens the bill)
    BILL = "bill"  # the bill screen loads it onto the open bill (or opens a bill)
    LOOKUP = "lookup"  # looked up, never recorded, never selected
    SCANNER_TEST = "scanner_test"  # judged against the test code, never recorded
    LOGIN = "login"  # nobody is logged in: refused, nothing recorded
    PAUSED = "paused"  # refused with "scanning is paused here", nothing recorded

    @property
    def records(self) -> bool:
        return self in (Route.PACK, Route.BILL)


SCAN_ROUTES: dict[str, Route] = {
    "login": Route.LOGIN,
    "station": Route.PACK,
    "bill": Route.BILL,
    "review": Route.LOOKUP,
    "lookup": Route.LOOKUP,
    "scanner_test": Route.SCANNER_TEST,
    "settings": Route.PAUSED,
    "sync_issues": Route.PAUSED,
}


def route_for(screen: str) -> Route:
    return SCAN_ROUTES.get(screen, Route.PAUSED)


def paused_message(read: str, where: str) -> str:
    """The refusal of a read on a screen (or in a dialog) that takes none."""
    return f"{read} was not recorded: scanning is paused here ({where}): F2 to pack"
