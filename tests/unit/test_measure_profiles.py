"""Case profiles summed over a period give the figures of the pure formulas, exactly."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from chengyun.domain.measure_profiles import (
    FLAGGED,
    WEIGHTED,
    bit,
    figures_of,
    profile_of,
    sums_of,
)
from chengyun.domain.measures import (
    MEASURE_ORDER,
    CaseFacts,
    Duration,
    Measure,
    Part,
    all_measures,
    is_empty,
)
from tests.measures_data import PERIOD, UTC8, random_case


def _facts(seed: int, count: int = 600) -> list[CaseFacts]:
    rng = random.Random(seed)
    return [replace(random_case(rng, n)[1], id=n + 1) for n in range(count)]


def _without_p90(figures: dict[str, object]) -> dict[str, object]:
    handling = figures["handling_time"]
    assert isinstance(handling, Duration)
    return {**figures, "handling_time": Duration(handling.count, handling.total_microseconds)}


PERIODS = [
    (PERIOD.start, PERIOD.end),
    (datetime(2020, 6, 1, tzinfo=UTC8), datetime(2020, 7, 1, tzinfo=UTC8)),
    (datetime(2020, 7, 1, tzinfo=UTC8), datetime(2020, 7, 2, tzinfo=UTC8)),
    (datetime(2020, 5, 1, tzinfo=UTC8), datetime(2020, 9, 1, tzinfo=UTC8)),
]


@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_summed_profiles_equal_the_formulas(start: datetime, end: datetime) -> None:
    facts = _facts(20261127)
    profiles = [profile_of(f) for f in facts]
    expected = all_measures(facts, start, end)
    assert figures_of(sums_of(profiles, start, end)) == _without_p90(expected)
    assert not is_empty(expected)


def test_a_period_ending_at_the_closing_does_not_count_the_case_closed() -> None:
    closed = next(
        f
        for f in _facts(7)
        if f.closed_at is not None and not f.pre_launch and f.status.value == "closed"
    )
    assert closed.closed_at is not None
    start = min(closed.first_found_at, closed.reported_at) - timedelta(days=30)
    for end in (closed.closed_at, closed.closed_at + timedelta(microseconds=1)):
        sums = sums_of([profile_of(closed)], start, end)
        assert figures_of(sums) == _without_p90(all_measures([closed], start, end))


def test_every_measure_has_its_place_in_the_profile() -> None:
    ratios = [m for m in MEASURE_ORDER if m is not Measure.HANDLING_TIME]
    assert sorted(FLAGGED + WEIGHTED, key=ratios.index) == ratios
    bits = [bit(m, part, closed) for m in FLAGGED for part in Part for closed in (False, True)]
    assert len(set(bits)) == len(bits) and max(bits) < 2**62  # fits a signed 64-bit column
    assert set(WEIGHTED) == {
        Measure.RETURN_RATE,
        Measure.REWORK_RATE,
        Measure.DISPATCH_ACCURACY,
    }
