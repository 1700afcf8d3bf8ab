"""Serial (USB-CDC) scanners: read lines from a configured port with QtSerialPort."""

from __future__ import annotations

from PySide6.QtCore import QIODevice, QObject, QTimer, Signal, Slot
from PySide6.QtSerialPort import QSerialPort

MAX_LINE = 4096  # a line longer than this is garbage from a wrong baud rate: dropped, reported
# A scanner set to send no suffix: its code ends when no byte came for this long (even at
# 1200 baud the bytes of one code are under 10 ms apart).
SILENCE_MS = 150
_CODE_CONTROLS = frozenset("\x1c\x1d\x1e\x04 \t")  # separators a code may carry (GS1, ISO 15434)


class SerialScanner(QObject):
    line_read = Signal(str, str)  # text, source ("serial")
    failed = Signal(str)

    def __init__(self, port: str, baud: int = 9600, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.port_name = port
        self._port = QSerialPort(self)
        self._port.setPortName(port)
        self._port.setBaudRate(baud)
        self._buffer = bytearray()
        self._opening = False
        self._silence = QTimer(self)
        self._silence.setSingleShot(True)
        self._silence.setInterval(SILENCE_MS)
        self._silence.timeout.connect(self._on_silence_timeout)
        self._port.readyRead.connect(self._on_port_ready_read)
        self._port.errorOccurred.connect(self._on_port_error_occurred)

    def open(self) -> bool:
        self._opening = True  # errors while opening are reported once, below, in plain words
        try:
            ok = self._port.open(QIODevice.OpenModeFlag.ReadOnly)
        finally:
            self._opening = False
        if not ok:
            self.failed.emit(
                f"Serial scanner port {self.port_name} cannot be opened "
                f"({self._port.errorString()}): check the cable and the port in Settings"
            )
            return False
        return True

    @property
    def is_open(self) -> bool:
        return self._port.isOpen()

    def close(self) -> None:
        self._silence.stop()
        if self._port.isOpen():
            self._port.close()

    @Slot()
    def _on_port_ready_read(self) -> None:
        self._buffer += bytes(self._port.readAll().data())
        while True:
            cut = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if not cut:
                break
            end = min(cut)
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._emit_line(line)
        if len(self._buffer) > MAX_LINE:
            self._buffer.clear()
            self.failed.emit(f"Serial scanner on {self.port_name} sends no line ends: check "
                             "its baud rate and suffix settings")
        if self._buffer:
            self._silence.start()  # (again): a code with no line end is read after a pause
        else:
            self._silence.stop()

    def _emit_line(self, line: bytes) -> None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            # A scanner sending Latin-1 (its default charset on many models): read as
            # such, like the camera's decoders do, instead of turning letters into U+FFFD.
            text = line.decode("latin-1")
        if text.strip():
            self.line_read.emit(text, "serial")

    @Slot()
    def _on_silence_timeout(self) -> None:
        # A scanner sending no suffix (CR, LF): before, its codes waited in the buffer for a
        # line end that never came, and none was read.
        line, self._buffer = bytes(self._buffer), bytearray()
        text = line.decode("utf-8", errors="replace")
        if any(not (ch.isprintable() or ch in _CODE_CONTROLS) for ch in text):
            # Control bytes and broken characters with no line end: a wrong baud rate, not a
            # code (said at once rather than read as a code, or after 4096 such bytes).
            self.failed.emit(f"Serial scanner on {self.port_name} sends unreadable data: check "
                             "its baud rate and suffix settings")
            return
        self._emit_line(line)

    @Slot(QSerialPort.SerialPortError)
    def _on_port_error_occurred(self, error: QSerialPort.SerialPortError) -> None:
        if self._opening or error == QSerialPort.SerialPortError.NoError:
            return
        if error == QSerialPort.SerialPortError.ResourceError:
            self.close()
        self.failed.emit(f"Serial scanner on {self.port_name}: {self._port.errorString()}")
