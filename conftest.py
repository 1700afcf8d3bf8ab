"""Root test configuration: offscreen Qt, strict Qt warnings, no thread and no Qt timer left
running after a test; on several workers (pytest-xdist), the slow tests first and the tests
marked `alone` with nothing alongside."""

from __future__ import annotations

import fcntl
import gc
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")
# Tests never touch the user's real station folders.
os.environ.pop("TRACETRACK_BASEDIR", None)
os.environ.pop("TRACETRACK_PASSWORD", None)
os.environ.pop("TRACETRACK_CENTRAL_URL", None)


# -- several workers ------------------------------------------------------------------------------
#
# `make test` runs the suite on two workers (pytest-xdist, `-n 2 --dist worksteal`, Makefile).
# Each worker is a pytest session of its own: its own throwaway PostgreSQL (pgserver in a fresh
# folder, Unix socket only), its own template database, its `serve` processes and TCP proxies on
# free ports, its own temp folders. What they share is the machine's cores, hence two rules:
#
# - Slow tests first. Worksteal gives each worker half of the collection and lets an idle worker
#   take the tail of the other's queue; with the tests marked `slow` at the head, the run ends on
#   short tests instead of one worker finishing a 45 s test while the other waits.
# - A test marked `alone` runs with no other test alongside: it measures how the window keeps
#   time while it drains a backlog on both cores itself (tests/ui/test_sync_responsiveness.py);
#   another worker's test on the same two cores would measure that worker instead. It waits
#   for the test running on the other worker to end, and none starts until it is done.
#
# Both only apply on workers: a run without -n (one test, a debugger) is a plain pytest run.


# Hypothesis: no deadline on an example. How long one takes is not what these properties assert,
# and beside another worker's test an example of a few milliseconds can take over the default
# 200 ms, which hypothesis reports as a flaky failure. Everything else is each test's settings.
settings.register_profile("tracetrack", deadline=None)
settings.load_profile("tracetrack")


def _on_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _on_worker(config):  # the same order on every worker (xdist checks that)
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable


class _Turns:
    """Whose turn it is, across the workers of one run: two lock files in the run's temp folder
    (the workers' folders are in it). A test goes through the gate (held exclusively for a
    moment, so a test waiting to run alone is not overtaken by the other worker's next tests)
    and holds the room, shared, or exclusively when it runs alone."""

    def __init__(self, folder: Path) -> None:
        self.gate = open(folder / "turns-gate.lock", "a+b")  # noqa: SIM115 - held for the run
        self.room = open(folder / "turns-room.lock", "a+b")  # noqa: SIM115

    @contextmanager
    def turn(self, alone: bool) -> Iterator[None]:
        fcntl.flock(self.gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self.room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(self.gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self.room, fcntl.LOCK_UN)

    def close(self) -> None:
        self.gate.close()
        self.room.close()


_turns: _Turns | None = None
_ROOT = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    global _turns
    if _on_worker(config):
        # the worker's basetemp is <the run's basetemp>/<worker id>
        _turns = _Turns(Path(config.option.basetemp).parent)
        return
    # The tests start some 400 processes of this project (`tracetrack-central serve` for each
    # central test, the station's commands): compiled once here, the project's modules are not
    # compiled again by each of them where PYTHONDONTWRITEBYTECODE is set (it only stops
    # writing: a __pycache__ that is there is read; one out of date is ignored).
    import compileall

    for package in ("station", "sync", "central", "ui"):
        compileall.compile_dir(_ROOT / package, quiet=2)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _turns
    if _turns is not None:
        _turns.close()
        _turns = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Set-up (session fixtures included), call and teardown all happen in the test's turn."""
    if _turns is None:
        return (yield)
    with _turns.turn(alone=item.get_closest_marker("alone") is not None):
        return (yield)


# -- threads --------------------------------------------------------------------------------------
#
# Every thread a test starts must have ended when the test is over: the sync worker, the camera
# threads, the window's task threads, thread pools (sync/pull.py's read-ahead, asyncio's default
# executor, a web server's workers) alike. Library threads are not exempt: an asyncio executor or
# a concurrent.futures pool is shut down by whoever started it (asyncio.run does; leaving a
# `with ThreadPoolExecutor()` block does). The only threads let through are ones that no code of
# this project starts or can stop:
#
# - `pydevd…`: the debugger's reader/writer threads (PyCharm, VS Code). They exist only while a
#   developer debugs a test and are started by the debugger whenever it attaches.
# - Qt's D-Bus connection manager (a QThread named `QDBusConnection…` by Qt): Qt starts it on the
#   first D-Bus use (platform theme, accessibility, multimedia device lists) and keeps it for the
#   life of the QApplication. Python sees it only as a "Dummy-N" thread, when a Python callback
#   such as pytest-qt's Qt message handler runs on it, so it is recognised by the name the
#   kernel has for it (`/proc/self/task/<tid>/comm`), never by the Python name "Dummy-N", which
#   any foreign thread gets.
#
# A "Dummy-N" entry stays in threading.enumerate() (and says is_alive()) after its thread has
# ended; on Linux the kernel's thread list says whether it is still running, and one that has
# ended is no leak.

_NOT_OURS_PYTHON_NAMES = ("pydevd",)
_NOT_OURS_OS_NAMES = ("QDBusConnection",)
_TASKS = Path("/proc/self/task")


def _os_thread_name(thread: threading.Thread) -> str | None:
    """The kernel's name of a thread of this process; None when it has ended (or unknown)."""
    try:
        return (_TASKS / str(thread.native_id) / "comm").read_text().strip()
    except OSError:
        return None


def _is_running(thread: threading.Thread) -> bool:
    if isinstance(thread, threading._DummyThread) and _TASKS.is_dir():  # type: ignore[attr-defined]
        return _os_thread_name(thread) is not None
    return thread.is_alive()


def _is_ours(thread: threading.Thread) -> bool:
    if thread.name.startswith(_NOT_OURS_PYTHON_NAMES):
        return False
    if isinstance(thread, threading._DummyThread):  # type: ignore[attr-defined]
        return not (_os_thread_name(thread) or "").startswith(_NOT_OURS_OS_NAMES)
    return True


def _describe_thread(thread: threading.Thread) -> str:
    if isinstance(thread, threading._DummyThread):  # type: ignore[attr-defined]
        return f"{thread.name} (a thread not started by Python, named {_os_thread_name(thread)!r})"
    return thread.name


def _forget_ended_foreign_threads() -> None:
    # Python keeps a "Dummy-N" entry under the thread's ident after the thread has ended, and
    # idents are reused: a new foreign thread would find the old entry (with the old kernel id)
    # and go unnoticed. Entries whose kernel thread is gone are dropped, so that a new one
    # registers itself afresh.
    if not _TASKS.is_dir():
        return
    with threading._active_limbo_lock:  # type: ignore[attr-defined]
        for ident, t in list(threading._active.items()):  # type: ignore[attr-defined]
            if isinstance(t, threading._DummyThread) and _os_thread_name(t) is None:  # type: ignore[attr-defined]
                del threading._active[ident]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _no_thread_left_running() -> Iterator[None]:
    """A test that leaves one of its threads running fails (napari's habit)."""
    _forget_ended_foreign_threads()
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate()
                if t not in before and _is_ours(t) and _is_running(t)]
    deadline = time.monotonic() + 5  # one that is ending anyway gets the time to end
    for t in leftover:
        if isinstance(t, threading._DummyThread):  # type: ignore[attr-defined]
            while _is_running(t) and time.monotonic() < deadline:
                threading.Event().wait(0.01)  # not ours to join: watch the kernel's list
        else:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
    still = [_describe_thread(t) for t in leftover if _is_running(t)]
    assert not still, f"threads left running after the test: {still}"


