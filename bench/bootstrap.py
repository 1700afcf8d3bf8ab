"""bench bootstrap: a fresh station downloads bag types, operators, bills, bags and links of a full
centre (the first pull, over HTTP through a real `tracetrack-central serve` process with the
station's token and HttpTransport, into its SQLite store).

    python -m bench.bootstrap            quick size (50 000 bags, 500 bills)
    python -m bench.bootstrap --full     1 000 000 bags, 10 000 bills

The centre is generated in PostgreSQL with set-based INSERTs (generate_series; feed triggers off
for the generation, as for a restored database): parents of 30 children, bills of 3 parents.
Uses TRACETRACK_BENCH_DATABASE_URL when set, else a throwaway pgserver. Last stdout line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.ingest import fresh_db, log, server_url
from bench.serve_proc import Serve, register, service_url
from central import db as central_db
from central.invariants import check_invariants
from central.users import add_demo_users
from station.paths import resolve
from station.store.local import LocalStore
from sync.pull import pull_all
from sync.transport import HttpTransport

AREA = "North"
CHILDREN = 30
QUICK = (50_000, 500)
FULL = (1_000_000, 10_000)


def generate_centre(url: str, bags: int, bills: int) -> dict[str, int]:
    parents = bags // (CHILDREN + 1)
    children = parents * CHILDREN
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    central_db.migrate(eng)
    with eng.begin() as conn:
        add_demo_users(conn, AREA)
    t0 = time.perf_counter()
    with eng.begin() as conn:
        c = conn.exec_driver_sql
        c("SET LOCAL session_replication_role = replica")  # no feed rows for generated data
        # Parents 1..P (SB + 5 digits, every fifth M444), then children P+1..P+C.
        c(
            "INSERT INTO bag (id, qr_id, type, name, child_count, dispatch_area, status, weight_kg, "
            "created_at, updated_at) "
            "SELECT i, CASE WHEN mod(i, 5) = 4 THEN 'M444-' ELSE 'SB' END || lpad(i::text, 5, '0'), "
            "'parent', CASE WHEN mod(i, 5) = 4 THEN 'M444' ELSE 'SB' END, "
            "CASE WHEN mod(i, 5) = 4 THEN 15 ELSE 30 END, %(area)s, 'completed', "
            "CASE WHEN mod(i, 5) = 4 THEN 15 ELSE 30 END, now(), now() "
            "FROM generate_series(1, %(p)s) i",
            {"p": parents, "area": AREA},
        )
        # M444 parents hold 15 children: their other 15 slots' children are left unlinked.
        c(
            "INSERT INTO bag (id, qr_id, type, child_count, dispatch_area, status, weight_kg, "
            "created_at, updated_at) "
            "SELECT %(p)s + j, 'C' || lpad(j::text, 9, '0'), 'child', 0, %(area)s, 'pending', 0, "
            "now(), now() FROM generate_series(1, %(c)s) j",
            {"p": parents, "c": children, "area": AREA},
        )
        c(
            "INSERT INTO link (parent_bag_id, child_bag_id, created_at) "
            "SELECT (j - 1) / %(k)s + 1, %(p)s + j, now() FROM generate_series(1, %(c)s) j "
            "WHERE mod((j - 1) / %(k)s + 1, 5) <> 4 OR mod(j - 1, %(k)s) < 15",
            {"p": parents, "c": children, "k": CHILDREN},
        )
        c(
            "INSERT INTO bill (id, bill_id, description, parent_bag_count, linked_parent_count, "
            "total_child_bags, total_weight_kg, expected_weight_kg, status, destination, "
            "vehicle_number, created_at, updated_at) "
            "SELECT b, 'BILL-' || lpad(b::text, 6, '0'), 'bench', 3, 0, 0, 0, 0, 'new', 'Jaipur', "
            "'RJ14-0001', now(), now() FROM generate_series(1, %(n)s) b",
            {"n": bills},
        )
        c(
            "INSERT INTO bill_bag (bill_id, bag_id, created_at) "
            "SELECT (i - 1) / 3 + 1, i, now() FROM generate_series(1, least(%(p)s, %(n)s * 3)) i",
            {"p": parents, "n": bills},
        )
        c(
            "UPDATE bill b SET linked_parent_count = s.n, total_child_bags = s.kids, "
            "total_weight_kg = s.kids, expected_weight_kg = s.nominal, "
            "status = CASE WHEN s.n > 0 THEN 'processing' ELSE 'new' END FROM ("
            "  SELECT bb.bill_id, count(*) n, sum(p.child_count) kids, "
            "  sum(CASE WHEN p.name = 'M444' THEN 15 ELSE 30 END) nominal "
            "  FROM bill_bag bb JOIN bag p ON p.id = bb.bag_id GROUP BY bb.bill_id) s "
            "WHERE s.bill_id = b.id"
        )
        for table in ("bag", "link", "bill", "bill_bag"):
            c(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
              f"(SELECT max(id) FROM \"{table}\"))")
        c("ANALYZE")
    gen_s = time.perf_counter() - t0
    with eng.connect() as conn:
        total = conn.exec_driver_sql("SELECT count(*) FROM bag").scalar()
        links = conn.exec_driver_sql("SELECT count(*) FROM link").scalar()
        problems = check_invariants(conn) if bags <= 100_000 else []
    eng.dispose()
    if problems:
        raise SystemExit("generated centre breaks invariants: " + "; ".join(problems[:5]))
    return {"bags": int(total or 0), "links": int(links or 0), "bills": bills,
            "generate_s": round(gen_s, 2)}


class InProcessPull:
    """The comparison: the service's pull called directly on the service role's connection
    (no HTTP, no JSON), as the direct transport did before the service."""

    def __init__(self, url: str, station_id: str) -> None:
        self.engine = central_db.make_engine(url, pool_size=1)
        self.station_id = station_id

    def pull(self, request: Any) -> Any:
        from central.service import pull

        with self.engine.connect() as conn:
            return pull(conn, self.station_id, request)

    def close(self) -> None:
        self.engine.dispose()


def download(transport: Any, station_id: str, base: Path) -> dict[str, Any]:
    store = LocalStore.open(resolve(base), create=True)
    store.init_station(station_id, AREA)
    conn = store.connect(write=True)
    pages = 0

    def on_page(_page: Any) -> None:
        nonlocal pages
        pages += 1
        if pages % 10 == 0:
            log(f"  {pages} pages")

    t0 = time.perf_counter()
    try:
        rows = pull_all(conn, transport, station_id, on_page=on_page)
    finally:
        transport.close()
    seconds = time.perf_counter() - t0
    with conn.begin():
        bags = conn.exec_driver_sql("SELECT count(*) FROM bags").scalar()
        links = conn.exec_driver_sql("SELECT count(*) FROM links").scalar()
        bills = conn.exec_driver_sql("SELECT count(*) FROM bills").scalar()
        users = conn.exec_driver_sql("SELECT count(*) FROM operators").scalar()
    conn.close()
    store.close()
    return {"seconds": seconds, "rows": rows, "pages": pages, "bags": bags, "links": links,
            "bills": bills, "operators": users}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--bags", type=int)
    ap.add_argument("--no-compare", action="store_true",
                    help="skip the in-process download (the comparison without HTTP)")
    args = ap.parse_args(argv)
    bags, bills = FULL if args.full else QUICK
    if args.bags:
        bags = args.bags
    admin, srv = server_url()
    try:
        url = fresh_db(admin, "tt_bench_bootstrap")
        log(f"generating a centre with {bags} bags, {bills} bills")
        centre = generate_centre(url, bags, bills)
        log(f"  {centre}")
        eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
        with eng.begin() as conn:
            token = register(conn, "BOOT-1", AREA)
            register(conn, "BOOT-2", AREA)
        eng.dispose()
        role_url = service_url(url)
        with Serve(role_url) as serve:
            log(f"fresh station downloading through {serve.url}")
            transport = HttpTransport(serve.url, token, station_id="BOOT-1")
            transport.whoami()  # connected, as a station that was just given its token
            with tempfile.TemporaryDirectory(prefix="tt-boot-") as tmp:
                got = download(transport, "BOOT-1", Path(tmp))
        log(f"  {got}")
        if args.no_compare:
            inproc = None
        else:
            log("the same download in-process, without HTTP (comparison)")
            with tempfile.TemporaryDirectory(prefix="tt-boot-") as tmp:
                inproc = download(InProcessPull(role_url, "BOOT-2"), "BOOT-2", Path(tmp))
            log(f"  {inproc}")
    finally:
        if srv is not None:
            srv.cleanup()
    ok = got["bags"] == centre["bags"] and got["links"] == centre["links"] and got["bills"] == bills
    result = {
        "bench": "bootstrap",
        "size": {"bags": centre["bags"], "bills": bills, "links": centre["links"],
                 "path": "HttpTransport -> tracetrack-central serve (1 worker)"},
        "metrics": {
            "seconds": round(got["seconds"], 2),
            "bags": got["bags"],
            "links": got["links"],
            "bills": got["bills"],
            "operators": got["operators"],
            "pages": got["pages"],
            "rows_per_s": round(got["rows"] / got["seconds"], 1),
            "complete": ok,
            "centre_generate_s": centre["generate_s"],
            **({"in_process_seconds": round(inproc["seconds"], 2),
                "in_process_complete": inproc["bags"] == centre["bags"]
                and inproc["links"] == centre["links"]} if inproc else {}),
        },
        "ratios": {"vs_target_30s": round(got["seconds"] / 30.0, 3),
                   **({"seconds_vs_in_process": round(got["seconds"] / inproc["seconds"], 3)}
                      if inproc else {})},
    }
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
