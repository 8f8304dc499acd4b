"""The person ↔ government WeChat user id sheet (政务微信账号对照表), .xlsx or .csv with
two columns: 人员编号 / person_number and 政务微信账号 / userid (a header row first)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from openpyxl import load_workbook

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.services.wecom_users import UserRow

NUMBER_HEADERS = {"person_number", "人员编号", "编号", "number"}
USERID_HEADERS = {"userid", "user_id", "政务微信账号", "企业微信账号", "账号"}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _rows(cells: Iterable[Sequence[object]], sheet: str) -> list[UserRow]:
    lines = iter(cells)
    header = [_text(c).lower() for c in next(lines, [])]
    try:
        number_at = next(i for i, h in enumerate(header) if h in NUMBER_HEADERS)
        userid_at = next(i for i, h in enumerate(header) if h in USERID_HEADERS)
    except StopIteration:
        raise InvalidInput(
            "表头应为 人员编号 和 政务微信账号 / the header row must name the columns "
            "person_number and userid",
            [Problem((sheet, 1), f"found {header}", "header")],
        ) from None
    rows = []
    for index, line in enumerate(lines, start=2):
        values = [_text(c) for c in line]
        number = values[number_at] if number_at < len(values) else ""
        userid = values[userid_at] if userid_at < len(values) else ""
        if number or userid:
            rows.append(UserRow((sheet, index), number, userid))
    return rows


def read_user_rows(data: bytes, filename: str) -> list[UserRow]:
    """The rows of an .xlsx (first sheet) or a UTF-8 .csv mapping file."""
    if filename.lower().endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(
                "CSV 须为 UTF-8 编码 / the CSV file must be UTF-8",
                [Problem(("file",), filename, "encoding")],
            ) from None
        return _rows(csv.reader(io.StringIO(text)), "csv")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # any unreadable workbook: say what is expected
        raise InvalidInput(
            "无法读取文件，请使用 .xlsx 或 .csv / the file is no readable .xlsx or .csv",
            [Problem(("file",), filename, "format")],
        ) from None
    try:
        sheet = workbook.worksheets[0]
        return _rows(sheet.iter_rows(values_only=True), sheet.title)
    finally:
        workbook.close()
