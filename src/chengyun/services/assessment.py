"""Monthly assessment (督查考核) use cases: the weights in force and changing them, and
the month's scores and rankings of every discovery unit and handling unit.

The figures come from the set-based measures queries (``MeasuresReader.grouped``), four
of them for the whole month: patrol teams by the team of the person who reported each case
(``reporter_team:<type>``), departments by the department a case was sent to
(``department:<code>``), grids (the grid's joint-duty workstation), units (the unit's
community workstation), and the key units' totals for the seed's targets. The weights
live in the settings store under ``assessment_weights``; the defaults are in force until
someone saves their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from chengyun.clock import Clock
from chengyun.domain.assessment import (
    DEFAULT_WEIGHTS,
    INDICATORS,
    WEIGHTS_SETTING,
    AssessedUnit,
    Family,
    Score,
    Standing,
    TargetCheck,
    UnitType,
    Weights,
    month_of_period,
    score,
    standings,
    target_checks,
    validated_weights,
)
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.measures import (
    Figures,
    GroupBy,
    Measure,
    Period,
    Scope,
    ScopeKind,
    empty_figures,
)
from chengyun.domain.territory import Territory
from chengyun.services.measures import Transaction


class AssessmentReader(Protocol):
    """The measures queries the assessment runs (the SQL adapter's reader)."""

    def figures(self, period: Period, scope: Scope) -> Figures: ...

    def grouped(
        self, period: Period, scope: Scope, group_by: GroupBy
    ) -> dict[str | None, Figures]: ...


@dataclass(frozen=True)
class StoredSetting:
    value: Any
    updated_at: datetime
    updated_by: str


class SettingsStore(Protocol):
    """Named settings (JSON values) in the open transaction."""

    def get(self, name: str) -> StoredSetting | None: ...

    def put(self, name: str, value: Any, at: datetime, by: str) -> None:
        """Insert or replace the setting ``name``."""
        ...


class _Territories(Protocol):
    def get(self) -> Territory | None: ...


class _Audit(Protocol):
    def append(
        self, at: datetime, actor: str, action: str, target: str, details: dict[str, object]
    ) -> None: ...


class AssessmentUnitOfWork(Transaction, Protocol):
    """The part of the unit of work the assessment needs."""

    @property
    def territory(self) -> _Territories: ...

    @property
    def audit(self) -> _Audit: ...

    def commit(self) -> None: ...


U = TypeVar("U", bound=AssessmentUnitOfWork)


# --- weights ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsInForce:
    weights: Weights
    default: bool
    """The shipped defaults (nothing saved, or what was saved no longer validates)."""
    updated_at: datetime | None = None
    updated_by: str | None = None
    problems: tuple[Problem, ...] = ()
    """Why saved weights were set aside for the defaults (an indicator renamed since)."""


def _in_force(store: SettingsStore) -> WeightsInForce:
    stored = store.get(WEIGHTS_SETTING)
    if stored is None:
        return WeightsInForce(DEFAULT_WEIGHTS, default=True)
    try:
        weights = validated_weights(stored.value, ("settings_store", WEIGHTS_SETTING))
    except InvalidInput as error:
        return WeightsInForce(DEFAULT_WEIGHTS, default=True, problems=tuple(error.problems))
    return WeightsInForce(weights, False, stored.updated_at, stored.updated_by)


def assessment_weights(uow: U, settings: Callable[[U], SettingsStore]) -> WeightsInForce:
    """The weights in force: the saved ones, or the defaults."""
    with uow:
        return _in_force(settings(uow))


def set_assessment_weights(
    uow: U, settings: Callable[[U], SettingsStore], clock: Clock, actor: str, data: object
) -> WeightsInForce:
    """Replace the weights (both families, every indicator, each family adding up to
    100); ``InvalidInput`` with every problem located under ``body``. Audited."""
    weights = validated_weights(data, ("body",))
    now = clock.now()
    document = weights.as_json()
    with uow:
        settings(uow).put(WEIGHTS_SETTING, document, now, actor)
        uow.audit.append(now, actor, "assessment.weights", WEIGHTS_SETTING, dict(document))
        uow.commit()
    return WeightsInForce(weights, False, now, actor)


# --- the month's assessment ------------------------------------------------------------------

#: A patrol team is scored on the cases its members reported. Whether a problem was found
#: first by the platform's own means, or first by a hotline call, is a property of an
#: area, not of whoever reported it: a team's own reports are all own discoveries, so
#: these two read 100 % and 0 % for every team and are left out of its score (the
#: workstations of the grids and units carry them).
TEAM_NOTES: Mapping[str, str] = {
    Measure.FIRST_DISCOVERY_RATE.value: "先行发现率按区域（网格、单元）考核，不按上报队伍 / "
    "first discovery is assessed per area (grid, unit), not per reporting team",
    Measure.MISSED_REPORT_RATE.value: "漏报率按区域（网格、单元）考核，不按上报队伍 / missed "
    "reports are assessed per area (grid, unit), not per reporting team",
}


@dataclass(frozen=True)
class MonthlyAssessment:
    """The scores and rankings of one month, and what they were computed with."""

    period: Period
    generated_at: datetime
    sub_district_code: str
    sub_district_name: str
    weights: WeightsInForce
    key_targets: tuple[TargetCheck, ...]
    """The seed's targets over the key units' cases."""
    all_targets: tuple[TargetCheck, ...]
    """The same figures over the whole sub-district (for comparison)."""
    discovery: list[Standing]
    handling: list[Standing]

    @property
    def month(self) -> str:
        return month_of_period(self.period)

    def ranking(self, family: Family) -> list[Standing]:
        return self.discovery if family is Family.DISCOVERY else self.handling


def _units(territory: Territory | None) -> list[AssessedUnit]:
    found = [AssessedUnit(UnitType.PATROL_TEAM, t.value, t.zh, t.en) for t in TeamType]
    if territory is not None:
        keys = {u.grid_code for u in territory.units if u.key}
        found += [
            AssessedUnit(UnitType.JOINT_WORKSTATION, g.code, g.name, g.name_en, g.code in keys)
            for g in territory.grids
        ]
        found += [
            AssessedUnit(UnitType.COMMUNITY_WORKSTATION, u.code, u.name, u.name_en, u.key)
            for u in territory.units
        ]
    found += [AssessedUnit(UnitType.DEPARTMENT, d.value, d.zh, d.en) for d in Department]
    return found


def monthly_assessment(
    uow: U,
    reader: Callable[[U], AssessmentReader],
    settings: Callable[[U], SettingsStore],
    period: Period,
    now: datetime,
) -> MonthlyAssessment:
    """Every discovery unit and handling unit of the sub-district scored and ranked for
    ``period`` (a month) with the weights in force; units with nothing counted are listed
    without a score, after the ranked ones."""
    with uow:
        source = reader(uow)
        weights = _in_force(settings(uow))
        territory = uow.territory.get()
        key = source.figures(period, Scope(ScopeKind.KEY))
        whole = source.figures(period, Scope())
        by_group = {
            UnitType.PATROL_TEAM: source.grouped(period, Scope(), GroupBy.REPORTER_TEAM),
            UnitType.JOINT_WORKSTATION: source.grouped(period, Scope(), GroupBy.GRID),
            UnitType.COMMUNITY_WORKSTATION: source.grouped(period, Scope(), GroupBy.UNIT),
            UnitType.DEPARTMENT: source.grouped(period, Scope(), GroupBy.DEPARTMENT),
        }
    scored: dict[Family, list[tuple[AssessedUnit, Score]]] = {f: [] for f in Family}
    for unit in _units(territory):
        figures: Figures = dict(by_group[unit.type].get(unit.code) or empty_figures())
        notes: Mapping[str, str] = {}
        if unit.type is UnitType.PATROL_TEAM:
            notes = TEAM_NOTES
            for name in TEAM_NOTES:
                figures.pop(name, None)
        family_weights = weights.weights.of(unit.family)
        names = {i.name for i in INDICATORS[unit.family]}
        scored[unit.family].append(
            (unit, score({k: v for k, v in figures.items() if k in names}, family_weights, notes))
        )
    return MonthlyAssessment(
        period=period,
        generated_at=now,
        sub_district_code=territory.sub_district.code if territory else "",
        sub_district_name=territory.sub_district.name if territory else "",
        weights=weights,
        key_targets=target_checks(key),
        all_targets=target_checks(whole),
        discovery=standings(scored[Family.DISCOVERY]),
        handling=standings(scored[Family.HANDLING]),
    )
