"""What an administrator meets at the centre's command line: `serve`'s options, the admin
commands' refusals. A mistake is a plain message and a non-zero exit, before anything starts
or is written, never a traceback and never a service that runs but cannot serve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from central.cli import main as central_main
from tests.sync.conftest import Events, push_as
from tests.sync.service_proc import CENTRAL_BIN, free_port
from tests.sync.stationkit import central_scalar

pytestmark = pytest.mark.central

# A database nothing listens at: an option refused before anything starts never reaches it (a
# `serve` that got past its options would stop here, exit 3, instead of running on).
NOWHERE = "postgresql://nobody@127.0.0.1:1/nowhere"


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = central_main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("port", ["70000", "65536", "0", "-1"])
def test_serve_refuses_a_port_that_is_not_one(capsys, port: str) -> None:
    """Before: --port 70000 was taken as it was given, and the service said it served on
    http://127.0.0.1:70000 while it listened on port 4464 (70000 - 65536), where no station
    looks for it."""
    rc, _, err = _cli(capsys, "serve", "--url", NOWHERE, "--port", port)
    assert rc == 2, err
    assert "--port" in err and "65535" in err and "Traceback" not in err


@pytest.mark.parametrize(("option", "value"), [
    ("--queue", "0"), ("--queue", "-1"),
    ("--max-body", "0"), ("--max-body", "-5"),
    ("--body-timeout", "0"), ("--body-timeout", "-1"), ("--body-timeout", "nan"),
    ("--body-timeout", "inf"),
    ("--admission-wait", "-1"), ("--admission-wait", "nan"),
    ("--order-wait", "-1"), ("--order-wait", "nan"),
    ("--express-slots", "-1"), ("--express-max", "-1"),
])
def test_serve_refuses_numbers_it_cannot_work_with(capsys, option: str, value: str) -> None:
    """Before, these were taken and the service started, then answered every push 503 busy
    (--queue 0), every request 413 (--max-body 0), 408 (--body-timeout 0) or 500
    (--body-timeout nan): the stations blocked or backing off for ever, healthz saying ok.
    (A negative wait or slot count was taken too, and meant something else than it said.)"""
    rc, _, err = _cli(capsys, "serve", "--url", NOWHERE, option, value)
    assert rc == 2, err
    assert option in err and "Traceback" not in err


@pytest.mark.parametrize("url", [
    "centre.example/tracetrack",  # no scheme at all
    "https://admin:s3cret@centre.example",  # the service's public address, not the database
    "mysql://admin:s3cret@db/tracetrack",
])
@pytest.mark.parametrize("command", [("stations",), ("check",), ("serve",),
                                     ("add-station", "D1", "--area", "North")])
def test_a_url_that_is_no_postgresql_url_is_a_plain_refusal(capsys, monkeypatch, url: str,
                                                           command: tuple[str, ...]) -> None:
    """Before: a traceback (sqlalchemy's ArgumentError, NoSuchModuleError, or an ImportError of
    a driver that is not installed), from --url or from TRACETRACK_CENTRAL_URL."""
    rc, _, err = _cli(capsys, "--url", url, *command)
    assert rc == 2, err
    assert "postgresql://" in err and "s3cret" not in err
    monkeypatch.setenv("TRACETRACK_CENTRAL_URL", url)
    rc, _, err = _cli(capsys, *command)
    assert rc == 2, err
    assert "postgresql://" in err and "s3cret" not in err


def _run(central_db, *args: str, stdin: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, as cron or a script runs it: no terminal (its own session), stdin as
    given (None: at its end at once)."""
    full = {k: v for k, v in os.environ.items() if k != "TRACETRACK_PASSWORD"}
    full.update(env or {})
    return subprocess.run([str(CENTRAL_BIN), "--url", central_db.url, *args], input=stdin or "",
                          capture_output=True, text=True, timeout=60, env=full,
                          start_new_session=True)


