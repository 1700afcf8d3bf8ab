"""A real `tracetrack-central serve` process on localhost for the tests, and a station's access
to it (the service's address and the station's token)."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CENTRAL_BIN = Path(sys.executable).with_name("tracetrack-central")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StationAccess(str):
    """What a station is given: the service's address (the str value) and its token."""

    token: str
    station_id: str
    ca_file: str | None

    def __new__(cls, url: str, token: str, station_id: str, ca_file: str | None = None) -> StationAccess:
        obj = super().__new__(cls, url)
        obj.token = token
        obj.station_id = station_id
        obj.ca_file = ca_file
        return obj

    @property
    def url(self) -> str:
        return str(self)

    def at(self, url: str) -> StationAccess:
        """The same token through another address (a proxy in front of the service)."""
        return StationAccess(url, self.token, self.station_id, self.ca_file)

    def transport(self, **kw: Any) -> Any:
        from sync.transport import HttpTransport

        kw.setdefault("connect_timeout", 3.0)
        kw.setdefault("read_timeout", 30.0)
        return HttpTransport(self.url, self.token, station_id=self.station_id,
                             ca_file=self.ca_file, **kw)


class CentralService:
    """`tracetrack-central serve --url <service role URL>` in its own process."""

    def __init__(self, db_url: str, log_dir: Path, *, workers: int = 1,
                 certfile: str | None = None, keyfile: str | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.db_url = db_url
        self.log_dir = log_dir
        self.workers = workers
        self.certfile = certfile
        self.keyfile = keyfile
        self.extra = extra
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.ca_file: str | None = None  # set by TLS tests for health checks
        self.starts = 0

    @property
    def url(self) -> str:
        scheme = "https" if self.certfile else "http"
        host = "localhost" if self.certfile else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> CentralService:
        self.port = self.port or free_port()
        self.starts += 1
        args = [str(CENTRAL_BIN), "serve", "--url", self.db_url, "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers), *self.extra]
        if self.certfile:
            args += ["--certfile", self.certfile, "--keyfile", str(self.keyfile)]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"serve-{self.port}-{self.starts}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the process writes it until stopped
        env = dict(os.environ)
        env.pop("TRACETRACK_CENTRAL_URL", None)
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        verify: Any = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                r = httpx.get(self.url + "/healthz", timeout=2.0, verify=verify)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not become healthy in {timeout} s:\n{self.output()}")
            time.sleep(0.05)  # polling another process's readiness (no event to wait on)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def access(self, station_id: str, token: str) -> StationAccess:
        return StationAccess(self.url, token, station_id, self.ca_file)
