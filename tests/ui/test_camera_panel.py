"""The camera panel: preview, frames around codes, start/stop, picker, and its reads in the window."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget

from station.camera.capture import CameraState
from station.camera.decoders import DecodedCode, make_decoder
from station.camera.synthetic import (
    FrameSpec,
    Placed,
    Renderer,
    render_all,
    write_folder,
    write_video,
)
from station.rules import Outcome
from station.service import OpResult
from station.settings import StationSettings
from ui.camera_panel import CameraPanel
from ui.records import ScanRecord
from ui.styles import CAMERA_COLOURS as COLOURS

SIZE = (640, 480)
FPS = 30.0
WAIT_MS = 20_000


def _video(path: Path, script: list[tuple[tuple[Placed, ...], int]]) -> Path:
    specs: list[FrameSpec] = []
    for codes, n in script:
        specs += [FrameSpec(codes, noise=6)] * n
    return write_video(path, render_all(Renderer(*SIZE, module_px=6), specs), FPS, SIZE)


@pytest.fixture(scope="module")
def two_codes_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # C0001 for 1 s, nothing for 0.7 s, then C0002 for 1 s: two reads, in that order.
    return _video(tmp_path_factory.mktemp("cam") / "two.avi", [
        ((Placed("C0001", 120, 100),), 30), ((), 20), ((Placed("C0002", 300, 150),), 30), ((), 5),
    ])


def _host(qtbot, panel_factory):  # noqa: ANN001, ANN202
    host = QWidget()
    lay = QVBoxLayout(host)
    # The offscreen platform warns when a top-level's minimum size follows its contents.
    lay.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
    panel = panel_factory(host)
    lay.addWidget(panel)
    host.resize(800, 600)
    host.show()
    qtbot.addWidget(host)
    qtbot.waitExposed(host)
    return host, panel


def test_panel_previews_a_video_and_emits_each_code_once(qtbot, two_codes_video: Path) -> None:
    settings = StationSettings(camera=str(two_codes_video), camera_holdoff_s=0.0)
    reads: list[str] = []
    host, panel = _host(qtbot, lambda h: CameraPanel(settings, h))
    panel.code_read.connect(reads.append)
    try:
        assert panel.running and panel.start_button.text() == "Stop camera"
        qtbot.waitUntil(lambda: panel.state is CameraState.ENDED, timeout=WAIT_MS)
        qtbot.waitUntil(lambda: len(reads) == 2, timeout=WAIT_MS)
        assert reads == ["C0001", "C0002"]
        # The preview was painted many times while scanning (the video lasts ~2.8 s).
        assert panel.view.pictures_shown >= 20 and panel.view.frames_painted >= 20
        assert panel.bridge.previews_sent >= panel.view.pictures_shown
        assert "no more pictures" in panel.status_label.text()
        assert panel.start_button.text() == "Start camera"
    finally:
        panel.shutdown()
    assert not panel.running


def _outline_colour(panel: CameraPanel, text: str) -> QColor:
    """The colour painted on the middle of the top edge of `text`'s frame in the preview."""
    view = panel.view
    box = next(b for b in view.boxes if b.text == text)
    img = view.grab().toImage()
    iw, ih = view.image.width(), view.image.height()
    k = min(view.width() / iw, view.height() / ih)
    ox, oy = (view.width() - iw * k) / 2, (view.height() - ih * k) / 2
    f = k * view.scale
    (x0, y0), (x1, y1) = box.corners[0], box.corners[1]
    x, y = ox + (x0 + x1) / 2 * f, oy + (y0 + y1) / 2 * f
    dpr = img.devicePixelRatio()
    return img.pixelColor(round(x * dpr), round(y * dpr))


