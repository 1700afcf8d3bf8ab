"""The `tracetrack-station` command line, run as a real process on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from station.cli import (
    EXIT_CENTRE,
    EXIT_EXISTS,
    EXIT_LOGIN,
    EXIT_NO_STATION,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STORE,
    EXIT_USAGE,
)
from station.store.db import SCHEMA_VERSION

EXE = str(Path(sys.executable).with_name("tracetrack-station"))


def run(*args: str, password: str | None = "demo", stdin: str | None = None,
        basedir: Path | None = None,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env.update(env_extra or {})
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
    # Its own status: the store is fine, a station is there already, nothing changed.
    assert again.returncode == EXIT_EXISTS
    assert "A station (DISPATCH-1, area North) is already set up in" in again.stderr
    assert "nothing was changed" in again.stderr
    show = run("doctor", "--json", basedir=tmp_path)
    assert lines(show)[0]["station"] == "DISPATCH-1"


def test_scan_prints_one_result_per_code(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", "--json", "SB00001", "c1234", "SB1234", "C1234",
            basedir=base)
    assert p.returncode == EXIT_REFUSED, p.stderr  # SB1234 was refused (the rest was done)
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
    assert p.returncode == EXIT_OK and "current parent SB00001 2/30" in p.stdout
    # Everything done, a warning included: 0.
    p = run("scan", "--as", "dispatcher", "C5678", basedir=base)
    assert p.returncode == EXIT_OK and p.stdout.startswith("WARNING C5678: C5678 already on")


def test_scan_a_scanner_batch_dump(base: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.txt"
    reads = ["SB00002", "\x1dC0001\x1d", "LABEL NO.:0016586 LOT NO.:X", "", "garbage!", "C0002"]
    dump.write_text("\r\n".join(reads) + "\r\n", encoding="utf-8")
    p = run("scan", "--as", "dispatcher", "--file", str(dump), "--json", basedir=base)
    assert p.returncode == EXIT_REFUSED, p.stderr  # "garbage!" was refused
    out = lines(p)
    assert [o["outcome"] for o in out] == ["accepted"] * 3 + ["refused", "accepted"]
    assert out[1]["code"] == "C0001" and out[2]["code"] == "0016586"
    assert "'GARBAGE!'" not in out[3]["message"] and "'garbage!'" in out[3]["message"]
    show = lines(run("show", "SB00002", "--json", basedir=base))[0]
    assert show == {"code": "SB00002", "type": "parent", "status": "in progress",
                    "child_count": 3, "children": ["C0002", "0016586", "C0001"],
                    "parent": None, "bill": None}
    human = run("show", "SB00002", basedir=base).stdout
    assert human.startswith("parent SB00002: in progress, 3 children (3 kg)")


def test_a_junk_read_is_printed_as_it_was_read(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", "garbage!", "SB00001", basedir=base)
    assert p.returncode == EXIT_REFUSED
    first = p.stdout.splitlines()[0]
    assert first.startswith("REFUSED 'garbage!': ") and "NO  -" not in p.stdout


def test_bill_commands_and_show(base: Path) -> None:
    run("scan", "--as", "dispatcher", "SB00001", *[f"K{i:04d}" for i in range(30)], basedir=base)
    assert run("bill", "create", "B-17", "--target", "2", "--as", "biller",
               basedir=base).returncode == 0
    p = run("bill", "add", "B-17", "SB00001", "SB00009", "--as", "biller", "--json", basedir=base)
    assert [o["reason"] for o in lines(p)] == ["bill_parent_added", "parent_unknown"]
    p = run("bill", "close", "B-17", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "bill_closed"
    p = run("bill", "add", "B-17", "SB00001", "--as", "biller", basedir=base)
    assert p.returncode == EXIT_REFUSED  # closed: refused by a rule
    assert p.stdout.startswith("REFUSED SB00001: SB00001 not changed: bill B-17 is closed; only "
                               "an admin can reopen it")  # never "reopen it" to a biller
    p = run("bill", "reopen", "B-17", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "not_allowed"
    assert p.returncode == EXIT_LOGIN  # a permission: the same status as `report`
    p = run("bill", "reopen", "B-17", "--as", "admin", "--json", basedir=base)
    assert lines(p)[0]["outcome"] == "accepted" and p.returncode == EXIT_OK
    p = run("bill", "remove", "B-17", "SB00009", "--as", "biller", "--json", basedir=base)
    assert lines(p)[0]["reason"] == "bill_parent_removed"
    bill = lines(run("show", "b-17", "--json", basedir=base))[0]
    assert bill == {"bill_id": "B-17", "status": "loading", "target": 2, "linked": 1,
                    "children": 30, "actual_kg": 30.0, "expected_kg": 30.0,
                    "parents": ["SB00001"], "shortfall_kg": 0.0, "parents_short": 0}
    human = run("show", "B-17", basedir=base).stdout
    assert "bill B-17: loading, 1/2 parent bags, 30 children" in human
    assert lines(run("show", "SB00001", "--json", basedir=base))[0]["bill"] == "B-17"
    # Closed short: its own state, the shortfall and the reason beside it.
    p = run("bill", "close", "B-17", "--reason", "truck left early", "--as", "biller",
            basedir=base)
    assert p.returncode == EXIT_OK  # a warning (closed short) is done
    bill = lines(run("show", "B-17", "--json", basedir=base))[0]
    assert (bill["status"], bill["parents_short"], bill["closed_reason"]) == (
        "closed short", 1, "truck left early")
    assert run("show", "B-17", basedir=base).stdout.startswith(
        "bill B-17: closed short (1 parent bag short; reason: truck left early), 1/2 parent bags")


def test_bill_exit_status_matches_report(base: Path) -> None:
    """A permission refusal is 3 and a bill that does not exist is 2, as `report` says them."""
    p = run("bill", "create", "B-1", "--target", "3", "--as", "dispatcher", "--json",
            basedir=base)
    assert p.returncode == EXIT_LOGIN
    assert lines(p)[0]["reason"] == "not_allowed"
    assert "bills are loaded by a biller or an admin" in lines(p)[0]["message"]
    p = run("bill", "close", "NOPE-1", "--as", "biller", basedir=base)
    assert p.returncode == EXIT_USAGE and "Bill NOPE-1 does not exist here" in p.stdout
    p = run("bill", "create", "B-1", "--target", "900", "--as", "biller", basedir=base)
    assert p.returncode == EXIT_USAGE and "out of range (1-500)" in p.stdout
    p = run("show", "NOPE-1", basedir=base, password=None)
    assert p.returncode == EXIT_USAGE and "No bag or bill 'NOPE-1'" in p.stdout


def test_export_events(base: Path) -> None:
    run("scan", "--as", "dispatcher", "SB00001", "C0001", "C0002", basedir=base)
    events = lines(run("export-events", basedir=base, password=None))
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[1]["type"] == "child_linked" and events[1]["child_code"] == "C0001"
    since = lines(run("export-events", "--since", "2", basedir=base, password=None))
    assert [e["seq"] for e in since] == [3]


def test_a_closed_pipe_ends_quietly(base: Path) -> None:
    codes = [f"C{i:04d}" for i in range(30)]
    run("scan", "--as", "dispatcher", "SB00001", *codes, "SB00002", *[f"D{i:04d}" for i in
                                                                      range(30)], basedir=base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    for _ in range(3):  # `export-events | head -1`, with more output than a pipe holds
        proc = subprocess.Popen([EXE, "--basedir", str(base), "export-events"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.stderr.close()
        assert proc.wait(timeout=60) == EXIT_OK
        assert "Traceback" not in err and "BrokenPipeError" not in err, err


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
    run("scan", "--as", "dispatcher", "SB00001", basedir=base)
    for args in (("show", "SB00001"), ("export-events",), ("doctor",)):
        p = run(*args, basedir=base, password=None)
        assert p.returncode == 0, (args, p.stderr)


def test_doctor_reports(base: Path) -> None:
    run("scan", "--as", "dispatcher", "SB00001", "C0001", basedir=base)
    p = run("doctor", "--json", basedir=base)
    assert p.returncode == EXIT_OK, p.stdout
    report = lines(p)[0]
    assert report["integrity"] == "ok" and report["schema_version"] == SCHEMA_VERSION
    assert report["centre"] == "not configured (this station works alone)"
    assert report["store"].endswith("station.sqlite3")
    assert report["pending_events"] == 2 and report["oldest_pending"].endswith(" old")
    assert report["last_sync"] == "never" and report["sync_issues"] == 0
    assert report["disk_free"].split()[1] in ("MB", "GB", "TB") and "free on the disk" in \
        report["disk_free"]
    assert report["problems"] == []
    human = run("doctor", basedir=base).stdout
    assert "pending_events: 2" in human and "result: everything checked is fine" in human


class _FakeCentre(BaseHTTPRequestHandler):
    """GET /v1/whoami as the sync service answers it: the token's station, or 401."""

    known = {"good-token": "TEST-1", "other-token": "OTHER-9"}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        station = self.known.get(token)
        if self.path == "/v1/whoami" and station:
            body, status = {"station_id": station}, 200
        else:
            body, status = {"error": "token_unknown", "message": "unknown token"}, 401
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def centre() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeCentre)
    thread = threading.Thread(target=server.serve_forever, name="fake-centre")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _connect(base: Path, url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the centre's address and the token (as `sync --central` does, without the check)."""
    from station.centre import save_connection
    from station.paths import resolve
    from station.store.local import LocalStore

    monkeypatch.setenv("TRACETRACK_NO_KEYRING", "1")
    store = LocalStore.open(resolve(base))
    try:
        save_connection(store, url, token)
    finally:
        store.close()


def test_doctor_contacts_the_centre(base: Path, centre: str, monkeypatch) -> None:  # noqa: ANN001
    env = {"TRACETRACK_NO_KEYRING": "1"}
    _connect(base, centre, "good-token", monkeypatch)
    p = run("doctor", "--json", basedir=base, env_extra=env)
    assert p.returncode == EXIT_OK, p.stdout
    assert lines(p)[0]["centre"] == f"{centre}: reachable, knows this station (TEST-1)"

    _connect(base, centre, "other-token", monkeypatch)
    p = run("doctor", "--json", basedir=base, env_extra=env)
    assert p.returncode == EXIT_CENTRE
    assert "knows this token as station OTHER-9, not TEST-1" in lines(p)[0]["problems"][0][
        "message"]

    _connect(base, centre, "revoked-token", monkeypatch)
    p = run("doctor", basedir=base, env_extra=env)
    assert p.returncode == EXIT_CENTRE
    assert f"centre: {centre}: NOT reachable" in p.stdout and "PROBLEM" in p.stdout


def test_doctor_says_when_the_centre_cannot_be_reached(base: Path, monkeypatch) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    _connect(base, url, "good-token", monkeypatch)
    p = run("doctor", "--json", basedir=base, env_extra={"TRACETRACK_NO_KEYRING": "1"})
    assert p.returncode == EXIT_CENTRE
    report = lines(p)[0]
    assert report["centre"] == f"{url}: NOT reachable"
    assert report["problems"][0]["message"].startswith(f"The centre at {url} cannot be used: ")
    assert report["problems"][0]["status"] == EXIT_CENTRE


def test_usage_errors(base: Path) -> None:
    p = run("scan", "--as", "dispatcher", basedir=base)
    assert p.returncode == EXIT_USAGE and "scan needs codes" in p.stderr


def test_a_data_folder_that_cannot_be_used_is_said_plainly(tmp_path: Path) -> None:
    """--basedir naming a file (a USB stick's file picked by mistake): exit 5 with what is
    wrong, no traceback (before: FileExistsError's traceback, exit 1, "refused by a rule")."""
    (tmp_path / "usb").write_text("not a folder")
    p = run("init", "--station-id", "D1", "--area", "North", basedir=tmp_path / "usb")
    assert "Traceback" not in p.stderr
    assert p.returncode == 5 and "cannot be used" in p.stderr and "--basedir" in p.stderr


@pytest.mark.parametrize("dates", [("--from", "2026-01-01", "--to", "9999-12-31"),
                                   ("--from", "0001-01-01")])
def test_report_dates_at_the_ends_of_the_calendar_are_a_usage_error(
        base: Path, tmp_path: Path, dates: tuple[str, ...]) -> None:
    p = run("report", "bills", "--as", "biller", *dates, "--output", str(tmp_path / "a.csv"),
            basedir=base)
    assert "Traceback" not in p.stderr
    assert p.returncode == 2 and "out of range" in p.stderr


@pytest.mark.parametrize("station_id, area, said", [
    ("dispatch 1!", "North", "Setting station_id"),
    ("D1", "N" * 51, "Setting area"),
    ("  ", "North", "--station-id"),
])
def test_init_with_a_bad_id_or_area_is_a_usage_error(
        tmp_path: Path, station_id: str, area: str, said: str) -> None:
    """A station id or area init may not take is bad input (2), said with what is allowed; not
    "the store cannot be used" (5, as before), which sends an administrator looking at a sound
    store."""
    p = run("init", "--station-id", station_id, "--area", area, basedir=tmp_path)
    assert "Traceback" not in p.stderr
    assert p.returncode == EXIT_USAGE, p.stderr
    assert said in p.stderr and "no station was set up" in p.stderr
    good = run("init", "--station-id", "D1", "--area", "North", basedir=tmp_path)
    assert good.returncode == EXIT_OK, good.stderr


def test_sync_central_with_a_secrets_file_others_can_read_says_so(base: Path, centre: str) -> None:
    """Connecting to a centre when the token file is readable by others: the refusal in plain
    words (chmod 600 ...), exit 5, the centre not kept (before: SecretError's traceback, exit 1)."""
    secrets = base / "secrets.json"
    secrets.write_text("{}")
    secrets.chmod(0o644)
    p = run("sync", "--once", "--central", centre, basedir=base, password=None,
            env_extra={"TRACETRACK_NO_KEYRING": "1", "TRACETRACK_CENTRAL_TOKEN": "good-token"})
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == EXIT_STORE, p.stderr
    assert f"chmod 600 {secrets}" in p.stderr
    assert json.loads(secrets.read_text()) == {}
    doctor = run("doctor", "--json", basedir=base, password=None,
                 env_extra={"TRACETRACK_NO_KEYRING": "1"})
    assert lines(doctor)[0]["centre"] == "not configured (this station works alone)"


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_basedir_is_a_usage_error_not_the_users_own_station(
        tmp_path: Path, empty: str) -> None:
    """`--basedir "$STATION_DIR"` with the variable unset: refused (2), and the station in the
    user's own folders is not touched (before: init created a station there, scan scanned into
    it)."""
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state")}
    p = run("--basedir", empty, "init", "--station-id", "D1", "--area", "North", env_extra=env)
    assert "Traceback" not in p.stderr
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    assert "--basedir" in p.stderr and "empty" in p.stderr
    p = run("doctor", "--basedir", empty, env_extra=env)
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    assert not home.exists()


@pytest.mark.parametrize("interval", ["0", "-5", "nan", "inf"])
def test_sync_refuses_an_interval_it_cannot_wait(base: Path, interval: str) -> None:
    """`sync --interval` must be a real wait: 0, a negative or nan made the worker ask the centre
    again at once, forever (a loop hammering the centre), and inf killed the worker thread with
    OverflowError while the command went on running, syncing nothing. Now: a usage error (2)."""
    p = run("sync", "--interval", interval, basedir=base, password=None)
    assert "Traceback" not in p.stderr
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    assert "--interval" in p.stderr and "seconds" in p.stderr


@pytest.mark.parametrize("since", [str(2**63), "99999999999999999999", "-1"])
def test_export_events_since_a_number_no_event_can_have_is_a_usage_error(
        base: Path, since: str) -> None:
    """--since past the largest event number (2^63-1) printed OverflowError's traceback, exit 1."""
    p = run("export-events", "--since", since, basedir=base, password=None)
    assert "Traceback" not in p.stderr
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    assert "--since" in p.stderr
    last = run("export-events", "--since", str(2**63 - 1), basedir=base, password=None)
    assert last.returncode == EXIT_OK and last.stdout == ""


def run_at_a_terminal(*args: str, basedir: Path, prompt: str,
                      keys: bytes) -> subprocess.CompletedProcess[str]:
    """The command with a terminal (a pseudo-terminal) for its standard input and no password or
    token in the environment, so it asks: `keys` are typed once its prompt is shown (turning the
    echo off flushes what was typed before)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env["TRACETRACK_NO_KEYRING"] = "1"
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([EXE, "--basedir", str(basedir), *args], stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
                                env=env)
        os.close(slave)
        assert proc.stderr is not None
        shown = b""
        while prompt.encode() not in shown:  # the prompt (on stderr: no /dev/tty here)
            chunk = proc.stderr.read(4096)
            if not chunk:
                break
            shown += chunk
        os.write(master, keys)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(master)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out.decode(),
                                       (shown + err).decode())


@pytest.mark.parametrize("command, prompt, status, said", [
    (("scan", "--as", "dispatcher", "SB00001"), "Password for dispatcher:", EXIT_LOGIN,
     "No password"),
    (("sync", "--once", "--central", "https://centre.example.org"), "Station token:",
     EXIT_CENTRE, "No station token"),
    (("init", "--station-id", "D2", "--area", "North", "--central", "https://centre.example.org"),
     "Station token:", EXIT_USAGE, "No station token"),
])
def test_ctrl_d_at_a_prompt_is_said_plainly(base: Path, command: tuple[str, ...], prompt: str,
                                            status: int, said: str) -> None:
    """Ctrl-D (end of input) at the password or token prompt: the command says nothing was given
    and exits with its status (before: EOFError's traceback and exit 1, 'refused by a rule')."""
    p = run_at_a_terminal(*command, basedir=base, prompt=prompt, keys=b"\x04")
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == status, p.stderr
    assert said in p.stderr
    shown = run("show", "SB00001", basedir=base, password=None)
    assert shown.returncode == EXIT_USAGE  # nothing was scanned


def test_doctor_on_a_read_only_disk_says_so(tmp_path: Path) -> None:
    """A station folder from before the folders were private (0755) on a disk that became read
    only: doctor (and the commands) name the folder and what is wrong, exit 5 (before: doctor
    printed OSError's traceback from making the folder private, exit 1)."""
    from tests.station.test_store import small_disk

    with small_disk("8m") as disk:
        base = disk / "station"
        assert run("init", "--station-id", "D1", "--area", "North", basedir=base).returncode == 0
        base.chmod(0o755)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        try:
            for args in (("doctor",), ("show", "SB00001")):
                p = run(*args, basedir=base, password=None)
                assert "Traceback" not in p.stderr, p.stderr
                assert p.returncode == EXIT_STORE, p.stdout + p.stderr
                assert str(base) in p.stdout + p.stderr
                assert "Read-only file system" in p.stdout + p.stderr
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)


@pytest.mark.parametrize("args", [("export-events",), ("doctor",), ("show", "SB00001")])
def test_output_to_a_full_disk_is_said_plainly(base: Path, args: tuple[str, ...]) -> None:
    """`export-events > /media/usb/events.jsonl` with the stick full: the command says the
    output could not be written and why, exit 5 (before: OSError's traceback, exit 1, or 120
    when Python's last flush failed too)."""
    run("scan", "--as", "dispatcher", "SB00001", "C0001", basedir=base)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    with open("/dev/full", "w") as full:  # every write: ENOSPC, as on a full disk
        p = subprocess.run([EXE, "--basedir", str(base), *args], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.returncode == EXIT_STORE, p.stderr
    assert "output" in p.stderr and "No space left on device" in p.stderr


def test_output_that_is_not_utf8_takes_every_character(base: Path) -> None:
    """Standard output in a legacy encoding (a file redirect on Windows is cp1252; a latin-1
    locale): text typed at the station outside it (a Polish close reason) no longer stops the
    command with UnicodeEncodeError's traceback. JSON lines stay exact (\\u escapes), human text
    shows the character escaped."""
    reason = "Łęka → Śrem, auto pojechało"
    run("scan", "--as", "dispatcher", "SB00001", "K0001", basedir=base)
    assert run("bill", "create", "B-17", "--target", "2", "--as", "biller",
               basedir=base).returncode == 0
    assert run("bill", "add", "B-17", "SB00001", "--as", "biller", basedir=base).returncode == 0
    assert run("bill", "close", "B-17", "--reason", reason, "--as", "biller",
               basedir=base).returncode == 0
    legacy = {"PYTHONIOENCODING": "cp1252"}
    p = run("export-events", basedir=base, password=None, env_extra=legacy)
    assert "Traceback" not in p.stderr and p.returncode == EXIT_OK, p.stderr
    assert lines(p)[-1]["data"]["reason"] == reason
    p = run("show", "B-17", "--json", basedir=base, password=None, env_extra=legacy)
    assert "Traceback" not in p.stderr and p.returncode == EXIT_OK, p.stderr
    assert lines(p)[0]["closed_reason"] == reason
    p = run("show", "B-17", basedir=base, password=None, env_extra=legacy)
    assert "Traceback" not in p.stderr and p.returncode == EXIT_OK, p.stderr
    assert "reason: \\u0141\\u0119ka \\u2192 \\u015arem" in p.stdout


def test_a_locked_system_keyring_is_said_plainly(base: Path, centre: str) -> None:
    """The system keyring is there but locked (an SSH session into the kiosk): connecting, sync
    and doctor say the keyring cannot be used and how to keep the token in a file instead
    (before: KeyringLocked's traceback, exit 1, from each of them)."""
    root = Path(__file__).resolve().parents[2]
    env = {"PYTHON_KEYRING_BACKEND": "tests.station.locked_keyring.LockedKeyring",
           "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH"))
                                         if p)}
    p = run("sync", "--once", "--central", centre, basedir=base, password=None,
            env_extra={**env, "TRACETRACK_CENTRAL_TOKEN": "good-token"})
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == EXIT_STORE, p.stderr
    assert "keyring" in p.stderr and "TRACETRACK_NO_KEYRING=1" in p.stderr
    assert run("settings", "--as", "admin", f"central_url={centre}", basedir=base).returncode == 0
    p = run("sync", "--once", basedir=base, password=None, env_extra=env)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == EXIT_CENTRE and "keyring" in p.stderr
    p = run("doctor", basedir=base, password=None, env_extra=env)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == EXIT_CENTRE and "PROBLEM" in p.stdout and "keyring" in p.stdout


