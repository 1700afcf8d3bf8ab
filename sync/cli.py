"""`tracetrack-station sync`: push the queue and pull the centre's changes from the command line.

`--once` runs one pass and exits (status 0 when the centre acknowledged everything it was sent);
without it the worker keeps running until interrupted. `--json` prints one summary object per run.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from station.cli import EXIT_OK, CommandError, Output, common_options, open_store
from station.secrets import SecretError, SecretStore, join_secret, split_secret
from station.store.local import LocalStore
from sync.errors import SyncError
from sync.transport import make_transport, redact
from sync.worker import SyncListener, SyncSummary, SyncWorker

EXIT_SYNC = 6  # the centre could not be reached, or refused the station


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sync", help="send queued scans to the centre and fetch its changes",
        description="Send queued scans to the centre and fetch its changes.",
    )
    common_options(p, top=False)
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--central", metavar="URL",
                   help="connect this station to a centre first (postgresql://ROLE:PASSWORD@HOST/DB; "
                        "the password goes to the keyring or a user-only file)")
    p.add_argument("--interval", type=float, default=15.0, metavar="S",
                   help="seconds between pulls when idle (default 15)")
    p.add_argument("--batch", type=int, default=500, metavar="N", help="events per batch (max 500)")
    p.add_argument("--no-pull", action="store_true", help="only send, do not fetch changes")
    p.set_defaults(handler=cmd_sync)


def connect_station(store: LocalStore, url: str) -> str:
    """Save a centre URL: the URL without its password to the settings, the password aside."""
    settings = store.settings()
    clean, secret = split_secret(url)
    secrets = SecretStore(store.paths)
    if secret is not None:
        secrets.set(settings.station_id, secret)
    store.save_settings(settings.replace(central_url=clean))
    return clean


def central_url_of(store: LocalStore) -> str:
    settings = store.settings()
    if not settings.central_url:
        raise CommandError(
            f"Station {settings.station_id} is not connected to a centre: run "
            "tracetrack-station sync --central postgresql://ROLE:PASSWORD@HOST/DB", EXIT_SYNC,
        )
    try:
        secret = SecretStore(store.paths).get(settings.station_id)
    except SecretError as exc:
        raise CommandError(exc.message, EXIT_SYNC) from exc
    return join_secret(settings.central_url, secret)


def summary_text(s: SyncSummary) -> str:
    text = (f"{s.state}: sent {s.sent} (applied {s.applied}, duplicate {s.duplicate}, "
            f"rejected {s.rejected}), pulled {s.pulled}, pending {s.pending}")
    if s.converged is False:
        text += "; station and centre disagreed: resending"
    if s.error:
        text += f"\n  {s.error}"
    return text


class _Printer(SyncListener):
    def __init__(self, out: Output) -> None:
        self.out = out
        self.lock = threading.Lock()

    def run_finished(self, summary: SyncSummary) -> None:
        with self.lock:
            self.out.emit(summary.to_json(), summary_text(summary))


def cmd_sync(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    try:
        if args.central:
            clean = connect_station(store, args.central)
            if not args.json:
                out.stream.write(f"Connected to {clean}\n")
        url = central_url_of(store)
        sid = store.settings().station_id
        try:
            make_transport(url, sid).close()  # a bad URL scheme is refused here, before any thread
        except SyncError as exc:
            raise CommandError(exc.message, EXIT_SYNC) from exc
        printer = _Printer(out)
        worker = SyncWorker(
            store, lambda: make_transport(url, sid), listener=printer,
            max_batch_events=max(1, min(args.batch, 500)), interval_s=args.interval,
            pull=not args.no_pull,
        )
        if args.once:
            try:
                summary = worker.run_once()
            finally:
                worker.close()
            return EXIT_OK if summary.error is None else EXIT_SYNC
        return _run_forever(worker, url)
    finally:
        store.close()


def _run_forever(worker: SyncWorker, url: str) -> int:
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: Any) -> None:
        stop.set()

    old_term = signal.signal(signal.SIGTERM, _on_signal)
    worker.start()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        signal.signal(signal.SIGTERM, old_term)
    return EXIT_OK


__all__ = ["EXIT_SYNC", "central_url_of", "cmd_sync", "connect_station", "redact", "register"]
