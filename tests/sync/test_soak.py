"""The soak of bench/soak.py at its quick size: stations (real `scan --file -` and `sync`
processes) scan continuously while the harness cuts connections at the real TCP proxy, kills and
restarts stations, restarts the harness's own PostgreSQL and kills and restarts the real sync
service, at random; then every station drains and nothing is lost, doubled or out of step. The
full size (10 stations, 30 minutes) is `python -m bench.soak --full --only soak`
(BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.soak import FAULT_KINDS

pytestmark = pytest.mark.central

SECONDS = 30


@pytest.mark.slow
def test_quick_soak_loses_and_doubles_nothing(tmp_path) -> None:
    # the harness as a process, as it is run for BENCHMARKS.md: its JSON line is the verdict
    r = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--only", "soak", "--stations", "2",
         "--minutes", str(SECONDS / 60), "--rate", "2", "--seed", "5"],
        capture_output=True, text=True, timeout=SECONDS + 240, env=None)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, r.stderr[-4000:]
    out = json.loads(lines[-1])
    m = out["metrics"]
    assert out["bench"] == "soak" and set(out) >= {"size", "metrics", "ratios"}
    assert m["harness_errors"] == [], m
    # every kind of fault was injected, while scans went on
    assert set(m["faults"]) == set(FAULT_KINDS), m["faults"]
    assert m["events"] >= 50 and m["acknowledged"] >= 50, m
    assert m["station_starts"] > 2  # a station was killed and started again
    assert m["not_drained"] == [], m
    assert m["integrity_failures"] == [] and m["wrong_events"] == 0, m
    assert (m["lost"], m["duplicated"], m["hash_mismatches"], m["invariant_violations"]) == \
        (0, 0, 0, 0), m
    assert r.returncode == 0, r.stderr[-4000:]
