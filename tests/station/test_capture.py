"""The capture worker fed with generated videos and image folders through the real capture path."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from station.camera.capture import (
    CameraSource,
    CameraState,
    CameraStatus,
    CaptureWorker,
    Frame,
    FrameCodes,
    SourceKind,
    parse_resolution,
)
from station.camera.decoders import DecodedCode, make_decoder
from station.camera.synthetic import (
    FrameSpec,
    Placed,
    Renderer,
    read_stamp,
    render_all,
    write_folder,
    write_video,
)

FPS = 50.0
SIZE = (640, 480)
WAIT = 20.0  # generous upper bound for a condition on a busy 2-core machine


class StampingDecoder:
    """The real zxing decoder, recording which video picture (by its stamped index) it was given."""

    name = "zxing"

    def __init__(self, before=None) -> None:  # type: ignore[no-untyped-def]
        self.inner = make_decoder("zxing")
        self.version = self.inner.version
        self.stamps: list[int] = []
        self.before = before  # called with the stamp before decoding (to slow a decode down)

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        stamp = read_stamp(frame)
        self.stamps.append(stamp)
        if self.before is not None:
            self.before(stamp)
        return self.inner.decode(frame)


class Recorder:
    """Collects the worker's callbacks (they run on the worker threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.frames: list[int] = []
        self.results: list[FrameCodes] = []
        self.statuses: list[CameraStatus] = []
        self.changed = threading.Condition(self.lock)

    def on_frame(self, frame: Frame) -> None:
        with self.lock:
            self.frames.append(frame.id)
            self.changed.notify_all()

    def on_codes(self, fc: FrameCodes) -> None:
        with self.lock:
            self.results.append(fc)
            self.changed.notify_all()

    def on_status(self, status: CameraStatus) -> None:
        with self.lock:
            self.statuses.append(status)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self), timeout), (
                f"condition not met; statuses: {[s.message for s in self.statuses]}")

    def accepted(self) -> list[tuple[int, str]]:
        with self.lock:
            return [(fc.frame_id, c.text) for fc in self.results for c in fc.accepted]

    def states(self) -> list[CameraState]:
        with self.lock:
            return [s.state for s in self.statuses]


def worker_for(source, decoder, rec: Recorder, **kw) -> CaptureWorker:  # type: ignore[no-untyped-def]
    return CaptureWorker(source, decoder, on_frame=rec.on_frame, on_codes=rec.on_codes,
                         on_status=rec.on_status, **kw)


def finish(worker: CaptureWorker) -> None:
    worker.stop()
    assert worker.join(WAIT), "capture threads did not stop"


# -- the moving-codes video ---------------------------------------------------------------------

A, B, C, D = "C0001", "C0002", "C0003", "C0004"
BLURRED = range(28, 32)


def moving_codes_script() -> list[FrameSpec]:
    specs: list[FrameSpec] = []
    for i in range(40):  # A slides in from beyond the left edge; a few frames badly blurred
        specs.append(FrameSpec((Placed(A, -120 + 10 * i, 120),), blur=31 if i in BLURRED else 0,
                               noise=8))
    specs += [FrameSpec(noise=8)] * 20  # A has left (0.4 s)
    for i in range(25):  # A comes back together with B
        specs.append(FrameSpec((Placed(B, 420 - i, 60), Placed(A, 60 + i, 200)), noise=8,
                               blur=3 if i % 5 == 2 else 0))
    specs += [FrameSpec(noise=8)] * 15
    for _ in range(25):  # D (left) and C (right) enter in the same frame
        specs.append(FrameSpec((Placed(C, 380, 50), Placed(D, 40, 220)), noise=10))
    specs += [FrameSpec(noise=8)] * 10
    return specs


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "moving.avi"
    return write_video(path, render_all(Renderer(*SIZE), moving_codes_script()), FPS, SIZE)


