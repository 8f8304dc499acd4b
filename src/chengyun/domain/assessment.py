"""Monthly assessment (督查考核): weighted scores and rankings of the discovery units and the
handling units, after the composite indicators of the national performance standard.

The seed (四.3 督查考核机制) has the command centre assess, periodically, the discovery units
(发现主体单位) and the handling units (处置单位) of the key areas and publish the results.
The scoring follows the composite-indicator method of the digital-city-management
performance standard, GB/T 30428.4 (数字化城市管理信息系统 第4部分：绩效评价, in the
lineage of CJ/T 292): a unit's composite value is a weighted sum of its rates, a rate where
lower is better (missed reports, returns, rework) entering as ``1 − rate``. The standard
scores the reporters (监督员) on the validity and completeness of their reports and the
departments (专业部门) above all on handling in time; the default weights here follow that
emphasis, adapted to the seed's two targets (first discovery 85 %, closure 97 %). They are
this platform's defaults, not figures quoted from the standard, and the centre may change
them (``validated_weights``).

Everything here is pure: the figures (``domain.measures.Ratio``) come in, a ``Score`` with
every component (value, weight, points) comes out, so each score can be explained.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from fractions import Fraction

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.labels import Labelled
from chengyun.domain.measures import TARGETS, Figure, Measure, Period, Ratio
from chengyun.domain.working_time import CHINA_TZ, as_china_time

#: The name of the weights in the settings store.
WEIGHTS_SETTING = "assessment_weights"
#: Every family's weights add up to this many points.
TOTAL = Decimal(100)
_CENT = Decimal("0.01")


class Family(Labelled):
    """The two kinds of assessed unit the seed names."""

    DISCOVERY = "discovery", "发现主体单位", "Discovery units"
    HANDLING = "handling", "处置单位", "Handling units"


class UnitType(Labelled):
    """What an assessed unit is; the first three find problems, departments handle them."""

    PATROL_TEAM = "team", "巡查队伍", "Patrol team"
    JOINT_WORKSTATION = "joint_workstation", "联勤联动工作站", "Joint-duty workstation"
    COMMUNITY_WORKSTATION = "community_workstation", "居村网格工作站", "Community workstation"
    DEPARTMENT = "department", "职能部门", "Department"

    @property
    def family(self) -> Family:
        return Family.HANDLING if self is UnitType.DEPARTMENT else Family.DISCOVERY


_TYPE_ORDER = {unit_type: i for i, unit_type in enumerate(UnitType)}


@dataclass(frozen=True)
class Indicator:
    """One measure in a composite score; ``inverted`` when lower is better (it scores
    ``1 − rate``)."""

    measure: Measure
    inverted: bool = False

    @property
    def name(self) -> str:
        return self.measure.value

    @property
    def zh(self) -> str:
        return f"1-{self.measure.zh}" if self.inverted else self.measure.zh

    @property
    def en(self) -> str:
        return f"1 - {self.measure.en.lower()}" if self.inverted else self.measure.en


#: The indicators of each family, in the order they are shown.
INDICATORS: Mapping[Family, tuple[Indicator, ...]] = {
    Family.DISCOVERY: (
        Indicator(Measure.VALID_REPORT_RATE),
        Indicator(Measure.FIRST_DISCOVERY_RATE),
        Indicator(Measure.MISSED_REPORT_RATE, inverted=True),
        Indicator(Measure.SELF_HANDLED_SHARE),
    ),
    Family.HANDLING: (
        Indicator(Measure.ON_TIME_HANDLING_RATE),
        Indicator(Measure.RETURN_RATE, inverted=True),
        Indicator(Measure.REWORK_RATE, inverted=True),
        Indicator(Measure.CLOSURE_RATE),
        Indicator(Measure.URGENT_ON_TIME_ARRIVAL_RATE),
    ),
}


def indicator(family: Family, name: str) -> Indicator | None:
    return next((i for i in INDICATORS[family] if i.name == name), None)


@dataclass(frozen=True)
class FamilyWeights:
    """The points each indicator of one family is worth (they add up to 100)."""

    family: Family
    points: Mapping[str, Decimal]

    def of(self, item: Indicator) -> Decimal:
        return self.points.get(item.name, Decimal(0))


@dataclass(frozen=True)
class Weights:
    discovery: FamilyWeights
    handling: FamilyWeights

    def of(self, family: Family) -> FamilyWeights:
        return self.discovery if family is Family.DISCOVERY else self.handling

    def as_json(self) -> dict[str, dict[str, int | float]]:
        """``{"discovery": {"valid_report_rate": 30, …}, "handling": {…}}``: whole points
        as integers, others with their (at most two) decimals."""
        return {
            family.value: {
                item.name: _number(self.of(family).of(item)) for item in INDICATORS[family]
            }
            for family in Family
        }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _weights(family: Family, points: Mapping[Measure, int]) -> FamilyWeights:
    return FamilyWeights(family, {m.value: Decimal(p) for m, p in points.items()})


#: The default weights. Discovery units (the standard's reporters): the validity of their
#: reports and finding problems before anyone else does carry the most, the seed's
#: first-discovery target first; solving on the spot (发现即处置) is rewarded. Handling
#: units (the standard's departments): handling by the deadline first, then closure (the
#: seed's 97 % target), then the quality of the work (no returns, no rework) and the
#: 15-minute arrival for urgent cases.
DEFAULT_WEIGHTS = Weights(
    _weights(
        Family.DISCOVERY,
        {
            Measure.VALID_REPORT_RATE: 30,
            Measure.FIRST_DISCOVERY_RATE: 35,
            Measure.MISSED_REPORT_RATE: 15,
            Measure.SELF_HANDLED_SHARE: 20,
        },
    ),
    _weights(
        Family.HANDLING,
        {
            Measure.ON_TIME_HANDLING_RATE: 30,
            Measure.RETURN_RATE: 15,
            Measure.REWORK_RATE: 15,
            Measure.CLOSURE_RATE: 25,
            Measure.URGENT_ON_TIME_ARRIVAL_RATE: 15,
        },
    ),
)


# --- validating weights ----------------------------------------------------------------------


def _points(value: object) -> Decimal | str:
    """The value as exact points, or what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return "须为数字 / must be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "须为有限的数 / must be a finite number"
    try:
        # str() of a float is its shortest repr: 12.5 stays 12.5, not a binary expansion
        points = Decimal(str(value))
    except ArithmeticError:
        return f"须为数字 / must be a number, got {value!r}"
    if not points.is_finite():
        return "须为有限的数 / must be a finite number"
    if points < 0:
        return f"权重不能为负 / a weight cannot be negative, got {value}"
    if points > TOTAL:
        return f"权重不能超过{TOTAL} / a weight cannot exceed {TOTAL}, got {value}"
    if points != points.quantize(_CENT):
        return f"权重最多两位小数 / a weight has at most two decimals, got {value}"
    return points


