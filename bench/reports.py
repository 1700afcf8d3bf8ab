"""reports: the bill summary for a date range and the bills list, from the local store, on a big
station (10 000 bills, 1 000 000 bags at full size); compared in the same run with computing
the same figures bill by bill through StationService.bill_progress."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.data import build_store
from station import reports
from station.service import StationService
from station.store.local import LocalStore


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="10 000 bills, 1 000 000 bags")
    ap.add_argument("--bags", type=int)
    ap.add_argument("--bills", type=int)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    n_bags = args.bags or (1_000_000 if args.full else 100_000)
    n_bills = args.bills or (10_000 if args.full else 1_000)

    with tempfile.TemporaryDirectory(prefix="reports-") as tmp:
        t0 = time.perf_counter()
        # The generator spaces scans ~1.9 s apart on average and spreads the bills over that
        # span: start that long ago so the newest bills are from today (default summary range).
        start = datetime.now(UTC) - timedelta(seconds=n_bags * 1.9)
        gen = build_store(Path(tmp) / "station", bags=n_bags, bills=n_bills, seed=args.seed,
                          start=start)
        build_s = time.perf_counter() - t0
        store = LocalStore.open(gen.paths)
        today = reports.today()
        with reports.reading(store) as conn:
            all_rows = reports.list_bills(conn)  # warm the page cache like a running station
            # The whole data set as one date range (the generator's last bills may be dated a
            # little after today).
            dates = [datetime.fromisoformat(r.created_at).astimezone().date() for r in all_rows]
            first, last = min(dates), max(max(dates), today)
            summ_all = reports.summary(conn, first, last)
            t_range = timed(lambda: reports.summary(conn, first, last), args.repeat)
            t_today = timed(lambda: reports.summary(conn), args.repeat)
            t_week = timed(lambda: reports.summary(conn, today - timedelta(days=6), today),
                           args.repeat)
            today_bills = reports.summary(conn).overall.bills
            week_bills = reports.summary(conn, today - timedelta(days=6), today).overall.bills
            t_list = timed(lambda: reports.list_bills(
                conn, reports.BillFilter(first, last)), max(args.repeat // 3, 3))
            t_text = timed(lambda: reports.list_bills(
                conn, reports.BillFilter(first, last, "", "B-0001")), max(args.repeat // 3, 3))
            t_detail = timed(lambda: reports.bill_detail(conn, all_rows[len(all_rows) // 2].bill_id),
                             args.repeat)

        # On the GUI thread: showing the 10 000 rows in the review table (model reset, column
        # fit, paint) and a header click (sort + paint), with the real model and view, offscreen.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication

        from ui.bill_models import BillsModel
        from ui.review import table

        app = QApplication.instance() or QApplication([])
        model = BillsModel()
        view = table(model, None)
        view.resize(1280, 600)
        view.show()
        app.processEvents()

        def show_rows() -> None:
            model.set_rows([])
            model.set_rows(all_rows)
            view.resizeColumnsToContents()
            app.processEvents()

        show_ms = statistics.median(timed(show_rows, 5))
        sort_ms = statistics.median(timed(
            lambda: (model.sort(6, Qt.SortOrder.DescendingOrder), app.processEvents()), 5))
        view.close()

        # The same overall figures, bill by bill through the service (what a naive report does).
        service = StationService(store)
        t_naive0 = time.perf_counter()
        naive_children = 0
        for r in all_rows:
            p = service.bill_progress(r.bill_id)
            assert p is not None
            naive_children += p.children
        naive_ms = (time.perf_counter() - t_naive0) * 1000
        service.close()
        store.close()
        assert naive_children == summ_all.overall.children, "summary disagrees with the service"

    ms = statistics.median(t_range)
    result = {
        "bench": "reports",
        "size": {"bags": gen.bags, "bills": gen.bills, "bill_lines": summ_all.overall.parents},
        "metrics": {
            "ms": round(ms, 2),
            "bills": summ_all.overall.bills,
            "summary_all_p50_ms": round(ms, 2),
            "summary_all_max_ms": round(max(t_range), 2),
            "summary_today_ms": round(statistics.median(t_today), 2),
            "summary_today_bills": today_bills,
            "summary_week_ms": round(statistics.median(t_week), 2),
            "summary_week_bills": week_bills,
            "list_all_ms": round(statistics.median(t_list), 2),
            "list_text_filter_ms": round(statistics.median(t_text), 2),
            "bill_detail_ms": round(statistics.median(t_detail), 2),
            "list_show_ms": round(show_ms, 2),
            "model_sort_ms": round(sort_ms, 2),
            "per_bill_service_ms": round(naive_ms, 1),
            "build_s": round(build_s, 1),
        },
        "ratios": {"vs_per_bill_service": round(naive_ms / ms, 1)},
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
