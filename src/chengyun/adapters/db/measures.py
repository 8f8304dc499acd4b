"""The measures (考核指标) as set-based SQL over the facts columns of ``cases``.

Each measure of ``domain.measures`` is written here a second time, as sums of ``CASE``
expressions: one query per anchor (the moment that places a case in a period), grouped
by the breakdown if one is asked for, on SQLite and PostgreSQL. Durations are exact
integer microseconds on both databases, so the figures equal the pure ones exactly; the
integration tests compare the two on random data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain.cases import OWN_DISCOVERY_CHANNELS, CaseStatus, Channel
from chengyun.domain.measures import (
    EXCLUDED_STATUSES,
    MEASURE_ORDER,
    OTHER_CHANNELS,
    URGENT_ARRIVAL_US,
    URGENT_INITIAL_RESULT_US,
    Anchor,
    CaseFacts,
    Duration,
    Figures,
    GroupBy,
    Measure,
    Part,
    Period,
    Ratio,
    Scope,
    ScopeKind,
    anchor_for,
    empty_figures,
)
from chengyun.domain.taxonomy import Stage, Urgency
from chengyun.services.measures import Contribution

c = t.cases.c
_e = t.case_events.c

Sql = ColumnElement[Any]

#: Why a rejected report was not registered, from its ``reject`` event.
_REJECT_REASON: Sql = (
    sa.select(_e.data["reason_kind"].as_string())
    .where(_e.case_id == c.id, _e.action == "reject")
    .order_by(_e.seq.desc())
    .limit(1)
    .scalar_subquery()
)
_FIRST_FOUND_AT: Sql = sa.type_coerce(
    sa.func.coalesce(c.first_found_at, c.reported_at), t.UtcDateTime()
)
_FIRST_CHANNEL: Sql = sa.func.coalesce(c.first_channel, c.channel)
#: The team type of the person who reported the case (the discovery side).
_REPORTER_TEAM: Sql = (
    sa.select(t.people.c.team).where(t.people.c.number == c.reporter).scalar_subquery()
)
_KEY_UNITS = sa.select(t.units.c.code).where(t.units.c["key"] == sa.true())

_ANCHORS: Mapping[Anchor, Sql] = {
    Anchor.FOUND: _FIRST_FOUND_AT,
    Anchor.REPORTED: c.reported_at,
    Anchor.CLOSE_DUE: sa.type_coerce(
        sa.case((c.self_handled == sa.true(), c.reported_at), else_=c.handle_due_at),
        t.UtcDateTime(),
    ),
    Anchor.HANDLE_DUE: c.handle_due_at,
    Anchor.DISPATCHED: c.arrive_started_at,
    Anchor.HANDLE_STARTED: c.handle_started_at,
    Anchor.REGISTER_DUE: c.register_due_at,
    Anchor.DISPATCH_DUE: c.dispatch_due_at,
    Anchor.HANDLED: c.handle_done_at,
}


def _values(items: Iterable[Any]) -> list[str]:
    return sorted(str(i.value) for i in items)


class _Dialect:
    """What differs between SQLite and PostgreSQL: time arithmetic, calendar buckets in
    China time, and reading a JSON list as text."""

    def __init__(self, name: str) -> None:
        self.postgresql = name == "postgresql"

    def micros(self, column: Sql) -> Sql:
        """Microseconds since the epoch, exactly, as an integer."""
        if self.postgresql:
            return sa.cast(sa.extract("epoch", column) * 1_000_000, sa.BigInteger)
        # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: whole seconds from the first 19
        # characters (no rounding of the fraction), then the microseconds as digits.
        seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(column, 1, 19)), sa.Integer)
        return seconds * 1_000_000 + sa.cast(sa.func.substr(column, 21, 6), sa.Integer)

    def bucket(self, column: Sql, group_by: GroupBy) -> Sql:
        """The China-time month ``YYYY-MM`` or day ``YYYY-MM-DD`` of a UTC moment."""
        # Constants are literal SQL so that the same expression in SELECT and GROUP BY is
        # recognised as one by PostgreSQL.
        month = group_by is GroupBy.MONTH
        if self.postgresql:
            local = sa.func.timezone(sa.literal_column("'UTC'"), column) + sa.literal_column(
                "interval '8 hours'"
            )
            return sa.func.to_char(
                local, sa.literal_column("'YYYY-MM'" if month else "'YYYY-MM-DD'")
            )
        return sa.func.strftime(
            sa.literal_column("'%Y-%m'" if month else "'%Y-%m-%d'"),
            sa.func.substr(column, 1, 19),
            sa.literal_column("'+8 hours'"),
        )

    def handlers_text(self) -> Sql:
        """The case's ``handlers`` (a JSON list in ``state``) as JSON text."""
        if self.postgresql:
            return sa.cast(c.state["handlers"], sa.String)
        return sa.func.json_extract(c.state, "$.handlers")


