"""A real TCP proxy for fault tests: forwards 127.0.0.1 connections to a server and, on command,
cuts a connection before a request, in the middle of one, or after the server replied.

Faults are armed one at a time and fire once (after `skip` matching chunks went through):
- `cut_before_request(match)`: the next client chunk containing `match` is not forwarded; both
  sides are closed (the server never sees the request).
- `cut_mid_request(match)`: half of the next matching client chunk is forwarded, then both sides
  are closed (the server sees a truncated message and rolls back).
- `cut_after_reply(match)`: the next server chunk containing `match` (e.g. b"COMMIT" in the
  CommandComplete of a commit) is dropped and both sides are closed: the server has done the work,
  the client never hears about it.
The upstream may be TCP (host, port) or a Unix socket path (how pgserver listens).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass


@dataclass
class _Fault:
    direction: str  # "c2s" | "s2c"
    match: bytes
    partial: bool
    skip: int = 0  # let this many matching chunks through first


class TcpProxy:
    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._fault: _Fault | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._refusing = False
        self.fired = threading.Event()  # set each time a fault fires (tests clear it)
        self.fired_count = 0
        self.connections = 0
        self._accept = threading.Thread(target=self._accept_loop, name="proxy-accept",
                                        daemon=True)
        self._accept.start()

    # -- commands --------------------------------------------------------------------------

    def cut_before_request(self, match: bytes = b"", skip: int = 0) -> None:
        self._arm(_Fault("c2s", match, False, skip))

    def cut_mid_request(self, match: bytes = b"", skip: int = 0) -> None:
        self._arm(_Fault("c2s", match, True, skip))

    def cut_after_reply(self, match: bytes = b"COMMIT", skip: int = 0) -> None:
        self._arm(_Fault("s2c", match, False, skip))

    def disarm(self) -> None:
        with self._lock:
            self._fault = None

    @property
    def armed(self) -> bool:
        with self._lock:
            return self._fault is not None

    def drop_all(self) -> None:
        """Cut every open connection now (a network outage)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            _close(a)
            _close(b)

    def refuse(self, on: bool) -> None:
        """While on, new connections are accepted and closed at once (centre unreachable)."""
        self._refusing = on

    def close(self) -> None:
        self._stopping = True
        _close(self._listener)
        self.drop_all()
        self._accept.join(timeout=5)
        for t in list(self._threads):
            t.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------

    def _arm(self, fault: _Fault) -> None:
        with self._lock:
            self._fault = fault

    def _take(self, direction: str, chunk: bytes) -> _Fault | None:
        with self._lock:
            f = self._fault
            if f is None or f.direction != direction or f.match not in chunk:
                return None
            if f.skip > 0:
                f.skip -= 1
                return None
            self._fault = None
            self.fired_count += 1
        return f

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                _close(client)
                continue
            try:
                if isinstance(self.upstream, str):
                    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                else:
                    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                server.connect(self.upstream)
            except OSError:
                _close(client)
                continue
            self.connections += 1
            with self._lock:
                self._pairs.append((client, server))
                self._threads = [t for t in self._threads if t.is_alive()]
            for src, dst, direction in ((client, server, "c2s"), (server, client, "s2c")):
                t = threading.Thread(target=self._pump, args=(src, dst, direction, client, server),
                                     name=f"proxy-{direction}", daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str,
              client: socket.socket, server: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                fault = self._take(direction, chunk)
                if fault is not None:
                    # The client side goes first, so nothing the server says reaches it any more.
                    _close(client)
                    if fault.partial:
                        server.sendall(chunk[: max(1, len(chunk) // 2)])
                    _close(server)
                    self.fired.set()
                    return
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)
            with self._lock:
                self._pairs = [p for p in self._pairs if p != (client, server)]


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
