"""Application-wide keyboard-wedge scanner input: an event filter on the QApplication.

Every printable key press is held by the BurstDetector (station/scanner.py) for a few ms. A
fast burst of at least the minimum length is a scan: it is taken away from whatever widget has
focus and emitted as `read_detected(text, "scanner")`. Slower keys were typed by a person and
are replayed, in order, to the widget they were meant for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from station.scanner import BurstDetector, Output, Passthrough, Read
from station.settings import StationSettings

_TERMINATORS: dict[int, str] = {Qt.Key.Key_Return: "enter", Qt.Key.Key_Enter: "enter", Qt.Key.Key_Tab: "tab"}
# Keys that only change what the next key types: a scanner presses Shift around every upper-case
# letter, so these never end or break a burst.
_MODIFIER_KEYS = frozenset({
    Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_AltGr, Qt.Key.Key_Meta,
    Qt.Key.Key_CapsLock, Qt.Key.Key_NumLock, Qt.Key.Key_Super_L, Qt.Key.Key_Super_R,
    Qt.Key.Key_Hyper_L, Qt.Key.Key_Hyper_R, Qt.Key.Key_Mode_switch,
})
# Separators scanners type inside a code (GS between GS1 fields, RS and EOT of ISO 15434), as
# Ctrl+] and the like: within a burst they are part of the code (normalising drops them later).
_CODE_CONTROLS = frozenset({"\x1c", "\x1d", "\x1e", "\x04"})
_BLOCKING_MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.MetaModifier
)


@dataclass(frozen=True)
class _HeldKey:
    receiver: QWidget
    key: int
    modifiers: Qt.KeyboardModifier
    text: str


class ScannerInput(QObject):
    """Install with `start()`; emits every scanner read once, in arrival order."""

    read_detected = Signal(str, str)  # text, source ("scanner")
    burst_started = Signal()

    def __init__(self, settings: StationSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.detector = BurstDetector()
        self.configure(settings)
        self.last_read: Read | None = None
        self._ts_offset: float | None = None  # monotonic seconds minus window-system key time
        self._planned_at = 0.0
        self._graced = False
        self._replaying = False
        self._installed = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)

    def configure(self, settings: StationSettings) -> None:
        params = (
            float(settings.scanner_max_gap_ms),
            int(settings.scanner_min_length),
            settings.scanner_suffix if settings.scanner_suffix in ("enter", "tab", "none")
            else "enter",
            float(settings.scanner_silence_ms),
        )
        if params == getattr(self, "_params", None):
            # Other settings changed (sound, camera, ...): a burst being read stays whole (set
            # up again, the keys held so far would go on as typing, the rest as a read of its own).
            return
        held = self.detector.reset() if hasattr(self, "detector") else []
        self._params = params
        max_gap_ms, min_length, suffix, silence_ms = params
        self.detector = BurstDetector(max_gap_ms=max_gap_ms, min_length=min_length,
                                      suffix=suffix, silence_ms=silence_ms)
        self._deliver(held)

    def start(self) -> None:
        app = QApplication.instance()
        if app is not None and not self._installed:
            app.installEventFilter(self)
            self._installed = True

    def stop(self) -> None:
        self._timer.stop()
        app = QApplication.instance()
        if app is not None and self._installed:
            app.removeEventFilter(self)
            self._installed = False
        self._deliver(self.detector.reset())

    # -- the filter -----------------------------------------------------------------------

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if self._replaying or event.type() != QEvent.Type.KeyPress:
            return False
        if not isinstance(obj, QWidget):
            # The QWindow sees the event first and forwards it to the focus widget: act there.
            return False
        assert isinstance(event, QKeyEvent)
        if isinstance(obj, QLineEdit) and obj.echoMode() != QLineEdit.EchoMode.Normal:
            # A password is never taken as a scan (nor shown in a message), however fast the
            # typist: its keys go straight to the field.
            if self.detector.active:
                self._deliver(self.detector.reset())
                self._arm()
            return False
        key = event.key()
        if key in _MODIFIER_KEYS:
            return False
        now = self._key_time(event)
        if key in _TERMINATORS and not (event.modifiers() & _BLOCKING_MODIFIERS):
            if not self.detector.active:
                return False
            outputs, consumed = self.detector.feed_terminator(_TERMINATORS[key], now)
            self._deliver(outputs)
            self._arm()
            return consumed
        text = event.text()
        if text in _CODE_CONTROLS and self.detector.active and not event.isAutoRepeat():
            # (before: taken for a shortcut, the label's first part was typed into the field
            # and only the rest was read)
            self._deliver(self.detector.feed(text, now, _HeldKey(obj, key, event.modifiers(),
                                                                 text)))
            self._arm()
            return True
        if (
            len(text) != 1
            or not text.isprintable()
            or event.modifiers() & _BLOCKING_MODIFIERS
            or event.isAutoRepeat()
        ):
            # A key that is no character (arrows, F-keys, shortcuts): whatever was held so far
            # was typed, and goes first so the order stays right.
            if self.detector.active:
                self._deliver(self.detector.reset())
                self._arm()
            return False
        if not self.detector.active:
            self.burst_started.emit()
        held = _HeldKey(obj, key, event.modifiers(), text)
        outputs = self.detector.feed(text, now, held)
        self._deliver(outputs)
        self._arm()
        return True

    def _key_time(self, event: QKeyEvent) -> float:
        """When the key was pressed: the window system's timestamp where there is one, so a
        GUI thread that was busy for a moment does not stretch the gaps of a burst; else now."""
        now = time.monotonic()
        ts = event.timestamp()
        if not ts:
            return now
        offset = now - ts / 1000.0
        # The smallest offset seen is the one with no queueing delay; re-sync on clock jumps.
        if self._ts_offset is None or offset < self._ts_offset or offset - self._ts_offset > 5:
            self._ts_offset = offset
        return ts / 1000.0 + self._ts_offset

    def _arm(self) -> None:
        deadline = self.detector.next_deadline()
        if deadline is None:
            self._timer.stop()
            return
        self._graced = False
        self._planned_at = deadline
        self._timer.start(max(0, int((deadline - time.monotonic()) * 1000.0) + 1))

    @Slot()
    def _on_timer_timeout(self) -> None:
        now = time.monotonic()
        if not self._graced and now - self._planned_at > 0.015:
            # The timer fired late: the GUI thread was busy and more keys of this burst may be
            # waiting in the queue behind it. Let them in before deciding.
            self._graced = True
            self._timer.start(15)
            return
        outputs = self.detector.poll(max(now, self._planned_at))
        self._deliver(outputs)
        self._arm()

    def flush_now(self) -> None:
        """Decide at once on whatever is held (used before shutting down)."""
        self._deliver(self.detector.poll(float("inf")))
        self._timer.stop()

    def _deliver(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Read):
                self.last_read = out
                self.read_detected.emit(out.text, "scanner")
            elif isinstance(out, Passthrough):
                self._replay(out)

    def _replay(self, out: Passthrough) -> None:
        self._replaying = True
        try:
            for held in out.payloads:
                if not isinstance(held, _HeldKey):
                    continue
                target: QWidget | None = held.receiver
                if target is None or not shiboken6.isValid(target):
                    target = QApplication.focusWidget()
                if target is None:
                    continue
                for etype in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
                    QApplication.sendEvent(
                        target, QKeyEvent(etype, held.key, held.modifiers, held.text)
                    )
        finally:
            self._replaying = False
