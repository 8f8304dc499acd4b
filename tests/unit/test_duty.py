"""on_duty: who answers for a place and a responsible party on a shift."""

from datetime import date

from chengyun.domain.duty import duty_commander, leaders, on_duty
from chengyun.domain.forces import Assignment, Department, Person, Post, Roster, Shift, TeamType

G1, G2 = "310118002900001", "310118002900002"
U1 = "310118002001001"

PEOPLE = (
    Person("S1", "甲", "13900000001", Post.PATROL, team=TeamType.GRID_SUPERVISOR),
    Person("S2", "乙", "13900000002", Post.PATROL, team=TeamType.SOCIAL_SECURITY),
    Person("C1", "丙", "13900000003", Post.PATROL, team=TeamType.PROPERTY),
    Person("C2", "丁", "13900000004", Post.PATROL, team=TeamType.POPULATION),
    Person("P1", "戊", "13900000005", Post.HANDLER, department=Department.POLICE),
    Person("P2", "己", "13900000006", Post.HANDLER, department=Department.POLICE),
    Person("M1", "庚", "13900000007", Post.HANDLER, department=Department.MARKET),
    Person("L1", "辛", "13900000008", Post.UNIT_LEADER),
    Person("K2", "壬", "13900000009", Post.DUTY_COMMANDER),
    Person("K1", "癸", "13900000010", Post.DUTY_COMMANDER),
)
ASSIGNMENTS = (
    Assignment("S1", Shift.DAY, G1),
    Assignment("S2", Shift.DAY, G1),
    Assignment("S2", Shift.NIGHT, G1),
    Assignment("C1", Shift.DAY, G1, U1),
    Assignment("C1", Shift.NIGHT, G1, U1),
    Assignment("C2", Shift.DAY, G1, U1),
    Assignment("P1", Shift.DAY, G1),
    Assignment("P2", Shift.NIGHT),  # standby for the whole sub-district
    Assignment("M1", Shift.DAY, G2),
    Assignment("L1", Shift.DAY, G1, U1),
    Assignment("K1", Shift.DAY),
    Assignment("K2", Shift.DAY),
)
ROSTER = Roster(PEOPLE, ASSIGNMENTS)


def numbers(found: list) -> list[str]:
    return [o.person.number for o in found]


def test_street_forces_by_day_and_night() -> None:
    assert numbers(on_duty(ROSTER, Shift.DAY, grid_code=G1, street=True)) == ["S1", "S2"]
    assert numbers(on_duty(ROSTER, Shift.NIGHT, grid_code=G1, street=True)) == ["S2"]
    assert numbers(on_duty(ROSTER, Shift.DAY, grid_code=G2, street=True)) == []


def test_community_forces_by_team() -> None:
    assert numbers(on_duty(ROSTER, Shift.DAY, grid_code=G1, unit_code=U1)) == ["C1", "C2"]
    assert numbers(
        on_duty(ROSTER, Shift.DAY, grid_code=G1, unit_code=U1, responsible=TeamType.PROPERTY)
    ) == ["C1"]
    assert numbers(on_duty(ROSTER, Shift.NIGHT, grid_code=G1, unit_code=U1)) == ["C1"]


def test_departments_by_sector_and_night_standby() -> None:
    day = on_duty(ROSTER, Shift.DAY, grid_code=G1, responsible=Department.POLICE)
    assert numbers(day) == ["P1"] and not day[0].standby
    night = on_duty(ROSTER, Shift.NIGHT, grid_code=G2, responsible=Department.POLICE)
    assert numbers(night) == ["P2"] and night[0].standby
    assert numbers(on_duty(ROSTER, Shift.DAY, grid_code=G1, responsible=Department.MARKET)) == []


def test_leaders_are_not_patrol_but_are_found_as_leaders() -> None:
    assert "L1" not in numbers(on_duty(ROSTER, Shift.DAY, grid_code=G1, unit_code=U1))
    assert [p.number for p in leaders(ROSTER, Post.UNIT_LEADER, unit_code=U1)] == ["L1"]


def test_duty_commander_rotates_daily() -> None:
    commanders = [p for p in PEOPLE if p.post is Post.DUTY_COMMANDER]
    first = duty_commander(commanders, date(2020, 6, 24))
    second = duty_commander(commanders, date(2020, 6, 25))
    third = duty_commander(commanders, date(2020, 6, 26))
    assert first is not None and second is not None
    assert {first.number, second.number} == {"K1", "K2"}
    assert third == first
    assert duty_commander([], date(2020, 6, 24)) is None


def test_a_roster_keeps_its_answers_and_another_roster_has_its_own() -> None:
    roster = Roster(PEOPLE, ASSIGNMENTS)
    first = on_duty(roster, Shift.DAY, grid_code=G1, street=True)
    first.clear()  # the caller's list: the kept answer is not touched
    assert numbers(on_duty(roster, Shift.DAY, grid_code=G1, street=True)) == ["S1", "S2"]
    assert len(roster.answers) == 1
    without_s1 = Roster(PEOPLE, tuple(a for a in ASSIGNMENTS if a.number != "S1"))
    assert numbers(on_duty(without_s1, Shift.DAY, grid_code=G1, street=True)) == ["S2"]
    assert numbers(on_duty(roster, Shift.DAY, grid_code=G1, street=True)) == ["S1", "S2"]
