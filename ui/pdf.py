"""PDF and print output: the one-page bill sheet, and paginated tables (bills list, summary).

Painting works on any QPagedPaintDevice (QPdfWriter for files, QPrinter for printing) so the
printed sheet and the saved PDF are the same drawing.
"""

from __future__ import annotations

import errno
import math
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPagedPaintDevice,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

from station import vocabulary as vocab
from station.reports import BillDetail, ParentLine

RESOLUTION = 150  # dpi of the PDF's coordinate system; text stays vector either way


def _font(size: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(size)
    f.setBold(bold)
    return f


def _setup(device: QPagedPaintDevice, landscape: bool = False) -> None:
    orientation = QPageLayout.Orientation.Landscape if landscape else QPageLayout.Orientation.Portrait
    device.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), orientation,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))


def _page_rect(device: QPagedPaintDevice) -> QRectF:
    r = device.pageLayout().paintRectPixels(device.logicalDpiX())
    return QRectF(0, 0, r.width(), r.height())


def _new_writer(path: Path, title: str, landscape: bool = False) -> QPdfWriter:
    # QPdfWriter only warns when it cannot open its file: check first, and say it plainly.
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "No such folder", str(path.parent))
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(errno.EACCES, "This folder is not writable", str(path.parent))
    writer = QPdfWriter(str(path))
    writer.setResolution(RESOLUTION)
    writer.setTitle(title)
    writer.setCreator("TraceTrack Station")
    _setup(writer, landscape)
    return writer


def _finish(tmp: Path, path: Path, ended: bool) -> None:
    """Put the written file in place, only when it is a whole PDF. QPdfWriter and QPainter only
    warn when they cannot write (a full disk): then the file is empty or cut short, is taken
    away, and the error says so; a good file already at `path` stays."""
    try:
        with open(tmp, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 1024))
            whole = ended and size > 0 and b"%%EOF" in f.read()
    except OSError:
        whole = False
    if not whole:
        tmp.unlink(missing_ok=True)
        raise OSError(errno.ENOSPC, "The PDF could not be written whole (is the disk full?); "
                      "nothing was saved", str(path))
    tmp.replace(path)


def _draw_text(p: QPainter, x: float, y: float, text: str, font: QFont,
               color: QColor | None = None) -> float:
    """Draw one line with its top at y; return the y below it."""
    p.setFont(font)
    p.setPen(color or QColor("black"))
    fm = QFontMetricsF(font, p.device())
    p.drawText(QRectF(x, y, 100000, fm.height()), int(Qt.AlignmentFlag.AlignLeft), text)
    return y + fm.height()


def _draw_wrapped(p: QPainter, x: float, y: float, width: float, text: str, font: QFont,
                  max_lines: int = 12) -> float:
    """Draw text wrapped within `width` (at spaces; its own line breaks kept),
    at most `max_lines` lines (cut with an ellipsis); return the y below it."""
    p.setFont(font)
    p.setPen(QColor("black"))
    fm = QFontMetricsF(font, p.device())
    flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
    most = fm.lineSpacing() * max_lines + 1
    # wrapped at spaces; a "word" too long for any line is broken where it must be
    text = re.sub(r"\S{60}(?=\S)", lambda m: m.group(0) + " ", text)

    def height(t: str) -> float:
        return fm.boundingRect(QRectF(0, 0, width, 1e6), flags, t).height()

    if height(text) > most:
        lo, hi = 0, len(text)  # the longest head that fits with the ellipsis
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if height(text[:mid].rstrip() + " …") <= most:
                lo = mid
            else:
                hi = mid - 1
        text = text[:lo].rstrip() + " …"
    h = height(text)
    p.drawText(QRectF(x, y, width, h), flags, text)
    return y + h


BAR_COLOURS = {"done": "#1e7b34", "attention": "#e0a000", "open": "#1f5fbf"}
SIGNATURES = ("Loaded by", "Checked by", "Driver")


