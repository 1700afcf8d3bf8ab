"""Generated camera pictures: QR codes on noisy backgrounds, blur, noise, videos and image folders.

Used by the tests and the decode benchmark to feed the real capture path without a camera.
Each frame can carry its own index in a strip of blocks at the top-left (`stamp_index`), so
a consumer can tell exactly which picture of the video it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

STAMP_BITS = 10
STAMP_BLOCK = 12  # pixels per bit: big enough to survive MJPG compression


def qr_image(text: str, module_px: int = 6) -> np.ndarray:
    """A grey QR code for `text` with its quiet zone, `module_px` pixels per module."""
    import zxingcpp

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode)
    return np.ascontiguousarray(np.asarray(code.to_image(scale=module_px)), dtype=np.uint8)


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A grey textured background, like sacking or a warehouse floor (no code in it)."""
    small = rng.integers(40, 220, (max(2, height // 16), max(2, width // 16)), dtype=np.uint8)
    big = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 12, (height, width))
    return np.clip(big.astype(np.float32) + grain, 0, 255).astype(np.uint8)


def paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Copy `patch` into `frame` at (x, y), clipped at the frame edges (codes move in and out)."""
    h, w = frame.shape[:2]
    ph, pw = patch.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
    if x0 >= x1 or y0 >= y1:
        return
    frame[y0:y1, x0:x1] = patch[y0 - y:y1 - y, x0 - x:x1 - x]


def stamp_index(frame: np.ndarray, index: int) -> None:
    """Write `index` as black/white blocks along the top-left edge."""
    for bit in range(STAMP_BITS):
        value = 255 if (index >> bit) & 1 else 0
        x = bit * STAMP_BLOCK
        frame[0:STAMP_BLOCK, x:x + STAMP_BLOCK] = value


def read_stamp(frame: np.ndarray) -> int:
    """The index written by `stamp_index` (frames may be grey, BGR or BGRA)."""
    grey = frame if frame.ndim == 2 else frame[:, :, :3].mean(axis=2)
    index = 0
    for bit in range(STAMP_BITS):
        x = bit * STAMP_BLOCK
        if grey[2:STAMP_BLOCK - 2, x + 2:x + STAMP_BLOCK - 2].mean() > 127:
            index |= 1 << bit
    return index


@dataclass(frozen=True)
class Placed:
    """A code in one frame: its text and top-left corner (may be partly outside the frame)."""

    text: str
    x: int
    y: int


@dataclass(frozen=True)
class FrameSpec:
    codes: tuple[Placed, ...] = ()
    blur: int = 0  # Gaussian kernel size (odd), 0 = sharp
    noise: float = 0.0  # standard deviation of added grey noise


@dataclass
class Renderer:
    width: int = 640
    height: int = 480
    module_px: int = 5
    seed: int = 7
    stamp: bool = True
    _cache: dict[str, np.ndarray] = field(default_factory=dict)

    def render(self, spec: FrameSpec, index: int) -> np.ndarray:
        """One BGR frame for `spec`."""
        rng = np.random.default_rng(self.seed * 100_003 + index)
        frame = background(self.width, self.height, rng)
        for placed in spec.codes:
            qr = self._cache.get(placed.text)
            if qr is None:
                qr = self._cache[placed.text] = qr_image(placed.text, self.module_px)
            paste(frame, qr, placed.x, placed.y)
        if spec.blur:
            frame = cv2.GaussianBlur(frame, (spec.blur, spec.blur), 0)
        if spec.noise:
            frame = np.clip(frame + rng.normal(0, spec.noise, frame.shape), 0, 255).astype(np.uint8)
        if self.stamp:
            stamp_index(frame, index)
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int]) -> Path:
    """An MJPG .avi of BGR frames (OpenCV's always-available codec)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write a video to {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_folder(folder: Path, frames: Iterable[np.ndarray]) -> Path:
    """Frames as numbered PNG files in `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
    return folder


def render_all(renderer: Renderer, specs: Sequence[FrameSpec]) -> list[np.ndarray]:
    return [renderer.render(spec, i) for i, spec in enumerate(specs)]
