"""The central schema: Alembic creates it in an empty database, and only adds the station_*
tables and triggers to a database that already holds the web system's tables."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from central import schema
from central.cli import main as central_main
from central.db import SCHEMA_VERSION, current_revision, make_engine
from central.invariants import check_invariants
from central.users import add_demo_users
from tests.sync.conftest import CentralDB, Events, _drop_database, push_as, with_database

pytestmark = pytest.mark.central

# A web-system database as it might exist: its own column order and defaults, one row each.
WEB_SYSTEM_DDL = """
CREATE TABLE "user" (id serial PRIMARY KEY, username varchar(64) UNIQUE NOT NULL,
    email varchar(120), password_hash varchar(256), role varchar(20), dispatch_area varchar(50),
    verified boolean DEFAULT false, created_at timestamp DEFAULT now());
CREATE TABLE bag (id serial PRIMARY KEY, qr_id varchar(255) UNIQUE NOT NULL,
    type varchar(10) NOT NULL, name varchar(100), child_count integer DEFAULT 0,
    user_id integer REFERENCES "user"(id), dispatch_area varchar(50), status varchar(20) DEFAULT 'pending',
    weight_kg double precision DEFAULT 0, created_at timestamp DEFAULT now(),
    updated_at timestamp DEFAULT now());
CREATE TABLE link (id serial PRIMARY KEY, parent_bag_id integer REFERENCES bag(id),
    child_bag_id integer UNIQUE REFERENCES bag(id), created_at timestamp DEFAULT now());
CREATE TABLE scan (id serial PRIMARY KEY, timestamp timestamp DEFAULT now(),
    parent_bag_id integer REFERENCES bag(id), child_bag_id integer REFERENCES bag(id),
    user_id integer REFERENCES "user"(id));
CREATE TABLE bill (id serial PRIMARY KEY, bill_id varchar(50) UNIQUE NOT NULL, description text,
    parent_bag_count integer DEFAULT 1, linked_parent_count integer DEFAULT 0,
    total_child_bags integer DEFAULT 0, total_weight_kg double precision DEFAULT 0,
    expected_weight_kg double precision DEFAULT 0, status varchar(20) DEFAULT 'new',
    created_by_id integer REFERENCES "user"(id), destination varchar(200),
    vehicle_number varchar(50), created_at timestamp DEFAULT now(), updated_at timestamp DEFAULT now());
CREATE TABLE bill_bag (id serial PRIMARY KEY, bill_id integer REFERENCES bill(id),
    bag_id integer UNIQUE REFERENCES bag(id), created_at timestamp DEFAULT now());
