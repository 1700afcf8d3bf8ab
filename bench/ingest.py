"""bench ingest: one station pushes a backlog through the direct path into PostgreSQL, all rules
and invariants enforced; compared in the same run with (a) a row-by-row ORM insert loop of the
same rows, (b) a plain COPY of the same events into an unindexed table and (c) the rows ingest
writes (bags, links, scans, event log) COPY'd into the real schema with nothing decided.

    python -m bench.ingest            quick size (20 000 events)
    python -m bench.ingest --full     1 000 000 events

Uses TRACETRACK_BENCH_DATABASE_URL (an admin URL; databases are created in it) when set, else a
throwaway PostgreSQL from the pgserver package. Last stdout line: one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import Event, EventType, uuid7
from central import db as central_db
from central.invariants import check_invariants
from central.stations import add_station
from central.users import add_demo_users
from sync.protocol import PushBatch

STATION = "BENCH-1"
AREA = "North"
BATCH = 500
QUICK, FULL = 20_000, 1_000_000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- seeded backlog ----------------------------------------------------------------------------------


def backlog(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """A realistic offline backlog: parents filled (most to capacity), a few undos, some scans
    that the centre must refuse (child already elsewhere), bills loaded and closed."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    seq = 0
    child_no = 0
    parent_no = 0
    done_parents: list[str] = []
    bill_no = 0
    linked: list[str] = []

    def ev(etype: EventType, operator: str = "dispatcher", **kw: Any) -> dict[str, Any]:
        nonlocal seq, t
        seq += 1
        t += timedelta(milliseconds=rng.randint(300, 2500))
        return Event(
            event_id=str(uuid7()), station_id=STATION, seq=seq, type=etype, operator=operator,
            device_time=t.isoformat(timespec="milliseconds"), app_version=APP_VERSION,
            protocol_version=PROTOCOL_VERSION, **kw,
        ).to_wire()

    while seq < n:
        i = parent_no
        parent_no += 1
        code = f"M444-{i % 100000:05d}" if i % 5 == 4 else f"SB{i % 100000:05d}"
        cap = 15 if code.startswith("M444") else 30
        yield ev(EventType.PARENT_SCANNED, parent=code, data={"bag_type": "M444" if cap == 15 else "SB", "area": AREA, "source": "scanner"})
        fill = cap if rng.random() < 0.85 else rng.randint(1, cap - 1)
        for _ in range(fill):
            if seq >= n:
                return
            if linked and rng.random() < 0.005:
                # a child already in another parent: the centre refuses it
                yield ev(EventType.CHILD_LINKED, parent=code, child=rng.choice(linked[-5000:]), data={"source": "scanner"})
                continue
            child_no += 1
            child = f"C{child_no:09d}"
            linked.append(child)
            yield ev(EventType.CHILD_LINKED, parent=code, child=child, data={"source": "scanner"})
            if rng.random() < 0.01 and seq < n:
                yield ev(EventType.CHILD_UNLINKED, parent=code, child=child)
                linked.pop()
        if seq < n and fill == cap:
            done_parents.append(code)
        if len(done_parents) >= 20 and seq + 23 < n:
            bill_no += 1
            bill = f"B-{bill_no:06d}"
            yield ev(EventType.BILL_CREATED, "biller", bill=bill, data={"target": 20, "description": "", "destination": "Depot", "vehicle": "KA-01"})
            for p in done_parents[:20]:
                yield ev(EventType.BILL_PARENT_ADDED, "biller", bill=bill, parent=p, data={"source": "scanner"})
            yield ev(EventType.BILL_CLOSED, "biller", bill=bill, data={"reason": None})
            done_parents = done_parents[20:]


# -- the server ------------------------------------------------------------------------------------


# A central server is configured for the machine it runs on; pgserver's defaults are for a
# laptop (128 MB of shared buffers, a checkpoint every 1 GB of WAL). These are the settings the
# README recommends for the centre (this machine: 24 GB); durability settings stay as they are
# (fsync on, synchronous_commit on, full_page_writes on).
SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "effective_cache_size": "12GB",
}


