"""TaskRunner: one worker thread owns the service; FIFO; results on the GUI thread; clean stop."""

from __future__ import annotations

import threading

import pytest

from station.errors import StoreError
from station.service import StationService
from ui.tasks import TaskRunner


@pytest.fixture
def runner(qtbot, store):  # noqa: ANN001, ANN201
    r = TaskRunner(lambda: StationService(store))
    yield r
    r.stop()


def test_tasks_run_in_order_on_one_thread_and_report_on_the_gui_thread(runner, qtbot) -> None:  # noqa: ANN001
    gui = threading.get_ident()
    workers: set[int] = set()
    results: list[tuple[int, int]] = []

    def task(i: int):  # noqa: ANN202
        def work(service: StationService) -> int:
            workers.add(threading.get_ident())
            assert isinstance(service, StationService)
            return i

        return work

    for i in range(50):
        runner.submit(task(i), lambda v: results.append((v, threading.get_ident())))
    qtbot.waitUntil(lambda: len(results) == 50, timeout=5000)
    assert [v for v, _ in results] == list(range(50))
    assert {t for _, t in results} == {gui}
    assert len(workers) == 1 and gui not in workers
    assert runner.pending == 0


def test_errors_reach_on_error_and_the_runner_keeps_going(runner, qtbot) -> None:  # noqa: ANN001
    errors, done = [], []

    def boom(_s: StationService) -> None:
        raise StoreError("The disk holding X is full: this scan was NOT saved")

    runner.submit(boom, done.append, errors.append)
    runner.submit(lambda s: s.station_id, done.append)
    qtbot.waitUntil(lambda: done == ["T1"], timeout=5000)
    assert len(errors) == 1
    assert errors[0].message.startswith("The disk holding X is full")
    assert "StoreError" in errors[0].traceback


def test_stop_runs_queued_work_closes_the_service_and_joins(qtbot, store) -> None:  # noqa: ANN001
    closed = threading.Event()
    ran: list[int] = []

    class Service(StationService):
        def close(self) -> None:
            super().close()
            closed.set()

    r = TaskRunner(lambda: Service(store))
    gate = threading.Event()
    r.submit(lambda s: gate.wait(5))
    for i in range(3):
        r.submit(lambda s, i=i: ran.append(i))
    gate.set()
    r.stop()
    assert ran == [0, 1, 2]  # queued work is not dropped at shutdown
    assert closed.is_set() and not r.running
    with pytest.raises(RuntimeError):
        r.submit(lambda s: None)


def test_a_service_that_cannot_start_fails_every_task(qtbot, store) -> None:  # noqa: ANN001
    def make() -> StationService:
        raise StoreError("The station store X is busy")

    r = TaskRunner(make)
    errors = []
    r.submit(lambda s: 1, None, errors.append)
    r.submit(lambda s: 2, None, errors.append)
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=5000)
    assert all("is busy" in e.message for e in errors)
    r.stop()