# -- Qt timers ------------------------------------------------------------------------------------
#
# A QTimer still running after a test fires into the next one (a status refresh on a closed
# store, a debounce on a deleted screen). After every test that had a QApplication, each QTimer
# that Python code created (shiboken6.createdByPython: our code, a test, pytest-qt) and that is
# still active fails the test, unless it was already running before the test began. Qt's own
# timers (created in C++, e.g. QProgressDialog's) are never counted, even when a findChildren()
# gave them a Python wrapper. A pending QTimer.singleShot(ms, callable) is a Python-created timer
# too, so a callback left waiting is caught as well.
#
# Before judging, what the test's teardown asked for is finished: widgets closed with
# deleteLater() (pytest-qt does that for qtbot.addWidget) are deleted, unreachable Python
# wrappers are collected (which deletes the Qt objects they own), and one pass of the event loop
# runs the zero-delay callbacks already due. Only what survives all that is a leak.


def _qt_loaded() -> bool:
    if "PySide6.QtCore" not in sys.modules:
        return False  # a core test: no Qt imported, no timer possible
    from PySide6.QtCore import QCoreApplication

    return QCoreApplication.instance() is not None


def _active_python_timers() -> list[Any]:
    import shiboken6
    from PySide6.QtCore import QTimer

    return [
        w for w in shiboken6.getAllValidWrappers()
        if isinstance(w, QTimer) and shiboken6.isValid(w) and shiboken6.createdByPython(w)
        and w.isActive()
    ]


def _finish_teardown_work() -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def _describe_timer(timer: Any) -> str:
    owners = []
    obj = timer.parent()
    while obj is not None:
        owners.append(type(obj).__name__ + (f"({obj.objectName()!r})" if obj.objectName() else ""))
        obj = obj.parent()
    kind = "single-shot" if timer.isSingleShot() else "repeating"
    where = " in " + " < ".join(owners) if owners else " with no parent (e.g. a singleShot)"
    name = f" {timer.objectName()!r}" if timer.objectName() else ""
    return f"{kind} QTimer{name} of {timer.interval()} ms{where}"


@pytest.fixture(autouse=True)
def _no_qt_timer_left_running() -> Iterator[None]:
    before = [weakref.ref(t) for t in _active_python_timers()] if _qt_loaded() else []
    yield
    if not _qt_loaded():
        return
    running_before = {id(r()) for r in before if r() is not None}
    leftover = [t for t in _active_python_timers() if id(t) not in running_before]
    if leftover:
        del leftover
        _finish_teardown_work()
        leftover = [t for t in _active_python_timers() if id(t) not in running_before]
    described = [_describe_timer(t) for t in leftover]
    for t in leftover:
        t.stop()  # so that it cannot fire into the next test
    assert not described, f"Qt timers left running after the test: {described}"