def test_init_keeps_the_ca_file_it_was_given_without_central(tmp_path: Path) -> None:
    """`init --ca-file FILE` (the centre's address to come later with sync --central): the CA
    file is checked and kept (before: silently dropped, even one that does not exist, so the
    later connection failed on the certificate)."""
    ca = tmp_path / "centre ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    p = run("init", "--station-id", "D1", "--area", "North", "--ca-file", str(ca),
            basedir=tmp_path / "a")
    assert p.returncode == EXIT_OK, p.stderr
    listed = {o["setting"]: o["value"] for o in lines(run("settings", "--json",
                                                          basedir=tmp_path / "a"))}
    assert listed["central_ca_file"] == str(ca)
    p = run("init", "--station-id", "D1", "--area", "North", "--ca-file",
            str(tmp_path / "missing.pem"), basedir=tmp_path / "b")
    assert p.returncode == EXIT_USAGE and "missing.pem does not exist" in p.stderr
    assert run("doctor", basedir=tmp_path / "b").returncode == EXIT_NO_STATION


def test_an_error_in_json_to_a_full_disk_is_still_said(base: Path) -> None:
    """--json with the output on a full disk and the command itself failing (no --as): the
    command's own error on stderr with its status (before: OSError's traceback, exit 1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    with open("/dev/full", "w") as full:
        p = subprocess.run([EXE, "--basedir", str(base), "--json", "scan", "SB00001"],
                           stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.returncode == EXIT_USAGE, p.stderr
    assert "say who you are with --as USER" in p.stderr


def _offline_station(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connected to a centre whose port nobody listens on: every sync run ends 'offline'."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _connect(base, f"http://127.0.0.1:{port}", "good-token", monkeypatch)


def test_sync_that_keeps_running_stops_when_its_output_is_gone(
        base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tracetrack-station sync` (no --once) printing to a pipe whose reader went away, or to a
    full disk: the command ends (quietly for the pipe, exit 0 as README says; 5 with a message
    for the disk) instead of going on with its sync thread dead, syncing nothing, forever."""
    _offline_station(base, monkeypatch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACETRACK_")}
    env["TRACETRACK_NO_KEYRING"] = "1"
    cmd = [EXE, "--basedir", str(base), "sync", "--interval", "1"]
    with open("/dev/full", "w") as full:
        proc = subprocess.Popen(cmd, stdout=full, stderr=subprocess.PIPE, text=True, env=env)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == EXIT_STORE and "cannot be written" in err, err

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("offline:")  # the first run's summary
        proc.stdout.close()  # the reader goes away (`sync | head -1`)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "Traceback" not in err, err
    assert proc.returncode == EXIT_OK, err
