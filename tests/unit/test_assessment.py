"""The assessment (督查考核) on hand-built figures: scores, ranks and the validation of the
weights, each answer worked out in the comments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from chengyun.domain.assessment import (
    DEFAULT_WEIGHTS,
    INDICATORS,
    AssessedUnit,
    Family,
    FamilyWeights,
    Score,
    UnitType,
    month_of_period,
    parse_month,
    published,
    rank,
    score,
    standings,
    target_checks,
    validated_weights,
    weights_problems,
)
from chengyun.domain.errors import InvalidInput
from chengyun.domain.measures import Duration, Ratio
from chengyun.domain.working_time import CHINA_TZ

DISCOVERY = DEFAULT_WEIGHTS.discovery
HANDLING = DEFAULT_WEIGHTS.handling


def test_the_default_weights_add_up_to_100_and_validate() -> None:
    for family in Family:
        weights = DEFAULT_WEIGHTS.of(family)
        assert sum(weights.points.values()) == 100
        assert set(weights.points) == {i.name for i in INDICATORS[family]}
    document = DEFAULT_WEIGHTS.as_json()
    assert document == {
        "discovery": {
            "valid_report_rate": 30,
            "first_discovery_rate": 35,
            "missed_report_rate": 15,
            "self_handled_share": 20,
        },
        "handling": {
            "on_time_handling_rate": 30,
            "return_rate": 15,
            "rework_rate": 15,
            "closure_rate": 25,
            "urgent_on_time_arrival_rate": 15,
        },
    }
    assert validated_weights(document) == DEFAULT_WEIGHTS


def test_a_discovery_score_with_every_component() -> None:
    figures = {
        "valid_report_rate": Ratio(9, 10),  # 0.90 × 30 = 27
        "first_discovery_rate": Ratio(17, 20),  # 0.85 × 35 = 29.75
        "missed_report_rate": Ratio(3, 20),  # inverted: (1 − 0.15) × 15 = 12.75
        "self_handled_share": Ratio(5, 20),  # 0.25 × 20 = 5
        "closure_rate": Ratio(1, 2),  # not a discovery indicator: ignored
        "handling_time": Duration(),
    }
    result = score(figures, DISCOVERY)
    assert [c.indicator.name for c in result.components] == [
        "valid_report_rate",
        "first_discovery_rate",
        "missed_report_rate",
        "self_handled_share",
    ]
    assert [c.points for c in result.components] == [
        Fraction(27),
        Fraction("29.75"),
        Fraction("12.75"),
        Fraction(5),
    ]
    missed = result.components[2]
    assert missed.indicator.inverted and missed.value == Fraction(3, 20)
    assert missed.credit == Fraction(17, 20)
    # all measured: the score is the sum, 27 + 29.75 + 12.75 + 5 = 74.5
    assert result.measured_weight == 100
    assert result.composite == Fraction("74.5")
    assert result.published == Decimal("74.50")


def test_an_indicator_with_nothing_to_count_shares_its_weight_out() -> None:
    figures = {
        "on_time_handling_rate": Ratio(8, 10),  # 0.8 × 30 = 24
        "return_rate": Ratio(1, 10),  # (1 − 0.1) × 15 = 13.5
        "rework_rate": Ratio(1, 4),  # (1 − 0.25) × 15 = 11.25
        "closure_rate": Ratio(9, 10),  # 0.9 × 25 = 22.5
        "urgent_on_time_arrival_rate": Ratio(0, 0),  # no urgent case: left out
    }
    result = score(figures, HANDLING)
    urgent = result.components[-1]
    assert not urgent.measured and urgent.points is None and urgent.value is None
    # earned 24 + 13.5 + 11.25 + 22.5 = 71.25 of the measured 85 points:
    # 71.25 / 85 × 100 = 83.8235… → 83.82
    assert result.earned == Fraction("71.25")
    assert result.measured_weight == 85
    assert result.composite == Fraction("71.25") * 100 / 85
    assert result.published == Decimal("83.82")


def test_an_indicator_the_scope_cannot_measure_is_explained() -> None:
    figures = {"valid_report_rate": Ratio(1, 2), "first_discovery_rate": Ratio(1, 2)}
    note = {"self_handled_share": "not measurable for a team"}
    result = score(figures, DISCOVERY, note)
    self_handled = result.components[3]
    assert self_handled.figure is None and self_handled.note == "not measurable for a team"
    # missed_report_rate was not given either. Measured: 30 + 35 = 65 points;
    # earned 0.5 × 30 + 0.5 × 35 = 32.5 → 32.5 / 65 × 100 = 50
    assert result.published == Decimal("50.00")


def test_nothing_counted_gives_no_score() -> None:
    result = score({name: Ratio() for name in HANDLING.points}, HANDLING)
    assert result.composite is None and result.published is None
    assert result.measured_weight == 0


def test_a_rate_must_be_a_ratio() -> None:
    with pytest.raises(TypeError):
        score({"closure_rate": Duration()}, HANDLING)


def test_scores_are_published_with_halves_rounded_up() -> None:
    assert published(Fraction("12.345")) == Decimal("12.35")  # half-even would give 12.34
    assert published(Fraction("12.344999")) == Decimal("12.34")
    assert published(Fraction(200, 3)) == Decimal("66.67")
    assert published(Fraction(100)) == Decimal("100.00")


def single(value: Ratio) -> Score:
    """A score made of one indicator worth all 100 points: the rate × 100."""
    weights = FamilyWeights(
        Family.HANDLING,
        {
            i.name: Decimal(100 if i.name == "closure_rate" else 0)
            for i in INDICATORS[Family.HANDLING]
        },
    )
    return score({"closure_rate": value}, weights)


def test_ranks_share_ties_and_skip() -> None:
    scores = [
        single(Ratio(9, 10)),  # 90
        single(Ratio(21251, 25000)),  # 85.004 → published 85.00
        single(Ratio(9, 10)),  # 90
        single(Ratio(0, 0)),  # no score
        single(Ratio(21249, 25000)),  # 84.996 → published 85.00: the same as the second
        single(Ratio(7, 10)),  # 70
    ]
    # 90, 90 share 1st; the two 85.00 share 3rd (2nd is skipped); 70 is 5th
    assert rank(scores) == [1, 3, 1, None, 3, 5]
    assert rank([]) == []


def test_standings_order_ties_by_type_and_leave_the_unscored_last() -> None:
    team = AssessedUnit(UnitType.PATROL_TEAM, "maintenance", "一体化养护公司")
    grid = AssessedUnit(UnitType.JOINT_WORKSTATION, "310118002900001", "第一责任网格")
    unit = AssessedUnit(UnitType.COMMUNITY_WORKSTATION, "310118002001001", "城中居委会", key=True)
    idle = AssessedUnit(UnitType.PATROL_TEAM, "property", "物业人员")
    found = standings(
        [
            (idle, single(Ratio())),
            (unit, single(Ratio(2, 3))),  # 66.67
            (team, single(Ratio(1, 2))),  # 50
            (grid, single(Ratio(2, 3))),  # 66.67
        ]
    )
    assert [(s.rank, s.unit.code) for s in found] == [
        (1, grid.code),  # the joint-duty workstation comes before the community one
        (1, unit.code),
        (3, team.code),
        (None, idle.code),
    ]
    assert found[0].unit.family is Family.DISCOVERY


def test_the_seeds_targets_are_met_exactly_at_the_mark() -> None:
    first, closure = target_checks(
        {"first_discovery_rate": Ratio(17, 20), "closure_rate": Ratio(96, 99)}
    )
    assert first.measure.value == "first_discovery_rate" and first.target == Fraction(17, 20)
    assert first.met is True  # 17/20 is exactly 85 %
    assert closure.target == Fraction(97, 100)
    assert closure.met is False  # 96/99 = 96.97 % < 97 %
    empty = target_checks({})
    assert [c.met for c in empty] == [None, None]


# --- weights ---------------------------------------------------------------------------------


def document(**changes: Any) -> dict[str, Any]:
    """The default weights with some replaced (``family__indicator=value``, ``None``
    removes one)."""
    data: dict[str, Any] = DEFAULT_WEIGHTS.as_json()
    for key, value in changes.items():
        family, name = key.split("__")
        if value is None:
            del data[family][name]
        else:
            data[family][name] = value
    return data


def problems_of(data: object) -> list[tuple[tuple[str | int, ...], str]]:
    return [(p.location, p.kind) for p in weights_problems(data, ("body",))]


def test_weights_with_decimals_are_exact() -> None:
    # 30.25 + 34.75 + 15 + 20 = 100 exactly
    weights = validated_weights(
        document(discovery__valid_report_rate=30.25, discovery__first_discovery_rate=34.75)
    )
    assert weights.discovery.points["valid_report_rate"] == Decimal("30.25")
    assert weights.as_json()["discovery"]["valid_report_rate"] == 30.25
    assert weights.as_json()["discovery"]["missed_report_rate"] == 15


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # a negative weight (and so no sum is checked for that family)
        (
            document(handling__return_rate=-5, handling__closure_rate=45),
            [(("body", "handling", "return_rate"), "range")],
        ),
        # 30 + 35 + 15 + 25 = 105
        (
            document(discovery__self_handled_share=25),
            [(("body", "discovery"), "sum")],
        ),
        # an unknown indicator, and one that belongs to the other family
        (
            document(discovery__happiness=0, handling__valid_report_rate=0),
            [
                (("body", "discovery", "happiness"), "unknown"),
                (("body", "handling", "valid_report_rate"), "unknown"),
            ],
        ),
        # a missing indicator
        (
            document(handling__rework_rate=None, handling__closure_rate=40),
            [(("body", "handling", "rework_rate"), "missing")],
        ),
        # not numbers, and three decimals
        (
            document(
                discovery__valid_report_rate="30",
                handling__return_rate=True,
                handling__rework_rate=14.995,
            ),
            [
                (("body", "discovery", "valid_report_rate"), "range"),
                (("body", "handling", "return_rate"), "range"),
                (("body", "handling", "rework_rate"), "range"),
            ],
        ),
        # above 100 (and the sum is then off too)
        (
            document(handling__closure_rate=125.5),
            [(("body", "handling", "closure_rate"), "range")],
        ),
        # a family missing, an unknown family, a family that is not an object
        (
            {"discovery": DEFAULT_WEIGHTS.as_json()["discovery"], "teams": {}},
            [(("body", "teams"), "unknown"), (("body", "handling"), "missing")],
        ),
        (
            {"discovery": [30, 35, 15, 20], "handling": DEFAULT_WEIGHTS.as_json()["handling"]},
            [(("body", "discovery"), "type")],
        ),
        ([1, 2], [(("body",), "type")]),
    ],
)
def test_weight_problems_are_located(data: object, expected: list[tuple[Any, str]]) -> None:
    assert problems_of(data) == expected
    with pytest.raises(InvalidInput) as caught:
        validated_weights(data, ("body",))
    assert [(p.location, p.kind) for p in caught.value.problems] == expected


def test_a_wrong_sum_names_the_total() -> None:
    (problem,) = weights_problems(document(discovery__self_handled_share=19.5))
    assert problem.location == ("discovery",)
    assert "99.5" in problem.message and "100" in problem.message


def test_a_zero_weight_leaves_an_indicator_out() -> None:
    weights = validated_weights(
        document(handling__urgent_on_time_arrival_rate=0, handling__closure_rate=40)
    )
    result = score(
        {
            "on_time_handling_rate": Ratio(1, 1),  # 30
            "return_rate": Ratio(0, 2),  # 15
            "rework_rate": Ratio(0, 1),  # 15
            "closure_rate": Ratio(1, 2),  # 0.5 × 40 = 20
            "urgent_on_time_arrival_rate": Ratio(0, 1),  # 0 × 0 = 0
        },
        weights.handling,
    )
    # 30 + 15 + 15 + 20 + 0 = 80 of 100
    assert result.published == Decimal("80.00")


# --- months ----------------------------------------------------------------------------------

NOW = datetime(2020, 8, 3, 10, 0, tzinfo=CHINA_TZ)


def test_a_month_is_a_period_in_china_time() -> None:
    july = parse_month("2020-07", NOW)
    assert july.start == datetime(2020, 7, 1, tzinfo=CHINA_TZ)
    assert july.end == datetime(2020, 8, 1, tzinfo=CHINA_TZ)
    assert month_of_period(july) == "2020-07"
    december = parse_month("2020-12", NOW)
    assert december.end == datetime(2021, 1, 1, tzinfo=CHINA_TZ)
    # without a month: the month of now, in China time (16:30 UTC on 31 July is 1 August)
    assert month_of_period(parse_month(None, NOW)) == "2020-08"
    assert month_of_period(parse_month(" ", datetime.fromisoformat("2020-07-31T16:30Z"))) == (
        "2020-08"
    )


@pytest.mark.parametrize("text", ["2020-13", "2020-7", "July", "2020-07-01", "1999-12"])
def test_a_bad_month_is_named(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_month(text, NOW)
    assert caught.value.problems[0].location == ("query", "month")
