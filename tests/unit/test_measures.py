"""The measures' formulas on hand-built facts, each answer worked out in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chengyun.domain.cases import CaseStatus, Channel
from chengyun.domain.errors import InvalidInput
from chengyun.domain.measures import (
    TARGETS,
    CaseFacts,
    Duration,
    GroupBy,
    Measure,
    Part,
    Period,
    Ratio,
    Scope,
    ScopeKind,
    all_measures,
    arrange_groups,
    bucket_of,
    buckets,
    closure_rate,
    contribution,
    dispatch_accuracy,
    duration_of,
    extension_rate,
    first_discovery_rate,
    handling_time,
    in_scope,
    intelligent_discovery_share,
    measures_by_group,
    missed_report_rate,
    on_time_closure_rate,
    on_time_dispatch_rate,
    on_time_handling_rate,
    on_time_registration_rate,
    p90_rank,
    parse_group_by,
    parse_period,
    parse_scope,
    return_rate,
    rework_rate,
    self_handled_share,
    urgent_on_time_arrival_rate,
    urgent_on_time_initial_result_rate,
    valid_report_rate,
)
from chengyun.domain.taxonomy import Urgency
from chengyun.domain.working_time import CHINA_TZ

JUNE = Period(datetime(2020, 6, 1, tzinfo=CHINA_TZ), datetime(2020, 7, 1, tzinfo=CHINA_TZ))
START, END = JUNE.start, JUNE.end
T = datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def day(d: int, month: int = 6, hour: int = 12) -> datetime:
    return datetime(2020, month, d, hour, tzinfo=CHINA_TZ)


def fact(**changes: object) -> CaseFacts:
    """A valid patrol case found, reported and registered at ``T``, unless changed."""
    found = changes.pop("at", T)
    values: dict[str, object] = {"reported_at": found, "first_found_at": found}
    values.update(changes)
    return CaseFacts(**values)  # type: ignore[arg-type]


# --- discovery --------------------------------------------------------------------------------


DISCOVERY = [
    fact(id=1),  # patrol: own means ✓
    fact(id=2, channel=Channel.HOTLINE, first_channel=Channel.HOTLINE),  # found by the hotline
    # a hotline order merged into a case patrol had found earlier: the case counts as found
    # first (first_channel = patrol); the merged order itself is status merged, not counted
    fact(id=3, channel=Channel.PATROL, first_channel=Channel.PATROL, at=T - 30 * MIN),
    fact(id=4, channel=Channel.HOTLINE, status=CaseStatus.MERGED, merged_into=3),
    fact(id=5, channel=Channel.VIDEO_AI, first_channel=Channel.VIDEO_AI),  # own ✓, by AI
    fact(id=6, channel=Channel.CITIZEN_QR, first_channel=Channel.CITIZEN_QR, pre_launch=True),
    fact(id=7, status=CaseStatus.VOIDED),
    fact(id=8, status=CaseStatus.REJECTED),
    fact(id=9, status=CaseStatus.FORWARDED),
    fact(id=10, at=START - US),  # found a microsecond before June
    fact(id=11, channel=Channel.DISTRICT, first_channel=Channel.DISTRICT, at=END - US),
    fact(
        id=12,
        channel=Channel.POLICE_DIVERSION,
        first_channel=Channel.POLICE_DIVERSION,
        status=CaseStatus.ON_HOLD,  # on hold is still a valid case
    ),
    fact(id=13, status=CaseStatus.CLOSED, self_handled=True, closed_at=T),  # solved on the spot
    fact(id=14, at=START),  # the first instant of June is in June
]
# valid and found in June: 1, 2, 3, 5, 11, 12, 13, 14 → 8
# own means: 1, 3, 5, 13, 14 → 5


def test_first_discovery_rate_counts_own_means_over_valid_cases() -> None:
    rate = first_discovery_rate(DISCOVERY, START, END)
    assert rate == Ratio(5, 8)  # 5 / 8 = 0.625
    assert rate.value == 0.625


def test_missed_intelligent_and_self_handled_shares() -> None:
    # missed: hotline 2, district 11, police diversion 12 → 3 / 8 = 1 − 5/8
    assert missed_report_rate(DISCOVERY, START, END) == Ratio(3, 8)
    assert intelligent_discovery_share(DISCOVERY, START, END) == Ratio(1, 8)  # case 5
    assert self_handled_share(DISCOVERY, START, END) == Ratio(1, 8)  # case 13


def test_a_ratio_of_nothing_has_no_value() -> None:
    empty = first_discovery_rate([], START, END)
    assert empty == Ratio(0, 0) and empty.value is None


# --- closure -----------------------------------------------------------------------------------


CLOSURE = [
    # due 10 June, handled late on the 11th, closed the 12th: closed ✓, not on time
    fact(
        id=1,
        status=CaseStatus.CLOSED,
        handle_due_at=day(10),
        handle_done_at=day(11),
        closed_at=day(12),
    ),
    # due 18 June, handled the 17th, closed the 19th: closed ✓ and on time ✓
    fact(
        id=2,
        status=CaseStatus.CLOSED,
        handle_due_at=day(18),
        handle_done_at=day(17),
        closed_at=day(19),
    ),
    # due 20 June, closed 2 July: not closed by the end of June
    fact(
        id=3,
        status=CaseStatus.CLOSED,
        handle_due_at=day(20),
        handle_done_at=day(19),
        closed_at=day(2, 7),
    ),
    fact(id=4, status=CaseStatus.ACCEPTED, handle_due_at=day(25)),  # due, still open
    fact(id=5, status=CaseStatus.ACCEPTED, handle_due_at=day(3, 7)),  # due in July: not June's
    # self-handled on 5 June: due and closed the moment it was reported, on time
    fact(id=6, status=CaseStatus.CLOSED, self_handled=True, at=day(5), closed_at=day(5)),
    fact(id=7, status=CaseStatus.ON_HOLD, handle_due_at=day(15)),  # on hold: not due
    # closed exactly at midnight 1 July: after the end of June
    fact(
        id=8, status=CaseStatus.CLOSED, handle_due_at=day(15), handle_done_at=day(14), closed_at=END
    ),
    fact(
        id=9,
        status=CaseStatus.CLOSED,
        pre_launch=True,
        handle_due_at=day(15),
        handle_done_at=day(14),
        closed_at=day(15),
    ),
]
# due in June, counted: 1, 2, 3, 4, 6, 8 → 6; closed by the end of June: 1, 2, 6 → 3
# of those, handled by the deadline: 2 and 6 → 2


def test_closure_rate_is_closed_by_the_end_over_due_in_the_period() -> None:
    assert closure_rate(CLOSURE, START, END) == Ratio(3, 6)  # 0.5


def test_on_time_closure_needs_the_handling_deadline_met() -> None:
    assert on_time_closure_rate(CLOSURE, START, END) == Ratio(2, 6)


def test_closure_by_month_counts_each_month_to_its_own_end() -> None:
    # case 3 is due in June and was closed on 2 July: June has it open, June–July closed
    june_july = Period(START, datetime(2020, 8, 1, tzinfo=CHINA_TZ))
    groups = dict(measures_by_group(CLOSURE, june_july, GroupBy.MONTH))
    assert groups["2020-06"]["closure_rate"] == Ratio(3, 6)
    # July: case 5 (due 3 July, open) → 0 / 1
    assert groups["2020-07"]["closure_rate"] == Ratio(0, 1)
    # over both months: due 1, 2, 3, 4, 5, 6, 8 → 7; closed by 1 August: 1, 2, 3, 6, 8 → 5
    assert closure_rate(CLOSURE, june_july.start, june_july.end) == Ratio(5, 7)


# --- the urgent clocks -------------------------------------------------------------------------


def urgent(**changes: object) -> CaseFacts:
    return fact(**{"urgency": Urgency.URGENT, "status": CaseStatus.HANDLED, **changes})


URGENT = [
    urgent(id=1, arrive_started_at=T, arrive_done_at=T + 15 * MIN),  # exactly 15 minutes ✓
    urgent(id=2, arrive_started_at=T, arrive_done_at=T + 15 * MIN + US),  # 1 µs late
    urgent(id=3, arrive_started_at=T, status=CaseStatus.DISPATCHED),  # not there yet
    fact(id=4, arrive_started_at=T, arrive_done_at=T + MIN),  # general: not counted
    # returned after 5 minutes: the clock stopped, but nobody arrived
    urgent(id=5, arrive_started_at=T, arrive_done_at=T + 5 * MIN, status=CaseStatus.REGISTERED),
    urgent(id=6, arrive_started_at=T, status=CaseStatus.ON_HOLD),  # on hold: not counted
    urgent(id=7, arrive_started_at=END, arrive_done_at=END + MIN),  # dispatched in July
]
# dispatched in June, urgent, counted: 1, 2, 3, 5 → 4; on scene within 15 min: 1


def test_urgent_cases_on_scene_within_15_minutes() -> None:
    assert urgent_on_time_arrival_rate(URGENT, START, END) == Ratio(1, 4)


def test_urgent_cases_with_an_initial_result_within_the_hour() -> None:
    cases = [
        urgent(id=1, handle_started_at=T, handle_done_at=T + 60 * MIN),  # exactly 1 h ✓
        urgent(id=2, handle_started_at=T, handle_done_at=T + 61 * MIN),  # late
        # reworked: the handling clock restarted at the failed check, 40 minutes then ✓
        urgent(
            id=3, handle_started_at=day(24, hour=14), handle_done_at=day(24, hour=14) + 40 * MIN
        ),
        urgent(id=4, handle_started_at=T, status=CaseStatus.ON_SCENE),  # not handled yet
        fact(id=5, handle_started_at=T, handle_done_at=T + MIN),  # general: not counted
    ]
    # urgent with the clock started in June: 1, 2, 3, 4 → 4; within the hour: 1, 3 → 2
    assert urgent_on_time_initial_result_rate(cases, START, END) == Ratio(2, 4)


# --- stage deadlines ---------------------------------------------------------------------------


def test_on_time_handling_registration_and_dispatch() -> None:
    due = day(20)
    cases = [
        fact(id=1, handle_due_at=due, handle_done_at=due, status=CaseStatus.HANDLED),  # on time
        fact(id=2, handle_due_at=due, handle_done_at=due + US, status=CaseStatus.HANDLED),  # late
        fact(id=3, handle_due_at=due, status=CaseStatus.ACCEPTED),  # not handled
        # returned: the handling clock stopped at the return, nothing was handled
        fact(id=4, handle_due_at=due, handle_done_at=due - MIN, status=CaseStatus.REGISTERED),
        fact(id=5, handle_due_at=day(1, 7), handle_done_at=day(1, 7)),  # due in July
        # registration: due 24 June 10:00; 1 on time, 2 late, 3 still waiting
        fact(id=6, register_due_at=T + 30 * MIN, register_done_at=T + 5 * MIN),
        fact(id=7, register_due_at=T + 30 * MIN, register_done_at=T + 31 * MIN),
        fact(id=8, register_due_at=T + 30 * MIN, status=CaseStatus.REPORTED),
        # dispatch: 1 on time, 1 late, 1 on hold (not counted)
        fact(id=9, dispatch_due_at=T, dispatch_done_at=T - MIN),
        fact(id=10, dispatch_due_at=T, dispatch_done_at=T + MIN),
        fact(id=11, dispatch_due_at=T, status=CaseStatus.ON_HOLD),
    ]
    assert on_time_handling_rate(cases, START, END) == Ratio(1, 4)  # 1 of 1, 2, 3, 4
    assert on_time_registration_rate(cases, START, END) == Ratio(1, 3)  # 6 of 6, 7, 8
    assert on_time_dispatch_rate(cases, START, END) == Ratio(1, 2)  # 9 of 9, 10


# --- counters ----------------------------------------------------------------------------------


def test_returns_rework_extensions_and_dispatch_accuracy() -> None:
    cases = [
        fact(id=1, dispatches=2, returns=1, checks=2, failed_checks=1, extensions=1),
        fact(id=2, dispatches=1, returns=0, checks=1, failed_checks=0),
        fact(id=3, dispatches=3, returns=1, status=CaseStatus.VOIDED),  # not counted
        fact(id=4, dispatches=1, returns=1, at=day(2, 7)),  # reported in July
        fact(id=5, dispatches=0, status=CaseStatus.REPORTED),  # never dispatched
    ]
    # returns / dispatches = (1 + 0) / (2 + 1) = 1/3; accuracy (3 − 1) / 3 = 2/3
    assert return_rate(cases, START, END) == Ratio(1, 3)
    assert dispatch_accuracy(cases, START, END) == Ratio(2, 3)
    assert dispatch_accuracy(cases, START, END).value == pytest.approx(1 - 1 / 3)
    # failed checks / checks = (1 + 0) / (2 + 1)
    assert rework_rate(cases, START, END) == Ratio(1, 3)
    # dispatched cases 1 and 2, case 1 extended → 1/2
    assert extension_rate(cases, START, END) == Ratio(1, 2)


def test_valid_report_rate_of_patrol_staff() -> None:
    cases = [
        fact(id=1, status=CaseStatus.DISPATCHED),  # valid ✓
        fact(id=2, status=CaseStatus.REJECTED, reject_reason="invalid"),  # ✗
        fact(id=3, status=CaseStatus.REJECTED, reject_reason="duplicate"),  # a real problem ✓
        fact(id=4, status=CaseStatus.MERGED, merged_into=1),  # a duplicate, merged ✓
        fact(id=5, status=CaseStatus.VOIDED),  # ✗
        fact(id=6, status=CaseStatus.REPORTED),  # not decided yet: not counted
        fact(id=7, channel=Channel.HOTLINE, first_channel=Channel.HOTLINE),  # not patrol
        fact(id=8, pre_launch=True),  # not counted
        fact(id=9, status=CaseStatus.FORWARDED),  # outside the sub-district: not counted
        fact(id=10, status=CaseStatus.REJECTED),  # rejected, reason unknown: invalid ✗
    ]
    # counted: 1, 2, 3, 4, 5, 10 → 6; valid: 1, 3, 4 → 3
    assert valid_report_rate(cases, START, END) == Ratio(3, 6)


# --- handling time -----------------------------------------------------------------------------


def handled(i: int, minutes: float, **changes: object) -> CaseFacts:
    dispatched = T + i * MIN
    values: dict[str, object] = {
        "id": i,
        "status": CaseStatus.HANDLED,
        "dispatch_done_at": dispatched,
        "handle_done_at": dispatched + timedelta(minutes=minutes),
    }
    values.update(changes)
    return fact(**values)


def test_handling_time_mean_and_90th_percentile() -> None:
    cases = [handled(i, 10 * i) for i in range(1, 11)]  # 10, 20, …, 100 minutes
    cases += [
        handled(11, 5, status=CaseStatus.REGISTERED),  # returned: not a handling
        handled(12, 5, handle_done_at=END),  # handled in July
        handled(13, 5, status=CaseStatus.VOIDED),
    ]
    stats = handling_time(cases, START, END)
    # mean (10 + 20 + … + 100) / 10 = 550 / 10 = 55; p90 rank ⌈0.9·10⌉ = 9 → 90 minutes
    assert stats.count == 10
    assert stats.mean_minutes == 55.0
    assert stats.p90_minutes == 90.0
    # one more, 110 minutes: rank ⌈0.9·11⌉ = ⌈9.9⌉ = 10 → 100 minutes; mean 660 / 11 = 60
    more = handling_time([*cases, handled(14, 110)], START, END)
    assert (more.count, more.mean_minutes, more.p90_minutes) == (11, 60.0, 100.0)
    none = handling_time([], START, END)
    assert none == Duration() and none.mean_minutes is None and none.p90_minutes is None


def test_nearest_rank() -> None:
    assert [p90_rank(n) for n in (1, 2, 9, 10, 11, 19, 20, 21)] == [1, 2, 9, 9, 10, 18, 18, 19]
    assert duration_of([3, 1, 2]) == Duration(3, 6, 3)  # ⌈2.7⌉ = 3rd smallest


# --- everything, scopes, groups, drill-down ----------------------------------------------------


def test_all_measures_by_name_in_order() -> None:
    figures = all_measures(DISCOVERY, START, END)
    assert list(figures) == [m.value for m in Measure]
    assert list(figures)[:3] == [
        "first_discovery_rate",
        "closure_rate",
        "urgent_on_time_arrival_rate",
    ]
    assert figures["first_discovery_rate"] == Ratio(5, 8)
    assert isinstance(figures["handling_time"], Duration)
    assert TARGETS == {"first_discovery_rate": 0.85, "closure_rate": 0.97}


def test_scopes() -> None:
    case = fact(
        grid_code="310118002900001",
        unit_code="310118002001001",
        key_unit=True,
        area_codes=("310118002800001",),
        responsible="police",
        reporter="YPG1-011",
        assignee=None,
        handlers=("YPD-007",),
        channel=Channel.VIDEO_AI,
        subclass="E0501",
    )
    inside = [
        "all",
        "key",
        "grid:310118002900001",
        "unit:310118002001001",
        "area:310118002800001",
        "department:police",
        "person:YPG1-011",
        "person:YPD-007",  # handled it; a closed case has no assignee any more
        "channel:video_ai",
        "subclass:E0501",
    ]
    outside = ["grid:310118002900002", "team:property", "person:YPG1-012", "channel:patrol"]
    assert all(in_scope(case, parse_scope(s)) for s in inside)
    assert not any(in_scope(case, parse_scope(s)) for s in outside)
    assert str(parse_scope(" unit:310118002001001 ")) == "unit:310118002001001"
    assert parse_scope(None) == Scope(ScopeKind.ALL)


@pytest.mark.parametrize(
    "text",
    [
        "everything",
        "grid:",
        "grid:123",
        "key:1",
        "department:army",
        "team:police",
        "person:a b",
        "channel:fax",
        "subclass:X0101",
    ],
)
def test_a_bad_scope_names_the_parameter(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_scope(text)
    assert error.value.problems[0].location == ("query", "scope")


def test_periods() -> None:
    now = datetime(2020, 6, 24, 1, 30, tzinfo=UTC)  # 09:30 in China
    assert parse_period(None, None, now) == JUNE
    # a date for "to" includes that whole day
    assert parse_period("2020-06-01", "2020-06-30", now) == JUNE
    at = parse_period("2020-06-24T08:00:00+08:00", "2020-06-24T12:00:00Z", now)
    assert (at.start, at.end) == (day(24, hour=8), day(24, hour=20))
    assert parse_period("2020-06-10", None, now) == Period(day(10, hour=0), END)
    assert parse_period(None, "2020-07-15", now).start == datetime(2020, 7, 1, tzinfo=CHINA_TZ)
    for args, name in (
        (("2020-06-24T08:00:00", None), "from"),  # no offset
        (("soon", None), "from"),
        ((None, "2020-13-01"), "to"),
        (("2020-06-10", "2020-06-09"), "to"),  # ends on the 10th at 00:00: empty
    ):
        with pytest.raises(InvalidInput) as error:
            parse_period(*args, now)
        assert error.value.problems[0].location == ("query", name)


def test_buckets_in_china_time() -> None:
    # 16:00 UTC on 30 June is midnight, 1 July, in China
    assert bucket_of(datetime(2020, 6, 30, 16, tzinfo=UTC), GroupBy.DAY) == "2020-07-01"
    assert bucket_of(datetime(2020, 6, 30, 15, 59, tzinfo=UTC), GroupBy.MONTH) == "2020-06"
    period = Period(day(29, hour=12), day(2, 7, hour=6))
    days = buckets(period, GroupBy.DAY)
    assert [k for k, _ in days] == ["2020-06-29", "2020-06-30", "2020-07-01", "2020-07-02"]
    assert days[0][1] == Period(day(29, hour=12), day(30, hour=0))  # cut to the period
    assert days[-1][1] == Period(day(2, 7, hour=0), day(2, 7, hour=6))
    assert [k for k, _ in buckets(period, GroupBy.MONTH)] == ["2020-06", "2020-07"]
    with pytest.raises(InvalidInput) as error:
        parse_group_by("day", Period(START, START + timedelta(days=400)))
    assert error.value.problems[0].location == ("query", "group_by")
    with pytest.raises(InvalidInput):
        parse_group_by("week", JUNE)
    assert parse_group_by("", JUNE) is None


def test_groups_keep_what_was_counted_and_every_day() -> None:
    cases = [
        fact(id=1, grid_code="g1"),
        fact(id=2, grid_code="g2", channel=Channel.HOTLINE, first_channel=Channel.HOTLINE),
        fact(id=3, grid_code=None),
        fact(id=4, grid_code="g3", pre_launch=True),  # nothing counted: left out
    ]
    groups = measures_by_group(cases, JUNE, GroupBy.GRID)
    assert [k for k, _ in groups] == ["g1", "g2", None]
    assert dict(groups)["g2"]["first_discovery_rate"] == Ratio(0, 1)
    daily = arrange_groups(GroupBy.DAY, JUNE, {})
    assert len(daily) == 30 and daily[0][0] == "2020-06-01"


def test_contributions_are_what_a_drill_down_lists() -> None:
    weights = {
        f.id: contribution(f, Measure.FIRST_DISCOVERY_RATE, Part.NUMERATOR, START, END)
        for f in DISCOVERY
    }
    assert [i for i, w in weights.items() if w] == [1, 3, 5, 13, 14]
    counted = [
        f.id
        for f in DISCOVERY
        if contribution(f, Measure.FIRST_DISCOVERY_RATE, Part.DENOMINATOR, START, END)
    ]
    assert counted == [1, 2, 3, 5, 11, 12, 13, 14]
    dispatched = fact(id=1, dispatches=3, returns=1)
    assert contribution(dispatched, Measure.RETURN_RATE, Part.NUMERATOR, START, END) == 1
    assert contribution(dispatched, Measure.RETURN_RATE, Part.DENOMINATOR, START, END) == 3
    assert contribution(dispatched, Measure.DISPATCH_ACCURACY, Part.NUMERATOR, START, END) == 2
