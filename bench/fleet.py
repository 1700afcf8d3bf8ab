"""bench fleet: N stations (separate processes) drain their offline backlogs into one centre at
the same moment, through the real sync worker and HttpTransport (each station its own token) to
a real `tracetrack-central serve` process (2 workers); a share of their child scans conflict
(the same child scanned into different parents at different stations).

    python -m bench.fleet            quick size (10 stations x 200 events)
    python -m bench.fleet --full     200 stations x 2 000 events

First one station drains alone the same way (`--single-events`): the fleet's aggregate rate
is reported against it (`vs_single_station`). During the storm a live station scans one code a
second; each scan is timed from being stored at the station to the centre's answer
(`fresh_scan_p95_s`). Reports the batch acknowledgement latency (p50/p95/max over all batches of
all stations), lost and duplicated events, invariant violations and the drain time. Uses TRACETRACK_BENCH_DATABASE_URL
when set, else a throwaway pgserver (max_connections raised for the service's pools). Last
line: JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.ingest import fresh_db, log, server_url
from bench.serve_proc import Serve, register, service_url
from central import db as central_db
from central.invariants import check_invariants
from central.serve import default_worker_slots
from central.users import add_demo_users
from station import APP_VERSION, PROTOCOL_VERSION
from station.events import uuid7
from station.paths import resolve
from station.store.local import LocalStore

AREA = "North"
CHILDREN = 30
CONFLICT_SHARE = 0.05  # of child scans use a code other stations also scan
BATCH = 200
# The worker's backoff (base 1 s, cap 60 s, full jitter) unless --backoff says otherwise
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 60.0
QUICK = (10, 200)
FULL = (200, 2000)


def backlog(index: int, station_id: str, n: int, shared_pool: int, seed: int = 11) -> list[tuple]:
    """Rows for the station's `events` table: parents filled with children, some contested."""
    rng = random.Random(seed * 1000 + index)
    t = datetime(2026, 11, 2, 6, 0, tzinfo=UTC) + timedelta(seconds=index)
    rows: list[tuple] = []
    seq = 0
    p = 0
    while seq < n:
        parent = f"SB{index * 100 + p:05d}"
        seq += 1
        t += timedelta(seconds=2)
        rows.append((seq, str(uuid7()), station_id, "parent_scanned", "dispatcher",
                     t.isoformat(timespec="milliseconds"), parent, None, None,
                     json.dumps({"bag_type": "SB", "area": AREA, "source": "scanner"}),
                     APP_VERSION, PROTOCOL_VERSION))
        for c in range(CHILDREN):
            if seq >= n:
                break
            if rng.random() < CONFLICT_SHARE:
                child = f"SHARED{rng.randrange(shared_pool):06d}"
            else:
                child = f"F{index:03d}{p:03d}{c:02d}"
            seq += 1
            t += timedelta(seconds=2)
            rows.append((seq, str(uuid7()), station_id, "child_linked", "dispatcher",
                         t.isoformat(timespec="milliseconds"), parent, child, None,
                         json.dumps({"source": "scanner"}), APP_VERSION, PROTOCOL_VERSION))
        p += 1
    return rows


def make_stations(root: Path, count: int, events: int) -> list[Path]:
    """One migrated template store, copied per station (migrations once, not N times)."""
    template = root / "template"
    store = LocalStore.open(resolve(template), create=True)
    store.init_station("TEMPLATE", AREA, demo=False)
    store.close()
    shared_pool = max(10, int(count * events * CONFLICT_SHARE / 4))  # ~4 stations per code
    bases = []
    for i in range(count):
        sid = f"FLEET-{i:03d}"
        base = root / sid
        shutil.copytree(template, base)
        db = sqlite3.connect(base / "station.sqlite3")
        db.execute("UPDATE settings SET value = ? WHERE key = 'station_id'", (json.dumps(sid),))
        db.executemany(
            "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, "
            "parent_code, child_code, bill_id, data, app_version, protocol_version) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            backlog(i, sid, events, shared_pool),
        )
        db.commit()
        db.close()
        bases.append(base)
    return bases


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU s, reaped children's CPU s) of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick)


