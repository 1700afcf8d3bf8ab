"""Power cut while scanning (bench/soak.py `power_cut`, short size): a real `tracetrack-station
scan --file -` process fed scanner reads at 5 scans/s, with a real `sync` process beside it
talking through the real TCP proxy to the real sync service, is killed with SIGKILL at random
moments. After every restart each acknowledged scan (its result line was printed) is in the store
exactly once under the sequence number it was given, `PRAGMA integrity_check` is ok; afterwards
the sync resumes and the centre holds every event once. The full size (200 kills) is
`python -m bench.soak --full --only power-cut`."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak import power_cut
from tests.sync.proxy import TcpProxy
from tests.sync.stationkit import central_rows, upstream_of

pytestmark = pytest.mark.central

KILLS = 5


class _SharedCentre:
    """What bench.soak.power_cut needs of a centre, over the test session's PostgreSQL."""

    def __init__(self, central_db: Any, proxy: TcpProxy) -> None:
        self.db = central_db
        self.proxy = proxy
        self.proxy_url = f"http://127.0.0.1:{proxy.port}"

    def register(self, station_id: str) -> str:
        return str(self.db.add_station(station_id).token)

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return central_rows(self.db.url, sql, *args)

    def invariant_violations(self) -> list[str]:
        import sqlalchemy as sa

        from central.invariants import check_invariants

        eng = sa.create_engine(self.db.url.replace("postgresql://", "postgresql+psycopg2://", 1),
                               poolclass=sa.pool.NullPool)
        try:
            with eng.connect() as conn:
                return list(check_invariants(conn))
        finally:
            eng.dispose()


@pytest.mark.slow
def test_power_cuts_while_scanning_lose_and_double_nothing(central_db, tmp_path) -> None:
    service = central_db.service()
    with TcpProxy(upstream_of(service.url)) as proxy:
        centre = _SharedCentre(central_db, proxy)
        out = power_cut(centre, tmp_path, kills=KILLS, seed=11)  # type: ignore[arg-type]
    assert out["failures"] == [], out["failures"]
    assert out["kills"] == KILLS
    # scans were acknowledged between the kills, and every one of them is at the centre now
    assert out["acknowledged"] >= KILLS
    assert out["final_sync"]["exit"] == 0 and out["final_sync"]["pending"] == 0, out["final_sync"]
    assert out["final_sync"]["converged"] is True
    assert out["events_at_centre"] == out["store_events"] >= out["acknowledged"]
    assert (out["lost"], out["duplicated"], out["hash_mismatches"],
            out["invariant_violations"]) == (0, 0, 0, 0), out
