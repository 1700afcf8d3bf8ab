"""central: web tables when absent, station_* tables, change-feed triggers, sync functions

Revision ID: c0001
Revises:
Create Date: 2026-11-23 03:30:00
"""

from alembic import op

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None

# The web system's core tables, created only in an empty database (an existing web database
# keeps its own tables untouched).
WEB_DDL = r"""
CREATE TABLE "user" (
    id serial PRIMARY KEY,
    username varchar(64) NOT NULL UNIQUE,
    email varchar(120),
    password_hash varchar(256),
    role varchar(20) NOT NULL DEFAULT 'dispatcher',
    dispatch_area varchar(50),
    verified boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE bag (
    id serial PRIMARY KEY,
    qr_id varchar(255) NOT NULL UNIQUE CHECK (qr_id = upper(qr_id)),
    type varchar(10) NOT NULL CHECK (type IN ('parent', 'child')),
    name varchar(100),
    child_count integer NOT NULL DEFAULT 0 CHECK (child_count >= 0),
    user_id integer,  -- who created it; no FK: checked per row it would cost a third of ingest
    dispatch_area varchar(50),
    status varchar(20) NOT NULL DEFAULT 'pending',
    weight_kg double precision NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE link (
    id serial PRIMARY KEY,
    parent_bag_id integer NOT NULL REFERENCES bag(id),
    child_bag_id integer NOT NULL UNIQUE REFERENCES bag(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_bag_id <> child_bag_id)
);
CREATE INDEX ix_link_parent_bag_id ON link (parent_bag_id);
-- scan is an append-only log written from rows the apply code has just locked: no FKs
-- (three per-row foreign-key checks per link would halve the ingest rate)
CREATE TABLE scan (
    id serial PRIMARY KEY,
    "timestamp" timestamptz NOT NULL DEFAULT now(),
    parent_bag_id integer,
    child_bag_id integer,
    user_id integer
);
CREATE TABLE bill (
    id serial PRIMARY KEY,
    bill_id varchar(50) NOT NULL UNIQUE,
    description text,
    parent_bag_count integer NOT NULL DEFAULT 1,
    linked_parent_count integer NOT NULL DEFAULT 0,
    total_child_bags integer NOT NULL DEFAULT 0,
    total_weight_kg double precision NOT NULL DEFAULT 0,
    expected_weight_kg double precision NOT NULL DEFAULT 0,
    status varchar(20) NOT NULL DEFAULT 'new',
    created_by_id integer REFERENCES "user"(id),
    destination varchar(200),
    vehicle_number varchar(50),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ux_bill_bill_id_upper ON bill (upper(bill_id));
CREATE TABLE bill_bag (
    id serial PRIMARY KEY,
    bill_id integer NOT NULL REFERENCES bill(id),
    bag_id integer NOT NULL UNIQUE REFERENCES bag(id),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_bill_bag_bill_id ON bill_bag (bill_id);
"""

STATION_DDL = r"""
CREATE TABLE station_bag_types (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    pattern text NOT NULL,
    lookalike text NOT NULL,
    capacity integer NOT NULL CHECK (capacity > 0),
    nominal_kg double precision NOT NULL,
    kg_per_child double precision NOT NULL DEFAULT 1.0,
    example text NOT NULL DEFAULT ''
);
INSERT INTO station_bag_types (name, pattern, lookalike, capacity, nominal_kg, kg_per_child, example)
VALUES ('M444', 'M444-\d{5}', 'M444', 15, 15.0, 1.0, 'M444-12345'),
       ('SB', 'SB\d{5}', 'SB\d', 30, 30.0, 1.0, 'SB12345');

CREATE TABLE station_stations (
    station_id text PRIMARY KEY,
    area text NOT NULL,
    role_name text NOT NULL UNIQUE,
    scope text NOT NULL DEFAULT 'area' CHECK (scope IN ('area', 'all')),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_contact timestamptz,
    backlog integer,
    oldest_pending_s double precision,
    app_version text,
    protocol_version integer,
    clock_skew_s double precision,
    high_seq bigint NOT NULL DEFAULT 0,
    event_count bigint NOT NULL DEFAULT 0,
    rolling_hash text NOT NULL DEFAULT ''
);

CREATE TABLE station_events (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    station_id text NOT NULL,  -- only station_record() writes it, after station_session()
    seq bigint NOT NULL,
    type text NOT NULL,
    operator text NOT NULL,
    device_time text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    parent_code text,
    child_code text,
    bill_code text,
    data jsonb NOT NULL DEFAULT '{}',
    app_version text NOT NULL DEFAULT '',
    protocol_version integer NOT NULL,
    result text NOT NULL CHECK (result IN ('applied', 'duplicate', 'rejected')),
    reason text,
    message text,
    UNIQUE (station_id, seq)
);
-- who linked a child, for rejection messages and the dispatcher undo rule
CREATE INDEX station_events_linked_child ON station_events (child_code, id)
    WHERE type = 'child_linked' AND result = 'applied';
CREATE INDEX station_events_closed_bill ON station_events (bill_code, id)
    WHERE type = 'bill_closed' AND result = 'applied';

CREATE TABLE station_bill_notes (
    bill_id integer PRIMARY KEY REFERENCES bill(id),
    closed_reason text
);

-- The change feed. Rows are written by statement-level triggers; `xid` is the writing
-- transaction, so readers can tell rows of still-running transactions apart (see feed.py).
CREATE TABLE station_feed (
    id bigserial NOT NULL,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tbl text NOT NULL,
    key bigint NOT NULL,
    old jsonb,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (xid, id)  -- the readers' order; one index per feed row is all it costs
);

"""

