"""`tracetrack-station report …`: files written, read back and compared with the service; roles,
bad dates; the PDF path in a fresh process (it makes its own offscreen QGuiApplication)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from station import reports
from station import vocabulary as vocab
from station.paths import resolve
from station.service import StationService
from station.store.local import LocalStore
from tests.ui.bill_support import make_station, pack
from ui import cli as ui_cli
from ui import report_cli
from ui.pdf import pdf_page_count

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    base = tmp_path_factory.mktemp("report_cli")
    store = make_station(base)
    pack(store, {"M444-00001": 15, "SB00002": 7})
    svc = StationService(store)
    svc.login("biller", "demo")
    assert svc.create_bill("B-1", 2, destination="Jaipur").ok
    assert svc.add_parent_to_bill("B-1", "M444-00001").ok
    assert svc.add_parent_to_bill("B-1", "SB00002").ok
    svc.login("admin", "demo")
    assert svc.create_bill("B-2", 3).ok
    assert svc.close_bill("B-2", "cancelled order").ok
    svc.close()
    store.close()
    return base


def run(base, *args, capsys, json_out=True):
    """In-process run of the real entry point. Output's default stream is bound to the sys.stdout
    of import time, so point it at the captured one for this call."""
    from station.cli import Output

    saved = Output.__init__.__defaults__
    Output.__init__.__defaults__ = (sys.stdout,)
    try:
        return _run(base, *args, capsys=capsys, json_out=json_out)
    finally:
        Output.__init__.__defaults__ = saved


def _run(base, *args, capsys, json_out=True):
    argv = ["--basedir", str(base)] + (["--json"] if json_out else []) + list(args)
    code = ui_cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_is_registered():
    assert report_cli.register in ui_cli.registrars()


def test_bills_csv_xlsx_pdf_match_the_service(base, tmp_path, capsys, monkeypatch, qapp):
    monkeypatch.setenv("TRACETRACK_PASSWORD", "demo")
    today = reports.today().isoformat()
    for fmt in ("csv", "xlsx", "pdf"):
        code, out, err = run(base, "report", "bills", "--as", "biller", "--from", today, "--to",
                             today, "--format", fmt, "--output", str(tmp_path / f"b.{fmt}"),
                             capsys=capsys)
        assert code == 0, err
        obj = json.loads(out.splitlines()[-1])
        assert (obj["report"], obj["format"], obj["bills"]) == ("bills", fmt, 2)
    svc = StationService(LocalStore.open(resolve(base)))
    try:
        with (tmp_path / "b.csv").open(newline="", encoding="utf-8") as fh:
            got = {r["Bill"]: r for r in csv.DictReader(fh)}
        assert set(got) == {"B-1", "B-2"}
        for bill_id, g in got.items():
            p = svc.bill_progress(bill_id)
            assert (g["Status"], int(g["Parents linked"]), int(g["Target"]), int(g["Children"]),
                    float(g["Actual kg"]), float(g["Expected kg"])) == (
                vocab.bill_state(p.status, p.linked, p.target).value, p.linked, p.target,
                p.children, p.actual_kg, p.expected_kg)
        # Full but 23 kg short (SB00002 has 7 of 30); B-2 closed short with its reason.
        assert (got["B-1"]["Status"], got["B-1"]["Shortfall kg"]) == ("full", "23.0")
        assert (got["B-2"]["Status"], got["B-2"]["Parents short"],
                got["B-2"]["Closed short: reason"]) == ("closed short", "3", "cancelled order")
        wb = load_workbook(tmp_path / "b.xlsx", read_only=True)
        rows = {r[0]: r for r in wb["Bills"].iter_rows(min_row=2, values_only=True)}
        p = svc.bill_progress("B-1")
        assert rows["B-1"][4:9] == (p.linked, p.target, p.children, p.actual_kg, p.expected_kg)
        summary = list(wb["Summary"].iter_rows(values_only=True))
        assert summary[-1][:5] == (reports.OVERALL, 2, 1, 0, 1)
        wb.close()
        assert pdf_page_count(tmp_path / "b.pdf") == 1
    finally:
        svc.close()
        svc.store.close()


def test_summary_and_bill_sheet(base, tmp_path, capsys, monkeypatch, qapp):
    monkeypatch.setenv("TRACETRACK_PASSWORD", "demo")
    code, out, err = run(base, "report", "summary", "--as", "admin", "--output",
                         str(tmp_path / "s.csv"), capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["overall"] == {"bills": 2, "open": 1, "closed": 0, "closed_short": 1,
                                          "children": 22, "shortfall_kg": 23.0}
    with (tmp_path / "s.csv").open(newline="", encoding="utf-8") as fh:
        s = {r["Created by"]: r for r in csv.DictReader(fh)}
    assert (s["biller"]["Parents"], s["biller"]["Children"], s["biller"]["Expected kg"]) == (
        "2", "22", "45.0")
    assert (s["admin"]["Closed short"], s["admin"]["Parents short"]) == ("1", "3")

    code, out, err = run(base, "report", "bill", "b-1", "--as", "biller", "--output",
                         str(tmp_path / "b1.pdf"), capsys=capsys, json_out=False)
    assert code == 0, err
    assert out.strip() == f"Wrote bill B-1 to {tmp_path / 'b1.pdf'} (pdf)"
    assert pdf_page_count(tmp_path / "b1.pdf") == 1
    code, _, err = run(base, "report", "bill", "B-1", "--as", "biller", "--output",
                       str(tmp_path / "b1.csv"), capsys=capsys)
    assert code == 0, err
    lines = (tmp_path / "b1.csv").read_text(encoding="utf-8").splitlines()
    assert [ln.split(",")[0] for ln in lines[1:]] == ["M444-00001", "SB00002"]


def test_refusals_name_what_was_wrong(base, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRACETRACK_PASSWORD", "demo")
    out = str(tmp_path / "x.csv")
    code, _, err = run(base, "report", "bills", "--as", "dispatcher", "--output", out,
                       capsys=capsys, json_out=False)
    assert code == 3 and "dispatcher (dispatcher) may not review bills" in err
    code, _, err = run(base, "report", "bills", "--as", "biller", "--from", "10/03/2026",
                       "--output", out, capsys=capsys, json_out=False)
    assert code == 2 and "The --from date '10/03/2026' is not a date" in err
    code, _, err = run(base, "report", "bills", "--as", "biller", "--from", "2026-03-12",
                       "--to", "2026-03-10", "--output", out, capsys=capsys, json_out=False)
    assert code == 2 and "ends (2026-03-10) before it starts (2026-03-12)" in err
    code, _, err = run(base, "report", "bills", "--as", "biller", "--output",
                       str(tmp_path / "x.txt"), capsys=capsys, json_out=False)
    assert code == 2 and "Unknown report format 'txt'" in err
    code, _, err = run(base, "report", "bill", "NOPE-1", "--as", "biller", "--output", out,
                       capsys=capsys, json_out=False)
    assert code == 2 and "No bill 'NOPE-1' at station D1" in err
    code, _, err = run(base, "report", "bills", "--as", "biller", "--output",
                       str(tmp_path / "no" / "such" / "x.csv"), capsys=capsys, json_out=False)
    assert code == 2 and "the folder" in err and "does not exist" in err
    code, _, err = run(base, "report", "bills", "--as", "biller", "--status", "completed",
                       "--output", out, capsys=capsys, json_out=False)
    assert code == 2 and ("No bill state 'completed': use one of new, loading, full, closed, "
                          "closed short") in err
    assert not list(tmp_path.iterdir())  # nothing written by the refusals


def test_status_filter_uses_the_states_people_see(base, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRACETRACK_PASSWORD", "demo")
    today = reports.today().isoformat()
    for state, bills in (("closed-short", 1), ("full", 1), ("loading", 0)):
        code, out, err = run(base, "report", "bills", "--as", "biller", "--from", today,
                             "--status", state, "--output", str(tmp_path / f"{state}.csv"),
                             capsys=capsys)
        assert code == 0, err
        assert json.loads(out)["bills"] == bills, state
    code, out, _ = run(base, "report", "bills", "--as", "biller", "--from", today, "--status",
                       "full", "--output", str(tmp_path / "one.csv"), capsys=capsys,
                       json_out=False)
    assert out.strip() == f"Wrote 1 bill {today} to {today} to {tmp_path / 'one.csv'} (csv)"


def test_pdf_in_a_fresh_process(base, tmp_path):
    env = {**os.environ, "TRACETRACK_PASSWORD": "demo"}
    env.pop("QT_QPA_PLATFORM", None)  # the command makes its own offscreen application
    proc = subprocess.run(
        [sys.executable, "-m", "ui.cli", "--basedir", str(base), "report", "bills", "--as",
         "admin", "--format", "pdf", "--output", str(tmp_path / "r.pdf")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert pdf_page_count(tmp_path / "r.pdf") == 1


def test_an_export_on_a_full_disk_is_an_error_and_leaves_the_earlier_file(
        base, capsys, monkeypatch, qapp) -> None:  # noqa: ANN001
    """A bill sheet written again on a disk that has filled up since: the command says it could
    not write, exits 2, and the good sheet of before is still there, whole (before: "Wrote ...",
    exit 0, and a 0-byte file in its place). CSV and XLSX leave no part-file behind either."""
    from tests.sync.test_disk_full import fill, small_disk

    monkeypatch.setenv("TRACETRACK_PASSWORD", "demo")
    with small_disk("256k") as disk:
        sheet = disk / "B-1.pdf"
        code, _out, err = run(base, "report", "bill", "B-1", "--as", "biller", "--output",
                              str(sheet), capsys=capsys)
        assert code == 0, err
        good = sheet.read_bytes()
        assert good.rstrip().endswith(b"%%EOF")
        fill(disk)
        code, out, err = run(base, "report", "bill", "B-1", "--as", "biller", "--output",
                             str(sheet), capsys=capsys)
        assert code == 2, (out, err)
        assert "Cannot write" in (out + err) and "nothing was saved" in (out + err)
        assert sheet.read_bytes() == good
        for fmt in ("csv", "xlsx"):
            code, out, err = run(base, "report", "bills", "--as", "biller", "--output",
                                 str(disk / f"bills.{fmt}"), capsys=capsys)
            assert code == 2, (fmt, out, err)
        assert sorted(p.name for p in disk.iterdir()) == ["B-1.pdf", "filler"]


def test_exports_keep_text_that_looks_like_a_formula_as_text(tmp_path) -> None:
    """A description, destination or vehicle starting with =, +, - or @ (from a keyboard or the
    web system): text in the XLSX (not a formula), and guarded in the CSV, so opening the export
    shows what the store holds and runs nothing."""
    store = make_station(tmp_path / "st")
    svc = StationService(store)
    try:
        svc.login("biller", "demo")
        assert svc.create_bill("B-9", 2, '=HYPERLINK("http://x.example/a","open")', "@SUM(1,2)",
                               "+91 RJ14").ok
        with reports.reading(store) as conn:
            rows = reports.list_bills(conn, reports.BillFilter(reports.today(), reports.today()))
    finally:
        svc.close()
        store.close()
    reports.write_xlsx(tmp_path / "b.xlsx", rows)
    sheet = load_workbook(tmp_path / "b.xlsx")["Bills"]
    col = reports.BILL_HEADERS.index("Description") + 1
    cell = sheet.cell(2, col)
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x.example/a","open")'
    reports.write_bills_csv(tmp_path / "b.csv", rows)
    with (tmp_path / "b.csv").open(encoding="utf-8", newline="") as fh:
        row = list(csv.reader(fh))[1]
    for name, shown in (("Description", '\'=HYPERLINK("http://x.example/a","open")'),
                        ("Destination", "'@SUM(1,2)"), ("Vehicle", "'+91 RJ14")):
        assert row[reports.BILL_HEADERS.index(name)] == shown
