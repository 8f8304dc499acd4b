"""Use cases of the forces: register a person, import and export the day/night tables."""

from __future__ import annotations

from collections.abc import Sequence

from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.forces import (
    Assignment,
    Person,
    Roster,
    Shift,
    assignment_problems,
    person_problems,
)
from chengyun.domain.territory import Territory
from chengyun.services.unit_of_work import UnitOfWork


def _territory(uow: UnitOfWork) -> Territory:
    territory = uow.territory.get()
    if territory is None:
        raise InvalidInput(
            "请先导入辖区数据 / import the territory before the forces",
            [Problem(("territory",), "run `chengyun territory import FILE.geojson`", "missing")],
        )
    return territory


def check_person(
    person: Person, assignments: Sequence[Assignment], territory: Territory
) -> list[Problem]:
    """The same rules the spreadsheet import applies, located for an API body."""
    problems = list(person_problems(person))
    unit_grid = {u.code: u.grid_code for u in territory.units}
    grid_codes = [g.code for g in territory.grids]
    seen: set[tuple[object, ...]] = set()
    for i, assignment in enumerate(assignments):
        for problem in assignment_problems(person, assignment, unit_grid, grid_codes):
            problems.append(
                Problem(("assignments", i, *problem.location), problem.message, problem.kind)
            )
        if assignment.key in seen:
            problems.append(
                Problem(
                    ("assignments", i),
                    "重复的分配 / duplicate assignment: the same shift and place twice",
                    "duplicate",
                )
            )
        seen.add(assignment.key)
    return problems


def register_person(
    uow: UnitOfWork, person: Person, assignments: Sequence[Assignment], *, replace: bool = False
) -> Person:
    """Add a person (or, with ``replace``, update one) with their assignments."""
    with uow:
        territory = _territory(uow)
        existing = uow.forces.get(person.number)
        problems = check_person(person, assignments, territory)
        if existing is not None and not replace:
            problems.insert(
                0,
                Problem(
                    ("number",),
                    f"编号 {person.number} 已被 {existing.name} 使用 / "
                    f"person number {person.number} is already "
                    "registered",
                    "duplicate",
                ),
            )
        if existing is None and replace:
            raise NotFound(
                f"没有编号为 {person.number} 的人员 / no person numbered {person.number}"
            )
        if problems:
            raise InvalidInput("人员信息有误 / the person cannot be saved as given", problems)
        uow.forces.save_person(person, assignments)
        uow.commit()
    return person


def remove_person(uow: UnitOfWork, number: str) -> None:
    with uow:
        if not uow.forces.delete_person(number):
            raise NotFound(f"没有编号为 {number} 的人员 / no person numbered {number}")
        uow.commit()


def import_roster(uow: UnitOfWork, roster: Roster, shifts: Sequence[Shift]) -> Roster:
    """Replace the tables of ``shifts`` with ``roster`` (already checked row by row)."""
    with uow:
        uow.forces.replace(roster, shifts)
        uow.commit()
    return roster
