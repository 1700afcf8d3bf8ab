"""Fault harness: real station processes, a real PostgreSQL of its own, the real sync service and
the real TCP proxy, with faults injected at random; at the end, nothing lost or doubled.

Two parts (both with `tracetrack-station` processes, as an operator's machine runs them):

- **Power cut** (`power_cut`): one station's `scan --file -` process is fed scanner reads at
  5 scans/s while its `sync` process runs; both are killed with SIGKILL at a random moment, K
  times. After each kill: every acknowledged scan (its result line was printed) is in the store
  exactly once (its event under the printed sequence number, its child linked once),
  `PRAGMA integrity_check` is ok; at the end one `sync --once` sends everything and the centre
  holds each event once.
- **Soak** (`soak`): N stations scan continuously (each a `scan --file -` process fed reads and a
  `sync` process through the proxy) while the harness, at random, cuts connections at the
  proxy, kills and restarts a station (both processes, SIGKILL), restarts PostgreSQL
  (`pg_ctl restart -m fast`) and kills and restarts the sync service, for a set time. Then the
  faults stop, every station drains (`sync --once`), and the harness counts: lost (acknowledged
  scans missing from the store, or store events missing at the centre), duplicated (an event id
  or a child link twice), hash mismatches (a station's count, high sequence and rolling hash
  against the centre's) and invariant violations (`central.invariants.check_invariants`).

`python -m bench.soak` (quick: 2 stations, 1 minute, 15 kills) or `--full` (10 stations,
30 minutes, 200 kills); `--minutes`, `--stations`, `--kills`, `--only soak|power-cut` override.
Prints one JSON line at the end, like the benchmarks; the work folder (stores, process logs) is
deleted at the end unless TRACETRACK_SOAK_KEEP=1. The tests (tests/sync/test_soak.py,
tests/sync/test_power_cut.py) run short sizes of the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.serve_proc import Serve, service_url

ROOT = Path(__file__).resolve().parents[1]
STATION_BIN = Path(sys.executable).with_name("tracetrack-station")
AREA = "North"
CHILDREN_PER_PARENT = 20  # below the SB capacity (30): a killed, unacknowledged read may count


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the centre: a PostgreSQL of the harness alone, the service, the proxy ----------------------


class Centre:
    """A throwaway PostgreSQL (pgserver) with a migrated central database, the sync service in
    front of it and a TCP proxy in front of the service (stations talk to the proxy)."""

    def __init__(self, workdir: Path) -> None:
        import pgserver

        from central.db import make_engine, migrate
        from central.users import add_demo_users

        self.workdir = workdir
        self.server = pgserver.get_server(workdir / "pg", cleanup_mode="delete")
        admin = self.server.get_uri()
        eng = make_engine(admin, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS central WITH (FORCE)")
            conn.exec_driver_sql("CREATE DATABASE central")
        eng.dispose()
        self.url = self.server.get_uri("central")
        eng = make_engine(self.url, poolclass=sa.pool.NullPool)
        migrate(eng)
        with eng.begin() as conn:
            add_demo_users(conn, AREA)
        eng.dispose()
        self.serve = Serve(service_url(self.url)).start()
        from tests.sync.proxy import TcpProxy

        self.proxy = TcpProxy(("127.0.0.1", self.serve.port))

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy.port}"

    def engine(self) -> sa.Engine:
        from central.db import make_engine

        return make_engine(self.url, poolclass=sa.pool.NullPool)

    def register(self, station_id: str) -> str:
        from central.stations import add_station

        eng = self.engine()
        try:
            with eng.begin() as conn:
                return str(add_station(conn, station_id, AREA)["token"])
        finally:
            eng.dispose()

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=120)

    def restart_postgres(self) -> None:
        self.pg_ctl("-m", "fast", "restart")

    def kill_service(self) -> None:
        """SIGKILL the sync service and start it again on the same port."""
        proc = self.serve.proc
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        self.serve.proc = None
        self.serve.start()

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        eng = self.engine()
        try:
            with eng.connect() as conn:
                cur = conn.connection.dbapi_connection.cursor()
                cur.execute(sql, args or None)
                return [tuple(r) for r in cur.fetchall()]
        finally:
            eng.dispose()

    def invariant_violations(self) -> list[str]:
        from central.invariants import check_invariants

        eng = self.engine()
        try:
            with eng.connect() as conn:
                return list(check_invariants(conn))
        finally:
            eng.dispose()

    def close(self) -> None:
        try:
            self.proxy.close()
        finally:
            try:
                self.serve.stop()
            finally:
                self.server.cleanup()


# -- a station: `scan --file -` fed reads, `sync` beside it -------------------------------------


def station_env(token: str) -> dict[str, str]:
    env = dict(os.environ, TRACETRACK_PASSWORD="demo", TRACETRACK_NO_KEYRING="1",
               TRACETRACK_CENTRAL_TOKEN=token, PYTHONUNBUFFERED="1")
    env.pop("TRACETRACK_BASEDIR", None)
    return env


@dataclass
class Ack:
    seq: int
    read: str
    kind: str


@dataclass
class Station:
    """One station's processes and what the harness knows about it."""

    index: int
    station_id: str
    basedir: Path
    token: str
    central_url: str
    sync_interval_s: float = 2.0
    acks: list[Ack] = field(default_factory=list)
    reads_sent: int = 0
    starts: int = 0
    scan: subprocess.Popen[str] | None = None
    sync: subprocess.Popen[bytes] | None = None
    parent_n: int = 0
    child_n: int = 0
    in_parent: int = CHILDREN_PER_PARENT  # children scanned into the current parent

    def init(self) -> None:
        r = subprocess.run([str(STATION_BIN), "init", "--basedir", str(self.basedir),
                            "--station-id", self.station_id, "--area", AREA, "--demo"],
                           env=station_env(self.token), capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"init {self.station_id}: {r.stderr}")

    # codes of this station alone, so acknowledged reads can be found again
    def parent_code(self) -> str:
        return f"SB{self.index:02d}{self.parent_n:03d}"

    def next_read(self) -> str:
        if self.in_parent >= CHILDREN_PER_PARENT:
            self.parent_n += 1
            self.in_parent = 0
            return self.parent_code()
        self.in_parent += 1
        self.child_n += 1
        return f"K{self.index:02d}{self.child_n:06d}"

    def start(self, *, with_sync: bool = True) -> None:
        env = station_env(self.token)
        self.starts += 1
        if with_sync:
            self.sync = subprocess.Popen(
                [str(STATION_BIN), "--basedir", str(self.basedir), "sync", "--central",
                 self.central_url, "--interval", str(self.sync_interval_s)],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(self.basedir / f"sync-{self.starts}.log", "wb"),  # noqa: SIM115
                start_new_session=True)
        self.scan = subprocess.Popen(
            [str(STATION_BIN), "--basedir", str(self.basedir), "--json", "scan", "--as",
             "dispatcher", "--file", "-"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(self.basedir / f"scan-{self.starts}.log", "wb"),  # noqa: SIM115
            text=True, bufsize=1, start_new_session=True)
        # after a restart the new process knows no current parent: scan it again first
        self.in_parent = CHILDREN_PER_PARENT if self.parent_n == 0 else self.in_parent
        self._reselect = self.parent_n > 0

    def feed_one(self) -> bool:
        """Send one read and wait for its result line; False when the process is gone."""
        proc = self.scan
        if proc is None or proc.stdin is None or proc.stdout is None:
            return False
        if getattr(self, "_reselect", False):
            read = self.parent_code()
            self._reselect = False
        else:
            read = self.next_read()
        try:
            proc.stdin.write(read + "\n")
            proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        self.reads_sent += 1
        try:
            line = proc.stdout.readline()
        except (OSError, ValueError):
            return False
        if not line.endswith("\n"):
            return False  # killed before (or while) answering: not acknowledged
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        if obj.get("outcome") == "refused" and obj.get("kind") == "parent":
            self.in_parent = CHILDREN_PER_PARENT  # e.g. full: take the next parent
        elif obj.get("outcome") == "refused" and obj.get("kind") == "child":
            self.in_parent = CHILDREN_PER_PARENT
        for seq in obj.get("events") or []:
            self.acks.append(Ack(int(seq), read, str(obj.get("kind"))))
        return True

    def cut_power(self) -> None:
        """A power cut: SIGKILL both processes (the feeding thread notices and cleans up)."""
        for proc in (self.scan, self.sync):
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def kill(self) -> None:
        """SIGKILL both processes and collect them."""
        self.cut_power()
        for proc in (self.scan, self.sync):
            if proc is not None:
                proc.wait(30)
                if proc is self.scan:
                    for f in (proc.stdin, proc.stdout):
                        try:
                            if f is not None:
                                f.close()
                        except OSError:
                            pass
        self.scan = self.sync = None

    def stop(self) -> None:
        """End normally: close the scanner's input, stop the sync process (SIGTERM)."""
        if self.scan is not None:
            try:
                if self.scan.stdin is not None:
                    self.scan.stdin.close()
            except OSError:
                pass
            try:
                self.scan.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.scan.pid, signal.SIGKILL)
                self.scan.wait(10)
            if self.scan.stdout is not None:
                self.scan.stdout.close()
        if self.sync is not None and self.sync.poll() is None:
            os.killpg(self.sync.pid, signal.SIGTERM)
            try:
                self.sync.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.sync.pid, signal.SIGKILL)
                self.sync.wait(10)
        self.scan = self.sync = None

    def sync_once(self, timeout: float = 300.0) -> dict[str, Any]:
        r = subprocess.run([str(STATION_BIN), "--basedir", str(self.basedir), "--json", "sync",
                            "--central", self.central_url, "--once"],
                           env=station_env(self.token), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        out = json.loads(lines[-1]) if lines else {"error": r.stderr[-2000:]}
        out["exit"] = r.returncode
        return out

    # -- checks on the store ------------------------------------------------------------------

    @property
    def store_path(self) -> Path:
        from station.paths import resolve

        return resolve(self.basedir).store

    def store_rows(self, sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def check_store(self) -> dict[str, Any]:
        """Acknowledged scans in the store exactly once; the store's integrity."""
        integrity = self.store_rows("PRAGMA integrity_check")[0][0]
        by_seq = {int(r[0]): r for r in self.store_rows(
            "SELECT seq, type, coalesce(child_code, parent_code) FROM events")}
        links = Counter(r[0] for r in self.store_rows(
            "SELECT child_code FROM events WHERE type = 'child_linked'"))
        lost = wrong = doubled = 0
        for a in self.acks:
            row = by_seq.get(a.seq)
            if row is None:
                lost += 1
            elif row[2] != a.read:
                wrong += 1
        doubled = sum(n - 1 for n in links.values() if n > 1)
        return {"integrity": integrity, "lost": lost, "wrong": wrong, "doubled": doubled,
                "events": len(by_seq)}

    def local_figures(self) -> tuple[int, int, str]:
        from sync.protocol import rolling_hash

        ids = [r[0] for r in self.store_rows("SELECT event_id FROM events ORDER BY seq")]
        high = self.store_rows("SELECT coalesce(max(seq), 0) FROM events")[0][0]
        h = ""
        for eid in ids:
            h = rolling_hash(h, eid)
        return len(ids), int(high), h


# -- verdict over a centre and its stations -----------------------------------------------------


def verdict(centre: Centre, stations: list[Station]) -> dict[str, Any]:
    lost = duplicated = mismatches = wrong = 0
    bad_integrity: list[str] = []
    central_ids: dict[str, set[str]] = {}
    rows = centre.rows("SELECT station_id, event_id FROM station_events")
    for sid, eid in rows:
        central_ids.setdefault(sid, set()).add(eid)
    duplicated += len(rows) - len({eid for _, eid in rows})
    figures = {r[0]: (int(r[1]), int(r[2]), r[3] or "") for r in centre.rows(
        "SELECT station_id, event_count, high_seq, rolling_hash FROM station_stations")}
    for st in stations:
        c = st.check_store()
        if c["integrity"] != "ok":
            bad_integrity.append(st.station_id)
        lost += c["lost"]
        wrong += c["wrong"]
        duplicated += c["doubled"]
        local_ids = {r[0] for r in st.store_rows("SELECT event_id FROM events")}
        lost += len(local_ids - central_ids.get(st.station_id, set()))
        if st.local_figures() != figures.get(st.station_id):
            mismatches += 1
    return {"events": len(rows), "lost": lost, "duplicated": duplicated,
            "hash_mismatches": mismatches, "wrong_events": wrong,
            "integrity_failures": bad_integrity,
            "invariant_violations": len(centre.invariant_violations()),
            "acknowledged": sum(len(s.acks) for s in stations)}


def _each(stations: list[Station], fn: Any, width: int = 4) -> list[Any]:
    """fn(station) for every station, a few at a time (processes: the cores do the work)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=width) as pool:
        return list(pool.map(fn, stations))


def drain_all(stations: list[Station], rounds: int = 4) -> list[dict[str, Any]]:
    """`sync --once` per station until each ends converged with nothing pending."""
    def drain(st: Station) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(rounds):
            out = st.sync_once()
            if out.get("exit") == 0 and out.get("pending") == 0 and out.get("converged"):
                break
        return out
    return _each(stations, drain)


# -- power cut ----------------------------------------------------------------------------------


def power_cut(centre: Centre, workdir: Path, *, kills: int, rate: float = 5.0,
              seed: int = 1, max_after_s: float = 2.5) -> dict[str, Any]:
    """`kills` SIGKILLs of a station's scan and sync processes at random moments while it is fed
    reads at `rate` per second; checked after every restart."""
    rng = random.Random(seed)
    sid = "CUT-1"
    st = Station(99, sid, workdir / "cut-1", centre.register(sid), centre.proxy_url,
                 sync_interval_s=1.0)
    st.init()
    failures: list[str] = []
    acked_at_kill: list[int] = []
    t0 = time.monotonic()
    for k in range(kills):
        st.start()
        stop = threading.Event()

        def feed(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                t = time.monotonic()
                if not st.feed_one():
                    return
                # scanner pace: the next read 1/rate after this one was sent
                stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t)))

        before = len(st.acks)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        # the kill comes at a random moment once the process is up and answering
        deadline = time.monotonic() + 60
        while len(st.acks) == before and feeder.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # polling another process's first answer
        if len(st.acks) == before:
            failures.append(f"kill {k}: the station never answered a read")
        time.sleep(rng.uniform(0.0, max_after_s))  # the random moment of the power cut
        st.cut_power()
        stop.set()
        feeder.join(30)
        st.kill()
        acked_at_kill.append(len(st.acks) - before)
        c = st.check_store()
        if c["integrity"] != "ok" or c["lost"] or c["wrong"] or c["doubled"]:
            failures.append(f"kill {k}: {c}")
    # the sync resumes: one drain sends everything, each event once
    st.stop()
    out = drain_all([st])[0]
    v = verdict(centre, [st])
    at_centre = centre.rows("SELECT count(*) FROM station_events WHERE station_id = %s", sid)[0][0]
    return {"kills": kills, "seconds": round(time.monotonic() - t0, 1),
            "acknowledged": len(st.acks), "events_at_centre": int(at_centre),
            "store_events": st.check_store()["events"], "failures": failures,
            "final_sync": out, "lost": v["lost"], "duplicated": v["duplicated"],
            "hash_mismatches": v["hash_mismatches"],
            "invariant_violations": v["invariant_violations"],
            "zero_ack_kills": sum(1 for n in acked_at_kill if n == 0)}


# -- soak ---------------------------------------------------------------------------------------

FAULT_KINDS = ("connection_cut", "station_kill", "postgres_restart", "service_restart")
FAULT_WEIGHTS = (4, 3, 1, 1)


def soak(centre: Centre, workdir: Path, *, stations: int, seconds: float, rate: float = 1.0,
         fault_every_s: tuple[float, float] = (3.0, 12.0), seed: int = 2) -> dict[str, Any]:
    rng = random.Random(seed)
    sts: list[Station] = []
    for i in range(stations):
        sid = f"SOAK-{i + 1:02d}"
        sts.append(Station(i + 1, sid, workdir / sid.lower(), centre.register(sid),
                           centre.proxy_url))
    _each(sts, Station.init)
    locks = [threading.Lock() for _ in sts]
    stop = threading.Event()
    errors: list[str] = []

    def run_station(i: int) -> None:
        st = sts[i]
        while not stop.is_set():
            t = time.monotonic()
            with locks[i]:
                alive = st.scan is not None and st.feed_one()
                if not alive and not stop.is_set():
                    st.kill()  # whatever is left of it
                    st.start()
            stop.wait(max(0.0, 1.0 / rate - (time.monotonic() - t)))

    for st in sts:
        st.start()
    threads = [threading.Thread(target=run_station, args=(i,), daemon=True)
               for i in range(len(sts))]
    for t in threads:
        t.start()
    faults: Counter[str] = Counter()
    first = list(FAULT_KINDS)
    rng.shuffle(first)
    t0 = time.monotonic()
    end = t0 + seconds
    while True:
        wait = rng.uniform(*fault_every_s)
        if time.monotonic() + wait >= end:
            break
        if stop.wait(wait):
            break
        # every kind once first (in a random order), then at random by weight
        kind = (first.pop() if first else rng.choices(FAULT_KINDS, FAULT_WEIGHTS)[0])
        try:
            if kind == "connection_cut":
                how = rng.choice(("drop_all", "after_reply", "mid_request"))
                if how == "drop_all":
                    centre.proxy.drop_all()
                elif how == "after_reply":
                    centre.proxy.cut_after_reply(b"HTTP/1.1 200")
                else:
                    centre.proxy.cut_mid_request(b"POST /v1/push")
            elif kind == "station_kill":
                i = rng.randrange(len(sts))
                # killed wherever it is (in a read, a commit, a push): no lock; its feeding
                # thread sees it gone and starts it again
                sts[i].cut_power()
            elif kind == "postgres_restart":
                centre.restart_postgres()
            else:
                centre.kill_service()
            faults[kind] += 1
            log(f"fault {kind} at {time.monotonic() - t0:.0f} s")
        except Exception as exc:  # noqa: BLE001 - a harness failure is reported, not hidden
            errors.append(f"{kind}: {exc!r}")
    remaining = end - time.monotonic()
    if remaining > 0:
        stop.wait(remaining)
    stop.set()
    for t in threads:
        t.join(60)
    centre.proxy.disarm()
    for i, st in enumerate(sts):
        with locks[i]:
            st.stop()
    minutes = (time.monotonic() - t0) / 60.0
    log("faults stopped; draining every station")
    finals = drain_all(sts)
    v = verdict(centre, sts)
    return {"minutes": round(minutes, 2), "faults": dict(faults),
            "faults_total": sum(faults.values()), **v,
            "not_drained": [f.get("error") for f in finals
                            if not (f.get("exit") == 0 and f.get("pending") == 0)],
            "harness_errors": errors, "scans_sent": sum(s.reads_sent for s in sts),
            "station_starts": sum(s.starts for s in sts)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--stations", type=int)
    ap.add_argument("--kills", type=int)
    ap.add_argument("--rate", type=float, default=1.0, help="scans per second per soak station")
    ap.add_argument("--only", choices=("soak", "power-cut"))
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    minutes = a.minutes or (30.0 if a.full else 1.0)
    n = a.stations or (10 if a.full else 2)
    kills = a.kills if a.kills is not None else (200 if a.full else 15)
    workdir = Path(tempfile.mkdtemp(prefix="tt-soak-"))
    centre = Centre(workdir)
    metrics: dict[str, Any] = {}
    try:
        if a.only != "soak" and kills > 0:
            log(f"power cut: {kills} kills at 5 scans/s")
            metrics["power_cut"] = power_cut(centre, workdir, kills=kills, seed=a.seed)
            log(f"power cut done: {json.dumps(metrics['power_cut'])}")
        if a.only != "power-cut":
            log(f"soak: {n} stations for {minutes} min")
            gap = (3.0, 12.0) if minutes >= 5 else (2.0, 6.0)  # faults in a short run too
            metrics.update(soak(centre, workdir, stations=n, seconds=minutes * 60.0,
                                rate=a.rate, fault_every_s=gap, seed=a.seed + 1))
    finally:
        centre.close()
        if not os.environ.get("TRACETRACK_SOAK_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
    size: dict[str, Any] = {}
    if a.only != "power-cut":
        size.update(stations=n, minutes=minutes, rate=a.rate)
    if a.only != "soak":
        size.update(kills=kills)
    ok = (metrics.get("lost", 0) == 0 and metrics.get("duplicated", 0) == 0
          and metrics.get("hash_mismatches", 0) == 0 and metrics.get("invariant_violations", 0) == 0)
    ratios = {"lost_per_event": metrics.get("lost", 0) / max(1, metrics.get("events", 1))}
    print(json.dumps({"bench": "soak", "size": size, "metrics": metrics, "ratios": ratios,
                      "ok": ok}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
