"""A real `tracetrack-central serve` process for the benchmarks (the same approach as the tests'
helper, which bench does not import): the service role's URL, station tokens, start, wait for
/healthz, stop.

Set TRACETRACK_BENCH_PYSPY=DIR to run the service under `py-spy record` (if py-spy is installed
in the venv): the sampled stacks of each serve process (py-spy's "raw" collapsed format, one
line per stack with its count) are written there when it stops.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from central import db as central_db

CENTRAL_BIN = Path(sys.executable).with_name("tracetrack-central")
PYSPY_ENV = "TRACETRACK_BENCH_PYSPY"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_url(admin_url: str) -> str:
    """The sync service role's URL for the database of `admin_url` (new password each call),
    as `tracetrack-central init --print-service-url` gives it."""
    from central.roles import ensure_service_role, role_url

    eng = central_db.make_engine(admin_url, poolclass=sa.pool.NullPool)
    try:
        with eng.begin() as conn:
            role, password = ensure_service_role(conn, new_password=True)
    finally:
        eng.dispose()
    assert password is not None
    return role_url(admin_url, role, password)


def register(conn: sa.Connection, station_id: str, area: str) -> str:
    """Register a station at the centre (in the caller's transaction); returns its token."""
    from central.stations import add_station

    return str(add_station(conn, station_id, area)["token"])


class Serve:
    """`tracetrack-central serve --url <service role URL>` in its own process group."""

    def __init__(self, db_url: str, *, workers: int = 1, extra: tuple[str, ...] = ()) -> None:
        self.db_url = db_url
        self.workers = workers
        self.extra = extra
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="tt-bench-serve-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if CENTRAL_BIN.exists():
            head = [str(CENTRAL_BIN)]
        else:
            head = [sys.executable, "-m", "central.cli"]
        return [*head, "serve", "--url", self.db_url, "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", str(self.workers), *self.extra]

    def start(self, timeout: float = 60.0) -> Serve:
        args = self.command()
        spy_dir = os.environ.get(PYSPY_ENV)
        if spy_dir:
            spy = Path(sys.executable).with_name("py-spy")
            out = Path(spy_dir) / f"serve-{self.port}.txt"
            Path(spy_dir).mkdir(parents=True, exist_ok=True)
            args = [str(spy), "record", "--subprocesses", "--rate", "200", "--format", "raw",
                    "--threads", "-o", str(out), "--", *args]
        env = dict(os.environ)
        env.pop("TRACETRACK_CENTRAL_URL", None)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not become healthy in {timeout} s:\n{self.output()}")
            time.sleep(0.05)  # polling another process's readiness

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # py-spy writes its file on SIGINT; uvicorn also stops cleanly on it
            sig = signal.SIGINT if os.environ.get(PYSPY_ENV) else signal.SIGTERM
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
