"""The fault proxy itself: it forwards, and each cut fires once at the right moment."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import until


@pytest.fixture()
def echo_server():
    """A real TCP server that answers 'OK:' + what it got, and remembers what it received."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    received.append(data)
                    try:
                        conn.sendall(b"OK:" + data)
                    except OSError:
                        break

    t = threading.Thread(target=serve, name="echo-server")
    t.start()
    yield srv.getsockname(), received
    stop.set()
    try:
        srv.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
    except OSError:
        pass
    srv.close()
    t.join(5)


def _roundtrip(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(payload)
        return c.recv(4096)


def test_forwards_and_cuts_each_way(echo_server) -> None:
    addr, received = echo_server
    with TcpProxy(addr) as proxy:
        assert _roundtrip(proxy.port, b"hello") == b"OK:hello"

        proxy.cut_before_request(b"REQ1")
        assert _roundtrip(proxy.port, b"REQ1") == b""  # closed, nothing answered
        assert b"REQ1" not in b"".join(received)  # the server never saw it
        assert proxy.fired_count == 1 and not proxy.armed

        proxy.cut_mid_request(b"REQ2-LONG")
        assert _roundtrip(proxy.port, b"REQ2-LONG") == b""
        # The server got half of it (the proxy forwards it after closing the client side).
        until(lambda: b"".join(received).endswith(b"REQ2"), 5, "the half request")
        assert b"REQ2-LONG" not in b"".join(received)

        proxy.cut_after_reply(b"OK:REQ3")
        assert _roundtrip(proxy.port, b"REQ3") == b""
        assert b"".join(received).endswith(b"REQ3")  # the server did the work, reply lost

        assert _roundtrip(proxy.port, b"again") == b"OK:again"  # faults fire once
        assert proxy.fired_count == 3
