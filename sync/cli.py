"""`tracetrack-station sync`: push the queue and pull the centre's changes from the command line.

`--once` runs one pass and exits (status 0 when the centre acknowledged everything it was sent);
without it the worker keeps running until interrupted. `--json` prints one summary object per run.
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Callable
from typing import Any

from station.centre import (
    CentreSettingError,
    check_ca_file,
    check_central_url,
    read_token,
    save_connection,
    stored_token,
)
from station.cli import (
    EXIT_OK,
    EXIT_STORE,
    CommandError,
    Output,
    OutputFailed,
    common_options,
    open_store,
    register_doctor_check,
)
from station.secrets import SecretError
from station.store.local import LocalStore
from sync.errors import SyncError
from sync.transport import HttpTransport, NotACentralUrl, Transport, make_transport, redact
from sync.worker import SyncListener, SyncSummary, SyncWorker

EXIT_SYNC = 6  # the centre could not be reached, or refused the station


MAX_INTERVAL_S = 86400.0  # a day; a wait the worker's timer can take


def _interval(text: str) -> float:
    """--interval: seconds above 0 (0, negative or nan would ask the centre again at once,
    forever; inf cannot be waited for)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= MAX_INTERVAL_S:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds above 0 and at most {MAX_INTERVAL_S:g}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sync", help="send queued scans to the centre and fetch its changes",
        description="Send queued scans to the centre and fetch its changes.",
    )
    common_options(p, top=False)
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--central", metavar="URL",
                   help="connect this station to a centre first: the sync service's https:// "
                        "address; the token comes from $TRACETRACK_CENTRAL_TOKEN or a prompt "
                        "and goes to the keyring or a user-only file")
    p.add_argument("--ca-file", metavar="FILE",
                   help="certificate authority of a centre with its own CA (kept as a setting)")
    p.add_argument("--interval", type=_interval, default=15.0, metavar="S",
                   help="seconds between pulls when idle (default 15; above 0, at most "
                        f"{MAX_INTERVAL_S:g})")
    p.add_argument("--batch", type=int, default=500, metavar="N", help="events per batch (max 500)")
    p.add_argument("--no-pull", action="store_true", help="only send, do not fetch changes")
    p.set_defaults(handler=cmd_sync)


def try_centre(url: str, token: str, station_id: str, ca_file: str | None = None) -> dict[str, Any]:
    """Ask the centre who the token belongs to; a SyncError says plainly what went wrong."""
    transport = HttpTransport(check_central_url(url), token, station_id=station_id,
                              ca_file=ca_file or None, read_timeout=15.0)
    try:
        who = transport.whoami()
    finally:
        transport.close()
    if who.get("station_id") != station_id:
        raise SyncError(
            f"That token belongs to station {who.get('station_id')}, not to this station "
            f"({station_id}): check the token the administrator gave for {station_id}")
    return who


def connect_station(store: LocalStore, url: str, token: str, ca_file: str | None = None,
                    *, check: bool = True) -> str:
    """Try the centre with the token (unless check=False), then keep the address and token."""
    sid = store.settings().station_id
    if check:
        try_centre(url, token, sid, check_ca_file(ca_file) or None)
    return save_connection(store, url, token, ca_file)


def transport_factory(store: LocalStore) -> Callable[[], Transport]:
    """What the worker calls to (re)connect: the stored address, token and CA file, read now."""
    settings = store.settings()
    sid = settings.station_id
    if not settings.central_url:
        raise CommandError(
            f"Station {sid} is not connected to a centre: run "
            "tracetrack-station sync --central https://HOST (token from TRACETRACK_CENTRAL_TOKEN)",
            EXIT_SYNC,
        )
    try:
        token = stored_token(store)
    except SecretError as exc:
        raise CommandError(exc.message, EXIT_SYNC) from exc
    url, ca = settings.central_url, settings.central_ca_file or None
    return lambda: make_transport(url, token, station_id=sid, ca_file=ca)


def summary_text(s: SyncSummary) -> str:
    text = (f"{s.state}: sent {s.sent} (applied {s.applied}, duplicate {s.duplicate}, "
            f"rejected {s.rejected}), pulled {s.pulled}, pending {s.pending}")
    if s.notice:
        text += f"\n  {s.notice}"
    if s.converged is False:
        text += "; station and centre disagreed: resending"
    if s.error:
        text += f"\n  {s.error}"
    return text


