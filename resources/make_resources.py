"""Regenerate the committed resources: the feedback sounds (WAV) and the scanner-test QR code.

Run `python resources/make_resources.py`; the outputs are small and committed, so the app never
generates them at run time.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = 22050

# (frequency Hz, duration s) notes; 0 Hz is a pause. Distinct by pitch and rhythm so an
# operator tells them apart without looking.
SOUNDS: dict[str, list[tuple[float, float]]] = {
    "child_accepted": [(1320, 0.07)],  # one short high blip: the common case
    "parent_selected": [(880, 0.08), (0, 0.03), (1175, 0.10)],  # rising pair
    "parent_complete": [(784, 0.10), (988, 0.10), (1175, 0.10), (1568, 0.25)],  # fanfare
    "warning": [(660, 0.12), (0, 0.06), (660, 0.12)],  # two mid beeps
    "error": [(220, 0.45)],  # one long low buzz
}


def _samples(notes: list[tuple[float, float]], square: bool) -> bytes:
    out = bytearray()
    for freq, dur in notes:
        n = int(RATE * dur)
        fade = max(int(RATE * 0.005), 1)  # 5 ms ramps avoid clicks
        for i in range(n):
            if freq <= 0:
                value = 0.0
            else:
                phase = math.sin(2 * math.pi * freq * i / RATE)
                value = (1.0 if phase >= 0 else -1.0) * 0.5 if square else phase * 0.7
                value *= min(1.0, i / fade, (n - i) / fade)
            out += struct.pack("<h", int(value * 32767))
    return bytes(out)


def make_sounds() -> None:
    target = HERE / "sounds"
    target.mkdir(exist_ok=True)
    for name, notes in SOUNDS.items():
        with wave.open(str(target / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(_samples(notes, square=name == "error"))


def make_test_code() -> None:
    import cv2
    import numpy as np
    import zxingcpp

    sys.path.insert(0, str(HERE.parent))
    from station.scanner import TEST_CODE

    code = zxingcpp.create_barcode(TEST_CODE, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    if code.text != TEST_CODE:
        raise SystemExit(f"QR encoder wrote {code.text!r}, not {TEST_CODE!r}")
    img = np.asarray(code.to_image(scale=8, add_quiet_zones=True))
    cv2.imwrite(str(HERE / "scanner_test_code.png"), img)


if __name__ == "__main__":
    make_sounds()
    make_test_code()
