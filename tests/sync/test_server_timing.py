"""A push reply says where the centre spent the batch's time (Server-Timing), so a slow
acknowledgement can be told apart from a slow link; the station's transport reads it."""

from __future__ import annotations

import pytest

from sync.transport import server_timing
from tests.sync.conftest import Events, batch

pytestmark = pytest.mark.central

PARTS = ("receive", "thread", "identify", "check", "order", "admission", "apply", "total")


def test_a_push_reply_times_the_centres_parts(central_db) -> None:
    access = central_db.add_station("ST1")
    ev = Events("ST1")
    transport = access.transport()
    transport.timing_log = []
    try:
        transport.push(batch("ST1", [ev.parent("SB00001"), ev.link("SB00001", "C00001")]))
        transport.push(batch("ST1", [ev.link("SB00001", "C00002")]))
    finally:
        transport.close()
    assert len(transport.timing_log) == 2
    for entry, events in zip(transport.timing_log, (2, 1), strict=True):
        t = {k: v for k, v in entry.items() if not k.startswith("station_")}
        assert tuple(t) == PARTS
        assert all(v >= 0 for v in t.values())
        # the parts happen one after the other within the total (rounded to 0.1 ms each)
        assert sum(v for k, v in t.items() if k != "total") <= t["total"] + 0.5
        assert t["apply"] > 0
        # the station's own parts beside them: the exchange holds the centre's whole share
        assert entry["station_events"] == events
        assert entry["station_encode"] >= 0 and entry["station_cpu_wait"] >= 0
        assert entry["station_exchange"] + 0.5 >= t["total"]
    assert transport.last_server_timing == {
        k: v for k, v in transport.timing_log[-1].items() if not k.startswith("station_")}


def test_a_server_timing_header_is_read_leniently() -> None:
    assert server_timing("identify;dur=1.5, apply;desc=\"x\";dur=20") == {
        "identify": 1.5, "apply": 20.0}
    # what cannot be read is left out, never an error
    assert server_timing("") == {}
    assert server_timing("a;dur=x, ;dur=3, b, c;dur=2") == {"c": 2.0}
