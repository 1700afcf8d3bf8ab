"""bench ingest: one station pushes a backlog through the sync service (a real `tracetrack-central
serve` process, HttpTransport with the station's token) into PostgreSQL, all rules and invariants
enforced; compared in the same run with (a) a row-by-row ORM insert loop of the same rows, (b) a
plain COPY of the same events into an unindexed table, (c) the rows ingest writes (bags, links,
scans, event log) COPY'd into the real schema with nothing decided and (d) the same apply
in-process without HTTP (central.service.push on the service role's own connection).

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

from bench.serve_proc import Serve, register, service_url
from central import db as central_db
from central.invariants import check_invariants
from central.users import add_demo_users
from station import APP_VERSION, PROTOCOL_VERSION
from station.events import Event, EventType, uuid7
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


# -- (1) the real path: through the sync service ------------------------------------------------


def setup_centre(url: str, station_id: str = STATION, area: str = AREA) -> str:
    """Schema, demo users and the bench station; returns the station's token."""
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    central_db.migrate(eng)
    with eng.begin() as conn:
        add_demo_users(conn, area)
        token = register(conn, station_id, area)
    eng.dispose()
    return token


def checkpoint(admin_url: str) -> None:
    """Start each measurement with the previous one's WAL flushed (not on its clock)."""
    eng = central_db.make_engine(admin_url, poolclass=sa.pool.NullPool,
                                 isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    except sa.exc.DBAPIError:
        pass  # not a superuser on TRACETRACK_BENCH_DATABASE_URL: measured without it
    eng.dispose()


def _batches(events: list[dict[str, Any]]) -> Iterator[tuple[int, PushBatch]]:
    for start in range(0, len(events), BATCH):
        chunk = events[start:start + BATCH]
        yield start, PushBatch(STATION, PROTOCOL_VERSION, APP_VERSION, chunk, len(events) - start,
                               None, datetime.now(UTC).isoformat())


def _push_all(transport: Any, events: list[dict[str, Any]],
              keep_every: int = 0) -> dict[str, Any]:
    """Push every batch in order and time each answer. Through a transport that allows it
    (HttpTransport.pipelining) the next batch is encoded and sent while the centre applies the
    one before, as the sync worker does (one ahead, with its after-sequence header); a batch's
    acknowledgement is then timed from when its turn came (the answer before it)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    counts = {"applied": 0, "duplicate": 0, "rejected": 0}
    acks: list[float] = []
    kept: list[tuple[PushBatch, Any]] = []
    ahead = bool(getattr(transport, "pipelining", False))

    def send(b: PushBatch, after: int | None) -> tuple[Any, float, float]:
        t1 = time.perf_counter()
        reply = transport.push(b) if after is None else transport.push(b, after_seq=after)
        return reply, t1, time.perf_counter()

    marks: list[tuple[int, float]] = []  # (events answered, when)
    pool = ThreadPoolExecutor(max_workers=2)
    inflight: list[tuple[int, PushBatch, Future[tuple[Any, float, float]]]] = []
    t0 = prev_done = time.perf_counter()
    try:
        for start, b in _batches(events):
            after = inflight[-1][1].events[-1]["seq"] if inflight else None
            inflight.append((start, b, pool.submit(send, b, after)))
            if len(inflight) < (2 if ahead else 1):
                continue
            start, b, fut = inflight.pop(0)
            prev_done = _answered(b, fut, start, counts, acks, kept, keep_every, prev_done)
            marks.append((start + len(b.events), prev_done))
        for start, b, fut in inflight:
            prev_done = _answered(b, fut, start, counts, acks, kept, keep_every, prev_done)
            marks.append((start + len(b.events), prev_done))
    finally:
        pool.shutdown(wait=True)
    seconds = time.perf_counter() - t0
    marks.insert(0, (0, t0))
    acks.sort()
    return {"seconds": seconds, "events_per_s": len(events) / seconds, **counts,
            "p95_ack_ms": acks[int(len(acks) * 0.95)] * 1000,
            "p50_ack_ms": acks[len(acks) // 2] * 1000, "kept": kept, "sent_ahead": ahead,
            "rate_as_tables_grow": _rate_by_size(marks)}


def _rate_by_size(marks: list[tuple[int, float]]) -> dict[str, float]:
    """events/s over the last 10 % of the events before 100 000, 500 000 and 1 000 000 (and
    the end), from (events stored, time) after each batch: how the rate falls as the centre's
    tables grow in one run."""
    out: dict[str, float] = {}
    total = marks[-1][0]
    for size in sorted({n for n in (100_000, 500_000, 1_000_000) if n <= total} | {total}):
        lo = size - size // 10
        a = next(m for m in marks if m[0] >= lo)
        b = next(m for m in marks if m[0] >= size)
        if b[0] > a[0] and b[1] > a[1]:
            out[f"at_{size}"] = round((b[0] - a[0]) / (b[1] - a[1]), 1)
    return out


def _answered(b: PushBatch, fut: Any, start: int, counts: dict[str, int], acks: list[float],
              kept: list[tuple[PushBatch, Any]], keep_every: int, prev_done: float) -> float:
    reply, t1, done = fut.result()
    acks.append(done - max(t1, prev_done))
    for r in reply.results:
        counts[r.result] += 1
    n = start // BATCH
    if keep_every and n % keep_every == 0:
        kept.append((b, reply))
    if n % 200 == 0:
        log(f"  pushed {start + len(b.events)} / {start + b.backlog}")
    return done


def _check(url: str, out: dict[str, Any]) -> dict[str, Any]:
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    t1 = time.perf_counter()
    with eng.connect() as conn:
        problems = check_invariants(conn)
        out["stored"] = conn.exec_driver_sql("SELECT count(*) FROM station_events").scalar()
    out["check_s"] = time.perf_counter() - t1
    out["invariant_violations"] = len(problems)
    out["problems"] = problems[:5]
    eng.dispose()
    return out


def run_ingest(url: str, events: list[dict[str, Any]],
               extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """One station pushes the backlog through a real `serve` process (one worker, one
    admission slot: the defaults, and `extra` serve options) with the station's own transport
    (HttpTransport, token)."""
    from sync.transport import HttpTransport

    token = setup_centre(url)
    with Serve(service_url(url), extra=extra) as serve:
        transport = HttpTransport(serve.url, token, station_id=STATION)
        transport.whoami()  # connected and known, as a station that is up
        transport.timing_log = []  # Server-Timing of every push: how the looks ahead went
        assert serve.proc is not None
        cpu = CpuMeter(url, serve.proc.pid)
        try:
            out = _push_all(transport, events, keep_every=20)
        finally:
            transport.close()
        # batches sent ahead decided while the one before was written (docs/sync.md §4b)
        out["looked_ahead"] = {k: sum(1 for t in transport.timing_log if f"ahead_{k}" in t)
                               for k in ("stood", "redone")}
        out["cpu_ms_per_batch"] = cpu.per_batch(-(-len(events) // BATCH))
    out["path"] = "HttpTransport -> tracetrack-central serve (1 worker)"
    out["token_lookup_ms"] = token_lookup_ms(service_url(url), token)
    return _check(url, out)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used from now on by this process (the station), the serve process and the service
    role's PostgreSQL sessions: where a batch's time goes, besides waiting."""

    def __init__(self, url: str, serve_pid: int | None) -> None:
        self.engine = central_db.make_engine(url, poolclass=sa.pool.NullPool)
        self.serve_pid = serve_pid
        self.backends_before = {pid: _cpu_s(pid) for pid in self._backends()}
        self.serve_before = _cpu_s(serve_pid) if serve_pid else 0.0
        self.own_before = time.process_time()

    def _backends(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND usename LIKE 'tts\\_%%\\_service' AND pid <> pg_backend_pid()").scalars())

    def per_batch(self, batches: int) -> dict[str, float]:
        own = time.process_time() - self.own_before
        serve = (_cpu_s(self.serve_pid) - self.serve_before) if self.serve_pid else 0.0
        pg = sum(_cpu_s(pid) - self.backends_before.get(pid, 0.0) for pid in self._backends())
        self.engine.dispose()
        ms = 1000.0 / batches
        return {"station_process": round(own * ms, 2), "serve_process": round(serve * ms, 2),
                "postgres_sessions": round(pg * ms, 2)}


def token_lookup_ms(role_url: str, token: str, n: int = 200) -> float:
    """What the service does per request before the batch is read: the token's station looked
    up on a pooled connection (one keyed SELECT outside a transaction): the service's own code."""
    from central.app import Centre, ServiceConfig

    centre = Centre(ServiceConfig(url=role_url))
    try:
        centre.identify(token)
        t0 = time.perf_counter()
        for _ in range(n):
            centre.identify(token)
        return round((time.perf_counter() - t0) / n * 1000, 3)
    finally:
        centre.engine.dispose()


# -- (d) the same apply in-process, without HTTP ----------------------------------------------------


class InProcess:
    """What the service does with a batch, called directly: central.service.push on the
    service role's own connection, with the service's admission slot (as DirectTransport did
    with the station's role before the HTTP service)."""

    def __init__(self, url: str, station_id: str = STATION, *, slots: int | None = None,
                 admission_wait_s: float | None = None) -> None:
        from central.app import ADMISSION_LOCK, ServiceConfig
        from central.service import Admission

        cfg = ServiceConfig(url=url)
        self.station_id = station_id
        self.admission = Admission(
            cfg.slots if slots is None else slots, ADMISSION_LOCK, cfg.busy_retry_s,
            cfg.admission_wait_s if admission_wait_s is None else admission_wait_s)
        self.engine = central_db.make_engine(url, pool_size=1)

    def connect(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.rollback()

    def push(self, batch: PushBatch) -> Any:
        from central.service import push

        with self.engine.connect() as conn:
            return push(conn, self.station_id, batch, self.admission)

    def close(self) -> None:
        self.engine.dispose()


def run_in_process(url: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    setup_centre(url)
    transport = InProcess(service_url(url))
    transport.connect()
    cpu = CpuMeter(url, None)
    try:
        out = _push_all(transport, events)
        out["cpu_ms_per_batch"] = cpu.per_batch(-(-len(events) // BATCH))
    finally:
        transport.close()
    out["path"] = "central.service.push in-process (service role)"
    return _check(url, out)


def codec_costs(kept: list[tuple[PushBatch, Any]]) -> dict[str, float]:
    """Per batch, what HTTP adds around the apply, replayed on sampled batches and their replies
    (ms): the station's encoding (JSON, gzip level 1), the service's decoding, the service's reply
    (JSON and Starlette's GZipMiddleware at its default level 9: the reply is over 4 KB and
    httpx asks for gzip) and the station's reading of it."""
    import gzip
    import zlib

    from sync.protocol import PushReply

    sums = dict.fromkeys(("station_encode", "service_decode", "service_reply_json",
                          "service_reply_gzip9", "station_decode_reply"), 0.0)
    sizes = {"request_json_bytes": 0, "request_gzip_bytes": 0, "reply_json_bytes": 0,
             "reply_gzip_bytes": 0}
    for batch, reply in kept:
        t = time.perf_counter()
        body = json.dumps(batch.to_json(), separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8", "surrogatepass")
        sizes["request_json_bytes"] += len(body)
        packed = gzip.compress(body, compresslevel=1)
        sizes["request_gzip_bytes"] += len(packed)
        t2 = time.perf_counter()
        sums["station_encode"] += t2 - t
        PushBatch.from_json(json.loads(zlib.decompressobj(wbits=31).decompress(packed)))
        t3 = time.perf_counter()
        sums["service_decode"] += t3 - t2
        out = json.dumps(reply.to_json(), ensure_ascii=False, allow_nan=False, indent=None,
                         separators=(",", ":")).encode("utf-8")
        t4 = time.perf_counter()
        sums["service_reply_json"] += t4 - t3
        sizes["reply_json_bytes"] += len(out)
        zipped = gzip.compress(out, compresslevel=9)
        t5 = time.perf_counter()
        sums["service_reply_gzip9"] += t5 - t4
        sizes["reply_gzip_bytes"] += len(zipped)
        PushReply.from_json(json.loads(gzip.decompress(zipped)))
        sums["station_decode_reply"] += time.perf_counter() - t5
    n = max(1, len(kept))
    res = {k + "_ms": round(v / n * 1000, 2) for k, v in sums.items()}
    res.update({k: int(v / n) for k, v in sizes.items()})
    return res


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


# Parts of the writes the anatomy run leaves out one at a time (--anatomy)
WRITE_PARTS = ("link_fks", "feed", "scan", "event_log")


def run_writes_only(url: str, events: list[dict[str, Any]], *,
                    link_fks: bool = True, without: str | None = None) -> dict[str, Any]:
    """The rows ingest writes, COPY'd into the real schema (indexes, foreign keys, feed
    triggers), one transaction per batch as ingest does, with nothing read, locked or decided:
    the floor under any apply that keeps this schema and an event log. `without` leaves one
    part out (WRITE_PARTS), to measure what it costs."""
    from central.apply import EVENT_COLUMNS

    if not link_fks:
        without = "link_fks"
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    central_db.migrate(eng)
    with eng.begin() as conn:
        if without == "link_fks":  # only to measure what the two per-row key checks cost
            conn.exec_driver_sql("ALTER TABLE link DROP CONSTRAINT link_parent_bag_id_fkey, "
                                 "DROP CONSTRAINT link_child_bag_id_fkey")
        if without == "feed":  # the change-feed triggers on the web tables
            for table in ("bag", "link", "scan", "bill", "bill_bag"):
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
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
                if rows and not (without == "scan" and table == "scan") and not (
                        without == "event_log" and table == "station_events"):
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
    ap.add_argument("--anatomy", action="store_true",
                    help="also the writes-only floor without each part in turn (link keys, "
                         "feed triggers, scan rows, event log): what each costs per event")
    ap.add_argument("--look-ahead", choices=("on", "off", "both"), default="on",
                    help="serve's --look-ahead; both: also the service path with it off, first, "
                         "on a fresh database (docs/sync.md §4b)")
    ap.add_argument("--link-fk-cost", action="store_true",
                    help="also run (c) without link's foreign keys (what their checks cost)")
    args = ap.parse_args(argv)
    n = args.events or (FULL if args.full else QUICK)
    n_orm = min(n, 20_000 if args.full else 2_000)
    log(f"generating {n} events")
    events = list(backlog(n))
    admin, srv = server_url()
    try:
        checkpoint(admin)
        no_look = None
        if args.look_ahead == "both":
            log("ingest through the sync service, serve --look-ahead off")
            no_look = run_ingest(fresh_db(admin, "tt_bench_ingest_off"), events,
                                 ("--look-ahead", "off"))
            log(f"  {no_look['events_per_s']:.0f} events/s")
            checkpoint(admin)
        log("ingest through the sync service (HTTP, a real serve process, all rules)")
        ingest = run_ingest(fresh_db(admin, "tt_bench_ingest"), events,
                            ("--look-ahead", "off" if args.look_ahead == "off" else "on"))
        log(f"  {ingest['events_per_s']:.0f} events/s")
        checkpoint(admin)
        log("(d) the same apply in-process, without HTTP")
        inproc = run_in_process(fresh_db(admin, "tt_bench_inproc"), events)
        log(f"  {inproc['events_per_s']:.0f} events/s")
        checkpoint(admin)
        log(f"ORM row-by-row on {n_orm} events")
        orm = run_orm(fresh_db(admin, "tt_bench_orm"), events[:n_orm])
        log(f"  {orm['events_per_s']:.0f} events/s")
        checkpoint(admin)
        log("the same writes with nothing decided")
        writes = run_writes_only(fresh_db(admin, "tt_bench_writes"), events)
        log(f"  {writes['events_per_s']:.0f} events/s")
        no_fk = None
        if args.link_fk_cost:
            log("the same writes, link without its foreign keys")
            no_fk = run_writes_only(fresh_db(admin, "tt_bench_writes_nofk"), events, link_fks=False)
            log(f"  {no_fk['events_per_s']:.0f} events/s")
        anatomy: dict[str, float] = {}
        if args.anatomy:
            for part in WRITE_PARTS:
                log(f"the same writes without {part}")
                r = run_writes_only(fresh_db(admin, f"tt_bench_writes_no_{part}"), events,
                                    without=part)
                # microseconds per event that part costs (floor minus floor without it)
                anatomy[part] = round(1e6 * (writes["seconds"] - r["seconds"]) / n, 1)
                log(f"  {r['events_per_s']:.0f} events/s: {part} costs {anatomy[part]} us/event")
        log("COPY into an unindexed table")
        copy = run_copy(fresh_db(admin, "tt_bench_copy"), events)
        log(f"  {copy['events_per_s']:.0f} events/s")
    finally:
        if srv is not None:
            srv.cleanup()
    codec = codec_costs(ingest["kept"])
    batches = -(-n // BATCH)
    extra_ms = (ingest["seconds"] - inproc["seconds"]) / batches * 1000
    result = {
        "bench": "ingest",
        "size": {"events": n, "batch": BATCH, "orm_events": n_orm, "path": ingest["path"],
                 "compared_path": inproc["path"]},
        "metrics": {
            "events_per_s": round(ingest["events_per_s"], 1),
            "events": n,
            "seconds": round(ingest["seconds"], 2),
            "applied": ingest["applied"], "duplicate": ingest["duplicate"],
            "rejected": ingest["rejected"], "stored": ingest["stored"],
            "invariant_violations": ingest["invariant_violations"],
            "p50_ack_ms": round(ingest["p50_ack_ms"], 1),
            "p95_ack_ms": round(ingest["p95_ack_ms"], 1),
            "invariant_check_s": round(ingest["check_s"], 2),
            "in_process_events_per_s": round(inproc["events_per_s"], 1),
            "in_process_seconds": round(inproc["seconds"], 2),
            "in_process_p50_ack_ms": round(inproc["p50_ack_ms"], 1),
            "in_process_p95_ack_ms": round(inproc["p95_ack_ms"], 1),
            "in_process_invariant_violations": inproc["invariant_violations"],
            "http_extra_ms_per_batch": round(extra_ms, 2),
            "token_lookup_ms": ingest["token_lookup_ms"],
            "cpu_ms_per_batch": ingest["cpu_ms_per_batch"],
            "in_process_cpu_ms_per_batch": inproc["cpu_ms_per_batch"],
            "codec_per_batch": codec,
            "sent_ahead": ingest["sent_ahead"],
            "looked_ahead": ingest["looked_ahead"],
            **({"look_ahead_off_events_per_s": round(no_look["events_per_s"], 1),
                "look_ahead_off_cpu_ms_per_batch": no_look["cpu_ms_per_batch"],
                "look_ahead_off_p95_ack_ms": round(no_look["p95_ack_ms"], 1),
                "look_ahead_off_invariant_violations": no_look["invariant_violations"]}
               if no_look else {}),
            "rate_as_tables_grow": ingest["rate_as_tables_grow"],
            "in_process_rate_as_tables_grow": inproc["rate_as_tables_grow"],
            "orm_events_per_s": round(orm["events_per_s"], 1),
            "copy_events_per_s": round(copy["events_per_s"], 1),
            "writes_only_events_per_s": round(writes["events_per_s"], 1),
            **({"writes_only_without_link_fks_events_per_s": round(no_fk["events_per_s"], 1)}
               if no_fk else {}),
            **({"writes_only_us_per_event": round(1e6 * writes["seconds"] / n, 1),
                "writes_only_part_us_per_event": anatomy} if anatomy else {}),
        },
        "ratios": {
            "vs_in_process": round(ingest["events_per_s"] / inproc["events_per_s"], 3),
            **({"look_ahead_on_vs_off": round(ingest["events_per_s"] / no_look["events_per_s"], 3)}
               if no_look else {}),
            "vs_orm_rows": round(ingest["events_per_s"] / orm["events_per_s"], 2),
            "vs_copy": round(ingest["events_per_s"] / copy["events_per_s"], 3),
            "vs_writes_only": round(ingest["events_per_s"] / writes["events_per_s"], 3),
            "in_process_vs_writes_only": round(inproc["events_per_s"] / writes["events_per_s"], 3),
        },
    }
    for name, run in (("service", ingest), ("in-process", inproc)):
        if run["problems"]:
            log(f"invariant problems ({name}): " + "; ".join(run["problems"]))
    print(json.dumps(result))
    runs = (ingest, inproc) if no_look is None else (ingest, inproc, no_look)
    ok = all(r["invariant_violations"] == 0 and r["stored"] == n for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
