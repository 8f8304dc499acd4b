"""The shop registry (店铺登记表) as an .xlsx workbook, with bilingual headers.

Import reads one sheet whose headers may be Chinese, English or both; every row becomes a
``ShopIn`` located by sheet and row, positions converted to WGS-84 from the CRS column
(phones and Chinese web maps give GCJ-02). Cells that cannot be read are reported all at
once and nothing is imported. Export writes the registry with the unit, grid, expiry
and QR address of each shop; export → import changes nothing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook

from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.spreadsheets.cells import (
    Column,
    cell_text,
    header_fields,
    open_workbook,
    style_header,
)
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.shops import Shop
from chengyun.domain.working_time import as_china_time
from chengyun.services.shops import ShopIn

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "店铺 Shops"
COLUMNS = (
    Column("code", "编号 Code", 12),
    Column("name", "店铺名称 Name", 26),
    Column("address", "地址 Address", 34),
    Column("lng", "经度 Longitude", 14),
    Column("lat", "纬度 Latitude", 14),
    Column("crs", "坐标系 CRS", 10),
    Column("active", "启用 Active", 8),
    Column("unit_code", "管理单元 Unit", 18),
    Column("grid_code", "责任网格 Grid", 18),
    Column("expires", "二维码有效期至 Valid until", 16),
    Column("url", "二维码地址 QR address", 60),
)
REQUIRED = ("name", "lng", "lat")
HEADER_BY_FIELD = {c.field: c.header for c in COLUMNS}
_YES = {"", "是", "y", "yes", "true", "1", "启用", "active"}
_NO = {"否", "n", "no", "false", "0", "停用", "inactive"}


def _number(text: str, field: str, where: tuple[str | int, ...], problems: list[Problem]) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(
            Problem(
                (*where, HEADER_BY_FIELD[field]),
                f"须为数字，如 121.1234 / must be a number such as 121.1234, got {text!r}",
                "number",
            )
        )
    return value


@dataclass(frozen=True)
class ShopSheet:
    """The readable rows of a sheet, each with where it is, and the problems of the cells
    that could not be read (the import reports both together)."""

    rows: list[tuple[tuple[str | int, ...], ShopIn]]
    problems: list[Problem]


def shops_from_xlsx(data: bytes) -> ShopSheet:
    """The rows of the first sheet that has the shop headers. ``InvalidInput`` only when
    the file is not a workbook or no sheet has the headers."""
    workbook = open_workbook(data)
    problems: list[Problem] = []
    rows: list[tuple[tuple[str | int, ...], ShopIn]] = []
    found_sheet = False
    for sheet in workbook.worksheets:
        values = sheet.iter_rows(values_only=True)
        header: Sequence[Any] = next(values, ())
        fields = header_fields(header, COLUMNS)
        if not set(REQUIRED) <= set(fields.values()):
            continue
        found_sheet = True
        for number, raw in enumerate(values, start=2):
            cells = {fields[i]: cell_text(v) for i, v in enumerate(raw) if i in fields}
            if not any(cells.get(f) for f in ("code", "name", "address", "lng", "lat")):
                continue
            where: tuple[str | int, ...] = (sheet.title, number)
            before = len(problems)
            lng = _number(cells.get("lng", ""), "lng", where, problems)
            lat = _number(cells.get("lat", ""), "lat", where, problems)
            try:
                crs = Crs(cells.get("crs", "").lower() or "wgs84")
            except ValueError:
                problems.append(
                    Problem(
                        (*where, HEADER_BY_FIELD["crs"]),
                        "须为 wgs84、gcj02 或 bd09 / one of wgs84, gcj02, bd09",
                        "crs",
                    )
                )
                crs = Crs.WGS84
            active_text = cells.get("active", "").casefold()
            if active_text not in _YES | _NO:
                problems.append(
                    Problem((*where, HEADER_BY_FIELD["active"]), "填“是”或“否” / yes or no", "bool")
                )
            if len(problems) > before:
                continue
            if -180 <= lng <= 180 and -90 <= lat <= 90:
                lng, lat = to_wgs84(lng, lat, crs)
            rows.append(
                (
                    where,
                    ShopIn(
                        code=cells.get("code", ""),
                        name=cells.get("name", ""),
                        address=cells.get("address", ""),
                        lng=lng,
                        lat=lat,
                        active=active_text not in _NO,
                    ),
                )
            )
        break
    workbook.close()
    if not found_sheet:
        problems = [
            Problem(
                ("file",),
                "找不到店铺表：须有“店铺名称 Name”“经度 Longitude”“纬度 Latitude”列 / no sheet "
                "with the columns Name, Longitude and Latitude",
                "header",
            )
        ]
        raise InvalidInput("找不到店铺表 / no shop sheet in the workbook", problems)
    return ShopSheet(rows, problems)


def shops_to_xlsx(shops: Sequence[Shop], urls: dict[str, str]) -> bytes:
    """The registry as a workbook (the blank template when ``shops`` is empty); ``urls``
    gives each shop code's QR address."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    sheet.append([c.header for c in COLUMNS])
    for shop in shops:
        row: list[Any] = [
            shop.code,
            shop.name,
            shop.address,
            round(shop.lng, 7),
            round(shop.lat, 7),
            "wgs84",
            "是" if shop.active else "否",
            shop.unit_code,
            shop.grid_code,
            as_china_time(shop.token_expires_at).strftime("%Y-%m-%d"),
            urls.get(shop.code, ""),
        ]
        sheet.append(row)
    style_header(sheet, COLUMNS)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
