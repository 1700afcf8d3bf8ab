"""`tracetrack-central`: set up and look after the centre (schema, stations, users) and run its
sync service (`serve`)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from central import db
from central.roles import ensure_service_role, role_url
from central.serve import newer_schema
from central.stations import (
    StationAdminError,
    add_station,
    check_public_url,
    list_stations,
    revoke_station,
    rotate_token,
    set_public_url,
)


def _engine(args: argparse.Namespace) -> sa.Engine:
    return db.make_engine(db.resolve_url(args.url), poolclass=sa.pool.NullPool)


def cmd_init(args: argparse.Namespace) -> int:
    if args.public_url:
        check_public_url(args.public_url)  # refused before anything is changed
    eng = _engine(args)
    with eng.connect() as conn:
        had_web = db.has_web_tables(conn)
        problem = newer_schema(db.current_revision(conn))
        conn.rollback()
    if problem:
        raise db.CentralConfigError(problem[:1].upper() + problem[1:])
    before, after = db.migrate(eng)
    if args.demo:
        from central.users import DEMO_PASSWORD, add_demo_users

        with eng.begin() as conn:
            add_demo_users(conn, args.demo)
    if before == after:
        msg = f"Central database already at schema {after}: nothing to do"
    elif had_web and before is None:
        msg = (f"Found the web system's tables: kept them as they are and added the station_* "
               f"tables and change-feed triggers (schema {after})")
    else:
        msg = f"Central database initialised (schema {after})"
    if args.demo:
        msg += f"; demo users dispatcher/biller/admin (password {DEMO_PASSWORD!r}, area {args.demo})"
    with eng.begin() as conn:
        role, password = ensure_service_role(conn, new_password=args.print_service_url)
        if args.public_url:
            public = set_public_url(conn, args.public_url)
            msg += f"; stations reach it at {public}"
    print(msg)
    if args.print_service_url:
        assert password is not None
        print(f"The sync service's database URL (role {role}, new password; give it to "
              "`tracetrack-central serve --url`):")
        print(role_url(db.resolve_url(args.url), role, password))
    return 0


def _print_token(args: argparse.Namespace, out: dict[str, str | None], what: str) -> None:
    if args.json:
        print(json.dumps(out))
        return
    print(f"{what} Its token, shown only this once (the centre keeps only its hash):")
    print(out["token"])
    if out["url"]:
        print(f"Connect the station with: tracetrack-station sync --central {out['url']} "
              "(the token from TRACETRACK_CENTRAL_TOKEN or typed at the prompt)")
    else:
        print("The centre's public address is not set: set it with "
              "tracetrack-central init --public-url https://... and give it to the station")


def cmd_add_station(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.begin() as conn:
        out = add_station(conn, args.station_id, args.area,
                          scope="all" if args.supervisor else "area")
    _print_token(args, out, f"Station {out['station']} added (area {out['area']}).")
    return 0


def cmd_rotate_token(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.begin() as conn:
        out = rotate_token(conn, args.station_id)
    _print_token(args, out, f"Station {out['station']} has a new token; the old one is refused "
                 "from now on.")
    return 0


def cmd_revoke_station(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.begin() as conn:
        sid = revoke_station(conn, args.station_id)
    print(f"Station {sid} revoked: its token is refused from now on; its own queue stays on "
          "the station")
    return 0


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"


EXIT_ALERT = 1  # `stations`: at least one station needs a look


def cmd_stations(args: argparse.Namespace) -> int:
    from central.stations import Thresholds

    limits = Thresholds(silent_s=args.silent * 60, backlog=args.max_backlog,
                        oldest_s=args.max_oldest * 60)
    eng = _engine(args)
    with eng.connect() as conn:
        rows = list_stations(conn)
    marked = [r for r in rows if r.alerts(limits)]
    if args.json:
        print(json.dumps([r.to_json_with(limits) for r in rows]))
        return EXIT_ALERT if marked else 0
    if not rows:
        print("No stations yet: add one with tracetrack-central add-station ID --area AREA")
        return 0
    head = ("", "station", "area", "state", "last contact", "backlog", "oldest pending", "app",
            "clock skew", "events")
    table = [head]
    for r in rows:
        skew = "-" if r.clock_skew_s is None else f"{r.clock_skew_s:+.0f}s"
        if r.skew_flagged:
            skew += " (!)"
        table.append((
            "!" if r in marked else "",
            r.station_id, r.area + (" (all)" if r.scope == "all" else ""),
            "revoked" if r.revoked else "active",
            r.last_contact.strftime("%Y-%m-%d %H:%M:%S") if r.last_contact else "never",
            "-" if r.backlog is None else str(r.backlog), _age(r.oldest_pending_s),
            r.app_version or "-", skew, str(r.events),
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if any(r.skew_flagged for r in rows):
        print("(!) clock more than 5 minutes off: set the station's clock; scanning goes on")
    for r in marked:
        print(f"! {r.station_id}: {'; '.join(r.alerts(limits))}")
    return EXIT_ALERT if marked else 0


def cmd_station_settings(args: argparse.Namespace) -> int:
    """List or set the station settings the centre sets (sync/centre_settings.py): each value
    is checked as the stations will check it, and one bad value means nothing is stored."""
    from sync.centre_settings import CENTRE_PREFIX, centre_values

    changes: dict[str, str] = {}
    for item in args.assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"station-settings takes NAME=VALUE, not {item!r}")
        changes[name.strip()] = value
    values = centre_values(changes, args.unset)
    eng = _engine(args)
    with eng.begin() as conn:
        for name, text in values.items():
            conn.exec_driver_sql(
                "INSERT INTO station_centre_settings (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (CENTRE_PREFIX + name, text))
        for name in args.unset:
            conn.exec_driver_sql("DELETE FROM station_centre_settings WHERE key = %s",
                                 (CENTRE_PREFIX + name,))
        rows = conn.exec_driver_sql(
            "SELECT substr(key, %s), value FROM station_centre_settings "
            "WHERE starts_with(key, %s) ORDER BY key", (len(CENTRE_PREFIX) + 1, CENTRE_PREFIX),
        ).all()
    if args.json:
        print(json.dumps({str(k): str(v) for k, v in rows}))
    elif not rows:
        print("The centre sets no station settings: each station keeps its own.")
    else:
        for k, v in rows:
            print(f"{k} = {v}")
    return 0


def cmd_add_user(args: argparse.Namespace) -> int:
    from central.users import add_user

    password = os.environ.get("TRACETRACK_PASSWORD")
    if not password:
        try:
            password = getpass.getpass(f"Password for {args.username}: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            raise StationAdminError(
                f"No password for {args.username}: nothing was saved (set TRACETRACK_PASSWORD, "
                "or type it at the prompt)") from None
    eng = _engine(args)
    with eng.begin() as conn:
        uid = add_user(conn, args.username, password, args.role, args.area)
        area = conn.exec_driver_sql(
            'SELECT dispatch_area FROM "user" WHERE id = %s', (uid,)).scalar()
    print(f"User {args.username.strip()} ({args.role}, area {area or '-'}) saved")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from central.invariants import check_invariants

    eng = _engine(args)
    with eng.connect() as conn:
        problems = check_invariants(conn)
    for p in problems:
        print(p)
    print("All seven invariants hold" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracetrack-central",
        description="Set up and look after the TraceTrack central database.",
    )
    url_help = f"central database URL (default: ${db.URL_ENV})"
    parser.add_argument("--url", help=url_help)
    # --url also after the command name (tracetrack-central stations --url ...)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help=url_help)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", parents=[common], help="create the schema, or add the station tables to a web database")
    p.add_argument("--demo", metavar="AREA", help="also add demo users dispatcher/biller/admin")
    p.add_argument("--public-url", metavar="URL",
                   help="the address stations use to reach the sync service (https://...), "
                        "printed by add-station")
    p.add_argument("--print-service-url", action="store_true",
                   help="give the sync service's database role a new password and print its URL")
    p.set_defaults(func=cmd_init)

    from central.serve import add_serve_parser

    add_serve_parser(sub, common)

    p = sub.add_parser("add-station", parents=[common], help="register a station and print its token")
    p.add_argument("station_id")
    p.add_argument("--area", required=True)
    p.add_argument("--supervisor", action="store_true",
                   help="the station pulls every area's bags (review station)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_add_station)

    p = sub.add_parser("rotate-token", parents=[common],
                       help="give a station a new token (the old one stops at once)")
    p.add_argument("station_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rotate_token)

    p = sub.add_parser("revoke-station", parents=[common], help="stop a station from syncing")
    p.add_argument("station_id")
    p.set_defaults(func=cmd_revoke_station)

    p = sub.add_parser(
        "stations", parents=[common],
        help="list stations: last contact, backlog, clock skew; exit 1 when one needs a look",
        description="List the stations. A station not heard from for --silent minutes, or with "
                    "a backlog or oldest pending event over the limits, or a clock more than 5 "
                    "minutes off, is marked with ! and the command exits 1 (for cron or a "
                    "monitor); revoked stations are never marked.")
    p.add_argument("--json", action="store_true")
    p.add_argument("--silent", type=float, default=60, metavar="MIN",
                   help="mark a station not heard from for this long (default 60 minutes)")
    p.add_argument("--max-backlog", type=int, default=5000, metavar="N",
                   help="mark a station reporting more pending events (default 5000)")
    p.add_argument("--max-oldest", type=float, default=240, metavar="MIN",
                   help="mark a station whose oldest pending event is older (default 240 min)")
    p.set_defaults(func=cmd_stations)

    p = sub.add_parser(
        "station-settings", parents=[common],
        help="list or set the station settings the centre sets (stations get them at their "
             "next sync); NAME=VALUE ..., checked as stations check them: one bad value and "
             "nothing is stored")
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    p.add_argument("--unset", action="append", default=[], metavar="NAME",
                   help="stop setting NAME from the centre (stations keep their own)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_station_settings)

    p = sub.add_parser("add-user", parents=[common], help="add or update an operator (password: $TRACETRACK_PASSWORD)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=("dispatcher", "biller", "admin"))
    p.add_argument("--area", help="the user's dispatch area (an existing user given none "
                   "keeps its own)")
    p.set_defaults(func=cmd_add_user)

    p = sub.add_parser("check", parents=[common], help="recompute the seven invariants of the central tables")
    p.set_defaults(func=cmd_check)
    return parser


def _check_url(url: str) -> None:
    """CentralConfigError for a database URL that is not PostgreSQL's (or cannot be read),
    before SQLAlchemy fails on it with a traceback; the password is never shown."""
    usage = "give postgresql://USER@HOST/DATABASE (--url or $" + db.URL_ENV + ")"
    try:
        parsed = sa.engine.make_url(db.sqlalchemy_url(url))
    except (sa.exc.ArgumentError, ValueError):
        raise db.CentralConfigError(
            f"The central database URL cannot be read: {usage}") from None
    if parsed.get_backend_name() != "postgresql":
        shown = parsed.render_as_string(hide_password=True)
        raise db.CentralConfigError(
            f"{shown} is not a PostgreSQL database URL: {usage}; the address stations use is "
            "set with init --public-url")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        url = getattr(args, "url", None) or os.environ.get(db.URL_ENV)
        if url:
            _check_url(url)
        return int(args.func(args))
    except (db.CentralConfigError, StationAdminError, ValueError) as exc:
        print(f"tracetrack-central: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        orig = exc.orig if exc.orig is not None else exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        print(f"tracetrack-central: the central database refused: {first}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
