"""Stage deadlines and lights, on the real Chinese working-day calendar."""

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengyun.adapters.calendar import china_calendar
from chengyun.domain.sla import (
    URGENT_ARRIVE,
    URGENT_INITIAL_RESULT,
    Deadline,
    Light,
    add_working_time,
    deadline_for,
    extend,
    fixed_deadline,
    make_deadline,
    stage_limit,
    working_minutes_between,
    working_minutes_per_day,
    worst_light,
)
from chengyun.domain.taxonomy import Stage, TimeLimit, TimeUnit, Urgency
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar

CAL = china_calendar()
HOURS = TimeUnit.WORKING_HOURS
DAYS = TimeUnit.WORKING_DAYS
MINUTES = TimeUnit.MINUTES


def at(y: int, m: int, d: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=CHINA_TZ)


def naive_add(start: datetime, minutes: float, calendar: WorkingCalendar) -> datetime:
    """Reference: walk the working intervals day by day."""
    local = start.astimezone(CHINA_TZ)
    left = timedelta(minutes=minutes)
    day = local.date()
    while True:
        if calendar.is_working_day(day):
            begin = max(datetime.combine(day, calendar.day_start, tzinfo=CHINA_TZ), local)
            close = datetime.combine(day, calendar.day_end, tzinfo=CHINA_TZ)
            if begin < close:
                if begin + left <= close:
                    return begin + left
                left -= close - begin
        day += timedelta(days=1)


# --- calendar facts -------------------------------------------------------------------------


def test_dragon_boat_festival_is_skipped_up_to_the_swapped_sunday() -> None:
    # Wed 2020-06-24 15:30: one hour left that day; 06-25..27 holiday; Sun 06-28 worked
    assert date(2020, 6, 28).weekday() == 6
    assert add_working_time(at(2020, 6, 24, 15, 30), 120, CAL) == at(2020, 6, 28, 9, 30)
    assert deadline_for(at(2020, 6, 24, 15, 30), TimeLimit(2, HOURS), CAL) == at(2020, 6, 28, 9, 30)


def test_a_start_on_a_holiday_begins_at_the_next_working_start() -> None:
    assert add_working_time(at(2020, 6, 25, 10), 60, CAL) == at(2020, 6, 28, 9, 30)
    assert add_working_time(at(2020, 6, 25, 10), 0, CAL) == at(2020, 6, 28, 8, 30)


def test_a_start_before_the_working_day_begins_at_day_start() -> None:
    assert add_working_time(at(2020, 7, 8, 7), 60, CAL) == at(2020, 7, 8, 9, 30)
    assert add_working_time(at(2020, 7, 8, 7), 0, CAL) == at(2020, 7, 8, 8, 30)


def test_a_start_at_1630_exactly_is_outside_working_time() -> None:
    assert add_working_time(at(2020, 7, 8, 16, 30), 60, CAL) == at(2020, 7, 9, 9, 30)
    assert add_working_time(at(2020, 7, 8, 16, 30), 0, CAL) == at(2020, 7, 9, 8, 30)
    # one second earlier is still inside
    assert add_working_time(at(2020, 7, 8, 16, 29, 59), 1 / 60, CAL) == at(2020, 7, 8, 16, 30)


def test_time_used_up_exactly_at_day_end_ends_there() -> None:
    assert add_working_time(at(2020, 7, 8, 15, 30), 60, CAL) == at(2020, 7, 8, 16, 30)
    assert deadline_for(at(2020, 7, 8, 8, 30), TimeLimit(1, DAYS), CAL) == at(2020, 7, 8, 16, 30)


def test_zero_minutes_inside_working_time_returns_start() -> None:
    start = at(2020, 7, 8, 10, 17, 3)
    assert add_working_time(start, 0, CAL) == start


def test_clock_minutes_across_midnight_ignore_the_calendar() -> None:
    # the night before the Dragon Boat Festival
    due = deadline_for(at(2020, 6, 24, 23, 50), TimeLimit(30, MINUTES), CAL)
    assert due == at(2020, 6, 25, 0, 20)
    assert due.tzinfo is CHINA_TZ


