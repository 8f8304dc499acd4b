"""The Chinese working-day calendar from the maintained ``chinesecalendar`` package.

It knows the State Council's holiday notices for the years it ships; outside them
the domain falls back to Monday–Friday, and this adapter logs a warning once per
year so that an operator knows to update the package.
"""

from __future__ import annotations

import logging
from datetime import date, time

import chinese_calendar

from chengyun.domain.working_time import WorkingCalendar

log = logging.getLogger(__name__)
_warned: set[int] = set()


def china_calendar(day_start: time = time(8, 30), day_end: time = time(16, 30)) -> WorkingCalendar:
    holidays: frozenset[date] = frozenset(chinese_calendar.holidays)
    workdays: frozenset[date] = frozenset(chinese_calendar.workdays)
    years = frozenset(d.year for d in holidays)
    return WorkingCalendar(
        holidays=holidays,
        swapped_workdays=workdays,
        known_years=years,
        day_start=day_start,
        day_end=day_end,
    )


def warn_if_unknown(calendar: WorkingCalendar, day: date) -> None:
    """Log once per year when ``day`` lies outside the years the calendar knows."""
    if calendar.knows(day) or day.year in _warned:
        return
    _warned.add(day.year)
    log.warning(
        "工作日历不含 %s 年的节假日安排，按周一至周五计算；请升级 chinesecalendar / the working-day "
        "calendar has no holiday notice for %s: weekends only; upgrade the chinesecalendar package",
        day.year,
        day.year,
    )
