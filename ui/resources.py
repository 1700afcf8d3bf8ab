"""Where the committed resources (sounds, the scanner-test code image) are found at run time."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SOUNDS_DIR = RESOURCES / "sounds"
SCANNER_TEST_IMAGE = RESOURCES / "scanner_test_code.png"


def sound_path(kind: str) -> Path:
    return SOUNDS_DIR / f"{kind}.wav"
