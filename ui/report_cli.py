"""`tracetrack-station report …`: the review reports from the command line (biller or admin).

Lives in ui/ because the PDF output paints with Qt (an offscreen QGuiApplication is made when
none exists); CSV and XLSX come from the Qt-free station.reports.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station import cli as station_cli
from station import reports
from station import vocabulary as vocab
from station.cli import CommandError, Output
from station.errors import StoreError

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication

FORMATS = ("csv", "xlsx", "pdf")


def ensure_gui_app() -> QCoreApplication:
    """PDF painting needs a QGuiApplication; make an offscreen one when the command has none."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance()
    if app is None:
        app = QGuiApplication(["tracetrack-station", "-platform", "offscreen"])
    return app


def _format(args: argparse.Namespace) -> str:
    fmt = args.format or Path(args.output).suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise CommandError(
            f"Unknown report format {fmt!r}: use --format csv, xlsx or pdf", station_cli.EXIT_USAGE
        )
    return fmt


def _dates(args: argparse.Namespace) -> tuple[Any, Any]:
    try:
        d0 = reports.parse_day(args.date_from, "--from date") if args.date_from else reports.today()
        d1 = reports.parse_day(args.date_to, "--to date") if args.date_to else d0
        reports.day_bounds(d0, d1)
    except reports.ReportError as exc:
        raise CommandError(exc.message, station_cli.EXIT_USAGE) from exc
    return d0, d1


def cmd_report(args: argparse.Namespace, out: Output) -> int:
    fmt = _format(args)
    output = Path(args.output)
    if not output.parent.exists():
        raise CommandError(f"Cannot write {output}: the folder {output.parent} does not exist",
                           station_cli.EXIT_USAGE)
    d0, d1 = _dates(args) if args.report != "bill" else (None, None)
    try:
        reports.state_of_filter(getattr(args, "status", None) or "")
    except reports.ReportError as exc:
        raise CommandError(exc.message, station_cli.EXIT_USAGE) from exc
    service = station_cli.logged_in_service(args)
    try:
        op = service.operator
        assert op is not None
        try:
            reports.require_reviewer(op.username, op.role)
        except reports.ReportError as exc:
            raise CommandError(exc.message, station_cli.EXIT_LOGIN) from exc
        station_id = service.station_id
        with reports.reading(service.store) as conn:
            if args.report == "bill":
                detail = reports.bill_detail(conn, args.bill_id)
                if detail is None:
                    raise CommandError(f"No bill {args.bill_id!r} at station {station_id}",
                                       station_cli.EXIT_USAGE)
                rows, summ = [], None
            else:
                assert d0 is not None and d1 is not None  # a list or a summary has its dates
                flt = reports.BillFilter(d0, d1, getattr(args, "status", None) or "",
                                         getattr(args, "text", None) or "")
                try:
                    rows = reports.list_bills(conn, flt)
                except reports.ReportError as exc:
                    raise CommandError(exc.message, station_cli.EXIT_USAGE) from exc
                summ = reports.summarise(rows, d0, d1) if args.report == "summary" else None
                detail = None
    except StoreError as exc:
        raise CommandError(exc.message, station_cli.EXIT_STORE) from exc
    finally:
        service.close()
        service.store.close()

    pages = None
    try:
        pages = _write(args.report, fmt, output, rows, summ, detail, station_id, d0, d1)
    except OSError as exc:
        raise CommandError(f"Cannot write {output}: {exc.strerror or exc}",
                           station_cli.EXIT_USAGE) from exc
    what = {"bills": vocab.count(len(rows), "bill"), "summary": "summary",
            "bill": f"bill {detail.row.bill_id}" if detail else "bill"}[args.report]
    span = f" {d0} to {d1}" if d0 else ""
    obj: dict[str, Any] = {"report": args.report, "format": fmt, "output": str(output),
                           "bills": len(rows) if args.report == "bills" else None}
    if summ is not None:
        o = summ.overall
        obj["overall"] = {"bills": o.bills, "open": o.open, "closed": o.closed,
                          "closed_short": o.closed_short, "children": o.children,
                          "shortfall_kg": round(o.shortfall_kg, 3)}
    if pages is not None:
        obj["pages"] = pages
    out.emit(obj, f"Wrote {what}{span} to {output} ({fmt})")
    return station_cli.EXIT_OK


