"""Seeded data generator for benchmarks: a station store of any size (parents, children, links,
bills, bill lines and their events), written straight into SQLite in bulk so that a million bags
take seconds. The same seed always gives the same data."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from station import APP_VERSION, PROTOCOL_VERSION
from station.events import uuid7
from station.paths import StationPaths, resolve
from station.store.local import LocalStore

STATION_ID = "BENCH-1"
AREA = "North"
CREATORS = ("biller", "admin", "dispatcher")


@dataclass(frozen=True)
class Generated:
    paths: StationPaths
    bags: int
    parents: int
    children: int
    bills: int


def parent_code(i: int) -> str:
    # SB for most, M444 for every fifth: both bag types appear.
    return f"M444-{i % 100000:05d}" if i % 5 == 4 else f"SB{i % 100000:05d}"


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def _rows(n_bags: int, n_bills: int, seed: int, start: datetime) -> Iterator[tuple[str, tuple]]:
    """Yield (table, row) in an order that respects foreign keys."""
    rng = random.Random(seed)
    seq = 0
    parents: list[tuple[str, int, int]] = []  # code, children, capacity
    made = 0
    i = 0
    t = start
    used: set[str] = set()
    while made < n_bags:
        code = parent_code(i)
        if code in used:  # more than 100 000 of a type: vary the prefix range
            code = f"SB{i % 100000:05d}" if code.startswith("M444") else f"M444-{i % 100000:05d}"
            if code in used:
                break
        used.add(code)
        cap = 15 if code.startswith("M444") else 30
        full = rng.random() < 0.85
        n_children = cap if full else rng.randint(0, cap - 1)
        n_children = min(n_children, n_bags - made - 1)
        status = "pending" if n_children == 0 else "completed" if n_children == cap else "in_progress"
        t += timedelta(seconds=rng.randint(1, 20))
        seq += 1
        yield "events", (seq, str(uuid7()), STATION_ID, "parent_scanned", "dispatcher", _iso(t),
                         code, None, None, json.dumps({"bag_type": code[:2] if code.startswith("SB") else "M444", "area": AREA}))
        yield "bags", (code, "parent", "SB" if code.startswith("SB") else "M444", status,
                       n_children, float(n_children), AREA, None, "dispatcher", _iso(t), _iso(t))
        made += 1
        for c in range(n_children):
            child = f"C{i:07d}{c:02d}"
            t += timedelta(milliseconds=rng.randint(800, 3000))
            seq += 1
            yield "events", (seq, str(uuid7()), STATION_ID, "child_linked", "dispatcher", _iso(t),
                             code, child, None, '{"source":"scanner"}')
            yield "bags", (child, "child", None, "pending", 0, 0.0, AREA, None, "dispatcher",
                           _iso(t), _iso(t))
            yield "links", (child, code, _iso(t), "dispatcher", STATION_ID, seq)
            made += 1
        parents.append((code, n_children, cap))
        i += 1
    # Bills: spread over the time range, loaded with complete parents, various states.
    complete = [p for p in parents if p[1] == p[2]]
    rng.shuffle(complete)
    per_bill = max(1, min(40, len(complete) // max(n_bills, 1)))
    span = (t - start) if t > start else timedelta(days=1)
    for b in range(n_bills):
        bill_id = f"B-{b:06d}"
        created = start + span * (b / max(n_bills, 1))
        creator = CREATORS[b % len(CREATORS)] if b % 7 else "biller"
        target = per_bill + rng.randint(0, 3)
        chunk = complete[b * per_bill:(b + 1) * per_bill]
        state = rng.random()
        status = "new" if not chunk else ("completed" if state < 0.6 else "processing")
        seq += 1
        yield "events", (seq, str(uuid7()), STATION_ID, "bill_created", creator, _iso(created),
                         None, None, bill_id, json.dumps({"target": target}))
        yield "bills", (bill_id, "", "", "", target, status, creator, _iso(created),
                        _iso(created), "short load" if status == "completed" and
                        len(chunk) < target else None)
        for code, _n, _cap in chunk:
            seq += 1
            yield "events", (seq, str(uuid7()), STATION_ID, "bill_parent_added", creator,
                             _iso(created), code, None, bill_id, "{}")
            yield "bill_lines", (code, bill_id, _iso(created), creator, 0)


_INSERTS = {
    "events": "INSERT INTO events (seq, event_id, station_id, type, operator, device_time, "
              "parent_code, child_code, bill_id, data, app_version, protocol_version, sync_state) "
              f"VALUES (?,?,?,?,?,?,?,?,?,?,'{APP_VERSION}',{PROTOCOL_VERSION},'applied')",
    "bags": "INSERT INTO bags (code, kind, bag_type, status, child_count, weight_kg, area, "
            "label_text, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    "links": "INSERT INTO links (child_code, parent_code, linked_at, operator, station_id, "
             "event_seq) VALUES (?,?,?,?,?,?)",
    "bills": "INSERT INTO bills (bill_id, description, destination, vehicle, target, status, "
             "created_by, created_at, updated_at, closed_reason) VALUES (?,?,?,?,?,?,?,?,?,?)",
    "bill_lines": "INSERT INTO bill_lines (parent_code, bill_id, added_at, operator, provisional) "
                  "VALUES (?,?,?,?,?)",
}


def build_store(
    basedir: Path, *, bags: int, bills: int = 0, seed: int = 1,
    start: datetime | None = None,
) -> Generated:
    """Create a demo station in `basedir` and fill it with `bags` bags and `bills` bills."""
    paths = resolve(basedir)
    store = LocalStore.open(paths, create=True)
    store.init_station(STATION_ID, AREA, demo=True)
    store.close()
    start = start or datetime.now(UTC) - timedelta(days=30)
    conn = sqlite3.connect(paths.store)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA foreign_keys = OFF")
    buffers: dict[str, list[tuple]] = {k: [] for k in _INSERTS}
    counts = dict.fromkeys(_INSERTS, 0)

    def flush() -> None:
        for table in ("bags", "links", "events", "bills", "bill_lines"):
            if buffers[table]:
                conn.executemany(_INSERTS[table], buffers[table])
                counts[table] += len(buffers[table])
                buffers[table].clear()

    with conn:
        for n, (table, row) in enumerate(_rows(bags, bills, seed, start)):
            buffers[table].append(row)
            if n % 50000 == 0:
                flush()
        flush()
    conn.execute("ANALYZE")
    conn.close()
    parents = bags  # recount below for the summary
    store = LocalStore.open(paths)
    with store.engine.connect() as c:
        parents = c.exec_driver_sql("SELECT count(*) FROM bags WHERE kind='parent'").scalar()
    store.close()
    return Generated(paths, counts["bags"], int(parents or 0), counts["bags"] - int(parents or 0),
                     counts["bills"])


if __name__ == "__main__":
    import sys
    import tempfile
    import time

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    d = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    g = build_store(d, bags=n, bills=n // 100)
    print(g, f"{time.perf_counter() - t0:.1f}s")
