"""What every imported sheet needs: headers read in Chinese, English or both, and cell
values read as the text a person typed."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from chengyun.domain.errors import InvalidInput, Problem


@dataclass(frozen=True)
class Column:
    """A column of an exchanged sheet: the field it holds, its ``"中文 English"`` header
    and its display width."""

    field: str
    header: str
    width: int


def header_fields(row: Sequence[Any], columns: Iterable[Column]) -> dict[int, str]:
    """Map column positions to fields; a header may be ``"中文 English"``, either half,
    or the field name."""
    names: dict[str, str] = {}
    for column in columns:
        zh, _, en = column.header.partition(" ")
        for name in (column.header, zh, en, column.field):
            if name:
                names[name.casefold()] = column.field
    found: dict[int, str] = {}
    for position, cell in enumerate(row):
        text = str(cell or "").strip().casefold()
        if text in names:
            found[position] = names[text]
    return found


def cell_text(value: Any) -> str:
    """A cell as text: empty for blank, ``12`` rather than ``12.0`` for whole numbers."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def open_workbook(data: bytes) -> Workbook:
    """An uploaded workbook, read-only and with values (not formulas); ``InvalidInput``
    naming ``file`` when the bytes are not an .xlsx workbook."""
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise InvalidInput(
            "无法读取Excel文件 / cannot read the file as an .xlsx workbook",
            [Problem(("file",), f"{type(exc).__name__}: {exc}", "format")],
        ) from exc


HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")


def style_header(sheet: Worksheet, columns: Sequence[Column], wrap: bool = False) -> None:
    """The header row in white on dark blue, each column its width, the header frozen."""
    for i, column in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=i)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = (
            Alignment(horizontal="center", vertical="center", wrap_text=True)
            if wrap
            else Alignment(horizontal="center")
        )
        sheet.column_dimensions[get_column_letter(i)].width = column.width
    sheet.freeze_panes = "A2"