class _Printer(SyncListener):
    """Prints each run's summary. An output that is gone (its reader closed the pipe, its disk
    is full) is kept in `failed` and `gone` is set, never raised on the worker's thread (which
    would end the thread and leave the command running, syncing nothing): the command stops
    and main() says it."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.gone = threading.Event()
        self.failed: BaseException | None = None

    def run_finished(self, summary: SyncSummary) -> None:
        with self.lock:
            if self.gone.is_set():
                return
            try:
                self.out.emit(summary.to_json(), summary_text(summary))
            except (OutputFailed, BrokenPipeError) as exc:
                self.failed = exc
                self.gone.set()

    def raise_failed(self) -> None:
        if self.failed is not None:
            raise self.failed


def cmd_sync(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    try:
        if args.central:
            try:
                token = read_token()
                clean = connect_station(store, args.central, token, args.ca_file)
            except (CentreSettingError, SyncError) as exc:
                raise CommandError(exc.message, EXIT_SYNC) from exc
            except SecretError as exc:  # the token file others can read (or cannot be read)
                raise CommandError(exc.message, EXIT_STORE) from exc
            except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the token prompt
                raise CommandError("No station token given: nothing was changed",
                                   EXIT_SYNC) from None
            if not args.json:
                out.write(f"Connected to {clean}\n")
        elif args.ca_file:
            try:
                store.save_settings(store.settings().replace(
                    central_ca_file=check_ca_file(args.ca_file)))
            except CentreSettingError as exc:
                raise CommandError(exc.message, EXIT_SYNC) from exc
        factory = transport_factory(store)
        try:
            factory().close()  # a bad address or a missing token is refused here, before any thread
        except SyncError as exc:
            raise CommandError(exc.message, EXIT_SYNC) from exc
        printer = _Printer(out)
        worker = SyncWorker(
            store, factory, listener=printer,
            max_batch_events=max(1, min(args.batch, 500)), interval_s=args.interval,
            pull=not args.no_pull,
        )
        if args.once:
            try:
                summary = worker.run_once()
            finally:
                worker.close()
            printer.raise_failed()
            return EXIT_OK if summary.error is None else EXIT_SYNC
        status = _run_forever(worker, printer.gone)
        printer.raise_failed()
        return status
    finally:
        store.close()


def _run_forever(worker: SyncWorker, stop: threading.Event) -> int:
    """Run the worker until SIGTERM, Ctrl-C or `stop` (set by the printer when the output is
    gone)."""

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


def doctor_centre(paths: Any) -> dict[str, Any]:
    """`doctor`'s centre check: when the station is connected, ask the centre who the stored
    token belongs to (GET /v1/whoami, short timeouts) and say whether it answered."""
    from station.cli import problem
    from station.errors import StationError
    from station.store import db

    if not paths.store.exists():
        return {}  # doctor says there is no station
    try:
        store = LocalStore(paths, db.open_engine(paths.store, create=False))
    except StationError:
        return {}  # doctor reports the store itself
    try:
        settings = store.settings()
        url, sid = settings.central_url, settings.station_id
        if not url:
            return {"centre": "not configured (this station works alone)"}
        where = f"The centre at {redact(url)}"
        try:
            token = stored_token(store)
            if not token:
                raise SyncError(f"no token is stored for station {sid}: connect again with "
                                "tracetrack-station sync --central URL")
            transport = HttpTransport(check_central_url(url), token, station_id=sid,
                                      ca_file=settings.central_ca_file or None,
                                      connect_timeout=5.0, read_timeout=10.0)
            try:
                who = transport.whoami()
            finally:
                transport.close()
        except (SyncError, CentreSettingError, SecretError) as exc:
            return {"centre": f"{redact(url)}: NOT reachable",
                    "problems": [problem(EXIT_SYNC, f"{where} cannot be used: {exc.message}")]}
        if who.get("station_id") != sid:
            return {"centre": f"{redact(url)}: reachable, but the token is another station's",
                    "problems": [problem(EXIT_SYNC, f"{where} knows this token as station "
                                         f"{who.get('station_id')}, not {sid}: ask the "
                                         "central administrator for this station's token")]}
        return {"centre": f"{redact(url)}: reachable, knows this station ({sid})"}
    finally:
        store.close()


register_doctor_check(doctor_centre)


__all__ = ["EXIT_SYNC", "NotACentralUrl", "cmd_sync", "connect_station", "doctor_centre",
           "redact", "register", "transport_factory", "try_centre"]
