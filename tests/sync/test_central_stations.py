"""Stations at the centre: a token each (the centre keeps only its hash), no database login for
stations, one least-privilege service role; the CLI that manages them; the migration that
retires the c0002-era station roles."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import psycopg2
import psycopg2.errors
import pytest
import sqlalchemy as sa

from central.cli import main as central_main
from central.db import SCHEMA_VERSION, current_revision, make_engine, migrate
from central.roles import service_role_name
from central.stations import StationAdminError, rotate_token
from central.users import add_demo_users
from station import APP_VERSION
from sync.errors import StationRevoked, TokenRefused
from sync.worker import BLOCKED
from tests.sync.conftest import (
    CentralDB,
    Events,
    _drop_database,
    batch,
    push_as,
    with_database,
)
from tests.sync.service_proc import StationAccess
from tests.sync.stationkit import local_rows, login, make_station, worker_for

pytestmark = pytest.mark.central


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    rc = central_main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def _json_cli(capsys, *args: str, status: int = 0) -> dict:
    rc, out, err = _cli(capsys, *args)
    assert rc == status, err
    return json.loads(out)


def _access(out: dict) -> StationAccess:
    """What a station is given by add-station / rotate-token: the address and the token."""
    return StationAccess(out["url"], out["token"], out["station"])


def _whoami(access: StationAccess) -> dict:
    t = access.transport()
    try:
        return t.whoami()
    finally:
        t.close()


def _login_roles(url: str) -> set[str]:
    eng = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            return set(conn.exec_driver_sql(
                "SELECT rolname FROM pg_roles WHERE rolcanlogin").scalars())
    finally:
        eng.dispose()


def _token_bits(token: str) -> int:
    assert token.startswith("tts_")
    body = token[len("tts_"):]
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    return len(raw) * 8


def _rows_containing(conn: sa.Connection, needle: str) -> list[str]:
    """Every row of every table in the database whose text holds `needle`."""
    hits = []
    tables = conn.exec_driver_sql(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").scalars().all()
    for table in tables:
        n = conn.exec_driver_sql(
            f"SELECT count(*) FROM {table} t WHERE strpos(t::text, %s) > 0", (needle,)).scalar()
        if n:
            hits.append(table)
    return hits


def test_add_station_prints_a_token_and_the_public_url_the_centre_keeps_only_its_hash(
        central_db, capsys):
    service = central_db.service()
    rc, out, err = _cli(capsys, "--url", central_db.url, "init", "--public-url",
                        service.url + "/")
    assert rc == 0, err
    assert f"stations reach it at {service.url}" in out
    added = _json_cli(capsys, "--url", central_db.url, "add-station", "dispatch-7", "--area",
                      "East", "--json")
    assert set(added) >= {"station", "token", "url"}
    assert added["station"] == "DISPATCH-7"
    assert added["url"] == service.url  # as `init --public-url` set it
    assert _token_bits(added["token"]) >= 256
    # the plain output shows the token once and how to connect the station
    rc, text, err = _cli(capsys, "--url", central_db.url, "add-station", "D8", "--area", "East")
    assert rc == 0, err
    token8 = next(line for line in text.splitlines() if line.startswith("tts_"))
    assert _token_bits(token8) >= 256 and token8 != added["token"]
    assert f"--central {service.url}" in text and "TRACETRACK_CENTRAL_TOKEN" in text
    # what add-station printed is all a station needs: the service knows it by that token
    me = _whoami(_access(added))
    assert (me["station_id"], me["area"], me["scope"]) == ("DISPATCH-7", "East", "area")
    # the centre keeps the token's SHA-256, never the token
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            for token in (added["token"], token8):
                assert _rows_containing(conn, token) == []
                assert _rows_containing(conn, token[len("tts_"):]) == []
            stored = dict(conn.exec_driver_sql(
                "SELECT station_id, token_hash FROM station_stations").all())
    finally:
        eng.dispose()
    assert stored["DISPATCH-7"] == hashlib.sha256(added["token"].encode()).hexdigest()
    assert stored["D8"] == hashlib.sha256(token8.encode()).hexdigest()


def test_add_station_without_a_public_url_says_how_to_set_it(central_db, capsys):
    added = _json_cli(capsys, "--url", central_db.url, "add-station", "D1", "--area", "North",
                      "--json")
    assert added["url"] is None and _token_bits(added["token"]) >= 256
    rc, text, _ = _cli(capsys, "--url", central_db.url, "add-station", "D2", "--area", "North")
    assert rc == 0 and "init --public-url" in text
    # an address every station would refuse is refused here, and nothing is kept
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--public-url",
                      "postgresql://central/db")
    assert rc == 2 and "https://" in err
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--public-url",
                      "https://admin:secret@central.example")
    assert rc == 2 and "no name or password" in err and "secret" not in err
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--public-url", "https://:8443")
    assert rc == 2 and "host" in err
    again = _json_cli(capsys, "--url", central_db.url, "add-station", "D3", "--area", "North",
                      "--json")
    assert again["url"] is None


def test_rotate_token_refuses_the_old_one_at_once_and_the_new_one_works(central_db, capsys):
    old = central_db.add_station("D1")
    ev = Events("D1")
    kept_alive = old.transport()  # a station connected before the rotation
    try:
        assert kept_alive.push(batch("D1", [ev.parent("SB00001")])).results[0].result == "applied"
        rotated = _json_cli(capsys, "--url", central_db.url, "rotate-token", "d1", "--json")
        assert rotated["station"] == "D1" and rotated["token"] != old.token
        assert _token_bits(rotated["token"]) >= 256
        with pytest.raises(TokenRefused) as info:  # 401 on the very next request
            kept_alive.push(batch("D1", [ev.parent("SB00002")]))
        assert "token" in info.value.message
    finally:
        kept_alive.close()
    with pytest.raises(TokenRefused):
        push_as(old, "D1", [ev.parent("SB00002")])
    new = central_db.service().access("D1", rotated["token"])
    assert push_as(new, "D1", [ev.parent("SB00002")]).results[0].result == "applied"
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:  # both events kept, under the same station
        assert conn.exec_driver_sql(
            "SELECT event_count FROM station_stations WHERE station_id = 'D1'").scalar() == 2
        assert _rows_containing(conn, rotated["token"]) == []
    eng.dispose()
    rc, _, err = _cli(capsys, "--url", central_db.url, "rotate-token", "NOPE")
    assert rc == 2 and "No station NOPE" in err


def test_revoke_station_refuses_it_and_the_station_keeps_its_queue(central_db, capsys, tmp_path):
    access = central_db.add_station("D1")
    other = central_db.add_station("D2")
    store = make_station(tmp_path / "d1", "D1")
    worker = worker_for(store, access)
    try:
        svc = login(store)
        assert svc.record_scan("SB00001").ok and svc.record_scan("C0001").ok
        first = worker.run_once()
        assert (first.state, first.applied, first.pending) == ("online", 2, 0), first.error
        assert svc.record_scan("C0002").ok and svc.record_scan("C0003").ok
        svc.close()
        rc, out, err = _cli(capsys, "revoke-station", "D1", "--url", central_db.url)
        assert rc == 0, err
        assert "revoked" in out
        summary = worker.run_once()
        assert summary.state == BLOCKED and summary.pending == 2
        assert "D1" in (summary.error or "") and "revoked" in (summary.error or "")
        assert dict(local_rows(store, "SELECT sync_state, count(*) FROM events GROUP BY 1")) == {
            "applied": 2, "pending": 2}
    finally:
        worker.close()
        store.close()
    with pytest.raises(StationRevoked) as info:  # 403: known, but revoked
        push_as(access, "D1", [Events("D1", start_seq=3).parent("SB00009")])
    assert not isinstance(info.value, TokenRefused)
    assert _whoami(other)["station_id"] == "D2"  # the others go on
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT event_count FROM station_stations WHERE station_id = 'D1'").scalar() == 2
    eng.dispose()
    rc, _, err = _cli(capsys, "--url", central_db.url, "rotate-token", "D1")
    assert rc == 2 and "revoked" in err  # a revoked station stays revoked
    # ... even for a caller that goes on and commits after the refusal: nothing was written
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        before = conn.exec_driver_sql(
            "SELECT token_hash, token_issued_at FROM station_stations WHERE station_id = 'D1'").one()
        with pytest.raises(StationAdminError):
            rotate_token(conn, "D1")
        conn.commit()
        assert conn.exec_driver_sql(
            "SELECT token_hash, token_issued_at FROM station_stations WHERE station_id = 'D1'"
        ).one() == before
    eng.dispose()
    with pytest.raises(StationRevoked):
        push_as(access, "D1", [Events("D1", start_seq=3).parent("SB00009")])


def test_cli_add_station_json_then_stations_then_revoke(central_db, capsys):
    central_db.service()
    added = _json_cli(capsys, "--url", central_db.url, "add-station", "dispatch-7", "--area",
                      "East", "--json")
    access = central_db.service().access(added["station"], added["token"])
    ev = Events("DISPATCH-7")
    push_as(access, "DISPATCH-7", [ev.parent("SB00001")], device_time="2020-01-01T00:00:00+00:00")
    rc, text, _ = _cli(capsys, "--url", central_db.url, "stations")
    assert rc == 1  # a clock years off needs a look: marked, and the exit status says so
    assert "DISPATCH-7" in text and "East" in text and "(!)" in text  # skew flagged
    assert "! DISPATCH-7: clock" in text
    (row,) = _json_cli(capsys, "--url", central_db.url, "stations", "--json", status=1)
    assert row["events"] == 1 and row["clock_skew_flagged"] and row["last_contact"]
    assert row["backlog"] == 1 and row["app_version"] == APP_VERSION and not row["revoked"]
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", "DISPATCH-7", "--area", "East")
    assert rc == 2 and "exists already" in err
    rc, _, _ = _cli(capsys, "revoke-station", "DISPATCH-7", "--url", central_db.url)
    assert rc == 0
    with pytest.raises(StationRevoked):
        push_as(access, "DISPATCH-7", [ev.parent("SB00002")])
    (row,) = _json_cli(capsys, "--url", central_db.url, "stations", "--json")
    assert row["revoked"] and row["events"] == 1
    rc, out, _ = _cli(capsys, "--url", central_db.url, "check")
    assert rc == 0 and "All seven invariants hold" in out


def test_no_login_role_for_stations_after_init_and_add_station(central_db, capsys):
    before = _login_roles(central_db.url)
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--print-service-url",
                      "--public-url", "https://central.example")
    assert rc == 0, err
    for sid, extra in (("D1", ()), ("D2", ()), ("REVIEW-1", ("--supervisor",))):
        rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", sid, "--area", "North",
                          *extra)
        assert rc == 0, err
    after = _login_roles(central_db.url)
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        service = service_role_name(conn)
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM station_stations WHERE role_name IS NOT NULL").scalar() == 0
        base = service[: -len("_service")]
        ours = conn.exec_driver_sql(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (base,)).scalars().all()
    eng.dispose()
    assert service == f"tts_{central_db.name}_service"
    assert after - before == {service}
    assert ours == [service]  # not even a NOLOGIN role per station or a stations' group


SERVICE_MAY_NOT = [
    "CREATE TABLE public.mine (x int)",
    "CREATE TABLE mine (x int)",
    "CREATE TEMPORARY TABLE mine (x int)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE SCHEMA mine",
    "ALTER TABLE bag ADD COLUMN x int",
    "DROP TABLE station_events",
    "TRUNCATE link",
    "CREATE INDEX ON bag (name)",
    "ALTER TABLE station_feed DISABLE TRIGGER ALL",
    "ALTER FUNCTION station_session(text) SECURITY DEFINER",
    "CREATE ROLE sneaky LOGIN",
    "SET ROLE postgres",
    "COPY bag TO '/tmp/tt-service-copy'",
]


def test_service_role_is_least_privilege(central_db, capsys):
    rc, _, err = _cli(capsys, "--url", central_db.url, "init")
    assert rc == 0, err
    eng = make_engine(central_db.service_url(), poolclass=sa.pool.NullPool)
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, "
                    "rolbypassrls FROM pg_roles WHERE rolname = current_user")
        user, *powers = cur.fetchone()
        assert user == f"tts_{central_db.name}_service"
        assert powers == [False] * 5
        cur.execute("SELECT has_schema_privilege('public', 'CREATE'), "
                    "has_database_privilege(current_database(), 'TEMPORARY'), "
                    "has_database_privilege(current_database(), 'CREATE'), "
                    "(SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                    " WHERE r.rolname = current_user)")
        assert cur.fetchone() == (False, False, False, 0)
        # what sync needs works (so the refusals below are refusals, not a dead connection)
        cur.execute("SELECT count(*) FROM station_stations")
        cur.execute('SELECT count(*) FROM "user"')
        assert cur.fetchone()[0] == 3
        raw.rollback()
        for sql in SERVICE_MAY_NOT:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
            raw.rollback()
    finally:
        raw.close()
        eng.dispose()


def test_security_definer_functions_pin_their_search_path(central_db, capsys):
    rc, _, err = _cli(capsys, "--url", central_db.url, "init", "--public-url",
                      "https://central.example")
    assert rc == 0, err
    rc, _, err = _cli(capsys, "--url", central_db.url, "add-station", "D1", "--area", "North")
    assert rc == 0, err
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        definers = conn.exec_driver_sql(
            "SELECT p.oid::regprocedure::text, p.proconfig FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')").all()
        station_fns = conn.exec_driver_sql(
            "SELECT p.proname, p.prosecdef, p.proconfig FROM pg_proc p "
            "WHERE p.proname IN ('station_session', 'station_record', 'station_stored_results', "
            "'station_event_ids', 'station_link_origins', 'station_operators', "
            "'station_whoami')").all()
    eng.dispose()
    assert any(name.startswith("station_feed_bag_") for name, _ in definers)  # the feed triggers
    unpinned = [name for name, config in definers
                if "search_path=public, pg_temp" not in (config or [])]
    assert unpinned == []
    # the station functions run with the caller's (the service's) rights, search_path pinned
    assert sorted(name for name, *_ in station_fns) == sorted(
        ["station_session", "station_record", "station_stored_results", "station_event_ids",
         "station_link_origins", "station_operators"])  # station_whoami() is gone
    assert [name for name, definer, config in station_fns
            if definer or "search_path=public, pg_temp" not in (config or [])] == []


def _alembic(eng: sa.Engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from central.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_c0003_takes_the_login_away_from_c0002_station_roles(central_url, capsys, tmp_path):
    name = f"tt_c0002_{os.getpid()}"
    admin = make_engine(central_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    _drop_database(admin, name)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = with_database(central_url, name)
    eng = make_engine(url, poolclass=sa.pool.NullPool)
    centre = None
    group, role, password = f"tts_{name}", f"tts_{name}_d1", "old-station-password"
    try:
        _alembic(eng, "c0002")
        with eng.begin() as conn:
            assert current_revision(conn) == "c0002"
            add_demo_users(conn, "North")
            # a station added the c0002 way: a LOGIN role in the stations' group role
            conn.exec_driver_sql(f"CREATE ROLE {group} NOLOGIN")
            conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {name} TO {group}")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {group}")
            conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON bag, link TO {group}")
            conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION station_whoami() TO {group}")
            conn.exec_driver_sql(f"GRANT EXECUTE ON FUNCTION station_session(text) TO {group}")
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
            conn.exec_driver_sql(f"GRANT {group} TO {role}")
            conn.exec_driver_sql(
                "INSERT INTO station_stations (station_id, area, role_name, scope) "
                "VALUES ('D1', 'North', %s, 'area')", (role,))
        old_url = with_database(central_url, name).replace(
            "postgresql://", "postgresql+psycopg2://")
        old_url = sa.engine.make_url(old_url).set(username=role, password=password)
        station_eng = sa.create_engine(old_url, poolclass=sa.pool.NullPool)
        with station_eng.connect() as conn:  # it did log in, as the old stations did
            assert conn.exec_driver_sql("SELECT station_whoami()").scalar() == "D1"
        station_eng.dispose()

        before, after = migrate(eng)
        assert (before, after) == ("c0002", SCHEMA_VERSION)
        with eng.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (role,)).scalar() is False
            rights = conn.exec_driver_sql(
                "SELECT has_table_privilege(%s, 'bag', 'SELECT'), "
                "has_table_privilege(%s, 'link', 'INSERT'), "
                "has_function_privilege(%s, 'station_session(text)', 'EXECUTE'), "
                "has_table_privilege(%s, 'station_events', 'INSERT')",
                (group, role, role, role)).one()
            assert tuple(rights) == (False, False, False, False)
        with pytest.raises(sa.exc.OperationalError, match="not permitted to log in"):
            sa.create_engine(old_url, poolclass=sa.pool.NullPool).connect()
        # the station comes back with a token: rotate-token, then through the sync service
        rotated = _json_cli(capsys, "--url", url, "rotate-token", "D1", "--json")
        centre = CentralDB(url, name, tmp_path / "serve")
        access = centre.service().access("D1", rotated["token"])
        ev = Events("D1")
        reply = push_as(access, "D1", [ev.parent("SB00001"), ev.link("SB00001", "C0001")])
        assert [r.result for r in reply.results] == ["applied", "applied"]
        assert role not in _login_roles(url)
    finally:
        if centre is not None:
            centre.stop_service()
        eng.dispose()
        _drop_database(admin, name)
        admin.dispose()


def test_cli_needs_a_url(monkeypatch, capsys):
    monkeypatch.delenv("TRACETRACK_CENTRAL_URL", raising=False)
    assert central_main(["stations"]) == 2
    assert "TRACETRACK_CENTRAL_URL" in capsys.readouterr().err


def test_url_from_environment(central_db, monkeypatch, capsys):
    monkeypatch.setenv("TRACETRACK_CENTRAL_URL", central_db.url)
    assert central_main(["stations"]) == 0
    assert "No stations yet" in capsys.readouterr().out
