"""The camera registry (摄像头台账) as an .xlsx sheet with bilingual headers.

Import reads every row, converts GCJ-02 / BD-09 positions to WGS-84 and reports format
problems as sheet / row / column; where each position falls is checked by the service
(``services.vision.import_cameras``), all or nothing. Export → import gives the same
registry.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

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
from chengyun.domain.vision import Camera

SHEET_TITLE = "摄像头 Cameras"
COLUMNS = (
    Column("camera_id", "编号 Camera ID", 24),
    Column("name", "名称 Name", 24),
    Column("lng", "经度 Longitude", 14),
    Column("lat", "纬度 Latitude", 14),
    Column("crs", "坐标系 CRS", 12),
    Column("address", "地址 Address", 30),
    Column("owner", "权属单位 Owner", 18),
    Column("unit_code", "管理单元 Unit", 18),
    Column("grid_code", "责任网格 Grid", 18),
    Column("active", "启用 Active", 10),
)
REQUIRED = ("camera_id", "name", "lng", "lat")
YES = {"是", "启用", "yes", "y", "true", "1", "on"}
NO = {"否", "停用", "no", "n", "false", "0", "off"}

Where = tuple[str | int, ...]


def cameras_from_xlsx(data: bytes) -> list[tuple[Where, Camera]]:
    """The cameras of a workbook's first sheet (or the one titled like ``SHEET_TITLE``),
    each with where it was found; ``InvalidInput`` naming every bad cell otherwise."""
    workbook = open_workbook(data)
    sheets = workbook.worksheets
    if not sheets:
        raise InvalidInput("工作簿为空 / the workbook has no sheet", [Problem(("file",), "")])
    sheet = next((s for s in sheets if s.title.startswith("摄像头")), sheets[0])
    title = sheet.title
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, ())
    fields = header_fields(header or (), COLUMNS)
    missing = [c.header for c in COLUMNS if c.field in REQUIRED and c.field not in fields.values()]
    if missing:
        raise InvalidInput(
            "缺少列 / missing columns",
            [Problem((title, 1), "缺少列 / missing columns: " + ", ".join(missing), "header")],
        )
    found: list[tuple[Where, Camera]] = []
    problems: list[Problem] = []
    for number, raw in enumerate(rows, start=2):
        values = {fields[i]: cell_text(v) for i, v in enumerate(raw) if i in fields}
        if not any(values.values()):
            continue
        where: Where = (title, number)
        before = len(problems)
        lng = _number(values.get("lng", ""), (*where, "经度 Longitude"), problems)
        lat = _number(values.get("lat", ""), (*where, "纬度 Latitude"), problems)
        crs = Crs.WGS84
        if values.get("crs"):
            try:
                crs = Crs.parse(values["crs"])
            except ValueError as exc:
                problems.append(Problem((*where, "坐标系 CRS"), str(exc), "choice"))
        active = True
        flag = values.get("active", "").casefold()
        if flag in NO:
            active = False
        elif flag and flag not in YES:
            problems.append(
                Problem((*where, "启用 Active"), "填 是/否 / write yes or no", "choice")
            )
        if len(problems) > before:
            continue
        wgs_lng, wgs_lat = to_wgs84(lng, lat, crs)
        found.append(
            (
                where,
                Camera(
                    camera_id=values.get("camera_id", ""),
                    name=values.get("name", ""),
                    lng=round(wgs_lng, 7),
                    lat=round(wgs_lat, 7),
                    unit_code=values.get("unit_code") or None,
                    address=values.get("address", ""),
                    owner=values.get("owner", ""),
                    active=active,
                ),
            )
        )
    if problems:
        raise InvalidInput(
            f"{len(problems)} 处问题，未导入任何摄像头 / {len(problems)} problem(s): nothing "
            "was imported",
            problems,
        )
    return found


def _number(text: str, where: Where, problems: list[Problem]) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(Problem(where, f"须为数字 / must be a number, got {text!r}", "number"))
        return 0.0
    return value


def cameras_to_xlsx(cameras: Sequence[Camera]) -> bytes:
    """The registry as a workbook (WGS-84 positions); no cameras gives the blank template."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    sheet.append([c.header for c in COLUMNS])
    for camera in sorted(cameras, key=lambda c: c.camera_id):
        sheet.append(
            [
                camera.camera_id,
                camera.name,
                camera.lng,
                camera.lat,
                Crs.WGS84.value,
                camera.address or None,
                camera.owner or None,
                camera.unit_code,
                camera.grid_code,
                "是" if camera.active else "否",
            ]
        )
    style_header(sheet, COLUMNS)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
