"""Build the centre's own wheel, dist/tracetrack_central-<version>-py3-none-any.whl:

    python packaging/central/build_wheel.py [--out dist]

pyproject.toml and README.md of this folder are put beside copies of central/, station/ and
sync/ in build/central-wheel/, and pip builds the wheel there (dependencies: SQLAlchemy,
alembic, psycopg2-binary, starlette, uvicorn, platformdirs, pgserver; never PySide6 or OpenCV).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGES = ("central", "station", "sync")


def build(out: Path, work: Path) -> Path:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(HERE / name, work / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, work / package, ignore=ignore)
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("tracetrack_central-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(out), str(work)], check=True)
    built = sorted(set(out.glob("tracetrack_central-*.whl")) - before) or sorted(
        out.glob("tracetrack_central-*.whl"), key=lambda p: p.stat().st_mtime)[-1:]
    shutil.rmtree(work, ignore_errors=True)
    return built[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "central-wheel")
    args = ap.parse_args(argv)
    wheel = build(args.out.resolve(), args.work.resolve())
    print(f"{wheel} ({wheel.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
