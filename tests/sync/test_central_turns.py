"""The turns a busy centre gives the batches it turns away (central.service.Turns): one after
another, at the pace the centre finishes catch-up batches, back to "now" once the turns given
have passed."""

from __future__ import annotations

import pytest

from central.service import Turns


def test_turns_are_given_one_after_another_at_the_spacing() -> None:
    turns = Turns(spacing_s=0.2, floor_s=0.1, ceiling_s=30.0)
    given = [turns.next_turn(now=100.0) for _ in range(5)]
    assert given == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    # half a second later the first turns have passed; the next one is after the last given
    assert turns.next_turn(now=100.5) == pytest.approx(0.7)
    # once every turn given has passed, the next is one spacing from now again
    assert turns.next_turn(now=200.0) == pytest.approx(0.2)


def test_a_turn_is_never_shorter_than_the_floor_nor_longer_than_the_ceiling() -> None:
    turns = Turns(spacing_s=0.01, floor_s=0.1, ceiling_s=0.5)
    assert turns.next_turn(now=10.0) == pytest.approx(0.1)
    given = [turns.next_turn(now=10.0) for _ in range(100)]
    assert max(given) == pytest.approx(0.5)
    assert given == sorted(given)


def test_the_spacing_follows_how_often_catch_up_batches_finish_while_busy() -> None:
    turns = Turns(spacing_s=0.05)
    t = 50.0
    for _ in range(100):  # a busy process finishing a batch every 30 ms
        turns.finished(now=t)
        t += 0.03
    assert turns.spacing_s == pytest.approx(0.03, rel=0.01)
    # a pause (nothing to apply for minutes) is not a slow batch: the spacing stays
    turns.finished(now=t + 300.0)
    assert turns.spacing_s == pytest.approx(0.03, rel=0.01)
    for _ in range(100):  # slower batches now: one every 120 ms
        t += 0.12
        turns.finished(now=t + 300.0)
    assert turns.spacing_s == pytest.approx(0.12, rel=0.01)
    assert turns.next_turn(now=t + 300.0) == pytest.approx(0.12, rel=0.01)