def tree_cpu_s(root: int | None) -> float:
    """CPU seconds used so far by a process and all its descendants, those that ended too
    (each ended one is in its parent's reaped-children figure): the serve process with its
    workers, or PostgreSQL's postmaster with every backend that came and went."""
    if root is None:
        return 0.0
    stats = {int(d): st for d in os.listdir("/proc") if d.isdigit()
             if (st := _stat(int(d))) is not None}
    children: dict[int, list[int]] = {}
    for pid, st in stats.items():
        children.setdefault(st[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1] + stats[pid][2]
            todo.extend(children.get(pid, ()))
    return total


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine."""
    eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            backend = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() or 0)
    finally:
        eng.dispose()
    st = _stat(backend)
    return st[0] if st is not None else None


def _warm_imports() -> None:
    """Import what the station processes use before forking (shared, not imported N times)."""
    import httpx  # noqa: F401

    import central.app  # noqa: F401
    import central.service  # noqa: F401
    import sync.transport  # noqa: F401
    import sync.worker  # noqa: F401


def run_station(base: str, access: tuple[str, str, str, float | None, int], ready: Any, start: Any,
                out: Any, batch: int, nice: int = 0) -> None:
    """One station process: wait for the start signal, drain with the real worker, report.
    `access` is ("service", service URL, token, _, _) or ("in-process", service role URL, _, wait,
    slots)."""
    from sync.transport import HttpTransport
    from sync.worker import SyncWorker

    os.nice(nice)
    store = LocalStore.open(resolve(base))
    sid = store.settings().station_id
    acks: list[float] = []
    path, url, token, wait, slots = access

    def new_transport() -> Any:
        if path == "in-process":
            from bench.ingest import InProcess

            return InProcess(url, sid, slots=slots, admission_wait_s=wait)
        t = HttpTransport(url, token, station_id=sid)
        t.timing_log = server  # where the centre spent each batch's time (Server-Timing)
        return t

    server: list[dict[str, float]] = []
    # Connected before the start, as a station that is up and waiting for the network would
    # be: the figures are batch round trips, not process start-up or the first connection.
    transport = new_transport()
    if path == "in-process":
        transport.connect()
    else:
        transport.whoami()
    made = [transport]

    def factory() -> Any:  # the connected one first; a new one if the worker drops it
        return made.pop() if made else new_transport()

    worker = SyncWorker(store, factory, pull=False, max_batch_events=batch,
                        on_ack=acks.append, backoff_base_s=BACKOFF_BASE_S,
                        backoff_cap_s=BACKOFF_CAP_S)
    totals = {"sent": 0, "applied": 0, "duplicate": 0, "rejected": 0, "errors": 0, "busy": 0}
    ready.put(sid)
    start.wait()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    errors: list[str] = []
    pending = -1
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        s = worker.run_once()
        for k in ("sent", "applied", "duplicate", "rejected"):
            totals[k] += getattr(s, k)
        pending = s.pending
        if s.error:
            if s.state == "syncing":  # the centre said busy: not an acknowledgement
                totals["busy"] += 1
            else:
                totals["errors"] += 1
                errors.append(s.error)
            time.sleep(worker.next_delay_s)
            continue
        if pending == 0:
            break
    drain = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    worker.close()
    with store.connect() as conn:
        states = dict(conn.exec_driver_sql(
            "SELECT sync_state, count(*) FROM events GROUP BY sync_state").all())
        issues = conn.exec_driver_sql("SELECT count(*) FROM sync_issues").scalar()
        conn.rollback()
    store.close()
    out.put({"station": sid, "acks": acks, "server": server, "drain_s": drain, "pending": pending,
             "cpu_s": cpu,
             "states": states, "issues": issues, "error_texts": errors[:3], **totals})


def run_live(base: str, access: tuple[str, str, str, float | None, int], ready: Any, start: Any,
             stop: Any, out: Any, nice: int = 0) -> None:
    """A station scanning live during the storm: one new scan a second, its worker woken by it
    (as the window wakes it), each scan timed from being stored at the station until the
    centre's answer marks it (the answer comes after the commit). Busy answers are waited out
    the worker's way (backoff), or until the next scan wakes it."""
    from sync.transport import HttpTransport
    from sync.worker import SyncWorker

    os.nice(nice)
    store = LocalStore.open(resolve(base))
    sid = store.settings().station_id
    _, url, token, _, _ = access
    transport = HttpTransport(url, token, station_id=sid)
    transport.whoami()
    made = [transport]
    worker = SyncWorker(store, lambda: made.pop() if made else HttpTransport(url, token,
                                                                             station_id=sid),
                        pull=False, backoff_base_s=BACKOFF_BASE_S, backoff_cap_s=BACKOFF_CAP_S)
    db = sqlite3.connect(Path(base) / "station.sqlite3", isolation_level=None)
    ready.put(sid)
    start.wait()
    waiting: dict[int, float] = {}
    latencies: list[float] = []
    seq = 0
    next_scan = time.monotonic()
    retry_at = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_scan:
            seq += 1
            t = datetime.now(UTC).isoformat(timespec="milliseconds")
            db.execute(
                "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, "
                "parent_code, child_code, bill_id, data, app_version, protocol_version) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (seq, str(uuid7()), sid, "parent_scanned" if seq == 1 else "child_linked",
                 "dispatcher", t, "SB99999", None if seq == 1 else f"LIVE{seq:06d}", None,
                 json.dumps({"bag_type": "SB", "area": AREA, "source": "scanner"}
                            if seq == 1 else {"source": "scanner"}),
                 APP_VERSION, PROTOCOL_VERSION))
            waiting[seq] = time.monotonic()
            next_scan += 1.0
            retry_at = 0.0  # a scan wakes the worker
        if waiting and time.monotonic() >= retry_at:
            s = worker.run_once()
            done = time.monotonic()
            marks = ",".join(str(q) for q in waiting)
            for (q,) in db.execute(f"SELECT seq FROM events WHERE seq IN ({marks}) "
                                   "AND sync_state <> 'pending'").fetchall():
                latencies.append(done - waiting.pop(q))
            retry_at = done + worker.next_delay_s if s.error else 0.0
        wake = min(next_scan, retry_at) if waiting and retry_at else next_scan
        stop.wait(max(0.0, wake - time.monotonic()))
    worker.close()
    db.close()
    store.close()
    out.put({"station": sid, "latencies": latencies, "unanswered": len(waiting)})


