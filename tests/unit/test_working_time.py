"""The working-day calendar and the day/night split, on the real Chinese calendar."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from chengyun.adapters.calendar import china_calendar
from chengyun.domain.forces import Shift
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar

CAL = china_calendar()


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CHINA_TZ)


def test_day_mode_inside_working_hours_of_a_working_day() -> None:
    # 2020-06-24 was a Wednesday and a normal working day
    assert CAL.shift_at(at(2020, 6, 24, 8, 30)) is Shift.DAY
    assert CAL.shift_at(at(2020, 6, 24, 16, 29)) is Shift.DAY
    assert CAL.shift_at(at(2020, 6, 24, 16, 30)) is Shift.NIGHT
    assert CAL.shift_at(at(2020, 6, 24, 8, 29)) is Shift.NIGHT


def test_dragon_boat_festival_is_night_mode_all_day() -> None:
    # 2020-06-25 (Thursday) was the Dragon Boat Festival holiday
    assert not CAL.is_working_day(date(2020, 6, 25))
    assert CAL.shift_at(at(2020, 6, 25, 10)) is Shift.NIGHT


def test_swapped_working_day_is_day_mode() -> None:
    # Sunday 2020-06-28 was worked in exchange for the festival
    assert date(2020, 6, 28).weekday() == 6
    assert CAL.is_working_day(date(2020, 6, 28))
    assert CAL.shift_at(at(2020, 6, 28, 10)) is Shift.DAY


def test_weekend_is_night_mode() -> None:
    assert CAL.shift_at(at(2020, 6, 27, 10)) is Shift.NIGHT  # Saturday


def test_times_in_other_zones_are_read_in_china_time() -> None:
    utc = datetime(2020, 6, 24, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert CAL.shift_at(utc) is Shift.DAY


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        CAL.shift_at(datetime(2020, 6, 24, 10))


def test_unknown_years_fall_back_to_weekends() -> None:
    calendar = WorkingCalendar()
    assert not calendar.knows(date(2099, 1, 1))
    assert calendar.is_working_day(date(2099, 1, 1))  # a Thursday; no holiday list known
    assert not calendar.is_working_day(date(2099, 1, 3))  # Saturday


def test_configurable_hours_and_refused_inverted_hours() -> None:
    calendar = WorkingCalendar(day_start=time(9), day_end=time(17))
    assert calendar.shift_at(at(2020, 6, 24, 16, 45)) is Shift.DAY
    with pytest.raises(ValueError):
        WorkingCalendar(day_start=time(17), day_end=time(9))


def test_calendar_knows_the_rollout_year() -> None:
    assert CAL.knows(date(2020, 6, 1))
    assert all(isinstance(d, date) for d in list(CAL.holidays)[:3])
    assert timedelta(0) == CHINA_TZ.utcoffset(None) - timedelta(hours=8)


def test_an_unknown_year_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    from chengyun.adapters import calendar as adapter

    adapter._warned.discard(2099)
    with caplog.at_level("WARNING"):
        adapter.warn_if_unknown(CAL, date(2099, 3, 1))
        adapter.warn_if_unknown(CAL, date(2099, 4, 1))
        adapter.warn_if_unknown(CAL, date(2020, 6, 1))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "2099" in messages[0] and "chinesecalendar" in messages[0]
