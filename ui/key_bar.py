"""The key bar at the bottom of every screen: who is logged in, the global keys that person may
use (the current screen's highlighted), and the window's notices (a key that was refused, a
scan on a screen that takes none)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from station.service import Operator
from ui.keys import GLOBAL_KEYS, GlobalKey
from ui.styles import notice_style
from ui.widgets import FlowLayout


class KeyBar(QWidget):
    """One row (two when the window is narrow) of key buttons after the operator's name."""

    key_clicked = Signal(str)  # the GlobalKey.key of a clicked button

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("key_bar")
        self.setStyleSheet(
            "QWidget#key_bar { background: #dde3ea; border-top: 1px solid #b8c0ca; }"
            "QPushButton[keybar='true'] { font-size: 15px; padding: 3px 7px; min-height: 0px;"
            " border: 1px solid #9aa3ad; background: #f7f8fa; }"
            "QPushButton[keybar='true'][current='true'] { background: #1f5fbf; color: white;"
            " border-color: #1f5fbf; font-weight: bold; }"
        )
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 4, 8, 4)
        outer.setSpacing(4)
        self.notice = QLabel("", self)
        self.notice.setObjectName("key_bar_notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        outer.addWidget(self.notice)
        # Who, then the keys: one line on a wide screen, two on a narrow one (never cut off).
        self.flow = FlowLayout(spacing=6)
        outer.addLayout(self.flow)
        self.who_label = QLabel("Nobody is logged in", self)
        self.who_label.setObjectName("key_bar_who")
        self.who_label.setStyleSheet("font-size: 16px; font-weight: bold; color: #1a1a1a; "
                                     "padding: 3px 8px 3px 0;")
        self.flow.addWidget(self.who_label)
        self.buttons: dict[str, QPushButton] = {}
        for k in GLOBAL_KEYS:
            b = QPushButton(f"{k.key} {k.label}", self)
            b.setProperty("keybar", True)
            b.setProperty("current", False)
            # The keys themselves are the keyboard's way to these: Tab never stops here.
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip(f"{k.label} ({k.key}), on every screen")
            b.clicked.connect(lambda _=False, key=k.key: self.key_clicked.emit(key))
            self.flow.addWidget(b)
            self.buttons[k.key] = b
        self.notice_kind = ""
        self.set_operator(None, "", "")

    def set_operator(self, operator: Operator | None, station_id: str, area: str) -> None:
        if operator is None:
            self.who_label.setText(f"Station {station_id} · nobody is logged in")
        else:
            self.who_label.setText(f"{operator.username} ({operator.role}) · station "
                                   f"{station_id} · area {area}")
        role = operator.role if operator is not None else None
        for k in GLOBAL_KEYS:
            self.buttons[k.key].setVisible(self.shows(k, role))
        self.flow.invalidate()

    @staticmethod
    def shows(key: GlobalKey, role: str | None) -> bool:
        """Only the keys this person may use (F3, F4 for billers and admins, F9 for admins)."""
        return key.allowed(role)

    def set_current(self, screen: str) -> None:
        for k in GLOBAL_KEYS:
            b = self.buttons[k.key]
            current = k.screen == screen
            if b.property("current") != current:
                b.setProperty("current", current)
                b.style().unpolish(b)
                b.style().polish(b)

    def show_notice(self, kind: str, text: str) -> None:
        self.notice_kind = kind
        self.notice.setStyleSheet(notice_style(kind))
        self.notice.setText(text)
        self.notice.show()

    def clear_notice(self) -> None:
        self.notice_kind = ""
        self.notice.clear()
        self.notice.hide()

    def visible_keys(self) -> list[str]:
        return [k for k, b in self.buttons.items() if not b.isHidden()]
