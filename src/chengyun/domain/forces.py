"""People and forces (力量): who works where, in which team, on which shift.

A person has a number (编号) registered in the platform, a post (职务) and,
for first-line staff, a team type (队伍类型) or, for enforcement staff, one of
the seven departments (七大部门). An assignment places a person on the day or
night table for a scope: the command centre, a grid (its joint-duty
workstation, which covers the street frontage) or a management unit (its
community workstation).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from chengyun.domain.errors import Problem
from chengyun.domain.labels import Labelled

NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{1,31}$")
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_PATTERN = re.compile(r"^0\d{2,3}-?\d{7,8}$")


class Post(Labelled):
    """A person's post (职务) in the grid organisation."""

    DUTY_COMMANDER = "duty_commander", "指挥长", "Duty commander"
    OPERATOR = "operator", "城运中心值班员", "Command-centre operator"
    GRID_CHIEF = "grid_chief", "网格长", "Grid chief"
    DEPUTY_GRID_CHIEF = "deputy_grid_chief", "副网格长", "Deputy grid chief"
    STATION_CHIEF = "station_chief", "联勤联动工作站站长", "Joint-duty station chief"
    UNIT_LEADER = "unit_leader", "管理单元负责人", "Unit leader"
    STATION_DEPUTY = "station_deputy", "居村工作站副站长", "Community station deputy"
    STATION_MEMBER = "station_member", "工作站成员", "Workstation member"
    PATROL = "patrol", "先行巡查处置队员", "Patrol and first-response member"
    HANDLER = "handler", "部门处置人员", "Department handler"


class TeamType(Labelled):
    """First-line team type (先行巡查处置力量)."""

    GRID_SUPERVISOR = "grid_supervisor", "网格监督员", "Grid supervisor"
    NON_MOTOR = "non_motor", "非机动车管理人员", "Non-motor-vehicle manager"
    THIRD_PARTY = "third_party", "城市管理第三方人员", "Third-party city-management staff"
    MAINTENANCE = "maintenance", "一体化养护公司", "Integrated maintenance company"
    SOCIAL_SECURITY = "social_security", "社保队员", "Social security team"
    PUBLIC_ORDER = "public_order", "综治协管员", "Public-order assistant"
    POPULATION = "population", "人口协管员", "Population assistant"
    PROPERTY = "property", "物业人员", "Property staff"


class Department(Labelled):
    """The seven enforcement departments (后期综合管理（执法）力量, 七大部门)."""

    POLICE = "police", "公安派出所", "Police station"
    URBAN_MANAGEMENT = "urban_management", "城管中队", "Urban-management squadron"
    MARKET = "market", "市场所", "Market supervision office"
    HOUSING = "housing", "房管所", "Housing office"
    SERVICE = "service", "服务办", "Service office"
    CLEANING = "cleaning", "凌浦保洁（街面非机动车管理）", "Street cleaning company"
    SAFETY = "safety", "安管中心", "Safety management centre"


class Shift(Labelled):
    """Which table an assignment is on: the 8 working hours, or all other time."""

    DAY = "day", "日间", "Day"
    NIGHT = "night", "夜间", "Night"


class ScopeKind(Labelled):
    """Where an assignment applies."""

    CENTRE = "centre", "城运中心", "Command centre"
    GRID = "grid", "责任网格（联勤联动工作站）", "Grid (joint-duty workstation)"
    UNIT = "unit", "管理单元（居村网格工作站）", "Unit (community workstation)"


