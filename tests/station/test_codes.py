"""Code rules (docs/rules.md §1), case by case: normalising, classifying, messages, bill ids."""

from __future__ import annotations

import pytest

from station.codes import (
    DEFAULT_BAG_TYPES,
    BagType,
    CodeKind,
    classify,
    escape_read,
    is_bill_id,
    normalise,
    parse_bill_id,
)
from station.errors import CodeRefused

NORMALISE_CASES = [
    ("sb00001", "SB00001"),
    ("  SB00001\r\n", "SB00001"),
    ("\x1dC1234\x04", "C1234"),  # GS and EOT control characters
    ("\ufeffC1234", "C1234"),  # BOM
    ("C12\u200b34", "C1234"),  # zero-width space
    ("C1\u200c2\u200d34\u2060", "C1234"),
    ("\u00a0C1234\u00a0", "C1234"),  # NBSP becomes a space, then trimmed
    ("a\u00a0b", "A B"),
    ("\tm444-00001\t", "M444-00001"),
]


@pytest.mark.parametrize("raw,expected", NORMALISE_CASES)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


CLASSIFY_OK = [
    # raw, kind, code, bag type
    ("SB00001", CodeKind.PARENT, "SB00001", "SB"),
    ("sb12345", CodeKind.PARENT, "SB12345", "SB"),
    ("M444-00001", CodeKind.PARENT, "M444-00001", "M444"),
    ("m444-99999\r", CodeKind.PARENT, "M444-99999", "M444"),
    ("C1234", CodeKind.CHILD, "C1234", None),
    ("0016586", CodeKind.CHILD, "0016586", None),
    ("ABCD", CodeKind.CHILD, "ABCD", None),  # 4 characters: the shortest child
    ("A" * 20, CodeKind.CHILD, "A" * 20, None),  # 20: the longest
    ("SBX1234", CodeKind.CHILD, "SBX1234", None),  # SB not followed by a digit
    ("\x1dc1234\x1d", CodeKind.CHILD, "C1234", None),
    (
        "LABEL NO.:0016586 LOT NO.:STAR44GG24611, D.O.T.:30/09/2025",
        CodeKind.CHILD,
        "0016586",
        None,
    ),
    ("label no.:0016586 lot no.:x", CodeKind.CHILD, "0016586", None),
    ("LABEL NO. 12345678", CodeKind.CHILD, "12345678", None),
]


@pytest.mark.parametrize("raw,kind,code,bag_type", CLASSIFY_OK)
def test_classify_accepts(raw: str, kind: CodeKind, code: str, bag_type: str | None) -> None:
    parsed = classify(raw)
    assert parsed.kind is kind
    assert parsed.code == code
    assert (parsed.bag_type.name if parsed.bag_type else None) == bag_type


def test_label_text_is_kept() -> None:
    raw = "LABEL NO.:0016586 LOT NO.:STAR44GG24611, D.O.T.:30/09/2025"
    parsed = classify(raw)
    assert parsed.label_text == raw.upper()


CLASSIFY_REFUSED = [
    # raw, reason, fragments the message must contain
    ("SB1234", "damaged_parent", ["'SB1234' looks like a parent code but is not one", "SB12345"]),
    ("SB123456", "damaged_parent", ["looks like a parent code"]),
    ("sb0001", "damaged_parent", ["'SB0001'"]),
    ("M444-1234", "damaged_parent", ["M444-12345"]),
    ("M4441234", "damaged_parent", ["looks like a parent code"]),
    ("M444", "damaged_parent", ["looks like a parent code"]),
    ("ABC", "not_a_code", ["Not a bag code: 'ABC'", "SB12345 or M444-12345"]),
    ("A" * 21, "not_a_code", ["Not a bag code"]),
    ("C12-34", "not_a_code", ["'C12-34'"]),
    ("C1234\x1dX!", "not_a_code", ["\\x1d"]),
    ("   ", "empty", ["empty"]),
    ("\r\n", "empty", ["\\x0d\\x0a"]),
    ("LABEL NO.:12", "bad_label_number", ["'12'"]),
    ("x" * 513, "too_long", ["too long", "513"]),
]


