"""Working time (工作时间): the Chinese working-day calendar and the day/night split.

The calendar is a value (holidays and swapped working days are data handed in by
an adapter); times are aware datetimes, read in China Standard Time (UTC+8, no
daylight saving since 1991, so a fixed offset is exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from chengyun.domain.forces import Shift

CHINA_TZ = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class WorkingCalendar:
    """Chinese working-day calendar (工作日历): public holidays (法定节假日) and swapped
    working days (调休上班), for the years in ``known_years``; other years fall back to
    Monday–Friday. Day mode runs from ``day_start`` to ``day_end`` on working days."""

    holidays: frozenset[date] = field(default_factory=frozenset)
    swapped_workdays: frozenset[date] = field(default_factory=frozenset)
    known_years: frozenset[int] = field(default_factory=frozenset)
    day_start: time = time(8, 30)
    day_end: time = time(16, 30)

    def __post_init__(self) -> None:
        if not self.day_start < self.day_end:
            raise ValueError(
                f"工作时间开始须早于结束 / day_start {self.day_start} must be before "
                f"day_end {self.day_end}"
            )

    def knows(self, day: date) -> bool:
        """Whether the holidays of ``day``'s year are known (else weekends only)."""
        return day.year in self.known_years

    def is_working_day(self, day: date) -> bool:
        if day in self.swapped_workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def shift_at(self, at: datetime) -> Shift:
        """Day inside the working hours of a working day, night at all other times
        (weekends and public holidays included)."""
        local = as_china_time(at)
        if self.is_working_day(local.date()) and self.day_start <= local.time() < self.day_end:
            return Shift.DAY
        return Shift.NIGHT


def as_china_time(at: datetime) -> datetime:
    """``at`` in China Standard Time; naive datetimes are refused, not guessed."""
    if at.tzinfo is CHINA_TZ:  # most are already (a case's times, its clocks')
        return at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"时间须带时区 / time must carry a time zone offset: {at.isoformat()}")
    return at.astimezone(CHINA_TZ)
