"""The measures' SQL against the pure formulas, on random case facts, on both databases.

A seeded generator writes a few hundred rows of facts straight into ``cases`` (and the
reject events the valid-report rate reads) and keeps the same facts in memory; the
profiles are rebuilt from those rows as after the migration. Every figure the SQL
computes — for several scopes and every breakdown — must equal what the formulas of
``domain.measures`` compute from the facts in memory, exactly.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime

import pytest
from sqlalchemy.engine import Engine

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.case_measures import facts_rows, rebuild_profiles
from chengyun.adapters.db.measures import SqlMeasuresReader
from chengyun.domain.measures import (
    CaseFacts,
    Duration,
    GroupBy,
    Measure,
    Part,
    Period,
    Ratio,
    Scope,
    all_measures,
    arrange_groups,
    contribution,
    in_scope,
    measures_by_group,
    parse_scope,
)
from tests.measures_data import (
    AREAS,
    GRIDS,
    PEOPLE,
    PERIOD,
    TEAMS,
    UNITS,
    UTC8,
    random_case,
)


def _populate(engine: Engine, seed: int, count: int = 500) -> list[CaseFacts]:
    rng = random.Random(seed)
    generated = [random_case(rng, n) for n in range(count)]
    with engine.begin() as connection:
        connection.execute(
            t.grids.insert(),
            [
                {"code": g, "name": f"网格{i + 1}", "live_from": date(2020, 6, 1), "geometry": {}}
                for i, g in enumerate(GRIDS)
            ],
        )
        connection.execute(
            t.units.insert(),
            [
                {
                    "code": u,
                    "grid_code": g,
                    "name": f"单元{u[-1]}",
                    "kind": "community",
                    "key": key,
                    "geometry": {},
                }
                for u, (g, key) in UNITS.items()
            ],
        )
        connection.execute(
            t.people.insert(),
            [
                {
                    "number": n,
                    "name": n,
                    "phone": "13900000000",
                    "post": "patrol",
                    "team": TEAMS.get(n),
                }
                for n in PEOPLE
            ],
        )
        rows = [{**row, "id": n + 1} for n, (row, _, _) in enumerate(generated)]
        connection.execute(t.cases.insert(), rows)
        events = [
            {
                "case_id": row["id"],
                "seq": 2,
                "action": "reject",
                "actor": "YPC-ZB01",
                "at": row["reported_at"],
                "from_status": "reported",
                "to_status": "rejected",
                "photos": [],
                "data": {"reason_kind": reason},
            }
            for row, (_, _, reason) in zip(rows, generated, strict=True)
            if row["status"] == "rejected" and reason is not None
        ]
        connection.execute(t.case_events.insert(), events)
        assert rebuild_profiles(connection, batch=97) == count
    return [replace(fact, id=row["id"]) for row, (_, fact, _) in zip(rows, generated, strict=True)]


@pytest.fixture
def facts(db: Engine) -> list[CaseFacts]:
    return _populate(db, 20200624)


SCOPES = [
    "all",
    "key",
    f"grid:{GRIDS[0]}",
    "unit:310118002001003",
    f"area:{AREAS[1]}",
    "department:police",
    "team:grid_supervisor",
    "reporter_team:grid_supervisor",
    "person:YPG1-001",
    "channel:hotline",
    "subclass:E0501",
]


def _in(facts: list[CaseFacts], scope: Scope) -> list[CaseFacts]:
    return [f for f in facts if in_scope(f, scope)]


def test_every_scope_agrees_with_the_formulas(db: Engine, facts: list[CaseFacts]) -> None:
    with db.connect() as connection:
        reader = SqlMeasuresReader(connection)
        for text in SCOPES:
            scope = parse_scope(text)
            expected = all_measures(_in(facts, scope), PERIOD.start, PERIOD.end)
            assert reader.figures(PERIOD, scope) == expected, text
    everything = all_measures(facts, PERIOD.start, PERIOD.end)
    # the data exercise every measure: something counted on both sides
    for name, figure in everything.items():
        if isinstance(figure, Ratio):
            assert 0 < figure.numerator < figure.denominator, name
        else:
            assert isinstance(figure, Duration) and figure.count > 10, name


@pytest.mark.parametrize("group_by", list(GroupBy))
def test_every_breakdown_agrees_with_the_formulas(
    db: Engine, facts: list[CaseFacts], group_by: GroupBy
) -> None:
    with db.connect() as connection:
        reader = SqlMeasuresReader(connection)
        for text in ("all", "key", f"grid:{GRIDS[1]}"):
            scope = parse_scope(text)
            expected = measures_by_group(_in(facts, scope), PERIOD, group_by)
            found = arrange_groups(group_by, PERIOD, reader.grouped(PERIOD, scope, group_by))
            assert [k for k, _ in found] == [k for k, _ in expected], text
            assert found == expected, text
            if text == "all":
                assert len(found) > 2


def test_the_cases_behind_each_figure(db: Engine, facts: list[CaseFacts]) -> None:
    scope = parse_scope("key")
    in_scope_facts = _in(facts, scope)
    with db.connect() as connection:
        reader = SqlMeasuresReader(connection)
        figures = reader.figures(PERIOD, scope)
        for measure in Measure:
            for part in Part:
                total, weights, items = reader.contributions(PERIOD, scope, measure, part, 5000, 0)
                expected = {
                    f.id: w
                    for f in in_scope_facts
                    if (w := contribution(f, measure, part, PERIOD.start, PERIOD.end))
                }
                assert {i.id: i.weight for i in items} == expected, (measure, part)
                assert total == len(expected) and weights == sum(expected.values())
                figure = figures[measure.value]
                if isinstance(figure, Ratio):
                    side = figure.numerator if part is Part.NUMERATOR else figure.denominator
                    assert weights == side, (measure, part)
                else:
                    assert weights == figure.count
                    assert all(i.minutes is not None for i in items)
        page = reader.contributions(PERIOD, scope, Measure.CLOSURE_RATE, Part.DENOMINATOR, 3, 2)
        everyone = reader.contributions(
            PERIOD, scope, Measure.CLOSURE_RATE, Part.DENOMINATOR, 5000, 0
        )
        assert page[2] == everyone[2][2:5]


def test_the_facts_read_back_are_the_rows_as_written(db: Engine, facts: list[CaseFacts]) -> None:
    with db.connect() as connection:
        fetched = facts_rows(connection)
    assert fetched == facts


def test_an_empty_period_counts_nothing(db: Engine, facts: list[CaseFacts]) -> None:
    empty = Period(datetime(2021, 1, 1, tzinfo=UTC8), datetime(2021, 2, 1, tzinfo=UTC8))
    with db.connect() as connection:
        figures = SqlMeasuresReader(connection).figures(empty, Scope())
    assert all(f in (Ratio(0, 0), Duration(0, 0, None)) for f in figures.values()), figures
    handling = figures["handling_time"]
    assert isinstance(handling, Duration) and handling.mean_minutes is None
