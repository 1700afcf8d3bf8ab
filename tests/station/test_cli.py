"""The `tracetrack-station` command line, run as a real process on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.cli import EXIT_LOGIN, EXIT_NO_STATION, EXIT_STORE, EXIT_USAGE
from station.store.db import SCHEMA_VERSION

EXE = str(Path(sys.executable).with_name("tracetrack-station"))


def run(*args: str, password: str | None = "demo", stdin: str | None = None,
        basedir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    if password is not None:
        env["TRACETRACK_PASSWORD"] = password
    cmd = [EXE] + (["--basedir", str(basedir)] if basedir else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, input=stdin, timeout=60)


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]


@pytest.fixture
def base(paths) -> Path:
    return paths.data_dir


def test_init_creates_a_station_once(tmp_path: Path) -> None:
    p = run("init", "--station-id", "dispatch-1", "--area", "North", "--demo", "--json",
            basedir=tmp_path)
    assert p.returncode == 0, p.stderr
    assert lines(p) == [{"station": "DISPATCH-1", "area": "North",
                         "basedir": str(tmp_path.resolve()), "demo": True}]
    again = run("init", "--station-id", "X", "--area", "South", basedir=tmp_path)
    assert again.returncode == EXIT_STORE and "already set up" in again.stderr
    show = run("doctor", "--json", basedir=tmp_path)
    assert lines(show)[0]["station"] == "DISPATCH-1"


def test_scan_prints_one_result_per_code(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", "--json", "SB00001", "c1234", "SB1234", "C1234",
            basedir=base)
    assert p.returncode == 0, p.stderr
    out = lines(p)
    assert [(o["code"], o["outcome"], o["reason"]) for o in out] == [
        ("SB00001", "accepted", "parent_created"),
        ("C1234", "accepted", "child_linked"),
        (None, "refused", "damaged_parent"),
        ("C1234", "warning", "already_on_parent"),
    ]
    assert out[1]["parent"] == "SB00001" and out[1]["parent_count"] == 1
    assert out[2]["read"] == "SB1234" and "looks like a parent code" in out[2]["message"]
    # the current parent is station state: the next run continues with it
    p = run("scan", "--as", "dispatcher", "C5678", basedir=base)
    assert p.returncode == 0 and "current parent SB00001 2/30" in p.stdout


def test_scan_a_scanner_batch_dump(base: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.txt"
    reads = ["SB00002", "\x1dC0001\x1d", "LABEL NO.:0016586 LOT NO.:X", "", "garbage!", "C0002"]
    dump.write_text("\r\n".join(reads) + "\r\n", encoding="utf-8")
    p = run("scan", "--as", "dispatcher", "--file", str(dump), "--json", basedir=base)
    assert p.returncode == 0, p.stderr
    out = lines(p)
    assert [o["outcome"] for o in out] == ["accepted"] * 3 + ["refused", "accepted"]
    assert out[1]["code"] == "C0001" and out[2]["code"] == "0016586"
    assert "'GARBAGE!'" not in out[3]["message"] and "'garbage!'" in out[3]["message"]
    show = lines(run("show", "SB00002", "--json", basedir=base))[0]
    assert show == {"code": "SB00002", "type": "parent", "status": "in_progress",
                    "child_count": 3, "children": ["C0002", "0016586", "C0001"],
                    "parent": None, "bill": None}


def test_bill_commands_and_show(base: Path) -> None:
    run("scan", "--as", "dispatcher", "SB00001", *[f"K{i:04d}" for i in range(30)], basedir=base)
    assert run("bill", "create", "B-17", "--target", "2", "--as", "biller",
               basedir=base).returncode == 0
    p = run("bill", "add", "B-17", "SB00001", "SB00009", "--as", "biller", "--json", basedir=base)
    assert [o["reason"] for o in lines(p)] == ["bill_parent_added", "parent_unknown"]
    p = run("bill", "close", "B-17", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "bill_closed"
    p = run("bill", "reopen", "B-17", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "not_allowed"
    assert p.returncode == 0  # a refusal is a result
    p = run("bill", "reopen", "B-17", "--as", "admin", "--json", basedir=base)
    assert lines(p)[0]["outcome"] == "accepted"
    p = run("bill", "remove", "B-17", "SB00009", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "bill_parent_removed"
    bill = lines(run("show", "b-17", "--json", basedir=base))[0]
    assert bill == {"bill_id": "B-17", "status": "processing", "target": 2, "linked": 1,
                    "children": 30, "actual_kg": 30.0, "expected_kg": 30.0,
                    "parents": ["SB00001"]}
    human = run("show", "B-17", basedir=base).stdout
    assert "bill B-17: processing, 1/2 parents" in human
    assert lines(run("show", "SB00001", "--json", basedir=base))[0]["bill"] == "B-17"


def test_dispatcher_cannot_create_bills(base: Path) -> None:
    p = run("bill", "create", "B-1", "--target", "3", "--as", "dispatcher", "--json",
            basedir=base)
    assert p.returncode == 0
    assert lines(p)[0]["reason"] == "not_allowed"


def test_export_events(base: Path) -> None:
    run("scan", "--as", "dispatcher", "SB00001", "C0001", "C0002", basedir=base)
    events = lines(run("export-events", basedir=base, password=None))
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[1]["type"] == "child_linked" and events[1]["child_code"] == "C0001"
    since = lines(run("export-events", "--since", "2", basedir=base, password=None))
    assert [e["seq"] for e in since] == [3]


def test_failed_login_exits_non_zero(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", "SB00001", password="wrong", basedir=base)
    assert p.returncode == EXIT_LOGIN
    assert "Login failed: Wrong password for dispatcher" in p.stderr
    p = run("scan", "--as", "dispatcher", "SB00001", password=None, basedir=base)
    assert p.returncode == EXIT_LOGIN and "TRACETRACK_PASSWORD" in p.stderr


def test_missing_station_and_damaged_store(tmp_path: Path) -> None:
    p = run("show", "SB00001", basedir=tmp_path / "empty")
    assert p.returncode == EXIT_NO_STATION and "No station is set up" in p.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "station.sqlite3").write_bytes(b"\x00garbage" * 200)
    p = run("scan", "--as", "dispatcher", "SB00001", basedir=tmp_path / "bad")
    assert p.returncode == EXIT_STORE and "damaged" in p.stderr
    p = run("doctor", "--json", basedir=tmp_path / "bad")
    assert p.returncode == EXIT_STORE and "damaged" in lines(p)[0]["integrity"]


def test_read_only_commands_need_no_login(base: Path) -> None:
    for args in (("show", "SB00001"), ("export-events",), ("doctor",)):
        p = run(*args, basedir=base, password=None)
        assert p.returncode == 0, (args, p.stderr)


def test_doctor_reports(base: Path) -> None:
    report = lines(run("doctor", "--json", basedir=base))[0]
    assert report["integrity"] == "ok" and report["schema_version"] == SCHEMA_VERSION
    assert report["centre"] == "not configured"
    assert report["store"].endswith("station.sqlite3")


def test_usage_errors(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", basedir=base)
    assert p.returncode == EXIT_USAGE and "scan needs codes" in p.stderr
