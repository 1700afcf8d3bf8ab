"""Keyboard-wedge scanner input, Qt-free: tell scanner bursts from typing, and diagnose a test read.

A USB scanner types a code as a burst of key presses a few ms apart, ending in Enter, Tab or
silence. A person types slower. The Qt event filter (ui/scanner_input.py) feeds every printable
key press here with its arrival time; nothing reaches a widget until the detector has decided
whether the keys were a scan (-> Read) or a person typing (-> Passthrough, replayed as typed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SUFFIXES = ("enter", "tab", "none")


@dataclass(frozen=True)
class Read:
    """A complete scanner read."""

    text: str
    terminator: str  # enter | tab | silence
    duration_ms: float
    max_gap_ms: float


@dataclass(frozen=True)
class Passthrough:
    """Keys that turned out to be typed by a person: give them back to the widget, in order."""

    payloads: tuple[Any, ...]
    text: str


Output = Read | Passthrough


@dataclass
class _Key:
    char: str
    t: float  # seconds, monotonic
    payload: Any


@dataclass
class BurstDetector:
    """Feed (char, time) of every printable key press; get completed reads and typed keys back.

    max_gap_ms: keys closer than this belong to one burst; min_length: a scan has at least this
    many characters; suffix: what the scanner sends after a code (enter | tab | none);
    silence_ms: a burst with no suffix ends after this long without a key. Enter and Tab always
    end a qualifying burst, whatever the suffix setting, so a misconfigured scanner still works;
    a burst that ends in silence is a read too (never lose a scan).
    """

    max_gap_ms: float = 30.0
    min_length: int = 4
    suffix: str = "enter"
    silence_ms: float = 80.0
    _keys: list[_Key] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.suffix not in SUFFIXES:
            raise ValueError(f"Scanner suffix {self.suffix!r}: use one of {', '.join(SUFFIXES)}")
        # Silence must be longer than the gap, or every pause inside a burst would end it.
        self.silence_ms = max(self.silence_ms, self.max_gap_ms + 1)

    @property
    def pending(self) -> str:
        return "".join(k.char for k in self._keys)

    @property
    def active(self) -> bool:
        return bool(self._keys)

    def _is_scan(self) -> bool:
        return len(self._keys) >= self.min_length

    def _gap_ok(self, t: float) -> bool:
        return bool(self._keys) and (t - self._keys[-1].t) * 1000.0 <= self.max_gap_ms

    def _flush(self, terminator: str) -> list[Output]:
        keys, self._keys = self._keys, []
        if not keys:
            return []
        if len(keys) >= self.min_length:
            gaps = [(b.t - a.t) * 1000.0 for a, b in zip(keys, keys[1:], strict=False)]
            return [Read("".join(k.char for k in keys), terminator,
                         (keys[-1].t - keys[0].t) * 1000.0, max(gaps, default=0.0))]
        return [Passthrough(tuple(k.payload for k in keys), "".join(k.char for k in keys))]

    def feed(self, char: str, t: float, payload: Any = None) -> list[Output]:
        """A printable key press at time t (seconds). It is held until the detector decides."""
        out: list[Output] = []
        if self._keys and not self._gap_ok(t):
            # The previous keys ended before this one: a finished burst, or typing.
            out = self._flush("silence")
        self._keys.append(_Key(char, t, payload))
        return out

    def feed_terminator(self, kind: str, t: float) -> tuple[list[Output], bool]:
        """Enter or Tab pressed at t. Returns (outputs, consumed): consumed means it ended a scan
        and must not reach the widget; otherwise deliver it after the outputs."""
        if not self._keys:
            return [], False
        if self._is_scan() and (t - self._keys[-1].t) * 1000.0 <= self.silence_ms:
            return self._flush(kind), True
        return self._flush("silence"), False

    def next_deadline(self) -> float | None:
        """When poll() should next be called (seconds, same clock), or None when idle."""
        if not self._keys:
            return None
        last = self._keys[-1].t
        if self._is_scan():
            return last + self.silence_ms / 1000.0
        return last + self.max_gap_ms / 1000.0

    def poll(self, t: float) -> list[Output]:
        """Time passed with no key: a short burst is typing, a long one a scan without suffix."""
        if not self._keys:
            return []
        idle_ms = (t - self._keys[-1].t) * 1000.0
        if self._is_scan():
            return self._flush("silence") if idle_ms >= self.silence_ms else []
        return self._flush("silence") if idle_ms > self.max_gap_ms else []

    def reset(self) -> list[Output]:
        """Give back whatever is held (focus left the window, settings changed)."""
        keys, self._keys = self._keys, []
        if not keys:
            return []
        return [Passthrough(tuple(k.payload for k in keys), "".join(k.char for k in keys))]


# -- scanner test ------------------------------------------------------------------------------

# The text of the printed test code: digits, upper and lower case letters that move between
# keyboard layouts (Q W Y Z A M) and '-'.
TEST_CODE = "TT-Scan-0123456789-QWYZAM-qwyzam"

# What a scanner that types as a US keyboard produces on a host set to another layout:
# US character -> character the host shows. Only keys that differ are listed.
_DE = {"y": "z", "z": "y", "Y": "Z", "Z": "Y", "-": "ß", "_": "?"}
_FR = {
    "q": "a", "a": "q", "w": "z", "z": "w", "m": ",", "Q": "A", "A": "Q", "W": "Z", "Z": "W",
    "M": "?", "-": ")", "1": "&", "2": "é", "3": '"', "4": "'", "5": "(", "6": "-", "7": "è",
    "8": "_", "9": "ç", "0": "à",
}
_DVORAK = {
    "q": "'", "w": ",", "y": "f", "z": ";", "a": "a", "m": "m", "Q": '"', "W": "<", "Y": "F",
    "Z": ":", "S": "O", "s": "o", "c": "j", "n": "b", "T": "Y", "-": "[", "C": "J", "N": "B",
    "e": ".", "E": ">", "t": "y", "r": "p", "R": "P", "A": "A", "M": "M",
}
LAYOUTS: dict[str, dict[str, str]] = {
    "German (QWERTZ)": _DE,
    "French (AZERTY)": _FR,
    "Dvorak": _DVORAK,
}


@dataclass(frozen=True)
class Diagnosis:
    ok: bool
    problem: str  # ok | caps_lock | upper_case | lower_case | layout | suffix | mismatch | empty
    message: str


def _swapcase(text: str) -> str:
    return text.swapcase()


def _as_layout(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(ch, ch) for ch in text)


def diagnose_test_read(read: str, expected: str = TEST_CODE) -> Diagnosis:
    """Compare a scan of the printed test code with its known text; name the likely fault."""
    got = read.strip("\r\n\t")
    if not got:
        return Diagnosis(False, "empty", "Nothing was read: scan the test code above")
    if got == expected:
        return Diagnosis(True, "ok", "The scanner is set up right: the test code read exactly")
    if got == _swapcase(expected):
        return Diagnosis(
            False, "caps_lock",
            "Caps Lock is on (upper and lower case are swapped): turn Caps Lock off on this "
            "keyboard, or set the scanner's case option to 'keep case'",
        )
    if got == expected.upper():
        return Diagnosis(
            False, "upper_case",
            "The scanner turns everything to upper case: set its case option to 'keep case' "
            "(bag codes still work; this test needs exact case)",
        )
    if got == expected.lower():
        return Diagnosis(False, "lower_case",
                         "The scanner turns everything to lower case: set its case option to "
                         "'keep case'")
    for name, table in LAYOUTS.items():
        typed = _as_layout(expected, table)
        for variant, extra in ((typed, ""), (_swapcase(typed), " and Caps Lock is on")):
            if got == variant:
                return Diagnosis(
                    False, "layout",
                    f"The scanner types as a US keyboard but this computer uses the {name} "
                    f"layout{extra}: set the scanner's keyboard language to {name.split()[0]} "
                    "(scan the layout code in its manual) or switch this computer to US",
                )
    shown = got if len(got) <= 60 else got[:57] + "..."
    return Diagnosis(
        False, "mismatch",
        f"The test code read as {shown!r}, expected {expected!r}: check the scanner's keyboard "
        "language and case settings",
    )
