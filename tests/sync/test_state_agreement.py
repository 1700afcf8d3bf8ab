"""Agreement on STATE at several stations: random event sequences (hypothesis) and hand-written
conflicts (the same child linked to two parents, a parent filled past its capacity by two
stations, a parent added to two bills, one bill id created twice), undos, bill work; each
station syncs through the real sync service and, after pulling the centre's feed, must hold
exactly the centre's state (docs/sync.md §14): the same bags, links, counters, bills, bill lines
and bill figures, compared field by field through one normalised snapshot per side
(tests/sync/agreement.py). Every shared rule case (tests/rule_cases.py), its verdict and the
state it leaves: test_rule_agreement.py.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from station.paths import resolve
from station.store.local import LocalStore
from tests.sync.agreement import Station, assert_same_state, centre_snapshot, station_snapshot
from tests.sync.stationkit import central_exec, worker_for

pytestmark = pytest.mark.central

# -- random sequences at several stations ---------------------------------------------------------

# Each example gets its own codes (its number in them), so one centre serves every example: the
# snapshots are restricted to the example's codes and bills.
_example = iter(range(1, 1000))

N_STATIONS = 2


@dataclass(frozen=True)
class Op:
    station: int
    kind: str
    args: tuple[Any, ...] = ()


def _ops() -> st.SearchStrategy[list[Op]]:
    stn = st.integers(0, N_STATIONS - 1)
    parent = st.integers(0, 2)  # 0, 1: SB (capacity 30); 2: M444 (capacity 15)
    child = st.integers(0, 5)  # a small pool shared by the stations: conflicts
    bill = st.integers(0, 1)
    link = st.builds(lambda s, p, c: Op(s, "link", (p, c)), stn, parent, child)
    bill_add = st.builds(lambda s, b, p: Op(s, "bill_add", (b, p)), stn, bill, parent)
    one = st.one_of(  # links and bill lines twice as likely: most other ops need them
        link, link, bill_add,
        st.builds(lambda s, n: Op(s, "fill", (2, n)), stn, st.integers(6, 15)),
        st.builds(lambda s: Op(s, "undo"), stn),
        st.builds(lambda s, c: Op(s, "remove_child", (c,)), stn, child),
        st.builds(lambda s, b, t: Op(s, "create_bill", (b, t)), stn, bill, st.integers(1, 3)),
        bill_add,
        st.builds(lambda s, b, p: Op(s, "bill_remove", (b, p)), stn, bill, parent),
        st.builds(lambda s, b: Op(s, "close_bill", (b,)), stn, bill),
        st.builds(lambda s, b: Op(s, "reopen_bill", (b,)), stn, bill),
        st.builds(lambda s: Op(s, "sync"), stn),
    )
    return st.lists(one, min_size=3, max_size=10)


class World:
    """The stations of one example and the codes it uses."""

    def __init__(self, n: int, base: Path, template: Path, central_db: Any) -> None:
        self.n = n
        self.parents = [f"SB{n:03d}01", f"SB{n:03d}02", f"M444-{n:03d}01"]
        self.children = [f"C{n:03d}{i:02d}" for i in range(6)]
        self.bills = [f"B{n:03d}-{i}" for i in range(2)]
        self.codes = set(self.parents) | set(self.children)
        self.stations: list[Station] = []
        self.workers = []
        self.central_url = central_db.url
        for i in range(N_STATIONS):
            station_id = f"PROP{n:03d}-{i}"
            shutil.copytree(template, base / station_id)
            store = LocalStore.open(resolve(base / station_id))
            store.save_settings(store.settings().replace(station_id=station_id))  # as renamed
            store.close()
            station = Station(base / station_id)
            self.stations.append(station)
            self.workers.append(worker_for(station.store, central_db.add_station(station_id)))

    def fill_child(self, station: int, i: int) -> str:
        code = f"F{self.n:03d}{station}{i:02d}"
        self.codes.add(code)
        return code

    def do(self, op: Op) -> None:
        st_, a = self.stations[op.station], op.args
        if op.kind == "link":
            st_.run("dispatcher", "record_scan", (self.parents[a[0]],))
            st_.run("dispatcher", "record_scan", (self.children[a[1]],))
        elif op.kind == "fill":
            st_.run("dispatcher", "record_scan", (self.parents[a[0]],))
            for i in range(a[1]):
                st_.run("dispatcher", "record_scan", (self.fill_child(op.station, i),))
        elif op.kind == "undo":
            st_.run("dispatcher", "undo_last", ())
        elif op.kind == "remove_child":
            st_.run("biller", "remove_child", (self.children[a[0]],))
        elif op.kind == "create_bill":
            st_.run("biller", "create_bill", (self.bills[a[0]], a[1]))
        elif op.kind == "bill_add":  # the bill is created here first when this station lacks it
            st_.run("biller", "create_bill", (self.bills[a[0]], 2))
            st_.run("biller", "add_parent_to_bill", (self.bills[a[0]], self.parents[a[1]]))
        elif op.kind == "bill_remove":
            st_.run("biller", "remove_parent_from_bill", (self.bills[a[0]], self.parents[a[1]]))
        elif op.kind == "close_bill":
            st_.run("biller", "close_bill", (self.bills[a[0]], "short"))
        elif op.kind == "reopen_bill":
            st_.run("admin", "reopen_bill", (self.bills[a[0]],))
        elif op.kind == "sync":
            self.sync(op.station)
        elif op.kind == "role":  # an administrator changes a user's role at the centre
            central_exec(self.central_url, 'UPDATE "user" SET role = %s WHERE username = %s',
                         a[1], a[0])
        else:  # pragma: no cover
            raise AssertionError(op.kind)

    def sync(self, i: int) -> None:
        summary = self.workers[i].run_once()
        assert summary.error is None, summary.error

    def close(self) -> None:
        for w in self.workers:
            w.close()
        for s in self.stations:
            s.close()


@pytest.fixture(scope="module")
def demo_station(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo station (operators hashed once); each example's stations are renamed copies."""
    base = tmp_path_factory.mktemp("demo-station")
    store = LocalStore.open(resolve(base), create=True)
    store.init_station("PROP-TEMPLATE", "North", demo=True)
    store.close()
    return base


