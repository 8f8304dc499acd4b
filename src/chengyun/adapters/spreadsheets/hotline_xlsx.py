"""12345 hotline orders and the address gazetteer as .xlsx workbooks, for the offices
that exchange spreadsheets.

Orders: one row per order on "工单 Orders"; import reads the hotline's columns (number,
times, urgency, category, address, position, caller, content) and ignores the rest, so
an exported workbook imports again unchanged. Times without an offset are read as China
time. Gazetteer: one row per entry on "地名 Gazetteer". Problems are located as (sheet,
row, column header); nothing is returned unless every row is sound.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from chengyun.adapters.spreadsheets.cells import Column, cell_text, header_fields, open_workbook
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.gazetteer import EntryKind, GazetteerEntry, Parity
from chengyun.domain.hotline import flags
from chengyun.domain.working_time import CHINA_TZ, as_china_time
from chengyun.services.hotline import OrderIn
from chengyun.services.hotline_store import OrderRecord

ORDERS_TITLE = "工单 Orders"
GAZETTEER_TITLE = "地名 Gazetteer"
MAX_ROWS = 50_000

ORDER_COLUMNS = (
    Column("order_number", "工单编号 Order number", 22),
    Column("received_at", "接收时间 Received at", 18),
    Column("deadline", "办理时限 Deadline", 18),
    Column("urgent", "紧急 Urgent", 8),
    Column("category", "类别 Category", 18),
    Column("subclass", "小类代码 Subclass", 10),
    Column("address", "地址 Address", 30),
    Column("lng", "经度 Longitude", 12),
    Column("lat", "纬度 Latitude", 12),
    Column("caller_name", "来电人 Caller", 10),
    Column("caller_phone", "联系电话 Phone", 14),
    Column("content", "诉求内容 Content", 48),
)
STATE_COLUMNS = (
    Column("status", "状态 Status", 12),
    Column("placement", "定位方式 Placement", 14),
    Column("case_id", "案件ID Case id", 10),
    Column("signed_at", "签收时间 Signed at", 18),
    Column("contact_due_at", "先行联系时限 Contact due", 18),
    Column("contacted_at", "先行联系时间 Contacted at", 18),
    Column("handle_due_at", "办理截止 Handling due", 18),
    Column("replied_at", "反馈时间 Replied at", 18),
    Column("result", "办理结果 Result", 36),
    Column("warnings", "预警次数 Warnings", 10),
    Column("flags", "超时 Overdue", 20),
)
ENTRY_COLUMNS = (
    Column("kind", "类型 Kind", 12),
    Column("name", "名称 Name", 20),
    Column("aliases", "别名 Aliases", 24),
    Column("lng", "经度 Longitude", 12),
    Column("lat", "纬度 Latitude", 12),
    Column("end_lng", "终点经度 End longitude", 12),
    Column("end_lat", "终点纬度 End latitude", 12),
    Column("first", "起始门牌 First number", 10),
    Column("last", "终止门牌 Last number", 10),
    Column("parity", "单双号 Parity", 10),
    Column("note", "备注 Note", 24),
)
_YES = {"是", "紧急", "yes", "y", "true", "1", "urgent"}
_NO = {"", "否", "一般", "no", "n", "false", "0", "general"}
_ALIAS_SPLIT = re.compile(r"[、;；,，|]")


def _local(at: datetime | None) -> datetime | None:
    """Excel holds no offsets: times are written as China wall-clock time."""
    return as_china_time(at).replace(tzinfo=None) if at is not None else None


def _format(sheet: Worksheet, columns: Sequence[Column]) -> None:
    fill = PatternFill("solid", fgColor="DDEBF7")
    for index, column in enumerate(columns, 1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = fill
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"


def _save(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def orders_to_xlsx(records: Sequence[OrderRecord], now: datetime) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = ORDERS_TITLE
    columns = ORDER_COLUMNS + STATE_COLUMNS
    sheet.append([c.header for c in columns])
    for record in records:
        order = record.order
        lng, lat = order.position if order.position else (None, None)
        sheet.append(
            [
                order.number,
                _local(order.received_at),
                _local(order.deadline),
                "是" if order.urgent else "否",
                order.category,
                order.subclass,
                order.address,
                lng if record.placement.value == "coordinates" else None,
                lat if record.placement.value == "coordinates" else None,
                order.caller_name,
                order.caller_phone,
                order.content,
                order.status.zh,
                record.placement.zh,
                record.case_id,
                _local(order.signed_at),
                _local(order.contact_due_at),
                _local(order.contacted_at),
                _local(order.handle_due_at),
                _local(order.replied_at),
                order.result,
                order.warnings,
                "、".join(f.zh for f in sorted(flags(order, now))),
            ]
        )
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
    _format(sheet, columns)
    return _save(workbook)


def _open(data: bytes, title: str) -> Any:
    workbook = open_workbook(data)
    sheets = workbook.worksheets
    for sheet in sheets:
        if sheet.title == title or sheet.title in title.split(" "):
            return sheet
    if sheets:
        return sheets[0]
    raise InvalidInput(
        "工作簿没有工作表 / the workbook has no sheet", [Problem(("file",), title, "missing")]
    )


def _rows(sheet: Any, columns: Sequence[Column], required: Sequence[str]) -> list[Any]:
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise InvalidInput(
            "工作表是空的 / the sheet is empty",
            [Problem((sheet.title, 1), "the first row holds the column headers", "missing")],
        )
    fields = header_fields(header, columns)
    missing = [c for c in columns if c.field in required and c.field not in fields.values()]
    if missing:
        raise InvalidInput(
            "缺少列 / columns are missing",
            [Problem((sheet.title, 1, c.header), "add this column", "missing") for c in missing],
        )
    found: list[Any] = []
    for number, values in enumerate(rows, 2):
        cells = {fields[i]: v for i, v in enumerate(values) if i in fields}
        if all(cell_text(v) == "" for v in cells.values()):
            continue
        if len(found) >= MAX_ROWS:
            raise InvalidInput(
                "行数过多 / too many rows",
                [Problem((sheet.title, number), f"at most {MAX_ROWS} rows a file", "too_many")],
            )
        found.append((number, cells))
    return found


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=CHINA_TZ)
    text = cell_text(value)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = cell_text(value)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def orders_from_xlsx(data: bytes) -> tuple[str, list[tuple[int, OrderIn]]]:
    """The orders of a workbook with their row numbers, and the sheet's title."""
    sheet = _open(data, ORDERS_TITLE)
    header = {c.field: c.header for c in ORDER_COLUMNS}
    rows = _rows(sheet, ORDER_COLUMNS, ("order_number", "received_at", "deadline", "content"))
    problems: list[Problem] = []
    orders: list[tuple[int, OrderIn]] = []
    title = str(sheet.title)
    for number, cells in rows:
        here: list[Problem] = []

        def bad(name: str, message: str, kind: str = "invalid") -> None:
            here.append(Problem((title, number, header[name]), message, kind))  # noqa: B023

        times: dict[str, datetime] = {}
        for name in ("received_at", "deadline"):
            value = _time(cells.get(name))
            if value is None:
                bad(name, "须为日期时间，如 2020-06-24 09:30 / a date and time", "format")
            else:
                times[name] = value
        urgent_text = cell_text(cells.get("urgent")).casefold()
        if urgent_text not in _YES | _NO:
            bad("urgent", "填写 是 或 否 / write yes or no", "format")
        position: dict[str, float | None] = {}
        for name in ("lng", "lat"):
            raw = cells.get(name)
            position[name] = _number(raw)
            if position[name] is None and cell_text(raw):
                bad(name, "须为数字 / a number", "format")
        if here:
            problems += here
            continue
        orders.append(
            (
                number,
                OrderIn(
                    number=cell_text(cells.get("order_number")),
                    received_at=times["received_at"],
                    deadline=times["deadline"],
                    content=cell_text(cells.get("content")),
                    urgent=urgent_text in _YES,
                    category=cell_text(cells.get("category")),
                    subclass=cell_text(cells.get("subclass")),
                    address=cell_text(cells.get("address")),
                    lng=position["lng"],
                    lat=position["lat"],
                    caller_name=cell_text(cells.get("caller_name")),
                    caller_phone=cell_text(cells.get("caller_phone")),
                ),
            )
        )
    if problems:
        raise InvalidInput("工单表有误，未导入 / the order sheet has errors", problems)
    return title, orders


