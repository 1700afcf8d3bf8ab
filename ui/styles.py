"""The station's look in one place: colours, fonts and style sheets every screen shares.

Screens take their shared styles from here only (never from each other), so a colour means the
same outcome everywhere: green accepted, amber warning, red refused.
"""

from __future__ import annotations

from PySide6.QtGui import QColor

FOCUS = "#1f5fbf"

# Applied to the main window (and so to every screen and dialog in it). Every widget that takes
# the focus shows it with a thick blue frame: a person working by keyboard always sees where
# the next key goes.
STYLE = f"""
QPushButton {{ border: 1px solid #8a8f98; border-radius: 5px; padding: 5px 12px;
               background: #f6f7f9; color: #111; min-height: 22px; }}
QPushButton:hover {{ background: #e8edf5; }}
QPushButton:pressed {{ background: #d3dcea; }}
QPushButton:disabled {{ color: #8c8c8c; background: #efefef; border-color: #c8c8c8; }}
QPushButton:focus {{ border: 3px solid {FOCUS}; padding: 3px 10px; background: #e3ecfa; }}
QPushButton:default {{ font-weight: bold; }}
QLineEdit:focus, QComboBox:focus, QDateEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus,
QAbstractItemView:focus {{ border: 3px solid {FOCUS}; }}
QCheckBox:focus, QRadioButton:focus {{ background: #dbe7fb; border-radius: 4px; }}
QTabBar::tab:focus {{ background: #dbe7fb; border: 2px solid {FOCUS}; }}
QAbstractItemView {{ selection-background-color: #2f6fd6; selection-color: white; }}
"""

# (background, text) of a result by its outcome: the feedback banners and the key bar's notices.
COLOURS = {
    "accepted": ("#1b7f2a", "#ffffff"),
    "warning": ("#f2a900", "#1a1a1a"),
    "refused": ("#c62828", "#ffffff"),
    "info": ("#e3e8ef", "#1a1a1a"),
}

# A scan log row's tint by the outcome of its result.
ROW_TINT = {"accepted": "#dff3e2", "warning": "#fff1c7", "refused": "#fbd9d7"}

# A bill's progress bar by the bill's tone (station/vocabulary.py bill_tone): light enough for
# the black figures on it.
BAR_COLOURS = {"done": "#7cc484", "attention": "#f2c14e", "open": "#8fb3e8"}

# The frame around a code in the camera picture, by what became of its read.
CAMERA_COLOURS = {
    "seen": QColor(250, 250, 250),
    "pending": QColor(255, 215, 0),
    "accepted": QColor(0, 200, 60),
    "warning": QColor(255, 150, 0),
    "refused": QColor(230, 30, 30),
}

# Rows of the bill tables: a parent short of its capacity, a full one.
AMBER = QColor("#ffe8a3")
GREEN = QColor("#d6f5d6")

# Plain words in colour: an error under a field, a refusal, a success.
ERROR_TEXT = "#b00020"
REFUSED_TEXT = "#b3261e"
DONE_TEXT = "#1b7f2a"
INFO_TEXT = "#1b4f9c"

# Sizes in pixels: readable from 2 m where the station is used.
BANNER_PX = 30
SCREEN_TITLE = "font-size: 22px; font-weight: bold; color: #333;"
CAPTION = "font-size: 16px; color: #555;"
BUTTON = "font-size: 16px;"


def banner_style(kind: str) -> str:
    """The feedback banner of the packing and bill screens (`QLabel#banner`), by outcome."""
    bg, fg = COLOURS.get(kind, COLOURS["info"])
    return (f"QLabel#banner {{ background: {bg}; color: {fg}; font-size: {BANNER_PX}px; "
            "font-weight: bold; border-radius: 8px; padding: 10px; }")


def notice_style(kind: str) -> str:
    """A notice of the window in the key bar, by outcome."""
    bg, fg = COLOURS.get(kind, COLOURS["info"])
    return (f"background: {bg}; color: {fg}; font-size: 16px; "
            "font-weight: bold; padding: 3px 8px; border-radius: 4px;")


def bar_style(tone: str) -> str:
    """A bill's progress bar, by the bill's tone."""
    return ("QProgressBar { border: 1px solid #777; border-radius: 5px; background: #ffffff; "
            "text-align: center; font-size: 24px; font-weight: bold; color: #111; }"
            f"QProgressBar::chunk {{ background: {BAR_COLOURS.get(tone, BAR_COLOURS['open'])}; }}")


def error_label_style() -> str:
    """The line under a dialog's fields that says what is wrong."""
    return f"color:{ERROR_TEXT};font-weight:bold;"
