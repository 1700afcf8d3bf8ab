"""The camera capture worker: plain Python threads that grab frames, decode the newest one, debounce.

One code path for every source: a camera by index, a video file, a folder of images or a stream
URL (files and folders are how tests and demos feed it). Only the newest frame is ever decoded:
a frame that was overtaken by a newer one before the decoder got to it is dropped, never queued.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from station.camera.debounce import DEFAULT_GONE_S, Debouncer
from station.camera.decoders import DecodedCode, Decoder

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"})
DEFAULT_FILE_FPS = 25.0  # for image folders, and videos that do not say their rate
DEFAULT_STALL_S = 5.0  # a live source with no picture for this long is said to have stopped


class SourceKind(StrEnum):
    DEVICE = "device"
    FILE = "file"
    FOLDER = "folder"
    URL = "url"


@dataclass(frozen=True)
class CameraSource:
    """Where frames come from, parsed from the `camera` setting."""

    kind: SourceKind
    value: str

    @classmethod
    def parse(cls, text: str) -> CameraSource:
        """'0' or '/dev/video0' -> a camera; 'rtsp://…' -> stream; an existing folder -> images;
        else a video file."""
        text = text.strip()
        if not text:
            raise ValueError("No camera is set: choose a camera number, a video file, "
                             "an image folder or a stream URL")
        if text.isdigit():
            return cls(SourceKind.DEVICE, text)
        if text.startswith("/dev/"):
            # A camera by its device path (/dev/video0, /dev/v4l/by-id/…): before, taken for a
            # video file and refused as "not found or not a video" (it is no regular file).
            return cls(SourceKind.DEVICE, text)
        if "://" in text:
            return cls(SourceKind.URL, text)
        if os.path.isdir(text) or text.endswith(("/", os.sep)):
            return cls(SourceKind.FOLDER, text)
        return cls(SourceKind.FILE, text)

    @property
    def live(self) -> bool:
        """Live sources run on the wall clock; files and folders on their own media time."""
        return self.kind in (SourceKind.DEVICE, SourceKind.URL)

    def describe(self) -> str:
        if self.kind is SourceKind.DEVICE:
            return f"Camera {self.value}"
        if self.kind is SourceKind.URL:
            return f"Camera stream {self.value}"
        if self.kind is SourceKind.FOLDER:
            return f"Image folder {self.value}"
        return f"Video file {self.value}"


def parse_resolution(text: str) -> tuple[int, int] | None:
    """'1280x720' -> (1280, 720); '' -> None (the camera's own default)."""
    text = text.strip().lower().replace("×", "x")
    if not text:
        return None
    try:
        w, h = (int(p) for p in text.split("x"))
    except ValueError as exc:
        raise ValueError(f"Camera resolution {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)") from exc
    if w <= 0 or h <= 0:
        raise ValueError(f"Camera resolution {text!r} must be positive")
    return (w, h)


@dataclass(frozen=True)
class Frame:
    id: int  # 1, 2, 3 … in grab order, over reconnects too
    t: float  # seconds: media time for files and folders, monotonic clock for live sources
    image: np.ndarray


@dataclass(frozen=True)
class FrameCodes:
    """What the decoder found in one frame: every code in view, and the newly accepted ones."""

    frame_id: int
    t: float
    width: int
    height: int
    codes: tuple[DecodedCode, ...]
    accepted: tuple[DecodedCode, ...]
    decode_ms: float


class CameraState(StrEnum):
    CONNECTING = "connecting"
    RUNNING = "running"
    LOST = "lost"  # not available now; the worker keeps trying
    ENDED = "ended"  # a file or folder ran out of pictures
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraStatus:
    state: CameraState
    message: str


class FolderCapture:
    """A folder of images read like cv2.VideoCapture (isOpened/read/get/release), in name order."""

    def __init__(self, folder: str, fps: float = DEFAULT_FILE_FPS) -> None:
        self.folder = Path(folder)
        self.fps = fps
        self.ended = False
        try:
            self._files = sorted(p for p in self.folder.iterdir()
                                 if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError:
            self._files = []
        self._next = 0

    def isOpened(self) -> bool:  # noqa: N802 - same name as cv2.VideoCapture
        return bool(self._files)

    def read(self) -> tuple[bool, np.ndarray | None]:
        while self._next < len(self._files):
            path = self._files[self._next]
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is not None:
                return True, image
            # vanished or unreadable: skipped. (Taken as a lost camera, the folder was opened
            # again from its first picture, and every label in it read again and again.)
            log.warning("picture %s cannot be read: skipped", path)
        self.ended = True
        return False, None

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(len(self._files))
        return 0.0

    def set(self, prop: int, value: float) -> bool:  # noqa: A003 - same name as cv2.VideoCapture
        return False

    def release(self) -> None:
        self._files = []


class _Unopened:
    def isOpened(self) -> bool:  # noqa: N802
        return False

    def release(self) -> None:
        pass


def open_capture(source: CameraSource, resolution: tuple[int, int] | None = None,
                 folder_fps: float = DEFAULT_FILE_FPS) -> Any:
    """A capture object for the source (cv2.VideoCapture or FolderCapture); may not be opened."""
    if source.kind is SourceKind.FOLDER or (source.kind is SourceKind.FILE
                                            and os.path.isdir(source.value)):
        # (a folder that did not exist yet when the setting was parsed counts as a folder too)
        return FolderCapture(source.value, folder_fps)
    if source.kind is SourceKind.DEVICE:
        with quiet_opencv():  # a missing camera is reported once in plain words, not logged per retry
            if source.value.isdigit():
                cap = cv2.VideoCapture(int(source.value))
            else:
                cap = cv2.VideoCapture(source.value, cv2.CAP_V4L2)
        if cap.isOpened():
            # Keep the driver's own queue short: stale buffered frames are never wanted.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if resolution:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, resolution[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, resolution[1])
        return cap
    if source.kind is SourceKind.FILE and not os.path.isfile(source.value):
        return _Unopened()  # a missing file must not reach FFmpeg's guessing
    with quiet_opencv():
        return cv2.VideoCapture(source.value)


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines (we say what went wrong in plain words instead)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _not_available(source: CameraSource) -> str:
    what = source.describe()
    if source.kind is SourceKind.DEVICE:
        return (f"{what} is not available (unplugged, or used by another program). "
                "Plug it in or pick another camera; the station keeps trying.")
    if source.kind is SourceKind.URL:
        return f"{what} cannot be reached. Check the network; the station keeps trying."
    if source.kind is SourceKind.FOLDER:
        return (f"{what} is not available (it does not exist or holds no pictures). "
                "The station keeps trying.")
    return f"{what} is not available (not found or not a video). The station keeps trying."


def _lost(source: CameraSource) -> str:
    what = source.describe()
    if source.kind is SourceKind.DEVICE:
        return (f"{what} stopped sending pictures (unplugged?). Check its cable; "
                "the station reconnects by itself when it is back.")
    return f"{what} stopped sending pictures. The station reconnects by itself when it is back."


FrameCallback = Callable[[Frame], None]
CodesCallback = Callable[[FrameCodes], None]
StatusCallback = Callable[[CameraStatus], None]


class CaptureWorker:
    """Grab thread + decode thread for one source; callbacks run on those threads.

    `on_frame` gets every grabbed frame (for the preview), `on_codes` one FrameCodes per decoded
    frame, `on_status` every change of state with a plain message. `stop()` never blocks;
    `join()` waits for both threads.
    """

    def __init__(
        self,
        source: CameraSource | str,
        decoder: Decoder,
        *,
        resolution: tuple[int, int] | None = None,
        holdoff_s: float = 0.0,
        gone_s: float = DEFAULT_GONE_S,
        on_frame: FrameCallback | None = None,
        on_codes: CodesCallback | None = None,
        on_status: StatusCallback | None = None,
        loop: bool = False,
        pace: bool = True,
        retry_s: float = 1.0,
        folder_fps: float = DEFAULT_FILE_FPS,
        stall_s: float = DEFAULT_STALL_S,
    ) -> None:
        self.source = source if isinstance(source, CameraSource) else CameraSource.parse(source)
        self.decoder = decoder
        self.resolution = resolution
        self.debouncer = Debouncer(holdoff_s, gone_s)
        self.on_frame = on_frame
        self.on_codes = on_codes
        self.on_status = on_status
        self.loop = loop
        self.pace = pace  # files and folders at their own frame rate, like a camera would
        self.retry_s = retry_s
        self.folder_fps = folder_fps
        self.stall_s = stall_s
        self.frames_grabbed = 0
        self.frames_decoded = 0
        self.decode_errors = 0  # frames the decoder could not take (skipped, see _decode_loop)
        self.frames_dropped = 0  # overtaken by a newer frame before the decoder was free
        self.status = CameraStatus(CameraState.STOPPED, f"{self.source.describe()} is off.")
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._last_frame_at = time.monotonic()
        self._grab_done = False
        self._threads: list[threading.Thread] = []

    # -- control --------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("a CaptureWorker runs once; make a new one to start again")
        self._threads = [
            threading.Thread(target=self._grab_loop, name="camera-grab", daemon=True),
            threading.Thread(target=self._decode_loop, name="camera-decode", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Ask both threads to finish; returns at once (the GUI thread never waits on a camera)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads; True when they have finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(left)
        return not self.running

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- threads --------------------------------------------------------------------------

    def _report(self, state: CameraState, message: str) -> None:
        self.status = CameraStatus(state, message)
        if self.on_status is not None:
            self.on_status(self.status)

    def _grab_loop(self) -> None:
        src = self.source
        next_id = 0
        t_offset = 0.0  # media time keeps growing across reopen and loop
        ever_opened = False
        lost_reported = False
        try:
            self._report(CameraState.CONNECTING, f"Connecting to {src.describe()}…")
            while not self._stop.is_set():
                cap = open_capture(src, self.resolution, self.folder_fps)
                if not cap.isOpened():
                    cap.release()
                    if not lost_reported:
                        self._report(CameraState.LOST, _not_available(src))
                        lost_reported = True
                    self._stop.wait(self.retry_s)
                    continue
                fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
                if not (1.0 <= fps <= 1000.0):
                    fps = DEFAULT_FILE_FPS
                n_here = 0
                wall0 = time.monotonic()
                ended = False
                try:
                    while not self._stop.is_set():
                        ok, image = cap.read()
                        if not ok or image is None:
                            ended = self._at_end(cap, n_here)
                            break
                        if (n_here == 0 or self.status.state is CameraState.LOST) and (
                                self.status.state is not CameraState.RUNNING
                                and not self._stop.is_set()):
                            # (LOST with pictures read here: a stalled stream that resumed)
                            # (a file starting over in loop mode is not a reconnect)
                            h, w = image.shape[:2]
                            word = "is back" if ever_opened else "is on"
                            size = f"{w}×{h}"
                            if (src.kind is SourceKind.DEVICE and self.resolution
                                    and (w, h) != tuple(self.resolution)):
                                # (before: only the size it gave, not that it refused the set one)
                                rw, rh = self.resolution
                                size += (f"; it does not do the {rw}×{rh} set in Settings: "
                                         "choose a resolution it has")
                            with self._cond:  # the stall watch counts from this picture
                                self._last_frame_at = time.monotonic()
                            self._report(CameraState.RUNNING, f"{src.describe()} {word} ({size}).")
                            ever_opened = True
                            lost_reported = False
                        if src.live:
                            t = time.monotonic()
                        else:
                            t = t_offset + n_here / fps
                            if self.pace:
                                # Like a real camera: the next picture exists only at its time.
                                wait = wall0 + n_here / fps - time.monotonic()
                                if wait > 0 and self._stop.wait(wait):
                                    break
                        n_here += 1
                        next_id += 1
                        self._publish(Frame(next_id, t, image))
                finally:
                    cap.release()
                t_offset += n_here / fps
                if self._stop.is_set():
                    break
                if ended:
                    if self.loop and n_here > 0:
                        continue
                    self._report(CameraState.ENDED, f"{src.describe()}: no more pictures.")
                    return
                self._report(CameraState.LOST, _lost(src) if n_here else _not_available(src))
                lost_reported = True
                self._stop.wait(self.retry_s)
        finally:
            with self._cond:
                self._grab_done = True
                self._cond.notify_all()

    def _at_end(self, cap: Any, n_here: int) -> bool:
        """A failed read: the end of a file or folder (True), or a source gone away (False)."""
        src = self.source
        if isinstance(cap, FolderCapture):
            return cap.ended
        if src.kind is SourceKind.FILE:
            if not os.path.isfile(src.value):
                return False
            # A file that still exists and gave pictures has ended, even before the count in
            # its header: a copy cut short (or a header that guesses) was taken for a lost
            # camera, opened again from its first picture, and its labels read again and again.
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            if n_here > 0 and count > 0 and n_here < count - 1:
                log.warning("%s ended after %d of the %d pictures its header counts "
                            "(cut short or damaged?)", src.describe(), n_here, int(count))
            return n_here > 0
        return False

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            if self._latest is not None:
                self.frames_dropped += 1
            self._latest = frame
            self._last_frame_at = time.monotonic()
            self.frames_grabbed += 1
            self._cond.notify_all()
        if self.on_frame is not None:
            self.on_frame(frame)

    def _take_newest(self) -> Frame | None:
        while True:
            with self._cond:
                if self._latest is not None:
                    frame, self._latest = self._latest, None
                    return frame
                if self._grab_done or self._stop.is_set():
                    return None
                self._cond.wait(min(0.5, self.stall_s))
                stalled = (self._latest is None and self.source.live
                           and self.status.state is CameraState.RUNNING
                           and time.monotonic() - self._last_frame_at >= self.stall_s
                           and not self._stop.is_set())
            if stalled:
                # A live source whose reads hang (a frozen stream, a camera that went quiet)
                # fails no read: without this the panel went on saying "on" for ever.
                self._report(CameraState.LOST, _lost(self.source))

    def _decode_loop(self) -> None:
        try:
            while True:
                frame = self._take_newest()
                if frame is None:
                    return
                t0 = time.perf_counter()
                try:
                    codes = self.decoder.decode(frame.image)
                except Exception as exc:  # noqa: BLE001 - one bad frame never stops the reading
                    # (an empty frame from a stream, a 16-bit picture, a decoder's own error):
                    # skipped, counted and said, and the next frame is decoded as usual
                    self.decode_errors += 1
                    if self.decode_errors == 1 or self.decode_errors % 100 == 0:
                        log.warning("a frame could not be decoded (%d so far): %s: %s",
                                    self.decode_errors, type(exc).__name__, exc)
                    continue
                ms = (time.perf_counter() - t0) * 1000.0
                accepted = self.debouncer.update(codes, frame.t)
                self.frames_decoded += 1
                if self.on_codes is not None:
                    h, w = frame.image.shape[:2]
                    self.on_codes(FrameCodes(frame.id, frame.t, w, h, tuple(codes),
                                             tuple(accepted), ms))
        finally:
            if self._stop.is_set() and self.status.state is not CameraState.ENDED:
                self._report(CameraState.STOPPED, f"{self.source.describe()} is off.")
