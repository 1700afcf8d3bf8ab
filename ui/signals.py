"""SIGTERM, SIGINT and SIGHUP close the window the way its close button does (the queued reads
are handed over, ui.ini is written, the store is closed), instead of killing the process.

Python runs signal handlers only between bytecodes, never while Qt's event loop waits in C++;
so the signal's number is written to a socket (signal.set_wakeup_fd) that a QSocketNotifier
watches on the GUI thread.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, Slot

log = logging.getLogger(__name__)

SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGINT", "SIGHUP"))
                if s is not None)


class SignalCloser(QObject):
    """Calls `close()` on the GUI thread when one of SIGNALS arrives; `uninstall()` restores
    what was there before."""

    def __init__(self, close: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._close = close
        self.received: list[int] = []
        self._read, self._write = socket.socketpair()
        for s in (self._read, self._write):
            s.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._write.fileno())
        self._old_handlers = {s: signal.signal(s, self._on_signal) for s in SIGNALS}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._on_notifier_activated)

    @staticmethod
    def _on_signal(_signum: int, _frame: Any) -> None:
        pass  # the wakeup fd carries the signal to the GUI thread

    @Slot()
    def _on_notifier_activated(self) -> None:
        try:
            data = self._read.recv(64)
        except OSError:
            return
        if not data:
            return
        self.received.extend(data)
        names = ", ".join(signal.Signals(n).name for n in data if n in set(SIGNALS))
        log.info("%s received: closing the window (ui.ini is saved)", names or "signal")
        self._close()

    def uninstall(self) -> None:
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._old_fd)
        for s, old in self._old_handlers.items():
            signal.signal(s, old)
        self._read.close()
        self._write.close()
