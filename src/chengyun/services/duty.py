"""Who is on duty now, per grid: the duty board the command centre reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chengyun.domain.duty import OnDuty, duty_commander, leaders, on_duty
from chengyun.domain.forces import Department, Person, Post, Roster, Shift
from chengyun.domain.territory import ManagementUnit, ResponsibilityGrid, SubDistrict, Territory
from chengyun.domain.working_time import WorkingCalendar, as_china_time
from chengyun.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class UnitDuty:
    unit: ManagementUnit
    leader: list[Person]
    on_duty: list[OnDuty]


@dataclass(frozen=True)
class GridDuty:
    grid: ResponsibilityGrid
    live: bool
    chiefs: list[Person]
    deputies: list[Person]
    station_chiefs: list[Person]
    street: list[OnDuty]
    departments: dict[Department, list[OnDuty]]
    units: list[UnitDuty]


@dataclass(frozen=True)
class DutyBoard:
    at: datetime
    shift: Shift
    commander: Person | None
    operators: list[OnDuty]
    grids: list[GridDuty]


def duty_board(
    territory: Territory, roster: Roster, calendar: WorkingCalendar, at: datetime
) -> DutyBoard:
    """The whole board for one moment (pure: the caller loads territory and roster)."""
    local = as_china_time(at)
    shift = calendar.shift_at(local)
    people = {p.number: p for p in roster.people}
    commanders = [p for p in roster.people if p.post is Post.DUTY_COMMANDER]
    operators = [
        OnDuty(people[a.number], a)
        for a in roster.assignments
        if a.shift is shift and a.number in people and people[a.number].post is Post.OPERATOR
    ]
    grids = []
    for grid in territory.grids:
        units = [
            UnitDuty(
                unit=unit,
                leader=leaders(roster, Post.UNIT_LEADER, unit_code=unit.code),
                on_duty=on_duty(roster, shift, grid_code=grid.code, unit_code=unit.code),
            )
            for unit in territory.units_of(grid.code)
        ]
        departments = {
            d: on_duty(roster, shift, grid_code=grid.code, responsible=d) for d in Department
        }
        grids.append(
            GridDuty(
                grid=grid,
                live=grid.is_live(local.date()),
                chiefs=leaders(roster, Post.GRID_CHIEF, grid_code=grid.code),
                deputies=leaders(roster, Post.DEPUTY_GRID_CHIEF, grid_code=grid.code),
                station_chiefs=leaders(roster, Post.STATION_CHIEF, grid_code=grid.code),
                street=on_duty(roster, shift, grid_code=grid.code, street=True),
                departments=departments,
                units=units,
            )
        )
    return DutyBoard(
        at=local,
        shift=shift,
        commander=duty_commander(commanders, local.date()),
        operators=sorted(operators, key=lambda o: o.person.number),
        grids=grids,
    )


def load_duty_board(uow: UnitOfWork, calendar: WorkingCalendar, at: datetime) -> DutyBoard:
    with uow.reader() as uow:
        territory = uow.territory.get()
        roster = uow.forces.roster()
    if territory is None:
        territory = Territory(sub_district=SubDistrict("", ""), grids=(), units=())
    return duty_board(territory, roster, calendar, at)
