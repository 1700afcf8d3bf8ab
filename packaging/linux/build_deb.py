"""Build the station's .deb from the one-folder build (dist/tracetrack-station, made by
packaging/station.spec) with dpkg-deb:

    python packaging/linux/build_deb.py [--bundle dist/tracetrack-station] [--out dist]

What it installs: the one folder under /opt/tracetrack-station, the launcher
/usr/bin/tracetrack-station, a desktop entry and the icon in the hicolor sizes (the desktop's
own triggers refresh the menu and the icon cache: no maintainer scripts). Nothing is ever
written to the users' folders, so the stations' data stays there across upgrade and removal.

Depends: the system libraries the bundle leaves to the system (the desktop's X11/xcb, GL,
fonts, sound, D-Bus, CUPS). Before building, packaging/check_bundle.py lists what every binary
of the bundle needs from this machine; a library that is not found at all, or whose package is
not declared in DEPENDS below, stops the build with its name.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGING = HERE.parent
ROOT = PACKAGING.parent
sys.path.insert(0, str(PACKAGING))
sys.path.insert(0, str(ROOT))

from check_bundle import check  # noqa: E402

NAME = "tracetrack-station"
PREFIX = Path("opt") / NAME
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)

# What the bundle takes from the system: a plain Debian 12 / Ubuntu 22.04 desktop has all of it.
# Ubuntu 24.04 renamed some libraries (the 64-bit time_t move): "t64" alternatives.
# libc6's minimum version is added from the newest glibc symbol the bundle uses.
DEPENDS = [
    "libstdc++6", "libgcc-s1", "zlib1g", "libbz2-1.0", "liblzma5", "libzstd1", "libffi8",
    "libuuid1", "libbrotli1", "libssl3 | libssl3t64", "libglib2.0-0 | libglib2.0-0t64",
    "libdbus-1-3", "libsystemd0", "libgssapi-krb5-2",
    # Qt's xcb platform plugin (what Qt's own docs list for xcb), GL and fonts
    "libxcb1", "libxcb-cursor0", "libxcb-glx0", "libxcb-icccm4", "libxcb-image0",
    "libxcb-keysyms1", "libxcb-randr0", "libxcb-render0", "libxcb-render-util0",
    "libxcb-shape0", "libxcb-shm0", "libxcb-sync1", "libxcb-util1", "libxcb-xfixes0",
    "libxcb-xkb1", "libx11-6", "libx11-xcb1", "libxext6", "libxrandr2", "libxkbcommon0",
    "libxkbcommon-x11-0", "libgl1", "libegl1", "libdrm2", "libfontconfig1", "libfreetype6",
    # sounds (QtMultimedia), printing bill sheets (Qt's CUPS plugin)
    "libpulse0", "libcups2 | libcups2t64",
]
# A station reads labels that the system's fonts draw; a desktop has them, a minimal one may not.
RECOMMENDS = ["fonts-dejavu-core"]


def _base(pkg: str) -> str:
    pkg = pkg.split("(")[0].strip()
    return pkg[:-3] if pkg.endswith("t64") else pkg


def declared_packages() -> set[str]:
    return {_base(alt) for dep in DEPENDS for alt in dep.split("|")}


def depends_for(bundle: Path) -> tuple[str, list[str]]:
    """The Depends field, checked against what the bundle needs; problems in plain words."""
    report = check(bundle)
    problems = [f"{lib} is not found (needed by {', '.join(needers[:3])})"
                for lib, needers in sorted(report.missing.items())]
    declared = declared_packages()
    for lib, pkg in sorted(report.packages.items()):
        if pkg != "libc6" and _base(pkg) not in declared:
            problems.append(f"{lib} ({pkg}, needed by {report.system[lib]}) is not in DEPENDS")
    for lib in sorted(set(report.system) - set(report.packages)):
        problems.append(f"{lib} (needed by {report.system[lib]}) belongs to no Debian package")
    return ", ".join([f"libc6 (>= {report.glibc_version})", *DEPENDS]), problems


def _copy_tree(src: Path, dst: Path) -> None:
    try:  # same file system: hard links, no copying of 400 MB
        shutil.copytree(src, dst, symlinks=True, copy_function=os.link)
    except OSError:
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)


def _render_icons(out: Path) -> Path:
    icons = out / "icons"
    subprocess.run([sys.executable, str(PACKAGING / "icons" / "render_icons.py"), str(icons)],
                   check=True, stdout=subprocess.DEVNULL)
    return icons


def _installed_size_kib(root: Path) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and "DEBIAN" not in path.parts:
            total += path.stat().st_size
    return (total + 1023) // 1024


def stage(bundle: Path, work: Path, version: str, depends: str, arch: str) -> Path:
    root = work / "root"
    shutil.rmtree(work, ignore_errors=True)
    root.mkdir(parents=True)
    _copy_tree(bundle, root / PREFIX)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy(HERE / "tracetrack-station.sh", bin_dir / NAME)
    (bin_dir / NAME).chmod(0o755)
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy(HERE / f"{NAME}.desktop", apps / f"{NAME}.desktop")
    icons = _render_icons(work)
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        d = hicolor / f"{size}x{size}" / "apps"
        d.mkdir(parents=True)
        shutil.copy(icons / f"{NAME}-{size}.png", d / f"{NAME}.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copy(PACKAGING / "icons" / f"{NAME}.svg", hicolor / "scalable" / "apps" / f"{NAME}.svg")
    doc = root / "usr" / "share" / "doc" / NAME
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "TraceTrack Station\n\nThe program bundles Python, Qt (PySide6, LGPLv3), OpenCV "
        "(Apache 2.0), zxing-cpp (Apache 2.0), zbar (LGPLv2.1) and the Python packages listed in "
        f"/{PREFIX}/_internal (each with its licence in its *.dist-info folder where it ships "
        "one).\n")
    for d in [root, *root.rglob("*")]:
        if d.is_dir() and not d.is_symlink():
            d.chmod(0o755)
    debian = root / "DEBIAN"
    debian.mkdir()
    control = (
        f"Package: {NAME}\n"
        f"Version: {version}\n"
        f"Architecture: {arch}\n"
        "Maintainer: TraceTrack <tracetrack@localhost>\n"
        f"Installed-Size: {_installed_size_kib(root)}\n"
        f"Depends: {depends}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        "Section: misc\n"
        "Priority: optional\n"
        "Description: TraceTrack scanning station for seed warehouses\n"
        " Scan child bags into parent bags and parent bags onto bills with USB\n"
        " scanners or webcams, offline-first, synced to the central TraceTrack\n"
        " database. Self-contained: its own Python, Qt and decoders in\n"
        f" /{PREFIX}; the stations' data stays in each user's folders.\n"
    )
    (debian / "control").write_text(control)
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "dist" / NAME)
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "deb")
    # zstd -6: 144 MB in 18 s here, where xz -6 took over 15 minutes for about 10 % less.
    # Every dpkg that can install this package reads zstd (the bundle needs glibc 2.35, so
    # Debian 12 / Ubuntu 22.04 or newer, whose dpkg has zstd).
    ap.add_argument("--compression", default="zstd", choices=("zstd", "xz", "gzip", "none"))
    ap.add_argument("--level", default="6")
    ap.add_argument("--print-depends", action="store_true",
                    help="print the declared packages (first of each choice), one a line, and "
                         "exit: what a build machine must have (.ci/run installs them)")
    args = ap.parse_args(argv)
    if args.print_depends:
        print("\n".join(dep.split("|")[0].strip() for dep in DEPENDS))
        return 0
    bundle = args.bundle.resolve()
    if not (bundle / NAME).is_file():
        print(f"No one-folder build in {bundle}: run `make package` (or pyinstaller "
              "packaging/station.spec) first", file=sys.stderr)
        return 2
    version_file = bundle / "VERSION"
    version = version_file.read_text().strip() if version_file.exists() else "0"
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~-]*", version):
        print(f"Not a Debian version: {version!r}", file=sys.stderr)
        return 2
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    depends, problems = depends_for(bundle)
    if problems:
        print("The bundle needs libraries the package does not declare:\n"
              + "".join(f"  - {p}\n" for p in problems), file=sys.stderr)
        return 1
    root = stage(bundle, args.work.resolve(), version, depends, arch)
    args.out.mkdir(parents=True, exist_ok=True)
    deb = args.out.resolve() / f"{NAME}_{version}_{arch}.deb"
    t0 = time.perf_counter()
    subprocess.run(["dpkg-deb", "--root-owner-group", f"-Z{args.compression}", f"-z{args.level}",
                    "--build", str(root), str(deb)], check=True, stdout=subprocess.DEVNULL)
    size_mb = deb.stat().st_size / 1e6
    print(f"{deb} ({size_mb:.1f} MB, built in {time.perf_counter() - t0:.0f} s)")
    shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