# --- gazetteer ---------------------------------------------------------------------------------


def entries_to_xlsx(entries: Sequence[GazetteerEntry]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = GAZETTEER_TITLE
    sheet.append([c.header for c in ENTRY_COLUMNS])
    for entry in entries:
        road = entry.kind is EntryKind.ROAD
        sheet.append(
            [
                entry.kind.zh,
                entry.name,
                "、".join(entry.aliases),
                entry.position[0],
                entry.position[1],
                entry.end[0] if entry.end else None,
                entry.end[1] if entry.end else None,
                entry.first if road else None,
                entry.last if road else None,
                entry.parity.zh if road else None,
                entry.note,
            ]
        )
    _format(sheet, ENTRY_COLUMNS)
    return _save(workbook)


def entries_from_xlsx(data: bytes) -> tuple[str, list[tuple[int, GazetteerEntry]]]:
    """The entries of a workbook with their row numbers, and the sheet's title."""
    sheet = _open(data, GAZETTEER_TITLE)
    header = {c.field: c.header for c in ENTRY_COLUMNS}
    rows = _rows(sheet, ENTRY_COLUMNS, ("kind", "name", "lng", "lat"))
    title = str(sheet.title)
    problems: list[Problem] = []
    entries: list[tuple[int, GazetteerEntry]] = []
    for number, cells in rows:
        here: list[Problem] = []

        def bad(name: str, message: str, kind: str = "invalid") -> None:
            here.append(Problem((title, number, header[name]), message, kind))  # noqa: B023

        kind: EntryKind | None = None
        try:
            kind = EntryKind.parse(cell_text(cells.get("kind")))
        except ValueError as exc:
            bad("kind", str(exc), "unknown")
        parity = Parity.ALL
        if cell_text(cells.get("parity")):
            try:
                parity = Parity.parse(cell_text(cells.get("parity")))
            except ValueError as exc:
                bad("parity", str(exc), "unknown")
        numbers: dict[str, float | None] = {}
        for name in ("lng", "lat", "end_lng", "end_lat", "first", "last"):
            raw = cells.get(name)
            numbers[name] = _number(raw)
            if numbers[name] is None and (cell_text(raw) or name in ("lng", "lat")):
                bad(name, "须为数字 / a number", "format")
        for name in ("first", "last"):
            value = numbers[name]
            if value is not None and not value.is_integer():
                bad(name, "门牌号须为整数 / a whole number", "format")
        if here or kind is None:
            problems += here
            continue
        lng, lat = numbers["lng"], numbers["lat"]
        assert lng is not None and lat is not None
        end_lng, end_lat = numbers["end_lng"], numbers["end_lat"]
        aliases = cell_text(cells.get("aliases"))
        entries.append(
            (
                number,
                GazetteerEntry(
                    kind=kind,
                    name=cell_text(cells.get("name")),
                    position=(lng, lat),
                    aliases=tuple(a.strip() for a in _ALIAS_SPLIT.split(aliases) if a.strip()),
                    end=(end_lng, end_lat) if end_lng is not None and end_lat is not None else None,
                    first=int(numbers["first"] or 0),
                    last=int(numbers["last"] or 0),
                    parity=parity,
                    note=cell_text(cells.get("note"))[:200],
                ),
            )
        )
    if problems:
        raise InvalidInput("地名地址表有误，未导入 / the gazetteer sheet has errors", problems)
    return title, entries
