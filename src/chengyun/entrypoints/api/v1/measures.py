"""The measures (考核指标) over HTTP: the figures of a period and scope, broken down if
asked, and the cases behind a figure. Thin: parse, call one service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from chengyun.adapters.db.measures import reader
from chengyun.domain.access import Permission, Principal
from chengyun.domain.access import ScopeKind as WorkScope
from chengyun.domain.measures import Duration, Figures, Ratio, Scope, ScopeKind
from chengyun.domain.working_time import as_china_time
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform
from chengyun.services.measures import (
    MAX_LIMIT,
    MeasuresRequest,
    cases_behind,
    measures_report,
    parse_drill_down,
)

router = APIRouter(tags=["measures 考核指标"])
MAX_OFFSET = 1_000_000_000
Assessor = Annotated[Principal | None, Depends(requires(Permission.MEASURES_READ))]

FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="a date (its midnight, China time) or a time with offset; "
        "default: the start of the current month",
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        description="a date (that whole day included) or a time with offset (excluded); "
        "default: the end of the current month"
    ),
]
ScopeQuery = Annotated[
    str | None,
    Query(
        description="all, key, grid:<code>, unit:<code>, area:<code>, department:<code>, "
        "team:<code>, reporter_team:<type>, person:<number>, channel:<value>, "
        "subclass:<code>; default all "
        "(or your own grid, unit or department)"
    ),
]


class RatioOut(BaseModel):
    value: float | None
    numerator: int
    denominator: int


class DurationOut(BaseModel):
    mean_minutes: float | None
    p90_minutes: float | None
    count: int


class GroupOut(BaseModel):
    key: str | None
    label: str
    measures: dict[str, RatioOut | DurationOut]


class MeasuresOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    scope: str
    group_by: str | None = None
    measures: dict[str, RatioOut | DurationOut] | None = Field(None, description="without group_by")
    groups: list[GroupOut] | None = Field(None, description="with group_by")
    targets: dict[str, float]


class CaseRefOut(BaseModel):
    id: int
    number: str
    weight: int = Field(description="what the case adds to the figure's side")
    minutes: float | None = Field(None, description="its handling time (handling_time only)")


class CasesBehindOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    scope: str
    measure: str
    part: str
    total: int = Field(description="how many cases contribute")
    sum: int = Field(description="the sum of their weights: the figure's numerator or denominator")
    limit: int
    offset: int
    items: list[CaseRefOut]


def _figures(figures: Figures) -> dict[str, RatioOut | DurationOut]:
    out: dict[str, RatioOut | DurationOut] = {}
    for name, figure in figures.items():
        if isinstance(figure, Ratio):
            out[name] = RatioOut(
                value=figure.value, numerator=figure.numerator, denominator=figure.denominator
            )
        elif isinstance(figure, Duration):
            out[name] = DurationOut(
                mean_minutes=figure.mean_minutes,
                p90_minutes=figure.p90_minutes,
                count=figure.count,
            )
    return out


def _request(
    platform: Platform,
    principal: Principal,
    from_: str | None,
    to: str | None,
    scope: str | None,
    group_by: str | None = None,
) -> MeasuresRequest:
    own: Scope | None = None
    if principal.scope_kind is not WorkScope.SUB_DISTRICT:
        own = Scope(ScopeKind(principal.scope_kind.value), principal.scope_code)
    return MeasuresRequest.parse(
        from_, to, scope, group_by, platform.clock.now(), own, principal.person_number
    )


@router.get(
    "/measures",
    response_model=MeasuresOut,
    response_model_exclude_unset=True,
    summary="考核指标 / The measures of a period and scope, optionally broken down",
)
def get_measures(
    platform: PlatformDep,
    principal: Assessor,
    from_: FromQuery = None,
    to: ToQuery = None,
    scope: ScopeQuery = None,
    group_by: Annotated[
        str | None,
        Query(description="grid, unit, channel, subclass, month, day, department or reporter_team"),
    ] = None,
) -> MeasuresOut:
    request = _request(platform, signed_in(principal), from_, to, scope, group_by)
    report = measures_report(platform.read_uow(), reader, request)
    head = {
        "from_": as_china_time(request.period.start),
        "to": as_china_time(request.period.end),
        "scope": str(request.scope),
        "targets": dict(report.targets),
    }
    if report.groups is None:
        return MeasuresOut(**head, measures=_figures(report.figures or {}))
    return MeasuresOut(
        **head,
        group_by=request.group_by.value if request.group_by else None,
        groups=[
            GroupOut(key=g.key, label=g.label, measures=_figures(g.figures)) for g in report.groups
        ],
    )


@router.get(
    "/measures/cases",
    response_model=CasesBehindOut,
    response_model_exclude_unset=True,
    summary="指标明细 / The cases behind a figure (drill-down)",
)
def get_cases_behind(
    platform: PlatformDep,
    principal: Assessor,
    measure: Annotated[str | None, Query(description="a measure's name")] = None,
    part: Annotated[str | None, Query(description="numerator (default) or denominator")] = None,
    from_: FromQuery = None,
    to: ToQuery = None,
    scope: ScopeQuery = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CasesBehindOut:
    which, side = parse_drill_down(measure, part)
    request = _request(platform, signed_in(principal), from_, to, scope)
    found = cases_behind(platform.read_uow(), reader, request, which, side, limit, offset)
    return CasesBehindOut(
        from_=as_china_time(request.period.start),
        to=as_china_time(request.period.end),
        scope=str(request.scope),
        measure=which.value,
        part=side.value,
        total=found.total,
        sum=found.sum,
        limit=limit,
        offset=offset,
        items=[
            CaseRefOut(id=i.id, number=i.number, weight=i.weight)
            if i.minutes is None
            else CaseRefOut(id=i.id, number=i.number, weight=i.weight, minutes=i.minutes)
            for i in found.items
        ],
    )
