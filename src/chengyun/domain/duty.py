"""Who is on duty (在岗) at a moment: the question dispatch asks.

Given the roster and the shift in force, ``on_duty`` answers for a place (a grid's
street frontage or a unit) and a responsible party (a first-line team type or a
department). At night the seven departments keep people on standby (备勤).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from chengyun.domain.forces import (
    LEADER_POSTS,
    NIGHT_COMMUNITY_TEAMS,
    NIGHT_STREET_TEAMS,
    Assignment,
    Department,
    Person,
    Post,
    Roster,
    ScopeKind,
    Shift,
    TeamType,
)

Responsible = TeamType | Department


@dataclass(frozen=True)
class OnDuty:
    """A person on duty through one of their assignments; ``standby`` at night for departments."""

    person: Person
    assignment: Assignment
    standby: bool = False


def _index(roster: Roster) -> dict[str, Person]:
    return {p.number: p for p in roster.people}


def on_duty(
    roster: Roster,
    shift: Shift,
    *,
    grid_code: str,
    unit_code: str | None = None,
    street: bool = False,
    responsible: Responsible | None = None,
) -> list[OnDuty]:
    """The people on duty for a place and a responsible party, sorted by number.

    ``street`` selects the grid's joint-duty workstation (street frontage); otherwise
    the unit's community workstation; without ``responsible``, all first-line forces
    there. Departments answer per grid sector, or across the sub-district for
    assignments without a grid. Worked out once per roster and question.
    """
    question = ("on_duty", shift, grid_code, unit_code, street, responsible)
    found = roster.answers.get(question)
    if found is None:
        found = roster.answers[question] = tuple(
            _on_duty(roster, shift, grid_code, unit_code, street, responsible)
        )
    return list(found)


def _on_duty(
    roster: Roster,
    shift: Shift,
    grid_code: str,
    unit_code: str | None,
    street: bool,
    responsible: Responsible | None,
) -> list[OnDuty]:
    people = _index(roster)
    found: dict[str, OnDuty] = {}
    for assignment in roster.assignments:
        if assignment.shift is not shift:
            continue
        person = people.get(assignment.number)
        if person is None or person.post in LEADER_POSTS:
            continue
        if isinstance(responsible, Department):
            if person.department is not responsible:
                continue
            if assignment.grid_code not in (None, grid_code):
                continue
            found.setdefault(
                person.number, OnDuty(person, assignment, standby=shift is Shift.NIGHT)
            )
            continue
        if person.team is None or (responsible is not None and person.team is not responsible):
            continue
        if street:
            if assignment.scope is not ScopeKind.GRID or assignment.grid_code != grid_code:
                continue
            if shift is Shift.NIGHT and person.team not in NIGHT_STREET_TEAMS:
                continue
        else:
            if assignment.scope is not ScopeKind.UNIT or assignment.unit_code != unit_code:
                continue
            if shift is Shift.NIGHT and person.team not in NIGHT_COMMUNITY_TEAMS:
                continue
        found.setdefault(person.number, OnDuty(person, assignment))
    return [found[n] for n in sorted(found)]


def leaders(
    roster: Roster, post: Post, *, grid_code: str | None = None, unit_code: str | None = None
) -> list[Person]:
    """The holders of a coordinating post for a grid or unit (any shift), by number."""
    people = _index(roster)
    numbers = {
        a.number
        for a in roster.assignments
        if (grid_code is None or a.grid_code == grid_code)
        and (unit_code is None or a.unit_code == unit_code)
        and (p := people.get(a.number)) is not None
        and p.post is post
    }
    return [people[n] for n in sorted(numbers)]


def duty_commander(commanders: Iterable[Person], on: date) -> Person | None:
    """The duty commander (指挥长) for a day: they rotate daily in order of number,
    sub-district and police-station leaders alike."""
    ordered = sorted(commanders, key=lambda p: p.number)
    if not ordered:
        return None
    return ordered[on.toordinal() % len(ordered)]
