"""startup: process start to the first painted main window on a big local store, and the RSS
then; compared in the same run with an empty Qt window (the floor any PySide6 app pays) and,
with --frozen, with the packaged one-folder build (make package) on the same store."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.data import build_store

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "dist" / "tracetrack-station" / "tracetrack-station"

EMPTY_WINDOW = r"""
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.resize(1280, 800)
class P(QObject):
    done = False
    def eventFilter(self, o, e):
        if not self.done and e.type() == QEvent.Type.Paint:
            self.done = True
            rss = 0.0
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
            print(f"STARTUP wall={time.time():.4f} rss_mb={rss:.1f}", flush=True)
            QTimer.singleShot(0, app.quit)
        return False
p = P(); w.installEventFilter(p); w.show(); app.exec()
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("STARTUP"):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return float(fields["wall"]) - t0, float(fields["rss_mb"])
    raise RuntimeError(f"no STARTUP line (exit {proc.returncode}): {proc.stdout[-500:]} "
                       f"{proc.stderr[-1500:]}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="a store of 1 000 000 bags")
    ap.add_argument("--bags", type=int)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--frozen", nargs="?", type=Path, const=FROZEN, metavar="BINARY",
                    help=f"also start the frozen build (default {FROZEN.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    if args.frozen is not None and not args.frozen.is_file():
        ap.error(f"no frozen build at {args.frozen}: run `make package` first")
    n_bags = args.bags or (1_000_000 if args.full else 50_000)

    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["QT_LOGGING_RULES"] = "qt.qpa.*=false"
    env["TRACETRACK_STARTUP_PROBE"] = "1"
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        t0 = time.perf_counter()
        gen = build_store(Path(tmp) / "station", bags=n_bags, bills=n_bags // 1000)
        build_s = time.perf_counter() - t0
        station_cmd = [sys.executable, "-m", "ui.cli", "--basedir", str(gen.paths.data_dir)]
        empty_cmd = [sys.executable, "-c", EMPTY_WINDOW]
        frozen_cmd = ([str(args.frozen), "--basedir", str(gen.paths.data_dir)]
                      if args.frozen else None)
        station: list[tuple[float, float]] = []
        empty: list[tuple[float, float]] = []
        frozen: list[tuple[float, float]] = []
        for _ in range(args.runs):  # interleaved: all see the same machine load
            station.append(_run(station_cmd, env))
            empty.append(_run(empty_cmd, env))
            if frozen_cmd:
                frozen.append(_run(frozen_cmd, env))

    secs = [s for s, _ in station]
    empty_secs = [s for s, _ in empty]
    result = {
        "bench": "startup",
        "size": {"bags": gen.bags, "bills": gen.bills, "runs": args.runs},
        "metrics": {
            "seconds": round(statistics.median(secs), 3),
            "seconds_first_run": round(secs[0], 3),
            "seconds_max": round(max(secs), 3),
            "rss_mb": round(max(r for _, r in station), 1),
            "empty_window_seconds": round(statistics.median(empty_secs), 3),
            "empty_window_rss_mb": round(max(r for _, r in empty), 1),
            "build_s": round(build_s, 1),
        },
        "ratios": {
            "vs_empty_qt_window": round(statistics.median(secs) / statistics.median(empty_secs), 2),
            "vs_target_1_5_s": round(statistics.median(secs) / 1.5, 3),
        },
    }
    if frozen:
        fsecs = [s for s, _ in frozen]
        result["metrics"].update({
            "frozen_seconds": round(statistics.median(fsecs), 3),
            "frozen_seconds_first_run": round(fsecs[0], 3),
            "frozen_seconds_max": round(max(fsecs), 3),
            "frozen_rss_mb": round(max(r for _, r in frozen), 1),
        })
        result["ratios"]["frozen_vs_source"] = round(
            statistics.median(fsecs) / statistics.median(secs), 3)
        result["ratios"]["frozen_vs_target_1_2x_source"] = round(
            statistics.median(fsecs) / (1.2 * statistics.median(secs)), 3)
        result["sizes_mb"] = _package_sizes(args.frozen)
    print(json.dumps(result))
    return result


def _package_sizes(binary: Path) -> dict[str, float]:
    """The one-folder build on disk, and the .deb beside it in dist/ when there is one."""
    folder = binary.resolve().parent
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    sizes = {"one_folder": round(total / 1e6, 1)}
    for deb in sorted(folder.parent.glob("tracetrack-station_*.deb")):
        sizes["deb"] = round(deb.stat().st_size / 1e6, 1)
    return sizes


if __name__ == "__main__":
    main()
