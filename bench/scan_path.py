"""scan_path: normalise -> rules -> event + view committed (synchronous=FULL), through the same
service the window calls, on a big local store; compared with a bare one-row SQLite commit."""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.data import build_store
from station.service import StationService
from station.store.local import LocalStore


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def scan_plan(n: int, seed: int) -> list[str]:
    """Parent and child scans mixed, ~10 % refused (bad codes, damaged labels, taken children)."""
    rng = random.Random(seed)
    plan: list[str] = []
    parent = 0
    while len(plan) < n:
        plan.append(f"SB{90000 + parent:05d}")
        for c in range(rng.randint(10, 30)):
            r = rng.random()
            if r < 0.04:
                plan.append(f"SB{rng.randint(0, 9999):04d}")  # damaged parent label
            elif r < 0.07:
                plan.append("??" + str(rng.randint(0, 99)))  # not a code
            elif r < 0.10:
                plan.append(f"C{rng.randint(0, 900):07d}{rng.randint(0, 9):02d}")  # taken child
            else:
                plan.append(f"N{parent:06d}{c:03d}")
        parent += 1
    return plan[:n]


def bare_commits(path: Path, n: int) -> list[float]:
    """A bare insert+commit of one row, WAL + synchronous=FULL, on the same disk."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (v) VALUES (?)", (f"row{i}",))
        conn.execute("COMMIT")
        times.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return times


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="1 000 000 bags, 10 000 scans")
    ap.add_argument("--bags", type=int)
    ap.add_argument("--scans", type=int)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    n_bags = args.bags or (1_000_000 if args.full else 50_000)
    n_scans = args.scans or (10_000 if args.full else 2_000)

    with tempfile.TemporaryDirectory(prefix="scan_path-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        gen = build_store(base / "station", bags=n_bags, bills=n_bags // 1000, seed=args.seed)
        build_s = time.perf_counter() - t0
        store = LocalStore.open(gen.paths)
        service = StationService(store)
        service.login("dispatcher", "demo")
        plan = scan_plan(n_scans, args.seed)
        for raw in plan[:50]:  # warm caches and compiled statements
            service.record_scan(raw.replace("N", "W", 1))
        outcomes: dict[str, int] = {}
        times: list[float] = []
        bare: list[float] = []
        bare_path = base / "bare.sqlite3"
        # Interleave the two measurements so both see the same machine load.
        for i, raw in enumerate(plan):
            t = time.perf_counter()
            r = service.record_scan(raw)
            times.append((time.perf_counter() - t) * 1000)
            outcomes[str(r.outcome)] = outcomes.get(str(r.outcome), 0) + 1
            if i % 5 == 0:
                bare.extend(bare_commits(bare_path, 1))
        service.close()
        store.close()

    result = {
        "bench": "scan_path",
        "size": {"bags": gen.bags, "scans": n_scans, "bills": gen.bills},
        "metrics": {
            "p50_ms": round(statistics.median(times), 3),
            "p99_ms": round(percentile(times, 99), 3),
            "max_ms": round(max(times), 3),
            "scans_per_s": round(len(times) / (sum(times) / 1000), 1),
            "bags": gen.bags,
            "refused_share": round(outcomes.get("refused", 0) / len(times), 3),
            "outcomes": outcomes,
            "bare_commit_p50_ms": round(statistics.median(bare), 3),
            "bare_commit_p99_ms": round(percentile(bare, 99), 3),
            "build_s": round(build_s, 1),
        },
        "ratios": {
            "vs_bare_commit_p50": round(statistics.median(times) / statistics.median(bare), 2),
            "vs_bare_commit_p99": round(percentile(times, 99) / percentile(bare, 99), 2),
        },
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