def run_fleet(admin: str, path: str, stations: int, events: int, args: Any,
              live: bool = False) -> dict[str, Any]:
    """One drain of the whole fleet into a fresh centre, through `path`; its metrics."""
    tmp = Path(tempfile.mkdtemp(prefix="tt-fleet-"))
    serve: Serve | None = None
    wait = args.admission_wait
    slots = args.slots or args.workers  # serve's default: one per worker
    try:
        url = fresh_db(admin, "tt_bench_fleet_" + path.replace("-", "_"))
        eng = central_db.make_engine(url, poolclass=sa.pool.NullPool)
        central_db.migrate(eng)
        tokens = []
        with eng.begin() as conn:
            add_demo_users(conn, AREA)
            for i in range(stations):
                tokens.append(register(conn, f"FLEET-{i:03d}", AREA))
            live_token = register(conn, "LIVE-1", AREA) if live else ""
        role_url = service_url(url)
        if path == "service":
            extra = ("--slots", str(slots), "--queue", str(args.queue))
            if args.worker_slots is not None:
                extra += ("--worker-slots", str(args.worker_slots))
            if wait is not None:
                extra += ("--admission-wait", str(wait))
            serve = Serve(role_url, workers=args.workers, extra=extra).start()
            log(f"serve on {serve.url} ({args.workers} workers, {' '.join(extra)})")
            accesses = [("service", serve.url, tok, None, slots) for tok in tokens]
        else:
            log("in-process: each station applies with central.service.push on its own "
                "connection as the service role (no HTTP)")
            accesses = [("in-process", role_url, "", wait, slots) for _ in tokens]
        log(f"preparing {stations} stations x {events} events")
        bases = make_stations(tmp, stations, events)
        _warm_imports()
        ctx = mp.get_context("fork")
        start = ctx.Event()
        ready = ctx.Queue()
        out = ctx.Queue()
        procs = [ctx.Process(target=run_station,
                             args=(str(b), acc, ready, start, out, args.batch,
                                   args.station_nice), daemon=True)
                 for b, acc in zip(bases, accesses, strict=True)]
        stop = ctx.Event()
        live_out = ctx.Queue()
        if live and serve is not None:
            live_base = tmp / "LIVE-1"
            shutil.copytree(tmp / "template", live_base)
            with sqlite3.connect(live_base / "station.sqlite3") as ldb:
                ldb.execute("UPDATE settings SET value = ? WHERE key = 'station_id'",
                            (json.dumps("LIVE-1"),))
            procs.append(ctx.Process(target=run_live, args=(
                str(live_base), ("service", serve.url, live_token, None, slots), ready, start, stop,
                live_out, args.station_nice), daemon=True))
        for p in procs:
            p.start()
        for _ in procs:  # every station has its store open and waits for the start
            ready.get(timeout=300)
        log(f"all stations online at once (load {os.getloadavg()[0]:.2f})")
        pg_root = postmaster_pid(url)
        serve_root = serve.proc.pid if serve is not None and serve.proc is not None else None
        pg0, serve0 = tree_cpu_s(pg_root), tree_cpu_s(serve_root)
        t0 = time.perf_counter()
        start.set()
        results = [out.get(timeout=900) for _ in range(len(bases))]
        wall = time.perf_counter() - t0
        pg_cpu, serve_cpu = tree_cpu_s(pg_root) - pg0, tree_cpu_s(serve_root) - serve0
        stop.set()
        live_result = live_out.get(timeout=120) if len(procs) > len(bases) else None
        for p in procs:
            p.join(30)
        if serve is not None:
            serve.stop()
        log(f"drained in {wall:.1f} s")
        with eng.connect() as conn:
            c = conn.exec_driver_sql
            fleet_only = " WHERE station_id <> 'LIVE-1'"  # the live station's scans apart
            stored = c("SELECT count(*) FROM station_events" + fleet_only).scalar() or 0
            distinct = c("SELECT count(DISTINCT event_id) FROM station_events"
                         + fleet_only).scalar() or 0
            applied_links = c("SELECT count(*) FROM station_events WHERE type = 'child_linked' "
                              "AND result = 'applied'").scalar() or 0
            scans = c("SELECT count(*) FROM scan").scalar() or 0
            links = c("SELECT count(*) FROM link").scalar() or 0
            # How the drain went over time: seconds from the first stored event until half and
            # nine tenths of them were (a drain whose last tenth crawls is a tail of stations
            # backing off, not a slow centre)
            spread = c("SELECT " + ", ".join(
                f"extract(epoch FROM percentile_disc({q}) WITHIN GROUP (ORDER BY received_at) "
                "- min(received_at))" for q in (0.5, 0.9)) + " FROM station_events"
                + fleet_only).one()
            problems = check_invariants(conn)
        eng.dispose()
    finally:
        if serve is not None:
            serve.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    total = stations * events
    acks = sorted(a for r in results for a in r["acks"])
    # Each station's first batch also warms its process and the centre's session and code
    # paths: reported apart, as a station that has been running has neither cost.
    warm = sorted(a for r in results for a in r["acks"][1:])

    def pct(q: float, values: list[float] | None = None) -> float:
        v = acks if values is None else values
        return v[min(len(v) - 1, int(len(v) * q))] if v else 0.0

    if problems:
        log("invariant problems: " + "; ".join(problems[:5]))
    errs = [e for r in results for e in r["error_texts"]]
    if errs:
        log("some transient errors, e.g.: " + errs[0])
    still_pending = sum(max(r["pending"], 0) for r in results)
    duplicated = (stored - distinct) + max(0, scans - applied_links) + max(0, links - applied_links)
    fresh: dict[str, Any] = {}
    if live_result is not None:
        lat = sorted(live_result["latencies"])
        fresh = {"fresh_scans": len(lat), "fresh_scans_unanswered": live_result["unanswered"],
                 "fresh_scan_p50_s": round(lat[len(lat) // 2], 3) if lat else None,
                 "fresh_scan_p95_s": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 3)
                 if lat else None,
                 "fresh_scan_max_s": round(lat[-1], 3) if lat else None}
    # Through the service: the centre's own share of each acknowledged batch (Server-Timing),
    # p50 / p95 per part over all batches; the rest of an acknowledgement is the station's
    # encoding and decoding and the HTTP round trip.
    server: dict[str, Any] = {}
    # (busy answers carry no timing: only pushes that were applied are counted)
    applied = [[t for t in r.get("server", []) if "apply" in t] for r in results]
    timings = [t for ts in applied for t in ts]
    firsts = [ts[0] for ts in applied if ts]  # each station's first (all arrive at one instant)
    for t in timings:  # outside the centre's handler: the HTTP server, the wire, the station
        if "station_exchange" in t and "total" in t:
            t["outside"] = t["station_exchange"] - t["total"]
    # The same round trips without the time the station's sending thread waited for a CPU:
    # here 200 station processes share the centre's two cores, which no real station does.
    own: list[float] = []
    own_first: list[float] = []
    for ts in applied:
        for k, t in enumerate(t for t in ts if t.get("station_events")):
            ms = t["station_encode"] + t["station_exchange"] - t["station_cpu_wait"]
            (own_first if k == 0 else own).append(ms)
    if own or own_first:
        server["p95_ack_ms_station_cpu_wait_out"] = round(pct(0.95, sorted(own + own_first)), 1)
        if own:
            server["p95_ack_ms_after_first_station_cpu_wait_out"] = round(
                pct(0.95, sorted(own)), 1)
    for part in (timings[0] if timings else {}):
        v = sorted(t.get(part, 0.0) for t in timings)
        server[f"server_{part}_p50_ms"] = round(pct(0.50, v), 1)
        server[f"server_{part}_p95_ms"] = round(pct(0.95, v), 1)
        server[f"server_first_{part}_p95_ms"] = round(
            pct(0.95, sorted(t.get(part, 0.0) for t in firsts)), 1)
    # Where the CPU went while the fleet drained (µs per event): the station processes (in-process
    # they also decide and write), the serve process and its workers, PostgreSQL (every backend
    # and its background processes); and how much of the two cores that is.
    station_cpu = sum(r["cpu_s"] for r in results)
    per_event = {"stations": station_cpu, "serve": serve_cpu, "postgres": pg_cpu}
    cpu = {f"cpu_us_per_event_{k}": round(v / total * 1e6, 1) for k, v in per_event.items()}
    cpu["cpu_share_of_two_cores"] = round(sum(per_event.values()) / (2 * wall), 3)
    if timings:  # how much of the drain the slots were applying (Server-Timing `apply`)
        cpu["slot_busy_share"] = round(sum(t["apply"] for t in timings) / 1000 / (
            wall * (args.slots or args.workers)), 3)
    if spread is not None and len(spread) == 2 and None not in spread:
        cpu["stored_half_s"], cpu["stored_90_s"] = (round(float(x), 1) for x in spread)
    drains = sorted(r["drain_s"] for r in results)
    cpu["station_drain_p50_s"] = round(drains[len(drains) // 2], 1)
    return {
        **fresh,
        **server,
        **cpu,
        "stations": stations,
        "events": total,
        "p50_ack_ms": round(pct(0.50), 1),
        "p95_ack_ms": round(pct(0.95), 1),
        "max_ack_ms": round(acks[-1] if acks else 0.0, 1),
        "p95_ack_ms_after_first_batch": round(pct(0.95, warm), 1),
        "p95_first_batch_ms": round(pct(0.95, sorted(r["acks"][0] for r in results
                                                      if r["acks"])), 1),
        "batches": len(acks),
        "lost": total - stored + still_pending,
        "duplicated": duplicated,
        "invariant_violations": len(problems),
        "drain_s": round(wall, 2),
        "events_per_s": round(total / wall, 1),
        "rejected_conflicts": sum(r["rejected"] for r in results),
        "sync_issues": sum(r["issues"] or 0 for r in results),
        "busy_answers": sum(r["busy"] for r in results),
        "transient_errors": sum(r["errors"] for r in results),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--stations", type=int)
    ap.add_argument("--events", type=int)
    ap.add_argument("--slots", type=int, default=None,
                    help="batches the centre applies at once (serve --slots; default as serve: "
                    "one per worker)")
    ap.add_argument("--workers", type=int, default=2, help="serve --workers (default 2)")
    ap.add_argument("--worker-slots", type=int, default=None, metavar="N",
                    help="serve --worker-slots (default as serve: the slots shared out over "
                    "the workers; 0: no limit per worker)")
    ap.add_argument("--admission-wait", type=float, default=None, metavar="S",
                    help="serve --admission-wait (default: the service's own, 2 s)")
    ap.add_argument("--batch", type=int, default=BATCH, help="events per batch (max 500)")
    ap.add_argument("--single-events", type=int, default=None, metavar="N",
                    help="first, one station alone drains N events the same way (default 2 000 "
                         "quick, 100 000 full): the rate the fleet's aggregate is compared with")
    ap.add_argument("--queue", type=int, default=2, metavar="N",
                    help="serve --queue: pushes one worker takes in at once (default 2, as serve)")
    ap.add_argument("--station-nice", type=int, default=10, metavar="N",
                    help="the station processes run at this niceness (default 10): they stand "
                         "for separate computers, so they must not starve the centre's "
                         "processes of the two cores they all share here; 0 to compare")
    ap.add_argument("--no-live", action="store_true",
                    help="without the live station scanning one code a second during the storm")
    ap.add_argument("--compare", action="store_true",
                    help="then the same drain in-process (central.service.push in each station "
                         "process, no HTTP), same admission settings, into a fresh centre")
    args = ap.parse_args(argv)
    stations, events = FULL if args.full else QUICK
    stations = args.stations or stations
    events = args.events or events
    # the service's pools (per worker 8 + 28 overflow), or with --compare one connection per
    # station, and the bench's own sessions
    conns = max(args.workers * 40, stations if args.compare else 0) + 40
    admin, srv = server_url({"max_connections": str(max(100, conns))})
    try:
        single_n = args.single_events or (100_000 if args.full else 2_000)
        solo = run_fleet(admin, "service", 1, single_n, argparse.Namespace(
            **{**vars(args), "batch": 500}))
        log(f"one station alone: {solo['events_per_s']} events/s")
        m = run_fleet(admin, "service", stations, events, args, live=not args.no_live)
        m["single_station_events_per_s"] = solo["events_per_s"]
        m["single_station_events"] = single_n
        inproc = run_fleet(admin, "in-process", stations, events, args) if args.compare else None
    finally:
        if srv is not None:
            srv.cleanup()
    ratios: dict[str, float] = {
        "p95_vs_target_100ms": round(m["p95_ack_ms"] / 100.0, 3),
        "vs_single_station": round(m["events_per_s"] / max(solo["events_per_s"], 0.1), 3),
    }
    if inproc:
        m.update({f"in_process_{k}": v for k, v in inproc.items()
                  if k not in ("stations", "events")})
        ratios["p95_vs_in_process"] = round(m["p95_ack_ms"] / max(inproc["p95_ack_ms"], 0.1), 3)
        ratios["drain_vs_in_process"] = round(m["drain_s"] / max(inproc["drain_s"], 0.01), 3)
    result = {
        "bench": "fleet",
        "size": {"stations": stations, "events_per_station": events,
                 "conflict_share": CONFLICT_SHARE, "admission_slots": args.slots or args.workers,
                 "batch": args.batch, "serve_workers": args.workers,
                 "worker_slots": args.worker_slots if args.worker_slots is not None else
                 default_worker_slots(args.slots or args.workers, args.workers,
                                      2.0 if args.admission_wait is None else args.admission_wait),
                 "station_nice": args.station_nice,
                 "admission_wait_s": 2.0 if args.admission_wait is None else args.admission_wait,
                 "path": "SyncWorker + HttpTransport -> tracetrack-central serve"},
        "metrics": m,
        "ratios": ratios,
    }
    print(json.dumps(result))
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 and r["invariant_violations"] == 0
             for r in (m, inproc) if r)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