def _one(condition: Sql) -> Sql:
    return sa.case((condition, 1), else_=0)


def _weight(condition: Sql, amount: Sql) -> Sql:
    return sa.case((condition, amount), else_=0)


def _valid() -> Sql:
    return sa.and_(c.pre_launch == sa.false(), c.status.not_in(_values(EXCLUDED_STATUSES)))


def _working() -> Sql:
    return sa.and_(_valid(), c.status != CaseStatus.ON_HOLD.value)


def _in_place() -> Sql:
    return c.status != CaseStatus.REGISTERED.value


@dataclass(frozen=True)
class _Rules:
    """The numerator and denominator weights of every ratio, mirroring
    ``domain.measures.RATIO_RULES`` line by line."""

    sql: _Dialect
    closed_by: Sql
    """The case was closed by the end of the (sub-)period."""

    def within(self, done: Sql, started: Sql, limit_us: int) -> Sql:
        return sa.and_(
            done.is_not(None),
            started.is_not(None),
            self.sql.micros(done) - self.sql.micros(started) <= limit_us,
        )

    def ratio(self, measure: Measure) -> tuple[Sql, Sql]:
        valid, working = _valid(), _working()
        urgent = c.urgency == Urgency.URGENT.value
        by_handling_deadline = sa.and_(
            c.handle_done_at.is_not(None),
            c.handle_due_at.is_not(None),
            c.handle_done_at <= c.handle_due_at,
        )
        patrol_report = sa.and_(
            c.channel == Channel.PATROL.value,
            c.pre_launch == sa.false(),
            c.status.not_in([CaseStatus.FORWARDED.value, CaseStatus.REPORTED.value]),
        )
        rejected_invalid = sa.and_(
            c.status == CaseStatus.REJECTED.value,
            sa.func.coalesce(_REJECT_REASON, "") != "duplicate",
        )
        match measure:
            case Measure.FIRST_DISCOVERY_RATE:
                own = _FIRST_CHANNEL.in_(_values(OWN_DISCOVERY_CHANNELS))
                return _one(sa.and_(valid, own)), _one(valid)
            case Measure.MISSED_REPORT_RATE:
                other = _FIRST_CHANNEL.in_(_values(OTHER_CHANNELS))
                return _one(sa.and_(valid, other)), _one(valid)
            case Measure.INTELLIGENT_DISCOVERY_SHARE:
                ai = _FIRST_CHANNEL == Channel.VIDEO_AI.value  # noqa: SIM300  (SQL, not a constant)
                return _one(sa.and_(valid, ai)), _one(valid)
            case Measure.SELF_HANDLED_SHARE:
                return _one(sa.and_(valid, c.self_handled == sa.true())), _one(valid)
            case Measure.CLOSURE_RATE:
                return _one(sa.and_(working, self.closed_by)), _one(working)
            case Measure.ON_TIME_CLOSURE_RATE:
                on_time = sa.or_(c.self_handled == sa.true(), by_handling_deadline)
                return _one(sa.and_(working, self.closed_by, on_time)), _one(working)
            case Measure.URGENT_ON_TIME_ARRIVAL_RATE:
                arrived = self.within(c.arrive_done_at, c.arrive_started_at, URGENT_ARRIVAL_US)
                return (
                    _one(sa.and_(working, urgent, _in_place(), arrived)),
                    _one(sa.and_(working, urgent)),
                )
            case Measure.URGENT_ON_TIME_INITIAL_RESULT_RATE:
                result = self.within(
                    c.handle_done_at, c.handle_started_at, URGENT_INITIAL_RESULT_US
                )
                return (
                    _one(sa.and_(working, urgent, _in_place(), result)),
                    _one(sa.and_(working, urgent)),
                )
            case Measure.ON_TIME_HANDLING_RATE:
                return _one(sa.and_(working, _in_place(), by_handling_deadline)), _one(working)
            case Measure.ON_TIME_REGISTRATION_RATE:
                return _one(sa.and_(working, _by(Stage.REGISTER))), _one(working)
            case Measure.ON_TIME_DISPATCH_RATE:
                return _one(sa.and_(working, _by(Stage.DISPATCH))), _one(working)
            case Measure.RETURN_RATE:
                return _weight(valid, c.returns), _weight(valid, c.dispatches)
            case Measure.DISPATCH_ACCURACY:
                return _weight(valid, c.dispatches - c.returns), _weight(valid, c.dispatches)
            case Measure.REWORK_RATE:
                return _weight(valid, c.failed_checks), _weight(valid, c.checks)
            case Measure.EXTENSION_RATE:
                dispatched = sa.and_(valid, c.dispatches > 0)
                return _one(sa.and_(dispatched, c.extensions > 0)), _one(dispatched)
            case Measure.VALID_REPORT_RATE:
                kept = sa.and_(
                    patrol_report,
                    c.status != CaseStatus.VOIDED.value,
                    sa.not_(rejected_invalid),
                )
                return _one(kept), _one(patrol_report)
        raise ValueError(f"{measure.value} is not a ratio")

    def handled(self) -> Sql:
        """The case counts in the handling time (its anchor, handling done, aside)."""
        return sa.and_(
            _working(),
            _in_place(),
            c.handle_done_at.is_not(None),
            c.dispatch_done_at.is_not(None),
        )

    def handling_us(self) -> Sql:
        return self.sql.micros(c.handle_done_at) - self.sql.micros(c.dispatch_done_at)