def test_frames_turn_green_or_red_with_the_result(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE, module_px=6),
        [FrameSpec((Placed("SB00001", 60, 100), Placed("SB1234", 360, 120)), noise=4)] * 6))
    settings = StationSettings(camera=str(folder))
    reads: list[str] = []
    host, panel = _host(qtbot, lambda h: CameraPanel(
        settings, h, worker_options={"loop": True, "folder_fps": 20.0}))
    panel.code_read.connect(reads.append)
    try:
        qtbot.waitUntil(lambda: len(reads) == 2, timeout=WAIT_MS)
        assert reads == ["SB00001", "SB1234"]  # left to right
        assert panel.outcome_of("SB00001") == "pending"
        # A USB scan's result does not colour the camera's frames.
        usb = OpResult(Outcome.REFUSED, "not_a_code", "Not a bag code: 'SB00001'")
        panel.show_result(ScanRecord(usb, "SB00001", "scanner"))
        assert panel.outcome_of("SB00001") == "pending"
        panel.show_result(ScanRecord(
            OpResult(Outcome.REFUSED, "parent_pattern",
                     "'SB1234' looks like a parent code but is not one"), "SB1234", "camera"))
        panel.show_result(ScanRecord(
            OpResult(Outcome.ACCEPTED, "parent_selected", "SB00001 selected", "SB00001", "parent"),
            "SB00001", "camera"))
        assert panel.outcome_of("SB00001") == "accepted"
        assert panel.outcome_of("SB1234") == "refused"
        # Codes can be decoded before the first preview picture reaches the GUI.
        qtbot.waitUntil(lambda: len(panel.view.boxes) == 2 and panel.view.image is not None,
                        timeout=WAIT_MS)
        qtbot.waitUntil(lambda: _outline_colour(panel, "SB00001") == COLOURS["accepted"],
                        timeout=WAIT_MS)
        assert _outline_colour(panel, "SB1234") == COLOURS["refused"]
        assert reads == ["SB00001", "SB1234"]  # still in view, looping: no second read
    finally:
        panel.shutdown()


class BlockingDecoder:
    """The real zxing decoder behind a gate the test opens: decoding stalls, preview must not."""

    name = "zxing"

    def __init__(self) -> None:
        self.inner = make_decoder("zxing")
        self.version = self.inner.version
        self.gate = threading.Event()
        self.calls = 0

    def decode(self, frame: np.ndarray) -> list[DecodedCode]:
        self.calls += 1
        self.gate.wait(30)
        return self.inner.decode(frame)


def test_preview_keeps_running_while_decoding_is_stalled(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("C0042", 100 + 5 * i, 100),)) for i in range(10)]))
    decoder = BlockingDecoder()
    settings = StationSettings(camera=str(folder))
    host, panel = _host(qtbot, lambda h: CameraPanel(
        settings, h, decoder_factory=lambda _name: decoder,
        worker_options={"loop": True, "folder_fps": 30.0}))
    try:
        qtbot.waitUntil(lambda: decoder.calls == 1 and panel.view.pictures_shown >= 1,
                        timeout=WAIT_MS)
        shown = panel.view.pictures_shown
        qtbot.waitUntil(lambda: panel.view.pictures_shown >= shown + 10, timeout=WAIT_MS)
        assert decoder.calls == 1  # the decoder is still stuck on its first frame
    finally:
        decoder.gate.set()
        panel.shutdown()


def test_start_stop_and_picker(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("C0001", 100, 100),))] * 3))
    host, panel = _host(qtbot, lambda h: CameraPanel(
        StationSettings(), h, worker_options={"loop": True, "folder_fps": 30.0, "retry_s": 0.05}))
    try:
        assert not panel.running and panel.start_button.text() == "Start camera"
        assert [panel.picker.itemText(i) for i in range(3)] == ["Camera 0", "Camera 1", "Camera 2"]
        panel.picker.setEditText(str(folder))
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.state is CameraState.RUNNING, timeout=WAIT_MS)
        assert panel.start_button.text() == "Stop camera"
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        assert not panel.running and panel.status_label.text() == "Camera off."
        # A camera that is not there: said plainly, and the station keeps trying.
        panel.picker.setEditText("Camera 97")
        assert panel.source_text() == "97"
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.state is CameraState.LOST, timeout=WAIT_MS)
        assert panel.status_label.text().startswith("Camera 97 is not available")
    finally:
        panel.shutdown()
    assert not panel.running and not panel._stopping


