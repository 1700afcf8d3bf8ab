"""QR decoder backends behind one interface: zxing-cpp (default) and pyzbar (needs system zbar).

Both accept grey, BGR and BGRA frames (numpy uint8 arrays as OpenCV gives them).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from station.errors import StationError

Point = tuple[int, int]

BACKENDS = ("zxing", "zbar")
DEFAULT_BACKEND = "zxing"


class DecoderUnavailable(StationError):
    """A decoder backend cannot be used on this machine; the message says why and what to do."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"The {backend} decoder is not available: {reason}")
        self.backend = backend
        self.reason = reason


@dataclass(frozen=True)
class DecodedCode:
    """One code found in a frame: its text, raw bytes, format and corners in frame pixels."""

    text: str
    raw: bytes
    format: str
    # Corners: top-left, top-right, bottom-right, bottom-left (as the code is oriented).
    corners: tuple[Point, Point, Point, Point]

    @property
    def centre(self) -> tuple[float, float]:
        xs = [p[0] for p in self.corners]
        ys = [p[1] for p in self.corners]
        return (sum(xs) / 4.0, sum(ys) / 4.0)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the axis-aligned box around the corners."""
        xs = [p[0] for p in self.corners]
        ys = [p[1] for p in self.corners]
        return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "format": self.format,
            "position": [list(p) for p in self.corners],
        }


def reading_order(codes: list[DecodedCode]) -> list[DecodedCode]:
    """Codes left to right as the camera sees them (then top to bottom, then text): a stable order."""
    return sorted(codes, key=lambda c: (round(c.centre[0]), round(c.centre[1]), c.text))


class Decoder(Protocol):
    name: str
    version: str

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        """Every QR code in the frame, in reading order (see `reading_order`)."""
        ...


def as_grey_or_bgr(frame: np.ndarray) -> np.ndarray:
    """A frame both backends accept: grey stays grey, BGR stays BGR, BGRA loses its alpha,
    16-bit becomes 8-bit."""
    if frame.dtype == np.uint16:
        # A 16-bit picture (a label photo saved as 16-bit PNG): its top 8 bits are the picture.
        # (before: refused, so such a label was never read, and `decode` stopped on it)
        frame = (frame >> 8).astype(np.uint8)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit images, got {frame.dtype}")
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 4:
        alpha = frame[:, :, 3]
        lo, hi = int(alpha.min()), int(alpha.max())
        if lo < 128 <= hi:
            # Some pixels shown, some not: a picture with a transparent background, which
            # paper and screens show light. (Before: the colour under it, often black, was
            # kept, and dark modules on a black background were never read.) A uniform alpha
            # says nothing and is dropped as it was.
            a = alpha.astype(np.float32)[:, :, None] / 255.0
            out = frame[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a)
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"frames must be grey, BGR or BGRA, got shape {frame.shape}")


def as_grey(frame: np.ndarray) -> np.ndarray:
    img = as_grey_or_bgr(frame)
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _bytes_to_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class ZxingDecoder:
    """zxing-cpp: self-contained wheels, the fastest backend here and the one that reads most."""

    name = "zxing"

    def __init__(self) -> None:
        try:
            import zxingcpp
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise DecoderUnavailable("zxing", f"the zxing-cpp package is not installed ({exc})") from exc
        self._zx = zxingcpp
        self.version = "zxing-cpp " + _dist_version("zxing-cpp")

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        zx = self._zx
        img = as_grey_or_bgr(frame)
        if not img.flags.c_contiguous:
            img = np.ascontiguousarray(img)
        # Plain text mode: the text exactly as encoded (control characters such as GS kept), the
        # same characters a USB scanner would type; HRI mode would turn them into "<GS>".
        found = zx.read_barcodes(img, formats=zx.BarcodeFormat.QRCode, text_mode=zx.TextMode.Plain)
        codes = []
        for r in found:
            if not r.valid:
                continue
            p = r.position
            corners = tuple((int(q.x), int(q.y)) for q in
                            (p.top_left, p.top_right, p.bottom_right, p.bottom_left))
            codes.append(DecodedCode(r.text, bytes(r.bytes), "QRCode", corners))  # type: ignore[arg-type]
        return reading_order(codes)


class ZbarDecoder:
    """pyzbar over the system zbar library: optional (the station says so when it is missing)."""

    name = "zbar"

    def __init__(self) -> None:
        try:
            from pyzbar import pyzbar, wrapper
        except ImportError as exc:
            reason = str(exc)
            if "zbar" in reason.lower() and "shared library" in reason.lower():
                reason = ("the system zbar library is missing "
                          "(install it: apt-get install libzbar0, or brew install zbar)")
            raise DecoderUnavailable("zbar", reason) from exc
        except OSError as exc:
            raise DecoderUnavailable("zbar", f"the system zbar library cannot be loaded ({exc})") from exc
        self._pyzbar = pyzbar
        self.version = "zbar " + _zbar_version(wrapper)

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        grey = np.ascontiguousarray(as_grey(frame))
        h, w = grey.shape
        # Passing (bytes, width, height) skips pyzbar's own image-type sniffing.
        found = self._pyzbar.decode((grey.tobytes(), w, h),
                                    symbols=[self._pyzbar.ZBarSymbol.QRCODE])
        codes = []
        for r in found:
            corners = _zbar_corners([(int(p.x), int(p.y)) for p in r.polygon], r.rect)
            codes.append(DecodedCode(_bytes_to_text(r.data), bytes(r.data), "QRCode", corners))
        return reading_order(codes)


def _zbar_corners(poly: list[Point], rect: Any) -> tuple[Point, Point, Point, Point]:
    # zbar gives the outline in its own scan order, not the code's orientation: good enough
    # for drawing a frame around the code.
    if len(poly) == 4:
        return (poly[0], poly[1], poly[2], poly[3])
    x, y, w, h = int(rect.left), int(rect.top), int(rect.width), int(rect.height)
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _zbar_version(wrapper: Any) -> str:
    try:
        major, minor = ctypes.c_uint(), ctypes.c_uint()
        wrapper.zbar_version(ctypes.byref(major), ctypes.byref(minor))
        return f"{major.value}.{minor.value}"
    except Exception:  # noqa: BLE001 - only the version string is lost
        return "?"


_FACTORIES: dict[str, Callable[[], Decoder]] = {"zxing": ZxingDecoder, "zbar": ZbarDecoder}


def make_decoder(backend: str = DEFAULT_BACKEND) -> Decoder:
    """The decoder named `backend` (zxing | zbar); DecoderUnavailable says why it cannot be used."""
    factory = _FACTORIES.get(backend.strip().lower())
    if factory is None:
        raise DecoderUnavailable(
            backend, f"unknown decoder {backend!r} (choose one of {', '.join(BACKENDS)})"
        )
    return factory()


def backend_status() -> dict[str, str | None]:
    """For each backend: None when usable, else the plain reason it is not."""
    status: dict[str, str | None] = {}
    for name in BACKENDS:
        try:
            make_decoder(name)
            status[name] = None
        except DecoderUnavailable as exc:
            status[name] = exc.reason
    return status


def describe_backends() -> str:
    """One line for `doctor`: "zxing-cpp 3.1.1, zbar 0.23" or "... , zbar unavailable: <reason>"."""
    parts = []
    for name in BACKENDS:
        try:
            parts.append(make_decoder(name).version)
        except DecoderUnavailable as exc:
            parts.append(f"{name} unavailable: {exc.reason}")
    return ", ".join(parts)