def test_debounce_on_a_moving_video_and_no_frame_decoded_twice(moving_video: Path) -> None:
    rec = Recorder()
    decoder = StampingDecoder()
    worker = worker_for(str(moving_video), decoder, rec, holdoff_s=0.0, gone_s=0.2)
    worker.start()
    rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses])
    finish(worker)

    accepted = rec.accepted()
    assert [text for _, text in accepted] == [A, A, B, D, C], accepted
    by_frame = {fc.frame_id: fc for fc in rec.results}
    # The second A and B arrive in one frame, A (left) first; D before C, same frame.
    assert accepted[1][0] == accepted[2][0] and 61 <= accepted[1][0] <= 85
    assert accepted[3][0] == accepted[4][0] and 101 <= accepted[3][0] <= 125
    assert [c.text for c in by_frame[accepted[3][0]].codes] == [D, C]
    # Frames where blur hid A were decoded without it, and that was not "leaving the view".
    blurred = [fc for fc in rec.results if fc.frame_id - 1 in BLURRED]
    assert all(fc.codes == () for fc in blurred)

    # No picture was decoded twice, and pictures were decoded in order.
    assert decoder.stamps == sorted(set(decoder.stamps))
    assert [fc.frame_id - 1 for fc in rec.results] == decoder.stamps
    assert worker.frames_grabbed == len(rec.frames) == len(moving_codes_script())
    assert worker.frames_decoded == len(decoder.stamps)
    assert worker.frames_decoded + worker.frames_dropped == worker.frames_grabbed
    assert rec.states()[0] is CameraState.CONNECTING and rec.states()[1] is CameraState.RUNNING
    assert "Video file" in rec.statuses[1].message and "640×480" in rec.statuses[1].message


def test_holdoff_repeats_a_code_that_stays_in_view(tmp_path: Path) -> None:
    specs = [FrameSpec((Placed(A, 200, 150),), noise=5)] * 60  # 1.2 s in view at 50 fps
    video = write_video(tmp_path / "still.avi", render_all(Renderer(*SIZE), specs), FPS, SIZE)
    rec = Recorder()
    worker = worker_for(str(video), make_decoder("zxing"), rec, holdoff_s=0.5, gone_s=0.2)
    worker.start()
    rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses])
    finish(worker)
    accepted = rec.accepted()
    assert [t for _, t in accepted] == [A, A, A]
    times = [next(fc.t for fc in rec.results if fc.frame_id == fid) for fid, _ in accepted]
    assert times[1] - times[0] >= 0.5 and times[2] - times[1] >= 0.5


def test_only_the_newest_frame_is_decoded(tmp_path: Path) -> None:
    specs = [FrameSpec((Placed(A, 100 + i, 100),), noise=5) for i in range(40)]
    video = write_video(tmp_path / "v.avi", render_all(Renderer(*SIZE), specs), 100.0, SIZE)
    rec = Recorder()
    grabbed_15 = threading.Event()

    def note_frame(frame: Frame) -> None:
        rec.on_frame(frame)
        if frame.id >= 15:
            grabbed_15.set()

    def hold_first(stamp: int) -> None:
        if stamp == 0:  # the first decode takes longer than 15 frames
            assert grabbed_15.wait(WAIT)

    decoder = StampingDecoder(before=hold_first)
    worker = CaptureWorker(str(video), decoder, on_frame=note_frame, on_codes=rec.on_codes,
                           on_status=rec.on_status)
    worker.start()
    rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses])
    finish(worker)
    assert decoder.stamps[0] == 0
    # The next picture decoded is the newest one at that moment, not the next one in line.
    assert decoder.stamps[1] >= 14, decoder.stamps
    assert not set(range(1, 14)) & set(decoder.stamps)
    assert worker.frames_dropped >= 13
    assert [t for _, t in rec.accepted()] == [A]


def test_stop_returns_at_once_and_threads_end(moving_video: Path) -> None:
    rec = Recorder()
    worker = worker_for(str(moving_video), make_decoder("zxing"), rec, loop=True)
    worker.start()
    rec.wait_for(lambda r: len(r.results) >= 3)
    t0 = time.perf_counter()
    worker.stop()
    assert time.perf_counter() - t0 < 0.5  # it only raises a flag: no join, no camera wait
    assert worker.join(WAIT)
    assert rec.states()[-1] is CameraState.STOPPED
    assert worker.frames_grabbed < 3 * len(moving_codes_script())


# -- a source that disappears and comes back ----------------------------------------------------


def _mixed_channel_frames(n: int, text: str) -> list[np.ndarray]:
    frames = render_all(Renderer(*SIZE), [FrameSpec((Placed(text, 150, 100),), noise=5)] * n)
    out = []
    for i, f in enumerate(frames):  # grey, BGR and BGRA pictures through the same path
        if i % 3 == 0:
            f = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        elif i % 3 == 1:
            f = cv2.cvtColor(f, cv2.COLOR_BGR2BGRA)
        out.append(f)
    return out