CREATE TABLE promotion (id serial PRIMARY KEY, note text);
INSERT INTO "user" (username, role, dispatch_area) VALUES ('webadmin', 'admin', 'North');
INSERT INTO bag (qr_id, type) VALUES ('SB00077', 'parent');
INSERT INTO bill (bill_id, parent_bag_count) VALUES ('OLD-1', 3);
"""


def _columns(conn: sa.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.exec_driver_sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position", (table,))]


def test_migrated_schema_matches_schema_py(central_db):
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        assert current_revision(conn) == SCHEMA_VERSION
        for table in schema.metadata.sorted_tables:
            assert sorted(_columns(conn, table.name)) == sorted(c.name for c in table.columns), table.name
        uniques = conn.execute(sa.text(
            "SELECT indexdef FROM pg_indexes WHERE indexdef LIKE 'CREATE UNIQUE%'")).scalars().all()
    text = " ".join(uniques)
    for needle in ("bag USING btree (qr_id)", "link USING btree (child_bag_id)",
                   "bill_bag USING btree (bag_id)", "(upper((bill_id)::text))"):
        assert needle in text
    eng.dispose()


def test_constraints_are_a_second_line_of_defence(central_db):
    eng = central_db.engine(poolclass=sa.pool.NullPool)
    with eng.connect() as conn:
        conn.exec_driver_sql(
            "INSERT INTO bag (qr_id, type) VALUES ('SB00001', 'parent'), ('SB00002', 'parent'), "
            "('C0001', 'child')")
        conn.exec_driver_sql("INSERT INTO link (parent_bag_id, child_bag_id) SELECT p.id, c.id "
                             "FROM bag p, bag c WHERE p.qr_id = 'SB00001' AND c.qr_id = 'C0001'")
        conn.commit()
        for sql in (
            "INSERT INTO link (parent_bag_id, child_bag_id) SELECT p.id, c.id FROM bag p, bag c "
            "WHERE p.qr_id = 'SB00002' AND c.qr_id = 'C0001'",
            "INSERT INTO bag (qr_id, type) VALUES ('SB00001', 'child')",
            "INSERT INTO bag (qr_id, type) VALUES ('sb00003', 'parent')",
            "INSERT INTO bill (bill_id) VALUES ('b-1'), ('B-1')",
        ):
            with pytest.raises(sa.exc.IntegrityError):
                conn.exec_driver_sql(sql)
            conn.rollback()
    eng.dispose()


def test_init_on_a_web_system_database_adds_only_station_tables(central_url, capsys, tmp_path):
    name = "tt_web_system_db"
    admin = make_engine(central_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = with_database(central_url, name)
    eng = make_engine(url, poolclass=sa.pool.NullPool)
    centre = None
    try:
        raw = eng.raw_connection()
        raw.cursor().execute(WEB_SYSTEM_DDL)
        raw.commit()
        raw.close()
        with eng.connect() as conn:
            before = {t: _columns(conn, t) for t in schema.WEB_TABLES + ("promotion",)}
        assert central_main(["--url", url, "init"]) == 0
        assert "kept them as they are" in capsys.readouterr().out
        with eng.connect() as conn:
            after = {t: _columns(conn, t) for t in before}
            assert after == before
            tables = set(conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars())
            assert tables - set(before) == set(schema.STATION_TABLES) | {"station_alembic_version"}
            assert conn.exec_driver_sql("SELECT count(*) FROM bag").scalar() == 1
            # the web system keeps writing as it does; its writes reach the change feed
            conn.exec_driver_sql("INSERT INTO bill (bill_id, parent_bag_count) VALUES ('WEB-2', 4)")
            conn.commit()
            feed = conn.exec_driver_sql("SELECT tbl, count(*) FROM station_feed GROUP BY 1").all()
            assert ("bill", 1) in feed
        assert central_main(["--url", url, "init"]) == 0
        assert "nothing to do" in capsys.readouterr().out
        # stations work against the web system's own tables and constraints, through the sync
        # service running as the role init made
        with eng.begin() as conn:
            add_demo_users(conn, "North")
        centre = CentralDB(url, name, tmp_path / "serve")
        access = centre.add_station("D1", "North")
        assert centre.service().db_url.startswith(f"postgresql://tts_{name}_service:")
        ev = Events("D1")
        reply = push_as(access, "D1", [ev.parent("SB00077"), ev.link("SB00077", "C0001"),
                                            ev.bill("OLD-1", 3), ev.bill_add("OLD-1", "SB00077")])
        assert [(r.result, r.reason) for r in reply.results] == [
            ("applied", "parent_selected"), ("applied", "child_linked"),
            ("rejected", "bill_exists"), ("applied", "parent_short")]
        with eng.connect() as conn:
            assert check_invariants(conn) == []
            assert conn.exec_driver_sql("SELECT count(*) FROM scan").scalar() == 1
    finally:
        if centre is not None:
            centre.stop_service()
        eng.dispose()
        _drop_database(admin, name)  # and the service role init made (roles are server-wide)
        admin.dispose()


def test_init_on_an_empty_database_with_demo_users(central_url, capsys):
    name = "tt_empty_db"
    admin = make_engine(central_url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = with_database(central_url, name)
    try:
        assert central_main(["--url", url, "init", "--demo", "West"]) == 0
        assert "initialised" in capsys.readouterr().out
        eng = make_engine(url, poolclass=sa.pool.NullPool)
        with eng.connect() as conn:
            assert set(schema.WEB_TABLES) <= set(conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables").scalars())
            assert conn.exec_driver_sql(
                "SELECT dispatch_area FROM \"user\" WHERE username = 'biller'").scalar() == "West"
        eng.dispose()
    finally:
        _drop_database(admin, name)  # and the service role init made
        admin.dispose()


def _feed_count(conn: sa.Connection, tbl: str) -> int:
    return int(conn.exec_driver_sql(
        "SELECT count(*) FROM station_feed WHERE tbl = %s", (tbl,)).scalar() or 0)


def test_feed_triggers_are_static_per_table_and_c0002_downgrades(central_db):
    """c0002 replaced the one dynamic trigger function with static ones (planned once per
    session); both versions capture a row written directly, and the downgrade restores c0001."""
    from alembic import command
    from alembic.config import Config

    from central.db import MIGRATIONS

    eng = central_db.engine(poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as conn:
            functions = conn.exec_driver_sql(
                "SELECT DISTINCT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
                "WHERE starts_with(t.tgname, 'station_feed_')").scalars().all()
            assert "station_feed_bag_insert_fn" in functions
            assert "station_feed_capture" not in functions
            conn.exec_driver_sql("INSERT INTO bag (qr_id, type) VALUES ('SB00901', 'parent')")
            conn.exec_driver_sql("UPDATE bag SET child_count = 0 WHERE qr_id = 'SB00901'")
            conn.exec_driver_sql("DELETE FROM bag WHERE qr_id = 'SB00901'")
            assert _feed_count(conn, "bag") == 3
            conn.commit()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "c0001")
        with eng.connect() as conn:
            assert current_revision(conn) == "c0001"
            conn.exec_driver_sql("INSERT INTO bag (qr_id, type) VALUES ('SB00902', 'parent')")
            assert _feed_count(conn, "bag") == 4  # the dynamic c0001 function captured it
            conn.commit()
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with eng.connect() as conn:
            assert current_revision(conn) == SCHEMA_VERSION
            conn.exec_driver_sql("INSERT INTO bag (qr_id, type) VALUES ('SB00903', 'parent')")
            assert _feed_count(conn, "bag") == 5
            conn.rollback()
    finally:
        eng.dispose()
