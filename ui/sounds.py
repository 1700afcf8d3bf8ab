"""Feedback sounds: which sound a scan result gets, and playing it with QSoundEffect.

QtMultimedia is only loaded when an audio server can exist: without one (a server, a test run
offscreen) it would only print warnings, so sound is switched off and the choice of sound is
still made and recorded (`last_kind`), which is what the tests check.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLoggingCategory, QObject, QUrl

from station.reasons import Reason
from station.rules import Outcome
from station.service import OpResult
from ui.resources import sound_path

log = logging.getLogger(__name__)

SOUND_KINDS = ("child_accepted", "parent_selected", "parent_complete", "warning", "error")


def sound_for(result: OpResult) -> str | None:
    """The sound of one result; None for results that need no sound."""
    if result.outcome is Outcome.REFUSED:
        return "error"
    if result.outcome is Outcome.WARNING:
        return "warning"
    if result.reason in (Reason.PARENT_COMPLETED, Reason.PARENT_FINISHED):
        return "parent_complete"
    if result.reason in (Reason.PARENT_CREATED, Reason.PARENT_SELECTED, Reason.BILL_SELECTED):
        return "parent_selected"
    if result.reason in (Reason.CHILD_LINKED, Reason.CHILD_UNLINKED):
        return "child_accepted"
    return None


def audio_server_present() -> bool:
    """False where QtMultimedia could only fail: Linux without a PulseAudio/PipeWire socket."""
    if os.environ.get("TRACETRACK_NO_SOUND"):
        return False
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("PULSE_SERVER"):
        return True
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
    return any((runtime / p).exists() for p in ("pulse/native", "pipewire-0"))


class SoundPlayer(QObject):
    def __init__(self, muted: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.muted = muted
        self.last_kind: str | None = None
        self.play_count = 0  # sounds actually handed to the audio device
        self._effects: dict[str, Any] = {}
        self.available = False
        self.unavailable_reason = ""
        if not audio_server_present():
            self.unavailable_reason = "no audio server"
            return
        # Missing optional libraries (pipewire, VA-API) are reported as warnings; not our fault.
        QLoggingCategory.setFilterRules("qt.multimedia.symbolsresolver=false\n"
                                        "qt.multimedia.ffmpeg.info=false")
        try:
            from PySide6.QtMultimedia import QMediaDevices, QSoundEffect
        except ImportError as exc:  # the system lacks libpulse: run silent, say why
            self.unavailable_reason = f"QtMultimedia unavailable ({exc})"
            return
        if not QMediaDevices.audioOutputs():
            self.unavailable_reason = "no audio output device"
            return
        for kind in SOUND_KINDS:
            effect = QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(sound_path(kind))))
            effect.setVolume(0.9)
            self._effects[kind] = effect
        self.available = True

    def play(self, kind: str | None) -> None:
        self.last_kind = kind
        if kind is None or self.muted or not self.available:
            return
        effect = self._effects.get(kind)
        if effect is not None:
            effect.play()
            self.play_count += 1

    def play_for(self, result: OpResult) -> str | None:
        kind = sound_for(result)
        self.play(kind)
        return kind