def test_an_image_folder_that_vanishes_is_reported_and_reconnected(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "cam", _mixed_channel_frames(9, "SB00042"))
    away = tmp_path / "unplugged"
    rec = Recorder()
    worker = worker_for(str(folder), make_decoder("zxing"), rec, loop=True, folder_fps=100.0,
                        retry_s=0.05)
    worker.start()
    try:
        rec.wait_for(lambda r: any(fc.accepted for fc in r.results))
        os.replace(folder, away)  # the camera is unplugged
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
        lost = next(s for s in rec.statuses if s.state is CameraState.LOST)
        assert str(folder) in lost.message
        assert "reconnects" in lost.message or "keeps trying" in lost.message
        assert "Errno" not in lost.message and "Traceback" not in lost.message
        grabbed_when_lost = worker.frames_grabbed
        os.replace(away, folder)  # and plugged in again
        rec.wait_for(lambda r: r.statuses[-1].state is CameraState.RUNNING
                     and "is back" in r.statuses[-1].message)
        rec.wait_for(lambda r: len(r.frames) > grabbed_when_lost + 5)
    finally:
        finish(worker)
    # "on" once, "back" once: starting the folder over (loop) is not a reconnect.
    assert rec.states().count(CameraState.RUNNING) == 2
    # One label lying in view across the unplug is one read.
    assert [t for _, t in rec.accepted()] == ["SB00042"]
    assert {fc.codes[0].text for fc in rec.results if fc.codes} == {"SB00042"}


def test_a_missing_video_file_is_reported_until_it_appears(tmp_path: Path) -> None:
    target = tmp_path / "camera.avi"
    rec = Recorder()
    worker = worker_for(str(target), make_decoder("zxing"), rec, retry_s=0.05)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
        assert rec.statuses[-1].message == (
            f"Video file {target} is not available (not found or not a video). "
            "The station keeps trying.")
        frames = render_all(Renderer(*SIZE), [FrameSpec((Placed(B, 100, 100),))] * 10)
        write_video(tmp_path / "partial.avi", frames, FPS, SIZE)
        os.replace(tmp_path / "partial.avi", target)
        rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses])
    finally:
        finish(worker)
    assert [t for _, t in rec.accepted()] == [B]
    assert CameraState.RUNNING in rec.states()
    # Reported once, not once per retry.
    assert rec.states().count(CameraState.LOST) == 1


def test_an_unopenable_camera_index_is_reported_in_plain_words() -> None:
    rec = Recorder()
    worker = worker_for("97", make_decoder("zxing"), rec, retry_s=0.05)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
    finally:
        finish(worker)
    msg = next(s.message for s in rec.statuses if s.state is CameraState.LOST)
    assert msg.startswith("Camera 97 is not available (unplugged, or used by another program)")


# -- settings parsing ----------------------------------------------------------------------------


def test_source_and_resolution_settings(tmp_path: Path) -> None:
    assert CameraSource.parse("0") == CameraSource(SourceKind.DEVICE, "0")
    assert CameraSource.parse(" rtsp://cam.local/live ").kind is SourceKind.URL
    assert CameraSource.parse(str(tmp_path)).kind is SourceKind.FOLDER
    assert CameraSource.parse(str(tmp_path / "x.avi")).kind is SourceKind.FILE
    with pytest.raises(ValueError, match="No camera is set"):
        CameraSource.parse("  ")
    assert parse_resolution("1280x720") == (1280, 720)
    assert parse_resolution("1920×1080") == (1920, 1080)
    assert parse_resolution("") is None
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_resolution("720p")


def test_a_folder_created_after_the_setting_is_read_as_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    rec = Recorder()
    worker = worker_for(str(folder), make_decoder("zxing"), rec, retry_s=0.05, folder_fps=100.0)
    assert worker.source.kind is SourceKind.FILE  # nothing there yet: taken for a video file
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
        write_folder(tmp_path / "staging", _mixed_channel_frames(4, "C0077"))
        os.replace(tmp_path / "staging", folder)
        rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses])
    finally:
        finish(worker)
    assert [t for _, t in rec.accepted()] == ["C0077"]
    assert worker.frames_grabbed == 4


def test_a_video_file_cut_short_ends_and_is_not_read_again_and_again(tmp_path: Path) -> None:
    # A copy that was cut short (its header still counts every picture): A, then an empty view.
    specs = [FrameSpec((Placed(A, 150, 100),), noise=5)] * 10 + [FrameSpec(noise=5)] * 30
    whole = write_video(tmp_path / "whole.avi", render_all(Renderer(*SIZE), specs), FPS, SIZE)
    cut = tmp_path / "cut.avi"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    cap = cv2.VideoCapture(str(cut))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == len(specs)  # the count still says all 40
    cap.release()
    rec = Recorder()
    worker = worker_for(str(cut), make_decoder("zxing"), rec, gone_s=0.2, retry_s=0.05,
                        pace=False)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.ENDED in [s.state for s in r.statuses]
                     or len(r.frames) > 2 * len(specs))
    finally:
        finish(worker)
    assert CameraState.LOST not in rec.states(), [s.message for s in rec.statuses]
    assert rec.states()[-1] is CameraState.ENDED
    assert worker.frames_grabbed < len(specs)
    assert [t for _, t in rec.accepted()] == [A]


