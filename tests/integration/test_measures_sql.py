"""The measures' SQL against the pure formulas, on random case facts, on both databases.

A seeded generator writes a few hundred rows of facts straight into ``cases`` (and the
reject events the valid-report rate reads) and keeps the same facts in memory; every
figure the SQL computes — for several scopes and every breakdown — must equal what the
formulas of ``domain.measures`` compute from the facts in memory, exactly.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.measures import SqlMeasuresReader, fetch_facts
from chengyun.domain.cases import CaseStatus, Channel
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
from chengyun.domain.taxonomy import Urgency
from chengyun.domain.working_time import CHINA_TZ

GRIDS = ["310118002900001", "310118002900002"]
UNITS = {  # unit → (grid, key)
    "310118002001001": (GRIDS[0], True),
    "310118002001002": (GRIDS[0], False),
    "310118002001003": (GRIDS[1], True),
    "310118002001004": (GRIDS[1], False),
}
AREAS = ["310118002800001", "310118002800002"]
PEOPLE = ["YPG1-001", "YPG1-002", "YPG2-001", "YPD-007"]
#: Each person's team (the reporter's team is the discovery side's breakdown).
TEAMS = {"YPG1-001": "grid_supervisor", "YPG1-002": "non_motor", "YPG2-001": "grid_supervisor"}
RESPONSIBLE = [None, "police", "urban_management", "grid_supervisor", "property"]
SUBCLASSES = ["E0102", "E0501", "C0301"]
UTC8 = CHINA_TZ

PERIOD = Period(datetime(2020, 6, 10, tzinfo=UTC8), datetime(2020, 8, 5, 12, tzinfo=UTC8))
SPAN_START = datetime(2020, 5, 25, tzinfo=UTC8)
SPAN_DAYS = 80


def _moment(rng: random.Random) -> datetime:
    """A random moment around the period, sometimes exactly on one of its bounds."""
    roll = rng.random()
    if roll < 0.03:
        at = PERIOD.start
    elif roll < 0.06:
        at = PERIOD.end
    elif roll < 0.08:  # a day boundary in China time, for the day and month buckets
        at = datetime(2020, 7, 1, tzinfo=UTC8) - timedelta(microseconds=rng.choice([0, 1]))
    else:
        at = SPAN_START + timedelta(
            days=rng.uniform(0, SPAN_DAYS), microseconds=rng.randrange(1_000_000)
        )
    # stored in UTC whatever the offset it arrives with
    return at.astimezone(rng.choice([UTC8, UTC]))


def _after(rng: random.Random, at: datetime, minutes: float) -> datetime:
    return at + timedelta(minutes=rng.uniform(0, minutes), microseconds=rng.randrange(1000))


def _stage(
    rng: random.Random, started: datetime | None, limit_minutes: float
) -> tuple[datetime | None, datetime | None, datetime | None]:
    """A stage clock: started, due, and done (early, exactly on time, late, or open)."""
    if started is None:
        return None, None, None
    due = started + timedelta(minutes=limit_minutes)
    roll = rng.random()
    if roll < 0.15:
        done = None
    elif roll < 0.25:
        done = due  # exactly on the deadline: on time
    elif roll < 0.3:
        done = due + timedelta(microseconds=1)  # a microsecond late
    else:
        done = _after(rng, started, limit_minutes * 1.6)
    return started, due, done


def _case(rng: random.Random, number: int) -> tuple[dict[str, Any], CaseFacts, str | None]:
    """One row of ``cases``, the same facts for the formulas, and a reject reason."""
    reported_at = _moment(rng)
    channel = rng.choices(list(Channel), weights=[5, 2, 2, 2, 1, 1, 1])[0]
    status = rng.choices(
        list(CaseStatus),
        weights=[3, 6, 8, 5, 5, 6, 4, 14, 3, 2, 2, 3, 1],
    )[0]
    urgency = Urgency.URGENT if rng.random() < 0.35 else Urgency.GENERAL
    self_handled = status is CaseStatus.CLOSED and rng.random() < 0.2
    if self_handled:
        channel = Channel.PATROL
    first_channel: Channel | None = channel
    first_found_at: datetime | None = reported_at
    roll = rng.random()
    if roll < 0.15:  # a later report merged in, found first by another channel
        first_channel = rng.choice(list(Channel))
        first_found_at = reported_at - timedelta(minutes=rng.uniform(0, 600))
    elif roll < 0.2:  # a row saved before the facts existed
        first_channel = first_found_at = None
    unit = rng.choice([*UNITS, None])
    grid = UNITS[unit][0] if unit else rng.choice([*GRIDS, None])
    reporter = rng.choice([*PEOPLE, None])
    assignee = rng.choice([*PEOPLE, None])
    handlers = rng.sample(PEOPLE, rng.randrange(3))
    dispatches = rng.randrange(4)
    checks = rng.randrange(4)
    stages: dict[str, tuple[datetime | None, datetime | None, datetime | None]] = {}
    if not self_handled:
        stages["register"] = _stage(rng, reported_at, 30)
        registered = stages["register"][2]
        stages["dispatch"] = _stage(rng, registered, 20)
        dispatched = stages["dispatch"][2]
        stages["accept"] = _stage(rng, dispatched, 15)
        arrive_limit = 15 if urgency is Urgency.URGENT else 40
        stages["arrive"] = _stage(rng, dispatched, arrive_limit)
        handle_start = dispatched
        if dispatched is not None and rng.random() < 0.2:  # restarted by a failed check
            handle_start = _after(rng, dispatched, 200)
        stages["handle"] = _stage(rng, handle_start, 60 if urgency is Urgency.URGENT else 240)
        stages["check"] = _stage(rng, stages["handle"][2], 120)
        if rng.random() < 0.05 and stages["arrive"][0] is not None:
            # exactly the 15 minutes (or the hour) urgent cases are allowed
            started = stages["arrive"][0]
            stages["arrive"] = (
                started,
                started + timedelta(minutes=15),
                started + timedelta(minutes=15),
            )
    closed_at = None
    if status is CaseStatus.CLOSED:
        closed_at = reported_at if self_handled else _after(rng, reported_at, 60 * 24 * 5)
        if not self_handled and rng.random() < 0.1:  # closed exactly as a period ends
            closed_at = rng.choice([PERIOD.end, datetime(2020, 7, 1, tzinfo=UTC8)])
    reject_reason = None
    if status is CaseStatus.REJECTED:
        reject_reason = rng.choice(["invalid", "duplicate", None])
    stage_columns: dict[str, datetime | None] = {}
    for stage in ("register", "dispatch", "accept", "arrive", "handle", "check"):
        started, due, done = stages.get(stage, (None, None, None))
        stage_columns.update(
            {f"{stage}_started_at": started, f"{stage}_due_at": due, f"{stage}_done_at": done}
        )
    responsible = rng.choice(RESPONSIBLE)
    areas = rng.sample(AREAS, rng.randrange(3))
    row: dict[str, Any] = {
        "number": f"E0102202006{number:08d}",
        "kind": "event",
        "subclass": rng.choice(SUBCLASSES),
        "channel": channel.value,
        "urgency": urgency.value,
        "status": status.value,
        "reported_at": reported_at,
        "reporter": reporter,
        "grid_code": grid,
        "unit_code": unit,
        "area_codes": areas,
        "pre_launch": rng.random() < 0.1,
        "assignee": assignee,
        "escalation_level": "handler",
        "self_handled": self_handled,
        "merged_into": 1 if status is CaseStatus.MERGED else None,
        "closed_at": closed_at,
        "updated_at": reported_at,
        "version": 1,
        "state": {"handlers": handlers},
        "first_channel": first_channel.value if first_channel else None,
        "first_found_at": first_found_at,
        "responsible": responsible,
        "dispatches": dispatches,
        "returns": rng.randrange(dispatches + 1),
        "reworks": rng.randrange(3),
        "extensions": rng.randrange(3) if rng.random() < 0.3 else 0,
        "checks": checks,
        "failed_checks": rng.randrange(checks + 1),
        **stage_columns,
    }
    facts = CaseFacts(
        number=row["number"],
        status=status,
        channel=channel,
        first_channel=first_channel or channel,
        reported_at=reported_at,
        first_found_at=first_found_at or reported_at,
        urgency=urgency,
        subclass=row["subclass"],
        grid_code=grid,
        unit_code=unit,
        key_unit=bool(unit and UNITS[unit][1]),
        area_codes=tuple(areas),
        pre_launch=row["pre_launch"],
        self_handled=self_handled,
        merged_into=row["merged_into"],
        reporter=reporter,
        assignee=assignee,
        handlers=tuple(handlers),
        responsible=responsible,
        reporter_team=TEAMS.get(reporter or ""),
        reject_reason=reject_reason,
        closed_at=closed_at,
        dispatches=dispatches,
        returns=row["returns"],
        reworks=row["reworks"],
        extensions=row["extensions"],
        checks=checks,
        failed_checks=row["failed_checks"],
        **stage_columns,
    )
    return row, facts, reject_reason


def _populate(engine: Engine, seed: int, count: int = 500) -> list[CaseFacts]:
    rng = random.Random(seed)
    generated = [_case(rng, n) for n in range(count)]
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


def test_fetch_facts_gives_back_the_rows_as_written(db: Engine, facts: list[CaseFacts]) -> None:
    scope = parse_scope(f"area:{AREAS[0]}")
    with db.connect() as connection:
        fetched = fetch_facts(connection, PERIOD.start, PERIOD.end, scope)
    by_id = {f.id: f for f in facts}
    assert fetched and all(f == by_id[f.id] for f in fetched)
    assert all(in_scope(f, scope) for f in fetched)
    assert all_measures(fetched, PERIOD.start, PERIOD.end) == all_measures(
        _in(facts, scope), PERIOD.start, PERIOD.end
    )


def test_an_empty_period_counts_nothing(db: Engine, facts: list[CaseFacts]) -> None:
    empty = Period(datetime(2021, 1, 1, tzinfo=UTC8), datetime(2021, 2, 1, tzinfo=UTC8))
    with db.connect() as connection:
        figures = SqlMeasuresReader(connection).figures(empty, Scope())
    assert all(f in (Ratio(0, 0), Duration(0, 0, None)) for f in figures.values()), figures
    handling = figures["handling_time"]
    assert isinstance(handling, Duration) and handling.mean_minutes is None
