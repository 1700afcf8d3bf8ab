"""Check a one-folder Linux build: every shared library that a binary of the bundle needs is
found, in the bundle or on this system, exactly as the frozen program finds it (the bootloader
puts `_internal` on LD_LIBRARY_PATH). Lists what comes from the system, with the Debian package
that ships it, and the newest glibc symbol version the bundle uses (for the .deb's Depends).

    python packaging/check_bundle.py dist/tracetrack-station [--json]

Exit status 1 when a library is not found (each one is named, with the file that needs it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ELF_MAGIC = b"\x7fELF"
# Provided by the dynamic loader itself, never a file to find.
LOADER_NAMES = ("linux-vdso.so", "linux-gate.so", "ld-linux")


@dataclass
class BundleReport:
    bundle: Path
    binaries: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)  # library -> files needing it
    # libraries that a file of the bundle needs directly and the system provides:
    system: dict[str, str] = field(default_factory=dict)  # resolved path -> first file needing it
    packages: dict[str, str] = field(default_factory=dict)  # resolved path -> Debian package
    glibc: tuple[int, ...] = (0,)

    @property
    def glibc_version(self) -> str:
        return ".".join(str(p) for p in self.glibc)

    def to_json(self) -> dict[str, object]:
        return {"bundle": str(self.bundle), "binaries": self.binaries, "missing": self.missing,
                "system_libraries": {p: self.packages.get(p) for p in sorted(self.system)},
                "packages": sorted(set(self.packages.values())), "glibc": self.glibc_version}


def elf_files(bundle: Path) -> list[Path]:
    found = []
    for path in sorted(bundle.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as fh:
            if fh.read(4) == ELF_MAGIC:
                found.append(path)
    return found


def _batches(paths: list[Path], size: int = 64) -> list[list[Path]]:
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def _per_file(output: str, paths: list[Path]) -> dict[Path, list[str]]:
    """Split the output of `ldd A B …` / `objdump -p A B …` into each file's lines."""
    by_name = {str(p): p for p in paths}
    sections: dict[Path, list[str]] = {p: [] for p in paths}
    current: Path | None = None
    for line in output.splitlines():
        head = line.split(":", 1)[0]
        if head in by_name and not line.startswith((" ", "\t")):
            current = by_name[head]
        elif current is not None:
            sections[current].append(line.strip())
    return sections


def _ldd(paths: list[Path], env: dict[str, str]) -> dict[Path, dict[str, str | None]]:
    """Each file's libraries as the loader resolves them: name -> path (None: not found)."""
    result: dict[Path, dict[str, str | None]] = {}
    for batch in _batches(paths):
        proc = subprocess.run(["ldd", *map(str, batch)], capture_output=True, text=True, env=env)
        for path, lines in _per_file(proc.stdout, batch).items():
            deps: dict[str, str | None] = {}
            for line in lines:
                if "=>" not in line:
                    continue  # the loader itself, or "statically linked"
                name, _, rest = line.partition("=>")
                rest = rest.strip()
                if rest.startswith("not found"):
                    deps[name.strip()] = None
                elif rest.startswith("/"):
                    deps[name.strip()] = rest.split(" (")[0]
            result[path] = deps
    return result


def _needed(paths: list[Path]) -> dict[Path, tuple[set[str], set[tuple[int, ...]]]]:
    """Each file's own NEEDED libraries and the glibc symbol versions it asks for."""
    result = {}
    for batch in _batches(paths):
        proc = subprocess.run(["objdump", "-p", *map(str, batch)], capture_output=True,
                              text=True)
        for path, lines in _per_file(proc.stdout, batch).items():
            needed = {ln.split()[1] for ln in lines if ln.startswith("NEEDED ")}
            versions = {tuple(int(x) for x in m.split("."))
                        for ln in lines for m in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", ln)}
            result[path] = (needed, versions)
    return result


def debian_packages(paths: list[str]) -> dict[str, str]:
    """The package that ships each library file (usr-merged systems list either spelling)."""
    spellings: dict[str, str] = {}
    for path in paths:
        for p in (path, os.path.realpath(path)):
            for q in (p, p[len("/usr"):] if p.startswith("/usr/lib/") else "/usr" + p):
                spellings.setdefault(q, path)
    proc = subprocess.run(["dpkg", "-S", *spellings], capture_output=True, text=True)
    owners: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        pkgs, _, file = line.partition(": ")
        original = spellings.get(file.strip())
        if original and original not in owners:
            owners[original] = pkgs.split(",")[0].split(":")[0].strip()
    return owners


def check(bundle: Path) -> BundleReport:
    bundle = bundle.resolve()
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = str(bundle / "_internal")  # as the bootloader sets it
    report = BundleReport(bundle)
    files = elf_files(bundle)
    report.binaries = len(files)
    resolved = _ldd(files, env)
    needed = _needed(files)
    glibc: set[tuple[int, ...]] = set()
    for path in files:
        rel = str(path.relative_to(bundle))
        own, versions = needed[path]
        glibc |= versions
        for name, where in resolved[path].items():
            if name.startswith(LOADER_NAMES):
                continue
            if where is None:
                report.missing.setdefault(name, []).append(rel)
            elif name in own and not os.path.realpath(where).startswith(str(bundle) + os.sep):
                report.system.setdefault(where, rel)  # needed directly, found on the system
    report.glibc = max(glibc) if glibc else (0,)
    report.packages = debian_packages(sorted(report.system))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = check(args.bundle)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"{report.binaries} binaries in {report.bundle}; glibc {report.glibc_version}")
        for lib, pkg in sorted(report.packages.items(), key=lambda kv: kv[1]):
            print(f"  from the system: {lib} ({pkg})")
        for lib in sorted(set(report.system) - set(report.packages)):
            print(f"  from the system: {lib} (no Debian package owns it)")
    for name, needers in sorted(report.missing.items()):
        print(f"MISSING {name}, needed by {', '.join(needers[:5])}"
              + (f" and {len(needers) - 5} more" if len(needers) > 5 else ""), file=sys.stderr)
    return 1 if report.missing else 0


if __name__ == "__main__":
    sys.exit(main())
