"""Camera panel of the station screen: live preview, a frame around each code, start/stop, picker.

The capture worker (station.camera.capture) runs on plain Python threads; `CameraBridge` turns
its callbacks into Qt signals received by @Slot methods here. Decoded codes leave the panel only
as `code_read(str)`, which the main window routes through `handle_read(text, "camera")`, the
same path as a USB scan; `show_result` colours the frame once the result is known.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypedDict

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal, SignalInstance, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from station.camera.capture import (
    CameraSource,
    CameraState,
    CameraStatus,
    CaptureWorker,
    Frame,
    FrameCodes,
    parse_resolution,
)
from station.camera.decoders import Decoder, DecoderUnavailable, make_decoder
from station.service import OpResult
from station.settings import StationSettings
from ui.host import ScreenHost
from ui.records import ScanRecord
from ui.styles import CAMERA_COLOURS

log = logging.getLogger(__name__)

PREVIEW_MAX_FPS = 25.0  # smooth enough to aim a label; leaves the CPU to decoding
PREVIEW_WIDTH = 640  # frames are shrunk to this on the camera thread before they reach Qt

COLOURS = CAMERA_COLOURS  # the frame's colour by what became of its read (ui/styles.py)


class WorkerCallbacks(TypedDict):
    """The CaptureWorker callbacks of one worker (they run on the capture threads)."""

    on_frame: Callable[[Frame], None]
    on_codes: Callable[[FrameCodes], None]
    on_status: Callable[[CameraStatus], None]


def to_qimage(image: np.ndarray, max_width: int = PREVIEW_WIDTH) -> tuple[QImage, float]:
    """A preview QImage (owning its pixels) of a grey/BGR/BGRA frame, and the scale applied."""
    if image.dtype == np.uint16:
        # as the decoders read it (before: its bytes shown as 8-bit pixels, a garbled picture)
        image = (image >> 8).astype(np.uint8)
    h, w = image.shape[:2]
    scale = 1.0
    if w > max_width:
        scale = max_width / w
        image = cv2.resize(image, (max_width, max(1, round(h * scale))),
                           interpolation=cv2.INTER_LINEAR)
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if image.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif image.shape[2] == 3:
        fmt = QImage.Format.Format_BGR888
    else:
        fmt = QImage.Format.Format_ARGB32  # BGRA bytes are ARGB32 on little-endian machines
    qimg = QImage(image.data, w, h, image.strides[0], fmt)
    return qimg.copy(), scale  # copy: the numpy buffer is gone once this returns


class CameraBridge(QObject):
    """Callbacks of the capture threads -> Qt signals (queued into the GUI thread).

    Preview frames are throttled: at most PREVIEW_MAX_FPS, and never more than one waiting in
    the GUI queue, so a busy GUI thread cannot pile up frames.
    """

    # Each carries the generation of the worker it came from, so a stopped camera's late
    # signals can be told apart from the current one's.
    preview_ready = Signal(int, QImage, float)  # image, scale from frame pixels to image pixels
    codes_found = Signal(int, object)  # FrameCodes
    status_changed = Signal(int, object)  # CameraStatus

    def __init__(self, parent: QObject | None = None, max_fps: float = PREVIEW_MAX_FPS) -> None:
        super().__init__(parent)
        self.min_interval = 1.0 / max_fps
        self._due = 0.0
        self._in_flight = threading.Event()
        self.previews_sent = 0

    def callbacks(self, generation: int) -> WorkerCallbacks:
        """CaptureWorker callbacks (they run on the capture threads) for one worker."""
        return {
            "on_frame": partial(self._on_frame, generation),
            "on_codes": partial(self._emit, self.codes_found, generation),
            "on_status": partial(self._emit, self.status_changed, generation),
        }

    def _on_frame(self, generation: int, frame: Frame) -> None:
        now = time.monotonic()
        if self._in_flight.is_set() or now < self._due:
            return
        # On a schedule, not "interval since the last one": a 30 fps camera then gives ~25
        # previews a second instead of every other frame (15).
        self._due = max(self._due + self.min_interval, now - self.min_interval)
        qimg, scale = to_qimage(frame.image)
        self._in_flight.set()
        self.previews_sent += 1
        self._emit(self.preview_ready, generation, qimg, scale)

    def _emit(self, signal: SignalInstance, generation: int, *args: object) -> None:
        try:
            signal.emit(generation, *args)
        except RuntimeError:
            pass  # the panel was deleted while its camera was stopping: nobody to tell

    def preview_taken(self) -> None:
        self._in_flight.clear()


@dataclass
class _Box:
    text: str
    corners: tuple[tuple[int, int], ...]


class PreviewView(QWidget):
    """The picture, scaled to fit, with a coloured outline around each code in view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.scale = 1.0
        self.boxes: list[_Box] = []
        self.colour_of: Callable[[str], QColor] = lambda _t: COLOURS["seen"]
        self.frames_painted = 0
        self.pictures_shown = 0  # new camera pictures put on screen
        self.setMinimumSize(320, 240)  # big enough to aim a label at
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 30))
        if self.image is not None and not self.image.isNull():
            iw, ih = self.image.width(), self.image.height()
            k = min(self.width() / iw, self.height() / ih)
            target = QRectF((self.width() - iw * k) / 2, (self.height() - ih * k) / 2, iw * k, ih * k)
            p.drawImage(target, self.image)
            f = k * self.scale  # frame pixels -> widget pixels
            for box in self.boxes:
                pen = QPen(self.colour_of(box.text), 4)
                p.setPen(pen)
                poly = QPolygonF([QPointF(target.x() + x * f, target.y() + y * f)
                                  for x, y in box.corners])
                p.drawPolygon(poly)
            self.frames_painted += 1
        p.end()