@pytest.mark.parametrize("raw,reason,fragments", CLASSIFY_REFUSED)
def test_classify_refuses(raw: str, reason: str, fragments: list[str]) -> None:
    with pytest.raises(CodeRefused) as info:
        classify(raw)
    assert info.value.reason == reason
    for fragment in fragments:
        assert fragment in info.value.message
    assert "invalid input" not in info.value.message.lower()


def test_length_limit_is_on_the_raw_read() -> None:
    # 512 raw characters are read; 513 are refused before normalising, whatever they hold.
    assert classify(" " * 508 + "C123").code == "C123"
    with pytest.raises(CodeRefused) as info:
        classify(" " * 508 + "C1234")
    assert info.value.reason == "too_long"


def test_refusal_messages_never_carry_raw_control_characters() -> None:
    with pytest.raises(CodeRefused) as info:
        classify("AB\x1d\x00C\x7f")
    assert "\x1d" not in info.value.message and "\x00" not in info.value.message
    assert "\\x1d" in info.value.message and "\\x00" in info.value.message


def test_escape_read_shortens_long_reads() -> None:
    shown = escape_read("A" * 150 + "Z" * 150)
    # head and tail around a spaced ellipsis: no long piece without a space (it must wrap)
    assert shown == "'" + "A" * 20 + " … " + "Z" * 8 + "'"
    assert max(len(piece) for piece in shown.split()) <= 32
    assert escape_read("X" * 32) == "'" + "X" * 32 + "'"  # short enough: whole


def test_bag_types_are_data() -> None:
    jute = BagType("JT", r"JT\d{4}", r"JT\d", 50, 50.0, 1.0, "JT1234")
    types = DEFAULT_BAG_TYPES + (jute,)
    parsed = classify("jt0001", types)
    assert parsed.kind is CodeKind.PARENT and parsed.bag_type == jute
    assert classify("JT0001").kind is CodeKind.CHILD  # unknown type without the table row
    with pytest.raises(CodeRefused) as info:
        classify("JT001", types)
    assert info.value.reason == "damaged_parent"
    assert "JT1234" in info.value.message


def test_default_bag_types() -> None:
    by_name = {t.name: t for t in DEFAULT_BAG_TYPES}
    assert (by_name["SB"].capacity, by_name["SB"].nominal_kg) == (30, 30.0)
    assert (by_name["M444"].capacity, by_name["M444"].nominal_kg) == (15, 15.0)
    assert all(t.kg_per_child == 1.0 for t in DEFAULT_BAG_TYPES)


BILL_IDS = [
    ("B-17", "B-17"),
    ("b-17", "B-17"),  # unique ignoring case: both are B-17
    ("abc", "ABC"),
    ("INV/2026/0001", "INV/2026/0001"),
    ("X_1.2", "X_1.2"),
    ("A" * 50, "A" * 50),
]


@pytest.mark.parametrize("raw,bill_id", BILL_IDS)
def test_bill_ids(raw: str, bill_id: str) -> None:
    assert parse_bill_id(raw) == bill_id
    assert is_bill_id(raw)


@pytest.mark.parametrize("raw", ["AB", "A" * 51, "B 17", "B#17", "", "B-17!"])
def test_bad_bill_ids(raw: str) -> None:
    with pytest.raises(CodeRefused) as info:
        parse_bill_id(raw)
    assert info.value.reason == "bad_bill_id"
    assert "3-50 characters" in info.value.message
    assert not is_bill_id(raw)


@pytest.mark.parametrize("raw", [
    "SB\uff11\uff12\uff13\uff14\uff15",  # full-width digits (a typed field with an IME)
    "SB\u0967\u0968\u0969\u096a\u096b",  # Devanagari digits
    "m444-\u0661\u0662\u0663\u0664\u0665",  # Arabic-Indic digits
])
def test_parent_codes_take_ascii_digits_only(raw: str) -> None:
    """`\\d` in a bag type's pattern means 0-9 (docs/rules.md §1: SB + five digits): a code
    written with other digits is not a parent bag, or SB１２３４５ would be a second bag beside
    SB12345; such a read is refused (a damaged parent label where it starts like one)."""
    with pytest.raises(CodeRefused) as exc:
        classify(raw)
    assert exc.value.reason in ("not_a_code", "damaged_parent")
    custom = (BagType("X", r"X\d{3}", r"X\d", 10, 10.0, 1.0, "X123"),)
    with pytest.raises(CodeRefused):
        classify("X\uff11\uff12\uff13", custom)
