"""The case taxonomy and its rules (立结案规范) as one .xlsx workbook.

One row per subclass on the sheet "分类 Taxonomy": code, kind, class, names,
sector, filing and closure conditions, urgency, responsible party, then an
amount and a unit column for each stage's time limit. Labels are written in
Chinese and read leniently (value, Chinese or English label). Import checks every
row with the same rules as the JSON file and the API (``subclass_from_mapping``),
reports problems as (sheet, row, column header) and returns nothing unless every
row is sound. Export → import → export gives the same table.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from chengyun.adapters.spreadsheets.cells import (
    Column,
    cell_text,
    header_fields,
    open_workbook,
    style_header,
)
from chengyun.adapters.taxonomy_file import subclass_from_mapping
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import (
    CaseKind,
    Sector,
    Stage,
    Subclass,
    Taxonomy,
    TimeUnit,
    Urgency,
)

SHEET_TITLE = "分类 Taxonomy"
README_TITLE = "说明 Readme"
CODES_TITLE = "代码 Codes"


_BASE_COLUMNS = (
    Column("code", "代码 Code", 9),
    Column("kind", "类型 Kind", 8),
    Column("class_code", "大类代码 Class code", 10),
    Column("class_name_zh", "大类名称 Class name", 16),
    Column("class_name_en", "大类英文名 Class name (English)", 24),
    Column("name_zh", "小类名称 Name", 18),
    Column("name_en", "小类英文名 Name (English)", 30),
    Column("sector", "领域 Sector", 12),
    Column("filing", "立案条件 Filing condition", 48),
    Column("closure", "结案条件 Closure condition", 40),
    Column("urgency", "紧急程度 Urgency", 10),
    Column("responsible", "责任主体 Responsible", 22),
)
_LIMIT_COLUMNS = tuple(
    column
    for stage in Stage
    for column in (
        Column(f"{stage.value}.amount", f"{stage.zh}时限 {stage.en} limit", 10),
        Column(f"{stage.value}.unit", f"{stage.zh}时限单位 {stage.en} unit", 14),
    )
)
COLUMNS = _BASE_COLUMNS + _LIMIT_COLUMNS
HEADER_BY_FIELD = {c.field: c.header for c in COLUMNS}

#: Drop-down lists on the Codes sheet: field → (column letter there, Chinese labels).
_CHOICES: dict[str, tuple[str, list[str]]] = {
    "kind": ("A", [k.zh for k in CaseKind]),
    "sector": ("B", [s.zh for s in Sector]),
    "urgency": ("C", [u.zh for u in Urgency]),
    "responsible": ("D", [t.zh for t in TeamType] + [d.zh for d in Department]),
    "unit": ("E", [u.zh for u in TimeUnit]),
}


def taxonomy_to_xlsx(taxonomy: Taxonomy) -> bytes:
    """The taxonomy as a workbook, one row per subclass in the taxonomy's order."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_TITLE
    sheet.append([c.header for c in COLUMNS])
    for subclass in taxonomy:
        sheet.append(_row(subclass))
    _format_table(sheet, len(taxonomy))
    _write_codes(workbook.create_sheet(CODES_TITLE))
    _write_readme(workbook.create_sheet(README_TITLE))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _row(subclass: Subclass) -> list[Any]:
    row: list[Any] = [
        subclass.code,
        subclass.kind.zh,
        subclass.class_code,
        subclass.class_name_zh,
        subclass.class_name_en,
        subclass.name_zh,
        subclass.name_en,
        subclass.sector.zh,
        subclass.filing,
        subclass.closure,
        subclass.urgency.zh,
        subclass.responsible.zh,
    ]
    for stage in Stage:
        limit = subclass.limits.get(stage)
        if limit is None:
            row.extend([None, None])
        else:
            amount = limit.amount
            row.extend([int(amount) if float(amount).is_integer() else amount, limit.unit.zh])
    return row


def taxonomy_from_xlsx(data: bytes) -> Taxonomy:
    """Read a workbook; raise ``InvalidInput`` whose problems are located as
    (sheet, row, column header)."""
    workbook = open_workbook(data)
    try:
        sheet = _find_sheet(workbook.worksheets)
        if sheet is None:
            raise InvalidInput(
                "找不到分类表 / no taxonomy sheet",
                [
                    Problem(
                        ("file",),
                        f"工作表名须为“{SHEET_TITLE}”（或以“分类”/“Taxonomy”开头） / the sheet "
                        f"must be named {SHEET_TITLE!r} (or start with 分类 or Taxonomy)",
                        "missing",
                    )
                ],
            )
        subclasses, problems = _read_sheet(sheet)
    finally:
        workbook.close()
    if problems:
        raise InvalidInput(
            f"分类表有 {len(problems)} 处问题，未导入任何内容 / the taxonomy sheet has "
            f"{len(problems)} problem(s); nothing was imported",
            problems,
        )
    return Taxonomy(tuple(subclasses))


def _find_sheet(sheets: Sequence[Any]) -> Any:
    for sheet in sheets:
        folded = str(sheet.title).strip().casefold()
        if folded == SHEET_TITLE.casefold() or folded.startswith(("分类", "taxonomy")):
            return sheet
    return None


