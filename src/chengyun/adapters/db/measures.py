"""The measures (考核指标) as set-based SQL over the case profiles (``case_measures``).

Each case's profile (``domain.measure_profiles``) holds what it adds to every measure,
whatever the period, so a period's figures are sums: one pass over the narrow profile
table groups the cases by their profile bits, by which anchors fall in the period and by
whether they were closed by its end (one pass per anchor when broken down by month or
day, because each anchor places a case in a month of its own), and one more gives the
handling time's 90th percentile. ``domain.measure_profiles.figures_of`` turns the sums
into figures; the integration tests compare them with the pure formulas on random data,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.case_measures import (
    ANCHOR_COLUMNS,
    DAY_COLUMNS,
    KEY_UNITS,
    WEIGHT_COLUMNS,
)
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain.measure_profiles import WEIGHTED, ProfileSum, bit, figures_of, weight_index
from chengyun.domain.measures import (
    HANDLING_TIME_ANCHOR,
    RATIO_RULES,
    Anchor,
    Duration,
    Figures,
    GroupBy,
    Measure,
    Part,
    Period,
    Scope,
    ScopeKind,
    anchor_for,
    empty_figures,
    p90_rank,
)
from chengyun.services.measures import Contribution

c = t.cases.c
m = t.case_measures.c

Sql = ColumnElement[Any]


class _Dialect:
    """What differs between SQLite and PostgreSQL: reading a JSON list as text."""

    def __init__(self, name: str) -> None:
        self.postgresql = name == "postgresql"

    def handlers_text(self) -> Sql:
        """The case's ``handlers`` (a JSON list in ``state``) as JSON text."""
        if self.postgresql:
            return sa.cast(c.state["handlers"], sa.String)
        return sa.func.json_extract(c.state, "$.handlers")


def _at(value: datetime) -> Sql:
    return sa.literal(value, t.UtcDateTime())


def _bits(mask: int) -> Sql:
    """``bits & mask`` is not zero."""
    return m.bits.op("&")(sa.cast(sa.literal(mask), sa.BigInteger)) != 0


def _cases_where(condition: Sql) -> Sql:
    """Profiles of the cases matching a condition on ``cases``."""
    return m.case_id.in_(sa.select(c.id).where(condition))


def scope_condition(sql: _Dialect, scope: Scope) -> Sql:
    value = scope.value or ""
    match scope.kind:
        case ScopeKind.ALL:
            return sa.true()
        case ScopeKind.KEY:
            return m.unit_code.in_(KEY_UNITS)
        case ScopeKind.GRID:
            return m.grid_code == value
        case ScopeKind.UNIT:
            return m.unit_code == value
        case ScopeKind.AREA:
            return _cases_where(
                sa.cast(c.area_codes, sa.String).contains(f'"{value}"', autoescape=True)
            )
        case ScopeKind.DEPARTMENT | ScopeKind.TEAM:
            return m.responsible == value
        case ScopeKind.REPORTER_TEAM:
            return m.reporter.in_(sa.select(t.people.c.number).where(t.people.c.team == value))
        case ScopeKind.PERSON:
            return sa.or_(
                m.reporter == value,
                _cases_where(
                    sa.or_(
                        c.assignee == value,
                        sql.handlers_text().contains(f'"{value}"', autoescape=True),
                    )
                ),
            )
        case ScopeKind.CHANNEL:
            return m.channel == value
        case ScopeKind.SUBCLASS:
            return m.subclass == value


_REPORTER_TEAM = t.people.c.team
_WITH_REPORTER_TEAM = t.case_measures.outerjoin(t.people, t.people.c.number == m.reporter)


def _bucket(day: Sql, group_by: GroupBy) -> Sql:
    """The month (``YYYYMM``) or day (``YYYYMMDD``) of a China-time day number."""
    return day // 100 if group_by is GroupBy.MONTH else day


def _label(bucket: int, group_by: GroupBy) -> str:
    """``YYYY-MM`` or ``YYYY-MM-DD``, as the breakdowns by time are keyed."""
    if group_by is GroupBy.MONTH:
        return f"{bucket // 100:04d}-{bucket % 100:02d}"
    return f"{bucket // 10_000:04d}-{bucket // 100 % 100:02d}-{bucket % 100:02d}"


