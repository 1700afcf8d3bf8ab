"""A serial (USB-CDC) scanner: lines from a real pseudo-terminal through QSerialPort."""

from __future__ import annotations

import os
import sys

import pytest

from tests.ui.conftest import log_in
from ui.serial_input import SerialScanner

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a pty")


@pytest.fixture
def pty():  # noqa: ANN201
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_serial_lines_become_reads(qtbot, pty) -> None:  # noqa: ANN001
    master, name = pty
    sc = SerialScanner(name, 9600)
    got: list[tuple[str, str]] = []
    sc.line_read.connect(lambda text, src: got.append((text, src)))
    assert sc.open()
    os.write(master, b"SB00001\r\nC00")  # a line and a half
    qtbot.waitUntil(lambda: got == [("SB00001", "serial")], timeout=3000)
    os.write(master, b"01\n")
    qtbot.waitUntil(lambda: len(got) == 2, timeout=3000)
    assert got[1] == ("C0001", "serial")
    sc.close()


def test_missing_port_is_reported_in_plain_words(qtbot) -> None:  # noqa: ANN001
    sc = SerialScanner("/dev/does-not-exist-ttyACM9", 9600)
    messages: list[str] = []
    sc.failed.connect(messages.append)
    assert not sc.open()
    assert "/dev/does-not-exist-ttyACM9 cannot be opened" in messages[0]


def test_configured_serial_scanner_feeds_the_station(qtbot, store, pty) -> None:  # noqa: ANN001
    from station.service import StationService
    from ui.main_window import MainWindow

    master, name = pty
    store.save_settings(store.settings().replace(serial_port=name))
    w = MainWindow(store)
    try:
        w.show()
        qtbot.waitExposed(w)
        log_in(w, qtbot)
        qtbot.waitUntil(lambda: w.current_screen_key == "station")
        os.write(master, b"SB00009\r\n")
        qtbot.waitUntil(lambda: w.station_screen.parent_code_label.text() == "SB00009",
                        timeout=3000)
    finally:
        w.shutdown()
        w.close()
    svc = StationService(store)
    ev = svc.event_log()[-1]
    svc.close()
    assert ev["parent_code"] == "SB00009" and ev["data"]["source"] == "serial"
