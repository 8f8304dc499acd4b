"""The day table (附件2) and night table (附件3) as one .xlsx workbook.

One row per person and assignment; the sheet says the shift. Import checks every
row with the same rules as the API (``domain.forces``), reports problems as
sheet/row/column/message and returns nothing unless every row is sound. Export
writes labels in Chinese and codes for places, in a stable order, so that
export → import → export gives the same tables.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
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
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import (
    Assignment,
    Department,
    Person,
    Post,
    Roster,
    ScopeKind,
    Shift,
    TeamType,
    assignment_problems,
    person_problems,
)
from chengyun.domain.labels import Labelled
from chengyun.domain.territory import Territory

SHEET_TITLES = {
    Shift.DAY: "日间 Day（附件2）",
    Shift.NIGHT: "夜间 Night（附件3）",
}
README_TITLE = "说明 Readme"
CODES_TITLE = "代码 Codes"


COLUMNS = (
    Column("number", "编号 Number", 14),
    Column("name", "姓名 Name", 10),
    Column("phone", "电话 Phone", 14),
    Column("post", "职务 Post", 18),
    Column("team", "队伍类型 Team", 18),
    Column("department", "部门 Department", 22),
    Column("grid_code", "责任网格 Grid", 18),
    Column("unit_code", "管理单元 Unit", 18),
    Column("note", "备注 Note", 24),
)
HEADER_BY_FIELD = {c.field: c.header for c in COLUMNS}
POST_ORDER = {post: i for i, post in enumerate(Post)}


def _sheet_shift(title: str) -> Shift | None:
    folded = title.strip().casefold()
    for shift in Shift:
        if folded.startswith((shift.zh.casefold(), shift.value.casefold(), shift.en.casefold())):
            return shift
    return None


def roster_from_xlsx(data: bytes, territory: Territory) -> tuple[Roster, list[Shift]]:
    """Read a workbook; return the roster and the shifts whose tables it holds.

    Raises ``InvalidInput`` whose problems are located as (sheet, row, column)."""
    workbook = open_workbook(data)
    problems: list[Problem] = []
    people: dict[str, tuple[Person, str]] = {}
    assignments: dict[tuple[Any, ...], str] = {}
    ordered: list[Assignment] = []
    shifts: list[Shift] = []
    unit_grid = {u.code: u.grid_code for u in territory.units}
    grid_by_name = {g.name: g.code for g in territory.grids}
    unit_by_name = {u.name: u.code for u in territory.units}

    for sheet in workbook.worksheets:
        shift = _sheet_shift(sheet.title)
        if shift is None:
            continue
        if shift in shifts:
            problems.append(Problem((sheet.title,), f"有两张{shift.zh}表 / two {shift.en} sheets"))
            continue
        shifts.append(shift)
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        fields = header_fields(header or (), COLUMNS)
        missing = [
            c.header for c in COLUMNS if c.field not in fields.values() and c.field != "note"
        ]
        if missing:
            problems.append(
                Problem(
                    (sheet.title, 1), "缺少列 / missing columns: " + ", ".join(missing), "header"
                )
            )
            continue
        for row_number, raw in enumerate(rows, start=2):
            values = {fields[i]: cell_text(v) for i, v in enumerate(raw) if i in fields}
            if not any(values.values()):
                continue
            row_problems = _read_row(
                values,
                shift,
                territory,
                unit_grid,
                grid_by_name,
                unit_by_name,
                people,
                assignments,
                ordered,
                f"{sheet.title}!{row_number}",
            )
            problems.extend(
                Problem(
                    (sheet.title, row_number, HEADER_BY_FIELD.get(str(p.location[0]), "")),
                    p.message,
                    p.kind,
                )
                for p in row_problems
            )
    workbook.close()
    if not shifts and not problems:
        problems.append(
            Problem(
                ("file",),
                "找不到日间或夜间表：工作表名须以“日间”或“夜间”开头 / no day "
                "or night sheet: sheet names must start with 日间/Day "
                "or 夜间/Night",
                "missing",
            )
        )
    if problems:
        raise InvalidInput(
            f"力量表有 {len(problems)} 处问题，未导入任何内容 / the force tables have "
            f"{len(problems)} problem(s); nothing was imported",
            problems,
        )
    return Roster(tuple(p for p, _ in people.values()), tuple(ordered)), shifts


def _parse_enum(enum: type[Labelled], field: str, value: str, problems: list[Problem]) -> Any:
    if not value:
        return None
    try:
        return enum.parse(value)
    except ValueError as exc:
        problems.append(Problem((field,), str(exc)))
        return None


def _read_row(
    values: dict[str, str],
    shift: Shift,
    territory: Territory,
    unit_grid: dict[str, str],
    grid_by_name: dict[str, str],
    unit_by_name: dict[str, str],
    people: dict[str, tuple[Person, str]],
    assignments: dict[tuple[Any, ...], str],
    ordered: list[Assignment],
    where: str,
) -> list[Problem]:
    problems: list[Problem] = []
    post = _parse_enum(Post, "post", values.get("post", ""), problems)
    if post is None and not problems:
        problems.append(Problem(("post",), "职务为空 / post is empty", "missing"))
    team = _parse_enum(TeamType, "team", values.get("team", ""), problems)
    department = _parse_enum(Department, "department", values.get("department", ""), problems)
    if problems:
        return problems
    person = Person(
        number=values.get("number", ""),
        name=values.get("name", ""),
        phone=values.get("phone", "").replace(" ", ""),
        post=post,
        team=team,
        department=department,
    )
    grid = values.get("grid_code", "")
    unit = values.get("unit_code", "")
    assignment = Assignment(
        number=person.number,
        shift=shift,
        grid_code=grid_by_name.get(grid, grid) or None,
        unit_code=unit_by_name.get(unit, unit) or None,
        note=values.get("note", ""),
    )
    if assignment.unit_code and not assignment.grid_code:
        assignment = Assignment(
            assignment.number,
            shift,
            unit_grid.get(assignment.unit_code),
            assignment.unit_code,
            assignment.note,
        )
    problems.extend(person_problems(person))
    problems.extend(
        assignment_problems(person, assignment, unit_grid, (g.code for g in territory.grids))
    )
    if problems:
        return problems
    seen = people.get(person.number)
    if seen is not None and seen[0] != person:
        problems.append(
            Problem(
                ("number",),
                f"编号 {person.number} 在 {seen[1]} 已登记为不同的人员信息 / "
                f"person number {person.number} is already used at "
                f"{seen[1]} with different details",
                "duplicate",
            )
        )
        return problems
    if assignment.key in assignments:
        problems.append(
            Problem(
                ("number",),
                f"与 {assignments[assignment.key]} 重复 / duplicate of "
                f"{assignments[assignment.key]}: the same person, shift "
                "and place",
                "duplicate",
            )
        )
        return problems
    people.setdefault(person.number, (person, where))
    assignments[assignment.key] = where
    ordered.append(assignment)
    return problems


def _sort_key(person: Person, a: Assignment) -> tuple[Any, ...]:
    scope_order = {ScopeKind.CENTRE: 0, ScopeKind.GRID: 1, ScopeKind.UNIT: 2}
    return (
        scope_order[a.scope],
        a.grid_code or "",
        a.unit_code or "",
        POST_ORDER[person.post],
        person.department or "",
        person.team or "",
        person.number,
    )


def roster_to_xlsx(
    roster: Roster, territory: Territory | None, shifts: Iterable[Shift] = tuple(Shift)
) -> bytes:
    """The force tables as a workbook; an empty roster gives the blank template."""
    workbook = Workbook()
    readme = workbook.active
    assert readme is not None
    readme.title = README_TITLE
    _write_readme(readme, territory)
    codes = workbook.create_sheet(CODES_TITLE)
    _write_codes(codes, territory)
    people = {p.number: p for p in roster.people}
    for shift in shifts:
        sheet = workbook.create_sheet(SHEET_TITLES[shift])
        sheet.append([c.header for c in COLUMNS])
        rows = sorted(
            (
                (people[a.number], a)
                for a in roster.assignments
                if a.shift is shift and a.number in people
            ),
            key=lambda pa: _sort_key(*pa),
        )
        for person, a in rows:
            sheet.append(
                [
                    person.number,
                    person.name,
                    person.phone,
                    person.post.zh,
                    person.team.zh if person.team else None,
                    person.department.zh if person.department else None,
                    a.grid_code,
                    a.unit_code,
                    a.note or None,
                ]
            )
        _format_table(sheet, len(rows))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _format_table(sheet: Worksheet, count: int) -> None:
    style_header(sheet, COLUMNS)
    last = max(count + 1, 500)
    for field, source in (("post", "A"), ("team", "B"), ("department", "C")):
        position = [c.field for c in COLUMNS].index(field) + 1
        letter = get_column_letter(position)
        size = {"post": len(Post), "team": len(TeamType), "department": len(Department)}[field]
        validation = DataValidation(
            type="list",
            formula1=f"'{CODES_TITLE}'!${source}$2:${source}${size + 1}",
            allow_blank=True,
        )
        validation.add(f"{letter}2:{letter}{last}")
        sheet.add_data_validation(validation)


def _write_codes(sheet: Worksheet, territory: Territory | None) -> None:
    sheet.append(
        [
            "职务 Post",
            "队伍类型 Team",
            "部门 Department",
            "责任网格 Grid",
            "网格名称",
            "管理单元 Unit",
            "单元名称",
            "所属网格",
        ]
    )
    grids = list(territory.grids) if territory else []
    units = list(territory.units) if territory else []
    columns: list[list[Any]] = [
        [p.zh for p in Post],
        [t.zh for t in TeamType],
        [d.zh for d in Department],
        [g.code for g in grids],
        [g.name for g in grids],
        [u.code for u in units],
        [u.name for u in units],
        [u.grid_code for u in units],
    ]
    for r in range(max(len(c) for c in columns)):
        sheet.append([c[r] if r < len(c) else None for c in columns])
    for i in range(1, 9):
        sheet.column_dimensions[get_column_letter(i)].width = 20


def _write_readme(sheet: Worksheet, territory: Territory | None) -> None:
    name = territory.sub_district.name if territory else ""
    lines = [
        f"{name}网格划分及力量配置明细表 / Grid forces tables",
        "",
        "“日间”表（附件2）为8小时之内的力量，“夜间”表（附件3）为8小时之外（含周末、节假日）的力量。",
        "The Day sheet (annex 2) holds the forces of the 8 working hours; the Night sheet "
        "(annex 3) all other time, weekends and public holidays included.",
        "每行一人一岗：同一人在不同网格/单元或班次出现在多行，姓名、电话、职务须一致。",
        "One row per person and assignment; a person on several rows keeps the same details.",
        "网格、管理单元填编号（或唯一名称）；街面力量只填网格，居村力量填管理单元，城运中心人员都不填。",
        "Grid and unit take a code (or a unique name): street forces give only the grid, "
        "community forces the unit, command-centre staff neither.",
        "8小时之外：街面由社保队员、城市管理第三方人员巡查；小区由物业和社保队员巡查；七大部门备勤。",
        "At night: street patrol by the social security team and third-party staff; "
        "communities by property staff and the social security team; the seven departments on "
        "standby.",
        "职务、队伍类型、部门可用下拉选择，取值见“代码 Codes”表。导入时任何一行有误则整表不导入。",
        "Post, team and department have drop-down lists (see the Codes sheet). If any row is "
        "wrong, nothing is imported and every problem is listed.",
    ]
    for line in lines:
        sheet.append([line])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.column_dimensions["A"].width = 120