class CameraPanel(QWidget):
    """Preview, start/stop and camera picker; emits `code_read` for each accepted code."""

    code_read = Signal(str)
    state_changed = Signal(str)  # CameraState value

    def __init__(
        self,
        settings: StationSettings,
        parent: QWidget | None = None,
        *,
        decoder_factory: Callable[[str], Decoder] = make_decoder,
        worker_options: dict[str, Any] | None = None,
        autostart: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("camera_panel")
        self.settings = settings
        self.decoder_factory = decoder_factory
        self.worker_options = dict(worker_options or {})
        self.worker: CaptureWorker | None = None
        self._stopping: list[CaptureWorker] = []
        self.bridge = CameraBridge(self)
        self.bridge.preview_ready.connect(self._on_bridge_preview_ready)
        self.bridge.codes_found.connect(self._on_bridge_codes_found)
        self.bridge.status_changed.connect(self._on_bridge_status_changed)
        self.state = CameraState.STOPPED
        self._generation = 0
        # code text -> (pending | accepted | warning | refused, last time seen)
        self.results: dict[str, tuple[str, float]] = {}
        self._awaiting: list[str] = []  # camera reads sent, result not back yet (in order)
        self.reads_sent = 0

        self.view = PreviewView(self)
        self.view.colour_of = self._colour_of
        self.view.hide()  # shown while a camera runs
        self.picker = QComboBox(self)
        self.picker.setObjectName("camera_picker")
        self.picker.setEditable(True)
        self.picker.setToolTip("Camera number, video file, image folder or stream URL")
        for i in range(3):
            self.picker.addItem(f"Camera {i}", str(i))
        self.picker.setCurrentIndex(-1)
        self._set_picker(settings.camera)
        self.picker.activated.connect(self._on_picker_activated)
        self.start_button = QPushButton("Start camera", self)
        self.start_button.setObjectName("camera_start")
        # Reached with Tab (keyboard only); a click leaves the focus with the scan field.
        self.start_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.start_button.clicked.connect(self._on_start_button_clicked)
        self.status_label = QLabel("Camera off.", self)
        self.status_label.setObjectName("camera_status")
        self.status_label.setWordWrap(True)

        row = QHBoxLayout()
        row.addWidget(QLabel("Camera:", self))
        row.addWidget(self.picker, 1)
        row.addWidget(self.start_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.status_label)

        self._reaper = QTimer(self)
        self._reaper.setInterval(100)
        self._reaper.timeout.connect(self._on_reaper_timeout)
        # whether the configured camera should run now (an operator is logged in, for the
        # window's panel): a camera set in Settings then starts at once
        self.wanted = autostart
        if autostart and settings.camera.strip():
            self.start()

    # -- control ------------------------------------------------------------------------------

    def source_text(self) -> str:
        """The picker's choice as a `camera` setting value ('0', a path or a URL)."""
        i = self.picker.currentIndex()
        text = self.picker.currentText().strip()
        if i >= 0 and self.picker.itemText(i) == text and self.picker.itemData(i) is not None:
            return str(self.picker.itemData(i))
        if text.lower().startswith("camera ") and text[7:].strip().isdigit():
            return text[7:].strip()
        return text

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> bool:
        """Start the chosen camera; False (and the reason on screen) when it cannot start."""
        self.stop()
        try:
            source = CameraSource.parse(self.source_text())
            resolution = parse_resolution(self.settings.camera_resolution)
            decoder = self.decoder_factory(self.settings.decoder_backend)
        except DecoderUnavailable as exc:
            self._say(f"{exc.message}. Choose the other decoder in Settings.")
            return False
        except ValueError as exc:
            self._say(str(exc))
            return False
        self.bridge.preview_taken()
        self.results.clear()
        self._awaiting.clear()
        opts = {"holdoff_s": self.settings.camera_holdoff_s, **self.worker_options}
        self._generation += 1
        self.worker = CaptureWorker(source, decoder, resolution=resolution,
                                    **self.bridge.callbacks(self._generation), **opts)
        self.worker.start()
        self.start_button.setText("Stop camera")
        self.view.show()
        return True

    def stop(self) -> None:
        """Stop the camera without waiting for it (threads are joined later by a timer)."""
        worker, self.worker = self.worker, None
        if worker is not None:
            self._generation += 1  # what the stopped camera still sends is ignored
            worker.stop()
            self._stopping.append(worker)
            self._reaper.start()
            # The stopped worker's own "off" is ignored (old generation): say it here, or the
            # panel went on saying "Camera 0 is on" after a settings change stopped it.
            self.state = CameraState.STOPPED
            self._say("Camera off.")
            self.state_changed.emit(str(CameraState.STOPPED))
        self.start_button.setText("Start camera")
        self.view.boxes = []
        self.view.update()
        self.view.hide()  # no camera, no black box: the scan log above gets the room

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop and wait for the camera threads (window close, tests)."""
        self.stop()
        for w in self._stopping:
            w.stop()
            if not w.join(timeout):
                log.warning("camera threads still running after %.1f s", timeout)
        self._stopping = [w for w in self._stopping if w.running]
        if not self._stopping:
            self._reaper.stop()

    def apply_settings(self, settings: StationSettings) -> None:
        changed = (settings.camera, settings.camera_resolution, settings.decoder_backend,
                   settings.camera_holdoff_s) != (self.settings.camera,
                                                   self.settings.camera_resolution,
                                                   self.settings.decoder_backend,
                                                   self.settings.camera_holdoff_s)
        self.settings = settings
        if not changed:
            return
        self._set_picker(settings.camera)
        if not settings.camera.strip():
            self.stop()
        elif self.running or self.wanted:
            self.start()  # the new camera, resolution or decoder takes effect now

    # -- results ----------------------------------------------------------------------------

    @Slot(object)
    def show_result(self, record: ScanRecord | OpResult) -> None:
        """A read's result (ScanRecord or OpResult): colour its code's frame."""
        source = getattr(record, "source", "camera")
        if source != "camera" or not self._awaiting:
            return
        raw = getattr(record, "raw", None)
        if raw is not None:
            if raw not in self._awaiting:
                return
            self._awaiting.remove(raw)
        else:
            raw = self._awaiting.pop(0)
        self.results[raw] = (str(getattr(record, "outcome", "accepted")), time.monotonic())
        self.view.update()

    def outcome_of(self, text: str) -> str:
        """How the frame around `text` is coloured: seen | pending | accepted | warning | refused."""
        return self.results.get(text, ("seen", 0.0))[0]

    def _colour_of(self, text: str) -> QColor:
        return COLOURS.get(self.outcome_of(text), COLOURS["seen"])

    # -- slots ------------------------------------------------------------------------------

    @Slot(int, QImage, float)
    def _on_bridge_preview_ready(self, generation: int, image: QImage, scale: float) -> None:
        self.bridge.preview_taken()
        if generation != self._generation:
            return  # a late frame from a camera just stopped
        self.view.image = image
        self.view.scale = scale
        self.view.pictures_shown += 1
        self.view.update()

    @Slot(int, object)
    def _on_bridge_codes_found(self, generation: int, fc: FrameCodes) -> None:
        if generation != self._generation:
            return
        now = time.monotonic()
        # (a picture decoded after its camera was lost draws no frame on the frozen picture;
        # its reads still count)
        lost = self.state is CameraState.LOST
        self.view.boxes = [] if lost else [_Box(c.text, c.corners) for c in fc.codes]
        for c in fc.codes:
            if c.text in self.results:
                self.results[c.text] = (self.results[c.text][0], now)
        # A colour is kept through a blurred frame or two, forgotten once the code is long gone.
        for text in [t for t, (_, seen) in self.results.items()
                     if now - seen > 5.0 and t not in self._awaiting]:
            del self.results[text]
        for code in fc.accepted:
            self.results[code.text] = ("pending", now)
            self._awaiting.append(code.text)
            self.reads_sent += 1
            self.code_read.emit(code.text)
        self.view.update()

    @Slot(int, object)
    def _on_bridge_status_changed(self, generation: int, status: CameraStatus) -> None:
        if generation != self._generation:
            return
        self.state = status.state
        self._say(status.message)
        if status.state is CameraState.LOST:
            # (before: the frozen last picture kept its frames, as if the codes were in view)
            self.view.boxes = []
            self.view.update()
        if status.state is CameraState.ENDED and self.worker is not None:
            # The file ran out: its last frame may still be decoding, so its codes still count
            # (same generation); the threads end by themselves.
            self._stopping.append(self.worker)
            self.worker = None
            self._reaper.start()
            self.start_button.setText("Start camera")
        self.state_changed.emit(str(status.state))

    @Slot(int)
    def _on_picker_activated(self, _index: int) -> None:
        if self.running:
            self.start()

    @Slot()
    def _on_start_button_clicked(self) -> None:
        if self.running:
            self.stop()
            self._say("Camera off.")
        else:
            self.start()

    @Slot()
    def _on_reaper_timeout(self) -> None:
        self._stopping = [w for w in self._stopping if not w.join(0)]
        if not self._stopping:
            self._reaper.stop()

    # -- helpers ----------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.status_label.setText(text)

    def _set_picker(self, value: str) -> None:
        value = value.strip()
        if not value:
            return
        for i in range(self.picker.count()):
            if self.picker.itemData(i) == value:
                self.picker.setCurrentIndex(i)
                return
        self.picker.addItem(value, value)
        self.picker.setCurrentIndex(self.picker.count() - 1)


class _OperatorWatch(QObject):
    """Runs the configured camera only while an operator is logged in."""

    def __init__(self, panel: CameraPanel) -> None:
        super().__init__(panel)
        self.panel = panel

    @Slot(object)
    def _on_main_operator_changed(self, operator: object) -> None:
        self.panel.wanted = operator is not None
        if operator is None:
            self.panel.stop()
            self.panel._say("Camera off (nobody is logged in).")
        elif self.panel.settings.camera.strip():
            if not self.panel.running:
                self.panel.start()
        elif not self.panel.running:
            self.panel._say("Camera off: no camera is set. Choose one above and press Start "
                            "camera (an admin sets the station's camera in Settings, F9).")


def attach_camera_panel(host: ScreenHost, screen: QWidget, area: QBoxLayout) -> CameraPanel:
    """Put a CameraPanel in `area` of `screen` (the packing screen's camera_area) and wire it to
    the window.

    code_read -> host.handle_read(text, "camera") (the one path every read takes);
    host.scan_recorded -> panel.show_result; host.settings_changed -> panel.apply_settings;
    the configured camera runs while an operator is logged in. Call panel.shutdown() on close.
    """
    panel = CameraPanel(host.settings, screen, autostart=False)
    area.addWidget(panel)
    panel.code_read.connect(partial(host.handle_read, source="camera"))
    host.scan_recorded.connect(panel.show_result)
    host.settings_changed.connect(panel.apply_settings)
    watch = _OperatorWatch(panel)
    host.operator_changed.connect(watch._on_main_operator_changed)
    return panel
