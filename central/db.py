"""Connecting to the central PostgreSQL database and bringing its schema up to date (Alembic)."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).with_name("migrations")
SCHEMA_VERSION = "c0006"  # the Alembic head; a test checks they agree
URL_ENV = "TRACETRACK_CENTRAL_URL"


class CentralConfigError(Exception):
    """No or unusable central database URL."""


def resolve_url(url: str | None) -> str:
    url = url or os.environ.get(URL_ENV, "")
    if not url:
        raise CentralConfigError(
            f"No central database given: pass --url postgresql://... or set {URL_ENV}"
        )
    return sqlalchemy_url(url)


def sqlalchemy_url(url: str) -> str:
    """postgresql:// URLs use psycopg2 (the one driver installed)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **kw: object) -> Engine:
    return sa.create_engine(sqlalchemy_url(url), **kw)  # type: ignore[arg-type]


def current_revision(conn: Connection) -> str | None:
    has = conn.exec_driver_sql(
        "SELECT to_regclass('public.station_alembic_version') IS NOT NULL"
    ).scalar()
    if not has:
        return None
    return conn.exec_driver_sql("SELECT version_num FROM station_alembic_version").scalar()


def has_web_tables(conn: Connection) -> bool:
    return bool(conn.exec_driver_sql("SELECT to_regclass('public.bag') IS NOT NULL").scalar())


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to the head; returns (revision before, revision after)."""
    with engine.connect() as conn:
        before = current_revision(conn)
        conn.rollback()
    if before == SCHEMA_VERSION:
        return before, before
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, SCHEMA_VERSION
