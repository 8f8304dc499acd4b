"""Measures (考核指标) use cases: the figures of a period and scope, broken down if asked,
and the cases behind one figure (drill-down).

The queries run on whatever the unit of work holds open; the service is handed a small
``MeasuresReader`` for it by a callable (``adapters.db.measures.reader``), so the unit of
work itself needs no measures repository.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TypeVar

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.measures import (
    TARGETS,
    Figures,
    GroupBy,
    Measure,
    Part,
    Period,
    Scope,
    arrange_groups,
    group_label,
    parse_group_by,
    parse_period,
    parse_scope,
    permitted_scope,
)


@dataclass(frozen=True)
class Contribution:
    """One case behind a figure and what it adds to it (``minutes``: its handling time,
    for the handling-time measure)."""

    id: int
    number: str
    weight: int
    minutes: float | None = None


class MeasuresReader(Protocol):
    """What can run the measures queries (set-based; the SQL adapter)."""

    def figures(self, period: Period, scope: Scope) -> Figures: ...

    def grouped(
        self, period: Period, scope: Scope, group_by: GroupBy
    ) -> dict[str | None, Figures]: ...

    def contributions(
        self,
        period: Period,
        scope: Scope,
        measure: Measure,
        part: Part,
        limit: int,
        offset: int,
    ) -> tuple[int, int, list[Contribution]]:
        """(cases, sum of their weights, one page of them by id)."""
        ...

    def names(self, group_by: GroupBy, keys: list[str]) -> dict[str, str]: ...


class Transaction(Protocol):
    """The part of a unit of work the measures need: a transaction to read in."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


U = TypeVar("U", bound=Transaction)


@dataclass(frozen=True)
class MeasuresRequest:
    period: Period
    scope: Scope = field(default_factory=Scope)
    group_by: GroupBy | None = None

    @classmethod
    def parse(
        cls,
        from_text: str | None,
        to_text: str | None,
        scope_text: str | None,
        group_by_text: str | None,
        now: datetime,
        own: Scope | None = None,
        person: str | None = None,
    ) -> MeasuresRequest:
        """From query parameters, for someone working in ``own`` scope (``None``: the whole
        sub-district) who is the person ``person``; ``InvalidInput`` naming the parameter,
        or ``Forbidden`` for a scope beyond their own."""
        period = parse_period(from_text, to_text, now)
        requested = parse_scope(scope_text) if scope_text and scope_text.strip() else None
        return cls(
            period,
            permitted_scope(requested, own, person),
            parse_group_by(group_by_text, period),
        )


@dataclass(frozen=True)
class Group:
    key: str | None
    label: str
    figures: Figures


@dataclass(frozen=True)
class MeasuresReport:
    request: MeasuresRequest
    figures: Figures | None = None
    """Without a breakdown: the figures of the whole scope."""
    groups: list[Group] | None = None
    """With a breakdown: one entry per group (see ``domain.measures.arrange_groups``)."""
    targets: Mapping[str, float] = field(default_factory=lambda: dict(TARGETS))


def measures_report(
    uow: U, reader: Callable[[U], MeasuresReader], request: MeasuresRequest
) -> MeasuresReport:
    """The measures of a period and scope, broken down by ``request.group_by`` if given."""
    with uow:
        source = reader(uow)
        if request.group_by is None:
            return MeasuresReport(request, figures=source.figures(request.period, request.scope))
        group_by = request.group_by
        found = source.grouped(request.period, request.scope, group_by)
        arranged = arrange_groups(group_by, request.period, found)
        names = source.names(group_by, [k for k, _ in arranged if k is not None])
    groups = [Group(key, group_label(group_by, key, names), figures) for key, figures in arranged]
    return MeasuresReport(request, groups=groups)


@dataclass(frozen=True)
class CasesBehind:
    request: MeasuresRequest
    measure: Measure
    part: Part
    total: int
    """How many cases contribute."""
    sum: int
    """The sum of their weights: the figure's numerator or denominator (the count, for
    the handling time)."""
    items: list[Contribution]


MAX_LIMIT = 5000


def parse_drill_down(measure_text: str | None, part_text: str | None) -> tuple[Measure, Part]:
    """The measure and side of a drill-down request; ``InvalidInput`` naming the parameter."""
    try:
        measure = Measure((measure_text or "").strip())
    except ValueError:
        names = ", ".join(m.value for m in Measure)
        raise InvalidInput(
            "指标无效 / unknown measure",
            [Problem(("query", "measure"), f"one of {names}", "invalid")],
        ) from None
    try:
        part = Part((part_text or Part.NUMERATOR.value).strip())
    except ValueError:
        raise InvalidInput(
            "part 无效 / part must be numerator or denominator",
            [Problem(("query", "part"), "numerator or denominator", "invalid")],
        ) from None
    return measure, part


def cases_behind(
    uow: U,
    reader: Callable[[U], MeasuresReader],
    request: MeasuresRequest,
    measure: Measure,
    part: Part,
    limit: int = 1000,
    offset: int = 0,
) -> CasesBehind:
    """The cases behind one side of a figure, by id, with what each adds to it."""
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidInput(
            "分页参数无效 / limit or offset out of range",
            [Problem(("query", "limit"), f"1 ≤ limit ≤ {MAX_LIMIT}, offset ≥ 0", "range")],
        )
    with uow:
        total, weights, items = reader(uow).contributions(
            request.period, request.scope, measure, part, limit, offset
        )
    return CasesBehind(request, measure, part, total, weights, items)
