"""`tracetrack-central serve`: run the sync service (uvicorn), on a given PostgreSQL or on an
embedded one (the `pgserver` package) in the centre's data folder for a trial or a single site."""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import platformdirs

from central import db
from central.app import CONFIG_ENV, ServiceConfig

DATA_ENV = "TRACETRACK_CENTRAL_DATA"
DEFAULT_PORT = 8800


def add_serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve", parents=[common],
        help="run the sync service stations connect to (HTTP, or HTTPS with a certificate)",
        description="Run the sync service. With --url it uses that PostgreSQL (give it the "
                    "service role's URL from `init --print-service-url`); without, it starts "
                    "an embedded PostgreSQL in the centre's data folder.",
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS")
    p.add_argument("--keyfile", help="TLS private key (PEM) of --certfile")
    p.add_argument("--slots", type=int, default=None,
                   help="batches applied at once across all workers (default: one per worker "
                   "process, so one batch is decided while another is written)")
    p.add_argument("--worker-slots", type=int, default=None, metavar="N",
                   help="catch-up batches one worker process applies at once (default: the "
                   "slots shared out over the workers, rounded up, or with --admission-wait 0 "
                   "no limit of its own: 0)")
    p.add_argument("--admission-wait", type=float, default=2.0, metavar="S",
                   help="how long a batch waits in line for a slot before 503 (default 2 s)")
    p.add_argument("--order-wait", type=float, default=0.0, metavar="S",
                   help="how long a batch a station sent ahead waits for the batch before it "
                   "(default 0: the admission wait + 2 s)")
    p.add_argument("--look-ahead", choices=("on", "off"), default="on",
                   help="a batch a station sent ahead decides its events while the one before "
                   "it is written, when both reach the same worker (default on; docs/sync.md "
                   "§4b)")
    p.add_argument("--express-slots", type=int, default=1,
                   help="extra slots only small batches (fresh scans) may take (default 1)")
    p.add_argument("--express-max", type=int, default=25, metavar="EVENTS",
                   help="a batch of at most this many events counts as fresh scans (default 25)")
    p.add_argument("--max-body", type=int, default=4 * 1024 * 1024, metavar="BYTES",
                   help="largest request body accepted (default 4 MiB)")
    p.add_argument("--queue", type=int, default=2, metavar="N",
                   help="pushes one worker takes in at once, each queue (catch-up, fresh "
                   "scans), those being applied included; beyond it 503 at once, with the "
                   "batch's turn to come back (default 2: the batch being applied and one ready "
                   "behind it, so the slot is kept fed and a batch waits in line about one "
                   "apply at most)")
    p.add_argument("--body-timeout", type=float, default=10.0, metavar="S",
                   help="a request body must arrive within this (default 10 s)")
    p.add_argument("--data-dir", help=f"embedded PostgreSQL's folder (default ${DATA_ENV} or the "
                   "user data folder)")
    p.add_argument("--demo", metavar="AREA",
                   help="embedded only: add demo users and a station DEMO-1 in AREA, print its token")
    p.add_argument("--log-level", default="warning",
                   choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=cmd_serve)


def data_dir(arg: str | None) -> Path:
    chosen = arg or os.environ.get(DATA_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    return Path(platformdirs.user_data_dir("TraceTrackCentral", appauthor=False)) / "postgres"


def _embedded(args: argparse.Namespace) -> tuple[Any, str, str]:
    """Start (or reuse) the embedded PostgreSQL, bring its schema up; (server, admin, service URL)."""
    import sqlalchemy as sa

    try:
        import pgserver
    except ImportError as exc:
        raise ValueError(
            "serve without --url starts an embedded PostgreSQL, which needs the pgserver "
            "package: pip install 'tracetrack-station[central]', or give --url postgresql://...") from exc

    from central.roles import ensure_service_role, role_url

    folder = data_dir(args.data_dir)
    socket_path = os.fsencode(str(folder / ".s.PGSQL.5432"))
    if os.name != "nt" and any(c.isspace() for c in str(folder)) and len(socket_path) < 104:
        # pgserver hands PostgreSQL the folder as its socket directory unquoted (when the
        # socket's path is short enough for it): PostgreSQL would never start there (refused
        # before the folder is made or initialised)
        raise ValueError(f"The embedded PostgreSQL cannot use the folder {folder!r}: its path "
                         "has a space; give a folder whose path has none (--data-dir or $"
                         f"{DATA_ENV})")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"The embedded PostgreSQL's folder {folder} is a file: give a folder "
                         "(--data-dir), a new or empty one the first time")
    if folder.is_dir() and not (folder / "PG_VERSION").exists() and any(
            p.name != ".handle_pids.json" for p in folder.iterdir()):
        # initdb would refuse it (a traceback); it is someone's folder, left as it is
        raise ValueError(f"The folder {folder} holds other files and no PostgreSQL: give the "
                         "embedded PostgreSQL a new or empty folder (--data-dir), or the one "
                         "it had before")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"The embedded PostgreSQL's folder {folder} cannot be made: "
                         f"{exc.strerror or exc}") from None
    print(f"Embedded PostgreSQL in {folder} (starting)", flush=True)
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError) as exc:
        raise ValueError(f"The embedded PostgreSQL in {folder} did not start ({exc}); its log, "
                         f"if it got that far: {folder / 'log'}") from None
    _forget_gone_users(server)
    base = server.get_uri()
    admin = db.sqlalchemy_url(base)
    eng = db.make_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if not conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = 'tracetrack'").first():
            conn.exec_driver_sql("CREATE DATABASE tracetrack")
    eng.dispose()
    admin = db.sqlalchemy_url(server.get_uri("tracetrack"))
    eng = db.make_engine(admin, poolclass=sa.pool.NullPool)
    db.migrate(eng)
    with eng.begin() as conn:
        role, password = ensure_service_role(conn, new_password=True)
    if args.demo:
        _demo(eng, args.demo, args, folder.with_name(folder.name + DEMO_TOKEN_SUFFIX))
    eng.dispose()
    assert password is not None
    return server, admin, role_url(admin, role, password)


