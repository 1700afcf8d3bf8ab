"""One worker thread that owns the StationService: every store operation of the window runs here.

`submit(fn, on_done, on_error)` queues `fn(service)`; tasks run one at a time in submission
order and their results come back on the GUI thread, in the same order. The service and its
SQLAlchemy connection are created, used and closed on the worker thread only.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from station.service import StationService

log = logging.getLogger(__name__)

T = TypeVar("T")

_STOP = object()


@dataclass(frozen=True)
class TaskError:
    """What on_error receives: the exception and its formatted traceback."""

    exception: BaseException
    traceback: str

    @property
    def message(self) -> str:
        msg = getattr(self.exception, "message", None)
        return str(msg) if msg else f"{type(self.exception).__name__}: {self.exception}"


def _default_on_error(err: TaskError) -> None:
    log.error("background task failed: %s\n%s", err.message, err.traceback)


class TaskRunner(QObject):
    """FIFO executor on one plain Python thread; results delivered on the GUI thread."""

    # (task id, (ok, value)) from the worker thread into the GUI thread (queued connection).
    # No bool argument: PySide6 miscounts references of bools sent through queued signals.
    _task_finished = Signal(int, object)

    def __init__(
        self,
        make_service: Callable[[], StationService],
        parent: QObject | None = None,
        *,
        name: str = "station-tasks",
    ) -> None:
        super().__init__(parent)
        self._make_service = make_service
        self._queue: queue.Queue[Any] = queue.Queue()
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None, Callable[[TaskError], None]]] = {}
        self._ids = itertools.count(1)
        self._stopped = False
        self._idle = threading.Event()
        self._idle.set()
        self._task_finished.connect(self._on_worker_task_finished)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- GUI thread -----------------------------------------------------------------------

    def submit(
        self,
        fn: Callable[[StationService], T],
        on_done: Callable[[T], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
    ) -> int:
        """Queue fn(service); on_done(result) or on_error(TaskError) runs later on the GUI thread."""
        if self._stopped:
            raise RuntimeError("the task runner is stopped")
        task_id = next(self._ids)
        self._callbacks[task_id] = (on_done, on_error or _default_on_error)
        self._idle.clear()
        self._queue.put((task_id, fn))
        return task_id

    @property
    def pending(self) -> int:
        """Tasks submitted whose callbacks have not run yet."""
        return len(self._callbacks)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued tasks, close the service, join the thread. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("task runner did not stop within %.0f s", timeout)
        # Results that arrived after the window stopped listening are dropped on purpose.
        self._callbacks.clear()

    @Slot(int, object)
    def _on_worker_task_finished(self, task_id: int, outcome: tuple[bool, Any]) -> None:
        ok, value = outcome
        callbacks = self._callbacks.pop(task_id, None)
        if callbacks is None:
            return
        on_done, on_error = callbacks
        if ok:
            if on_done is not None:
                on_done(value)
        else:
            assert isinstance(value, TaskError)
            on_error(value)

    # -- worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            service = self._make_service()
        except Exception as exc:  # shown by the window: the store could not be opened
            err = TaskError(exc, traceback.format_exc())
            self._fail_all(err)
            return
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                task_id, fn = item
                try:
                    value = fn(service)
                except Exception as exc:
                    self._task_finished.emit(task_id, (False, TaskError(exc, traceback.format_exc())))
                else:
                    self._task_finished.emit(task_id, (True, value))
                if self._queue.empty():
                    self._idle.set()
        finally:
            try:
                service.close()
            except Exception:  # closing must never keep the thread alive
                log.exception("closing the station service failed")

    def _fail_all(self, err: TaskError) -> None:
        """The service never came up: every task (queued now or later) fails with that error."""
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self._task_finished.emit(item[0], (False, err))

    def wait_idle(self, timeout: float) -> bool:
        """For tests and benchmarks only: block until the worker has run everything queued."""
        return self._idle.wait(timeout)
