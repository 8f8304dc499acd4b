"""Patrol coverage, pure: visits and time spent, units nobody visited, tracks, attendance
per shift, and the reporting-time rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from chengyun.domain.coverage import (
    DEFAULT_GAP,
    PatrolPosition,
    ShiftState,
    covered,
    day_coverage,
    day_problems,
    shift_windows,
    time_problems,
    visits,
)
from chengyun.domain.forces import Assignment, Person, Post, Roster, Shift, TeamType
from chengyun.domain.territory import (
    ManagementUnit,
    ResponsibilityGrid,
    SubDistrict,
    Territory,
    UnitKind,
)
from chengyun.domain.working_time import CHINA_TZ, WorkingCalendar

G1, G2 = "310118002900001", "310118002900002"
U1, U2, U3 = "310118002001001", "310118002001002", "310118002002001"
DAY = date(2020, 6, 24)  # a Wednesday
CALENDAR = WorkingCalendar(holidays=frozenset({date(2020, 6, 25)}))


def at(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=CHINA_TZ)


def pos(person: str, when: datetime, unit: str | None) -> PatrolPosition:
    grid = None if unit is None else (G2 if unit == U3 else G1)
    return PatrolPosition(person, when, 121.11, 31.15, unit, grid)


TERRITORY = Territory(
    sub_district=SubDistrict("310118002", "盈浦街道"),
    grids=(
        ResponsibilityGrid(G1, "网格一", date(2020, 6, 1), {}),
        ResponsibilityGrid(G2, "网格二", date(2020, 6, 1), {}),
    ),
    units=(
        ManagementUnit(U1, "单元一", G1, UnitKind.COMMUNITY, True, {}),
        ManagementUnit(U2, "单元二", G1, UnitKind.COMMUNITY, False, {}),
        ManagementUnit(U3, "单元三", G2, UnitKind.RURAL, False, {}),
    ),
)
ROSTER = Roster(
    people=(
        Person("P-1", "张伟", "13900000001", Post.PATROL, TeamType.PUBLIC_ORDER),
        Person("P-2", "王芳", "13900000002", Post.PATROL, TeamType.PROPERTY),
        Person("P-3", "李强", "13900000003", Post.PATROL, TeamType.SOCIAL_SECURITY),
        Person("P-4", "赵敏", "13900000004", Post.PATROL, TeamType.GRID_SUPERVISOR),
        Person("L-1", "陈静", "13900000005", Post.UNIT_LEADER),
    ),
    assignments=(
        Assignment("P-1", Shift.DAY, G1, U1),
        Assignment("P-2", Shift.DAY, G1, U2),
        Assignment("P-2", Shift.NIGHT, G1, U2),
        Assignment("P-3", Shift.DAY, G1),  # the grid's street frontage
        Assignment("P-3", Shift.NIGHT, G1),
        Assignment("P-4", Shift.DAY, G2, U3),
        Assignment("L-1", Shift.DAY, G1, U1),  # leaders are on no patrol rota
    ),
)


# --- visits --------------------------------------------------------------------------------------


def test_positions_less_than_the_gap_apart_are_one_visit() -> None:
    found = visits([pos("P-1", at(9, m), U1) for m in (0, 5, 14, 23)])
    assert [(v.start, v.end, v.positions) for v in found] == [(at(9), at(9, 23), 4)]
    assert found[0].duration == timedelta(minutes=23)


def test_a_gap_of_the_full_limit_ends_a_visit() -> None:
    found = visits(
        [pos("P-1", at(9, 0), U1), pos("P-1", at(9, 9, 59), U1), pos("P-1", at(9, 19, 59), U1)]
    )
    assert [v.duration for v in found] == [timedelta(minutes=9, seconds=59), timedelta(0)]
    assert timedelta(minutes=10) == DEFAULT_GAP


def test_another_unit_or_outside_ends_a_visit_and_the_crossing_counts_for_neither() -> None:
    track = [
        pos("P-1", at(9, 0), U1),
        pos("P-1", at(9, 5), U1),
        pos("P-1", at(9, 8), U2),
        pos("P-1", at(9, 12), U2),
        pos("P-1", at(9, 14), None),
        pos("P-1", at(9, 16), U2),
    ]
    found = visits(track)
    assert [(v.unit_code, v.start, v.end) for v in found] == [
        (U1, at(9, 0), at(9, 5)),
        (U2, at(9, 8), at(9, 12)),
        (U2, at(9, 16), at(9, 16)),
    ]


def test_a_larger_gap_joins_more() -> None:
    track = [pos("P-1", at(9, m), U1) for m in (0, 15, 30)]
    assert len(visits(track)) == 3
    assert len(visits(track, timedelta(minutes=20))) == 1


def test_order_and_repeats_do_not_matter() -> None:
    track = [pos("P-1", at(9, m), U1) for m in (8, 0, 4, 4)]
    assert visits(track) == visits(list(reversed(track)))
    assert visits(track)[0].positions == 3


def test_covered_time_counts_overlaps_once() -> None:
    assert covered([(at(9), at(10)), (at(9, 30), at(10, 30)), (at(11), at(11, 15))]) == timedelta(
        minutes=105
    )
    assert covered([]) == timedelta(0)
    assert covered([(at(9), at(10)), (at(10), at(10, 30))]) == timedelta(minutes=90)


# --- the day -------------------------------------------------------------------------------------


def positions_of_the_day() -> list[PatrolPosition]:
    return [
        *(pos("P-1", at(9, m), U1) for m in range(0, 31, 5)),  # 30 minutes in U1
        pos("P-1", at(11, 0), U1),  # a lone position later on
        *(pos("P-2", at(9, m), U1) for m in (20, 25, 40)),  # 5 minutes, then a lone one
        pos("P-2", at(10, 0), None),  # outside the sub-district
        pos("P-9", at(23, 0), U2),  # at night, on no table
        pos("P-1", at(8, 0, day=DAY + timedelta(days=1)), U1),  # the next day: ignored
    ]


def test_per_unit_who_how_long_first_and_last() -> None:
    c = day_coverage(DAY, positions_of_the_day(), TERRITORY, ROSTER, CALENDAR, at(23, 30))
    by_code = {u.unit_code: u for u in c.units}
    u1 = by_code[U1]
    assert u1.visited and u1.positions == 11
    assert [(p.person, p.time_spent, p.visits) for p in u1.people] == [
        ("P-1", timedelta(minutes=30), 2),
        ("P-2", timedelta(minutes=5), 2),
    ]
    assert (u1.first_seen, u1.last_seen) == (at(9), at(11))
    assert u1.covered == timedelta(minutes=30)  # P-2's five minutes overlap P-1's
    assert u1.person_time == timedelta(minutes=35)
    assert by_code[U2].people[0].person == "P-9"
    assert c.not_visited == (U3,)
    assert (c.positions, c.outside) == (13, 1)


def test_people_and_their_tracks_in_time_order() -> None:
    shuffled = list(reversed(positions_of_the_day()))
    c = day_coverage(DAY, shuffled, TERRITORY, ROSTER, CALENDAR, at(23, 30))
    people = {p.person: p for p in c.people}
    assert people["P-2"].outside == 1 and people["P-2"].positions == 4
    assert people["P-2"].units == (U1,)
    assert people["P-1"].time_spent == timedelta(minutes=30)
    track = next(t for t in c.tracks if t.person == "P-2")
    assert [p.at for p in track.points] == sorted(p.at for p in track.points)
    assert track.points[-1].unit_code is None


def test_nothing_reported_means_every_unit_unvisited() -> None:
    c = day_coverage(DAY, [], TERRITORY, ROSTER, CALENDAR, at(9))
    assert c.not_visited == (U1, U2, U3)
    assert c.people == () and c.tracks == ()


def test_one_grid_only() -> None:
    c = day_coverage(
        DAY, positions_of_the_day(), TERRITORY, ROSTER, CALENDAR, at(23, 30), grid_code=G2
    )
    assert [u.unit_code for u in c.units] == [U3]
    assert c.not_visited == (U3,)
    assert c.people == ()
    day = next(s for s in c.attendance if s.shift is Shift.DAY)
    assert [(p.grid_code, p.unit_code) for p in day.places] == [(G2, None), (G2, U3)]
    assert day.expected == ("P-4",) and day.absent == ("P-4",)


# --- attendance ----------------------------------------------------------------------------------


def test_attendance_per_shift_and_place() -> None:
    c = day_coverage(DAY, positions_of_the_day(), TERRITORY, ROSTER, CALENDAR, at(23, 30))
    day, night = (next(s for s in c.attendance if s.shift is shift) for shift in Shift)
    assert [w.start for w in day.windows] == [at(8, 30)]
    assert day.state is ShiftState.OVER and night.state is ShiftState.RUNNING
    assert day.expected == ("P-1", "P-2", "P-3", "P-4")  # not the unit leader
    assert day.present == ("P-1", "P-2")
    assert day.absent == ("P-3", "P-4")
    places = {(p.grid_code, p.unit_code): p for p in day.places}
    u2 = places[(G1, U2)]
    assert u2.expected == ("P-2",) and u2.present == ("P-2",)
    assert u2.seen_here == ()  # P-2 patrolled U1, not U2
    assert places[(G1, U1)].seen_here == ("P-1",)
    assert places[(G1, None)].absent == ("P-3",)
    assert day.unexpected == ()
    # at night: P-2 (property) and P-3 (social security) expected; P-9 came though on no table
    assert night.expected == ("P-2", "P-3")
    assert night.present == ()
    assert night.unexpected == ("P-9",)


def test_a_holiday_has_no_day_shift() -> None:
    holiday = date(2020, 6, 25)
    c = day_coverage(holiday, [], TERRITORY, ROSTER, CALENDAR, at(9, day=holiday))
    assert [s.shift for s in c.attendance] == [Shift.NIGHT]
    assert c.attendance[0].state is ShiftState.RUNNING


def test_shift_states_follow_the_clock() -> None:
    morning = day_coverage(DAY, [], TERRITORY, ROSTER, CALENDAR, at(7))
    states = {s.shift: s.state for s in morning.attendance}
    assert states == {Shift.DAY: ShiftState.UPCOMING, Shift.NIGHT: ShiftState.RUNNING}
    before = day_coverage(DAY, [], TERRITORY, ROSTER, CALENDAR, at(23, day=DAY - timedelta(days=1)))
    assert {s.state for s in before.attendance} == {ShiftState.UPCOMING}


@pytest.mark.parametrize("day", [DAY, date(2020, 6, 25), date(2020, 6, 27), date(2020, 6, 28)])
def test_shift_windows_agree_with_the_calendar(day: date) -> None:
    calendar = WorkingCalendar(
        holidays=frozenset({date(2020, 6, 25)}), swapped_workdays=frozenset({date(2020, 6, 28)})
    )
    windows = shift_windows(day, calendar)
    assert windows[0].start == at(0, day=day) and windows[-1].end == at(0, day=day + timedelta(1))
    moment = at(0, day=day)
    while moment < windows[-1].end:
        holding = [w for w in windows if w.holds(moment)]
        assert len(holding) == 1 and holding[0].shift is calendar.shift_at(moment), moment
        moment += timedelta(minutes=15)


# --- reporting times -----------------------------------------------------------------------------


def test_times_need_an_offset_and_may_not_run_ahead() -> None:
    now = at(9, 30)
    times = [
        at(9),
        now + timedelta(minutes=5),
        now + timedelta(minutes=5, seconds=1),
        datetime(2020, 6, 24, 9),
    ]
    problems = time_problems(times, now)
    assert [(p.location, p.kind) for p in problems] == [
        (("positions", 2, "at"), "future"),
        (("positions", 3, "at"), "timezone"),
    ]
    assert time_problems([at(1, day=date(2020, 6, 1))], now) == []  # buffered offline: fine
    ancient = datetime(1, 1, 1, tzinfo=CHINA_TZ)
    assert [p.kind for p in time_problems([ancient], now)] == ["range"]


def test_days_outside_the_era_are_refused() -> None:
    assert day_problems(DAY) == []
    assert [p.location for p in day_problems(date(1, 1, 1))] == [("query", "date")]
    assert day_problems(date(9999, 12, 31)) != []
