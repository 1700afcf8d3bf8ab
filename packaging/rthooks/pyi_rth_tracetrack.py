"""Run-time hook of the frozen station: pyzbar asks ctypes.util.find_library("zbar"), which does
not look inside the bundle on Linux; point it at the bundled libzbar when there is one (without
one, the system's library is used, or doctor says zbar is unavailable)."""


def _point_pyzbar_at_the_bundled_zbar() -> None:
    import os
    import sys

    if not sys.platform.startswith("linux"):
        return
    bundled = os.path.join(sys._MEIPASS, "libzbar.so.0")  # noqa: SLF001 (PyInstaller's folder)
    if not os.path.exists(bundled):
        return
    import ctypes.util

    system_find_library = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        if name == "zbar":
            return bundled
        return system_find_library(name)

    ctypes.util.find_library = find_library


_point_pyzbar_at_the_bundled_zbar()
