"""People and the day/night force tables: list, register, edit, import and export .xlsx."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from pydantic import BaseModel, Field

from chengyun.adapters.spreadsheets.forces_xlsx import roster_from_xlsx, roster_to_xlsx
from chengyun.domain.access import Permission, Principal, mask_name, mask_phone
from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.forces import Assignment, Department, Person, Post, Shift, TeamType
from chengyun.entrypoints.api.deps import PlatformDep, UowDep
from chengyun.entrypoints.api.limits import MAX_OFFSET
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.services.accounts import audit
from chengyun.services.forces import import_roster, register_person, remove_person
from chengyun.services.territory import current_territory

router = APIRouter(tags=["forces 力量"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX_BYTES = 10 * 1024 * 1024


class AssignmentBody(BaseModel):
    shift: Shift = Field(description="day 日间 / night 夜间")
    grid_code: str | None = Field(None, description="责任网格编号; street forces give only this")
    unit_code: str | None = Field(None, description="管理单元编号; community forces give this")
    note: str = Field("", max_length=200)


class PersonBody(BaseModel):
    number: str = Field(description="编号, e.g. YPG1-001", max_length=32)
    name: str = Field(max_length=40)
    phone: str = Field(max_length=20, description="11-digit mobile or landline with area code")
    post: Post
    team: TeamType | None = None
    department: Department | None = None
    assignments: list[AssignmentBody] = Field(default_factory=list)


class PersonOut(PersonBody):
    post_label: str
    team_label: str | None = None
    department_label: str | None = None


def _out(person: Person, assignments: list[Assignment]) -> PersonOut:
    return PersonOut(
        number=person.number,
        name=person.name,
        phone=person.phone,
        post=person.post,
        post_label=person.post.label,
        team=person.team,
        team_label=person.team.label if person.team else None,
        department=person.department,
        department_label=person.department.label if person.department else None,
        assignments=[
            AssignmentBody(shift=a.shift, grid_code=a.grid_code, unit_code=a.unit_code, note=a.note)
            for a in assignments
        ],
    )


def masked(person: PersonOut) -> PersonOut:
    """A person as lists show them to roles that may not see contacts."""
    return person.model_copy(
        update={"name": mask_name(person.name), "phone": mask_phone(person.phone)}
    )


def _domain(body: PersonBody, number: str | None = None) -> tuple[Person, list[Assignment]]:
    person = Person(
        number=(number or body.number).strip(),
        name=body.name.strip(),
        phone=body.phone.replace(" ", ""),
        post=body.post,
        team=body.team,
        department=body.department,
    )
    assignments = [
        Assignment(person.number, a.shift, a.grid_code or None, a.unit_code or None, a.note)
        for a in body.assignments
    ]
    return person, assignments


class PeoplePage(BaseModel):
    total: int
    items: list[PersonOut]


@router.get(
    "/people",
    response_model=PeoplePage,
    summary="人员列表 / People, filtered",
)
def list_people(
    uow: UowDep,
    principal: Annotated[Principal | None, Depends(requires(Permission.FORCES_READ))],
    grid: str | None = Query(None, description="assigned in this grid (or one of its units)"),
    unit: str | None = None,
    post: Post | None = None,
    team: TeamType | None = None,
    department: Department | None = None,
    shift: Shift | None = None,
    q: str | None = Query(None, description="text in number or name"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> PeoplePage:
    with uow:
        roster = uow.forces.roster()
    by_person: dict[str, list[Assignment]] = {}
    for a in roster.assignments:
        by_person.setdefault(a.number, []).append(a)
    selected = []
    for person in roster.people:
        mine = by_person.get(person.number, [])
        if post and person.post is not post:
            continue
        if team and person.team is not team:
            continue
        if department and person.department is not department:
            continue
        if q and q not in person.number and q not in person.name:
            continue
        places = [
            a
            for a in mine
            if (shift is None or a.shift is shift)
            and (grid is None or a.grid_code == grid)
            and (unit is None or a.unit_code == unit)
        ]
        if (grid or unit or shift) and not places:
            continue
        selected.append(_out(person, mine))
    page = selected[offset : offset + limit]
    if not signed_in(principal).may(Permission.CONTACTS):
        page = [masked(p) for p in page]
    return PeoplePage(total=len(selected), items=page)


@router.get(
    "/people/{number}",
    response_model=PersonOut,
    summary="人员 / One person",
)
def get_person(
    number: str,
    platform: PlatformDep,
    uow: UowDep,
    principal: Annotated[Principal | None, Depends(requires(Permission.FORCES_READ))],
) -> PersonOut:
    """Full name and phone for roles that may see contacts (each view is audited);
    masked for the others."""
    with uow:
        person = uow.forces.get(number)
        assignments = uow.forces.assignments_of(number)
    if person is None:
        raise NotFound(f"没有编号为 {number} 的人员 / no person numbered {number}")
    who = signed_in(principal)
    if not who.may(Permission.CONTACTS):
        return masked(_out(person, assignments))
    audit(platform.uow(), platform.clock, who.username, "contact.view", f"person:{number}")
    return _out(person, assignments)


@router.post(
    "/people",
    dependencies=[Depends(requires(Permission.FORCES_WRITE))],
    response_model=PersonOut,
    status_code=201,
    summary="登记人员 / Register a person with their assignments",
)
def create_person(body: PersonBody, uow: UowDep) -> PersonOut:
    person, assignments = _domain(body)
    register_person(uow, person, assignments)
    return _out(person, assignments)


@router.put(
    "/people/{number}",
    dependencies=[Depends(requires(Permission.FORCES_WRITE))],
    response_model=PersonOut,
    summary="修改人员 / Update a person and replace their assignments",
)
def update_person(number: str, body: PersonBody, uow: UowDep) -> PersonOut:
    if body.number.strip() != number:
        raise InvalidInput(
            "编号不能修改 / the number cannot change",
            [Problem(("body", "number"), f"must be {number}")],
        )
    person, assignments = _domain(body, number)
    register_person(uow, person, assignments, replace=True)
    return _out(person, assignments)


@router.delete(
    "/people/{number}",
    dependencies=[Depends(requires(Permission.FORCES_WRITE))],
    status_code=204,
    summary="删除人员 / Remove a person",
)
def delete_person(number: str, uow: UowDep) -> Response:
    remove_person(uow, number)
    return Response(status_code=204)


@router.get(
    "/forces.xlsx",
    dependencies=[Depends(requires(Permission.CONTACTS))],
    summary="导出力量表 / Export the day and night tables (.xlsx)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def export_forces(
    uow: UowDep,
    template: bool = Query(False, description="a blank template with the code lists"),
) -> Response:
    territory = current_territory(uow)
    with uow:
        roster = uow.forces.roster()
    if template:
        roster = type(roster)((), ())
    data = roster_to_xlsx(roster, territory)
    name = "forces-template.xlsx" if template else "forces.xlsx"
    return Response(
        data, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


class RosterImported(BaseModel):
    shifts: list[Shift]
    people: int
    assignments: int


@router.post(
    "/forces.xlsx",
    dependencies=[Depends(requires(Permission.FORCES_WRITE))],
    response_model=RosterImported,
    summary="导入力量表 / Import the day and/or night tables (.xlsx, all or nothing)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_forces(
    uow: UowDep, file: Annotated[UploadFile, File(description="the .xlsx workbook")]
) -> RosterImported:
    data = await file.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise InvalidInput(
            "文件过大 / file too large",
            [Problem(("file",), "the workbook may be at most 10 MB", "size")],
        )
    territory = current_territory(uow)
    roster, shifts = roster_from_xlsx(data, territory)
    import_roster(uow, roster, shifts)
    return RosterImported(
        shifts=shifts, people=len(roster.people), assignments=len(roster.assignments)
    )
