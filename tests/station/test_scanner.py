"""Burst detection (scanner vs person) and the scanner-test diagnosis, without Qt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.scanner import (
    LAYOUTS,
    TEST_CODE,
    BurstDetector,
    Passthrough,
    Read,
    diagnose_test_read,
)


def feed_text(d: BurstDetector, text: str, t0: float, gap_ms: float) -> tuple[list, float]:
    out: list = []
    t = t0
    for i, ch in enumerate(text):
        t = t0 + i * gap_ms / 1000.0
        out += d.feed(ch, t, payload=(ch, i))
    return out, t


def test_fast_burst_with_enter_is_one_read_and_enter_is_consumed() -> None:
    d = BurstDetector()
    out, t = feed_text(d, "SB00001", 0.0, 6)
    assert out == []  # nothing decided while the keys keep coming
    outs, consumed = d.feed_terminator("enter", t + 0.005)
    assert consumed
    assert len(outs) == 1 and isinstance(outs[0], Read)
    assert outs[0].text == "SB00001" and outs[0].terminator == "enter"
    assert outs[0].max_gap_ms == pytest.approx(6)
    assert not d.active


def test_tab_terminator_also_ends_a_scan() -> None:
    d = BurstDetector(suffix="tab")
    _, t = feed_text(d, "C1234", 0.0, 5)
    outs, consumed = d.feed_terminator("tab", t + 0.004)
    assert consumed and outs[0].text == "C1234" and outs[0].terminator == "tab"


def test_person_typing_is_passed_through_key_by_key_in_order() -> None:
    d = BurstDetector(max_gap_ms=30)
    out, t = feed_text(d, "c0042", 0.0, 120)
    out += d.poll(t + 0.1)
    assert all(isinstance(o, Passthrough) for o in out)
    assert "".join(o.text for o in out) == "c0042"
    assert [p for o in out for p in o.payloads] == [(c, i) for i, c in enumerate("c0042")]


def test_short_fast_burst_is_typing_not_a_scan() -> None:
    d = BurstDetector(min_length=4)
    _, t = feed_text(d, "ab1", 0.0, 5)
    outs, consumed = d.feed_terminator("enter", t + 0.005)
    assert not consumed  # the Enter belongs to the widget
    assert isinstance(outs[0], Passthrough) and outs[0].text == "ab1"


def test_burst_without_suffix_ends_after_silence_not_before() -> None:
    d = BurstDetector(suffix="none", silence_ms=80)
    _, t = feed_text(d, "SB00001", 0.0, 5)
    assert d.poll(t + 0.050) == []  # a pause inside the silence window: keep waiting
    assert d.next_deadline() == pytest.approx(t + 0.080)
    outs = d.poll(t + 0.081)
    assert isinstance(outs[0], Read) and outs[0].text == "SB00001"
    assert outs[0].terminator == "silence"


def test_a_slow_key_after_a_burst_ends_it_and_starts_anew() -> None:
    d = BurstDetector()
    _, t = feed_text(d, "C1111", 0.0, 5)
    outs = d.feed("x", t + 0.2, payload="x")
    assert isinstance(outs[0], Read) and outs[0].text == "C1111"
    assert d.pending == "x"


def test_held_single_key_is_released_after_the_gap() -> None:
    d = BurstDetector(max_gap_ms=30)
    d.feed("a", 1.0, payload="a")
    assert d.poll(1.020) == []
    assert d.next_deadline() == pytest.approx(1.030)
    outs = d.poll(1.031)
    assert isinstance(outs[0], Passthrough) and outs[0].payloads == ("a",)


def test_thresholds_are_settings() -> None:
    d = BurstDetector(max_gap_ms=60, min_length=6)
    _, t = feed_text(d, "C1234", 0.0, 50)  # 50 ms gaps count as a scanner here, but 5 < 6
    outs, consumed = d.feed_terminator("enter", t + 0.01)
    assert not consumed and isinstance(outs[0], Passthrough)
    with pytest.raises(ValueError, match="suffix"):
        BurstDetector(suffix="space")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=4, max_size=40),
    gaps=st.lists(st.floats(min_value=0.5, max_value=29.0), min_size=40, max_size=40),
)
def test_any_scanner_burst_is_read_exactly(text: str, gaps: list[float]) -> None:
    d = BurstDetector()
    t, out = 0.0, []
    for ch, gap in zip(text, gaps, strict=False):
        t += gap / 1000.0
        out += d.feed(ch, t)
    outs, consumed = d.feed_terminator("enter", t + 0.003)
    assert out == [] and consumed
    assert [o.text for o in outs] == [text]


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet="abcxyz0123 ", min_size=1, max_size=15),
    gaps=st.lists(st.floats(min_value=31.0, max_value=400.0), min_size=15, max_size=15),
)
def test_typing_never_becomes_a_read_and_loses_no_key(text: str, gaps: list[float]) -> None:
    d = BurstDetector()
    t, out = 0.0, []
    for ch, gap in zip(text, gaps, strict=False):
        t += gap / 1000.0
        out += d.feed(ch, t, payload=ch)
    out += d.poll(t + 1.0)
    assert all(isinstance(o, Passthrough) for o in out)
    assert "".join(o.text for o in out) == text


# -- scanner test diagnosis ---------------------------------------------------------------------


def test_the_test_code_covers_digits_letters_and_dash() -> None:
    assert any(c.isdigit() for c in TEST_CODE) and "-" in TEST_CODE
    assert any(c.isupper() for c in TEST_CODE) and any(c.islower() for c in TEST_CODE)


@pytest.mark.parametrize(
    ("read", "problem", "words"),
    [
        (TEST_CODE, "ok", "set up right"),
        (TEST_CODE + "\r", "ok", "set up right"),
        (TEST_CODE.swapcase(), "caps_lock", "Caps Lock is on"),
        (TEST_CODE.upper(), "upper_case", "upper case"),
        (TEST_CODE.lower(), "lower_case", "lower case"),
        ("", "empty", "Nothing was read"),
        ("TT-Scan-0123", "mismatch", "expected"),
    ],
)
def test_diagnosis_of_case_problems(read: str, problem: str, words: str) -> None:
    d = diagnose_test_read(read)
    assert d.problem == problem
    assert d.ok == (problem == "ok")
    assert words in d.message


def test_german_layout_is_recognised() -> None:
    # A US-layout scanner on a German host: Y and Z swap and '-' becomes 'ß'.
    read = "TT\u00dfScan\u00df0123456789\u00dfQWZYAM\u00dfqwzyam"
    d = diagnose_test_read(read)
    assert d.problem == "layout" and "German" in d.message


def test_french_layout_is_recognised() -> None:
    # Digits come out unshifted on AZERTY: 0 -> à, 1 -> &; A/Q and Z/W swap; M -> ','
    read = "".join(LAYOUTS["French (AZERTY)"].get(c, c) for c in TEST_CODE)
    assert read.startswith("TT)Scqn)à&é")
    d = diagnose_test_read(read)
    assert d.problem == "layout" and "French" in d.message


def test_layout_with_caps_lock_says_both() -> None:
    read = "".join(LAYOUTS["German (QWERTZ)"].get(c, c) for c in TEST_CODE).swapcase()
    d = diagnose_test_read(read)
    assert d.problem == "layout" and "Caps Lock" in d.message


def test_mismatch_shows_what_was_read() -> None:
    d = diagnose_test_read("garbage!!")
    assert "'garbage!!'" in d.message and TEST_CODE in d.message