def _forget_gone_users(server: Any) -> None:
    """pgserver stops its PostgreSQL when the last process using it ends, and counts those
    processes in a file in the data folder. A `serve` killed outright (SIGKILL) stays counted
    for ever, and then no later `serve` stopped the database when it ended: forget the ones
    that are gone (under pgserver's own lock, as it counts them)."""
    import psutil  # (pgserver's own dependency)

    handles = getattr(server, "global_process_id_list", None)
    lock = getattr(type(server), "_lock", None)
    if handles is None or lock is None:
        return
    with lock:
        pids = handles.get()
        alive = [p for p in pids if p == os.getpid() or psutil.pid_exists(p)]
        if alive != pids:
            handles.put(alive)


# DEMO-1's token is kept beside the embedded data folder (only its owner may read it), so
# `make centre` started again keeps the token the demo station was connected with.
DEMO_TOKEN_SUFFIX = "-demo-station-token"


def _kept_demo_token(conn: Any, kept: Path) -> str | None:
    """The token kept for DEMO-1, if the centre still takes it as DEMO-1's."""
    from central.stations import IDENTIFY_SQL, token_hash

    try:
        token = kept.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return None
    row = conn.exec_driver_sql(IDENTIFY_SQL, (token_hash(token),)).first() if token else None
    return token if row is not None and row[0] == "DEMO-1" and not row[3] else None


def _keep_demo_token(kept: Path, token: str) -> None:
    try:
        fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        os.chmod(kept, 0o600)
    except OSError:
        pass  # not kept: the next start issues a new one, as before