def _write(kind: str, fmt: str, output: Path, rows: list[reports.BillRow],
           summ: reports.Summary | None, detail: reports.BillDetail | None, station_id: str,
           d0: date | None, d1: date | None) -> int | None:
    if fmt == "csv":
        if kind == "bills":
            reports.write_bills_csv(output, rows)
        elif kind == "summary":
            assert summ is not None
            reports.write_summary_csv(output, summ)
        else:
            assert detail is not None
            reports.write_parents_csv(output, detail)
        return None
    if fmt == "xlsx":
        if kind == "bills":
            assert d0 is not None and d1 is not None  # a bills list has its dates
            reports.write_xlsx(output, rows, reports.summarise(rows, d0, d1))
        elif kind == "summary":
            reports.write_xlsx(output, None, summ)
        else:
            reports.write_xlsx(output, None, None, detail)
        return None
    ensure_gui_app()
    from ui import pdf

    if kind == "bill":
        assert detail is not None
        pdf.write_bill_sheet(output, detail, station_id)
        return 1
    if kind == "summary":
        assert summ is not None
        return pdf.write_table(
            output, f"Bills summary {d0} to {d1}", [f"Station {station_id}"],
            reports.SUMMARY_HEADERS,
            [reports.summary_values(s) for s in reports.summary_rows(summ)], landscape=False,
        )
    assert d0 is not None and d1 is not None  # a bills list has its dates
    return pdf.write_table(
        output, f"Bills {d0} to {d1}",
        [f"Station {station_id} · {summary_line(reports.summarise(rows, d0, d1).overall)}"],
        reports.PDF_BILL_HEADERS, [reports.pdf_bill_values(r) for r in rows],
    )


def summary_line(s: reports.SummaryRow) -> str:
    """'3 bills: 1 open, 1 closed, 1 closed short (2 parent bags short); 40 parents, ...'"""
    short = f" ({vocab.count(s.parents_short, 'parent bag')} short)" if s.parents_short else ""
    return (f"{vocab.count(s.bills, 'bill')}: {s.open:,} open, {s.closed:,} closed, "
            f"{s.closed_short:,} closed short{short}; {vocab.count(s.parents, 'parent bag')}, "
            f"{vocab.count(s.children, 'child', 'children')}, {s.actual_kg:,.1f} of "
            f"{s.expected_kg:,.1f} kg ({s.shortfall_kg:,.1f} kg short)")


def register(sub: Any) -> None:
    """Add `report` to the tracetrack-station commands (see ui/cli.py registrars)."""
    help_text = "bills list, summary or one bill sheet as CSV, XLSX or PDF (biller, admin)"
    p = sub.add_parser("report", help=help_text, description=help_text)
    station_cli.common_options(p, top=False)
    p.set_defaults(handler=cmd_report)
    rsub = p.add_subparsers(dest="report", required=True, metavar="REPORT")

    def common(r: argparse.ArgumentParser, dated: bool) -> None:
        station_cli.common_options(r, top=False)
        station_cli.operator_option(r)
        if dated:
            r.add_argument("--from", dest="date_from", metavar="DATE",
                           help="first day, YYYY-MM-DD (default: today)")
            r.add_argument("--to", dest="date_to", metavar="DATE",
                           help="last day, YYYY-MM-DD (default: the --from day)")
            r.add_argument("--status", metavar="STATE",
                           help="only bills in this state: " + ", ".join(vocab.cli_state_names()))
            r.add_argument("--text", help="only bills whose id, creator, description, "
                                          "destination or vehicle contain this")
        r.add_argument("--format", choices=FORMATS,
                       help="csv, xlsx or pdf (default: from the --output suffix)")
        r.add_argument("--output", required=True, metavar="FILE")

    common(rsub.add_parser("bills", help="the bills list of a date range"), True)
    common(rsub.add_parser("summary", help="bills per creator and overall for a date range"), True)
    b = rsub.add_parser("bill", help="one bill: its sheet (pdf) or its parents (csv, xlsx)")
    b.add_argument("bill_id")
    common(b, False)