# The change feed's trigger function (c0002 replaces it with static per-table ones).
CAPTURE_DDL = r"""
CREATE FUNCTION station_feed_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    feed_table text := TG_ARGV[0];
    key_col text := TG_ARGV[1];
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE format('INSERT INTO station_feed (tbl, key) SELECT %L, %I FROM new_rows',
                       feed_table, key_col);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE format('INSERT INTO station_feed (tbl, key) '
                       'SELECT %L, k FROM (SELECT %I AS k FROM new_rows '
                       'UNION SELECT %I FROM old_rows) keys',
                       feed_table, key_col, key_col);
    ELSE
        -- password hashes never go into the feed (stations may read it)
        EXECUTE format('INSERT INTO station_feed (tbl, key, old) '
                       'SELECT %L, %I, to_jsonb(o) - ''password_hash'' FROM old_rows o',
                       feed_table, key_col);
    END IF;
    RETURN NULL;
END
$fn$;
"""

# (table, name in the feed, key column): link rows are keyed by child, bill lines by bag.
FEED_TABLES = (
    ('"user"', "user", "id"),
    ("bag", "bag", "id"),
    ("link", "link", "child_bag_id"),
    ("bill", "bill", "id"),
    ("bill_bag", "bill_bag", "bag_id"),
    ("station_bag_types", "bag_type", "id"),
    ("station_bill_notes", "bill", "bill_id"),
)


def _trigger_ddl() -> str:
    parts = []
    for table, name, key in FEED_TABLES:
        short = table.strip('"')
        for op_name, ref in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
        ):
            parts.append(
                f"CREATE TRIGGER station_feed_{short}_{op_name.lower()} AFTER {op_name} ON {table} "
                f"REFERENCING {ref} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION station_feed_capture('{name}', '{key}');"
            )
    return "\n".join(parts)


