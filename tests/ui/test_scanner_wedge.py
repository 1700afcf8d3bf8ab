"""The keyboard-wedge scanner input on its own: stamped key events into a focused field."""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from station.settings import StationSettings
from ui.scanner_input import ScannerInput

GS = "\x1d"


def _post(target: QLineEdit, keys: list[tuple[Qt.Key, str, Qt.KeyboardModifier]],
          gap_ms: int = 5) -> None:
    stamp = int(time.monotonic() * 1000)
    for key, text, mods in keys:
        for etype in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            event = QKeyEvent(etype, key, mods, text)
            event.setTimestamp(stamp)
            QApplication.postEvent(target, event)
        stamp += gap_ms


def _plain(text: str) -> list[tuple[Qt.Key, str, Qt.KeyboardModifier]]:
    return [(Qt.Key(ord(ch.upper())), ch, Qt.KeyboardModifier.NoModifier) for ch in text]


def test_a_gs1_label_with_a_group_separator_is_one_read(qtbot) -> None:  # noqa: ANN001
    field = QLineEdit()
    qtbot.addWidget(field)
    field.show()
    qtbot.waitExposed(field)
    field.setFocus()
    qtbot.waitUntil(field.hasFocus, timeout=3000)
    sc = ScannerInput(StationSettings())
    reads: list[str] = []
    sc.read_detected.connect(lambda text, _src: reads.append(text))
    sc.start()
    try:
        # A scanner types GS (between GS1 fields) as Ctrl+], as on a US keyboard.
        keys = (_plain("0109501101020917") + [(Qt.Key.Key_BracketRight, GS,
                                                Qt.KeyboardModifier.ControlModifier)]
                + _plain("10ABC123") + [(Qt.Key.Key_Return, "\r", Qt.KeyboardModifier.NoModifier)])
        _post(field, keys)
        qtbot.waitUntil(lambda: bool(reads) and not sc.detector.active, timeout=5000)
        assert reads == [f"0109501101020917{GS}10ABC123"]
        assert field.text() == ""  # nothing of the label was typed into the field
    finally:
        sc.stop()
