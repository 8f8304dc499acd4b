"""The rules for people and assignments (shared by the API and the spreadsheet import)."""

import pytest

from chengyun.domain.forces import (
    Assignment,
    Department,
    Person,
    Post,
    Shift,
    TeamType,
    assignment_problems,
    person_problems,
)
from chengyun.domain.labels import Labelled

GRID = "310118002900001"
UNIT = "310118002001001"
UNIT_GRID = {UNIT: GRID, "310118002010001": "310118002900002"}


def patrol(team: TeamType, number: str = "YPG1-001") -> Person:
    return Person(number, "张伟", "13900000001", Post.PATROL, team=team)


def problems_of(person: Person, assignment: Assignment) -> list[str]:
    found = person_problems(person) + assignment_problems(person, assignment, UNIT_GRID, [GRID])
    return [p.message for p in found]


def test_a_sound_street_patrol_member_has_no_problems() -> None:
    person = patrol(TeamType.GRID_SUPERVISOR)
    assert problems_of(person, Assignment(person.number, Shift.DAY, GRID)) == []


@pytest.mark.parametrize(
    ("phone", "ok"),
    [
        ("13900000001", True),
        ("021-59723456", True),
        ("02159723456", True),
        ("1390000000a", False),
        ("139-0000-0001", False),
        ("12345", False),
        ("", False),
    ],
)
def test_phone_numbers(phone: str, ok: bool) -> None:
    person = Person("YP-001", "李娜", phone, Post.OPERATOR)
    messages = [p.message for p in person_problems(person)]
    assert (messages == []) is ok, messages
    if not ok:
        assert any("phone" in m for m in messages)


def test_bad_number_and_empty_name_are_named() -> None:
    person = Person("张 1", " ", "13900000001", Post.OPERATOR)
    fields = {p.location[0] for p in person_problems(person)}
    assert fields == {"number", "name"}


def test_patrol_needs_team_and_handler_needs_department() -> None:
    assert [
        p.location for p in person_problems(Person("A1", "王", "13900000001", Post.PATROL))
    ] == [("team",)]
    assert [
        p.location for p in person_problems(Person("A1", "王", "13900000001", Post.HANDLER))
    ] == [("department",)]
    both = Person("A1", "王", "13900000001", Post.PATROL, TeamType.PROPERTY, Department.POLICE)
    assert ("department",) in [p.location for p in person_problems(both)]


def test_unknown_grid_and_unit_and_unit_of_another_grid() -> None:
    person = patrol(TeamType.PROPERTY)
    assert any(
        "unknown grid" in m
        for m in problems_of(person, Assignment("YPG1-001", Shift.DAY, "310118002900009"))
    )
    assert any(
        "unknown unit" in m
        for m in problems_of(person, Assignment("YPG1-001", Shift.DAY, GRID, "310118002099001"))
    )
    assert any(
        "belongs to grid" in m
        for m in problems_of(person, Assignment("YPG1-001", Shift.DAY, GRID, "310118002010001"))
    )


def test_night_rules_of_the_seed() -> None:
    night_street = Assignment("YPG1-001", Shift.NIGHT, GRID)
    night_unit = Assignment("YPG1-001", Shift.NIGHT, GRID, UNIT)
    assert problems_of(patrol(TeamType.SOCIAL_SECURITY), night_street) == []
    assert problems_of(patrol(TeamType.THIRD_PARTY), night_street) == []
    assert any(
        "outside working hours" in m
        for m in problems_of(patrol(TeamType.GRID_SUPERVISOR), night_street)
    )
    assert problems_of(patrol(TeamType.PROPERTY), night_unit) == []
    assert any(
        "outside working hours" in m for m in problems_of(patrol(TeamType.POPULATION), night_unit)
    )


def test_team_must_fit_the_place() -> None:
    # property staff patrol communities, not the street frontage
    street = Assignment("YPG1-001", Shift.DAY, GRID)
    assert any("does not patrol" in m for m in problems_of(patrol(TeamType.PROPERTY), street))


def test_posts_and_their_scopes() -> None:
    chief = Person("YPG1-CH", "赵", "13900000001", Post.GRID_CHIEF)
    assert problems_of(chief, Assignment("YPG1-CH", Shift.DAY, GRID)) == []
    assert problems_of(chief, Assignment("YPG1-CH", Shift.DAY)) != []
    commander = Person("YPC-01", "钱", "13900000001", Post.DUTY_COMMANDER)
    assert problems_of(commander, Assignment("YPC-01", Shift.DAY)) == []
    assert problems_of(commander, Assignment("YPC-01", Shift.DAY, GRID)) != []


def test_labels_parse_value_chinese_and_english() -> None:
    assert Post.parse("网格长") is Post.GRID_CHIEF
    assert Post.parse("grid chief") is Post.GRID_CHIEF
    assert Post.parse("grid_chief") is Post.GRID_CHIEF
    assert TeamType.parse("社保队员 Social security team") is TeamType.SOCIAL_SECURITY
    with pytest.raises(ValueError, match="not one of"):
        Department.parse("消防队")
    assert issubclass(Post, Labelled)
    assert Post.GRID_CHIEF == "grid_chief"
