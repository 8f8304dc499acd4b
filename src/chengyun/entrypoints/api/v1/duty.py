"""The duty board: who is on duty at a moment, per grid (GET /api/v1/duty?at=)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from chengyun.adapters.calendar import warn_if_unknown
from chengyun.domain.access import Permission, Principal, mask_name, mask_phone
from chengyun.domain.duty import OnDuty
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import Person
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.services.duty import load_duty_board

router = APIRouter(tags=["duty 值班"])


class PersonBrief(BaseModel):
    number: str
    name: str
    phone: str
    post: str
    post_label: str
    team: str | None = None
    department: str | None = None
    label: str
    standby: bool = False


def brief(person: Person, standby: bool = False, contacts: bool = True) -> PersonBrief:
    kind = person.team or person.department
    return PersonBrief(
        number=person.number,
        name=person.name if contacts else mask_name(person.name),
        phone=person.phone if contacts else mask_phone(person.phone),
        post=person.post.value,
        post_label=person.post.label,
        team=person.team.value if person.team else None,
        department=person.department.value if person.department else None,
        label=kind.label if kind else person.post.label,
        standby=standby,
    )


def briefs(duty: list[OnDuty], contacts: bool = True) -> list[PersonBrief]:
    return [brief(o.person, o.standby, contacts) for o in duty]


class UnitDutyOut(BaseModel):
    code: str
    name: str
    kind: str
    key: bool
    leader: list[PersonBrief]
    on_duty: list[PersonBrief]


class DepartmentDutyOut(BaseModel):
    department: str
    label: str
    on_duty: list[PersonBrief]


class GridDutyOut(BaseModel):
    code: str
    name: str
    live: bool
    live_from: str
    chiefs: list[PersonBrief]
    deputies: list[PersonBrief]
    station_chiefs: list[PersonBrief]
    street: list[PersonBrief]
    departments: list[DepartmentDutyOut]
    units: list[UnitDutyOut]


class DutyOut(BaseModel):
    at: datetime
    shift: str
    shift_label: str
    commander: PersonBrief | None
    operators: list[PersonBrief]
    grids: list[GridDutyOut]


@router.get(
    "/duty",
    response_model=DutyOut,
    summary="值班表 / Who is on duty, per grid",
)
def duty(
    platform: PlatformDep,
    principal: Annotated[Principal | None, Depends(requires(Permission.DUTY_READ))],
    at: datetime | None = Query(
        None, description="ISO time with offset, e.g. 2020-06-24T21:00:00+08:00; default now"
    ),
) -> DutyOut:
    if at is None:
        at = platform.clock.now()
    elif at.tzinfo is None:
        raise InvalidInput(
            "时间须带时区 / the time needs a UTC offset",
            [Problem(("query", "at"), "write it like 2020-06-24T21:00:00+08:00", "timezone")],
        )
    warn_if_unknown(platform.calendar, at.date())
    contacts = signed_in(principal).may(Permission.CONTACTS)
    board = load_duty_board(platform.uow(), platform.calendar, at)
    return DutyOut(
        at=board.at,
        shift=board.shift.value,
        shift_label=board.shift.label,
        commander=brief(board.commander, contacts=contacts) if board.commander else None,
        operators=briefs(board.operators, contacts),
        grids=[
            GridDutyOut(
                code=g.grid.code,
                name=g.grid.name,
                live=g.live,
                live_from=g.grid.live_from.isoformat(),
                chiefs=[brief(p, contacts=contacts) for p in g.chiefs],
                deputies=[brief(p, contacts=contacts) for p in g.deputies],
                station_chiefs=[brief(p, contacts=contacts) for p in g.station_chiefs],
                street=briefs(g.street, contacts),
                departments=[
                    DepartmentDutyOut(
                        department=d.value, label=d.label, on_duty=briefs(people, contacts)
                    )
                    for d, people in g.departments.items()
                ],
                units=[
                    UnitDutyOut(
                        code=u.unit.code,
                        name=u.unit.name,
                        kind=u.unit.kind.value,
                        key=u.unit.key,
                        leader=[brief(p, contacts=contacts) for p in u.leader],
                        on_duty=briefs(u.on_duty, contacts),
                    )
                    for u in g.units
                ],
            )
            for g in board.grids
        ],
    )