def _by(stage: Stage) -> Sql:
    done, due = c[f"{stage.value}_done_at"], c[f"{stage.value}_due_at"]
    return sa.and_(done.is_not(None), due.is_not(None), done <= due)


def _at(value: datetime) -> Sql:
    return sa.literal(value, t.UtcDateTime())


def scope_condition(sql: _Dialect, scope: Scope) -> Sql:
    value = scope.value or ""
    match scope.kind:
        case ScopeKind.ALL:
            return sa.true()
        case ScopeKind.KEY:
            return c.unit_code.in_(_KEY_UNITS)
        case ScopeKind.GRID:
            return c.grid_code == value
        case ScopeKind.UNIT:
            return c.unit_code == value
        case ScopeKind.AREA:
            return sa.cast(c.area_codes, sa.String).contains(f'"{value}"', autoescape=True)
        case ScopeKind.DEPARTMENT | ScopeKind.TEAM:
            return c.responsible == value
        case ScopeKind.REPORTER_TEAM:
            return c.reporter.in_(sa.select(t.people.c.number).where(t.people.c.team == value))
        case ScopeKind.PERSON:
            return sa.or_(
                c.reporter == value,
                c.assignee == value,
                sql.handlers_text().contains(f'"{value}"', autoescape=True),
            )
        case ScopeKind.CHANNEL:
            return c.channel == value
        case ScopeKind.SUBCLASS:
            return c.subclass == value


