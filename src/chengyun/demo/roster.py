"""The demo roster: an illustrative day table (附件2) and night table (附件3).

``demo_roster`` staffs any territory shaped like the Yingpu sub-district's (grids
of management units, some of them key units, some villages) after the seed plan's
section 三.(三).2–3:

* the command centre: duty commanders rotating between sub-district and
  police-station leaders, and operators on both tables (the centre runs 24 h);
* per grid: a grid chief (a sub-district leader), two deputies (section chiefs) and
  the joint-duty workstation chief, seconded in turn from the five offices the
  seed names; first-line street patrol from the five street teams by day, only
  the social security team and third-party staff at night;
* per unit: the unit leader (party secretary, also chief of the community
  workstation), a deputy, and first-line community patrol — property staff and
  the social security team at night, villages having no property company;
* the seven departments: handlers per grid sector by day, one on standby (备勤)
  for the whole sub-district at night.

The people are invented: names and mobile numbers come from a seeded generator, so
the same territory always gives the same roster. Numbers (编号) read as
``YPC-…`` (centre), ``YPG<grid>-…`` (a grid's people), ``YPU<unit>-…`` (a unit's
people) and ``YPD-<department>…`` (department handlers).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from chengyun.domain.forces import Assignment, Department, Person, Post, Roster, Shift, TeamType
from chengyun.domain.territory import ManagementUnit, ResponsibilityGrid, Territory, UnitKind

#: The generator's seed: the day the first grid went live (2020-06).
SEED = 20200601

#: Common surnames, weighted towards those of the Shanghai suburbs.
SURNAMES = (
    "张王陈朱徐沈陆顾周吴钱孙李杨黄金蒋姚费浦胡何高林郑谢宋唐许韩冯曹彭袁潘蔡叶程苏魏吕"
    "丁任卢邵汤严戴范倪龚施褚卫钟毛秦"
)
#: Characters for given names.
GIVEN = (
    "伟敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚华建国文辉玲芳萍红斌英峰雪燕慧佳俊晓海林春"
    "颖婷雯琳浩宇欣怡晨倩志荣新忠德凤兰琴云莉蓉芬卫东永佩菊青亮健彬"
)

#: Pinyin abbreviations of the seven departments, for their people's numbers.
DEPARTMENT_CODES: dict[Department, str] = {
    Department.POLICE: "PCS",
    Department.URBAN_MANAGEMENT: "CG",
    Department.MARKET: "SC",
    Department.HOUSING: "FG",
    Department.SERVICE: "FW",
    Department.CLEANING: "BJ",
    Department.SAFETY: "AG",
}
#: Departments stationed (进驻) at the joint-duty workstations; the others are seconded.
STATIONED = frozenset({Department.POLICE, Department.URBAN_MANAGEMENT, Department.MARKET})

#: Where the joint-duty station chiefs come from, in turn (seed 三.(三).2.(2)).
STATION_CHIEF_SOURCES = (
    ("网格化中心", "the grid-management centre"),
    ("市场所", "the market supervision office"),
    ("城管中队", "the urban-management squadron"),
    ("人口办", "the population office"),
    ("派出所（社保大队）", "the police station (social security brigade)"),
)

COMMANDERS = 4
OPERATORS = 4
#: Units one community grid supervisor covers, and key units one night social
#: security member covers.
UNITS_PER_SUPERVISOR = 4
KEY_UNITS_PER_NIGHT_GUARD = 3

NOTE_SUB_DISTRICT_COMMANDER = "街道领导，轮值指挥长 / sub-district leader, rotating duty commander"
NOTE_POLICE_COMMANDER = "派出所领导，轮值指挥长 / police-station leader, rotating duty commander"
NOTE_OPERATOR = "城运中心7×24小时值守 / command centre, staffed around the clock"
NOTE_GRID_CHIEF = "街道班子领导 / sub-district leader"
NOTE_DEPUTY = "街道科室科长 / section chief of the sub-district office"
NOTE_UNIT_LEADER = (
    "居村党组织书记，兼居村网格工作站站长 / party secretary, chief of the community workstation"
)
NOTE_STATION_DEPUTY = "居村班子分管负责人 / committee member in charge"
NOTE_BOTH_SHIFTS = "日夜轮班 / works day and night rotations"
NOTE_NIGHT_PATROL = "夜间巡逻 / night patrol"
NOTE_PROPERTY_NIGHT = "物业夜间值班 / property company night watch"
NOTE_SHARED = "兼管{count}个管理单元 / covers {count} units"
NOTE_STATIONED = "进驻联勤联动工作站 / stationed at the joint-duty workstation"
NOTE_SECONDED = "按需派驻联勤联动工作站 / seconded to the joint-duty workstation as needed"
NOTE_STANDBY = "8小时之外全街道备勤 / standby for the whole sub-district outside working hours"


@dataclass
class _Builder:
    """Collects people and assignments, drawing names and phones from one generator."""

    rng: random.Random
    people: list[Person] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    def _name(self) -> str:
        for _ in range(1000):
            given_length = 2 if self.rng.random() < 0.7 else 1
            name = self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, given_length))
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("ran out of distinct names")  # pragma: no cover

    def _phone(self) -> str:
        while True:
            phone = f"139{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def person(
        self,
        number: str,
        post: Post,
        *,
        team: TeamType | None = None,
        department: Department | None = None,
    ) -> Person:
        person = Person(number, self._name(), self._phone(), post, team, department)
        self.people.append(person)
        return person

    def assign(
        self,
        person: Person,
        shift: Shift,
        *,
        grid: ResponsibilityGrid | None = None,
        unit: ManagementUnit | None = None,
        note: str = "",
    ) -> None:
        grid_code = unit.grid_code if unit is not None else grid.code if grid else None
        self.assignments.append(
            Assignment(
                person.number,
                shift,
                grid_code=grid_code,
                unit_code=unit.code if unit is not None else None,
                note=note,
            )
        )


def demo_roster(territory: Territory, *, seed: int = SEED) -> Roster:
    """A believable, deterministic day and night roster for ``territory``."""
    builder = _Builder(random.Random(seed))
    grids = sorted(territory.grids, key=lambda g: g.code)
    units = sorted(territory.units, key=lambda u: u.code)
    unit_width = max(2, len(str(len(units))))
    positions = {u.code: i for i, u in enumerate(units, start=1)}

    _centre(builder)
    handlers: dict[Department, list[Person]] = {d: [] for d in Department}
    for index, grid in enumerate(grids, start=1):
        grid_units = [u for u in units if u.grid_code == grid.code]
        key_grid = any(u.key for u in grid_units)
        counter = _Counter(f"YPG{index}")
        _grid_leaders(builder, grid, index, counter)
        _street(builder, grid, key_grid, counter)
        for unit in grid_units:
            _unit_own(builder, unit, positions[unit.code], unit_width)
        _unit_shared(builder, grid_units, counter)
        for department in Department:
            count = 2 if key_grid and department is Department.POLICE else 1
            for _ in range(count):
                number = f"YPD-{DEPARTMENT_CODES[department]}{len(handlers[department]) + 1:02d}"
                handler = builder.person(number, Post.HANDLER, department=department)
                handlers[department].append(handler)
                note = NOTE_STATIONED if department in STATIONED else NOTE_SECONDED
                builder.assign(handler, Shift.DAY, grid=grid, note=note)
    _standby(builder, handlers)
    return Roster(tuple(builder.people), tuple(builder.assignments))


@dataclass
class _Counter:
    """Hands out ``<prefix>-001``, ``<prefix>-002``, … for one grid's people."""

    prefix: str
    last: int = 0

    def next(self) -> str:
        self.last += 1
        return f"{self.prefix}-{self.last:03d}"