def test_an_unavailable_decoder_is_said_plainly_and_nothing_starts(qtbot, tmp_path: Path) -> None:
    settings = StationSettings(camera=str(tmp_path), decoder_backend="quagga")
    host, panel = _host(qtbot, lambda h: CameraPanel(settings, h))
    assert not panel.running
    text = panel.status_label.text()
    assert "quagga decoder is not available" in text and "Choose the other decoder" in text


# -- in the real station window ------------------------------------------------------------------


@pytest.fixture(scope="module")
def label_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A parent label, then a child label, then a misprinted parent label, each for 1 s.
    return _video(tmp_path_factory.mktemp("cam") / "labels.avi", [
        ((), 10), ((Placed("SB00001", 200, 120),), 30), ((), 20),
        ((Placed("C0001", 260, 150),), 30), ((), 20),
        ((Placed("SB1234", 150, 100),), 30), ((), 10),
    ])


@pytest.fixture
def camera_window(qtbot, store, label_video: Path):  # noqa: ANN001, ANN201
    from ui.main_window import MainWindow

    store.save_settings(store.settings().replace(camera=str(label_video), camera_holdoff_s=0.0))
    w = MainWindow(store)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()
    w.close()


def test_camera_reads_take_the_scan_path_of_the_window(qtbot, camera_window, store) -> None:
    from station.service import StationService
    from tests.ui.conftest import log_in

    window = camera_window
    panel = window.camera_panel
    assert panel.parent() is not None and not panel.running  # nobody logged in: camera off
    records: list[ScanRecord] = []
    window.scan_recorded.connect(records.append)
    log_in(window, qtbot)
    qtbot.waitUntil(lambda: panel.running or panel.state is not CameraState.STOPPED,
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(records) >= 3, timeout=WAIT_MS)
    assert [(r.raw, r.source, str(r.outcome)) for r in records] == [
        ("SB00001", "camera", "accepted"),
        ("C0001", "camera", "accepted"),
        ("SB1234", "camera", "refused"),
    ]
    assert "SB1234" in records[2].message
    assert [panel.outcome_of(t) for t in ("SB00001", "C0001", "SB1234")] in (
        ["accepted", "accepted", "refused"],
        # colours of codes long out of view may already be forgotten
        ["seen", "accepted", "refused"], ["seen", "seen", "refused"],
    )
    service = StationService(store)
    try:
        events = service.event_log(0)
        bag = service.lookup_bag("SB00001")
    finally:
        service.close()
    assert bag is not None and bag.children == ("C0001",)
    camera_events = [e for e in events if e["data"].get("source") == "camera"]
    assert camera_events and all(e["data"]["source"] == "camera" for e in camera_events)
    qtbot.waitUntil(lambda: panel.state is CameraState.ENDED, timeout=WAIT_MS)
    assert len(records) == 3  # each label read once


def test_a_camera_set_in_settings_starts_for_the_operator_logged_in(qtbot, window, tmp_path) -> None:
    """An admin logged in with no camera set sets one in Settings: it runs at once (before, it
    stayed off until the next log-in, the panel still saying no camera was set)."""
    import shutil

    from tests.ui.conftest import log_in
    from ui.resources import SCANNER_TEST_IMAGE

    folder = tmp_path / "frames"
    folder.mkdir()
    shutil.copy(SCANNER_TEST_IMAGE, folder / "a.png")
    log_in(window, qtbot, "admin")
    qtbot.waitUntil(lambda: window.current_screen_key == "station", timeout=3000)
    panel = window.camera_panel
    assert not panel.running and "no camera is set" in panel.status_label.text()
    # what saving Settings (F9, Ctrl+S) hands the window (tests/ui/test_settings_screen.py)
    window.apply_settings(window.store.settings().replace(camera=str(folder)))
    qtbot.waitUntil(lambda: panel.state is not CameraState.STOPPED and "no camera is set"
                    not in panel.status_label.text(), timeout=WAIT_MS)  # on (or its file ended)
    window.log_out()  # and it stops when nobody is logged in, as before
    qtbot.waitUntil(lambda: window.operator is None and not panel.running, timeout=WAIT_MS)
