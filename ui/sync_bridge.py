"""Thin Qt bridge over the sync worker: starts and stops it, turns its callbacks (worker thread)
into signals, and keeps the status bar's centre label and figures up to date (docs/sync.md §15).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from station.service import StationService
from station.settings import StationSettings
from sync.cli import transport_factory
from sync.transport import Transport
from sync.worker import CLOCK_SKEW_WARN_S, SyncListener, SyncStatus, SyncSummary, SyncWorker
from ui.host import ScreenHost
from ui.status_bar import StationStatusBar

log = logging.getLogger(__name__)

WINDOW_PULL_PAGE_ROWS = 5000  # rows of a first-download page the window's sync asks for
WINDOW_PULL_WRITE_ROWS = 1000  # rows written to the store in one transaction


class _Relay(SyncListener):
    """Runs on the worker thread: only emits signals (queued into the GUI thread)."""

    def __init__(self, bridge: SyncBridge) -> None:
        self.bridge = bridge

    def status_changed(self, status: SyncStatus) -> None:
        self.bridge.sync_state_changed.emit(status)

    def run_finished(self, summary: SyncSummary) -> None:
        self.bridge.sync_run_finished.emit(summary)


class SyncBridge(QObject):
    sync_state_changed = Signal(object)  # SyncStatus
    sync_run_finished = Signal(object)  # SyncSummary
    issues_changed = Signal()  # new rejections arrived (the sync issues screen reloads)
    settings_from_centre = Signal(object)  # StationSettings the centre set, now in the store

    def __init__(self, host: ScreenHost, status_panel: StationStatusBar | None = None,
                 transport_factory: Callable[[], Transport] | None = None,
                 parent: QObject | None = None, **worker_options: Any) -> None:
        super().__init__(parent)
        self.host = host
        self.status_panel = status_panel
        self.worker: SyncWorker | None = None
        self.last_status: SyncStatus | None = None
        self.last_summary: SyncSummary | None = None
        self.problem: str | None = None
        self.skew_message: str | None = None
        self._transport_factory = transport_factory
        # The window's first download: pages the worker parses in a moment (the parse holds the
        # GIL, so the GUI thread waits for it) and writes in short transactions (a scan waits
        # for the store's write lock).
        self._worker_options = {"pull_bootstrap_limit": WINDOW_PULL_PAGE_ROWS,
                                "pull_write_rows": WINDOW_PULL_WRITE_ROWS, **worker_options}
        self.sync_state_changed.connect(self._on_worker_state_changed)
        self.sync_run_finished.connect(self._on_worker_run_finished)
        host.scan_recorded.connect(self._on_window_scan_recorded)

    # -- control (GUI thread) -------------------------------------------------------------------

    def start(self, made: Callable[[], Transport] | None = None) -> bool:
        """Start syncing when the station is connected to a centre; False when it is not.
        `made`: the connection's transport factory, already read (off the GUI thread)."""
        if self.worker is not None:
            return True
        factory = made or self._transport_factory
        store = self.host.store
        if factory is None:
            if not self.host.settings.central_url:
                self.problem = "this station is not connected to a centre"
                return False
            try:
                factory = transport_factory(store)
            except Exception as exc:  # shown in the status bar, never fatal
                self.problem = getattr(exc, "message", str(exc))
                if self.status_panel is not None:
                    self.status_panel.set_sync_problem(self.problem)
                return False
        self.problem = None
        if self.status_panel is not None:
            self.status_panel.set_sync_problem(None)
        self.worker = SyncWorker(store, factory, listener=_Relay(self), **self._worker_options)
        _freeze_heap(self)
        self.worker.start()
        return True

    def reconnect(self, made: Callable[[], Transport] | None = None) -> bool:
        """The centre's address or the token changed: the worker uses them from its next run.
        `made`: their transport factory, already read on the task thread (reading the token may
        wait on the system keyring, which the GUI thread must not)."""
        if self.worker is None:
            return self.start(made)
        try:
            factory = made or transport_factory(self.host.store)
        except Exception as exc:  # shown, never fatal
            self.problem = getattr(exc, "message", str(exc))
            return False
        self.worker.use_transport(factory)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker: at most `timeout` seconds of waiting for a request in flight (it
        ends on its own; a batch whose answer did not come stays pending and is sent again)."""
        if self.worker is not None:
            self.worker.stop(timeout)
            self.worker = None
        _unfreeze_heap(self)

    def sync_now(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    # -- slots --------------------------------------------------------------------------------

    @Slot(object)
    def _on_window_scan_recorded(self, _record: object) -> None:
        # A new event is in the queue: the worker sends it now (unless it is backing off).
        self.sync_now()

    @Slot(object)
    def _on_worker_state_changed(self, status: SyncStatus) -> None:
        self.last_status = status
        self._show_state(status.state)

    @Slot(object)
    def _on_worker_run_finished(self, summary: SyncSummary) -> None:
        self.last_summary = summary
        if summary.rejected:
            self.issues_changed.emit()
        if summary.pulled or summary.settings_changed:
            # Bag types or settings may have come with the pull: the window's service re-reads,
            # and settings the centre changed take effect in the window at once.
            done = self.settings_from_centre.emit if summary.settings_changed else None
            try:
                self.host.task_runner.submit(_reload_service, done)
            except RuntimeError:
                pass  # the window is closing
        panel = self.status_panel
        if panel is not None:
            self._show_skew(panel, summary.clock_skew_s)
            panel.refresh_status()
        if summary.notice:
            # what the worker had to say once (settings from the centre refused, the queue
            # renumbered, another centre): in the key bar, on every screen
            self.host.notify("warning" if "NOT" in summary.notice else "info", summary.notice)

    def _show_skew(self, panel: StationStatusBar, skew: float | None) -> None:
        # Server order decides conflicts, never device clocks: a skew is a warning only.
        if skew is not None and abs(skew) > CLOCK_SKEW_WARN_S:
            way = "ahead of" if skew > 0 else "behind"
            self.skew_message = (f"This computer's clock is {abs(skew) / 60:.0f} min {way} the "
                                 "centre's: scanning continues; ask an admin to set the clock")
            panel.showMessage(self.skew_message)
        elif self.skew_message is not None:
            panel.clearMessage()
            self.skew_message = None

    def _show_state(self, state: str) -> None:
        panel = self.status_panel
        if panel is None:
            return
        panel.set_centre_state(state)
        panel.refresh_soon()  # counts from the store, several state changes share one read


# The worker's threads allocate a great deal (every batch and every pulled page is JSON made into
# dicts), and that triggers the collector's full passes on whichever thread allocates. A full
# pass holds the GIL while it walks every tracked object: with the ~160 000 of the window's
# process (modules, classes, Qt wrappers) that was 0.2-0.4 s on 2 cores, each a moment the GUI
# thread could not run (tests/ui/test_sync_responsiveness.py: every event-loop gap over 0.15 s
# while a 100 000-event backlog drained was one; 2-7 ms with the freeze).
# While the worker runs, what existed when it started is frozen out of the collector's reach
# (gc.freeze): a full pass then walks only what came since, a few ms. Unfrozen when it stops, so
# anything of those that has become garbage since is collected as usual.
_frozen_by: SyncBridge | None = None


def _freeze_heap(bridge: SyncBridge) -> None:
    global _frozen_by
    if _frozen_by is None:
        gc.freeze()
        _frozen_by = bridge


def _unfreeze_heap(bridge: SyncBridge) -> None:
    global _frozen_by
    if _frozen_by is bridge:
        gc.unfreeze()
        _frozen_by = None


def _reload_service(service: StationService) -> StationSettings:
    service.reload()
    if service.conn.in_transaction():
        service.conn.rollback()
    return service.store.settings()
