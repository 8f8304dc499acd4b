"""What every imported sheet needs: headers read in Chinese, English or both, and cell
values read as the text a person typed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


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
