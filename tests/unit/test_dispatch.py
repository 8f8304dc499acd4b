"""Flat dispatch: place, time and category decide; the fewest open cases wins."""

from chengyun.domain.dispatch import Place, choose, decide, responsible_for
from chengyun.domain.duty import OnDuty
from chengyun.domain.forces import Assignment, Department, Person, Post, Roster, Shift, TeamType

G1, U1 = "310118002900001", "310118002001001"
PEOPLE = (
    Person("D1", "甲", "13900000001", Post.PATROL, team=TeamType.MAINTENANCE),
    Person("D2", "乙", "13900000002", Post.PATROL, team=TeamType.MAINTENANCE),
    Person("N1", "丙", "13900000003", Post.PATROL, team=TeamType.SOCIAL_SECURITY),
    Person("P1", "丁", "13900000004", Post.PATROL, team=TeamType.PROPERTY),
    Person("C1", "戊", "13900000005", Post.HANDLER, department=Department.URBAN_MANAGEMENT),
)
ROSTER = Roster(
    PEOPLE,
    (
        Assignment("D1", Shift.DAY, G1),
        Assignment("D2", Shift.DAY, G1),
        Assignment("N1", Shift.NIGHT, G1),
        Assignment("P1", Shift.NIGHT, G1, U1),
        Assignment("C1", Shift.DAY, G1),
    ),
)
STREET = Place(G1, U1, street=True)


def test_fewest_open_cases_then_lowest_number() -> None:
    day = decide(ROSTER, Shift.DAY, STREET, TeamType.MAINTENANCE, {"D1": 3, "D2": 1})
    assert day.assignee is not None and day.assignee.number == "D2"
    tie = decide(ROSTER, Shift.DAY, STREET, TeamType.MAINTENANCE, {})
    assert tie.assignee is not None and tie.assignee.number == "D1"


def test_at_night_the_night_table_answers() -> None:
    night = decide(ROSTER, Shift.NIGHT, STREET, TeamType.MAINTENANCE, {})
    assert night.assignee is not None and night.assignee.number == "N1"  # fallback first-line
    assert "no maintenance" in night.reason.lower() or "first-line" in night.reason
    community = decide(ROSTER, Shift.NIGHT, Place(G1, U1, street=False), TeamType.PROPERTY, {})
    assert community.assignee is not None and community.assignee.number == "P1"


def test_departments_and_no_one_on_duty() -> None:
    by_day = decide(ROSTER, Shift.DAY, STREET, Department.URBAN_MANAGEMENT, {})
    assert by_day.assignee is not None and by_day.assignee.number == "C1"
    at_night = decide(ROSTER, Shift.NIGHT, STREET, Department.URBAN_MANAGEMENT, {})
    assert at_night.assignee is None and "command-centre queue" in at_night.reason


def test_a_named_owner_department_routes_the_case() -> None:
    assert responsible_for(TeamType.MAINTENANCE, "房管所") is Department.HOUSING
    assert responsible_for(TeamType.MAINTENANCE, "housing") is Department.HOUSING
    assert responsible_for(TeamType.MAINTENANCE, "某物业公司") is TeamType.MAINTENANCE
    assert responsible_for(TeamType.MAINTENANCE, None) is TeamType.MAINTENANCE
    assert choose([], {}) is None
    assert choose([OnDuty(PEOPLE[0], ROSTER.assignments[0])], {}) == PEOPLE[0]