def _check_world(ops: list[Op], central_db: Any, demo_station: Path) -> None:
    world = World(next(_example), Path(tempfile.mkdtemp(dir=central_db.log_dir.parent)),
                  demo_station, central_db)
    try:
        for op in ops:
            world.do(op)
        for i in range(N_STATIONS):  # push everything (and pull what is there so far)
            world.sync(i)
        for i in range(N_STATIONS):  # pull what the later stations pushed
            world.sync(i)
        centre = centre_snapshot(central_db.url, world.codes, set(world.bills))
        for i, station in enumerate(world.stations):
            pending = station.store.engine.connect()
            try:
                left = pending.exec_driver_sql(
                    "SELECT count(*) FROM events WHERE sync_state = 'pending'").scalar()
            finally:
                pending.close()
            assert left == 0
            mine = station_snapshot(station.store, world.codes, set(world.bills))
            assert_same_state(mine, centre, f"at station {i} after its pull (ops {ops})")
    finally:
        world.close()


# Each example runs real stations against the real service (seconds each on a loaded machine):
# a bounded, derandomised run without the shrink phase. A failure prints its ops; a minimal form
# of it belongs in CONFLICTS below (xfail strict when it is a known disagreement).
@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=_ops())
def test_random_sequences_converge_to_the_centre(ops: list[Op], central_db, demo_station) -> None:
    _check_world(ops, central_db, demo_station)


# Hand-written conflicts that the generator may or may not reach within its bounded examples.
CONFLICTS: dict[str, list[Op]] = {
    "same child to two parents": [Op(0, "link", (0, 0)), Op(1, "link", (1, 0))],
    "parent filled past capacity by two stations": [Op(0, "fill", (2, 9)), Op(1, "fill", (2, 9))],
    "parent added to two bills": [
        Op(0, "link", (0, 1)), Op(0, "sync"), Op(1, "sync"),
        Op(0, "create_bill", (0, 2)), Op(1, "create_bill", (1, 2)),
        Op(0, "bill_add", (0, 0)), Op(1, "bill_add", (1, 0)),
    ],
    "one bill id created at two stations": [
        Op(0, "create_bill", (0, 2)), Op(1, "create_bill", (0, 3)),
        Op(0, "link", (0, 1)), Op(0, "bill_add", (0, 0)),
    ],
    "undo and remove after a sync": [
        Op(0, "link", (0, 1)), Op(0, "link", (0, 2)), Op(0, "sync"), Op(0, "undo"),
        Op(1, "sync"), Op(1, "remove_child", (1,)),
    ],
    # A step refused at the centre and put right here before the refusal came back: both
    # corrections together must leave the centre's state (undone newest first).
    "child removed and scanned back while the bill closed elsewhere": [
        Op(0, "link", (0, 1)), Op(0, "sync"), Op(1, "sync"),
        Op(0, "create_bill", (0, 1)), Op(0, "bill_add", (0, 0)), Op(0, "close_bill", (0,)),
        Op(0, "sync"),
        Op(1, "remove_child", (1,)), Op(1, "link", (0, 1)),
    ],
    "parent removed from a bill and added back while it closed elsewhere": [
        Op(0, "link", (0, 1)), Op(0, "bill_add", (0, 0)), Op(0, "sync"), Op(1, "sync"),
        Op(0, "close_bill", (0,)), Op(0, "sync"),
        Op(1, "bill_remove", (0, 0)), Op(1, "bill_add", (0, 0)),
    ],
    # Refused for who did it (a role changed at the centre, not pulled yet): taken back here.
    "a reopen refused: the admin is a biller now": [
        Op(0, "link", (0, 1)), Op(0, "bill_add", (0, 0)), Op(0, "close_bill", (0,)),
        Op(0, "sync"), Op(1, "sync"), Op(0, "role", ("admin", "biller")),
        Op(1, "reopen_bill", (0,)),
    ],
    "a bill refused: the biller is a dispatcher now": [
        Op(0, "role", ("biller", "dispatcher")), Op(1, "create_bill", (0, 2)),
    ],
    "close, reopen, close again": [
        Op(0, "link", (0, 1)), Op(0, "create_bill", (0, 1)), Op(0, "bill_add", (0, 0)),
        Op(0, "close_bill", (0,)), Op(0, "reopen_bill", (0,)), Op(0, "bill_remove", (0, 0)),
        Op(0, "sync"), Op(1, "sync"), Op(1, "close_bill", (0,)),
    ],
}


# Exactly the cases that show a known disagreement (strict: they fail once it is fixed).
KNOWN_CONFLICTS: dict[str, str] = {
    "a reopen refused: the admin is a biller now":
        "a refused bill_reopened is not taken back here: the bill stays open at this station "
        "(station.effects has no undo for it; nothing in the feed changes the bill)",
}


@pytest.mark.parametrize("ops", [
    pytest.param(ops, id=name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_CONFLICTS[name])]
                 if name in KNOWN_CONFLICTS else [])
    for name, ops in CONFLICTS.items()
])
def test_conflicts_converge_to_the_centre(ops: list[Op], central_db, demo_station) -> None:
    _check_world(ops, central_db, demo_station)