def test_one_working_day_from_wednesday_is_thursday_same_time() -> None:
    assert deadline_for(at(2020, 7, 8, 10), TimeLimit(1, DAYS), CAL) == at(2020, 7, 9, 10)
    assert deadline_for(at(2020, 7, 10, 10), TimeLimit(1, DAYS), CAL) == at(2020, 7, 13, 10)
    assert working_minutes_per_day(CAL) == 480


def test_national_day_2020() -> None:
    # 10-01..08 holiday; Sun 09-27 and Sat 10-10 are swapped working days
    assert deadline_for(at(2020, 9, 25, 10), TimeLimit(1, DAYS), CAL) == at(2020, 9, 27, 10)
    assert deadline_for(at(2020, 9, 27, 10), TimeLimit(3, DAYS), CAL) == at(2020, 9, 30, 10)
    assert deadline_for(at(2020, 9, 27, 10), TimeLimit(4, DAYS), CAL) == at(2020, 10, 9, 10)
    assert deadline_for(at(2020, 9, 30, 10), TimeLimit(1, DAYS), CAL) == at(2020, 10, 9, 10)
    assert deadline_for(at(2020, 10, 9, 10), TimeLimit(1, DAYS), CAL) == at(2020, 10, 10, 10)
    assert deadline_for(at(2020, 10, 3, 12), TimeLimit(2, HOURS), CAL) == at(2020, 10, 9, 10, 30)
    assert working_minutes_between(at(2020, 9, 30, 16, 30), at(2020, 10, 9, 8, 30), CAL) == 0
    assert working_minutes_between(at(2020, 9, 30, 12), at(2020, 10, 10, 12), CAL) == 2 * 480


def test_times_in_other_zones_are_read_in_china_time() -> None:
    start = datetime(2020, 7, 8, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    due = add_working_time(start, 60, CAL)
    assert due == at(2020, 7, 8, 11)
    assert due.tzinfo is CHINA_TZ


def test_an_unknown_year_falls_back_to_monday_to_friday() -> None:
    assert not CAL.knows(date(2099, 1, 1))
    # 2099-01-01 is a Thursday: no New Year holiday known, so it is worked
    assert add_working_time(at(2099, 1, 1, 10), 60, CAL) == at(2099, 1, 1, 11)
    # Friday 16:00 + 1 h -> Monday 09:00
    assert add_working_time(at(2099, 1, 2, 16), 60, CAL) == at(2099, 1, 5, 9)
    assert date(2099, 1, 5).weekday() == 0


def test_long_spans_are_fast_and_exact() -> None:
    start = at(2005, 3, 1, 9)
    minutes = 5_000 * 480  # 5 000 working days, through every known holiday
    due = add_working_time(start, minutes, CAL)
    assert due == naive_add(start, minutes, CAL) == at(2025, 3, 6, 9)
    assert working_minutes_between(start, due, CAL) == minutes


def test_custom_working_hours() -> None:
    cal = WorkingCalendar(day_start=time(9), day_end=time(17, 30))
    assert working_minutes_per_day(cal) == 510
    assert deadline_for(at(2099, 1, 2, 17), TimeLimit(1, DAYS), cal) == at(2099, 1, 5, 17)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        add_working_time(datetime(2020, 7, 8, 10), 60, CAL)
    with pytest.raises(ValueError, match="negative"):
        add_working_time(at(2020, 7, 8, 10), -1, CAL)
    with pytest.raises(ValueError, match="finite"):
        add_working_time(at(2020, 7, 8, 10), float("nan"), CAL)
    with pytest.raises(ValueError, match="negative"):
        deadline_for(at(2020, 7, 8, 10), TimeLimit(-5, MINUTES), CAL)


# --- properties -----------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2003, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.sampled_from([CHINA_TZ, UTC, timezone(timedelta(hours=-5))]),
)
amounts = st.one_of(
    st.integers(min_value=0, max_value=480 * 60 * 400).map(lambda s: s / 60),  # whole seconds
    st.floats(min_value=0, max_value=480 * 400, allow_nan=False),
)


@given(starts, amounts)
def test_working_minutes_between_inverts_add_working_time(start: datetime, m: float) -> None:
    end = add_working_time(start, m, CAL)
    assert end.tzinfo is CHINA_TZ
    assert end >= start
    assert abs(working_minutes_between(start, end, CAL) - m) < 1e-6  # well within a second
    assert working_minutes_between(end, start, CAL) == -working_minutes_between(start, end, CAL)


