"""Central PostgreSQL tables: the web system's core tables (its names) and the station_* tables.

The DDL itself lives in the Alembic revisions under migrations/ (frozen SQL); these Table objects
mirror it for queries and are checked against the migrated database by the tests.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# -- the web system's tables (names and columns as the web system has them) ---------------------

user = Table(
    "user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("email", String(120)),
    Column("password_hash", String(256)),
    Column("role", String(20), nullable=False),
    Column("dispatch_area", String(50)),
    Column("verified", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

bag = Table(
    "bag",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("qr_id", String(255), nullable=False, unique=True),
    Column("type", String(10), nullable=False),  # parent | child
    Column("name", String(100)),  # parents: the bag type name (SB, M444)
    Column("child_count", Integer, nullable=False),
    Column("user_id", Integer),  # no FK (see the migration)
    Column("dispatch_area", String(50)),
    Column("status", String(20), nullable=False),
    Column("weight_kg", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

link = Table(
    "link",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_bag_id", Integer, ForeignKey("bag.id"), nullable=False),
    Column("child_bag_id", Integer, ForeignKey("bag.id"), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

scan = Table(
    "scan",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("parent_bag_id", Integer),  # an append-only log: no FKs (see the migration)
    Column("child_bag_id", Integer),
    Column("user_id", Integer),
)

bill = Table(
    "bill",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bill_id", String(50), nullable=False, unique=True),
    Column("description", Text),
    Column("parent_bag_count", Integer, nullable=False),  # the target
    Column("linked_parent_count", Integer, nullable=False),
    Column("total_child_bags", Integer, nullable=False),
    Column("total_weight_kg", Float, nullable=False),
    Column("expected_weight_kg", Float, nullable=False),
    Column("status", String(20), nullable=False),  # new | processing | completed
    Column("created_by_id", Integer, ForeignKey("user.id")),
    Column("destination", String(200)),
    Column("vehicle_number", String(50)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

bill_bag = Table(
    "bill_bag",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bill_id", Integer, ForeignKey("bill.id"), nullable=False),
    Column("bag_id", Integer, ForeignKey("bag.id"), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

WEB_TABLES = ("user", "bag", "link", "scan", "bill", "bill_bag")

# -- what the station adds ----------------------------------------------------------------------

station_bag_types = Table(
    "station_bag_types",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("pattern", Text, nullable=False),
    Column("lookalike", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("nominal_kg", Float, nullable=False),
    Column("kg_per_child", Float, nullable=False),
    Column("example", Text, nullable=False),
)

station_stations = Table(
    "station_stations",
    metadata,
    Column("station_id", Text, primary_key=True),
    Column("area", Text, nullable=False),
    Column("role_name", Text, unique=True),  # c0001-c0002 station login roles (retired in c0003)
    Column("scope", Text, nullable=False),  # area | all (supervisor station)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("last_contact", DateTime(timezone=True)),
    Column("backlog", Integer),
    Column("oldest_pending_s", Float),
    Column("app_version", Text),
    Column("protocol_version", Integer),
    Column("clock_skew_s", Float),
    Column("high_seq", BigInteger, nullable=False),
    Column("event_count", BigInteger, nullable=False),
    Column("rolling_hash", Text, nullable=False),
    Column("token_hash", Text, unique=True),  # SHA-256 of the station's token (never the token)
    Column("token_issued_at", DateTime(timezone=True)),
)

station_events = Table(
    "station_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("station_id", Text, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("device_time", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("parent_code", Text),
    Column("child_code", Text),
    Column("bill_code", Text),
    Column("data", JSONB, nullable=False),
    Column("app_version", Text, nullable=False),
    Column("protocol_version", Integer, nullable=False),
    Column("result", Text, nullable=False),
    Column("reason", Text),
    Column("message", Text),
)

station_feed = Table(
    "station_feed",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("xid", Text, primary_key=True),  # xid8 in PostgreSQL; the key is (xid, id)
    Column("tbl", Text, nullable=False),
    Column("key", BigInteger, nullable=False),
    Column("old", JSONB),
    Column("at", DateTime(timezone=True), nullable=False),
)

station_bill_notes = Table(
    "station_bill_notes",
    metadata,
    Column("bill_id", Integer, ForeignKey("bill.id"), primary_key=True),
    Column("closed_reason", Text),
)

station_centre_settings = Table(
    "station_centre_settings",
    metadata,
    Column("key", Text, primary_key=True),  # e.g. public_url (printed by add-station)
    Column("value", Text, nullable=False),
)

STATION_TABLES = (
    "station_bag_types", "station_stations", "station_events", "station_feed",
    "station_bill_notes", "station_centre_settings",
)
