"""startup: process start to the first painted main window on a big local store, and the RSS
then; compared in the same run with an empty Qt window (the floor any PySide6 app pays)."""

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
    args = ap.parse_args(argv)
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
        station: list[tuple[float, float]] = []
        empty: list[tuple[float, float]] = []
        for _ in range(args.runs):  # interleaved: both see the same machine load
            station.append(_run(station_cmd, env))
            empty.append(_run(empty_cmd, env))

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
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
