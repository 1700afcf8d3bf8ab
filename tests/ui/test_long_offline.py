"""A station back after a long time offline: while its backlog drains through the real worker
and the real sync service, the window's status bar shows the progress, a pending figure that
comes down batch by batch to "0 pending" with the centre online (the 50 000-scan month itself:
tests/sync/test_long_offline.py)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QTimer

from tests.sync.conftest import _central_template, central_db, central_url  # noqa: F401
from tests.sync.stationkit import central_scalar
from tests.sync.test_long_offline import insert_events, month_of_scans

BACKLOG = 20_000
BATCH = 30  # small batches: the drain lasts long enough for several 400 ms status refreshes
# (6 000 events in batches of 60 drained in about a second here: two figures between)


def _pending(text: str) -> int | None:
    m = re.match(r"(\d+) pending", text)
    return int(m.group(1)) if m else None


@pytest.mark.central
@pytest.mark.slow
def test_status_bar_shows_the_drain_progress(window, qtbot, store, central_db) -> None:  # noqa: F811
    url = central_db.add_station("T1")
    insert_events(store.paths.store, month_of_scans("T1", BACKLOG))
    panel = window.status_panel
    # the month's backlog is on screen before the centre is reachable again
    panel.refresh_status()
    qtbot.waitUntil(lambda: _pending(panel.pending_label.text()) == BACKLOG, timeout=10_000)
    seen: list[str] = []

    def sample() -> None:
        text = panel.pending_label.text()
        if not seen or seen[-1] != text:
            seen.append(text)

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(sample)
    timer.start()
    bridge = window.attach_sync(lambda: url.transport(), max_batch_events=BATCH, pull=False,
                                backoff_base_s=0.05, backoff_cap_s=0.5, interval_s=30)
    try:
        qtbot.waitUntil(lambda: panel.pending_label.text() == "0 pending"
                        and panel.centre_label.text() == "centre: online", timeout=120_000)
        # what the label shows at the end, whether or not a 10 ms tick came after the last
        # change before the wait saw it (the timer is late on a busy machine)
        sample()
    finally:
        timer.stop()
        bridge.stop()
    figures = [f for t in seen if (f := _pending(t)) is not None]
    assert figures[0] == BACKLOG, seen
    assert figures[-1] == 0
    during = [f for f in figures if 0 < f < BACKLOG]
    # the figure came down while draining, never up, and the operator saw it move
    assert figures == sorted(figures, reverse=True), seen
    assert len(during) >= 3, seen
    # with how long the oldest scan has waited (the month's first scan: days)
    assert any(re.search(r"pending \(oldest \d+ d \d+ h\)", t) for t in seen), seen
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_events") == BACKLOG
