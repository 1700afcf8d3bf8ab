"""Run every benchmark (quick size, or --full) and write bench/results/latest.json."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

# Each entry is a module under bench/ that prints one JSON object on its last line.
BENCHES = ["scan_path", "scan_to_screen", "startup", "reports", "decode", "ingest", "fleet",
           "bootstrap"]


def main(argv: list[str]) -> int:
    full = "--full" in argv
    results = {}
    failed = []
    root = Path(__file__).resolve().parent
    for name in BENCHES:
        if not (root / f"{name}.py").exists():
            continue
        cmd = [sys.executable, "-m", f"bench.{name}"] + (["--full"] if full else [])
        print(f"== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root.parent)
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            failed.append(name)
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            continue
        result = json.loads(lines[-1])
        result["wall_s"] = round(time.perf_counter() - t0, 2)
        results[name] = result
        print(json.dumps(result), flush=True)
    out = root / "results" / ("full.json" if full else "latest.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
