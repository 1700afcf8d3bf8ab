"""Scanner test: scan the printed test code; the station says whether the scanner is set up
right, or which keyboard layout or case problem it sees."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from station.codes import escape_read
from station.scanner import TEST_CODE, Diagnosis, diagnose_test_read
from ui.host import ScreenHost
from ui.resources import SCANNER_TEST_IMAGE
from ui.styles import COLOURS


class ScannerTestScreen(QWidget):
    def __init__(self, host: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.last: Diagnosis | None = None
        root = QVBoxLayout(self)
        title = QLabel("Scanner test")
        title.setStyleSheet("font-size: 34px; font-weight: bold;")
        root.addWidget(title)
        row = QHBoxLayout()
        self.image = QLabel()
        pix = QPixmap(str(SCANNER_TEST_IMAGE))
        if not pix.isNull():
            self.image.setPixmap(pix)
        else:
            self.image.setText(f"(test code image missing: {SCANNER_TEST_IMAGE})")
        row.addWidget(self.image)
        text = QLabel(
            "Scan this code with the handheld scanner (from the screen or a printout).\n\n"
            f"It holds the text:\n{TEST_CODE}\n\n"
            "Digits, upper and lower case letters and '-' show keyboard layout and Caps Lock "
            "problems.\n\nEsc: back to the screen before · F2: packing."
        )
        text.setWordWrap(True)
        text.setStyleSheet("font-size: 20px;")
        row.addWidget(text, 1)
        root.addLayout(row)
        self.result_label = QLabel("Waiting for a scan…")
        self.result_label.setObjectName("scanner_test_result")
        self.result_label.setWordWrap(True)
        self.result_label.setMinimumHeight(120)
        self.result_label.setStyleSheet("font-size: 26px; padding: 12px; background: #e3e8ef;")
        root.addWidget(self.result_label)
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        self.detail_label.setStyleSheet("font-size: 18px; color: #333;")
        root.addWidget(self.detail_label)
        root.addStretch(1)

    def on_shown(self) -> None:
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def handle_read(self, raw: str, source: str) -> None:
        d = diagnose_test_read(raw)
        self.last = d
        colour = COLOURS["accepted" if d.ok else "refused"][0]
        self.result_label.setStyleSheet(
            f"font-size: 26px; padding: 12px; color: white; background: {colour};"
        )
        self.result_label.setText(d.message)
        timing = ""
        burst = self.host.last_scanner_read
        if source == "scanner" and burst is not None and burst.text == raw:
            suffix = self.host.settings.scanner_suffix
            ended = burst.terminator
            timing = (f" · {len(raw)} characters in {burst.duration_ms:.0f} ms, largest gap "
                      f"{burst.max_gap_ms:.0f} ms, ended by {ended}")
            if suffix != "none" and ended != suffix:
                timing += f" (the station expects {suffix}: change the scanner or the setting)"
        self.detail_label.setText(f"Read {escape_read(raw, 80)} from {source}{timing}")
        self.host.sounds.play("parent_selected" if d.ok else "error")
