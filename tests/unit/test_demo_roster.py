"""The demo roster staffs every grid, unit and department, by day and by night."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from importlib import resources
from typing import Any

import pytest

from chengyun.demo.roster import demo_roster
from chengyun.domain.duty import OnDuty, duty_commander, leaders, on_duty
from chengyun.domain.forces import (
    NUMBER_PATTERN,
    Department,
    Post,
    Roster,
    ScopeKind,
    Shift,
    TeamType,
    assignment_problems,
    person_problems,
)
from chengyun.domain.territory import (
    ManagementUnit,
    ResponsibilityGrid,
    SubDistrict,
    Territory,
    UnitKind,
)

DUMMY: dict[str, Any] = {"type": "Polygon", "coordinates": []}
#: Units per grid, and how many of each grid's units are villages (at the end).
UNITS_PER_GRID = (7, 6, 6, 8, 7)
VILLAGES_PER_GRID = (0, 0, 0, 3, 2)
KEY_GRIDS = 3


def small_territory() -> Territory:
    """5 grids, 34 units (29 residential, 5 villages), 19 key units in the first 3 grids."""
    grids: list[ResponsibilityGrid] = []
    units: list[ManagementUnit] = []
    serial = 0
    for g, (count, villages) in enumerate(zip(UNITS_PER_GRID, VILLAGES_PER_GRID, strict=True)):
        grid_code = f"31011800290000{g + 1}"
        grids.append(
            ResponsibilityGrid(grid_code, f"第{g + 1}责任网格", date(2020, 6 + min(g, 1), 1), DUMMY)
        )
        for i in range(count):
            serial += 1
            rural = i >= count - villages
            units.append(
                ManagementUnit(
                    code=f"310118002{serial:03d}001",
                    name=f"{'村' if rural else '居委'}{serial:02d}",
                    grid_code=grid_code,
                    kind=UnitKind.RURAL if rural else UnitKind.COMMUNITY,
                    key=g < KEY_GRIDS,
                    geometry=DUMMY,
                )
            )
    return Territory(SubDistrict("310118002", "盈浦街道"), tuple(grids), tuple(units))


def real_territory(source: str) -> Territory:
    """The demo territory, from its builder or from the data file it writes."""
    builder = pytest.importorskip("chengyun.demo.territory_builder")
    geojson = pytest.importorskip("chengyun.adapters.geo.geojson")
    if not hasattr(builder, "build_demo_territory"):
        pytest.skip("the demo territory builder has no build_demo_territory yet")
    if source == "builder":
        data = builder.build_demo_territory()
    else:
        path = resources.files("chengyun.demo").joinpath("data/territory.geojson")
        if not path.is_file():
            pytest.skip("the demo territory file has not been built yet")
        data = json.loads(path.read_text("utf-8"))
    territory: Territory = geojson.territory_from_geojson(data)
    return territory


def first_line(found: list[OnDuty]) -> list[OnDuty]:
    """``on_duty`` without a responsible party also answers with department handlers
    (for any place of their grid sector, or anywhere at night): keep the patrol."""
    return [d for d in found if d.person.team is not None]


@pytest.fixture(scope="module")
def territory() -> Territory:
    return small_territory()


@pytest.fixture(scope="module")
def roster(territory: Territory) -> Roster:
    return demo_roster(territory)


def test_the_small_territory_has_the_seed_shape(territory: Territory) -> None:
    assert len(territory.grids) == 5
    assert len(territory.units) == 34
    assert sum(u.kind is UnitKind.RURAL for u in territory.units) == 5
    assert sum(u.key for u in territory.units) == 19


def test_size_is_believable(roster: Roster) -> None:
    assert 150 <= len(roster.people) <= 300


def test_numbers_names_and_phones_are_unique(roster: Roster) -> None:
    numbers = [p.number for p in roster.people]
    assert len(set(numbers)) == len(numbers)
    assert all(NUMBER_PATTERN.match(n) for n in numbers)
    phones = [p.phone for p in roster.people]
    assert len(set(phones)) == len(phones)
    assert all(p.startswith("139") and len(p) == 11 and p.isdigit() for p in phones)
    names = [p.name for p in roster.people]
    assert len(set(names)) == len(names)


def test_every_assignment_names_a_person_once(roster: Roster) -> None:
    numbers = {p.number for p in roster.people}
    assert {a.number for a in roster.assignments} == numbers
    keys = [a.key for a in roster.assignments]
    assert len(set(keys)) == len(keys)


def _problems(roster: Roster, territory: Territory) -> list[Any]:
    unit_grid = {u.code: u.grid_code for u in territory.units}
    grid_codes = [g.code for g in territory.grids]
    problems: list[Any] = []
    for person in roster.people:
        problems.extend((person.number, p) for p in person_problems(person))
    people = {p.number: p for p in roster.people}
    for a in roster.assignments:
        problems.extend(
            (a.number, p) for p in assignment_problems(people[a.number], a, unit_grid, grid_codes)
        )
    return problems


def test_every_person_and_assignment_passes_the_rules(roster: Roster, territory: Territory) -> None:
    assert _problems(roster, territory) == []


def test_the_command_centre(roster: Roster) -> None:
    commanders = [p for p in roster.people if p.post is Post.DUTY_COMMANDER]
    operators = [p for p in roster.people if p.post is Post.OPERATOR]
    assert len(commanders) == 4
    assert len(operators) == 4
    centre = [a for a in roster.assignments if a.scope is ScopeKind.CENTRE]
    commander_rows = [a for a in centre if a.number in {p.number for p in commanders}]
    assert {a.shift for a in commander_rows} == {Shift.DAY}
    notes = " ".join(a.note for a in commander_rows)
    assert notes.count("sub-district leader") == 2
    assert notes.count("police-station leader") == 2
    for operator in operators:
        shifts = {a.shift for a in centre if a.number == operator.number}
        assert shifts == {Shift.DAY, Shift.NIGHT}
    # The daily rotation alternates between the two kinds of leader.
    first = duty_commander(commanders, date(2020, 6, 1))
    second = duty_commander(commanders, date(2020, 6, 2))
    assert first is not None and second is not None
    rows = {a.number: a.note for a in commander_rows}
    assert ("police" in rows[first.number]) != ("police" in rows[second.number])


def test_every_grid_has_its_leaders(roster: Roster, territory: Territory) -> None:
    for grid in territory.grids:
        assert len(leaders(roster, Post.GRID_CHIEF, grid_code=grid.code)) == 1
        assert len(leaders(roster, Post.DEPUTY_GRID_CHIEF, grid_code=grid.code)) == 2
        assert len(leaders(roster, Post.STATION_CHIEF, grid_code=grid.code)) == 1


def test_every_unit_has_a_leader_and_a_deputy(roster: Roster, territory: Territory) -> None:
    for unit in territory.units:
        assert len(leaders(roster, Post.UNIT_LEADER, unit_code=unit.code)) == 1
        assert len(leaders(roster, Post.STATION_DEPUTY, unit_code=unit.code)) == 1


@pytest.mark.parametrize("shift", list(Shift))
def test_every_street_frontage_is_patrolled(
    roster: Roster, territory: Territory, shift: Shift
) -> None:
    for grid in territory.grids:
        assert first_line(on_duty(roster, shift, grid_code=grid.code, street=True)), grid.code


@pytest.mark.parametrize("shift", list(Shift))
def test_every_unit_is_patrolled(roster: Roster, territory: Territory, shift: Shift) -> None:
    for unit in territory.units:
        found = first_line(on_duty(roster, shift, grid_code=unit.grid_code, unit_code=unit.code))
        low, high = (2, 4) if shift is Shift.DAY else (1, 2)
        assert low <= len(found) <= high, (unit.code, len(found))


def test_night_patrol_follows_the_seed(roster: Roster, territory: Territory) -> None:
    """Outside the 8 hours: social security and third-party staff on the street,
    property staff and social security in communities; villages have no property."""
    for grid in territory.grids:
        teams = {
            d.person.team
            for d in first_line(on_duty(roster, Shift.NIGHT, grid_code=grid.code, street=True))
        }
        assert teams <= {TeamType.SOCIAL_SECURITY, TeamType.THIRD_PARTY}
    for unit in territory.units:
        teams = {
            d.person.team
            for shift in Shift
            for d in first_line(
                on_duty(roster, shift, grid_code=unit.grid_code, unit_code=unit.code)
            )
        }
        if unit.kind is UnitKind.RURAL:
            assert TeamType.PROPERTY not in teams
        else:
            assert TeamType.PROPERTY in teams


def test_every_department_answers_by_day_per_grid_and_at_night(
    roster: Roster, territory: Territory
) -> None:
    for grid in territory.grids:
        for department in Department:
            day = on_duty(roster, Shift.DAY, grid_code=grid.code, responsible=department)
            assert 1 <= len(day) <= 2, (grid.code, department)
            assert all(not d.standby for d in day)
            night = on_duty(roster, Shift.NIGHT, grid_code=grid.code, responsible=department)
            assert night, (grid.code, department)
            assert all(d.standby for d in night)
    standby = [
        a
        for a in roster.assignments
        if a.shift is Shift.NIGHT and (p := roster.person(a.number)) and p.post is Post.HANDLER
    ]
    assert all(a.grid_code is None for a in standby)
    departments = Counter(p.department for a in standby if (p := roster.person(a.number)))
    assert departments == Counter(set(Department))


def test_it_survives_the_spreadsheet_round_trip(roster: Roster, territory: Territory) -> None:
    xlsx = pytest.importorskip("chengyun.adapters.spreadsheets.forces_xlsx")
    back, shifts = xlsx.roster_from_xlsx(xlsx.roster_to_xlsx(roster, territory), territory)
    assert set(shifts) == set(Shift)
    assert set(back.people) == set(roster.people)
    assert set(back.assignments) == set(roster.assignments)


def test_it_is_deterministic(territory: Territory, roster: Roster) -> None:
    assert demo_roster(territory) == roster
    assert demo_roster(small_territory()) == roster


@pytest.mark.parametrize("source", ["builder", "file"])
def test_the_real_demo_territory(source: str) -> None:
    territory = real_territory(source)
    roster = demo_roster(territory)
    assert 150 <= len(roster.people) <= 300
    assert _problems(roster, territory) == []
    assert len({p.number for p in roster.people}) == len(roster.people)
    for grid in territory.grids:
        for shift in Shift:
            assert first_line(on_duty(roster, shift, grid_code=grid.code, street=True))
            for department in Department:
                assert on_duty(roster, shift, grid_code=grid.code, responsible=department)
    for unit in territory.units:
        assert leaders(roster, Post.UNIT_LEADER, unit_code=unit.code)
        for shift in Shift:
            found = on_duty(roster, shift, grid_code=unit.grid_code, unit_code=unit.code)
            assert first_line(found)
