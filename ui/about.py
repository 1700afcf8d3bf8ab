"""About box (F1): the program's version, where this station keeps its store, the decoders it can
use, and what it runs on (so a support call can start from one screen)."""

from __future__ import annotations

import html
import platform
import sys

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLayout,
    QVBoxLayout,
    QWidget,
)

from station import APP_VERSION
from ui.host import ScreenHost

ABOUT_KEY = "F1"


def about_facts(window: ScreenHost) -> list[tuple[str, str]]:
    """The About box's lines, in order: (label, value)."""
    from station.camera.decoders import describe_backends

    paths = window.store.paths
    build = "installed build" if getattr(sys, "frozen", False) else "from source"
    return [
        ("Version", f"{APP_VERSION} ({build})"),
        ("Station", f"{window.settings.station_id} · area {window.settings.area}"),
        ("Store", str(paths.store)),
        ("Log", str(paths.log_file)),
        ("Decoders", describe_backends()),
        ("Runs on", f"Python {platform.python_version()}, Qt {qVersion()}, "
                    f"{platform.system()} {platform.release()}"),
    ]


class AboutDialog(QDialog):
    def __init__(self, window: ScreenHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about_dialog")
        self.setWindowTitle("About TraceTrack Station")
        self.facts = about_facts(window)
        layout = QVBoxLayout(self)
        title = QLabel(f"TraceTrack Station {APP_VERSION}")
        title.setStyleSheet("font-size: 24px; font-weight: bold;")
        layout.addWidget(title)
        rows = "".join(
            f"<tr><td style='padding: 3px 14px 3px 0'><b>{html.escape(k)}</b></td>"
            f"<td style='padding: 3px 0'>{html.escape(v)}</td></tr>"
            for k, v in self.facts
        )
        self.details = QLabel(f"<table>{rows}</table>")
        self.details.setObjectName("about_details")
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setWordWrap(True)
        self.details.setStyleSheet("font-size: 15px;")
        layout.addWidget(self.details)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        # Sized once rather than held to the layout's minimum: a top-level window that follows
        # its layout makes the offscreen platform warn (propagateSizeHints).
        layout.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.resize(max(640, layout.sizeHint().width()), layout.sizeHint().height())

    def plain_text(self) -> str:
        """What the box says, one `label: value` a line."""
        return "\n".join(f"{k}: {v}" for k, v in self.facts)
