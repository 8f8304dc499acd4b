"""The case taxonomy (案件分类) and each subclass's rule (立结案规范).

The national digital-city-management taxonomy (GB/T 30428.2, CJ/T 214): components
(部件) and events (事件), each in classes 01–06 (plus local extensions) with
subclasses. A subclass's code is the kind letter, the class and the subclass:
``C0101`` (component 01 公用设施, subclass 01) or ``E0501`` (event 05 街面秩序,
subclass 01); case numbers start with it. Every subclass carries its rule: when a
report is accepted (立案条件), what counts as done (结案条件), the time limit of each
stage, the default urgency and the default responsible party. All of it is data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from chengyun.domain.errors import Problem
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.labels import Labelled

SUBCLASS_CODE = re.compile(r"^[CE]\d{4}$")


class CaseKind(Labelled):
    """Component (部件) or event (事件) case."""

    COMPONENT = "component", "部件", "Component"
    EVENT = "event", "事件", "Event"

    @property
    def letter(self) -> str:
        return "C" if self is CaseKind.COMPONENT else "E"


class Urgency(Labelled):
    """Urgency (紧急程度): urgent cases need someone on scene in 15 minutes and an
    initial result within 1 hour."""

    URGENT = "urgent", "紧急类", "Urgent", "#c62828"
    GENERAL = "general", "一般类", "General", "#1565c0"


class Stage(Labelled):
    """A timed stage of the closed loop; each has its own clock."""

    REGISTER = "register", "立案", "Register"
    DISPATCH = "dispatch", "派遣", "Dispatch"
    ACCEPT = "accept", "签收", "Accept"
    ARRIVE = "arrive", "到场", "Arrive on scene"
    HANDLE = "handle", "处置", "Handle"
    CHECK = "check", "核查", "Check"


class TimeUnit(Labelled):
    """How a time limit is counted."""

    MINUTES = "minutes", "分钟（自然时间）", "Clock minutes"
    WORKING_HOURS = "working_hours", "工作时", "Working hours"
    WORKING_DAYS = "working_days", "工作日", "Working days"


class Sector(Labelled):
    """The seed's fields of work (重点领域) that subclasses are grouped into."""

    CITY_MANAGEMENT = "city_management", "城市管理", "City management"
    CONSTRUCTION = "construction", "建设管理", "Construction"
    PUBLIC_ORDER = "public_order", "治安", "Public order"
    SOCIAL_CONTROL = "social_control", "社会面防控", "Social control"
    PROPERTY = "property", "物业管理", "Property management"


@dataclass(frozen=True)
class TimeLimit:
    """A stage's time limit: ``amount`` of ``unit`` (one working day = the working
    hours of one day)."""

    amount: float
    unit: TimeUnit

    def scaled(self, factor: float) -> TimeLimit:
        return TimeLimit(self.amount * factor, self.unit)

    def __str__(self) -> str:
        amount = int(self.amount) if float(self.amount).is_integer() else self.amount
        return f"{amount} {self.unit.value}"


Responsible = TeamType | Department


@dataclass(frozen=True)
class Subclass:
    """A taxonomy subclass (小类) with its rule."""

    code: str
    kind: CaseKind
    class_code: str
    class_name_zh: str
    class_name_en: str
    name_zh: str
    name_en: str
    sector: Sector
    filing: str
    closure: str
    urgency: Urgency
    responsible: Responsible
    limits: Mapping[Stage, TimeLimit] = field(default_factory=dict, hash=False)

    @property
    def subclass_code(self) -> str:
        return self.code[3:5]


@dataclass(frozen=True)
class Taxonomy:
    """All subclasses, by code."""

    subclasses: tuple[Subclass, ...]
    _by_code: dict[str, Subclass] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {s.code: s for s in self.subclasses})

    def get(self, code: str) -> Subclass | None:
        return self._by_code.get(code)

    def __iter__(self) -> Iterator[Subclass]:
        return iter(self.subclasses)

    def __len__(self) -> int:
        return len(self.subclasses)


def subclass_problems(subclass: Subclass) -> list[Problem]:
    """The rules every subclass must satisfy, from the data file, the API or Excel."""
    problems: list[Problem] = []
    if not SUBCLASS_CODE.match(subclass.code):
        problems.append(
            Problem(
                ("code",),
                f"代码须为 C/E 加4位数字，如 C0101、E0501 / code must be "
                f"C or E and 4 digits, got {subclass.code!r}",
            )
        )
    elif subclass.code[0] != subclass.kind.letter:
        problems.append(
            Problem(
                ("code",),
                f"{subclass.kind.zh}代码须以 {subclass.kind.letter} 开头 / "
                f"a {subclass.kind.en.lower()} code starts with "
                f"{subclass.kind.letter}",
            )
        )
    elif subclass.code[1:3] != subclass.class_code:
        problems.append(
            Problem(
                ("class_code",),
                f"大类 {subclass.class_code} 与代码 {subclass.code} 不符 / "
                "class code does not match the subclass code",
            )
        )
    for name in ("name_zh", "name_en", "class_name_zh", "filing", "closure"):
        if not str(getattr(subclass, name)).strip():
            problems.append(Problem((name,), f"{name} 为空 / {name} is empty", "missing"))
    for stage in Stage:
        limit = subclass.limits.get(stage)
        if limit is None:
            problems.append(
                Problem(
                    ("limits", stage.value),
                    f"缺少{stage.zh}时限 / no time limit for {stage.en.lower()}",
                    "missing",
                )
            )
        elif not limit.amount > 0:
            problems.append(
                Problem(
                    ("limits", stage.value),
                    f"{stage.zh}时限须大于0 / the {stage.en.lower()} limit must be positive",
                )
            )
    return problems