def _group_key(sql: _Dialect, group_by: GroupBy, anchor: Sql) -> Sql:
    match group_by:
        case GroupBy.GRID:
            return c.grid_code
        case GroupBy.UNIT:
            return c.unit_code
        case GroupBy.CHANNEL:
            return c.channel
        case GroupBy.SUBCLASS:
            return c.subclass
        case GroupBy.DEPARTMENT:
            return c.responsible
        case GroupBy.REPORTER_TEAM:
            return _REPORTER_TEAM
        case GroupBy.MONTH | GroupBy.DAY:
            return sql.bucket(anchor, group_by)


def _families() -> list[tuple[Anchor, list[Measure]]]:
    families: dict[Anchor, list[Measure]] = {}
    for measure in MEASURE_ORDER:
        families.setdefault(anchor_for(measure), []).append(measure)
    return list(families.items())


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

    def where(self, anchor: Sql) -> list[Sql]:
        return [
            c.pre_launch == sa.false(),
            scope_condition(self.sql, self.scope),
            anchor >= _at(self.period.start),
            anchor < _at(self.period.end),
        ]

    def key(self, anchor: Sql) -> Sql | None:
        return None if self.group_by is None else _group_key(self.sql, self.group_by, anchor)

    def rules(self, anchor: Sql) -> _Rules:
        closed_by = sa.and_(c.closed_at.is_not(None), c.closed_at < _at(self.period.end))
        if self.group_by is not None and self.group_by.by_time:
            # closed by the end of the anchor's month or day
            closed_by = sa.and_(
                closed_by,
                self.sql.bucket(c.closed_at, self.group_by)
                <= self.sql.bucket(anchor, self.group_by),
            )
        return _Rules(self.sql, closed_by)

    def figures(self) -> dict[str | None, Figures]:
        found: dict[str | None, Figures] = {}
        for anchor_name, measures in _families():
            anchor = _ANCHORS[anchor_name]
            rules = self.rules(anchor)
            key = self.key(anchor)
            columns: list[Sql] = []
            for measure in measures:
                if measure is Measure.HANDLING_TIME:
                    handled = rules.handled()
                    columns += [_weight(handled, rules.handling_us()), _one(handled)]
                else:
                    columns += list(rules.ratio(measure))
            sums = [sa.func.coalesce(sa.func.sum(x), 0) for x in columns]
            statement = sa.select(*([] if key is None else [key.label("grp")]), *sums).where(
                *self.where(anchor)
            )
            if key is not None:
                statement = statement.group_by(key)
            for row in self.connection.execute(statement):
                values = list(row)
                group = values.pop(0) if key is not None else None
                figures = found.setdefault(group, empty_figures())
                for i, measure in enumerate(measures):
                    first, second = int(values[2 * i]), int(values[2 * i + 1])
                    if measure is Measure.HANDLING_TIME:
                        figures[measure.value] = Duration(second, first, None)
                    else:
                        figures[measure.value] = Ratio(first, second)
        self._add_p90(found)
        return found

    def _add_p90(self, found: dict[str | None, Figures]) -> None:
        anchor = _ANCHORS[Anchor.HANDLED]
        rules = self.rules(anchor)
        key = self.key(anchor)
        duration = rules.handling_us()
        where = [*self.where(anchor), rules.handled()]
        if self.sql.postgresql:
            p90 = sa.func.percentile_disc(0.9).within_group(duration)
            statement = sa.select(*([] if key is None else [key.label("grp")]), p90).where(*where)
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
                .where(*where)
                .subquery()
            )
            r = ranked.c
            statement = sa.select(*([] if key is None else [r.grp]), r.us).where(
                r.rn == (9 * r.n + 9) // 10
            )  # ⌈0.9·n⌉ in integers: domain.p90_rank
        for row in self.connection.execute(statement):
            values = list(row)
            group = values.pop(0) if key is not None else None
            if values[0] is None:
                continue
            figures = found.setdefault(group, empty_figures())
            current = figures[Measure.HANDLING_TIME.value]
            assert isinstance(current, Duration)
            figures[Measure.HANDLING_TIME.value] = Duration(
                current.count, current.total_microseconds, int(values[0])
            )

    def contributions(
        self, measure: Measure, part: Part, limit: int, offset: int
    ) -> tuple[int, int, list[Contribution]]:
        anchor = _ANCHORS[anchor_for(measure)]
        rules = self.rules(anchor)
        minutes: Sql | None = None
        if measure is Measure.HANDLING_TIME:
            weight = _one(rules.handled())
            minutes = sa.case((rules.handled(), rules.handling_us()), else_=None)
        else:
            numerator, denominator = rules.ratio(measure)
            weight = numerator if part is Part.NUMERATOR else denominator
        where = [*self.where(anchor), weight > 0]
        total, weights = self.connection.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(weight), 0)).where(*where)
        ).one()
        rows = self.connection.execute(
            sa.select(c.id, c.number, weight, *([] if minutes is None else [minutes]))
            .where(*where)
            .order_by(c.id)
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


# --- the facts, row by row (for the tests' cross-check) --------------------------------------


def fetch_facts(
    connection: Connection, start: datetime, end: datetime, scope: Scope
) -> list[CaseFacts]:
    """The facts of every case in ``scope`` that any measure could place in
    ``[start, end)``, pre-launch ones included (the formulas leave them out)."""
    sql = _Dialect(connection.dialect.name)
    anchors = [sa.and_(a >= _at(start), a < _at(end)) for a in _ANCHORS.values()]
    stage_columns = [
        c[f"{stage.value}_{what}"]
        for stage in Stage
        for what in ("started_at", "due_at", "done_at")
    ]
    statement = (
        sa.select(
            c.id,
            c.number,
            c.status,
            c.channel,
            _FIRST_CHANNEL.label("first_channel"),
            c.reported_at,
            _FIRST_FOUND_AT.label("first_found_at"),
            c.urgency,
            c.subclass,
            c.grid_code,
            c.unit_code,
            sa.case((c.unit_code.in_(_KEY_UNITS), True), else_=False).label("key_unit"),
            c.area_codes,
            c.pre_launch,
            c.self_handled,
            c.merged_into,
            c.reporter,
            c.assignee,
            c.state,
            c.responsible,
            _REPORTER_TEAM.label("reporter_team"),
            _REJECT_REASON.label("reject_reason"),
            c.closed_at,
            c.dispatches,
            c.returns,
            c.reworks,
            c.extensions,
            c.checks,
            c.failed_checks,
            *stage_columns,
        )
        .where(scope_condition(sql, scope), sa.or_(*anchors))
        .order_by(c.id)
    )
    facts = []
    for row in connection.execute(statement):
        data = row._mapping
        facts.append(
            CaseFacts(
                id=int(data["id"]),
                number=str(data["number"]),
                status=CaseStatus(data["status"]),
                channel=Channel(data["channel"]),
                first_channel=Channel(data["first_channel"]),
                reported_at=data["reported_at"],
                first_found_at=data["first_found_at"],
                urgency=Urgency(data["urgency"]),
                subclass=str(data["subclass"]),
                grid_code=data["grid_code"],
                unit_code=data["unit_code"],
                key_unit=bool(data["key_unit"]),
                area_codes=tuple(data["area_codes"] or ()),
                pre_launch=bool(data["pre_launch"]),
                self_handled=bool(data["self_handled"]),
                merged_into=data["merged_into"],
                reporter=data["reporter"],
                assignee=data["assignee"],
                handlers=tuple((data["state"] or {}).get("handlers") or ()),
                responsible=data["responsible"],
                reporter_team=data["reporter_team"],
                reject_reason=data["reject_reason"],
                closed_at=data["closed_at"],
                dispatches=int(data["dispatches"]),
                returns=int(data["returns"]),
                reworks=int(data["reworks"]),
                extensions=int(data["extensions"]),
                checks=int(data["checks"]),
                failed_checks=int(data["failed_checks"]),
                **{column.name: data[column.name] for column in stage_columns},
            )
        )
    return facts
