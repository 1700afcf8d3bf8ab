"""A serial scanner's lines: charsets and line ends (CR, LF, CRLF or none), over a real pty."""

from __future__ import annotations

import os
import sys

import pytest

from ui.serial_input import SerialScanner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty")


@pytest.fixture
def pty():  # noqa: ANN201
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _scanner(name: str) -> tuple[SerialScanner, list[str]]:
    sc = SerialScanner(name, 9600)
    got: list[str] = []
    sc.line_read.connect(lambda text, _src: got.append(text))
    assert sc.open()
    return sc, got


def test_a_latin_1_line_is_not_mangled(qtbot, pty) -> None:  # noqa: ANN001
    master, name = pty
    sc, got = _scanner(name)
    try:
        # A scanner set to Latin-1 (not UTF-8): the same fallback as the camera's decoders.
        os.write(master, "LOT-Müller-7\r\n".encode("latin-1"))
        qtbot.waitUntil(lambda: len(got) == 1, timeout=3000)
        assert got == ["LOT-Müller-7"]
        os.write(master, "LOT-Müller-8\n".encode())
        qtbot.waitUntil(lambda: len(got) == 2, timeout=3000)
        assert got[1] == "LOT-Müller-8"
    finally:
        sc.close()


def test_a_scanner_with_no_line_end_is_read_after_a_pause(qtbot, pty) -> None:  # noqa: ANN001
    master, name = pty
    sc, got = _scanner(name)
    try:
        os.write(master, b"SB00077")  # suffix "none": nothing ever follows the code
        qtbot.waitUntil(lambda: len(got) == 1, timeout=3000)
        assert got == ["SB00077"]
        os.write(master, b"SB00078")
        qtbot.waitUntil(lambda: len(got) == 2, timeout=3000)
        assert got == ["SB00077", "SB00078"]
        # CR, LF and CRLF scanners still give one read a line, none empty or doubled.
        os.write(master, b"C0001\rC0002\nC0003\r\n")
        qtbot.waitUntil(lambda: len(got) == 5, timeout=3000)
        assert got[2:] == ["C0001", "C0002", "C0003"]
    finally:
        sc.close()


def test_garbage_from_a_wrong_baud_rate_is_said_not_read(qtbot, pty) -> None:  # noqa: ANN001
    master, name = pty
    sc, got = _scanner(name)
    problems: list[str] = []
    sc.failed.connect(problems.append)
    try:
        os.write(master, b"\x86\xf8\x00\x9c\x11\xe0\x03")  # what 9600 baud makes of 115200
        qtbot.waitUntil(lambda: bool(problems), timeout=3000)
        assert got == []
        assert "baud rate" in problems[0]
    finally:
        sc.close()