def test_add_user_without_a_password_to_read_says_so(central_db) -> None:
    """No TRACETRACK_PASSWORD and nothing to read at the prompt (a script, cron): before, a
    traceback (EOFError) after "Password for ...:"."""
    r = _run(central_db, "add-user", "asha", "--role", "biller", "--area", "North")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "TRACETRACK_PASSWORD" in r.stderr
    assert central_scalar(central_db.url, 'SELECT count(*) FROM "user" WHERE username = %s',
                          "asha") == 0


def test_add_user_refuses_an_empty_password(central_db) -> None:
    """Enter pressed at the prompt (or TRACETRACK_PASSWORD set but empty, then Enter): before,
    the user was saved with the empty password, which every station then took: anyone at a
    station logged in as that user, an admin included, with no password at all."""
    before = central_scalar(central_db.url,
                            'SELECT password_hash FROM "user" WHERE username = %s', "admin")
    for env in ({}, {"TRACETRACK_PASSWORD": ""}):
        r = _run(central_db, "add-user", "admin", "--role", "admin", stdin="\n", env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "password" in r.stderr and "Traceback" not in r.stderr
    after = central_scalar(central_db.url,
                           'SELECT password_hash FROM "user" WHERE username = %s', "admin")
    assert after == before  # the demo admin keeps its password
    r = _run(central_db, "add-user", "asha", "--role", "biller", stdin="",
             env={"TRACETRACK_PASSWORD": "asha-pw"})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(("username", "area", "what"), [
    ("asha\\x07", "North", "User name"),  # a control character (a stray key in a script)
    ("asha\\tb", "North", "User name"),
    ("a" * 65, "North", "User name"),  # "user".username is varchar(64)
    ("asha", "No\\x1brth", "Area"),
    ("asha", "N" * 51, "Area"),  # "user".dispatch_area is varchar(50)
])
def test_add_user_refuses_a_user_no_station_can_hold(central_db, capsys, monkeypatch,
                                                     username: str, area: str,
                                                     what: str) -> None:
    """Before: a name with a control character was saved, sent to every station, and nobody
    could ever log in as it there (a station refuses such a name as typed: login_name); one
    over 64 characters or an area over 50 got the database's own refusal, exit 3."""
    from station.errors import LoginFailed
    from station.session import login_name

    username = username.encode().decode("unicode_escape")
    area = area.encode().decode("unicode_escape")
    if what == "User name":
        with pytest.raises(LoginFailed):  # what a station makes of that name
            login_name(username)
    monkeypatch.setenv("TRACETRACK_PASSWORD", "pw-asha")
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-user", username, "--role",
                      "dispatcher", "--area", area)
    assert rc == 2, err
    assert what in err and "Traceback" not in err
    assert central_scalar(central_db.url, 'SELECT count(*) FROM "user" WHERE username <> '
                          "ALL(%s)", ["dispatcher", "biller", "admin"]) == 0


def test_add_user_refuses_a_name_that_differs_only_in_case(central_db, capsys,
                                                           monkeypatch) -> None:
    """Stations match a typed name ignoring case, and the centre finds an event's operator by
    its name ignoring case too. Before: `add-user Dispatcher --role admin` (meaning to make the
    demo dispatcher an admin) added a second user beside `dispatcher`, and each of their events
    was then judged as either of the two, whichever the database returned last."""
    monkeypatch.setenv("TRACETRACK_PASSWORD", "pw-new")
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-user", "Dispatcher", "--role",
                      "admin", "--area", "North")
    assert rc == 2, err
    assert "dispatcher" in err and "Traceback" not in err
    assert central_scalar(central_db.url, "SELECT string_agg(username || ':' || role, ',') "
                          'FROM "user" WHERE lower(username) = %s', "dispatcher") == (
                              "dispatcher:dispatcher")
    # the user's own spelling updates it, as before
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-user", "dispatcher", "--role",
                      "admin", "--area", "North")
    assert rc == 0, err
    assert central_scalar(central_db.url, 'SELECT role FROM "user" WHERE username = %s',
                          "dispatcher") == "admin"


