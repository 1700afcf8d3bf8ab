"""Tables of the local SQLite store: the event log, the local view, operators, settings, sync.

Schema changes go through a new Alembic revision in station/store/migrations/versions.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    text,
)

metadata = MetaData()

# The event log: gap-free station sequence, explicit codes, sync state per event.
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("station_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("device_time", Text, nullable=False),
    Column("parent_code", Text),
    Column("child_code", Text),
    Column("bill_id", Text),
    Column("data", Text, nullable=False, server_default="{}"),
    Column("app_version", Text, nullable=False),
    Column("protocol_version", Integer, nullable=False),
    Column("sync_state", Text, nullable=False, server_default="pending"),
    Column("result_reason", Text),
    Column("result_message", Text),
    Column("synced_at", Text),
)
Index("ix_events_sync_state_seq", events.c.sync_state, events.c.seq)
Index("ix_events_child", events.c.child_code)
Index("ix_events_parent", events.c.parent_code)
Index("ix_events_bill", events.c.bill_id)

bag_types = Table(
    "bag_types",
    metadata,
    Column("name", Text, primary_key=True),
    Column("pattern", Text, nullable=False),
    Column("lookalike", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("nominal_kg", Float, nullable=False),
    Column("kg_per_child", Float, nullable=False, server_default=text("1.0")),
    Column("example", Text, nullable=False, server_default=""),
)

# The local view: centre state plus this station's own pending events.
bags = Table(
    "bags",
    metadata,
    Column("code", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # parent | child
    Column("bag_type", Text),  # parents only
    Column("status", Text, nullable=False, server_default="pending"),
    Column("child_count", Integer, nullable=False, server_default=text("0")),
    Column("weight_kg", Float, nullable=False, server_default=text("0")),
    Column("area", Text),
    Column("label_text", Text),
    Column("created_by", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

# Parents only: a report reads a parent's type and count from the index alone (migration 0002).
Index("ix_bags_parent_figures", bags.c.code, bags.c.kind, bags.c.bag_type, bags.c.child_count,
      sqlite_where=text("kind = 'parent'"))

links = Table(
    "links",
    metadata,
    Column("child_code", Text, ForeignKey("bags.code"), primary_key=True),
    Column("parent_code", Text, ForeignKey("bags.code"), nullable=False),
    Column("linked_at", Text, nullable=False),
    Column("operator", Text),
    Column("station_id", Text),
    Column("event_seq", Integer),  # the local event that made it; NULL when it came from the centre
)
Index("ix_links_parent", links.c.parent_code, links.c.linked_at)
Index("ix_links_station_seq", links.c.station_id, links.c.event_seq)

bills = Table(
    "bills",
    metadata,
    Column("bill_id", Text, primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("destination", Text, nullable=False, server_default=""),
    Column("vehicle", Text, nullable=False, server_default=""),
    Column("target", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="new"),
    Column("created_by", Text),
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
    Column("closed_reason", Text),
)
Index("ix_bills_created_at", bills.c.created_at)
# Covering index of the bill summary (station/reports.py; migration 0002).
Index("ix_bills_created_summary", bills.c.created_at, bills.c.bill_id, bills.c.created_by,
      bills.c.status, bills.c.target)

bill_lines = Table(
    "bill_lines",
    metadata,
    Column("parent_code", Text, primary_key=True),  # a parent is on at most one bill
    Column("bill_id", Text, ForeignKey("bills.bill_id"), nullable=False),
    Column("added_at", Text, nullable=False),
    Column("operator", Text),
    Column("provisional", Integer, nullable=False, server_default=text("0")),
)
Index("ix_bill_lines_bill", bill_lines.c.bill_id)
Index("ix_bill_lines_bill_parent", bill_lines.c.bill_id, bill_lines.c.parent_code)  # reports

operators = Table(
    "operators",
    metadata,
    Column("username", Text, primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("area", Text),
    Column("failed_count", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", Text),
)

# Admin-set configuration (typed in station/settings.py) and run-time state (current parent).
settings = Table(
    "settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

station_state = Table(
    "station_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text),
)

# sync_state key: the station's next event number is above this value (a reinstalled station
# continues after the numbers the centre already holds for it; sync/align.py sets it)
SEQ_FLOOR_KEY = "seq_floor"

sync_state = Table(
    "sync_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text),
)

sync_issues = Table(
    "sync_issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_seq", Integer, ForeignKey("events.seq"), nullable=False, unique=True),
    Column("reason", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("acknowledged_by", Text),
    Column("acknowledged_at", Text),
)
