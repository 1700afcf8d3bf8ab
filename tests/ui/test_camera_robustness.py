"""Camera reads that survive bad input: a picture that cannot be decoded or read, or a decoder
error, is skipped; reading goes on, and no label is read twice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from station.camera.capture import CameraState
from station.camera.decoders import DecodedCode, make_decoder
from station.camera.synthetic import FrameSpec, Placed, Renderer, render_all, write_folder
from station.settings import StationSettings
from tests.ui.test_camera_panel import SIZE, WAIT_MS, _host
from ui.camera_panel import CameraPanel


def _watch(qtbot, panel: CameraPanel) -> None:  # noqa: ANN001
    """Until the preview has shown 20 more pictures, the camera still on."""
    qtbot.waitUntil(lambda: panel.state is CameraState.RUNNING, timeout=WAIT_MS)
    shown = panel.view.pictures_shown
    qtbot.waitUntil(lambda: panel.view.pictures_shown >= shown + 20, timeout=WAIT_MS)
    assert panel.state is CameraState.RUNNING


def test_a_16_bit_picture_in_the_folder_does_not_stop_the_reads(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("C0001", 100, 100),))] * 5))
    # one picture a scanner app saved as 16-bit grey, first in name order
    cv2.imwrite(str(folder / "00000-a.png"), np.full((480, 640), 40000, np.uint16))
    reads: list[str] = []
    host, panel = _host(qtbot, lambda h: CameraPanel(
        StationSettings(camera=str(folder)), h,
        worker_options={"loop": True, "folder_fps": 20.0}))
    panel.code_read.connect(reads.append)
    try:
        _watch(qtbot, panel)  # the preview goes on, the panel says the camera is on ...
        # ... so the label in view must have been read
        assert reads == ["C0001"], (
            f"no read; decode thread alive: {panel.worker.running if panel.worker else None}, "
            f"frames decoded: {panel.worker.frames_decoded if panel.worker else None}, "
            f"status: {panel.status_label.text()!r}")
    finally:
        panel.shutdown()


class FlakyDecoder:
    """zxing, but its first call fails as a decoder library may on one odd frame."""

    name = "zxing"

    def __init__(self) -> None:
        self.inner = make_decoder("zxing")
        self.version = self.inner.version
        self.calls = 0

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("Neither width nor height of ImageView can be less or equal to 0")
        return self.inner.decode(frame)


def test_one_decoder_error_does_not_stop_the_reads(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("C0002", 100, 100),))] * 5))
    decoder = FlakyDecoder()
    reads: list[str] = []
    host, panel = _host(qtbot, lambda h: CameraPanel(
        StationSettings(camera=str(folder)), h, decoder_factory=lambda _n: decoder,
        worker_options={"loop": True, "folder_fps": 20.0}))
    panel.code_read.connect(reads.append)
    try:
        _watch(qtbot, panel)
        assert reads == ["C0002"], f"decoder calls: {decoder.calls}"
    finally:
        panel.shutdown()


def test_an_unreadable_picture_is_skipped_and_the_labels_are_read_once(qtbot, tmp_path: Path) -> None:
    """A folder with one unreadable picture: it is skipped, the capture ends with the folder,
    and the label in it was read once (before: taken for a lost camera, the folder was opened
    again from its first picture and its label read again every second, for ever)."""
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("SB00001", 100, 100),))] * 3 + [FrameSpec(())] * 15))
    (folder / "00099.png").write_bytes(b"")
    reads: list[str] = []
    host, panel = _host(qtbot, lambda h: CameraPanel(
        StationSettings(camera=str(folder)), h, worker_options={"folder_fps": 20.0, "retry_s": 0.1}))
    panel.code_read.connect(reads.append)
    try:
        qtbot.waitUntil(lambda: panel.state is CameraState.ENDED, timeout=WAIT_MS)
        assert reads == ["SB00001"]
    finally:
        panel.shutdown()
