"""`tracetrack-station` commands that need no Qt: init, settings, scan, bill, show, export-events,
doctor.

Other packages add their own sub-commands through `register` functions (see ui/cli.py, which
composes them): each takes the sub-parsers object and adds parsers whose default `handler` is
`fn(args, out) -> int`; and their own doctor checks with `register_doctor_check`.

Exit status, the same for every command: 0 everything asked was done (warnings included),
1 something was refused (the refusal is printed with its reason), 2 usage or bad input (a bill
that does not exist, a bad date or id), 3 login or permission, 4 no station, 5 the store cannot
be used, 6 the centre cannot be reached, 7 `init` found a station already set up.
"""

from __future__ import annotations

import argparse
import codecs
import errno
import getpass
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from station import APP_VERSION
from station import vocabulary as vocab
from station.codes import escape_read
from station.errors import LoginFailed, NoStation, StationError, StationExists, StoreError
from station.paths import StationPaths, resolve
from station.service import OpResult, StationService
from station.store.local import LocalStore

PASSWORD_ENV = "TRACETRACK_PASSWORD"

EXIT_OK = 0
EXIT_REFUSED = 1  # something asked was refused (printed with its reason)
EXIT_USAGE = 2  # usage or bad input
EXIT_LOGIN = 3  # login failed, or the operator's role may not do it
EXIT_NO_STATION = 4
EXIT_STORE = 5
EXIT_CENTRE = 6  # the centre cannot be reached (or refuses this station)
EXIT_EXISTS = 7  # init: a station is already set up there (nothing changed)

# Refusals that are a permission (3) or a bad argument (2) rather than a rule (1).
PERMISSION_REASONS = frozenset({"not_allowed"})
BAD_INPUT_REASONS = frozenset({"no_bill", "bad_bill_id", "bad_target", "field_limit"})

Registrar = Callable[[Any], None]


@dataclass
class Output:
    """Human text, or one JSON object per line with --json."""

    json: bool
    stream: TextIO = sys.stdout

    @property
    def ascii_json(self) -> bool:
        """JSON as ASCII (\\u escapes) when the output is not UTF-8 (a file redirect on Windows
        is cp1252): exact either way, and never a character the output cannot take."""
        encoding = getattr(self.stream, "encoding", None) or "utf-8"
        try:
            return codecs.lookup(encoding).name != "utf-8"
        except LookupError:
            return True

    def escape_unencodable(self) -> None:
        """Human text on an output that is not UTF-8: characters it cannot take are shown
        escaped (\\u0141) instead of stopping the command with UnicodeEncodeError."""
        reconfigure = getattr(self.stream, "reconfigure", None)
        if self.ascii_json and reconfigure is not None:
            reconfigure(errors="backslashreplace")

    def emit(self, obj: dict[str, Any], text: str) -> None:
        if self.json:
            self.write(json.dumps(obj, ensure_ascii=self.ascii_json, default=str) + "\n")
        else:
            self.write(text + "\n")

    def write(self, text: str, *, flush: bool = True) -> None:
        """Write (and flush) to the output; OutputFailed when it cannot take it (a full disk),
        BrokenPipeError as it comes when its reader went away."""
        try:
            self.stream.write(text)
            if flush:
                self.stream.flush()
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise
            raise OutputFailed(exc) from exc

    def flush(self) -> None:
        self.write("", flush=True)

    def error(self, message: str) -> None:
        if self.json:
            try:
                self.write(json.dumps({"error": message}, ensure_ascii=self.ascii_json) + "\n")
            except OutputFailed as exc:  # the error is still said, on stderr
                sys.stderr.write(exc.message + "\n")
                _stdout_to_devnull()
        sys.stderr.write(message + "\n")