def paint_bill_sheet(p: QPainter, page: QRectF, detail: BillDetail, station_id: str) -> None:
    """Header, state, figures with the shortfall, who closed it, the table of parents and
    signature lines, on one page whatever the bill size."""
    row = detail.row
    state, short = row.state, row.shortfall
    x0, y = page.left(), page.top()
    w = page.width()
    dev = p.device()
    small = _font(9)
    y = _draw_text(p, x0, y, f"Bill {row.bill_id}", _font(20, True))
    printed = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    state_colour = QColor("#8a5a00") if vocab.bill_tone(state, short) == "attention" else None
    y = _draw_text(p, x0, y, f"Status: {state.value}", _font(14, True), state_colour)
    y = _draw_text(p, x0, y, f"Station {station_id}    Printed {printed}", _font(10))
    info = [
        ("Description", row.description), ("Destination", row.destination),
        ("Vehicle", row.vehicle),
        ("Created", f"{row.created_local} by {row.created_by or 'unknown'}"),
    ]
    closed = detail.closed_event
    if state.is_closed:
        who = (f"{closed.time_local} by {closed.operator} at station {closed.station}"
               if closed is not None else "(closed at another station or at the centre)")
        info.append(("Closed", who))
    if state is vocab.BillState.CLOSED_SHORT:
        info.append(("Closed short, reason", detail.closed_reason or row.closed_reason
                     or "(none recorded)"))
    for label, value in info:
        if value:  # wrapped (a description may be long, or several lines), never over the next
            y = _draw_wrapped(p, x0, y, w, f"{label}: {value}", _font(10))
    y += 8

    # Progress figures, the shortfall beside them, and a bar coloured by the state.
    y = _draw_text(p, x0, y, f"Parents {row.linked} / {row.target} ({row.percent:.0f} %)    "
                   f"Children {row.children:,}", _font(12, True))
    y = _draw_text(p, x0, y, f"Actual {row.actual_kg:,.1f} kg    Expected {row.expected_kg:,.1f} kg"
                   f"    Shortfall {row.shortfall_kg:,.1f} kg", _font(11, True))
    if short.any and state is not vocab.BillState.NEW:
        y = _draw_text(p, x0, y, f"Short: {short.text()}", _font(11, True), QColor("#8a5a00"))
    bar_h = QFontMetricsF(small, dev).height() * 1.2
    p.setPen(QPen(QColor("black"), 1))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRect(QRectF(x0, y + 4, w, bar_h))
    frac = min(row.linked / row.target, 1.0) if row.target else 0.0
    p.fillRect(QRectF(x0 + 1, y + 5, (w - 2) * frac, bar_h - 2),
               QColor(BAR_COLOURS[vocab.bill_tone(state, short)]))
    y += bar_h + 16

    # Table of parents: shrink the font, then split into side-by-side blocks, to fit one page.
    headers = ("#", "Parent", "Type", "Children", "Status")
    def status(pl: ParentLine) -> str:
        if pl.child_count < pl.capacity:
            return f"{pl.state} ({pl.capacity - pl.child_count} missing)"
        return pl.state

    cells = [
        (str(i + 1), pl.code, pl.bag_type, f"{pl.child_count}/{pl.capacity}", status(pl))
        for i, pl in enumerate(detail.parents)
    ]
    amber = [pl.incomplete for pl in detail.parents]  # incomplete or not known here
    sign_font = _font(10)
    hint_font = _font(7)
    sign_h = (QFontMetricsF(sign_font, dev).height() + QFontMetricsF(hint_font, dev).height()) * 2
    footer_h = QFontMetricsF(small, dev).height() * 2 + sign_h
    avail_h = page.bottom() - y - footer_h
    chosen = None
    for size in (10.0, 9.0, 8.0, 7.0, 6.0, 5.0, 4.5):
        font = _font(size)
        fm = QFontMetricsF(font, dev)
        row_h = fm.height() * 1.25
        per_block = max(int(avail_h // row_h) - 1, 1)
        widths = [max(fm.horizontalAdvance(t) for t in [h, *(c[i] for c in cells)]) + fm.height()
                  for i, h in enumerate(headers)]
        block_w = sum(widths) + fm.height()
        blocks = max(math.ceil(len(cells) / per_block), 1)
        chosen = (font, row_h, per_block, widths, block_w, blocks)
        if blocks * block_w <= w:
            break
    assert chosen is not None
    font, row_h, per_block, widths, block_w, blocks = chosen
    bold = QFont(font)
    bold.setBold(True)
    for b in range(blocks):
        bx = x0 + b * block_w
        by = y
        p.setFont(bold)
        p.setPen(QColor("black"))
        cx = bx
        for h, cw in zip(headers, widths, strict=True):
            p.drawText(QRectF(cx, by, cw, row_h), int(Qt.AlignmentFlag.AlignVCenter), h)
            cx += cw
        p.drawLine(bx, by + row_h, bx + block_w - 4, by + row_h)  # type: ignore[call-overload]  # PySide6 takes floats here; the stubs list ints only
        by += row_h
        p.setFont(font)
        for i, c in enumerate(cells[b * per_block:(b + 1) * per_block]):
            if amber[b * per_block + i]:  # amber, as on screen
                p.fillRect(QRectF(bx, by, block_w - 4, row_h), QColor("#ffe8a3"))
            elif i % 2:
                p.fillRect(QRectF(bx, by, block_w - 4, row_h), QColor("#f2f2f2"))
            cx = bx
            for text, cw in zip(c, widths, strict=True):
                p.drawText(QRectF(cx, by, cw, row_h), int(Qt.AlignmentFlag.AlignVCenter), text)
                cx += cw
            by += row_h
    if not cells:  # under the table's header row
        _draw_text(p, x0, y + row_h * 1.25, "No parent bags on this bill yet.", _font(10))
    # Signature lines: name, signature and date for each person who handles the load.
    sy = page.bottom() - footer_h + QFontMetricsF(small, dev).height() * 0.5
    col_w = w / len(SIGNATURES)
    p.setPen(QPen(QColor("black"), 1))
    for i, label in enumerate(SIGNATURES):
        sx = x0 + i * col_w
        line_y = sy + sign_h * 0.5
        p.drawLine(sx, line_y, sx + col_w - 24, line_y)  # type: ignore[call-overload]  # PySide6 takes floats here; the stubs list ints only
        ty = _draw_text(p, sx, line_y + 2, label, sign_font)
        _draw_text(p, sx, ty, "name, signature, date", hint_font, QColor("#555555"))
    _draw_text(p, x0, page.bottom() - QFontMetricsF(small, dev).height() * 1.2,
               f"{vocab.count(len(cells), 'parent bag')} listed · TraceTrack Station", small,
               QColor("#555555"))


def write_bill_sheet(path: Path, detail: BillDetail, station_id: str) -> None:
    """Save the one-page bill sheet as a PDF."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    writer = _new_writer(tmp, f"Bill {detail.row.bill_id}")
    p = QPainter(writer)
    try:
        paint_bill_sheet(p, _page_rect(writer), detail, station_id)
    finally:
        ended = p.end()
    del writer
    _finish(tmp, path, ended)


def print_bill_sheet(printer: QPagedPaintDevice, detail: BillDetail, station_id: str) -> None:
    """Paint the bill sheet on a printer the operator chose (QPrinter from a print dialog)."""
    p = QPainter(printer)
    try:
        paint_bill_sheet(p, _page_rect(printer), detail, station_id)
    finally:
        p.end()


def write_table(path: Path, title: str, lines: Sequence[str], headers: Sequence[str],
                rows: Sequence[Sequence[object]], *, landscape: bool = True) -> int:
    """A titled table over as many pages as it needs (header repeated); returns the page count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    writer = _new_writer(tmp, title, landscape)
    p = QPainter(writer)
    pages = 1
    try:
        page = _page_rect(writer)
        dev = p.device()
        font = _font(8)
        bold = QFont(font)
        bold.setBold(True)
        fm = QFontMetricsF(font, dev)
        row_h = fm.height() * 1.3
        text_rows = [[str(v) for v in r] for r in rows]
        widths = [fm.horizontalAdvance(h) + fm.height() for h in headers]
        for r in text_rows[:5000]:  # enough to size the columns; the rest follow the same shape
            for i, t in enumerate(r):
                widths[i] = max(widths[i], fm.horizontalAdvance(t) + fm.height())
        scale = min(1.0, page.width() / sum(widths))
        widths = [cw * scale for cw in widths]
        numeric = [all(_is_number(r[i]) for r in text_rows[:200]) and bool(text_rows)
                   for i in range(len(headers))]

        def header(y: float, first: bool) -> float:
            if first:
                y = _draw_text(p, page.left(), y, title, _font(14, True))
                for line in lines:
                    y = _draw_text(p, page.left(), y, line, _font(9))
                y += 6
            p.setFont(bold)
            p.setPen(QColor("black"))
            cx = page.left()
            for i, (h, cw) in enumerate(zip(headers, widths, strict=True)):
                align = Qt.AlignmentFlag.AlignRight if numeric[i] else Qt.AlignmentFlag.AlignLeft
                p.drawText(QRectF(cx, y, cw - 4, row_h), int(align | Qt.AlignmentFlag.AlignVCenter), h)
                cx += cw
            p.drawLine(page.left(), y + row_h, page.right(), y + row_h)  # type: ignore[call-overload]  # PySide6 takes floats here; the stubs list ints only
            p.setFont(font)
            return y + row_h

        y = header(page.top(), True)
        bottom = page.bottom() - row_h * 1.5
        for n, r in enumerate(text_rows):
            if y + row_h > bottom:
                _draw_text(p, page.left(), page.bottom() - row_h, f"page {pages}", _font(7))
                writer.newPage()
                pages += 1
                y = header(page.top(), False)
            if n % 2:
                p.fillRect(QRectF(page.left(), y, page.width(), row_h), QColor("#f2f2f2"))
            p.setPen(QColor("black"))
            cx = page.left()
            for i, (t, cw) in enumerate(zip(r, widths, strict=True)):
                align = Qt.AlignmentFlag.AlignRight if numeric[i] else Qt.AlignmentFlag.AlignLeft
                p.drawText(QRectF(cx, y, cw - 4, row_h), int(align | Qt.AlignmentFlag.AlignVCenter), t)
                cx += cw
            y += row_h
        _draw_text(p, page.left(), page.bottom() - row_h, f"page {pages}", _font(7))
    finally:
        ended = p.end()
    del writer
    _finish(tmp, path, ended)
    return pages


_NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?$")


def _is_number(text: str) -> bool:
    return bool(_NUMBER.match(text))


def pdf_page_count(path: Path) -> int:
    """Pages of a PDF written here (counts page objects; enough for our own uncompressed trees)."""
    data = Path(path).read_bytes()
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))
