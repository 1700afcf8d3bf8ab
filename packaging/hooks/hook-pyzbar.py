"""pyzbar opens the zbar library with ctypes when it is imported, which PyInstaller cannot see:
bundle the library (Windows: the DLLs inside the pyzbar wheel; Linux and macOS: the system's
libzbar found at build time, picked up at run time by rthooks/pyi_rth_tracetrack.py)."""

import ctypes.util
import os
import subprocess
import sys

from PyInstaller.utils.hooks import collect_dynamic_libs, logger


def _linux_zbar() -> str | None:
    explicit = os.environ.get("TRACETRACK_ZBAR_LIBRARY")
    if explicit:
        return explicit
    try:
        out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        return None
    for line in out.splitlines():
        name, _, path = line.strip().partition(" => ")
        # The first entry is the machine's own architecture (ldconfig lists it before i386).
        if name.startswith("libzbar.so.0 ") and os.path.exists(path.strip()):
            return path.strip()
    return None


binaries = []
if sys.platform == "win32":
    binaries = collect_dynamic_libs("pyzbar")
else:
    lib = _linux_zbar() if sys.platform.startswith("linux") else ctypes.util.find_library("zbar")
    if lib and os.path.exists(lib):
        # Under its soname, at the top of the bundle: the run-time hook looks for it there.
        binaries = [(lib, ".")]
        if os.path.basename(lib) != "libzbar.so.0" and sys.platform.startswith("linux"):
            logger.warning("zbar library %s is not named libzbar.so.0", lib)
    else:
        logger.warning("The zbar library was not found on this build machine (apt-get install "
                       "libzbar0): the frozen station will say 'zbar unavailable' in doctor.")
