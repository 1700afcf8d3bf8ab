"""Station settings (admin only): station id and area, scanner, sound, idle release, camera."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from station.errors import StoreError
from station.service import Operator, StationService
from station.settings import SETTINGS, SettingError, StationSettings, validate
from ui.host import ScreenHost
from ui.styles import DONE_TEXT, REFUSED_TEXT
from ui.tasks import TaskError


class SettingsScreen(QWidget):
    settings_saved = Signal(object)  # StationSettings as stored: the window applies them

    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        root = QVBoxLayout(self)
        title = QLabel("Station settings")
        title.setStyleSheet("font-size: 30px; font-weight: bold;")
        root.addWidget(title)
        form = QFormLayout()
        self.station_id = QLineEdit()
        self.area = QLineEdit()
        # ranges and choices come from the declarations (station/settings.py)
        self.max_gap = self._spin("scanner_max_gap_ms", " ms")
        self.min_length = self._spin("scanner_min_length", " characters")
        self.suffix = QComboBox()
        self.suffix.addItems(list(SETTINGS["scanner_suffix"].choices))
        self.silence = self._spin("scanner_silence_ms", " ms")
        self.serial_port = QLineEdit()
        self.serial_port.setPlaceholderText("e.g. /dev/ttyACM0 or COM3; empty = no serial scanner")
        self.serial_baud = self._spin("serial_baud", " baud")
        self.muted = QCheckBox("Mute sounds")
        self.idle = self._spin("idle_release_minutes", " minutes")
        self.camera = QLineEdit()
        self.camera.setPlaceholderText("camera index, video file or stream URL; empty = none")
        self.camera_resolution = QLineEdit()
        self.camera_resolution.setPlaceholderText("width x height, e.g. 1280x720")
        self.decoder_backend = QComboBox()
        self.decoder_backend.addItems(list(SETTINGS["decoder_backend"].choices))
        self.camera_holdoff = QDoubleSpinBox()
        holdoff = SETTINGS["camera_holdoff_s"]
        self.camera_holdoff.setRange(float(holdoff.lo or 0.0), float(holdoff.hi or 0.0))
        self.camera_holdoff.setDecimals(1)
        self.camera_holdoff.setSuffix(" s (0 = only after it left the view)")
        self.short_parent_is_error = QCheckBox("Refuse a parent bag that is not full on a bill")
        form.addRow("Station id", self.station_id)
        form.addRow("Dispatch area", self.area)
        form.addRow("Scanner: keys at most this far apart", self.max_gap)
        form.addRow("Scanner: shortest code", self.min_length)
        form.addRow("Scanner: suffix after a code", self.suffix)
        form.addRow("Scanner: end of a code without suffix after", self.silence)
        form.addRow("Serial scanner port", self.serial_port)
        form.addRow("Serial scanner speed", self.serial_baud)
        form.addRow("Sound", self.muted)
        form.addRow("Release a parent after idle", self.idle)
        form.addRow("Camera", self.camera)
        form.addRow("Camera resolution", self.camera_resolution)
        form.addRow("Camera decoder", self.decoder_backend)
        form.addRow("Camera: read a code in view again after", self.camera_holdoff)
        form.addRow("Bills", self.short_parent_is_error)
        root.addLayout(form)
        row = QHBoxLayout()
        self.save_button = QPushButton("Save  (Ctrl+S)")
        self.save_button.clicked.connect(self.save)
        row.addWidget(self.save_button)
        back = QPushButton("Back  (Esc)")
        back.clicked.connect(lambda: self.host.show_screen("station"))
        row.addWidget(back)
        row.addStretch(1)
        root.addLayout(row)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 18px;")
        root.addWidget(self.message)
        root.addStretch(1)
        QShortcut(QKeySequence("Ctrl+S"), self, self.save)
        # the fields as loaded: a save sends only what was edited here since
        self._loaded: dict[str, Any] | None = None
        host.settings_changed.connect(self._on_window_settings_changed)

    @Slot(object)
    def _on_window_settings_changed(self, settings: StationSettings) -> None:
        """Settings changed elsewhere (from the centre, by a sync) while this screen is open:
        shown at once when nothing is being edited here; otherwise the edits stay, and saving
        them leaves the other settings as they now are."""
        if self.isVisible() and self.changes() == self._loaded:
            self.load(settings)

    @staticmethod
    def _spin(name: str, suffix: str) -> QSpinBox:
        decl = SETTINGS[name]
        s = QSpinBox()
        s.setRange(int(decl.lo or 0), int(decl.hi or 0))
        s.setSuffix(suffix)
        return s

    @staticmethod
    def allowed_for(operator: Operator) -> bool:
        return operator.role == "admin"

    def on_shown(self) -> None:
        self.load(self.host.settings)
        self.message.clear()
        self.station_id.setFocus()

    def show_message(self, kind: str, text: str) -> None:
        """The window's word on this screen (a scan here is refused: scanning is paused)."""
        colour = REFUSED_TEXT if kind == "refused" else "#333"
        self.message.setStyleSheet(f"font-size: 18px; color: {colour};")
        self.message.setText(text)

    def load(self, s: StationSettings) -> None:
        self.station_id.setText(s.station_id)
        self.area.setText(s.area)
        self.max_gap.setValue(s.scanner_max_gap_ms)
        self.min_length.setValue(s.scanner_min_length)
        self.suffix.setCurrentText(s.scanner_suffix)
        self.silence.setValue(s.scanner_silence_ms)
        self.serial_port.setText(s.serial_port)
        self.serial_baud.setValue(s.serial_baud)
        self.muted.setChecked(s.sound_muted)
        self.idle.setValue(s.idle_release_minutes)
        self.camera.setText(s.camera)
        self.camera_resolution.setText(s.camera_resolution)
        self.decoder_backend.setCurrentText(s.decoder_backend)
        self.camera_holdoff.setValue(s.camera_holdoff_s)
        self.short_parent_is_error.setChecked(s.short_parent_is_error)
        self._loaded = self.changes()

    def edited(self) -> StationSettings:
        """The settings as edited, checked like every other way in (SettingError if not): only
        the fields edited since they were loaded change; the others keep the station's current
        values (which a sync may have changed meanwhile)."""
        loaded = self._loaded
        edits = {name: value for name, value in self.changes().items()
                 if loaded is None or loaded.get(name) != value}
        return validate(self.host.settings, edits)

    def changes(self) -> dict[str, Any]:
        typed_id = self.station_id.text().strip()
        current_id = self.host.settings.station_id
        changes = dict(
            station_id=typed_id.upper(),
            area=self.area.text().strip(),
            scanner_max_gap_ms=self.max_gap.value(),
            scanner_min_length=self.min_length.value(),
            scanner_suffix=self.suffix.currentText(),
            scanner_silence_ms=max(self.silence.value(), self.max_gap.value() + 1),
            serial_port=self.serial_port.text().strip(),
            serial_baud=self.serial_baud.value(),
            sound_muted=self.muted.isChecked(),
            idle_release_minutes=self.idle.value(),
            camera=self.camera.text().strip(),
            camera_resolution=self.camera_resolution.text().strip().lower() or "1280x720",
            decoder_backend=self.decoder_backend.currentText(),
            camera_holdoff_s=self.camera_holdoff.value(),
            short_parent_is_error=self.short_parent_is_error.isChecked(),
        )
        if typed_id == current_id:
            # The id as stored, unchanged (one from before the limits stays usable): it is not
            # a change to check, nor to upper-case into another station's id.
            del changes["station_id"]
        return changes

    def save(self) -> None:
        if self.host.operator is None or not self.allowed_for(self.host.operator):
            self.message.setText("Only an admin may change station settings")
            return
        try:
            new = self.edited()
        except SettingError as exc:
            self._say_not_saved(exc.message)
            return

        def work(s: StationService) -> StationSettings:
            if s.operator is None or s.operator.role != "admin":
                raise StoreError("Only an admin may change station settings")
            s.store.save_settings(new)
            s.reload()
            return s.settings

        self.host.task_runner.submit(work, self._on_task_saved, self._on_task_failed)

    def _on_task_saved(self, saved: StationSettings) -> None:
        self.load(saved)
        self.settings_saved.emit(saved)
        self.message.setStyleSheet(f"font-size: 18px; color: {DONE_TEXT};")
        self.message.setText("Settings saved")

    def _on_task_failed(self, err: TaskError) -> None:
        self._say_not_saved(err.message)

    def _say_not_saved(self, why: str) -> None:
        self.message.setStyleSheet(f"font-size: 18px; color: {REFUSED_TEXT};")
        self.message.setText(f"Settings NOT saved: {why}")
