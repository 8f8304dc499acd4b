"""The monthly assessment (督查考核) over HTTP: scores and rankings with the figures behind
them, the weights, and the published report as .xlsx or PDF. Thin: parse, call one
service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from chengyun.adapters.db.assessment import settings_store
from chengyun.adapters.db.measures import reader
from chengyun.adapters.reports.monthly import PDF, XLSX, render
from chengyun.domain.access import Permission, Principal
from chengyun.domain.assessment import (
    INDICATORS,
    Component,
    Family,
    Standing,
    TargetCheck,
    parse_month,
    published,
)
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.working_time import as_china_time
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform
from chengyun.services.assessment import (
    MonthlyAssessment,
    WeightsInForce,
    assessment_weights,
    monthly_assessment,
    set_assessment_weights,
)

router = APIRouter(tags=["assessment 督查考核"])
Reader = Annotated[Principal | None, Depends(requires(Permission.MEASURES_READ))]
Manager = Annotated[Principal | None, Depends(requires(Permission.ASSESSMENT_MANAGE))]
MonthQuery = Annotated[
    str | None,
    Query(description="the month, e.g. 2020-07 (China time); default: the current month"),
]
FORMATS = ("xlsx", "pdf")


class IndicatorOut(BaseModel):
    indicator: str
    label: str
    scored_as: str = Field(description="the rate, or 1 − rate where lower is better")
    inverted: bool


class WeightsOut(BaseModel):
    discovery: dict[str, int | float]
    handling: dict[str, int | float]
    default: bool = Field(description="the shipped defaults are in force")
    updated_at: datetime | None
    updated_by: str | None
    indicators: dict[str, list[IndicatorOut]]
    problems: list[str] = Field(
        default_factory=list, description="why saved weights were set aside, if they were"
    )


class ComponentOut(BaseModel):
    indicator: str
    label: str
    scored_as: str
    inverted: bool
    numerator: int | None = Field(description="null: not measurable for this unit")
    denominator: int | None
    value: float | None = Field(description="numerator / denominator")
    credit: float | None = Field(description="the share of the weight earned")
    weight: int | float
    points: float | None = Field(description="credit × weight, two decimals")
    note: str | None = None


class UnitOut(BaseModel):
    type: str
    type_label: str
    code: str
    name: str
    key: bool = Field(description="works in a key unit (重点管理单元)")


class StandingOut(BaseModel):
    rank: int | None = Field(description="equal scores share a rank; null: nothing counted")
    unit: UnitOut
    score: float | None = Field(description="0–100, two decimals")
    measured_weight: int | float = Field(description="the weight of the components measured")
    components: list[ComponentOut]


class TargetOut(BaseModel):
    measure: str
    label: str
    scope: str
    target: float
    value: float | None
    numerator: int
    denominator: int
    met: bool | None


class SubDistrictOut(BaseModel):
    code: str
    name: str


class AssessmentOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    month: str
    from_: datetime = Field(alias="from")
    to: datetime
    generated_at: datetime
    sub_district: SubDistrictOut
    weights: WeightsOut
    targets: list[TargetOut] = Field(description="the seed's targets, key units and whole")
    discovery: list[StandingOut]
    handling: list[StandingOut]


def _number(value: Any) -> int | float:
    return int(value) if value == int(value) else float(value)


def _weights(found: WeightsInForce) -> WeightsOut:
    document = found.weights.as_json()
    return WeightsOut(
        discovery=document[Family.DISCOVERY.value],
        handling=document[Family.HANDLING.value],
        default=found.default,
        updated_at=as_china_time(found.updated_at) if found.updated_at else None,
        updated_by=found.updated_by,
        indicators={
            family.value: [
                IndicatorOut(
                    indicator=i.name,
                    label=i.measure.label,
                    scored_as=f"{i.zh} / {i.en}",
                    inverted=i.inverted,
                )
                for i in INDICATORS[family]
            ]
            for family in Family
        },
        problems=[f"{'/'.join(map(str, p.location))}: {p.message}" for p in found.problems],
    )


def _component(c: Component) -> ComponentOut:
    figure = c.figure
    return ComponentOut(
        indicator=c.indicator.name,
        label=c.indicator.measure.label,
        scored_as=f"{c.indicator.zh} / {c.indicator.en}",
        inverted=c.indicator.inverted,
        numerator=figure.numerator if figure is not None else None,
        denominator=figure.denominator if figure is not None else None,
        value=figure.value if figure is not None else None,
        credit=float(c.credit) if c.credit is not None else None,
        weight=_number(c.weight),
        points=None if c.points is None else float(published(c.points)),
        note=c.note or None,
    )


def _standing(s: Standing) -> StandingOut:
    published = s.score.published
    return StandingOut(
        rank=s.rank,
        unit=UnitOut(
            type=s.unit.type.value,
            type_label=s.unit.type.label,
            code=s.unit.code,
            name=s.unit.name,
            key=s.unit.key,
        ),
        score=None if published is None else float(published),
        measured_weight=_number(s.score.measured_weight),
        components=[_component(c) for c in s.score.components],
    )


def _target(check: TargetCheck, scope: str) -> TargetOut:
    return TargetOut(
        measure=check.measure.value,
        label=check.measure.label,
        scope=scope,
        target=float(check.target),
        value=check.figure.value,
        numerator=check.figure.numerator,
        denominator=check.figure.denominator,
        met=check.met,
    )


def _assessment(platform: Platform, month: str | None) -> MonthlyAssessment:
    now = platform.clock.now()
    period = parse_month(month, now)
    return monthly_assessment(platform.read_uow(), reader, settings_store, period, now)


@router.get(
    "/assessment",
    response_model=AssessmentOut,
    summary="督查考核 / The month's scores and rankings of discovery and handling units",
)
def get_assessment(
    platform: PlatformDep, principal: Reader, month: MonthQuery = None
) -> AssessmentOut:
    signed_in(principal)
    a = _assessment(platform, month)
    return AssessmentOut(
        month=a.month,
        from_=as_china_time(a.period.start),
        to=as_china_time(a.period.end),
        generated_at=as_china_time(a.generated_at),
        sub_district=SubDistrictOut(code=a.sub_district_code, name=a.sub_district_name),
        weights=_weights(a.weights),
        targets=[_target(c, "key") for c in a.key_targets]
        + [_target(c, "all") for c in a.all_targets],
        discovery=[_standing(s) for s in a.discovery],
        handling=[_standing(s) for s in a.handling],
    )


@router.get(
    "/assessment/weights",
    response_model=WeightsOut,
    summary="考核权重 / The weights in force",
)
def get_weights(platform: PlatformDep, principal: Reader) -> WeightsOut:
    signed_in(principal)
    return _weights(assessment_weights(platform.uow(reading=True), settings_store))


@router.put(
    "/assessment/weights",
    response_model=WeightsOut,
    summary="设置考核权重 / Replace the weights (each family adding up to 100)",
    responses={422: {"description": "every problem, located as body / family / indicator"}},
)
def put_weights(
    platform: PlatformDep,
    principal: Manager,
    body: Annotated[
        dict[str, Any],
        Body(
            description='{"discovery": {"valid_report_rate": 30, …}, "handling": {…}}: every '
            "indicator of both families, non-negative, at most two decimals, 100 per family",
        ),
    ],
) -> WeightsOut:
    actor = signed_in(principal).username
    return _weights(
        set_assessment_weights(platform.uow(), settings_store, platform.clock, actor, body)
    )


@router.get(
    "/reports/monthly",
    summary="督查考核月报 / The published monthly report (.xlsx or printable PDF)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}, PDF: {}}}},
)
def get_monthly_report(
    platform: PlatformDep,
    principal: Reader,
    month: MonthQuery = None,
    format_: Annotated[str, Query(alias="format", description="xlsx (default) or pdf")] = "xlsx",
) -> Response:
    signed_in(principal)
    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        raise InvalidInput(
            "格式无效 / unknown format",
            [Problem(("query", "format"), f"xlsx or pdf, got {format_!r}", "invalid")],
        )
    content, media_type, name = render(_assessment(platform, month), fmt)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