# Functions stations call: identity checks and the event log, so station roles need no rights
# on station_stations / station_events themselves.
FUNCTIONS_DDL = r"""
CREATE FUNCTION station_session(p_station text) RETURNS station_stations
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    me text;
    r station_stations;
BEGIN
    SELECT station_id INTO me FROM station_stations WHERE role_name = session_user;
    IF me IS NOT NULL AND me <> p_station THEN
        RAISE EXCEPTION 'station_mismatch %', me USING ERRCODE = 'TT001';
    END IF;
    SELECT * INTO r FROM station_stations WHERE station_id = p_station FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'station_unknown %', p_station USING ERRCODE = 'TT002';
    END IF;
    IF r.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'station_revoked %', p_station USING ERRCODE = 'TT002';
    END IF;
    RETURN r;
END
$fn$;

CREATE FUNCTION station_stored_results(p_station text, p_ids text[], p_seqs bigint[])
RETURNS TABLE (event_id text, station_id text, seq bigint, result text, reason text, message text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $fn$
BEGIN
    PERFORM station_session(p_station);
    RETURN QUERY
        SELECT e.event_id, e.station_id, e.seq, e.result, e.reason, e.message
        FROM station_events e WHERE e.event_id = ANY(p_ids)
        UNION
        SELECT e.event_id, e.station_id, e.seq, e.result, e.reason, e.message
        FROM station_events e
        WHERE e.station_id = p_station
          AND e.seq BETWEEN (SELECT min(s) FROM unnest(p_seqs) s)
                        AND (SELECT max(s) FROM unnest(p_seqs) s)
          AND e.seq = ANY(p_seqs);
END
$fn$;

CREATE FUNCTION station_record(p_station text, p_info jsonb)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
BEGIN
    PERFORM station_session(p_station);
    UPDATE station_stations SET
        last_contact = now(),
        high_seq = (p_info->>'high_seq')::bigint,
        event_count = (p_info->>'event_count')::bigint,
        rolling_hash = p_info->>'rolling_hash',
        backlog = (p_info->>'backlog')::integer,
        oldest_pending_s = (p_info->>'oldest_pending_s')::double precision,
        app_version = p_info->>'app_version',
        protocol_version = (p_info->>'protocol_version')::integer,
        clock_skew_s = coalesce((p_info->>'clock_skew_s')::double precision, clock_skew_s)
    WHERE station_id = p_station;
END
$fn$;

-- Stations COPY their event log rows in; this check (once per statement) refuses rows under
-- another station's id, and any row from a revoked station.
CREATE FUNCTION station_events_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    me text;
BEGIN
    SELECT station_id INTO me FROM station_stations
        WHERE role_name = session_user AND revoked_at IS NULL;
    IF me IS NULL THEN
        IF EXISTS (SELECT 1 FROM station_stations WHERE role_name = session_user) THEN
            RAISE EXCEPTION 'station_revoked' USING ERRCODE = 'TT002';
        END IF;
        RETURN NULL;  -- the admin / service role
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows WHERE station_id <> me) THEN
        RAISE EXCEPTION 'station_mismatch %', me USING ERRCODE = 'TT001';
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER station_events_own AFTER INSERT ON station_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION station_events_check();

CREATE FUNCTION station_event_ids(p_station text)
RETURNS TABLE (seq bigint, event_id text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $fn$
BEGIN
    PERFORM station_session(p_station);
    RETURN QUERY SELECT e.seq, e.event_id FROM station_events e
        WHERE e.station_id = p_station ORDER BY e.seq;
END
$fn$;

CREATE FUNCTION station_link_origins(p_children text[])
RETURNS TABLE (child_code text, station_id text, operator text, device_time text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $fn$
    SELECT DISTINCT ON (e.child_code) e.child_code, e.station_id, e.operator, e.device_time
    FROM station_events e
    WHERE e.type = 'child_linked' AND e.result = 'applied' AND e.child_code = ANY(p_children)
    ORDER BY e.child_code, e.id DESC
$fn$;

CREATE FUNCTION station_whoami() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $fn$
    SELECT station_id FROM station_stations WHERE role_name = session_user
$fn$;

-- Operators a station may hold locally: its area's, plus billers and admins (all for 'all').
CREATE FUNCTION station_operators(p_station text, p_ids integer[])
RETURNS TABLE (id integer, username text, password_hash text, role text, dispatch_area text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $fn$
DECLARE
    st station_stations;
BEGIN
    st := station_session(p_station);
    RETURN QUERY
        SELECT u.id, u.username::text, u.password_hash::text, u.role::text, u.dispatch_area::text
        FROM "user" u
        WHERE (p_ids IS NULL OR u.id = ANY(p_ids))
          AND (st.scope = 'all' OR u.dispatch_area = st.area
               OR lower(u.role) IN ('biller', 'admin'))
        ORDER BY u.id;
END
$fn$;
"""

FUNCTION_NAMES = (
    "station_whoami()",
    "station_session(text)",
    "station_stored_results(text, text[], bigint[])",
    "station_record(text, jsonb)",
    "station_event_ids(text)",
    "station_link_origins(text[])",
    "station_operators(text, integer[])",
)


def _run(sql: str) -> None:
    # the DBAPI cursor without parameters, so '%' in the SQL needs no escaping
    cur = op.get_bind().connection.cursor()
    cur.execute(sql)
    cur.close()


def upgrade() -> None:
    conn = op.get_bind()
    has_web = conn.exec_driver_sql("SELECT to_regclass('public.bag') IS NOT NULL").scalar()
    if not has_web:
        _run(WEB_DDL)
    _run(STATION_DDL)
    _run(CAPTURE_DDL)
    _run(_trigger_ddl())
    _run(FUNCTIONS_DDL)
    for fn in FUNCTION_NAMES:
        _run(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")


def downgrade() -> None:
    conn = op.get_bind()
    for fn in FUNCTION_NAMES:
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {fn}")
    for table, _name, _key in FEED_TABLES:
        short = table.strip('"')
        for op_name in ("insert", "update", "delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS station_feed_{short}_{op_name} ON {table}")
    conn.exec_driver_sql(
        "DROP TABLE IF EXISTS station_feed, station_bill_notes, station_events, "
        "station_stations, station_bag_types CASCADE; DROP FUNCTION IF EXISTS station_feed_capture()"
    )