def _demo(eng: Any, area: str, args: argparse.Namespace, kept: Path) -> None:
    from central.stations import StationAdminError, add_station, rotate_token, set_public_url
    from central.users import add_demo_users

    scheme = "https" if args.certfile else "http"
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL (http://::1:8800 cannot be read)
    url = f"{scheme}://{host}:{args.port}"
    with eng.begin() as conn:
        add_demo_users(conn, area)
        set_public_url(conn, url)
        token = _kept_demo_token(conn, kept)
        if token is None:
            try:
                out = add_station(conn, "DEMO-1", area)
            except StationAdminError:
                out = rotate_token(conn, "DEMO-1")
            token = str(out["token"])
            _keep_demo_token(kept, token)
    print(f"Demo users dispatcher/biller/admin (password 'demo', area {area}); station DEMO-1.")
    print("Connect a demo station to this centre in one step:")
    print(f"  TRACETRACK_CENTRAL_TOKEN={token} make connect-demo CENTRAL={url}")
    print(f"(or, for any station: TRACETRACK_CENTRAL_TOKEN=<its token> tracetrack-station sync "
          f"--central {url})", flush=True)


def default_worker_slots(slots: int, workers: int, admission_wait_s: float) -> int:
    """`--worker-slots` when not given: the slots shared out over the workers, rounded up.
    With no line to wait in (admission wait 0) there is no gate either: a push whose worker is
    applying would be turned away while another worker stood idle."""
    return -(-slots // workers) if admission_wait_s > 0 else 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    if bool(args.certfile) != bool(args.keyfile):
        raise ValueError("HTTPS needs both --certfile and --keyfile")
    if not 1 <= args.port <= 65535:
        # (the operating system would take 70000 as 70000 - 65536, where no station looks)
        raise ValueError(f"--port must be 1-65535, not {args.port}")
    _check_limits(args)
    if args.certfile:
        _check_tls(args.certfile, args.keyfile)
    if args.slots is None:
        args.slots = args.workers
    if args.workers < 1 or args.slots < 1:
        raise ValueError("--workers and --slots must be at least 1")
    if args.worker_slots is None:
        args.worker_slots = default_worker_slots(args.slots, args.workers, args.admission_wait)
    if args.worker_slots < 0:
        raise ValueError("--worker-slots must be 0 or more")
    server = None
    url = args.url or os.environ.get(db.URL_ENV)
    if url and args.demo:
        raise ValueError(
            "--demo is for the embedded PostgreSQL (serve without --url or $"
            f"{db.URL_ENV}); for a database of your own: tracetrack-central init --demo "
            "AREA, then add-station")
    if url:
        url = db.sqlalchemy_url(url)
    else:
        server, _admin, url = _embedded(args)
    _check_schema(url)
    config = ServiceConfig(
        url=url, slots=args.slots, admission_wait_s=args.admission_wait,
        order_wait_s=args.order_wait, queue_per_worker=args.queue,
        express_slots=args.express_slots, express_max_events=args.express_max,
        worker_slots=args.worker_slots, max_body_bytes=args.max_body, body_timeout_s=args.body_timeout,
        look_ahead=args.look_ahead == "on",
    )
    os.environ[CONFIG_ENV] = config.to_env()
    scheme = "https" if args.certfile else "http"
    print(f"TraceTrack sync service on {scheme}://{args.host}:{args.port} "
          f"({args.workers} worker(s), {args.slots} admission slot(s))", flush=True)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to its previous
    # handler: make that handler end the process through `finally`, so an embedded PostgreSQL
    # is stopped too (a systemd stop, a container stop).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(
            "central.app:app_from_env", factory=True, host=args.host, port=args.port,
            workers=args.workers, ssl_certfile=args.certfile, ssl_keyfile=args.keyfile,
            log_level=args.log_level, timeout_keep_alive=30, proxy_headers=True,
            server_header=False,
        )
    finally:
        if server is not None:
            server.cleanup()
    return 0


def _check_limits(args: argparse.Namespace) -> None:
    """ValueError naming the option for a number `serve` cannot work with, before anything
    starts: a queue of 0, a body limit of 0 or a body timeout of 0 (or not a number) started a
    service that refused every request, with healthz saying all was well."""
    for option, value in (("--queue", args.queue), ("--max-body", args.max_body)):
        if value < 1:
            raise ValueError(f"{option} must be at least 1, not {value}")
    for option, value in (("--express-slots", args.express_slots),
                          ("--express-max", args.express_max)):
        if value < 0:
            raise ValueError(f"{option} must be 0 or more, not {value}")
    if not (math.isfinite(args.body_timeout) and args.body_timeout > 0):
        raise ValueError(f"--body-timeout must be a number of seconds above 0, not "
                         f"{args.body_timeout}")
    for option, value in (("--admission-wait", args.admission_wait),
                          ("--order-wait", args.order_wait)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{option} must be a number of seconds, 0 or more, not {value}")


def _check_tls(certfile: str, keyfile: str) -> None:
    """ValueError saying what is wrong with --certfile / --keyfile, before anything starts
    (uvicorn read them only once the service was starting, and failed with a traceback). An
    encrypted key is left to uvicorn, which asks for its passphrase as before."""
    import ssl

    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ValueError(f"{option} {path} cannot be read: {exc.strerror or exc}") from None
    asked: list[bool] = []

    def no_passphrase() -> bytes:
        asked.append(True)
        return b""

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, no_passphrase)
    except ssl.SSLError as exc:
        if asked:
            return
        raise ValueError(
            f"HTTPS cannot start: --certfile {certfile} and --keyfile {keyfile} are not a PEM "
            f"certificate and its own private key ({exc.reason or exc})") from None


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)


def _check_schema(url: str) -> None:
    import sqlalchemy as sa

    eng = db.make_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with eng.connect() as conn:
            rev = db.current_revision(conn)
            conn.rollback()
    finally:
        eng.dispose()
    if rev != db.SCHEMA_VERSION:
        problem = newer_schema(rev)
        print("tracetrack-central: " + (problem or (
            f"the central database is at schema {rev or 'none'}, this service needs "
            f"{db.SCHEMA_VERSION}: run tracetrack-central init --url <admin URL>")),
            file=sys.stderr)
        raise SystemExit(5)


def newer_schema(rev: str | None) -> str | None:
    """What to say when the database is at a schema revision this release does not know (a
    newer release upgraded it; `init` cannot bring it anywhere), else None."""
    if rev is None or rev == db.SCHEMA_VERSION:
        return None
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    known = {s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()}
    if rev in known:
        return None
    return (f"the central database is at schema {rev}, which this release does not know (it "
            f"has {db.SCHEMA_VERSION}): a newer TraceTrack release upgraded it; use that "
            "release (nothing was changed)")
