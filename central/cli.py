"""`tracetrack-central`: set up and look after the central database (schema, stations, users)."""

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
from central.stations import (
    StationAdminError,
    add_station,
    list_stations,
    revoke_station,
)


def _engine(args: argparse.Namespace) -> sa.Engine:
    return db.make_engine(db.resolve_url(args.url), poolclass=sa.pool.NullPool)


def cmd_init(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.connect() as conn:
        had_web = db.has_web_tables(conn)
        conn.rollback()
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
    print(msg)
    return 0


def cmd_add_station(args: argparse.Namespace) -> int:
    url = db.resolve_url(args.url)
    eng = _engine(args)
    with eng.begin() as conn:
        out = add_station(conn, url, args.station_id, args.area,
                          scope="all" if args.supervisor else "area")
    if args.json:
        print(json.dumps(out))
    else:
        print(f"Station {out['station']} added (area {args.area}). Its central URL, shown only "
              "this once (enter it in the station's settings):")
        print(out["url"])
    return 0


def cmd_revoke_station(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.begin() as conn:
        sid = revoke_station(conn, args.station_id)
    print(f"Station {sid} revoked: it can no longer sync; its own queue stays on the station")
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


def cmd_stations(args: argparse.Namespace) -> int:
    eng = _engine(args)
    with eng.connect() as conn:
        rows = list_stations(conn)
    if args.json:
        print(json.dumps([r.to_json() for r in rows]))
        return 0
    if not rows:
        print("No stations yet: add one with tracetrack-central add-station ID --area AREA")
        return 0
    head = ("station", "area", "state", "last contact", "backlog", "oldest pending", "app",
            "clock skew", "events")
    table = [head]
    for r in rows:
        skew = "-" if r.clock_skew_s is None else f"{r.clock_skew_s:+.0f}s"
        if r.skew_flagged:
            skew += " (!)"
        table.append((
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
    return 0


def cmd_add_user(args: argparse.Namespace) -> int:
    from central.users import add_user

    password = os.environ.get("TRACETRACK_PASSWORD") or getpass.getpass(
        f"Password for {args.username}: "
    )
    eng = _engine(args)
    with eng.begin() as conn:
        add_user(conn, args.username, password, args.role, args.area)
    print(f"User {args.username} ({args.role}, area {args.area or '-'}) saved")
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
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("add-station", parents=[common], help="create a station and its database role")
    p.add_argument("station_id")
    p.add_argument("--area", required=True)
    p.add_argument("--supervisor", action="store_true",
                   help="the station pulls every area's bags (review station)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_add_station)

    p = sub.add_parser("revoke-station", parents=[common], help="stop a station from syncing")
    p.add_argument("station_id")
    p.set_defaults(func=cmd_revoke_station)

    p = sub.add_parser("stations", parents=[common], help="list stations: last contact, backlog, clock skew")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stations)

    p = sub.add_parser("add-user", parents=[common], help="add or update an operator (password: $TRACETRACK_PASSWORD)")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=("dispatcher", "biller", "admin"))
    p.add_argument("--area")
    p.set_defaults(func=cmd_add_user)

    p = sub.add_parser("check", parents=[common], help="recompute the seven invariants of the central tables")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