#: Team types that patrol the street frontage and those that patrol communities.
STREET_TEAMS = frozenset(
    {
        TeamType.GRID_SUPERVISOR,
        TeamType.NON_MOTOR,
        TeamType.THIRD_PARTY,
        TeamType.MAINTENANCE,
        TeamType.SOCIAL_SECURITY,
    }
)
COMMUNITY_TEAMS = frozenset(
    {
        TeamType.GRID_SUPERVISOR,
        TeamType.PUBLIC_ORDER,
        TeamType.POPULATION,
        TeamType.PROPERTY,
        TeamType.SOCIAL_SECURITY,
    }
)
#: The seed's night rules (8 小时之外): street patrol by the social security team
#: and third-party staff; communities by property staff and the social security team.
NIGHT_STREET_TEAMS = frozenset({TeamType.SOCIAL_SECURITY, TeamType.THIRD_PARTY})
NIGHT_COMMUNITY_TEAMS = frozenset({TeamType.PROPERTY, TeamType.SOCIAL_SECURITY})

#: Posts that coordinate rather than patrol: reachable at any hour, on no shift rota.
LEADER_POSTS = frozenset(
    {Post.GRID_CHIEF, Post.DEPUTY_GRID_CHIEF, Post.STATION_CHIEF, Post.UNIT_LEADER}
)


@dataclass(frozen=True)
class Person:
    """A person registered in the platform, identified by their number (编号)."""

    number: str
    name: str
    phone: str
    post: Post
    team: TeamType | None = None
    department: Department | None = None


@dataclass(frozen=True)
class Assignment:
    """One row of the day or night table: a person on a shift for a scope."""

    number: str
    shift: Shift
    grid_code: str | None = None
    unit_code: str | None = None
    note: str = ""

    @property
    def scope(self) -> ScopeKind:
        if self.unit_code:
            return ScopeKind.UNIT
        if self.grid_code:
            return ScopeKind.GRID
        return ScopeKind.CENTRE

    @property
    def key(self) -> tuple[str, Shift, str | None, str | None]:
        return (self.number, self.shift, self.grid_code, self.unit_code)


@dataclass(frozen=True)
class Roster:
    """The people and their day and night assignments, as one value."""

    people: tuple[Person, ...]
    assignments: tuple[Assignment, ...]

    def person(self, number: str) -> Person | None:
        return self._by_number.get(number)

    @cached_property
    def _by_number(self) -> dict[str, Person]:
        # built on the first look-up: a roster is read once and then asked many times
        return {p.number: p for p in self.people}

    @cached_property
    def answers(self) -> dict[Hashable, Any]:
        """Answers worked out from this roster, kept with it (it never changes) by the
        question asked: who is on duty for a place and a responsible party
        (``duty.on_duty``), which every report dispatched there asks again."""
        return {}


def person_problems(person: Person) -> list[Problem]:
    """The rules every person must satisfy, wherever they come from (API or Excel)."""
    problems: list[Problem] = []
    if not NUMBER_PATTERN.match(person.number):
        problems.append(
            Problem(
                ("number",),
                "编号须为2–32位字母、数字或连字符 / number must be 2–32 letters, digits or "
                f"hyphens, got {person.number!r}",
            )
        )
    if not person.name.strip():
        problems.append(Problem(("name",), "姓名为空 / name is empty", "missing"))
    elif len(person.name) > 40:
        problems.append(Problem(("name",), "姓名过长 / name longer than 40 characters"))
    phone = person.phone.replace(" ", "")
    if not phone:
        problems.append(Problem(("phone",), "电话为空 / phone is empty", "missing"))
    elif not (MOBILE_PATTERN.match(phone) or LANDLINE_PATTERN.match(phone)):
        problems.append(
            Problem(
                ("phone",),
                "电话号码须为11位手机号或带区号的固定电话，只含数字 / phone must be an 11-digit "
                f"mobile number or a landline with area code, digits only; got {person.phone!r}",
            )
        )
    if person.post is Post.PATROL and person.team is None:
        problems.append(
            Problem(("team",), "巡查队员须填写队伍类型 / a patrol member needs a team type")
        )
    if person.post is Post.HANDLER and person.department is None:
        problems.append(
            Problem(
                ("department",), "部门处置人员须填写部门 / a department handler needs a department"
            )
        )
    if person.team is not None and person.department is not None:
        problems.append(
            Problem(
                ("department",),
                "队伍类型与部门只能填一项 / give a team type or a department, not both",
            )
        )
    return problems


