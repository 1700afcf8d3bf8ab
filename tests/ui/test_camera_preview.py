"""The camera preview's picture: what to_qimage makes of the frames a capture may give."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ui.camera_panel import to_qimage

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "qr-samples"


def _pixels(qimg) -> np.ndarray:  # noqa: ANN001
    qimg = qimg.convertToFormat(qimg.Format.Format_RGB888)
    ptr = qimg.constBits()
    arr = np.frombuffer(ptr, np.uint8, qimg.bytesPerLine() * qimg.height())
    return arr.reshape(qimg.height(), qimg.bytesPerLine())[:, : qimg.width() * 3].copy()


def test_a_16_bit_picture_is_previewed_like_its_8_bit_self() -> None:
    bgr = cv2.imread(str(SAMPLES / "qrcode-1" / "1.webp"), cv2.IMREAD_COLOR)
    for eight in (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), bgr):
        sixteen = eight.astype(np.uint16) * 257  # as a 16-bit PNG of the label loads
        q8, s8 = to_qimage(eight)
        q16, s16 = to_qimage(sixteen)
        assert (q16.width(), q16.height(), s16) == (q8.width(), q8.height(), s8)
        assert np.array_equal(_pixels(q16), _pixels(q8))