@given(starts, amounts, amounts)
def test_add_working_time_is_monotonic_in_minutes(start: datetime, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert add_working_time(start, low, CAL) <= add_working_time(start, high, CAL)


@given(starts, st.integers(min_value=0, max_value=480 * 60 * 12))
def test_add_working_time_agrees_with_a_day_by_day_walk(start: datetime, seconds: int) -> None:
    start = start.replace(microsecond=0)
    m = seconds / 60
    assert add_working_time(start, m, CAL) == naive_add(start, m, CAL)


def test_every_day_of_a_year_of_holidays_agrees_with_the_walk() -> None:
    """A few working days ahead are found by walking, more by searching: both, from
    every day of 2020 (the Spring Festival, Golden Week, swapped weekends)."""
    day = date(2020, 1, 1)
    while day.year == 2020:
        for clock in (time(10), time(17, 30)):
            start = datetime.combine(day, clock, tzinfo=CHINA_TZ)
            for days in range(13):
                m = days * 480 + 60
                assert add_working_time(start, m, CAL) == naive_add(start, m, CAL), (start, m)
        day += timedelta(days=1)


# --- deadlines and lights -------------------------------------------------------------------


def test_lights_switch_exactly_at_warn_at_and_due_at() -> None:
    deadline = make_deadline(Stage.HANDLE, at(2020, 7, 8, 9), TimeLimit(2, HOURS), CAL)
    assert deadline.due_at == at(2020, 7, 8, 11)
    assert deadline.warn_at == at(2020, 7, 8, 10, 36)  # 80 % of 120 working minutes
    tick = timedelta(microseconds=1)
    assert deadline.light(deadline.warn_at - tick) is Light.GREEN
    assert deadline.light(deadline.warn_at) is Light.YELLOW
    assert deadline.light(deadline.due_at - tick) is Light.YELLOW
    assert deadline.light(deadline.due_at) is Light.RED
    assert deadline.remaining(at(2020, 7, 8, 10)) == timedelta(hours=1)
    assert deadline.remaining(at(2020, 7, 8, 12)) == -timedelta(hours=1)


def test_a_working_day_limit_warns_at_80_percent_of_working_time() -> None:
    deadline = make_deadline(Stage.HANDLE, at(2020, 7, 8, 15, 30), TimeLimit(1, DAYS), CAL)
    assert deadline.due_at == at(2020, 7, 9, 15, 30)
    # 384 working minutes: 60 on Wednesday, 324 on Thursday (wall-clock 80 % would be 10:42)
    assert deadline.warn_at == at(2020, 7, 9, 13, 54)


def test_light_labels() -> None:
    assert [light.zh for light in Light] == ["绿灯", "黄灯", "红灯"]
    assert Light.RED.colour == "#c62828"
    assert Light.parse("Yellow") is Light.YELLOW
    assert [light.severity for light in Light] == [0, 1, 2]


def test_fixed_deadline_warns_at_80_percent_of_wall_clock() -> None:
    deadline = fixed_deadline(Stage.HANDLE, at(2020, 6, 24, 10), at(2020, 6, 26, 10))
    assert deadline.warn_at == at(2020, 6, 26, 0, 24)  # 38.4 h of 48 h, holiday or not
    assert deadline.limit == TimeLimit(48 * 60, MINUTES)
    assert deadline.light(at(2020, 6, 26, 0, 24)) is Light.YELLOW


def test_fixed_deadline_already_past_is_red_at_once() -> None:
    deadline = fixed_deadline(Stage.HANDLE, at(2020, 6, 24, 10), at(2020, 6, 24, 9))
    assert deadline.warn_at == deadline.due_at == at(2020, 6, 24, 9)
    assert deadline.light(at(2020, 6, 24, 10)) is Light.RED


def test_extension_keeps_warning_proportional_to_all_time_granted() -> None:
    start = at(2020, 7, 6, 10)  # Monday
    deadline = make_deadline(Stage.HANDLE, start, TimeLimit(10, DAYS), CAL)
    assert deadline.due_at == at(2020, 7, 20, 10)
    assert deadline.warn_at == at(2020, 7, 16, 10)
    longer = extend(deadline, TimeLimit(5, DAYS), CAL)
    assert longer.due_at == deadline_for(start, TimeLimit(15, DAYS), CAL) == at(2020, 7, 27, 10)
    assert longer.warn_at == deadline_for(start, TimeLimit(12, DAYS), CAL) == at(2020, 7, 22, 10)
    assert longer.limit == TimeLimit(10, DAYS)
    assert longer.extensions == (TimeLimit(5, DAYS),)
    assert longer.light(at(2020, 7, 17, 10)) is Light.GREEN  # yellow before, green again


def test_extension_counts_from_the_current_due_at_in_its_own_unit() -> None:
    deadline = make_deadline(Stage.HANDLE, at(2020, 7, 8, 15, 30), TimeLimit(1, HOURS), CAL)
    assert deadline.due_at == at(2020, 7, 8, 16, 30)
    assert extend(deadline, TimeLimit(1, HOURS), CAL).due_at == at(2020, 7, 9, 9, 30)
    clock = extend(deadline, TimeLimit(30, MINUTES), CAL)
    assert clock.due_at == at(2020, 7, 8, 17)
    assert clock.warn_at == deadline.warn_at + timedelta(minutes=24)
    twice = extend(clock, TimeLimit(1, HOURS), CAL)
    assert twice.extensions == (TimeLimit(30, MINUTES), TimeLimit(1, HOURS))


def test_extensions_must_be_positive() -> None:
    deadline = make_deadline(Stage.HANDLE, at(2020, 7, 8, 9), TimeLimit(2, HOURS), CAL)
    with pytest.raises(ValueError, match="positive"):
        extend(deadline, TimeLimit(0, HOURS), CAL)


def test_deadline_checks_its_fields() -> None:
    with pytest.raises(ValueError, match="after due_at"):
        Deadline(
            stage=Stage.CHECK,
            started_at=at(2020, 7, 8, 9),
            warn_at=at(2020, 7, 8, 11),
            due_at=at(2020, 7, 8, 10),
            limit=TimeLimit(1, HOURS),
        )
    with pytest.raises(ValueError, match="ratio"):
        make_deadline(Stage.CHECK, at(2020, 7, 8, 9), TimeLimit(1, HOURS), CAL, warn_ratio=1.5)


def test_urgent_cases_override_arrive_and_handle() -> None:
    rule = TimeLimit(2, DAYS)
    assert stage_limit(Stage.ARRIVE, Urgency.URGENT, rule) == URGENT_ARRIVE
    assert TimeLimit(15, MINUTES) == URGENT_ARRIVE
    assert stage_limit(Stage.HANDLE, Urgency.URGENT, rule) == URGENT_INITIAL_RESULT
    assert TimeLimit(60, MINUTES) == URGENT_INITIAL_RESULT
    assert stage_limit(Stage.DISPATCH, Urgency.URGENT, rule) == rule
    assert stage_limit(Stage.ARRIVE, Urgency.GENERAL, rule) == rule
    # an urgent arrival at night is not held until the next working day
    due = deadline_for(at(2020, 6, 25, 23, 55), URGENT_ARRIVE, CAL)
    assert due == at(2020, 6, 26, 0, 10)


def test_a_case_shows_the_worst_light_of_its_open_stages() -> None:
    now = at(2020, 7, 8, 10, 40)
    green = make_deadline(Stage.ARRIVE, at(2020, 7, 8, 10), TimeLimit(1, DAYS), CAL)
    yellow = make_deadline(Stage.HANDLE, at(2020, 7, 8, 9), TimeLimit(2, HOURS), CAL)
    red = make_deadline(Stage.ACCEPT, at(2020, 7, 8, 10), TimeLimit(15, MINUTES), CAL)
    assert [d.light(now) for d in (green, yellow, red)] == [Light.GREEN, Light.YELLOW, Light.RED]
    assert worst_light([green, yellow], now) is Light.YELLOW
    assert worst_light(iter([yellow, red, green]), now) is Light.RED
    assert worst_light([green], now) is Light.GREEN
    assert worst_light([], now) is Light.GREEN