def assignment_problems(
    person: Person,
    assignment: Assignment,
    unit_grid: dict[str, str],
    grid_codes: Iterable[str],
) -> list[Problem]:
    """The rules for one assignment, given the territory (``unit_grid`` maps unit → grid)."""
    problems: list[Problem] = []
    grids = set(grid_codes)
    if assignment.grid_code and assignment.grid_code not in grids:
        problems.append(
            Problem(
                ("grid_code",),
                f"网格编号 {assignment.grid_code} 不存在 / unknown grid code {assignment.grid_code}",
                "reference",
            )
        )
    if assignment.unit_code:
        owner = unit_grid.get(assignment.unit_code)
        if owner is None:
            problems.append(
                Problem(
                    ("unit_code",),
                    f"管理单元编号 {assignment.unit_code} 不存在 / unknown unit code "
                    f"{assignment.unit_code}",
                    "reference",
                )
            )
        elif assignment.grid_code and owner != assignment.grid_code:
            problems.append(
                Problem(
                    ("unit_code",),
                    f"管理单元 {assignment.unit_code} 属于网格 {owner}，不属于 "
                    f"{assignment.grid_code} / unit {assignment.unit_code} belongs to grid {owner}",
                    "reference",
                )
            )
    scope = assignment.scope
    if person.post in (Post.DUTY_COMMANDER, Post.OPERATOR) and scope is not ScopeKind.CENTRE:
        problems.append(
            Problem(
                ("grid_code",),
                "指挥长和值班员属于城运中心，不填网格 / the duty commander and operators belong to "
                "the command centre: leave grid and unit empty",
            )
        )
    if person.post in (Post.GRID_CHIEF, Post.DEPUTY_GRID_CHIEF, Post.STATION_CHIEF) and (
        scope is not ScopeKind.GRID
    ):
        problems.append(
            Problem(
                ("grid_code",),
                f"{person.post.zh}须填写网格且不填管理单元 / a {person.post.en.lower()} is "
                "assigned to a grid, without a unit",
            )
        )
    if person.post in (Post.UNIT_LEADER, Post.STATION_DEPUTY) and scope is not ScopeKind.UNIT:
        problems.append(
            Problem(
                ("unit_code",),
                f"{person.post.zh}须填写管理单元 / a {person.post.en.lower()} is assigned to a unit",
            )
        )
    if person.post is Post.PATROL:
        if scope is ScopeKind.CENTRE:
            problems.append(
                Problem(
                    ("grid_code",),
                    "巡查队员须填写网格或管理单元 / a patrol member needs a grid or a unit",
                )
            )
        elif person.team is not None:
            problems.extend(_team_rule_problems(person.team, assignment))
    return problems


def _team_rule_problems(team: TeamType, assignment: Assignment) -> list[Problem]:
    street = assignment.scope is ScopeKind.GRID
    allowed = STREET_TEAMS if street else COMMUNITY_TEAMS
    where = "街面" if street else "小区/农村"
    where_en = "street frontage" if street else "communities and villages"
    if team not in allowed:
        return [
            Problem(
                ("team",),
                f"{team.zh}不属于{where}先行力量 / a {team.en.lower()} does not patrol {where_en}",
            )
        ]
    if assignment.shift is Shift.NIGHT:
        night = NIGHT_STREET_TEAMS if street else NIGHT_COMMUNITY_TEAMS
        if team not in night:
            names = "、".join(t.zh for t in sorted(night))
            names_en = " and ".join(t.en.lower() for t in sorted(night))
            return [
                Problem(
                    ("team",),
                    f"8小时之外{where}巡查由{names}负责 / outside working hours {where_en} are "
                    f"patrolled by the {names_en} only",
                )
            ]
    return []
