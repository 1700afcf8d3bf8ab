"""A result in the words the logged-in operator reads (shared by the packing and bill screens)."""

from __future__ import annotations

from dataclasses import replace

from station import vocabulary as vocab
from station.rules import Outcome
from station.service import OpResult
from station.view import ParentRow
from ui.host import ScreenHost


def presented(host: ScreenHost, result: OpResult, last_parent: ParentRow | None = None) -> OpResult:
    """The result in the words of station/vocabulary.py for the operator logged in (the bag,
    the bill, the rule and what this person can do next); its outcome, reason and events are
    the service's (only a parent on a closed bill turns amber)."""
    op = host.operator
    shown = vocab.present(result, role=op.role if op else "",
                          has_centre=bool(host.settings.central_url),
                          last_parent=last_parent)
    if shown.message == result.message and shown.outcome == str(result.outcome):
        return result
    return replace(result, message=shown.message, outcome=Outcome(shown.outcome))
