"""The camera panel after its camera is stopped by a settings change: it must not say "on"."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtWidgets import QLayout, QVBoxLayout, QWidget

from station.camera.capture import CameraState
from station.camera.synthetic import FrameSpec, Placed, Renderer, render_all, write_folder
from station.settings import StationSettings
from ui.camera_panel import CameraPanel

SIZE = (640, 480)
WAIT_MS = 20_000


def test_clearing_the_camera_setting_says_the_camera_is_off(qtbot, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "frames", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("C0001", 100, 100),))] * 3))
    settings = StationSettings(camera=str(folder))
    host = QWidget()
    lay = QVBoxLayout(host)
    lay.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
    panel = CameraPanel(settings, host, worker_options={"loop": True, "folder_fps": 30.0})
    lay.addWidget(panel)
    host.resize(800, 600)
    host.show()
    qtbot.addWidget(host)
    states: list[str] = []
    panel.state_changed.connect(states.append)
    try:
        qtbot.waitUntil(lambda: panel.state is CameraState.RUNNING, timeout=WAIT_MS)
        assert "is on" in panel.status_label.text()
        panel.apply_settings(dataclasses.replace(settings, camera=""))  # an admin clears it
        assert not panel.running
        assert panel.state is CameraState.STOPPED
        assert states[-1] == str(CameraState.STOPPED)
        assert "is on" not in panel.status_label.text()
        assert panel.status_label.text() == "Camera off."
    finally:
        panel.shutdown()


def test_a_camera_that_is_lost_shows_no_frames_around_codes(qtbot, tmp_path: Path) -> None:
    import os

    folder = write_folder(tmp_path / "cam", render_all(
        Renderer(*SIZE), [FrameSpec((Placed("SB00042", 150, 100),))] * 6))
    host = QWidget()
    lay = QVBoxLayout(host)
    lay.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
    panel = CameraPanel(StationSettings(camera=str(folder)), host,
                        worker_options={"loop": True, "folder_fps": 30.0, "retry_s": 0.05})
    lay.addWidget(panel)
    host.resize(800, 600)
    host.show()
    qtbot.addWidget(host)
    try:
        qtbot.waitUntil(lambda: bool(panel.view.boxes), timeout=WAIT_MS)
        os.replace(folder, tmp_path / "unplugged")
        qtbot.waitUntil(lambda: panel.state is CameraState.LOST, timeout=WAIT_MS)
        # The last picture may stay, but no frame says a code is in view of a camera that is gone.
        assert panel.view.boxes == []
    finally:
        panel.shutdown()