def _centre(builder: _Builder) -> None:
    # Alternate sub-district and police-station leaders so that the daily rotation
    # (in order of number) alternates too.
    for i in range(1, COMMANDERS + 1):
        commander = builder.person(f"YPC-ZH{i:02d}", Post.DUTY_COMMANDER)
        note = NOTE_SUB_DISTRICT_COMMANDER if i % 2 else NOTE_POLICE_COMMANDER
        builder.assign(commander, Shift.DAY, note=note)
    for i in range(1, OPERATORS + 1):
        operator = builder.person(f"YPC-ZB{i:02d}", Post.OPERATOR)
        builder.assign(operator, Shift.DAY, note=NOTE_OPERATOR)
        builder.assign(operator, Shift.NIGHT, note=NOTE_OPERATOR)


def _grid_leaders(
    builder: _Builder, grid: ResponsibilityGrid, index: int, counter: _Counter
) -> None:
    chief = builder.person(counter.next(), Post.GRID_CHIEF)
    builder.assign(chief, Shift.DAY, grid=grid, note=NOTE_GRID_CHIEF)
    for _ in range(2):
        deputy = builder.person(counter.next(), Post.DEPUTY_GRID_CHIEF)
        builder.assign(deputy, Shift.DAY, grid=grid, note=NOTE_DEPUTY)
    zh, en = STATION_CHIEF_SOURCES[(index - 1) % len(STATION_CHIEF_SOURCES)]
    station_chief = builder.person(counter.next(), Post.STATION_CHIEF)
    builder.assign(station_chief, Shift.DAY, grid=grid, note=f"由{zh}选派 / seconded from {en}")


