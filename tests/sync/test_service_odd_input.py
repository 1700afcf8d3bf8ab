"""Odd input at the sync service: answered with a 4xx naming what was wrong, or with the
results of what could be applied, never a 500 (and never a 500 after a commit, which would
leave the station's queue stuck behind it), and nothing of another area said to a station."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.sync.conftest import (
    Events,
    _admin_engine,
    _drop_database,
    batch,
    push_as,
    with_database,
)

pytestmark = pytest.mark.central

CENTRAL = Path(sys.executable).with_name("tracetrack-central")


def _h(access) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {access.token}", "Content-Type": "application/json"}


def test_an_event_id_that_is_not_text_is_rejected_alone_and_the_answer_comes(central_db) -> None:
    """An event whose id is a lone surrogate (not valid text) beside a good one: the good one is
    applied, the odd one rejected, and the answer comes back, on the first try and on a resend
    (before: both a 500 after the commit, for ever)."""
    access = central_db.add_station("P1")
    ev = Events("P1")
    good = ev.make("parent_scanned", parent="SB00001")
    bad = ev.make("child_linked", parent="SB00001", child="C0001")
    bad["event_id"] = "\ud800"
    body = json.dumps(batch("P1", [good, bad]).to_json()).encode()
    first = httpx.post(access.url + "/v1/push", content=body, headers=_h(access), timeout=30)
    again = httpx.post(access.url + "/v1/push", content=body, headers=_h(access), timeout=30)
    assert (first.status_code, again.status_code) == (200, 200), first.text
    results = first.json()["results"]
    assert [r["result"] for r in results] == ["applied", "rejected"]
    assert results[1]["event_id"] == "\ud800"
    status = httpx.get(access.url + "/v1/status", headers=_h(access), timeout=30).json()
    assert status["station_count"] == 1
    r = httpx.post(access.url + "/v1/pull", content=b'{"station_id": "\\ud800"}',
                   headers=_h(access), timeout=30)
    assert r.status_code == 409 and r.json()["error"] == "station_mismatch"


@pytest.mark.parametrize("cursor", ["f:abc:0", "f:1e3:0", "f:99999999999999999999999:0",
                                    "b:bill_bag:0:junk", "b:bag:0:-1"])
def test_a_pull_cursor_the_centre_never_gave_is_a_400(central_db, cursor: str) -> None:
    """Before: a database error (500) on the cursor's transaction id, at once or (a first
    download's cursor) on the first page of the feed it led to."""
    access = central_db.add_station("P1")
    r = httpx.post(access.url + "/v1/pull", json={"station_id": "P1", "cursor": cursor},
                   headers=_h(access), timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "bad_cursor", r.text


@pytest.mark.parametrize("path", ["/v1/push", "/v1/pull"])
def test_json_nested_too_deep_is_a_400(central_db, path: str) -> None:
    access = central_db.add_station("P1")
    r = httpx.post(access.url + path, content=b"[" * 100_000, headers=_h(access), timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "bad_json", r.text
    assert "nested too deep" in r.json()["message"]


def test_init_with_a_bad_public_url_changes_nothing(central_url) -> None:
    """`init --public-url ftp://...`: refused (exit 2, saying why) before anything is written
    (before: the tables and the demo users were made, then the refusal printed)."""
    name = f"tt_init_refused_{os.getpid()}"
    admin = _admin_engine(central_url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = with_database(central_url, name)
    try:
        r = subprocess.run([str(CENTRAL), "--url", url, "init", "--demo", "North",
                            "--public-url", "ftp://centre.example"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "public URL" in (r.stdout + r.stderr)
        eng = _admin_engine(url)
        try:
            with eng.connect() as conn:
                tables = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").scalar()
        finally:
            eng.dispose()
        assert tables == 0
    finally:
        _drop_database(admin, name)
        admin.dispose()


def test_the_feed_says_nothing_of_another_areas_links(central_db) -> None:
    """South links a South child into a South parent: a North station following the feed hears
    nothing of it (before: a "link gone" for the South child, naming it)."""
    north = central_db.add_station("N1", area="North")
    south = central_db.add_station("S1", area="South")

    def follow(cursor: str | None) -> tuple[str | None, list[dict]]:
        changes: list[dict] = []
        for _ in range(20):
            page = httpx.post(north.url + "/v1/pull", json={"station_id": "N1", "cursor": cursor},
                              headers=_h(north), timeout=30).json()
            changes += page["changes"]
            cursor = page["cursor"]
            if page["done"]:
                break
        return cursor, changes

    cursor, _ = follow(None)
    ev = Events("S1", operator="biller")
    reply = push_as(south, "S1", [ev.make("parent_scanned", parent="SB20001"),
                                  ev.make("child_linked", parent="SB20001", child="C2001")])
    assert [r.result for r in reply.results] == ["applied", "applied"]
    _, changes = follow(cursor)
    assert "C2001" not in json.dumps(changes)


def test_a_push_of_too_many_events_is_refused_before_it_takes_a_slot(central_db) -> None:
    """A push of 2 001 events (stations send at most 500): 413 naming the limit, nothing
    written; a push of 2 000 is taken (before: any number up to the 16 MiB body limit, 42 000
    events holding an admission slot for seconds)."""
    from central.app import MAX_PUSH_EVENTS

    access = central_db.add_station("P1")
    ev = Events("P1")
    events = [ev.parent(f"SB{i:05d}") for i in range(MAX_PUSH_EVENTS + 1)]
    body = json.dumps(batch("P1", events).to_json()).encode()
    r = httpx.post(access.url + "/v1/push", content=body, headers=_h(access), timeout=60)
    assert r.status_code == 413 and r.json()["error"] == "too_many_events", r.text
    assert str(MAX_PUSH_EVENTS) in r.json()["message"]
    status = httpx.get(access.url + "/v1/status", headers=_h(access), timeout=30).json()
    assert status["station_count"] == 0
    ok = push_as(access, "P1", events[:MAX_PUSH_EVENTS])
    assert len(ok.results) == MAX_PUSH_EVENTS
