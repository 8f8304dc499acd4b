"""Patrol coverage (巡查覆盖) use cases: a patrol phone reports the positions it buffered;
the command centre reads, for a day, who patrolled each unit and for how long, the units
nobody visited, attendance per shift and everyone's track.

Positions are stored through a ``PositionStore`` built by the entry point on the engine
(each call its own short transaction); the territory and the roster are read through a
unit of work, before the positions, so that no request holds two connections at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from chengyun.domain.coverage import (
    DEFAULT_GAP,
    MAX_BATCH,
    DayCoverage,
    PatrolPosition,
    day_bounds,
    day_coverage,
    day_problems,
    time_problems,
)
from chengyun.domain.errors import Forbidden, InvalidInput, OutsideTerritory, Problem
from chengyun.domain.forces import Roster
from chengyun.domain.territory import Location, Territory
from chengyun.domain.working_time import WorkingCalendar
from chengyun.services.unit_of_work import ForcesRepository, TerritoryRepository


class PositionStore(Protocol):
    """Where patrol positions are kept."""

    def add_new(self, positions: Sequence[PatrolPosition], received_at: datetime) -> int:
        """Store those whose (person, time) is not stored yet; how many were stored."""
        ...

    def between(self, start: datetime, end: datetime) -> list[PatrolPosition]:
        """Every position reported for ``[start, end)``."""
        ...


class Positioning(Protocol):
    """Coordinates: conversion to WGS-84 and point location in the territory."""

    def to_wgs84(self, lng: float, lat: float, crs: str) -> tuple[float, float]:
        """The position in WGS-84; ``InvalidInput`` when it cannot be in China."""
        ...

    def locate(self, lng: float, lat: float) -> Location:
        """The unit of a WGS-84 position; ``OutsideTerritory`` outside the sub-district."""
        ...


class Reading(Protocol):
    """The part of a unit of work coverage reads: the territory and the roster."""

    @property
    def territory(self) -> TerritoryRepository: ...
    @property
    def forces(self) -> ForcesRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(frozen=True)
class ReportedPosition:
    """One position as a phone sends it: in ``crs`` (``wgs84``, ``gcj02``, ``bd09``)."""

    lng: float
    lat: float
    at: datetime
    crs: str = "wgs84"
    accuracy_m: float | None = None


@dataclass(frozen=True)
class PositionsReceipt:
    """What became of a batch: ``stored`` new positions; ``duplicates`` already stored
    (a re-sent batch) or repeated in it; ``outside`` the sub-district (stored all the same)."""

    person: str
    received: int
    stored: int
    duplicates: int
    outside: int


def report_positions(
    store: PositionStore,
    positioning: Positioning,
    now: datetime,
    person: str | None,
    batch: Sequence[ReportedPosition],
) -> PositionsReceipt:
    """Store a phone's batch for ``person`` (the signed-in principal's number).

    All or nothing: a position that cannot be in China, a time without offset or more
    than 5 minutes ahead refuses the whole batch (422, each problem naming
    ``positions[i]``). A position outside the sub-district is stored without a unit.
    Idempotent on (person, time).
    """
    if not person:
        raise Forbidden(
            "账号未关联人员编号 / your account is not linked to a person number",
            [
                Problem(
                    ("account", "person_number"),
                    "positions are reported from a person's own account: ask an administrator "
                    "to link the account to the person's number (编号)",
                    "no_person",
                )
            ],
        )
    if len(batch) > MAX_BATCH:
        raise InvalidInput(
            f"一次最多上报{MAX_BATCH}个定位 / at most {MAX_BATCH} positions a batch",
            [Problem(("positions",), f"send {len(batch)} positions in smaller batches", "size")],
        )
    problems = time_problems([b.at for b in batch], now)
    converted: list[tuple[float, float]] = []
    for i, b in enumerate(batch):
        try:
            converted.append(positioning.to_wgs84(b.lng, b.lat, b.crs))
        except InvalidInput as error:
            problems.extend(
                Problem(("positions", i, *problem.location[1:]), problem.message, problem.kind)
                for problem in error.problems
            )
    if problems:
        problems.sort(key=lambda p: p.location[1])
        raise InvalidInput(
            f"{len(problems)}处定位有问题，未保存任何定位 / {len(problems)} problem(s) in the "
            "batch; nothing was stored",
            problems,
        )
    positions: list[PatrolPosition] = []
    for b, (lng, lat) in zip(batch, converted, strict=True):
        unit: str | None = None
        grid: str | None = None
        try:
            location = positioning.locate(lng, lat)
            unit, grid = location.unit.code, location.grid.code
        except OutsideTerritory:
            pass  # stored without a unit, and counted as outside
        positions.append(PatrolPosition(person, b.at, lng, lat, unit, grid, b.accuracy_m))
    stored = store.add_new(positions, now)
    return PositionsReceipt(
        person=person,
        received=len(batch),
        stored=stored,
        duplicates=len(batch) - stored,
        outside=sum(1 for p in positions if p.unit_code is None),
    )


@dataclass(frozen=True)
class PatrolCoverage:
    """A day's coverage with the territory and roster it was computed against (for names
    and shapes)."""

    coverage: DayCoverage
    territory: Territory
    roster: Roster


def patrol_coverage(
    uow: Reading,
    store: PositionStore,
    calendar: WorkingCalendar,
    now: datetime,
    day: date,
    grid_code: str | None = None,
    gap: timedelta = DEFAULT_GAP,
) -> PatrolCoverage:
    """The coverage of ``day`` (China time), of the whole sub-district or one grid."""
    if problems := day_problems(day):
        raise InvalidInput("日期超出范围 / the date is out of range", problems)
    with uow:
        territory = uow.territory.get()
        roster = uow.forces.roster()
    if territory is None:
        raise InvalidInput(
            "尚未导入辖区数据 / no territory has been imported yet",
            [Problem(("territory",), "run `chengyun territory import FILE.geojson`", "missing")],
        )
    if grid_code is not None and territory.grid(grid_code) is None:
        known = ", ".join(g.code for g in territory.grids)
        raise InvalidInput(
            f"网格 {grid_code} 不存在 / unknown grid {grid_code}",
            [Problem(("query", "grid"), f"one of {known}", "reference")],
        )
    start, end = day_bounds(day)
    positions = store.between(start, end)
    coverage = day_coverage(
        day, positions, territory, roster, calendar, now, grid_code=grid_code, gap=gap
    )
    return PatrolCoverage(coverage, territory, roster)