def _street(builder: _Builder, grid: ResponsibilityGrid, key_grid: bool, counter: _Counter) -> None:
    """Street frontage: the five street teams by day; at night the social security
    team (a night patrol) and a third-party member who works both rotations."""
    many = 2 if key_grid else 1
    day_teams: Sequence[tuple[TeamType, int]] = (
        (TeamType.GRID_SUPERVISOR, many),
        (TeamType.NON_MOTOR, many),
        (TeamType.THIRD_PARTY, many),
        (TeamType.MAINTENANCE, 1),
        (TeamType.SOCIAL_SECURITY, 1),
    )
    for team, count in day_teams:
        for n in range(1, count + 1):
            member = builder.person(counter.next(), Post.PATROL, team=team)
            both = team is TeamType.THIRD_PARTY and n == count
            builder.assign(member, Shift.DAY, grid=grid, note=NOTE_BOTH_SHIFTS if both else "")
            if both:
                builder.assign(member, Shift.NIGHT, grid=grid, note=NOTE_BOTH_SHIFTS)
    night = builder.person(counter.next(), Post.PATROL, team=TeamType.SOCIAL_SECURITY)
    builder.assign(night, Shift.NIGHT, grid=grid, note=NOTE_NIGHT_PATROL)


def _unit_own(builder: _Builder, unit: ManagementUnit, position: int, width: int) -> None:
    """A unit's own people: its leader and deputy, and the patrol members it does
    not share with neighbouring units."""
    serial = iter(range(1, 100))

    def number() -> str:
        return f"YPU{position:0{width}d}-{next(serial):02d}"

    leader = builder.person(number(), Post.UNIT_LEADER)
    builder.assign(leader, Shift.DAY, unit=unit, note=NOTE_UNIT_LEADER)
    deputy = builder.person(number(), Post.STATION_DEPUTY)
    builder.assign(deputy, Shift.DAY, unit=unit, note=NOTE_STATION_DEPUTY)
    if unit.kind is UnitKind.RURAL:
        # Villages have no property company: the social security team and a
        # public-order assistant by day, the social security team at night.
        for team in (TeamType.PUBLIC_ORDER, TeamType.SOCIAL_SECURITY):
            builder.assign(builder.person(number(), Post.PATROL, team=team), Shift.DAY, unit=unit)
        night = builder.person(number(), Post.PATROL, team=TeamType.SOCIAL_SECURITY)
        builder.assign(night, Shift.NIGHT, unit=unit, note=NOTE_NIGHT_PATROL)
        return
    # Property staff keep the estate by day and keep its night watch.
    keeper = builder.person(number(), Post.PATROL, team=TeamType.PROPERTY)
    builder.assign(keeper, Shift.DAY, unit=unit)
    builder.assign(keeper, Shift.NIGHT, unit=unit, note=NOTE_PROPERTY_NIGHT)
    # Key units have their own public-order assistant (population assistants are
    # shared); the others have one assistant, of either kind in turn.
    team = TeamType.PUBLIC_ORDER if unit.key or position % 2 else TeamType.POPULATION
    builder.assign(builder.person(number(), Post.PATROL, team=team), Shift.DAY, unit=unit)


def _unit_shared(
    builder: _Builder, grid_units: Sequence[ManagementUnit], counter: _Counter
) -> None:
    """Patrol members who cover several units of a grid: community grid supervisors
    (by day), population assistants of key units (by day, in pairs) and the social
    security team's night patrol of key residential units."""
    for group in _chunks(grid_units, UNITS_PER_SUPERVISOR):
        _shared(builder, counter, TeamType.GRID_SUPERVISOR, Shift.DAY, group)
    key_community = [u for u in grid_units if u.key and u.kind is UnitKind.COMMUNITY]
    for group in _chunks(key_community, 2):
        _shared(builder, counter, TeamType.POPULATION, Shift.DAY, group)
    for group in _chunks(key_community, KEY_UNITS_PER_NIGHT_GUARD):
        _shared(builder, counter, TeamType.SOCIAL_SECURITY, Shift.NIGHT, group)


def _shared(
    builder: _Builder,
    counter: _Counter,
    team: TeamType,
    shift: Shift,
    units: Sequence[ManagementUnit],
) -> None:
    member = builder.person(counter.next(), Post.PATROL, team=team)
    note = NOTE_SHARED.format(count=len(units)) if len(units) > 1 else ""
    if shift is Shift.NIGHT:
        note = f"{NOTE_NIGHT_PATROL}; {note}" if note else NOTE_NIGHT_PATROL
    for unit in units:
        builder.assign(member, shift, unit=unit, note=note)


def _chunks(units: Sequence[ManagementUnit], size: int) -> list[Sequence[ManagementUnit]]:
    """``units`` in consecutive groups of ``size``; a last group of one joins the one before."""
    groups = [units[i : i + size] for i in range(0, len(units), size)]
    if len(groups) > 1 and len(groups[-1]) == 1 and size > 2:
        groups[-2] = [*groups[-2], *groups[-1]]
        groups.pop()
    return groups


def _standby(builder: _Builder, handlers: dict[Department, list[Person]]) -> None:
    """One handler per department on night standby (备勤) for the whole sub-district,
    taken in turn from different grid sectors' day handlers."""
    for i, department in enumerate(Department):
        pool = handlers[department]
        if pool:
            person = pool[i % len(pool)]
        else:
            number = f"YPD-{DEPARTMENT_CODES[department]}01"
            person = builder.person(number, Post.HANDLER, department=department)
        builder.assign(person, Shift.NIGHT, note=NOTE_STANDBY)
