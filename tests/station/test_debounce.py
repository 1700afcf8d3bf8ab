"""Debounce rules for camera reads, frame by frame on the frames' own clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.camera.debounce import Debouncer
from station.camera.decoders import DecodedCode

FPS = 10.0


def code(text: str, x: int = 100, y: int = 100) -> DecodedCode:
    return DecodedCode(text, text.encode(), "QRCode",
                       ((x, y), (x + 50, y), (x + 50, y + 50), (x, y + 50)))


def run(deb: Debouncer, frames: list[list[DecodedCode]], fps: float = FPS) -> list[tuple[int, str]]:
    """(frame index, text) of every acceptance."""
    out = []
    for i, codes in enumerate(frames):
        out += [(i, c.text) for c in deb.update(codes, i / fps)]
    return out


def test_a_code_staying_in_view_is_accepted_once() -> None:
    frames = [[code("C0001", x=10 * i)] for i in range(50)]  # moving, but always in view
    assert run(Debouncer(holdoff_s=0, gone_s=0.5), frames) == [(0, "C0001")]


def test_a_code_is_accepted_again_after_it_left_the_view() -> None:
    frames = [[code("C0001")]] * 5 + [[]] * 6 + [[code("C0001")]] * 5
    # Absent from t=0.5 to 1.0: the frame at 0.9 is 0.5 s after the last sighting (0.4) -> gone.
    assert run(Debouncer(gone_s=0.5), frames) == [(0, "C0001"), (11, "C0001")]


def test_a_short_gap_is_not_leaving_the_view() -> None:
    # Two blurred frames in which the decoder missed the code: 0.3 s < gone_s.
    frames = [[code("C0001")]] * 5 + [[]] * 2 + [[code("C0001")]] * 5
    assert run(Debouncer(gone_s=0.5), frames) == [(0, "C0001")]


def test_a_stalled_decoder_is_not_leaving_the_view() -> None:
    # No frame was decoded for 2 s (machine busy), the code was in every decoded frame.
    deb = Debouncer(gone_s=0.5)
    assert [c.text for c in deb.update([code("C0001")], 0.0)] == ["C0001"]
    assert deb.update([code("C0001")], 2.0) == []


def test_holdoff_accepts_a_code_again_while_it_stays_in_view() -> None:
    frames = [[code("C0001")]] * 45
    assert run(Debouncer(holdoff_s=2.0), frames) == [(0, "C0001"), (20, "C0001"), (40, "C0001")]


def test_holdoff_zero_never_repeats_a_code_in_view() -> None:
    frames = [[code("C0001")]] * 200
    assert run(Debouncer(holdoff_s=0.0), frames) == [(0, "C0001")]


def test_two_new_codes_in_one_frame_are_both_accepted_left_to_right() -> None:
    deb = Debouncer()
    got = deb.update([code("ZZZ9", x=20), code("AAA1", x=400), code("MMM5", x=200)], 0.0)
    assert [c.text for c in got] == ["ZZZ9", "MMM5", "AAA1"]
    # Same frame content in another list order: same result order.
    deb2 = Debouncer()
    got2 = deb2.update([code("AAA1", x=400), code("MMM5", x=200), code("ZZZ9", x=20)], 0.0)
    assert [c.text for c in got2] == ["ZZZ9", "MMM5", "AAA1"]


def test_a_second_code_joining_one_in_view_is_accepted_alone() -> None:
    frames = [[code("C0001", x=10)]] * 3 + [[code("C0001", x=10), code("C0002", x=300)]] * 3
    assert run(Debouncer(), frames) == [(0, "C0001"), (3, "C0002")]


def test_the_same_text_twice_in_one_frame_is_one_read() -> None:
    assert [c.text for c in Debouncer().update([code("C1", x=10), code("C1", x=300)], 0.0)] == ["C1"]


def test_negative_times_are_refused() -> None:
    with pytest.raises(ValueError):
        Debouncer(holdoff_s=-1)


@given(st.lists(st.booleans(), min_size=1, max_size=120))
def test_acceptances_equal_visits(seen: list[bool]) -> None:
    """With hold-off off, one acceptance per visit; a visit ends after >= gone_s unseen."""
    gone_frames = 5  # gone_s = 0.5 at 10 fps
    deb = Debouncer(holdoff_s=0, gone_s=gone_frames / FPS)
    accepted = run(deb, [[code("C7")] if s else [] for s in seen])
    visits, last_seen, in_view = [], None, False
    for i, s in enumerate(seen):
        if not s and in_view and last_seen is not None and i - last_seen >= gone_frames:
            in_view = False
        if s:
            if not in_view:
                visits.append(i)
                in_view = True
            last_seen = i
    assert [i for i, _ in accepted] == visits


def test_a_stalled_decoder_then_one_blurred_frame_is_not_leaving_the_view() -> None:
    # The machine was busy for 2 s (no frame decoded); the first frame decoded after it is
    # blurred, the next one shows the code again: it never left, so it is not read again.
    deb = Debouncer(gone_s=0.5)
    assert [c.text for c in deb.update([code("C0001")], 0.0)] == ["C0001"]
    assert deb.update([], 2.0) == []
    assert deb.update([code("C0001")], 2.1) == []
    # Missing from the frames of 0.5 s after that is leaving, as always.
    for i in range(1, 7):
        assert deb.update([], 2.1 + i / 10) == []
    assert [c.text for c in deb.update([code("C0001")], 2.8)] == ["C0001"]