def weights_problems(data: object, at: tuple[str | int, ...] = ()) -> list[Problem]:
    """Everything wrong with a weights document, each problem located under ``at`` by
    family and indicator: both families, every indicator of each given, nothing else,
    non-negative numbers with at most two decimals that add up to 100 per family."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping):
        return [
            Problem(
                at,
                '须为对象 / must be an object: {"discovery": {…}, "handling": {…}}',
                "type",
            )
        ]
    families = ", ".join(f.value for f in Family)
    for key in data:
        if str(key) not in {f.value for f in Family}:
            problems.append(
                Problem(
                    (*at, str(key)), f"未知的考核对象 / unknown family: use {families}", "unknown"
                )
            )
    for family in Family:
        where = (*at, family.value)
        given = data.get(family.value)
        if given is None:
            problems.append(Problem(where, f"缺少{family.zh}的权重 / weights missing", "missing"))
            continue
        if not isinstance(given, Mapping):
            problems.append(
                Problem(where, "须为对象 / must be an object {indicator: points}", "type")
            )
            continue
        names = [i.name for i in INDICATORS[family]]
        total = Decimal(0)
        sound = True
        for key, value in given.items():
            name = str(key)
            if name not in names:
                other = next((f for f in Family if f is not family and indicator(f, name)), None)
                hint = f" (an indicator of {other.value})" if other else ""
                problems.append(
                    Problem(
                        (*where, name),
                        f"未知指标 / unknown indicator{hint}: use {', '.join(names)}",
                        "unknown",
                    )
                )
                continue
            points = _points(value)
            if isinstance(points, str):
                problems.append(Problem((*where, name), points, "range"))
                sound = False
            else:
                total += points
        for name in names:
            if name not in given:
                problems.append(
                    Problem(
                        (*where, name),
                        "缺少权重（不计此项请填0）/ weight missing: give 0 to leave it out",
                        "missing",
                    )
                )
                sound = False
        if sound and total != TOTAL:
            problems.append(
                Problem(
                    where,
                    f"权重合计须为{TOTAL}，现为{_number(total)} / the weights add up to "
                    f"{_number(total)}, they must add up to {TOTAL}",
                    "sum",
                )
            )
    return problems


def validated_weights(data: object, at: tuple[str | int, ...] = ()) -> Weights:
    """The weights of a document; ``InvalidInput`` listing every located problem."""
    problems = weights_problems(data, at)
    if problems:
        raise InvalidInput(
            f"考核权重有 {len(problems)} 处问题，未保存 / the weights have {len(problems)} "
            "problem(s); nothing was saved",
            problems,
        )
    assert isinstance(data, Mapping)
    found: dict[Family, FamilyWeights] = {}
    for family in Family:
        given = data[family.value]
        points = {i.name: _points(given[i.name]) for i in INDICATORS[family]}
        found[family] = FamilyWeights(
            family, {k: v for k, v in points.items() if isinstance(v, Decimal)}
        )
    return Weights(found[Family.DISCOVERY], found[Family.HANDLING])


# --- scores ----------------------------------------------------------------------------------


def published(value: Fraction) -> Decimal:
    """A score or points as published: two decimals, halves rounded up (四舍五入)."""
    hundredths = math.floor(value * 100 + Fraction(1, 2))
    return (Decimal(hundredths) / 100).quantize(_CENT)


@dataclass(frozen=True)
class Component:
    """One indicator of a score: the figure behind it, its weight and the points earned."""

    indicator: Indicator
    weight: Decimal
    figure: Ratio | None
    """``None``: the unit's scope cannot measure this indicator at all."""
    note: str = ""

    @property
    def measured(self) -> bool:
        """Something was counted (a denominator above 0)."""
        return self.figure is not None and self.figure.denominator > 0

    @property
    def value(self) -> Fraction | None:
        if self.figure is None or not self.figure.denominator:
            return None
        return Fraction(self.figure.numerator, self.figure.denominator)

    @property
    def credit(self) -> Fraction | None:
        """The share of the weight earned: the rate, or ``1 − rate`` when inverted."""
        value = self.value
        if value is None:
            return None
        earned = 1 - value if self.indicator.inverted else value
        return min(Fraction(1), max(Fraction(0), earned))

    @property
    def points(self) -> Fraction | None:
        credit = self.credit
        return None if credit is None else credit * Fraction(self.weight)


