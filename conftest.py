"""Root test configuration: offscreen Qt, strict Qt warnings, no thread left running."""

from __future__ import annotations

import os
import threading

import pytest

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
# Tests never touch the user's real station folders.
os.environ.pop("TRACETRACK_BASEDIR", None)
os.environ.pop("TRACETRACK_PASSWORD", None)
os.environ.pop("TRACETRACK_CENTRAL_URL", None)


_ALLOWED_THREAD_PREFIXES = ("pydevd", "ThreadPoolExecutor", "QDBus", "asyncio", "Dummy-")


@pytest.fixture(autouse=True)
def _no_thread_left_running():
    """A test that leaves one of its threads running fails (napari's habit)."""
    before = set(threading.enumerate())
    yield
    leftover = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.name.startswith(_ALLOWED_THREAD_PREFIXES)
    ]
    for t in leftover:
        t.join(timeout=5)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"threads left running after the test: {still}"
