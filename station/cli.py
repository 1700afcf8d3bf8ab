"""`tracetrack-station` commands that need no Qt: init, scan, bill, show, export-events, doctor.

Other packages add their own sub-commands through `register` functions (see ui/cli.py, which
composes them): each takes the sub-parsers object and adds parsers whose default `handler` is
`fn(args, out) -> int`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from station import APP_VERSION
from station.errors import LoginFailed, NoStation, StationError, StoreError
from station.paths import StationPaths, resolve
from station.service import OpResult, StationService
from station.store.local import LocalStore

PASSWORD_ENV = "TRACETRACK_PASSWORD"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_LOGIN = 3
EXIT_NO_STATION = 4
EXIT_STORE = 5

Registrar = Callable[[Any], None]


@dataclass
class Output:
    """Human text, or one JSON object per line with --json."""

    json: bool
    stream: TextIO = sys.stdout

    def emit(self, obj: dict[str, Any], text: str) -> None:
        if self.json:
            self.stream.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def error(self, message: str) -> None:
        if self.json:
            self.stream.write(json.dumps({"error": message}, ensure_ascii=False) + "\n")
            self.stream.flush()
        sys.stderr.write(message + "\n")


class CommandError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Sub-parsers use SUPPRESS so an option given before the sub-command is not reset after it.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument("--basedir", default=default,
                        help="keep everything in this folder (default: platform folders; "
                             "env TRACETRACK_BASEDIR)")
    parser.add_argument("--json", action="store_true",
                        default=False if top else argparse.SUPPRESS,
                        help="print one JSON object per line")


def operator_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: `--as` may stand before or after a nested action (`bill --as U add ...`).
    parser.add_argument("--as", dest="as_user", default=argparse.SUPPRESS, metavar="USER",
                        help=f"operator name, required (password from {PASSWORD_ENV} or a prompt)")


def open_store(args: argparse.Namespace, *, create: bool = False) -> LocalStore:
    paths = resolve(args.basedir)
    try:
        return LocalStore.open(paths, create=create)
    except NoStation as exc:
        raise CommandError(exc.message, EXIT_NO_STATION) from exc
    except StoreError as exc:
        raise CommandError(exc.message, EXIT_STORE) from exc


def read_password(user: str) -> str:
    pw = os.environ.get(PASSWORD_ENV)
    if pw is not None:
        return pw
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError(
            f"No password for {user}: set {PASSWORD_ENV} or run the command in a terminal",
            EXIT_LOGIN,
        )
    return getpass.getpass(f"Password for {user}: ")


def logged_in_service(args: argparse.Namespace) -> StationService:
    if not getattr(args, "as_user", None):
        raise CommandError(f"{args.command} changes data: say who you are with --as USER",
                           EXIT_USAGE)
    store = open_store(args)
    service = StationService(store)
    try:
        service.login(args.as_user, read_password(args.as_user))
    except LoginFailed as exc:
        service.close()
        store.close()
        raise CommandError(f"Login failed: {exc.message}", EXIT_LOGIN) from exc
    return service


def result_text(r: OpResult) -> str:
    mark = {"accepted": "OK  ", "warning": "WARN", "refused": "NO  "}[str(r.outcome)]
    tail = ""
    if r.parent is not None:
        tail = f"  [current parent {r.parent.code} {r.parent.child_count}/{r.parent.capacity}]"
    return f"{mark} {r.code or '-'}: {r.message}{tail}"


def emit_result(out: Output, r: OpResult, raw: str | None = None) -> None:
    obj = r.to_dict()
    if raw is not None:
        obj["read"] = raw
    out.emit(obj, result_text(r))


# -- commands ---------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from station.centre import CentreSettingError, check_ca_file, check_central_url, read_token
    from station.secrets import SecretError, SecretStore

    # The centre's address goes to the settings; the station's token to the keyring or a
    # user-only file (station/secrets.py), read from the environment or a prompt, never argv.
    central_url = token = ""
    ca_file = ""
    if args.central:
        try:
            central_url = check_central_url(args.central)
            token = read_token()
            ca_file = check_ca_file(args.ca_file)
        except CentreSettingError as exc:
            raise CommandError(exc.message, EXIT_USAGE) from exc
    store = open_store(args, create=True)
    try:
        s = store.init_station(args.station_id, args.area, demo=args.demo,
                               central_url=central_url)
        if token:
            SecretStore(store.paths).set(s.station_id, token)
        if ca_file:
            store.save_settings(store.settings().replace(central_ca_file=ca_file))
    except (StationError, SecretError) as exc:
        raise CommandError(exc.message, EXIT_STORE) from exc
    finally:
        store.close()
    extra = " with demo operators dispatcher, biller, admin (password 'demo')" if args.demo else ""
    out.emit(
        {"station": s.station_id, "area": s.area, "basedir": str(store.paths.data_dir),
         "demo": bool(args.demo)},
        f"Station {s.station_id} (area {s.area}) created in {store.paths.data_dir}{extra}",
    )
    return EXIT_OK


def _reads_from(args: argparse.Namespace) -> Iterable[str]:
    if args.file:
        try:
            fh = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace",
                                                         newline="")
        except OSError as exc:
            raise CommandError(f"Cannot read {args.file}: {exc.strerror}", EXIT_USAGE) from exc
        with fh:
            for line in fh:
                read = line.rstrip("\r\n")
                if read:
                    yield read
    yield from args.codes


def cmd_scan(args: argparse.Namespace, out: Output) -> int:
    if not args.codes and not args.file:
        raise CommandError("scan needs codes or --file F", EXIT_USAGE)
    service = logged_in_service(args)
    try:
        for raw in _reads_from(args):
            try:
                r = service.record_scan(raw, source="file" if args.file else "typed")
            except StoreError as exc:
                raise CommandError(exc.message, EXIT_STORE) from exc
            emit_result(out, r, raw)
    finally:
        service.close()
        service.store.close()
    return EXIT_OK


def cmd_bill(args: argparse.Namespace, out: Output) -> int:
    service = logged_in_service(args)
    try:
        results: list[OpResult]
        if args.bill_cmd == "create":
            results = [service.create_bill(args.bill_id, args.target, args.description or "",
                                           args.destination or "", args.vehicle or "")]
        elif args.bill_cmd == "add":
            results = [service.add_parent_to_bill(args.bill_id, c, "typed") for c in args.codes]
        elif args.bill_cmd == "remove":
            results = [service.remove_parent_from_bill(args.bill_id, args.code)]
        elif args.bill_cmd == "close":
            results = [service.close_bill(args.bill_id, args.reason)]
        else:
            results = [service.reopen_bill(args.bill_id)]
        for r in results:
            emit_result(out, r)
    except StoreError as exc:
        raise CommandError(exc.message, EXIT_STORE) from exc
    finally:
        service.close()
        service.store.close()
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    service = StationService(store)
    try:
        bag = service.lookup_bag(args.code)
        if bag is not None:
            where = []
            if bag.parent:
                where.append(f"in {bag.parent}")
            if bag.bill:
                where.append(f"on bill {bag.bill}")
            text = f"{bag.kind} {bag.code}: {bag.status}"
            if bag.kind == "parent":
                text += f", {bag.child_count} children ({bag.weight_kg:g} kg)"
                if bag.children:
                    text += "\n  children: " + " ".join(bag.children)
            if where:
                text += "\n  " + ", ".join(where)
            out.emit(bag.to_json(), text)
            return EXIT_OK
        bill = service.lookup_bill(args.code)
        if bill is not None:
            text = (
                f"bill {bill.bill_id}: {bill.status}, {bill.linked}/{bill.target} parents, "
                f"{bill.children} children, {bill.actual_kg:g} kg of {bill.expected_kg:g} kg"
            )
            for code, count, cap in bill.parents:
                text += f"\n  {code} {count}/{cap}" + ("  (incomplete)" if count < cap else "")
            out.emit(bill.to_json(), text)
            return EXIT_OK
        out.emit({"code": args.code, "found": False},
                 f"No bag or bill {args.code!r} at station {service.station_id}")
        return EXIT_OK
    finally:
        service.close()
        store.close()


def cmd_export_events(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    service = StationService(store)
    try:
        for ev in service.event_log(args.since):
            # The event log is JSON lines whether or not --json was given.
            out.stream.write(json.dumps(ev, ensure_ascii=False) + "\n")
    finally:
        service.close()
        store.close()
    return EXIT_OK


DOCTOR_CHECKS: list[Callable[[StationPaths], dict[str, Any]]] = []


def cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    from station.store import db

    paths = resolve(args.basedir)
    report: dict[str, Any] = {
        "app_version": APP_VERSION,
        "basedir": str(paths.data_dir),
        "store": str(paths.store),
        "store_exists": paths.store.exists(),
    }
    status = EXIT_OK
    if paths.store.exists():
        try:
            store = LocalStore(paths, db.open_engine(paths.store, create=False))
            with store.engine.connect() as conn:
                report["schema_version"] = db.current_revision(conn)
            problems = db.integrity_check(store.engine)
            report["integrity"] = "ok" if not problems else problems
            settings = store.settings()
            report["station"] = settings.station_id or None
            report["area"] = settings.area or None
            report["centre"] = settings.central_url or "not configured"
            store.close()
            if problems:
                status = EXIT_STORE
        except StoreError as exc:
            report["integrity"] = exc.message
            status = EXIT_STORE
    else:
        report["integrity"] = "no store yet (run init)"
        status = EXIT_NO_STATION
    for check in DOCTOR_CHECKS:
        report.update(check(paths))
    text = "\n".join(f"{k:>15}: {v}" for k, v in report.items())
    out.emit(report, text)
    return status


def build_parser(registrars: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracetrack-station",
        description="TraceTrack scanning station. With no command, opens the station window.",
    )
    common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        common_options(p, top=False)
        p.set_defaults(handler=handler)
        return p

    p = add("init", cmd_init, "create a station in the store")
    p.add_argument("--station-id", required=True)
    p.add_argument("--area", required=True)
    p.add_argument("--demo", action="store_true", help="add demo operators and bag types")
    p.add_argument("--central", default=None, metavar="URL",
                   help="the centre's sync service address, https://... (token from "
                        "$TRACETRACK_CENTRAL_TOKEN or a prompt; see sync)")
    p.add_argument("--ca-file", metavar="FILE",
                   help="certificate authority of a centre with its own CA")

    p = add("scan", cmd_scan, "feed codes exactly as a scanner would, one result per code")
    operator_option(p)
    p.add_argument("codes", nargs="*")
    p.add_argument("--file", help="a file of reads, one per line ('-' for standard input)")

    p = add("bill", cmd_bill, "create and load bills")
    operator_option(p)
    bsub = p.add_subparsers(dest="bill_cmd", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        b = bsub.add_parser(name, help=help_text, description=help_text)
        common_options(b, top=False)
        operator_option(b)
        return b

    b = action("create", "create a bill")
    b.add_argument("bill_id")
    b.add_argument("--target", type=int, required=True, help="number of parent bags (1-500)")
    b.add_argument("--description")
    b.add_argument("--destination")
    b.add_argument("--vehicle")
    b = action("add", "add parent bags to a bill")
    b.add_argument("bill_id")
    b.add_argument("codes", nargs="+")
    b = action("remove", "remove a parent bag from a bill")
    b.add_argument("bill_id")
    b.add_argument("code")
    b = action("close", "close a bill (a reason is needed when short)")
    b.add_argument("bill_id")
    b.add_argument("--reason")
    b = action("reopen", "reopen a closed bill (admin)")
    b.add_argument("bill_id")

    p = add("show", cmd_show, "show a bag or a bill")
    p.add_argument("code")

    p = add("export-events", cmd_export_events, "print the event log as JSON lines")
    p.add_argument("--since", type=int, default=0, metavar="SEQ")

    add("doctor", cmd_doctor, "check paths, store, schema, decoders and centre")

    for register in registrars:
        register(sub)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    registrars: Sequence[Registrar] = (),
    default_handler: Callable[[argparse.Namespace, Output], int] | None = None,
) -> int:
    parser = build_parser(registrars)
    args = parser.parse_args(argv)
    out = Output(bool(getattr(args, "json", False)))
    handler = getattr(args, "handler", None) or default_handler
    if handler is None:
        out.error("The station window is not available in this build; use a sub-command "
                  "(tracetrack-station --help)")
        return EXIT_USAGE
    try:
        return int(handler(args, out))
    except CommandError as exc:
        out.error(exc.message)
        return exc.status
    except StoreError as exc:
        out.error(exc.message)
        return EXIT_STORE