@dataclass(frozen=True)
class Score:
    """A composite score (0–100) and every component it was made of.

    ``composite`` is the points earned over the weight of the measured components, times
    100: with every indicator measured, simply the sum of the points. An indicator with
    nothing to count (no urgent case, say) neither earns nor costs: its weight is shared
    out over the others. Nothing measured at all: no score."""

    family: Family
    components: tuple[Component, ...]

    @property
    def measured_weight(self) -> Decimal:
        return sum((c.weight for c in self.components if c.measured), Decimal(0))

    @property
    def earned(self) -> Fraction:
        return sum((c.points or Fraction(0) for c in self.components), Fraction(0))

    @property
    def composite(self) -> Fraction | None:
        measured = self.measured_weight
        if not measured:
            return None
        return self.earned * 100 / Fraction(measured)

    @property
    def published(self) -> Decimal | None:
        composite = self.composite
        return None if composite is None else published(composite)


def score(
    measures: Mapping[str, Figure],
    weights: FamilyWeights,
    notes: Mapping[str, str] | None = None,
) -> Score:
    """The composite score of one unit from its figures (by measure name, as
    ``domain.measures.all_measures`` gives them). An indicator missing from ``measures``
    cannot be measured for the unit (``notes`` may say why)."""
    components = []
    for item in INDICATORS[weights.family]:
        figure = measures.get(item.name)
        if figure is not None and not isinstance(figure, Ratio):
            raise TypeError(f"{item.name} is not a ratio")
        components.append(
            Component(item, weights.of(item), figure, (notes or {}).get(item.name, ""))
        )
    return Score(weights.family, tuple(components))