def test_adding_a_revoked_station_again_says_what_can_be_done(central_db, capsys) -> None:
    """Before: add-station of a revoked id answered "exists already: give it a new token with
    rotate-token D1", and rotate-token D1 answered "revoked: add it again under a new id": each
    sent the administrator to the other."""
    central_db.register("D1")
    rc, _, err = _cli(capsys, "--url", central_db.url, "revoke-station", "D1")
    assert rc == 0, err
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", "d1", "--area", "North")
    assert rc == 2
    assert "revoked" in err and "new id" in err and "rotate-token" not in err
    rc, _, err = _cli(capsys, "--url", central_db.url, "rotate-token", "D1")
    assert rc == 2 and "revoked" in err
    # a station that is not revoked is still pointed at rotate-token
    central_db.register("D2")
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", "D2", "--area", "North")
    assert rc == 2 and "rotate-token D2" in err


def _embedded_serve(data: Path, log: Path, *extra: str, host: str = "127.0.0.1",
                    ) -> tuple[subprocess.Popen[bytes], str]:
    """`serve` without --url (its own PostgreSQL in `data`), once it answers /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TRACETRACK_CENTRAL_URL"}
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(CENTRAL_BIN), "serve", "--data-dir", str(data), "--host",
                                 host, "--port", str(port), *extra], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=2.0).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)  # polling another process's readiness (no event to wait on)


def _postmaster(data: Path) -> psutil.Process | None:
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        proc = psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None
    return None if proc.status() == psutil.STATUS_ZOMBIE else proc


def test_embedded_postgresql_stops_with_serve_after_a_serve_was_killed(tmp_path) -> None:
    """A `serve` killed outright (SIGKILL: the OOM killer, systemd's last resort) leaves its
    embedded PostgreSQL running, which the next `serve` uses. Before, that next one and every
    later one also left it running when they stopped normally (the killed process was still
    counted as a user of it), so no stop of the centre ever stopped its database."""
    # (not under tmp_path: run as root, PostgreSQL runs as another user, and a pytest session
    # starting meanwhile makes pytest's own folder private again)
    data, log = Path(tempfile.mkdtemp(prefix="tt-embedded-")) / "data", tmp_path / "serve.log"
    first, _ = _embedded_serve(data, log)
    postgres = _postmaster(data)
    try:
        assert postgres is not None
        os.kill(first.pid, signal.SIGKILL)  # the process itself: not its PostgreSQL
        first.wait(timeout=30)
        assert _postmaster(data) is not None
        second, url = _embedded_serve(data, log)
        assert httpx.get(url + "/healthz", timeout=10).json()["ok"] is True
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0, log.read_text()
        assert _postmaster(data) is None, "the embedded PostgreSQL is still running"
        third, _ = _embedded_serve(data, log)  # and the folder serves again
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=60) == 0, log.read_text()
        assert _postmaster(data) is None
    finally:
        left = _postmaster(data)
        if left is not None:
            left.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            left.wait(timeout=60)
        shutil.rmtree(data.parent, ignore_errors=True)


def test_a_database_upgraded_by_a_newer_release_is_said_plainly(central_db, capsys) -> None:
    """A database a newer release has upgraded (a revision this one does not know), met by an
    older tracetrack-central (a second machine, a package rolled back). Before: `init` printed
    alembic's traceback ("Can't locate revision identified by ..."), and `serve` told the
    administrator to run that very `init`."""
    from central.db import SCHEMA_VERSION
    from tests.sync.stationkit import central_exec

    central_exec(central_db.url, "UPDATE station_alembic_version SET version_num = 'c9999'")
    rc, _, err = _cli(capsys, "--url", central_db.url, "init")
    assert rc != 0 and "Traceback" not in err
    assert "c9999" in err and "newer" in err and SCHEMA_VERSION in err
    assert central_scalar(central_db.url,
                          "SELECT version_num FROM station_alembic_version") == "c9999"
    with pytest.raises(SystemExit) as stop:
        central_main(["serve", "--url", central_db.url])
    assert stop.value.code == 5
    err = capsys.readouterr().err
    assert "c9999" in err and "newer" in err and "run tracetrack-central init" not in err


def test_init_never_takes_over_the_service_role_of_another_centre(central_url, capsys) -> None:
    """Roles are server-wide, and the service role is named after the database, lower-cased,
    other characters made _, cut at 30: "TT_ROLE_1" and "tt_role_1" (or two names alike in
    their first 30 characters) give the same role. Before, `init --print-service-url` of the
    second gave the first centre's service role a new password, so the first centre's running
    service could no longer connect (its stations offline), and granted it the second
    database too."""
    import sqlalchemy as sa

    from central.db import make_engine
    from tests.sync.conftest import _admin_engine, with_database

    first, second = f"tt_role_{os.getpid()}", f"TT_ROLE_{os.getpid()}"
    admin = _admin_engine(central_url)

    def drop() -> None:
        with admin.connect() as conn:
            for name in (first, second):
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "tts_{first}_service"')

    drop()
    try:
        with admin.connect() as conn:
            for name in (first, second):
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        rc, out, err = _cli(capsys, "--url", with_database(central_url, first), "init",
                            "--print-service-url")
        assert rc == 0, err
        service_url = out.strip().splitlines()[-1]
        rc, out, err = _cli(capsys, "--url", with_database(central_url, second), "init",
                            "--print-service-url")
        assert rc == 2, out + err
        assert f"tts_{first}_service" in err and first in err and "Traceback" not in err
        eng = make_engine(service_url, poolclass=sa.pool.NullPool)
        try:
            with eng.connect() as conn:  # the first centre's service still logs in
                assert conn.exec_driver_sql("SELECT current_database()").scalar() == first
        finally:
            eng.dispose()
        with admin.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT has_database_privilege(%s, %s, 'CONNECT') AND EXISTS (SELECT 1 FROM "
                "pg_database d, aclexplode(d.datacl) a JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE d.datname = %s AND r.rolname = %s)",
                (f"tts_{first}_service", second, second, f"tts_{first}_service")).scalar() is False
    finally:
        drop()
        admin.dispose()


@pytest.mark.parametrize("typed", ["North ", " north", "NORTH"])
def test_a_user_added_for_an_area_as_typed_reaches_that_areas_stations(central_db, capsys,
                                                                       monkeypatch, tmp_path,
                                                                       typed: str) -> None:
    """The centre takes a dispatcher's area as the station's whatever its case and spaces
    (its events are applied there), but a station downloads only the users whose area is
    spelt exactly as the station's. Before: `add-user carl --area "North "` (or north) saved
    the area as typed, and carl never reached the North stations: nobody could log in as carl
    there."""
    from station.service import StationService
    from tests.sync.stationkit import make_station, worker_for

    access = central_db.add_station("N1", area="North")
    monkeypatch.setenv("TRACETRACK_PASSWORD", "pw-carl")
    rc, out, err = _cli(capsys, "--url", central_db.url, "add-user", "carl", "--role",
                        "dispatcher", "--area", typed)
    assert rc == 0, err
    assert "area North)" in out
    store = make_station(tmp_path / "n1", "N1")
    worker = worker_for(store, access)
    try:
        assert worker.run_once().error is None
        svc = StationService(store)
        svc.login("carl", "pw-carl")  # LoginFailed before: no such user at the station
        svc.close()
    finally:
        worker.close()
        store.close()
    # an area no station has yet is kept as typed (trimmed)
    rc, out, err = _cli(capsys, "--url", central_db.url, "add-user", "dora", "--role",
                        "dispatcher", "--area", " Kanpur ")
    assert rc == 0, err
    assert central_scalar(central_db.url, 'SELECT dispatch_area FROM "user" WHERE username = %s',
                          "dora") == "Kanpur"


def test_a_station_added_for_an_area_as_typed_gets_that_areas_users(central_db, capsys,
                                                                    tmp_path) -> None:
    """The mirror of the test above: before, `add-station D9 --area north` at a centre whose
    users are of area North made a station none of them reached (the centre took its
    dispatchers' events, the station never downloaded them: nobody could log in there but a
    biller or an admin)."""
    from tests.sync.stationkit import login, make_station, worker_for

    out = json.loads(_cli(capsys, "--url", central_db.url, "add-station", "D9", "--area",
                          " north ", "--json")[1])
    assert out["area"] == "North"  # as it is kept
    service = central_db.service()
    assert _cli(capsys, "--url", central_db.url, "stations", "--json")[0] == 0
    store = make_station(tmp_path / "d9", "D9")
    worker = worker_for(store, service.access("D9", out["token"]))
    try:
        assert worker.run_once().error is None
        login(store, "dispatcher").close()  # LoginFailed before: no such user at the station
    finally:
        worker.close()
        store.close()
    assert central_scalar(central_db.url, "SELECT area FROM station_stations WHERE "
                          "station_id = 'D9'") == "North"


@pytest.mark.parametrize("problem", ["missing certificate", "missing key", "not PEM",
                                     "key of another certificate"])
def test_serve_refuses_a_certificate_it_cannot_use_before_starting(capsys, tmp_path,
                                                                    problem: str) -> None:
    """Before: the service said it served on https://..., then uvicorn failed on the files
    with a traceback (FileNotFoundError, ssl.SSLError: PEM lib), exit 1; with no --url, after
    starting the embedded PostgreSQL for nothing."""
    import trustme

    ca = trustme.CA()
    cert, other = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    if problem == "missing certificate":
        certfile = tmp_path / "nothing.pem"
    elif problem == "missing key":
        keyfile = tmp_path / "nothing.key"
    elif problem == "not PEM":
        certfile.write_text("not a certificate\n")
    else:
        other.private_key_pem.write_to_path(str(keyfile))
    rc, out, err = _cli(capsys, "serve", "--url", NOWHERE, "--certfile", str(certfile),
                        "--keyfile", str(keyfile))
    assert rc == 2, out + err
    assert "Traceback" not in err and "https://" not in out
    assert ("nothing" in err) if problem.startswith("missing") else ("--certfile" in err)


def test_serve_demo_with_a_database_of_ones_own_is_refused(capsys, monkeypatch) -> None:
    """`--demo AREA` adds the demo users and station DEMO-1 only to the embedded PostgreSQL.
    Before, with --url (or TRACETRACK_CENTRAL_URL) it was taken and did nothing: the service
    started with no DEMO-1 and no token printed, and nothing said why."""
    rc, _, err = _cli(capsys, "serve", "--url", NOWHERE, "--demo", "North")
    assert rc == 2, err
    assert "--demo" in err and "init --demo" in err
    monkeypatch.setenv("TRACETRACK_CENTRAL_URL", NOWHERE)
    rc, _, err = _cli(capsys, "serve", "--demo", "North")
    assert rc == 2 and "--demo" in err, err


@pytest.mark.parametrize("kind", ["a folder of other files", "a file"])
def test_serve_refuses_a_data_folder_that_cannot_be_postgresqls(tmp_path, kind: str) -> None:
    """`serve --data-dir` (no --url) given a folder that holds other things, or a file. Before:
    a traceback (initdb's CalledProcessError: the folder is not empty; FileExistsError)."""
    where = Path(tempfile.mkdtemp(prefix="tt-embedded-"))
    try:
        if kind == "a file":
            data = where / "data"
            data.write_text("not a folder\n")
        else:
            data = where
            (data / "notes.txt").write_text("the administrator's own notes\n")
        env = {k: v for k, v in os.environ.items() if k != "TRACETRACK_CENTRAL_URL"}
        r = subprocess.run([str(CENTRAL_BIN), "serve", "--data-dir", str(data), "--port",
                            str(free_port())], capture_output=True, text=True, timeout=120,
                           env=env, start_new_session=True)
        assert r.returncode == 2, r.stdout + r.stderr
        assert str(data) in r.stderr and "Traceback" not in r.stderr
        assert _postmaster(data) is None
        if kind == "a file":
            assert data.read_text() == "not a folder\n"
        else:
            assert sorted(p.name for p in data.iterdir()) == ["notes.txt"]
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.mark.skipif(os.name == "nt", reason="the embedded PostgreSQL listens on TCP there")
def test_serve_refuses_a_data_folder_whose_path_has_a_space(tmp_path) -> None:
    """The embedded PostgreSQL (pgserver) puts its socket in the data folder and passes that
    path to PostgreSQL unquoted: a path with a space never starts. Before, the folder was made
    and initialised first, then PostgreSQL failed to start (pg_ctl's error, once a traceback)
    on every try, with nothing saying why."""
    where = Path(tempfile.mkdtemp(prefix="tt-embedded-"))
    try:
        data = where / "trace track" / "data"
        env = {k: v for k, v in os.environ.items() if k != "TRACETRACK_CENTRAL_URL"}
        r = subprocess.run([str(CENTRAL_BIN), "serve", "--data-dir", str(data), "--port",
                            str(free_port())], capture_output=True, text=True, timeout=120,
                           env=env, start_new_session=True)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "space" in r.stderr and "Traceback" not in r.stderr
        assert not data.exists()
    finally:
        left = _postmaster(where / "trace track" / "data")
        if left is not None:
            left.send_signal(signal.SIGINT)
            left.wait(timeout=60)
        shutil.rmtree(where, ignore_errors=True)


def test_add_user_without_area_keeps_the_users_area(central_db, capsys, monkeypatch,
                                                    tmp_path) -> None:
    """`add-user` adds or updates: giving a dispatcher a new password without repeating
    --area used to wipe their area, and the dispatcher vanished from their area's stations
    (nobody could log in as them there, and their queued events were refused as another
    area's)."""
    from tests.sync.stationkit import make_station, worker_for

    access = central_db.add_station("N1", area="North")
    monkeypatch.setenv("TRACETRACK_PASSWORD", "new-pw")
    rc, out, err = _cli(capsys, "--url", central_db.url, "add-user", "dispatcher", "--role",
                        "dispatcher")
    assert rc == 0, err
    assert "area North" in out
    assert central_scalar(central_db.url, 'SELECT dispatch_area FROM "user" WHERE username = %s',
                          "dispatcher") == "North"
    store = make_station(tmp_path / "n1", "N1")
    worker = worker_for(store, access)
    try:
        assert worker.run_once().error is None
        from station.service import StationService

        svc = StationService(store)
        svc.login("dispatcher", "new-pw")
        svc.close()
    finally:
        worker.close()
        store.close()


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_a_weight_that_is_no_number_does_not_stop_the_stations_download(central_db, tmp_path,
                                                                       value: str) -> None:
    """PostgreSQL's double precision holds NaN and Infinity, which the web system may write
    (bag.weight_kg); JSON has neither. Before: every pull page holding such a bag was a 500,
    so a station's first download stopped there for good, retried for ever."""
    from tests.sync.stationkit import central_exec, local_rows, make_station, worker_for

    d1 = central_db.add_station("D1")
    ev = Events("D1")
    push_as(d1, "D1", [ev.parent("SB00001"), ev.link("SB00001", "C0001")])
    central_exec(central_db.url, f"UPDATE bag SET weight_kg = '{value}' WHERE qr_id = 'SB00001'")
    d2 = central_db.add_station("D2")
    store = make_station(tmp_path / "d2", "D2")
    worker = worker_for(store, d2)
    try:
        summary = worker.run_once()
        assert summary.error is None, summary.error
        assert local_rows(store, "SELECT code, weight_kg FROM bags ORDER BY code") == [
            ("C0001", 0.0), ("SB00001", 0.0)]
    finally:
        worker.close()
        store.close()


def test_add_station_refuses_an_area_with_a_control_character(central_db, capsys) -> None:
    """Before: taken as given (a stray escape from a script), so its bags carried it, and no
    user could be given that area (add-user refuses it, as the stations do)."""
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", "D1", "--area",
                      "No\x1brth")
    assert rc == 2, err
    assert "Area" in err and "control character" in err
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_stations") == 0


@pytest.mark.parametrize("url", ["https://centre.example/\x07sync",
                                 "https://centre.example/" + "a" * 2100])
def test_init_refuses_a_public_url_no_station_can_keep(central_db, capsys, url: str) -> None:
    """A station keeps its centre's address as a setting checked against station.limits (no
    control characters, at most 2048 characters). Before, `init --public-url` took such an
    address, and add-station printed it to every station, each of which refused it."""
    from station.limits import check_text

    assert check_text("central_url", url) is not None  # what every station makes of it
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--public-url", url)
    assert rc == 2, err
    assert "Traceback" not in err
    assert central_scalar(central_db.url, "SELECT count(*) FROM station_centre_settings "
                          "WHERE key = 'public_url'") == 0


def test_serve_demo_on_an_ipv6_address(tmp_path) -> None:
    """`serve --demo North --host ::1`: before, the demo's public address was made as
    http://::1:PORT, which cannot be read, and serve stopped there (exit 2) having started the
    embedded PostgreSQL for nothing. Now http://[::1]:PORT, which stations can use."""
    where = Path(tempfile.mkdtemp(prefix="tt-embedded-"))
    data, log = where / "data", tmp_path / "serve.log"
    try:
        proc, url, token = _demo_serve(data, log, host="::1")
        try:
            assert url.startswith("http://[::1]:") and f"CENTRAL={url}" in log.read_text()
            who = httpx.get(url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).json()
            assert who["station_id"] == "DEMO-1"
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        left = _postmaster(data)
        if left is not None:
            left.send_signal(signal.SIGINT)
            left.wait(timeout=60)
        shutil.rmtree(where, ignore_errors=True)


def _demo_serve(data: Path, log: Path, host: str = "127.0.0.1",
                ) -> tuple[subprocess.Popen[bytes], str, str]:
    """`serve --demo North` on the embedded PostgreSQL in `data`, up: (process, url, token)."""
    proc, url = _embedded_serve(data, log, "--demo", "North", host=host)
    token = next(w.split("=", 1)[1] for w in log.read_text().split()
                 if w.startswith("TRACETRACK_CENTRAL_TOKEN=tts_"))
    return proc, url, token


def test_make_centre_started_again_keeps_the_demo_stations_token(tmp_path) -> None:
    """`make centre` (serve --demo) issued DEMO-1 a new token at every start, so the demo
    station connected to it was refused after the centre was restarted. The token is kept
    beside the data folder, owner-only, and given again while the centre still takes it."""
    where = Path(tempfile.mkdtemp(prefix="tt-embedded-"))
    data = where / "data"
    tokens = []
    try:
        for run in range(2):
            proc, url, token = _demo_serve(data, tmp_path / f"serve{run}.log")
            try:
                who = httpx.get(url + "/v1/whoami", headers={"Authorization": f"Bearer {token}"},
                                timeout=10).json()
                assert who["station_id"] == "DEMO-1"
                tokens.append(token)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
        kept = where / "data-demo-station-token"
        assert kept.stat().st_mode & 0o777 == 0o600
        assert tokens[0] == tokens[1]
    finally:
        left = _postmaster(data)
        if left is not None:
            left.send_signal(signal.SIGINT)
            left.wait(timeout=60)
        shutil.rmtree(where, ignore_errors=True)
