"""Flat dispatch (扁平化派单): from a case's place, time and category to the person on duty.

By position → grid, unit, street or not; by time → the day or night table; by category
→ the subclass's responsible team type or department (a component's owner may name a
department instead); among those on duty, the one with the fewest open cases (ties by
number). No one on duty → nobody: the case waits in the command centre's queue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chengyun.domain.duty import OnDuty, on_duty
from chengyun.domain.forces import Department, Person, Post, Roster, Shift, TeamType
from chengyun.domain.taxonomy import Responsible

#: A component's owner or maintainer (权属单位) that is one of the seven departments
#: routes the case there; an unknown or missing owner falls back to the subclass's rule.
OWNER_NAMES: Mapping[str, Department] = {
    **{d.zh: d for d in Department},
    **{d.value: d for d in Department},
    **{d.en.casefold(): d for d in Department},
}


@dataclass(frozen=True)
class Place:
    """Where a case is, as dispatch needs it."""

    grid_code: str
    unit_code: str | None
    street: bool


@dataclass(frozen=True)
class DispatchDecision:
    """The outcome of a dispatch decision, with the reason an operator can read."""

    assignee: Person | None
    responsible: Responsible
    shift: Shift
    candidates: int
    reason: str


def responsible_for(rule: Responsible, owner: str | None = None) -> Responsible:
    """The party a case goes to: a named owner department wins over the rule."""
    if owner:
        department = OWNER_NAMES.get(owner.strip()) or OWNER_NAMES.get(owner.strip().casefold())
        if department is not None:
            return department
    return rule


def choose(candidates: Sequence[OnDuty], open_cases: Mapping[str, int]) -> Person | None:
    """The candidate with the fewest open cases; ties go to the lower number."""
    if not candidates:
        return None
    best = min(candidates, key=lambda o: (open_cases.get(o.person.number, 0), o.person.number))
    return best.person


def candidates(
    roster: Roster, shift: Shift, place: Place, responsible: Responsible
) -> tuple[list[OnDuty], str]:
    """Who could take a case at ``place`` on ``shift``, and why them."""
    street = place.street or place.unit_code is None
    found = on_duty(
        roster,
        shift,
        grid_code=place.grid_code,
        unit_code=place.unit_code,
        street=street,
        responsible=responsible,
    )
    if found or not isinstance(responsible, TeamType):
        return found, f"{responsible.zh}在岗 / {responsible.en} on duty"
    # The rule's team is not on this table here (e.g. at night): any first-line force.
    found = on_duty(
        roster, shift, grid_code=place.grid_code, unit_code=place.unit_code, street=street
    )
    return found, (
        f"{responsible.zh}不在岗，派给在岗先行力量 / no {responsible.en.lower()} on duty: "
        "first-line force on duty"
    )


def decide(
    roster: Roster,
    shift: Shift,
    place: Place,
    responsible: Responsible,
    open_cases: Mapping[str, int],
) -> DispatchDecision:
    """Pick the assignee for a case at ``place`` on ``shift``; ``open_cases`` counts the
    open cases of (at least) every candidate."""
    found, reason = candidates(roster, shift, place, responsible)
    assignee = choose(found, open_cases)
    if assignee is None:
        reason = (
            f"无人在岗（{responsible.zh}，{shift.zh}）/ no one on duty "
            f"({responsible.en}, {shift.en.lower()}): command-centre queue"
        )
    return DispatchDecision(assignee, responsible, shift, len(found), reason)


def coordinators(roster: Roster, post: Post, grid_code: str | None) -> list[Person]:
    """Holders of ``post`` for a grid (or, without a grid, anywhere), by number."""
    people = {p.number: p for p in roster.people}
    numbers = {
        a.number
        for a in roster.assignments
        if (p := people.get(a.number)) is not None
        and p.post is post
        and (grid_code is None or a.grid_code in (grid_code, None))
    }
    return [people[n] for n in sorted(numbers)]


def department_of(roster: Roster, number: str | None) -> Department | None:
    person = roster.person(number) if number else None
    return person.department if person else None


__all__ = [
    "DispatchDecision",
    "Place",
    "candidates",
    "choose",
    "coordinators",
    "decide",
    "department_of",
    "responsible_for",
]