# --- rankings --------------------------------------------------------------------------------


def rank(scores: Sequence[Score]) -> list[int | None]:
    """The rank of each score, in the order given: highest first, equal published scores
    sharing a rank and the next rank skipping (1, 2, 2, 4); no score, no rank."""
    values = [s.published for s in scores]
    return [
        None if v is None else 1 + sum(1 for other in values if other is not None and other > v)
        for v in values
    ]


@dataclass(frozen=True)
class AssessedUnit:
    """A unit that is scored: a patrol team (by team type), the joint-duty workstation of
    a grid, the community workstation of a unit, or a department. ``key``: it works in
    a key unit (重点管理单元)."""

    type: UnitType
    code: str
    name: str
    name_en: str = ""
    key: bool = False

    @property
    def family(self) -> Family:
        return self.type.family


@dataclass(frozen=True)
class Standing:
    rank: int | None
    unit: AssessedUnit
    score: Score


def standings(scored: Iterable[tuple[AssessedUnit, Score]]) -> list[Standing]:
    """A ranking: by rank; ties, and after them the units without a score, by type and
    then in the order given."""
    pairs = list(scored)
    ranks = rank([s for _, s in pairs])
    found = [Standing(r, unit, s) for r, (unit, s) in zip(ranks, pairs, strict=True)]
    return sorted(
        found,
        key=lambda st: (st.rank is None, st.rank or 0, _TYPE_ORDER[st.unit.type]),
    )


# --- targets and months ----------------------------------------------------------------------


@dataclass(frozen=True)
class TargetCheck:
    """One of the seed's targets for the key units, and whether the month met it."""

    measure: Measure
    target: Fraction
    figure: Ratio

    @property
    def met(self) -> bool | None:
        """``None`` when nothing was counted."""
        if not self.figure.denominator:
            return None
        return Fraction(self.figure.numerator, self.figure.denominator) >= self.target


def target_checks(figures: Mapping[str, Figure]) -> tuple[TargetCheck, ...]:
    """The seed's targets (first discovery 85 %, closure 97 %) against ``figures``."""
    checks = []
    for name, target in TARGETS.items():
        figure = figures.get(name)
        checks.append(
            TargetCheck(
                Measure(name),
                Fraction(str(target)),
                figure if isinstance(figure, Ratio) else Ratio(),
            )
        )
    return tuple(checks)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


def month_period(year: int, month: int) -> Period:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return Period(
        datetime.combine(first, time(0), CHINA_TZ), datetime.combine(following, time(0), CHINA_TZ)
    )


def parse_month(text: str | None, now: datetime) -> Period:
    """``2020-07`` → July 2020 in China time; without one, the month of ``now``;
    ``InvalidInput`` naming ``month`` otherwise."""
    value = (text or "").strip()
    if not value:
        local = as_china_time(now)
        return month_period(local.year, local.month)
    found = _MONTH.match(value)
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise InvalidInput(
            "月份无效 / invalid month",
            [Problem(("query", "month"), f"a month like 2020-07, got {value!r}", "invalid")],
        )
    year = int(found.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(
            "月份超出范围 / month out of range",
            [Problem(("query", "month"), f"a year between {FIRST_YEAR} and {LAST_YEAR}", "range")],
        )
    return month_period(year, int(found.group(2)))


def month_of_period(period: Period) -> str:
    """``2020-07`` for the month that starts ``period``."""
    return as_china_time(period.start).strftime("%Y-%m")
