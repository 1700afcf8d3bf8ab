"""Normalising and classifying raw reads from scanners, cameras and keyboards
(docs/rules.md §1).

Pure functions, no I/O: the station and the central apply code both call them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from station.errors import CodeRefused
from station.reasons import Reason, say

MAX_RAW_LENGTH = 512

CHILD_PATTERN = re.compile(r"^[A-Z0-9]{4,20}$")
BILL_ID_PATTERN = re.compile(r"^[A-Z0-9\-_/.]{3,50}$")
LABEL_PATTERN = re.compile(r"LABEL\s*NO\.?\s*[:#]?\s*(\d+)")

# Characters that never belong in a code: zero-width ones and the byte-order mark.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


class CodeKind(StrEnum):
    PARENT = "parent"
    CHILD = "child"


@dataclass(frozen=True)
class BagType:
    """A parent bag type: data, not code (the `bag_type` table)."""

    name: str
    pattern: str  # full-match regex of the code after normalising
    lookalike: str  # regex of reads that start like this type (damaged labels)
    capacity: int
    nominal_kg: float
    kg_per_child: float = 1.0
    example: str = ""

    def matches(self, code: str) -> bool:
        return _compiled(self.pattern).fullmatch(code) is not None

    def looks_like(self, code: str) -> bool:
        return _compiled(self.lookalike).match(code) is not None


DEFAULT_BAG_TYPES: tuple[BagType, ...] = (
    BagType("SB", r"SB\d{5}", r"SB\d", 30, 30.0, 1.0, "SB12345"),
    BagType("M444", r"M444-\d{5}", r"M444", 15, 15.0, 1.0, "M444-12345"),
)

_regex_cache: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    """A bag type's pattern with ASCII classes: `\\d` is 0-9 and `\\w` ASCII, as codes are
    (docs/rules.md §1), so SB followed by full-width or Devanagari digits is no parent code
    (it would be a second bag beside the one with ASCII digits). A pattern that asks for
    Unicode matching itself ((?u)) keeps it."""
    try:
        return re.compile(pattern, re.ASCII)
    except ValueError:
        return re.compile(pattern)


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _regex_cache.get(pattern)
    if compiled is None:
        compiled = _regex_cache[pattern] = _compile(pattern)
    return compiled


@dataclass(frozen=True)
class ParsedCode:
    """A read that passed the code rules."""

    code: str
    kind: CodeKind
    bag_type: BagType | None = None  # set for parents
    label_text: str | None = None  # the whole printed label when the child came from one


# A long read is shown by its head and tail around a spaced ellipsis: no piece of a message
# longer than this without a space, so a message still wraps on a 1024-pixel screen.
_SHOWN_HEAD, _SHOWN_TAIL = 20, 8


def escape_read(raw: str, limit: int = 60) -> str:
    """Show a raw read safely in a message: control characters as \\x1d, quoted, shortened
    (a read over `limit`, or over 32 characters, to its head and tail)."""
    out: list[str] = []
    for ch in raw:
        cat = unicodedata.category(ch)
        if ch == "\\":
            out.append("\\\\")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ch == "\u00a0":
            cp = ord(ch)
            out.append(f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if len(text) > min(limit, _SHOWN_HEAD + _SHOWN_TAIL + 4):
        if limit >= _SHOWN_HEAD + _SHOWN_TAIL:
            text = f"{text[:_SHOWN_HEAD]} … {text[-_SHOWN_TAIL:]}"
        else:
            text = text[:limit] + "…"
    return f"'{text}'"


def normalise(raw: str) -> str:
    """Drop control and invisible characters, NBSP to space, trim, upper-case."""
    if raw.isascii() and raw.isprintable():
        # What scanners send almost always: nothing to drop, so skip the per-character look-ups.
        return raw.strip().upper()
    return _normalise_each(raw)


def _normalise_each(raw: str) -> str:
    kept: list[str] = []
    for ch in raw:
        if ch == "\u00a0":
            kept.append(" ")
        elif ch in _INVISIBLE:
            continue
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        else:
            kept.append(ch)
    return "".join(kept).strip().upper()


def _parent_examples(bag_types: Iterable[BagType]) -> str:
    examples = [t.example or t.name for t in bag_types]
    return " or ".join(examples)


def _check_length(raw: str) -> None:
    if len(raw) > MAX_RAW_LENGTH:
        raise CodeRefused(Reason.TOO_LONG, say(
            Reason.TOO_LONG, length=len(raw), most=MAX_RAW_LENGTH, read=escape_read(raw),
        ))


class _TypePlan:
    """The bag types' patterns joined into one regex each, so a child code (the common read,
    which matches no parent type) costs two regex calls whatever the number of types."""

    def __init__(self, types: tuple[BagType, ...]) -> None:
        self.types = types
        self.any_parent: re.Pattern[str] | None = None
        self.any_lookalike: re.Pattern[str] | None = None
        try:
            parents = [_compile(t.pattern) for t in types]
            lookalikes = [_compile(t.lookalike) for t in types]
        except re.error:
            return  # a bad pattern fails in the per-type loop, as it always did
        # groups would renumber (and backreferences break) when joined: keep the loop then;
        # likewise for any flag but ASCII (a pattern's own (?i) or (?u) stays its own)
        if types and not any(p.groups or p.flags & ~re.ASCII for p in parents + lookalikes):
            self.any_parent = re.compile("|".join(f"(?:{t.pattern})" for t in types), re.ASCII)
            self.any_lookalike = re.compile("|".join(f"(?:{t.lookalike})" for t in types),
                                            re.ASCII)


_plans: dict[int, _TypePlan] = {}


def _plan(types: tuple[BagType, ...]) -> _TypePlan:
    plan = _plans.get(id(types))
    if plan is None or plan.types is not types:
        if len(_plans) > 64:
            _plans.clear()
        plan = _plans[id(types)] = _TypePlan(types)
    return plan


def classify(raw: str, bag_types: Iterable[BagType] = DEFAULT_BAG_TYPES) -> ParsedCode:
    """Turn a raw read into a parent or child code, or raise CodeRefused naming the rule."""
    _check_length(raw)
    types = bag_types if type(bag_types) is tuple else tuple(bag_types)
    code = normalise(raw)
    if not code:
        raise CodeRefused(Reason.EMPTY, say(Reason.EMPTY, read=escape_read(raw)))
    plan = _plan(types)
    if plan.any_parent is None or plan.any_parent.fullmatch(code) is not None:
        for bag_type in types:
            if bag_type.matches(code):
                return ParsedCode(code, CodeKind.PARENT, bag_type)
    if plan.any_lookalike is None or plan.any_lookalike.match(code) is not None:
        for bag_type in types:
            if bag_type.looks_like(code):
                raise CodeRefused(Reason.DAMAGED_PARENT, say(
                    Reason.DAMAGED_PARENT, read=escape_read(code), type=bag_type.name,
                    example=bag_type.example or bag_type.pattern,
                ))
    label = LABEL_PATTERN.search(code)
    if label is not None:
        number = label.group(1)
        if CHILD_PATTERN.fullmatch(number) is None:
            raise CodeRefused(Reason.BAD_LABEL_NUMBER, say(
                Reason.BAD_LABEL_NUMBER, number=escape_read(number), read=escape_read(raw),
            ))
        return ParsedCode(number, CodeKind.CHILD, None, code)
    if CHILD_PATTERN.fullmatch(code) is not None:
        return ParsedCode(code, CodeKind.CHILD)
    raise CodeRefused(Reason.NOT_A_CODE, say(
        Reason.NOT_A_CODE, read=escape_read(raw), examples=_parent_examples(types),
    ))


def parse_bill_id(raw: str) -> str:
    """A bill id: 3-50 characters of A-Z 0-9 - _ / . after normalising (so unique ignoring case)."""
    _check_length(raw)
    bill_id = normalise(raw)
    if BILL_ID_PATTERN.fullmatch(bill_id) is None:
        raise CodeRefused(Reason.BAD_BILL_ID, say(Reason.BAD_BILL_ID, read=escape_read(raw)))
    return bill_id


def is_bill_id(raw: str) -> bool:
    try:
        parse_bill_id(raw)
    except CodeRefused:
        return False
    return True
