"""Render the station's icon (tracetrack-station.svg) to the PNG sizes of a Linux desktop and
to a Windows .ico: `python packaging/icons/render_icons.py OUT_DIR` (run by station.spec)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SVG = Path(__file__).with_name("tracetrack-station.svg")
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render(out_dir: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for size in PNG_SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        painter = QPainter(img)
        renderer.render(painter)
        painter.end()
        png = out_dir / f"tracetrack-station-{size}.png"
        if not img.save(str(png), "PNG"):
            raise SystemExit(f"cannot write {png}")
        written.append(png)
        if size == 256:
            ico = out_dir / "tracetrack-station.ico"
            if not img.save(str(ico), "ICO"):
                raise SystemExit(f"cannot write {ico} (Qt's ico image plugin is missing)")
            written.append(ico)
    return written


if __name__ == "__main__":
    for path in render(Path(sys.argv[1] if len(sys.argv) > 1 else "build/icons")):
        print(path)
