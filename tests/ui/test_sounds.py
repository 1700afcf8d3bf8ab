"""Which sound each outcome gets, and a silent (warning-free) player without an audio server."""

from __future__ import annotations

import pytest

from station.rules import Outcome
from station.service import OpResult
from ui.resources import sound_path
from ui.sounds import SOUND_KINDS, SoundPlayer, audio_server_present, sound_for


@pytest.mark.parametrize(
    ("outcome", "reason", "kind"),
    [
        (Outcome.ACCEPTED, "child_linked", "child_accepted"),
        (Outcome.ACCEPTED, "parent_created", "parent_selected"),
        (Outcome.ACCEPTED, "parent_selected", "parent_selected"),
        (Outcome.ACCEPTED, "parent_completed", "parent_complete"),
        (Outcome.ACCEPTED, "parent_finished", "parent_complete"),
        (Outcome.WARNING, "already_on_parent", "warning"),
        (Outcome.WARNING, "parent_finished_short", "warning"),
        (Outcome.REFUSED, "child_on_other_parent", "error"),
        (Outcome.REFUSED, "no_parent", "error"),
    ],
)
def test_sound_for_each_outcome(outcome: Outcome, reason: str, kind: str) -> None:
    assert sound_for(OpResult(outcome, reason, "m")) == kind


def test_every_sound_file_exists_and_they_differ() -> None:
    blobs = [sound_path(k).read_bytes() for k in SOUND_KINDS]
    assert all(b[:4] == b"RIFF" and b[8:12] == b"WAVE" for b in blobs)
    assert len(set(blobs)) == len(SOUND_KINDS)
    assert all(len(b) < 64_000 for b in blobs)


def test_without_audio_server_the_player_is_silent_but_records_the_choice(
    qtbot, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    assert not audio_server_present()
    p = SoundPlayer()
    assert not p.available and p.unavailable_reason == "no audio server"
    assert p.play_for(OpResult(Outcome.ACCEPTED, "parent_completed", "m")) == "parent_complete"
    assert p.last_kind == "parent_complete" and p.play_count == 0


def test_muted_player_plays_nothing(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TRACETRACK_NO_SOUND", "1")
    p = SoundPlayer(muted=True)
    p.play("error")
    assert p.last_kind == "error" and p.play_count == 0