def _group_key(group_by: GroupBy, anchor: Anchor) -> Sql:
    match group_by:
        case GroupBy.GRID:
            return m.grid_code
        case GroupBy.UNIT:
            return m.unit_code
        case GroupBy.CHANNEL:
            return m.channel
        case GroupBy.SUBCLASS:
            return m.subclass
        case GroupBy.DEPARTMENT:
            return m.responsible
        case GroupBy.REPORTER_TEAM:
            return _REPORTER_TEAM
        case GroupBy.MONTH | GroupBy.DAY:
            return _bucket(DAY_COLUMNS[anchor], group_by)


class _Query:
    """The measures of one period, scope and breakdown on one connection."""

    def __init__(
        self, connection: Connection, period: Period, scope: Scope, group_by: GroupBy | None
    ) -> None:
        self.connection = connection
        self.sql = _Dialect(connection.dialect.name)
        self.period = period
        self.scope = scope
        self.group_by = group_by
        self.source = _WITH_REPORTER_TEAM if group_by is GroupBy.REPORTER_TEAM else t.case_measures

    def inside(self, anchor: Anchor) -> Sql:
        column = ANCHOR_COLUMNS[anchor]
        return sa.and_(column >= _at(self.period.start), column < _at(self.period.end))

    def key(self, anchor: Anchor) -> Sql | None:
        if self.group_by is None:
            return None
        return _group_key(self.group_by, anchor)

    def group(self, value: Any) -> str | None:
        """A group's key as the breakdown names it."""
        if self.group_by is not None and self.group_by.by_time and value is not None:
            return _label(int(value), self.group_by)
        return value if value is None else str(value)

    def closed_by(self, anchor: Anchor) -> Sql:
        """Closed by the end of the period (and, broken down by time, by the end of the
        anchor's month or day)."""
        closed = sa.and_(m.closed_at.is_not(None), m.closed_at < _at(self.period.end))
        if self.group_by is not None and self.group_by.by_time:
            closed = sa.and_(
                closed,
                _bucket(m.closed_day, self.group_by) <= _bucket(DAY_COLUMNS[anchor], self.group_by),
            )
        return closed

    def _by_anchor(self) -> Iterable[tuple[str | None, ProfileSum]]:
        """A breakdown by month or day: one pass per anchor, the cases grouped by the
        bucket of that anchor, by whether they were closed by its end, and by bits."""
        scope = scope_condition(self.sql, self.scope)
        for anchor in Anchor:
            key = self.key(anchor)
            assert key is not None
            closed = sa.case((self.closed_by(anchor), 1), else_=0)
            statement = (
                sa.select(
                    key,
                    closed,
                    m.bits,
                    sa.func.count(),
                    *(sa.func.sum(w) for w in WEIGHT_COLUMNS),
                    sa.func.count(m.handling_us),
                    sa.func.coalesce(sa.func.sum(m.handling_us), 0),
                )
                .select_from(self.source)
                .where(scope, self.inside(anchor))
                .group_by(key, closed, m.bits)
            )
            weights = len(WEIGHT_COLUMNS)
            for group, is_closed, bits, cases, *rest in self.connection.execute(statement):
                yield (
                    self.group(group),
                    ProfileSum(
                        frozenset({anchor}),
                        bool(is_closed),
                        int(bits),
                        int(cases),
                        tuple(int(w) for w in rest[:weights]),
                        int(rest[weights]),
                        int(rest[weights + 1]),
                    ),
                )

    def _in_one_pass(self) -> Iterable[tuple[str | None, ProfileSum]]:
        """The period (broken down by anything but time, if asked): one pass grouping the
        cases by their bits only — small, well estimated groups that PostgreSQL can hash
        in parallel workers — each anchor's cases counted apart by filters."""
        anchors = list(Anchor)
        key = self.key(Anchor.REPORTED)
        closed = self.closed_by(Anchor.REPORTED)
        counts = [
            sa.func.count().filter(sa.and_(self.inside(a), is_closed))
            for a in anchors
            for is_closed in (sa.not_(closed), closed)
        ]
        weighted_anchors = frozenset(RATIO_RULES[w].anchor for w in WEIGHTED)
        # each weight column summed over the cases its measure's anchor puts in the period
        weights = [
            sa.func.coalesce(
                sa.func.sum(column).filter(self.inside(RATIO_RULES[WEIGHTED[i // 2]].anchor)), 0
            )
            for i, column in enumerate(WEIGHT_COLUMNS)
        ]
        handled = self.inside(HANDLING_TIME_ANCHOR)
        handling = [
            sa.func.count(m.handling_us).filter(handled),
            sa.func.coalesce(sa.func.sum(m.handling_us).filter(handled), 0),
        ]
        statement = (
            sa.select(*([] if key is None else [key]), m.bits, *counts, *weights, *handling)
            .select_from(self.source)
            .where(
                scope_condition(self.sql, self.scope), sa.or_(*(self.inside(a) for a in anchors))
            )
            .group_by(*([] if key is None else [key]), m.bits)
        )
        nothing = (0,) * len(WEIGHT_COLUMNS)
        for row in self.connection.execute(statement):
            values = list(row)
            group = self.group(values.pop(0)) if key is not None else None
            bits = int(values.pop(0))
            for k, anchor in enumerate(anchors):
                for j, is_closed in enumerate((False, True)):
                    if cases := int(values[2 * k + j]):
                        yield (
                            group,
                            ProfileSum(frozenset({anchor}), is_closed, bits, cases, nothing),
                        )
            rest = values[2 * len(anchors) :]
            summed = tuple(int(w) for w in rest[: len(WEIGHT_COLUMNS)])
            yield group, ProfileSum(weighted_anchors, False, 0, 0, summed)
            count, total = rest[len(WEIGHT_COLUMNS) :]
            yield (
                group,
                ProfileSum(
                    frozenset({HANDLING_TIME_ANCHOR}), False, 0, 0, nothing, int(count), int(total)
                ),
            )

    def figures(self) -> dict[str | None, Figures]:
        sums: dict[str | None, list[ProfileSum]] = {}
        by_time = self.group_by is not None and self.group_by.by_time
        for group, profile_sum in self._by_anchor() if by_time else self._in_one_pass():
            sums.setdefault(group, []).append(profile_sum)
        found = {group: figures_of(group_sums) for group, group_sums in sums.items()}
        self._add_p90(found)
        return found

    def _add_p90(self, found: dict[str | None, Figures]) -> None:
        key = self.key(HANDLING_TIME_ANCHOR)
        duration = m.handling_us
        where = [
            scope_condition(self.sql, self.scope),
            self.inside(HANDLING_TIME_ANCHOR),
            duration.is_not(None),
        ]
        if key is None:
            # The count is known from the sums: the ⌈0.9·n⌉-th smallest is the
            # (n - ⌈0.9·n⌉ + 1)-th largest, which a bounded top-N sort finds (in parallel
            # on PostgreSQL) without sorting every handling time.
            handling = (found.get(None) or {}).get(Measure.HANDLING_TIME.value)
            if not isinstance(handling, Duration) or not handling.count:
                return
            p90_us = self.connection.execute(
                sa.select(duration)
                .select_from(t.case_measures)
                .where(*where)
                .order_by(duration.desc())
                .offset(handling.count - p90_rank(handling.count))
                .limit(1)
            ).scalar_one()
            found[None][Measure.HANDLING_TIME.value] = Duration(
                handling.count, handling.total_microseconds, int(p90_us)
            )
            return
        if self.sql.postgresql:
            p90 = sa.func.percentile_disc(0.9).within_group(duration)
            statement = (
                sa.select(*([] if key is None else [key.label("grp")]), p90)
                .select_from(self.source)
                .where(*where)
            )
            if key is not None:
                statement = statement.group_by(key)
        else:
            ranked = (
                sa.select(
                    (key if key is not None else sa.literal(None)).label("grp"),
                    duration.label("us"),
                    sa.func.row_number().over(partition_by=key, order_by=duration).label("rn"),
                    sa.func.count().over(partition_by=key).label("n"),
                )
                .select_from(self.source)
                .where(*where)
                .subquery()
            )
            r = ranked.c
            statement = sa.select(*([] if key is None else [r.grp]), r.us).where(
                r.rn == (9 * r.n + 9) // 10
            )  # ⌈0.9·n⌉ in integers: domain.p90_rank
        for row in self.connection.execute(statement):
            values = list(row)
            group = self.group(values.pop(0)) if key is not None else None
            if values[0] is None:
                continue
            figures = found.setdefault(group, empty_figures())
            current = figures[Measure.HANDLING_TIME.value]
            assert isinstance(current, Duration)
            figures[Measure.HANDLING_TIME.value] = Duration(
                current.count, current.total_microseconds, int(values[0])
            )

    def weight(self, measure: Measure, part: Part) -> Sql:
        """What one case adds to ``part`` of ``measure`` (its anchor in the period aside)."""
        if measure is Measure.HANDLING_TIME:
            return sa.case((m.handling_us.is_not(None), 1), else_=0)
        if RATIO_RULES[measure].weighted:
            return WEIGHT_COLUMNS[weight_index(measure, part)]
        closed = self.closed_by(anchor_for(measure))
        return sa.case(
            (sa.and_(closed, _bits(bit(measure, part, True))), 1),
            (sa.and_(sa.not_(closed), _bits(bit(measure, part, False))), 1),
            else_=0,
        )

    def contributions(
        self, measure: Measure, part: Part, limit: int, offset: int
    ) -> tuple[int, int, list[Contribution]]:
        weight = self.weight(measure, part)
        minutes = m.handling_us if measure is Measure.HANDLING_TIME else None
        where = [
            scope_condition(self.sql, self.scope),
            self.inside(anchor_for(measure)),
            weight > 0,
        ]
        total, weights = self.connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(weight), 0))
            .select_from(t.case_measures)
            .where(*where)
        ).one()
        rows = self.connection.execute(
            sa.select(m.case_id, c.number, weight, *([] if minutes is None else [minutes]))
            .select_from(t.case_measures.join(t.cases, c.id == m.case_id))
            .where(*where)
            .order_by(m.case_id)
            .limit(limit)
            .offset(offset)
        ).all()
        items = [
            Contribution(
                int(row[0]),
                str(row[1]),
                int(row[2]),
                None if minutes is None or row[3] is None else int(row[3]) / 60_000_000,
            )
            for row in rows
        ]
        return int(total), int(weights), items


# --- the reader the measures service uses ----------------------------------------------------


class SqlMeasuresReader:
    """Runs the measures queries on the connection of an open unit of work."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def figures(self, period: Period, scope: Scope) -> Figures:
        found = _Query(self.connection, period, scope, None).figures()
        return found.get(None) or empty_figures()

    def grouped(self, period: Period, scope: Scope, group_by: GroupBy) -> dict[str | None, Figures]:
        return _Query(self.connection, period, scope, group_by).figures()

    def contributions(
        self,
        period: Period,
        scope: Scope,
        measure: Measure,
        part: Part,
        limit: int,
        offset: int,
    ) -> tuple[int, int, list[Contribution]]:
        return _Query(self.connection, period, scope, None).contributions(
            measure, part, limit, offset
        )

    def names(self, group_by: GroupBy, keys: Iterable[str]) -> dict[str, str]:
        """Display names of grids, units and subclasses (others are labelled by the
        domain)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        if group_by in (GroupBy.GRID, GroupBy.UNIT):
            table = t.grids if group_by is GroupBy.GRID else t.units
            rows = self.connection.execute(
                sa.select(table.c.code, table.c.name).where(table.c.code.in_(wanted))
            )
            return {str(code): str(name) for code, name in rows}
        if group_by is GroupBy.SUBCLASS:
            stored = self.connection.execute(
                sa.select(t.taxonomy_subclasses.c.code, t.taxonomy_subclasses.c.body).where(
                    t.taxonomy_subclasses.c.code.in_(wanted)
                )
            ).all()
            if stored:
                return {str(code): str(body.get("name_zh", code)) for code, body in stored}
            taxonomy = load_default_taxonomy()
            return {
                code: rule.name_zh for code in wanted if (rule := taxonomy.get(code)) is not None
            }
        return {}


def reader(uow: SqlUnitOfWork) -> SqlMeasuresReader:
    """The measures reader of an open unit of work (what the service is handed)."""
    return SqlMeasuresReader(uow.connection)
