"""Random case facts around a period: rows of ``cases`` and the same facts in memory, for
the tests that compare the measures' SQL and profiles with the pure formulas."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from chengyun.domain.cases import CaseStatus, Channel
from chengyun.domain.measures import CaseFacts, Period
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


def random_case(rng: random.Random, number: int) -> tuple[dict[str, Any], CaseFacts, str | None]:
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