class OutputFailed(Exception):
    """The command's output cannot be written (a full disk, a device error)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(f"The output of this command cannot be written: {exc.strerror or exc} "
                         "(free some space where it goes)")
        self.message = str(self)


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
    except OSError as exc:  # the data folder cannot be made or opened (a file, no rights)
        where = exc.filename or paths.data_dir
        raise CommandError(f"The data folder {where} cannot be used: "
                           f"{exc.strerror or exc}. Give another one with --basedir",
                           EXIT_STORE) from exc


def read_password(user: str) -> str:
    pw = os.environ.get(PASSWORD_ENV)
    if pw is not None:
        return pw
    if not sys.stdin or not sys.stdin.isatty():
        raise CommandError(
            f"No password for {user}: set {PASSWORD_ENV} or run the command in a terminal",
            EXIT_LOGIN,
        )
    try:
        return getpass.getpass(f"Password for {user}: ")
    except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the prompt
        raise CommandError(f"No password given for {user}: nothing was done", EXIT_LOGIN) from None


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


def _presented(r: OpResult, service: StationService | None) -> vocab.Presented:
    role = service.operator.role if service is not None and service.operator else ""
    centre = bool(service.settings.central_url) if service is not None else True
    return vocab.present(r, role=role, has_centre=centre)


def result_text(r: OpResult, raw: str | None = None,
                service: StationService | None = None) -> str:
    shown = _presented(r, service)
    mark = {"accepted": "OK     ", "warning": "WARNING", "refused": "REFUSED"}.get(
        shown.outcome, "       ")
    what = r.code or (escape_read(raw, 40) if raw is not None else "")
    tail = ""
    if r.parent is not None:
        tail = f"  [current parent {r.parent.code} {r.parent.child_count}/{r.parent.capacity}]"
    return f"{mark} {what + ': ' if what else ''}{shown.message}{tail}"


def emit_result(out: Output, r: OpResult, raw: str | None = None,
                service: StationService | None = None) -> None:
    obj = r.to_dict()
    obj["message"] = _presented(r, service).message
    if raw is not None:
        obj["read"] = raw
    out.emit(obj, result_text(r, raw, service))


def exit_status(results: Iterable[OpResult], *, arguments: bool = False) -> int:
    """0 when every result is accepted or a warning; else 3 for a permission refusal, 2 for a
    refused argument (`arguments`: the bill or code was named on the command line), 1 for a
    refusal by a rule."""
    status = EXIT_OK
    rank = {EXIT_OK: 0, EXIT_REFUSED: 1, EXIT_USAGE: 2, EXIT_LOGIN: 3}
    for r in results:
        if r.ok:
            continue
        if r.reason in PERMISSION_REASONS:
            s = EXIT_LOGIN
        elif arguments and r.reason in BAD_INPUT_REASONS:
            s = EXIT_USAGE
        else:
            s = EXIT_REFUSED
        if rank[s] > rank[status]:
            status = s
    return status


# -- commands ---------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from station.centre import CentreSettingError, check_ca_file, check_central_url, read_token
    from station.secrets import SecretError, SecretStore
    from station.settings import SettingError

    # The centre's address goes to the settings; the station's token to the keyring or a
    # user-only file (station/secrets.py), read from the environment or a prompt, never argv.
    central_url = token = ""
    try:  # a CA file given alone is kept for the centre's address that comes later
        ca_file = check_ca_file(args.ca_file)
    except CentreSettingError as exc:
        raise CommandError(exc.message, EXIT_USAGE) from exc
    if args.central:
        try:
            central_url = check_central_url(args.central)
            token = read_token()
        except CentreSettingError as exc:
            raise CommandError(exc.message, EXIT_USAGE) from exc
        except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the token prompt
            raise CommandError("No station token given: no station was set up",
                               EXIT_USAGE) from None
    store = open_store(args, create=True)
    try:
        secrets = SecretStore(store.paths)
        if token:
            try:  # a token file that cannot be used is said before anything is set up
                secrets.get(args.station_id.strip().upper())
            except SecretError as exc:
                raise CommandError(f"{exc.message} (no station was set up)", EXIT_STORE) from exc
        s = store.init_station(args.station_id, args.area, demo=args.demo,
                               central_url=central_url)
        if token:
            secrets.set(s.station_id, token)
        if ca_file:
            store.save_settings(store.settings().replace(central_ca_file=ca_file))
    except StationExists as exc:
        raise CommandError(exc.message, EXIT_EXISTS) from exc
    except SettingError as exc:  # a station id or area init may not take: bad input
        raise CommandError(exc.message, EXIT_USAGE) from exc
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


def cmd_settings(args: argparse.Namespace, out: Output) -> int:
    """List the settings with what each allows, or set some (admin): all or nothing."""
    from station.rules import Action, check_permission
    from station.settings import SETTINGS, SettingError, validate

    changes: dict[str, str] = {}
    for item in args.assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CommandError(f"settings takes NAME=VALUE, not {item!r}", EXIT_USAGE)
        changes[name.strip()] = value
    if not changes:
        store = open_store(args)
        try:
            current = store.settings()
        finally:
            store.close()
        for name, decl in SETTINGS.items():
            value = getattr(current, name)
            out.emit({"setting": name, "value": value, "default": decl.default,
                      "allowed": decl.allowed, "label": decl.label},
                     f"{name} = {json.dumps(value)}  ({decl.allowed}): {decl.label}")
        return EXIT_OK
    service = logged_in_service(args)
    try:
        op = service.operator
        assert op is not None
        refusal = check_permission(op.role, Action.SETTINGS, op.username)
        if refusal is not None:
            raise CommandError(refusal.message, EXIT_LOGIN)
        before = service.store.settings()
        try:
            new = validate(before, changes)
        except SettingError as exc:
            raise CommandError(f"Settings NOT saved: {exc.message}", EXIT_USAGE) from exc
        service.store.save_settings(new)
    finally:
        service.close()
        service.store.close()
    for name in changes:
        old, value = getattr(before, name), getattr(new, name)
        out.emit({"setting": name, "value": value, "was": old},
                 f"{name} = {json.dumps(value)} (was {json.dumps(old)})")
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
    results = []
    try:
        for raw in _reads_from(args):
            try:
                r = service.record_scan(raw, source="file" if args.file else "typed")
            except StoreError as exc:
                raise CommandError(exc.message, EXIT_STORE) from exc
            results.append(r)
            emit_result(out, r, raw, service)
    finally:
        service.close()
        service.store.close()
    return exit_status(results)


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
            emit_result(out, r, None, service)
    except StoreError as exc:
        raise CommandError(exc.message, EXIT_STORE) from exc
    finally:
        service.close()
        service.store.close()
    return exit_status(results, arguments=True)


def cmd_show(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    service = StationService(store)
    try:
        bag = service.lookup_bag(args.code)
        if bag is not None:
            state = vocab.bag_state(bag.status)
            where = []
            if bag.parent:
                where.append(f"in {bag.parent}")
            if bag.bill:
                where.append(f"on bill {bag.bill}")
            text = f"{bag.kind} {bag.code}: {state}"
            if bag.kind == "parent":
                text += (f", {vocab.count(bag.child_count, 'child', 'children')} "
                         f"({bag.weight_kg:g} kg)")
                if bag.children:
                    text += "\n  children: " + " ".join(bag.children)
            if where:
                text += "\n  " + ", ".join(where)
            obj = bag.to_json()
            obj["status"] = state
            out.emit(obj, text)
            return EXIT_OK
        bill = service.lookup_bill(args.code)
        if bill is not None:
            bstate = vocab.bill_state(bill.status, bill.linked, bill.target)
            short = vocab.shortfall(bill.linked, bill.target, bill.expected_kg, bill.actual_kg)
            state_text = vocab.bill_state_text(bstate, short, bill.closed_reason)
            text = (
                f"bill {bill.bill_id}: {state_text}, {bill.linked}/{bill.target} parent bags, "
                f"{vocab.count(bill.children, 'child', 'children')}, {bill.actual_kg:g} kg of "
                f"{bill.expected_kg:g} kg"
            )
            for code, n, cap in bill.parents:
                text += f"\n  {code} {n}/{cap}" + ("  (incomplete)" if n < cap else "")
            obj = bill.to_json()
            obj["status"] = bstate.value
            obj["shortfall_kg"] = round(short.kg, 3)
            obj["parents_short"] = short.parents if bstate.is_closed else 0
            if bstate is vocab.BillState.CLOSED_SHORT:
                obj["closed_reason"] = bill.closed_reason
            out.emit(obj, text)
            return EXIT_OK
        out.emit({"code": args.code, "found": False},
                 f"No bag or bill {escape_read(args.code)} at station {service.station_id}")
        return EXIT_USAGE
    finally:
        service.close()
        store.close()


def cmd_export_events(args: argparse.Namespace, out: Output) -> int:
    store = open_store(args)
    service = StationService(store)
    try:
        for ev in service.event_log(args.since):
            # The event log is JSON lines whether or not --json was given.
            out.write(json.dumps(ev, ensure_ascii=out.ascii_json) + "\n", flush=False)
        out.flush()  # a reader that went away is noticed here, inside the command
    finally:
        service.close()
        store.close()
    return EXIT_OK


# Checks other packages add to `doctor` (decoders from station/camera, the centre from sync/):
# each takes the station's paths and returns facts to print. A check that finds a problem
# puts it under "problems" as {"status": exit status, "message": what is wrong and what to do};
# doctor then exits with the most basic problem's status (4 before 5 before 6).
DoctorCheck = Callable[[StationPaths], dict[str, Any]]
DOCTOR_CHECKS: list[DoctorCheck] = []

DISK_LOW_BYTES = 200 * 1024 * 1024  # below this, doctor says the disk is nearly full


def register_doctor_check(check: DoctorCheck) -> None:
    """Add a check to `doctor` (once, however often the registering module is imported)."""
    if check not in DOCTOR_CHECKS:
        DOCTOR_CHECKS.append(check)


def problem(status: int, message: str) -> dict[str, Any]:
    return {"status": status, "message": message}


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def _disk(paths: StationPaths) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder = paths.data_dir
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return {"disk_free": f"unknown ({exc.strerror or exc})"}, []
    facts = {"disk_free": f"{_size(free)} free on the disk holding {folder}"}
    if free < DISK_LOW_BYTES:
        return facts, [problem(EXIT_STORE, f"Only {_size(free)} free on the disk holding "
                               f"{folder}: scans are refused when it is full. Free some space")]
    return facts, []


def cmd_doctor(args: argparse.Namespace, out: Output) -> int:
    """Paths, store, schema, pending events, last sync, disk space, then the registered checks
    (decoders, the centre: contacted when the station is connected to one)."""
    from station.status import format_age, read_status
    from station.store import db

    paths = resolve(args.basedir)
    report: dict[str, Any] = {
        "app_version": APP_VERSION,
        "basedir": str(paths.data_dir),
        "store": str(paths.store),
        "store_exists": paths.store.exists(),
    }
    problems: list[dict[str, Any]] = []
    if paths.store.exists():
        try:
            store = LocalStore(paths, db.open_engine(paths.store, create=False))
            try:
                with store.engine.connect() as conn:
                    report["schema_version"] = db.current_revision(conn)
                problems_found = db.integrity_check(store.engine)
                report["integrity"] = "ok" if not problems_found else problems_found
                settings = store.settings()
                report["station"] = settings.station_id or None
                report["area"] = settings.area or None
                report["centre"] = settings.central_url or "not configured"
                with store.engine.connect() as conn:
                    st = read_status(conn)
                report["pending_events"] = st.pending
                report["oldest_pending"] = (format_age(st.oldest_pending_age) + " old"
                                            if st.pending else None)
                report["last_sync"] = (st.last_sync_at.astimezone().strftime("%Y-%m-%d %H:%M")
                                       if st.last_sync_at else "never")
                report["sync_issues"] = st.sync_issues
            finally:
                store.close()
            if problems_found:
                problems.append(problem(EXIT_STORE, f"The store {paths.store} failed its "
                                        "integrity check: restore a backup"))
            elif not report.get("station"):
                problems.append(problem(EXIT_NO_STATION, NoStation(str(paths.data_dir)).message))
        except StoreError as exc:
            report["integrity"] = exc.message
            problems.append(problem(EXIT_STORE, exc.message))
    else:
        report["integrity"] = "no store yet (run init)"
        problems.append(problem(EXIT_NO_STATION, NoStation(str(paths.data_dir)).message))
    facts, found = _disk(paths)
    report.update(facts)
    problems += found
    for check in DOCTOR_CHECKS:
        extra = dict(check(paths))
        problems += extra.pop("problems", [])
        report.update(extra)
    report["problems"] = problems
    lines = [f"{k:>15}: {v}" for k, v in report.items() if k != "problems"]
    lines += [f"{'PROBLEM':>15}: {p['message']}" for p in problems]
    lines.append(f"{'result':>15}: " + ("everything checked is fine" if not problems else
                                         vocab.count(len(problems), "problem") + " found"))
    out.emit(report, "\n".join(lines))
    return min((int(p["status"]) for p in problems), default=EXIT_OK)


def _event_number(text: str) -> int:
    """--since: 0 or an event number (SQLite cannot compare with anything past 2^63-1)."""
    from station.limits import INT64_MAX

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= INT64_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or an event number (up to {INT64_MAX})")
    return value


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

    p = add("settings", cmd_settings,
            "list the station settings with what each allows, or set some (admin): "
            "NAME=VALUE ...; one bad value and nothing is saved")
    operator_option(p)
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE")

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
    p.add_argument("--since", type=_event_number, default=0, metavar="SEQ",
                   help="only the events after this number")

    add("doctor", cmd_doctor, "check paths, store, schema, pending events, disk space, decoders "
        "and the centre (contacted when connected); exit status says the first problem")

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
    out.escape_unencodable()
    basedir = getattr(args, "basedir", None)
    if basedir is not None and not str(basedir).strip():
        # `--basedir "$DIR"` with DIR unset must not fall back to the user's own station
        out.error("--basedir is empty: give the station's folder, or leave --basedir out to "
                  "use the platform's folders")
        return EXIT_USAGE
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
    except OutputFailed as exc:
        sys.stderr.write(exc.message + "\n")  # not to the output, which cannot take it
        _stdout_to_devnull()  # nor Python's last flush of what is still buffered
        return EXIT_STORE
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return _quiet_broken_pipe()
        raise


def _quiet_broken_pipe() -> int:
    """The reader of our output went away (`export-events | head`): stop quietly. Standard
    output is pointed at /dev/null so that Python's flush at exit does not complain either."""
    _stdout_to_devnull()
    return EXIT_OK


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