def _read_sheet(sheet: Any) -> tuple[list[Subclass], list[Problem]]:
    title = str(sheet.title)
    rows: Iterator[Sequence[Any]] = iter(sheet.iter_rows(values_only=True))
    header: Sequence[Any] = next(rows, ())
    fields = header_fields(header, COLUMNS)
    missing = [c.header for c in COLUMNS if c.field not in fields.values()]
    if missing:
        return [], [
            Problem((title, 1), "缺少列 / missing columns: " + ", ".join(missing), "header")
        ]
    problems: list[Problem] = []
    subclasses: list[Subclass] = []
    first_row: dict[str, int] = {}
    for row_number, raw in enumerate(rows, start=2):
        cells = {fields[i]: v for i, v in enumerate(raw) if i in fields}
        if not any(cell_text(v) for v in cells.values()):
            continue
        subclass, row_problems = subclass_from_mapping(_mapping(cells), ())
        problems.extend(
            Problem((title, row_number, _header_for(p.location)), p.message, p.kind)
            for p in row_problems
        )
        code = cell_text(cells.get("code"))
        if code:
            earlier = first_row.get(code)
            if earlier is not None:
                problems.append(
                    Problem(
                        (title, row_number, HEADER_BY_FIELD["code"]),
                        f"代码 {code} 与第 {earlier} 行重复 / code {code} duplicates row {earlier}",
                        "duplicate",
                    )
                )
                continue
            first_row[code] = row_number
        if subclass is not None:
            subclasses.append(subclass)
    return subclasses, problems


def _mapping(cells: dict[str, Any]) -> dict[str, Any]:
    """A row as the JSON mapping ``subclass_from_mapping`` reads; numbers stay numbers."""
    mapping: dict[str, Any] = {
        c.field: cell_text(cells.get(c.field))
        for c in _BASE_COLUMNS
        if cell_text(cells.get(c.field))
    }
    limits: dict[str, Any] = {}
    for stage in Stage:
        amount = cells.get(f"{stage.value}.amount")
        unit = cell_text(cells.get(f"{stage.value}.unit"))
        if cell_text(amount) == "" and not unit:
            continue  # reported as a missing limit by the domain rules
        entry: dict[str, Any] = {"amount": _amount(amount)}
        if unit:
            entry["unit"] = unit
        limits[stage.value] = entry
    mapping["limits"] = limits
    return mapping


def _amount(value: Any) -> Any:
    """A cell's number; numeric text is accepted, anything else is passed on to be reported."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value
    text = cell_text(value)
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _header_for(location: tuple[str | int, ...]) -> str:
    """The column header of a problem located by ``subclass_from_mapping``."""
    if not location:
        return ""
    if location[0] == "limits" and len(location) >= 2:
        part = location[2] if len(location) >= 3 else "amount"
        return HEADER_BY_FIELD.get(f"{location[1]}.{part}", "")
    return HEADER_BY_FIELD.get(str(location[0]), "")


def _format_table(sheet: Worksheet, count: int) -> None:
    wrap = Alignment(wrap_text=True, vertical="top")
    style_header(sheet, COLUMNS, wrap=True)
    for field in ("filing", "closure"):
        letter = get_column_letter([c.field for c in COLUMNS].index(field) + 1)
        for r in range(2, count + 2):
            sheet[f"{letter}{r}"].alignment = wrap
    sheet.freeze_panes = "C2"
    last = max(count + 1, 500)
    for field, (source, labels) in _CHOICES.items():
        targets = [
            c
            for c in COLUMNS
            if c.field == field or (field == "unit" and c.field.endswith(".unit"))
        ]
        validation = DataValidation(
            type="list",
            formula1=f"'{CODES_TITLE}'!${source}$2:${source}${len(labels) + 1}",
            allow_blank=True,
        )
        for column in targets:
            letter = get_column_letter(COLUMNS.index(column) + 1)
            validation.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(validation)


def _write_codes(sheet: Worksheet) -> None:
    sheet.append(
        ["类型 Kind", "领域 Sector", "紧急程度 Urgency", "责任主体 Responsible", "单位 Unit"]
    )
    columns = [labels for _, labels in _CHOICES.values()]
    for r in range(max(len(c) for c in columns)):
        sheet.append([c[r] if r < len(c) else None for c in columns])
    for i in range(1, len(columns) + 1):
        sheet.column_dimensions[get_column_letter(i)].width = 26


def _labels(enum: type[Labelled]) -> str:
    return "、".join(f"{m.zh}（{m.value}）" for m in enum)


def _write_readme(sheet: Worksheet) -> None:
    lines = [
        "案件分类与立结案规范 / Case taxonomy and rules",
        "",
        "每行一个小类。代码为类型字母（C 部件 / E 事件）加2位大类和2位小类，如 C0101、E0501；"
        "大类代码须与代码第2–3位一致。",
        "One row per subclass. The code is the kind letter (C component / E event), the 2-digit "
        "class and the 2-digit subclass, e.g. C0101 or E0501; the class code must match it.",
        "类型、领域、紧急程度、责任主体和时限单位可填中文、英文或代码值，有下拉选择（见“代码 Codes”表）。",
        "Kind, sector, urgency, responsible party and units accept the Chinese or English label "
        "or the code value; drop-down lists are on the Codes sheet.",
        "每个环节（立案、派遣、签收、到场、处置、核查）都须填写时限数值（大于0）和单位。",
        "Every stage (register, dispatch, accept, arrive, handle, check) needs a positive amount "
        "and a unit.",
        f"单位 / units: {_labels(TimeUnit)}",
        "紧急类：15分钟内到场、1小时内形成初步处置结果。 / Urgent: on scene within 15 minutes, "
        "an initial result within 1 hour.",
        "导入时任何一行有误则整表不导入，并列出每处问题（行号和列名）。 / If any row is wrong, "
        "nothing is imported and every problem is listed by row and column.",
    ]
    for line in lines:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.column_dimensions["A"].width = 120
