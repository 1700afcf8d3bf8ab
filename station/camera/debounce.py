"""Debouncing camera reads: a code that stays in view is accepted once, not once per frame.

Rules, on the frames' own clock (media time for files, the monotonic clock for cameras):
- a code is accepted the first time it is seen;
- it is accepted again only after it has left the view, i.e. a decoded frame taken at least
  `gone_s` after its last sighting did not show it, nor the one decoded before it (one blurred
  frame is not leaving, even the first one after a stalled decoder),
- or, when `holdoff_s` > 0, once `holdoff_s` have passed since it was last accepted even if it
  never left (0 turns that off);
- several new codes in one frame are all accepted, in reading order (left to right).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from station.camera.decoders import DecodedCode, reading_order

DEFAULT_GONE_S = 0.5
_EPS = 1e-9  # frame times like 0.7 - 0.2 are not exactly 0.5 in binary


@dataclass
class _Seen:
    first_seen: float
    last_seen: float
    last_accepted: float
    missed: int = 0  # decoded frames since the last sighting that did not show it


class Debouncer:
    """Feed it every decoded frame in order with `update`; it returns the codes to accept."""

    def __init__(self, holdoff_s: float = 0.0, gone_s: float = DEFAULT_GONE_S) -> None:
        if holdoff_s < 0 or gone_s < 0:
            raise ValueError("holdoff_s and gone_s must not be negative")
        self.holdoff_s = holdoff_s
        self.gone_s = gone_s
        self._in_view: dict[str, _Seen] = {}

    def update(self, codes: Sequence[DecodedCode], t: float) -> list[DecodedCode]:
        """Codes of one decoded frame taken at time `t` (seconds) -> the newly accepted ones."""
        # A code has left the view when a frame taken `gone_s` or more after its last sighting
        # does not show it; a stalled decoder or one blurred frame is not "leaving".
        # Nor is one blurred frame right after a stall: it takes a second frame without it
        # (before: the first frame decoded after a busy second, if blurred, was "leaving", and
        # the label that never left was read again in the next frame).
        texts_now = {c.text for c in codes}
        need_missed = 2 if self.gone_s > 0 else 1
        for text, seen in list(self._in_view.items()):
            if text in texts_now:
                continue
            seen.missed += 1
            if t - seen.last_seen >= self.gone_s - _EPS and seen.missed >= need_missed:
                del self._in_view[text]
        accepted: list[DecodedCode] = []
        seen_now: set[str] = set()
        for code in reading_order(list(codes)):
            if code.text in seen_now:
                continue  # the same text twice in one frame is one read
            seen_now.add(code.text)
            s = self._in_view.get(code.text)
            if s is None:
                self._in_view[code.text] = _Seen(t, t, t)
                accepted.append(code)
                continue
            s.last_seen = t
            s.missed = 0
            if self.holdoff_s > 0 and t - s.last_accepted >= self.holdoff_s - _EPS:
                s.last_accepted = t
                accepted.append(code)
        return accepted

    def in_view(self) -> list[str]:
        """Texts currently counted as in view (accepted and not yet gone)."""
        return sorted(self._in_view)

    def reset(self) -> None:
        self._in_view.clear()