def test_a_resolution_the_camera_refuses_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No camera here: "camera 0" plays a 640×480 video and, like a webcam without that mode,
    # keeps its own size when asked for 1920×1080.
    video = write_video(tmp_path / "cam.avi", render_all(
        Renderer(*SIZE), [FrameSpec((Placed(A, 100, 100),))] * 10), FPS, SIZE)
    real = cv2.VideoCapture

    class Webcam:
        def __init__(self, index: int) -> None:
            assert index == 0
            self.cap = real(str(video))
            self.asked: dict[int, float] = {}

        def isOpened(self) -> bool:  # noqa: N802
            return self.cap.isOpened()

        def read(self):  # type: ignore[no-untyped-def]
            return self.cap.read()

        def get(self, prop: int) -> float:
            return self.cap.get(prop)

        def set(self, prop: int, value: float) -> bool:
            self.asked[prop] = value
            return False

        def release(self) -> None:
            self.cap.release()

    monkeypatch.setattr(cv2, "VideoCapture", Webcam)
    rec = Recorder()
    worker = worker_for("0", make_decoder("zxing"), rec, resolution=(1920, 1080), retry_s=0.05)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.RUNNING in [s.state for s in r.statuses])
    finally:
        finish(worker)
    on = next(s.message for s in rec.statuses if s.state is CameraState.RUNNING)
    assert on.startswith("Camera 0 is on (640×480")
    assert "1920×1080" in on, on


def test_a_stream_that_stalls_is_said_and_its_return_too(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # A stream whose reads hang (the network went quiet, the server froze): no read fails, no
    # picture comes. It must not go on saying "on".
    video = write_video(tmp_path / "cam.avi", render_all(
        Renderer(*SIZE), [FrameSpec((Placed(A, 100, 100),))] * 40), FPS, SIZE)
    real = cv2.VideoCapture
    flowing = threading.Event()
    flowing.set()
    stop = threading.Event()

    class Stream:
        def __init__(self, url: str) -> None:
            assert url == "http://cam.local/video"
            self.cap = real(str(video))
            self.n = 0

        def isOpened(self) -> bool:  # noqa: N802
            return True

        def read(self):  # type: ignore[no-untyped-def]
            self.n += 1
            if self.n == 6:
                flowing.clear()  # the stream stalls after five pictures
            while not flowing.wait(0.05):
                if stop.is_set():
                    return False, None
            return self.cap.read()

        def get(self, prop: int) -> float:
            return self.cap.get(prop)

        def set(self, prop: int, value: float) -> bool:
            return True

        def release(self) -> None:
            self.cap.release()

    monkeypatch.setattr(cv2, "VideoCapture", Stream)
    rec = Recorder()
    worker = worker_for("http://cam.local/video", make_decoder("zxing"), rec, retry_s=0.05,
                        stall_s=0.5)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
        lost = next(s.message for s in rec.statuses if s.state is CameraState.LOST)
        assert lost.startswith("Camera stream http://cam.local/video stopped sending pictures")
        flowing.set()  # it comes back by itself
        rec.wait_for(lambda r: r.statuses[-1].state is CameraState.RUNNING
                     and "is back" in r.statuses[-1].message)
    finally:
        stop.set()
        flowing.set()
        finish(worker)
    assert [t for _, t in rec.accepted()] == [A]


def test_a_camera_named_by_its_device_path_is_a_camera() -> None:
    # Linux names cameras /dev/video0 or, stable across plugging, /dev/v4l/by-id/usb-…-index0.
    for path in ("/dev/video97", "/dev/v4l/by-id/usb-Webcam_C270-video-index0"):
        assert CameraSource.parse(path) == CameraSource(SourceKind.DEVICE, path)
        assert CameraSource.parse(path).live
    rec = Recorder()
    worker = worker_for("/dev/video97", make_decoder("zxing"), rec, retry_s=0.05)
    worker.start()
    try:
        rec.wait_for(lambda r: CameraState.LOST in [s.state for s in r.statuses])
    finally:
        finish(worker)
    msg = next(s.message for s in rec.statuses if s.state is CameraState.LOST)
    assert msg.startswith("Camera /dev/video97 is not available (unplugged, or used by another "
                          "program)"), msg