def server_url(settings: dict[str, str] | None = None) -> tuple[str, Any]:
    """An admin URL: TRACETRACK_BENCH_DATABASE_URL, else a throwaway pgserver configured with
    SERVER_SETTINGS (plus `settings`) and restarted so that they apply."""
    url = os.environ.get("TRACETRACK_BENCH_DATABASE_URL")
    if url:
        return url, None
    import pgserver
    from pgserver._commands import pg_ctl

    srv = pgserver.get_server(Path(tempfile.mkdtemp(prefix="tt-bench-pg-")), cleanup_mode="delete")
    eng = central_db.make_engine(srv.get_uri(), poolclass=sa.pool.NullPool,
                                 isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        for name, value in {**SERVER_SETTINGS, **(settings or {})}.items():
            conn.exec_driver_sql(f"ALTER SYSTEM SET {name} = '{value}'")
    eng.dispose()
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=srv.pgdata, user=srv.system_user, timeout=60)
    return srv.get_uri(), srv


def fresh_db(admin_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    eng = central_db.make_engine(admin_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    eng.dispose()
    u = make_url(admin_url).set(database=name)
    return u.render_as_string(hide_password=False).replace("postgresql+psycopg2://", "postgresql://")


# -- (1) the real path ----------------------------------------------------------------------------


def run_ingest(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    central_db.migrate(eng)
    with eng.begin() as conn:
        add_demo_users(conn, AREA)
        station_url = add_station(conn, url, STATION, AREA)["url"]
    try:
        from sync.transport import DirectTransport  # the station's own transport (5b)

        transport: Any = DirectTransport(station_url)
        path = "DirectTransport"
    except ImportError:
        transport = _PlainDirect(station_url)
        path = "service.push"
    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    acks: list[float] = []
    t0 = time.perf_counter()
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        b = PushBatch(STATION, PROTOCOL_VERSION, APP_VERSION, chunk, len(events) - start, None,
                      datetime.now(UTC).isoformat())
        t1 = time.perf_counter()
        reply = transport.push(b)
        acks.append(time.perf_counter() - t1)
        for r in reply.results:
            counts[r.result] += 1
        if start // BATCH % 200 == 0:
            log(f"  pushed {start + len(chunk)} / {len(events)}")
    seconds = time.perf_counter() - t0
    transport.close()
    t1 = time.perf_counter()
    with eng.connect() as conn:
        problems = check_invariants(conn)
        stored = conn.exec_driver_sql("SELECT count(*) FROM station_events").scalar()
    check_s = time.perf_counter() - t1
    eng.dispose()
    acks.sort()
    return {
        "seconds": seconds, "events_per_s": len(events) / seconds, "path": path,
        "applied": counts["applied"], "duplicate": counts["duplicate"],
        "rejected": counts["rejected"], "stored": stored, "invariant_violations": len(problems),
        "problems": problems[:5], "p95_ack_ms": acks[int(len(acks) * 0.95)] * 1000,
        "check_s": check_s,
    }


class _PlainDirect:
    def __init__(self, url: str) -> None:
        self.engine = central_db.make_engine(url, pool_size=1)

    def push(self, batch: PushBatch) -> Any:
        from central.service import push

        with self.engine.connect() as conn:
            return push(conn, STATION, batch)

    def close(self) -> None:
        self.engine.dispose()


# -- (a) row-by-row ORM insert loop ---------------------------------------------------------------


def run_orm(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The same rows written the naive way: one ORM object, one flush at a time (no rules)."""
    from sqlalchemy.orm import DeclarativeBase, Session

    from central import schema

    class Base(DeclarativeBase):
        pass

    class Bag(Base):
        __table__ = schema.bag

    class Link(Base):
        __table__ = schema.link

    class Scan(Base):
        __table__ = schema.scan

    eng = central_db.make_engine(url)
    central_db.migrate(eng)
    ids: dict[str, int] = {}
    linked: set[str] = set()
    t0 = time.perf_counter()
    with Session(eng) as s:
        for n, e in enumerate(events, 1):
            now = datetime.fromisoformat(e["device_time"])
            codes = [(e["parent"], "parent")] + ([(e["child"], "child")] if e["type"] == "child_linked" else [])
            for code, kind in codes:
                if code and code not in ids:
                    bag = Bag(qr_id=code, type=kind, child_count=0, status="pending", weight_kg=0.0,
                              dispatch_area=AREA, created_at=now, updated_at=now)
                    s.add(bag)
                    s.flush()
                    ids[code] = bag.id
            if e["type"] == "child_linked" and e["child"] and e["child"] not in linked:
                linked.add(e["child"])
                s.add(Link(parent_bag_id=ids[e["parent"]], child_bag_id=ids[e["child"]], created_at=now))
                s.flush()
                s.add(Scan(timestamp=now, parent_bag_id=ids[e["parent"]], child_bag_id=ids[e["child"]]))
                s.flush()
            if n % BATCH == 0:
                s.commit()
        s.commit()
    seconds = time.perf_counter() - t0
    eng.dispose()
    return {"seconds": seconds, "events_per_s": len(events) / seconds, "events": len(events)}



# -- (b) plain COPY into an unindexed table --------------------------------------------------------


def run_copy(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    with eng.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE copy_events (event_id text, station_id text, seq bigint, type text, "
            "operator text, device_time text, parent_code text, child_code text, bill_code text, "
            "data jsonb, app_version text, protocol_version int)"
        )
    buf = io.StringIO()
    for e in events:
        row = [e["event_id"], e["station_id"], str(e["seq"]), e["type"], e["operator"],
               e["device_time"], e["parent"] or "\\N", e["child"] or "\\N", e["bill"] or "\\N",
               json.dumps(e["data"]).replace("\\", "\\\\"), e["app_version"],
               str(e["protocol_version"])]
        buf.write("\t".join(row) + "\n")
    data = buf.getvalue()
    t0 = time.perf_counter()
    with eng.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cur.copy_expert("COPY copy_events FROM STDIN", io.StringIO(data))
    seconds = time.perf_counter() - t0
    eng.dispose()
    return {"seconds": seconds, "events_per_s": len(events) / seconds}


# -- (c) the same writes, nothing decided -----------------------------------------------------------


def run_writes_only(url: str, events: list[dict[str, Any]], *,
                    link_fks: bool = True) -> dict[str, Any]:
    """The rows ingest writes, COPY'd into the real schema (indexes, foreign keys, feed
    triggers), one transaction per batch as ingest does, with nothing read, locked or decided:
    the floor under any apply that keeps this schema and an event log."""
    from central.apply import EVENT_COLUMNS

    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    central_db.migrate(eng)
    with eng.begin() as conn:
        if not link_fks:  # only to measure what the two per-row key checks of a link cost
            conn.exec_driver_sql("ALTER TABLE link DROP CONSTRAINT link_parent_bag_id_fkey, "
                                 "DROP CONSTRAINT link_child_bag_id_fkey")
        conn.exec_driver_sql("INSERT INTO station_stations (station_id, area, role_name) "
                             "VALUES (%s, %s, 'bench_writes')", (STATION, AREA))
        next_id = int(conn.exec_driver_sql("SELECT nextval('bag_id_seq')").scalar() or 1)
    ids: dict[str, int] = {}
    linked: set[str] = set()
    t0 = time.perf_counter()
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        for start in range(0, len(events), BATCH):
            bags: list[str] = []
            links: list[str] = []
            scans: list[str] = []
            log_rows: list[str] = []
            for e in events[start:start + BATCH]:
                at = e["device_time"]
                for code, kind in ((e["parent"], "parent"), (e["child"], "child")):
                    if code and code not in ids and e["type"] != "bill_created":
                        next_id += 1
                        ids[code] = next_id
                        bags.append(f"{next_id}\t{code}\t{kind}\t0\tNorth\tpending\t0\t{at}\t{at}\n")
                if e["type"] == "child_linked" and e["child"] not in linked:
                    linked.add(e["child"])
                    links.append(f"{ids[e['parent']]}\t{ids[e['child']]}\t{at}\n")
                    scans.append(f"{at}\t{ids[e['parent']]}\t{ids[e['child']]}\n")
                log_rows.append("\t".join((
                    e["event_id"], STATION, str(e["seq"]), e["type"], e["operator"], at,
                    e["parent"] or "\\N", e["child"] or "\\N", e["bill"] or "\\N",
                    json.dumps(e["data"]).replace("\\", "\\\\"), e["app_version"],
                    str(e["protocol_version"]), "applied", "\\N", "\\N")) + "\n")
            for table, cols, rows in (
                ("bag", "id, qr_id, type, child_count, dispatch_area, status, weight_kg, "
                        "created_at, updated_at", bags),
                ("link", "parent_bag_id, child_bag_id, created_at", links),
                ("scan", '"timestamp", parent_bag_id, child_bag_id', scans),
                ("station_events", ", ".join(EVENT_COLUMNS), log_rows),
            ):
                if rows:
                    cur.copy_expert(f"COPY {table} ({cols}) FROM STDIN", io.StringIO("".join(rows)))
            raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - t0
    eng.dispose()
    return {"seconds": seconds, "events_per_s": len(events) / seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--events", type=int)
    ap.add_argument("--link-fk-cost", action="store_true",
                    help="also run (c) without link's foreign keys (what their checks cost)")
    args = ap.parse_args(argv)
    n = args.events or (FULL if args.full else QUICK)
    n_orm = min(n, 20_000 if args.full else 2_000)
    log(f"generating {n} events")
    events = list(backlog(n))
    admin, srv = server_url()
    try:
        log("ingest (direct path, all rules)")
        ingest = run_ingest(fresh_db(admin, "tt_bench_ingest"), events)
        log(f"  {ingest['events_per_s']:.0f} events/s")
        log(f"ORM row-by-row on {n_orm} events")
        orm = run_orm(fresh_db(admin, "tt_bench_orm"), events[:n_orm])
        log(f"  {orm['events_per_s']:.0f} events/s")
        log("the same writes with nothing decided")
        writes = run_writes_only(fresh_db(admin, "tt_bench_writes"), events)
        log(f"  {writes['events_per_s']:.0f} events/s")
        no_fk = None
        if args.link_fk_cost:
            log("the same writes, link without its foreign keys")
            no_fk = run_writes_only(fresh_db(admin, "tt_bench_writes_nofk"), events, link_fks=False)
            log(f"  {no_fk['events_per_s']:.0f} events/s")
        log("COPY into an unindexed table")
        copy = run_copy(fresh_db(admin, "tt_bench_copy"), events)
        log(f"  {copy['events_per_s']:.0f} events/s")
    finally:
        if srv is not None:
            srv.cleanup()
    result = {
        "bench": "ingest",
        "size": {"events": n, "batch": BATCH, "orm_events": n_orm, "path": ingest["path"]},
        "metrics": {
            "events_per_s": round(ingest["events_per_s"], 1),
            "events": n,
            "seconds": round(ingest["seconds"], 2),
            "applied": ingest["applied"], "duplicate": ingest["duplicate"],
            "rejected": ingest["rejected"], "stored": ingest["stored"],
            "invariant_violations": ingest["invariant_violations"],
            "p95_ack_ms": round(ingest["p95_ack_ms"], 1),
            "invariant_check_s": round(ingest["check_s"], 2),
            "orm_events_per_s": round(orm["events_per_s"], 1),
            "copy_events_per_s": round(copy["events_per_s"], 1),
            "writes_only_events_per_s": round(writes["events_per_s"], 1),
            **({"writes_only_without_link_fks_events_per_s": round(no_fk["events_per_s"], 1)}
               if no_fk else {}),
        },
        "ratios": {
            "vs_orm_rows": round(ingest["events_per_s"] / orm["events_per_s"], 2),
            "vs_copy": round(ingest["events_per_s"] / copy["events_per_s"], 3),
            "vs_writes_only": round(ingest["events_per_s"] / writes["events_per_s"], 3),
        },
    }
    if ingest["problems"]:
        log("invariant problems: " + "; ".join(ingest["problems"]))
    print(json.dumps(result))
    return 0 if ingest["invariant_violations"] == 0 and ingest["stored"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
