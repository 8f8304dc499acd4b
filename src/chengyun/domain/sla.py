"""Stage time limits (时限): deadlines counted in clock minutes or in working time, and the
traffic light (红黄绿灯) that shows how much of a stage's time is left.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import assert_never

from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import Stage, TimeLimit, TimeUnit, Urgency
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar, as_china_time

DEFAULT_WARN_RATIO = 0.8
"""A stage turns yellow once this share of its limit is used (in the limit's own unit)."""

URGENT_ARRIVE = TimeLimit(15, TimeUnit.MINUTES)
"""Urgent cases (紧急类): someone on scene within 15 clock minutes."""

URGENT_INITIAL_RESULT = TimeLimit(60, TimeUnit.MINUTES)
"""Urgent cases: an initial result (初步处置结果) within 1 clock hour."""

_US_PER_MINUTE = 60_000_000


class Light(Labelled):
    """The traffic light (亮灯) of a stage or a case: green while in time, yellow once
    the warning point (预警) is reached, red when overdue (超时)."""

    GREEN = "green", "绿灯", "Green", "#2e7d32"
    YELLOW = "yellow", "黄灯", "Yellow", "#f9a825"
    RED = "red", "红灯", "Red", "#c62828"

    @property
    def severity(self) -> int:
        """0 for green, 1 for yellow, 2 for red: the larger, the worse."""
        return _SEVERITY[self]


_SEVERITY: dict[Light, int] = {light: rank for rank, light in enumerate(Light)}


# --- working time ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    """What the arithmetic needs from a calendar: the working interval in microseconds
    after midnight, and the days whose working status differs from Monday–Friday, sorted,
    with running sums (+1 a swapped working day on a weekend, -1 a weekday holiday)."""

    start_us: int
    day_us: int
    ordinals: tuple[int, ...]
    prefix: tuple[int, ...]
    flipped: frozenset[int]
    """The same days as ``ordinals``, to ask about one day."""


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@lru_cache(maxsize=16)
def _table(calendar: WorkingCalendar) -> _Table:
    exceptions: list[tuple[int, int]] = []
    for day in calendar.holidays | calendar.swapped_workdays:
        working = calendar.is_working_day(day)
        if working != (day.weekday() < 5):
            exceptions.append((day.toordinal(), 1 if working else -1))
    exceptions.sort()
    prefix = [0]
    for _, sign in exceptions:
        prefix.append(prefix[-1] + sign)
    start_us = _time_us(calendar.day_start)
    return _Table(
        start_us=start_us,
        day_us=_time_us(calendar.day_end) - start_us,
        ordinals=tuple(o for o, _ in exceptions),
        prefix=tuple(prefix),
        flipped=frozenset(o for o, _ in exceptions),
    )


def _working_days_before(table: _Table, ordinal: int) -> int:
    """Working days among the ordinals [1, ``ordinal``); ordinal 1 (0001-01-01) is a Monday.
    Only differences of this count are meaningful."""
    weeks, rest = divmod(ordinal - 1, 7)
    return 5 * weeks + min(rest, 5) + table.prefix[bisect_left(table.ordinals, ordinal)]


#: Up to this many working days ahead (a case's limits: most are within the day), the
#: day is found by walking; further, by searching (``_nth_working_day``).
_WALK_DAYS = 8
#: The walk's longest stretch of days (a holiday week and its weekends fit several times).
_WALK_SPAN = 31


def _nth_working_day(table: _Table, first: int, n: int) -> int:
    """The ordinal of the ``n``-th working day (0 = the first) on or after ordinal ``first``:
    for a few days ahead, by walking day by day (three times quicker for the first); else
    by exponential then binary search on the working-day count."""
    if n < _WALK_DAYS:
        left = n
        for day in range(first, first + _WALK_SPAN):
            # ordinal 1 (0001-01-01) is a Monday; a flipped day is the other way round
            if ((day - 1) % 7 < 5) != (day in table.flipped):
                if left == 0:
                    return day
                left -= 1
    need = _working_days_before(table, first) + n + 1
    low, step = first, (n + 1) * 7 // 5 + 16
    high = first + step
    while _working_days_before(table, high) < need:
        low, step = high, step * 2
        high = first + step
    # invariant: fewer than ``need`` working days before ``low``, at least ``need`` before ``high``
    while high - low > 1:
        middle = (low + high) // 2
        if _working_days_before(table, middle) >= need:
            high = middle
        else:
            low = middle
    return high - 1


def _within_day_us(local: datetime, calendar: WorkingCalendar, table: _Table) -> int:
    """Working microseconds of ``local``'s day before ``local`` (0 on non-working days)."""
    if not calendar.is_working_day(local.date()):
        return 0
    offset = _time_us(local.time()) - table.start_us
    return min(max(offset, 0), table.day_us)


def _checked_us(amount: timedelta) -> int:
    if amount < timedelta(0):
        raise ValueError(f"时长不能为负 / a duration cannot be negative: {amount}")
    return amount // timedelta(microseconds=1)


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{what}须为有限数 / {what} must be a finite number, got {value}")
    return value


def _add_working_us(start: datetime, us: int, calendar: WorkingCalendar) -> datetime:
    local = as_china_time(start)
    table = _table(calendar)
    # working microseconds to cover, counted from the start of ``local``'s day
    total = _within_day_us(local, calendar, table) + us
    # on which working day the result falls (0 = the first on or after ``local``'s day):
    # a positive amount used up exactly at day_end ends there, not at the next day_start
    index = total // table.day_us if us == 0 else (total - 1) // table.day_us
    day = date.fromordinal(_nth_working_day(table, local.date().toordinal(), index))
    into_day = timedelta(microseconds=total - index * table.day_us)
    return datetime.combine(day, calendar.day_start, tzinfo=CHINA_TZ) + into_day


def add_working_time(start: datetime, minutes: float, calendar: WorkingCalendar) -> datetime:
    """Advance ``minutes`` of working time (工作时间) from ``start``.

    Working time is [day_start, day_end) of each working day, read in China time. A start
    outside it begins at the next working interval's start, so 0 minutes returns ``start``
    inside working time and the next day_start outside it. A positive amount used up
    exactly at the end of a working day ends at that day_end (15:30 + 1 h is 16:30 the
    same day). Exact to the microsecond; the result is in China time.
    """
    return _add_working_us(
        start, _checked_us(timedelta(minutes=_finite(minutes, "分钟数 minutes"))), calendar
    )


def working_minutes_between(start: datetime, end: datetime, calendar: WorkingCalendar) -> float:
    """Working minutes in [start, end); negative (the same amount) when ``end`` is earlier."""
    table = _table(calendar)
    a, b = as_china_time(start), as_china_time(end)
    days = _working_days_before(table, b.date().toordinal()) - _working_days_before(
        table, a.date().toordinal()
    )
    us = (
        days * table.day_us
        - _within_day_us(a, calendar, table)
        + _within_day_us(b, calendar, table)
    )
    return us / _US_PER_MINUTE


def working_minutes_per_day(calendar: WorkingCalendar) -> float:
    """The length of one working day (工作日) in minutes: day_end - day_start."""
    return _table(calendar).day_us / _US_PER_MINUTE


def deadline_for(start: datetime, limit: TimeLimit, calendar: WorkingCalendar) -> datetime:
    """The instant ``limit`` runs out when started at ``start``, in China time.

    Clock minutes ignore the calendar; working hours and working days are working time,
    one working day being the working hours of one day (8 h by default), so one working
    day from Wednesday 10:00 is Thursday 10:00, and from 08:30 it is 16:30 the same day.
    """
    amount = _finite(limit.amount, "时限 limit")
    unit = limit.unit
    if unit is TimeUnit.MINUTES:
        return as_china_time(start) + timedelta(microseconds=_checked_us(timedelta(minutes=amount)))
    if unit is TimeUnit.WORKING_HOURS:
        return _add_working_us(start, _checked_us(timedelta(hours=amount)), calendar)
    if unit is TimeUnit.WORKING_DAYS:
        day_us = _table(calendar).day_us
        return _add_working_us(
            start, _checked_us(timedelta(microseconds=amount * day_us)), calendar
        )
    assert_never(unit)


# --- deadlines ------------------------------------------------------------------------------


def _checked_ratio(warn_ratio: float) -> float:
    if not 0 <= warn_ratio <= 1:
        raise ValueError(
            f"预警比例须在0到1之间 / the warning ratio must be between 0 and 1, got {warn_ratio}"
        )
    return warn_ratio


@dataclass(frozen=True)
class Deadline:
    """One stage's clock: started, warning point (预警时间) and due time (截止时间).

    ``limit`` is the limit originally granted; approved extensions (延期) are kept, in
    order, in ``extensions``. ``warn_ratio`` is the share of the granted time after which
    the light turns yellow.
    """

    stage: Stage
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    limit: TimeLimit
    warn_ratio: float = DEFAULT_WARN_RATIO
    extensions: tuple[TimeLimit, ...] = ()

    def __post_init__(self) -> None:
        for moment in (self.started_at, self.warn_at, self.due_at):
            as_china_time(moment)
        _checked_ratio(self.warn_ratio)
        if self.warn_at > self.due_at:
            raise ValueError(
                f"预警时间晚于截止时间 / warn_at {self.warn_at.isoformat()} is after due_at "
                f"{self.due_at.isoformat()}"
            )

    def light(self, now: datetime) -> Light:
        """Green before ``warn_at``, yellow from ``warn_at``, red from ``due_at`` on."""
        at = as_china_time(now)
        if at >= self.due_at:
            return Light.RED
        if at >= self.warn_at:
            return Light.YELLOW
        return Light.GREEN

    def remaining(self, now: datetime) -> timedelta:
        """Wall-clock time left until ``due_at``; negative once overdue."""
        return self.due_at - as_china_time(now)


def make_deadline(
    stage: Stage,
    started_at: datetime,
    limit: TimeLimit,
    calendar: WorkingCalendar,
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> Deadline:
    """A stage's deadline from its rule's limit; it warns after ``warn_ratio`` of the limit
    in the limit's own unit (80 % of the working time of a working-day limit, not of the
    wall-clock span)."""
    ratio = _checked_ratio(warn_ratio)
    return Deadline(
        stage=stage,
        started_at=as_china_time(started_at),
        warn_at=deadline_for(started_at, limit.scaled(ratio), calendar),
        due_at=deadline_for(started_at, limit, calendar),
        limit=limit,
        warn_ratio=ratio,
    )


def fixed_deadline(
    stage: Stage,
    started_at: datetime,
    due_at: datetime,
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> Deadline:
    """A deadline given from outside, as 12345 hotline orders (12345市民服务热线工单) bring
    their own: it warns after ``warn_ratio`` of the wall-clock span, and its ``limit`` is
    that span in clock minutes. An order already overdue when it arrives is red at once
    (limit 0, warn_at = due_at)."""
    ratio = _checked_ratio(warn_ratio)
    start, due = as_china_time(started_at), as_china_time(due_at)
    span = max(due - start, timedelta(0))
    return Deadline(
        stage=stage,
        started_at=start,
        warn_at=min(start + span * ratio, due),
        due_at=due,
        limit=TimeLimit(span / timedelta(minutes=1), TimeUnit.MINUTES),
        warn_ratio=ratio,
    )


def extend(deadline: Deadline, extra: TimeLimit, calendar: WorkingCalendar) -> Deadline:
    """An approved extension (延期): ``extra`` is added to the current ``due_at`` (working
    or clock time, by its unit), and ``warn_ratio`` of ``extra`` to the current ``warn_at``.

    So the warning point stays at ``warn_ratio`` of all the time granted (original limit
    plus extensions, each in its own unit): 10 working days warned at 8; extended by 5
    they are due at 15 and warn at 12. A stage extended while yellow turns green again
    only if enough was added.
    """
    amount = _finite(extra.amount, "延期 extension")
    if not amount > 0:
        raise ValueError(f"延期须为正 / an extension must be positive, got {extra}")
    return replace(
        deadline,
        warn_at=deadline_for(deadline.warn_at, extra.scaled(deadline.warn_ratio), calendar),
        due_at=deadline_for(deadline.due_at, extra, calendar),
        extensions=(*deadline.extensions, extra),
    )


def stage_limit(stage: Stage, urgency: Urgency, rule_limit: TimeLimit) -> TimeLimit:
    """The limit that applies: for urgent cases the seed's overrides for arriving on scene
    and for the (initial) handling result, otherwise the subclass rule's limit."""
    if urgency is Urgency.URGENT:
        if stage is Stage.ARRIVE:
            return URGENT_ARRIVE
        if stage is Stage.HANDLE:
            return URGENT_INITIAL_RESULT
    return rule_limit


def worst_light(deadlines: Iterable[Deadline], now: datetime) -> Light:
    """A case's light: the worst of its open stages' lights (green when none is open)."""
    return max(
        (deadline.light(now) for deadline in deadlines),
        key=lambda light: light.severity,
        default=Light.GREEN,
    )
