"""The printable A5 poster of a shop's QR code (市民扫码海报), drawn with ReportLab.

One page per shop: the title 随手拍 城市管理 / Report a city problem, the shop's name and
address, its QR code drawn as vector squares from segno's module matrix (sharp at any
print size, no image files), and short instructions in Chinese and English. Chinese is set
in the built-in CID font ``STSong-Light`` (no system fonts needed). A batch is one PDF
with a page per shop; the same shops give the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno

from chengyun.domain.working_time import as_china_time

PDF = "application/pdf"
FONT = "STSong-Light"
LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
TITLE_ZH = "随手拍 城市管理"
TITLE_EN = "Report a city problem"
#: QR error correction: M (15 %) survives a scuffed or partly covered poster.
ERROR_LEVEL = "m"
#: The quiet zone around the code, in modules (the QR standard asks for 4).
QUIET_ZONE = 4
INSTRUCTIONS = (
    ("用手机相机或微信扫描二维码", "Scan the code with your phone's camera or WeChat"),
    ("拍照，说明是什么问题，提交", "Take a photo, say what the problem is, send it"),
    ("保存回执链接，随时查看处置进度", "Keep the receipt link to follow what is done"),
)


@dataclass(frozen=True)
class Poster:
    """What one poster shows: the shop, the URL in its code and until when it works."""

    shop_code: str
    shop_name: str
    address: str
    url: str
    expires_at: datetime
    sub_district: str = ""


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR code's modules for ``url`` (dark = ``True``), without the quiet zone: the
    same symbol segno makes, as the poster draws it."""
    code = segno.make(url, error=ERROR_LEVEL, micro=False, boost_error=False)
    return [[bool(module) for module in row] for row in code.matrix]


def dark_runs(matrix: Sequence[Sequence[bool]]) -> Iterator[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, first column, length): one rectangle per
    run keeps the PDF small and leaves no hairlines between neighbouring modules."""
    for row_number, row in enumerate(matrix):
        start: int | None = None
        for column, dark in enumerate((*row, False)):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                yield row_number, start, column - start
                start = None


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def _fit(canvas: Any, text: str, font: str, size: float, width: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits ``width``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    measured = stringWidth(text, font, size)
    return size if measured <= width else max(6.0, size * width / measured)


def _centred(canvas: Any, text: str, font: str, size: float, y: float, width: float) -> None:
    from reportlab.lib.pagesizes import A5

    fitted = _fit(canvas, text, font, size, width)
    canvas.setFont(font, fitted)
    canvas.drawCentredString(A5[0] / 2, y, text)


def _draw_qr(canvas: Any, url: str, x: float, y: float, side: float) -> None:
    """The code with its quiet zone in a ``side`` square whose lower left is (x, y); drawn
    in module units so that each run is an integer rectangle."""
    matrix = qr_matrix(url)
    modules = len(matrix) + 2 * QUIET_ZONE
    unit = side / modules
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, side, side, stroke=0, fill=1)
    canvas.translate(x + QUIET_ZONE * unit, y + side - QUIET_ZONE * unit)
    canvas.scale(unit, -unit)  # rows go down the page, as in the matrix
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for row, column, length in dark_runs(matrix):
        path.rect(column, row, length, 1)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _page(canvas: Any, poster: Poster) -> None:
    from reportlab.lib.colors import HexColor
    from reportlab.lib.pagesizes import A5
    from reportlab.lib.units import mm

    width, height = A5
    text_width = width - 20 * mm
    blue = HexColor("#0b4f8a")
    # the title band
    canvas.setFillColor(blue)
    canvas.rect(0, height - 38 * mm, width, 38 * mm, stroke=0, fill=1)
    canvas.setFillColorRGB(1, 1, 1)
    _centred(canvas, TITLE_ZH, FONT, 30, height - 20 * mm, text_width)
    _centred(canvas, TITLE_EN, LATIN_BOLD, 15, height - 30 * mm, text_width)
    # the shop
    canvas.setFillColorRGB(0, 0, 0)
    _centred(canvas, poster.shop_name, FONT, 17, height - 50 * mm, text_width)
    canvas.setFillColor(HexColor("#333333"))
    _centred(canvas, poster.address, FONT, 10.5, height - 57 * mm, text_width)
    # the code
    side = 84 * mm
    qr_top = height - 62 * mm
    _draw_qr(canvas, poster.url, (width - side) / 2, qr_top - side, side)
    # the instructions
    y = qr_top - side - 8 * mm
    for number, (zh, en) in enumerate(INSTRUCTIONS, start=1):
        canvas.setFillColor(blue)
        canvas.setFont(LATIN_BOLD, 11)
        canvas.drawString(14 * mm, y, f"{number}")
        canvas.setFillColorRGB(0, 0, 0)
        canvas.setFont(FONT, _fit(canvas, zh, FONT, 11, width - 34 * mm))
        canvas.drawString(20 * mm, y, zh)
        canvas.setFillColor(HexColor("#444444"))
        canvas.setFont(LATIN, _fit(canvas, en, LATIN, 8.5, width - 34 * mm))
        canvas.drawString(20 * mm, y - 4.2 * mm, en)
        y -= 11 * mm
    # the footer: who runs it, the shop's code, until when the code works, the address
    canvas.setFillColor(HexColor("#555555"))
    until = as_china_time(poster.expires_at).strftime("%Y-%m-%d")
    footer = (
        f"{poster.sub_district + '城运中心 · ' if poster.sub_district else ''}"
        f"店铺编号 {poster.shop_code} · 有效期至 {until} / valid until {until}"
    )
    _centred(canvas, footer, FONT, 8, 12 * mm, text_width)
    _centred(canvas, poster.url, LATIN, 7, 7.5 * mm, text_width)


def posters_pdf(posters: Sequence[Poster], title: str = "") -> bytes:
    """One A5 page per poster, in the order given, as one PDF."""
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfgen.canvas import Canvas

    _register_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A5, invariant=1, pageCompression=1)
    canvas.setTitle(title or f"{TITLE_ZH} / {TITLE_EN}")
    canvas.setAuthor(posters[0].sub_district if posters and posters[0].sub_district else "chengyun")
    canvas.setCreator("chengyun")
    for poster in posters:
        _page(canvas, poster)
        canvas.showPage()
    if not posters:
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def filename(shop_code: str) -> str:
    """``poster-S00001.pdf`` (ASCII, safe in any download header)."""
    safe = "".join(c for c in shop_code if c.isascii() and (c.isalnum() or c in "-_"))
    return f"poster-{safe or 'shop'}.pdf"
