"""The measures over a year of a district's cases on PostgreSQL (issue: measures).

A fresh database with the demo sub-district gets 1,000,000 cases reported across one
year (2025, China time) and their events, made in SQL (``INSERT … SELECT
generate_series``) from a seeded generator: channels, subclasses and their rules from
the shipped taxonomy, units and grids of the demo territory, statuses along the closed
loop with the stage clocks each status implies (some late), returns, reworks,
extensions, self-handled and rejected cases. Then planner statistics are refreshed.

Timed, each the median of ``repeats`` runs after one warm-up: the full measures set for
the year (``services.measures.measures_report`` without a breakdown, as ``GET
/api/v1/measures?from=2025-01-01&to=2025-12-31`` runs it; target under 1 s) and the
twelve months broken down (the same, ``group_by=month``; target under 10 s); and, for
reference, the published monthly assessment report of July 2025 (scores, rankings and the
figures behind them, as ``.xlsx`` and PDF: ``chengyun report monthly --month 2025-07``).
The baseline, in the same run, is counting the year's cases: one filtered pass over
``cases``, less than any set-based figure of the year can cost.
Every statement of a run is timed on its own and the slowest is shown with ``EXPLAIN
(ANALYZE, BUFFERS)``.

The measures read each case's profile (``case_measures``), which the seeding fills with
the platform's own rebuild, as the migration does for stored cases.

Quick trial without recording: ``python -m bench.measures --cases 100000 --repeats 1``;
``--database NAME`` measures an already seeded database again (kept afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.intake import fresh_database, pg_url, sqlalchemy_url
from bench.record import Figure, print_or_record
from chengyun.adapters.db.assessment import settings_store
from chengyun.adapters.db.case_measures import rebuild_profiles
from chengyun.adapters.db.engine import make_engine
from chengyun.adapters.db.measures import reader
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.adapters.reports.monthly import monthly_pdf, monthly_xlsx
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain.assessment import parse_month
from chengyun.domain.measures import Duration, GroupBy, Period, Ratio, Scope
from chengyun.domain.taxonomy import Stage, TimeUnit
from chengyun.services.assessment import monthly_assessment
from chengyun.services.measures import MeasuresReport, MeasuresRequest, measures_report

CASES = 1_000_000
CHINA = timezone(timedelta(hours=8))
YEAR = Period(datetime(2025, 1, 1, tzinfo=CHINA), datetime(2026, 1, 1, tzinfo=CHINA))
FULL_TARGET_S = 1.0
MONTHLY_TARGET_S = 10.0
#: Makes ``random()`` in the seeding statements repeat from run to run.
SEED = 0.20250101

#: Minutes a working hour and a working day take on the clock, roughly (nights,
#: weekends and holidays in between), for the generated handling deadlines.
CLOCK_MINUTES = {TimeUnit.MINUTES: 1.0, TimeUnit.WORKING_HOURS: 90.0, TimeUnit.WORKING_DAYS: 2000.0}

#: Cumulative shares of the channels (first match wins).
CHANNELS = (
    (0.45, "patrol"),
    (0.65, "video_ai"),
    (0.75, "citizen_qr"),
    (0.90, "hotline"),
    (0.93, "police_diversion"),
    (0.96, "district"),
    (1.00, "inspection"),
)
#: Cumulative shares of the statuses a year later, and how far along the loop each got:
#: 0 reported, 1 registered, 2 dispatched, 3 accepted, 4 on scene, 5 handled, 6 checked,
#: 7 closed; -1 no clocks at all (forwarded to the district).
STATUSES = (
    (0.820, "closed", 7),
    (0.830, "checked", 6),
    (0.850, "handled", 5),
    (0.855, "on_scene", 4),
    (0.860, "accepted", 3),
    (0.875, "dispatched", 2),
    (0.880, "registered", 1),
    (0.885, "reported", 0),
    (0.890, "on_hold", 3),
    (0.925, "rejected", 0),
    (0.935, "voided", 2),
    (0.945, "merged", 0),
    (1.000, "forwarded", -1),
)
PREFIX = "bench_"


def _case_sql(column: str, choices: tuple[tuple[float, str], ...]) -> str:
    arms = " ".join(f"WHEN {column} < {share} THEN '{value}'" for share, value in choices[:-1])
    return f"CASE {arms} ELSE '{choices[-1][1]}' END"


def _lookups(db: psycopg.Connection[Any]) -> None:
    """Small tables the seeding statement draws from by index: subclasses with their
    rules, units with their grids, street areas, patrol people."""
    db.execute(
        f"CREATE TEMP TABLE {PREFIX}subclasses (i int PRIMARY KEY, code text, kind text, "
        "urgency text, responsible text, handle_minutes float8, arrive_minutes float8)"
    )
    rows = []
    for i, s in enumerate(load_default_taxonomy().subclasses):
        handle = s.limits.get(Stage.HANDLE)
        arrive = s.limits.get(Stage.ARRIVE)
        rows.append(
            (
                i,
                s.code,
                s.kind.value,
                s.urgency.value,
                s.responsible.value,
                handle.amount * CLOCK_MINUTES[handle.unit] if handle else 120.0,
                arrive.amount * CLOCK_MINUTES[arrive.unit] if arrive else 60.0,
            )
        )
    with db.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {PREFIX}subclasses VALUES (%s, %s, %s, %s, %s, %s, %s)", rows
        )
    db.execute(
        f"CREATE TEMP TABLE {PREFIX}units AS SELECT (row_number() OVER (ORDER BY code))::int - 1 "
        "AS i, code, grid_code FROM units"
    )
    db.execute(
        f"CREATE TEMP TABLE {PREFIX}areas AS SELECT (row_number() OVER (ORDER BY code))::int - 1 "
        "AS i, code FROM areas WHERE kind = 'street'"
    )
    db.execute(
        f"CREATE TEMP TABLE {PREFIX}people AS SELECT (row_number() OVER (ORDER BY number))::int "
        "- 1 AS i, number FROM people WHERE post = 'patrol'"
    )
    for table in ("units", "areas", "people"):
        db.execute(f"CREATE INDEX ON {PREFIX}{table} (i)")
        db.execute(f"ANALYZE {PREFIX}{table}")
    db.execute(f"ANALYZE {PREFIX}subclasses")


def _count(db: psycopg.Connection[Any], table: str) -> int:
    (n,) = db.execute(f"SELECT count(*) FROM {PREFIX}{table}").fetchone() or (0,)
    return int(n)


def seed_cases(db: psycopg.Connection[Any], cases: int) -> None:
    """``cases`` cases of the year, their facts consistent with their status."""
    subclasses, units = _count(db, "subclasses"), _count(db, "units")
    areas, people = max(_count(db, "areas"), 1), _count(db, "people")
    progress = " ".join(f"WHEN '{status}' THEN {p}" for _, status, p in STATUSES)
    db.execute("SELECT setseed(%s)", (SEED,))
    # Each level adds what depends on the one before: draws → channel, status, rules →
    # stage times in order along the loop (each stage's done time only if the status
    # got that far) → the row.
    db.execute(
        f"""
        WITH draw AS (
            SELECT g,
                   timestamptz '2025-01-01 00:00+08' + random() * interval '365 days'
                       AS reported_at,
                   random() AS r_channel, random() AS r_status, random() AS r_sub,
                   random() AS r_unit, random() AS r_area, random() AS r_person,
                   random() AS r_first, random() AS r_self, random() AS r_register,
                   random() AS r_dispatch, random() AS r_accept, random() AS r_arrive,
                   random() AS r_handle, random() AS r_check, random() AS r_close,
                   random() AS r_return, random() AS r_rework, random() AS r_extension,
                   random() AS r_reject
            FROM generate_series(1, %(cases)s) AS g
        ), chosen AS (
            SELECT d.*, s.code AS subclass, s.kind, s.urgency, s.responsible,
                   s.handle_minutes, s.arrive_minutes, u.code AS unit_code,
                   u.grid_code, a.code AS area_code, p.number AS patrol,
                   {_case_sql("d.r_channel", CHANNELS)} AS channel,
                   {_case_sql("d.r_status", tuple((s, v) for s, v, _ in STATUSES))} AS status
            FROM draw AS d
            JOIN {PREFIX}subclasses AS s ON s.i = floor(d.r_sub * {subclasses})::int
            JOIN {PREFIX}units AS u ON u.i = floor(d.r_unit * {units})::int
            LEFT JOIN {PREFIX}areas AS a ON a.i = floor(d.r_area * {areas})::int
            JOIN {PREFIX}people AS p ON p.i = floor(d.r_person * {people})::int
        ), shaped AS (
            SELECT c.*,
                   CASE c.status {progress} END AS progress,
                   c.status = 'closed' AND c.channel IN ('patrol', 'inspection')
                       AND c.r_self < 0.25 AS self_handled,
                   CASE WHEN c.r_first < 0.06 AND c.channel <> 'hotline' THEN 'hotline'
                        ELSE c.channel END AS first_channel,
                   CASE WHEN c.r_first < 0.06 AND c.channel <> 'hotline'
                        THEN c.reported_at - c.r_first * interval '2000 minutes'
                        ELSE c.reported_at END AS first_found_at
            FROM chosen AS c
        ), clocked AS (
            SELECT s.*,
                   NOT s.self_handled AND s.progress >= 0 AS clocks,
                   s.reported_at + s.r_register * interval '40 minutes' AS register_done,
                   s.reported_at + s.r_register * interval '40 minutes'
                       + s.r_dispatch * interval '18 minutes' AS dispatch_done
            FROM shaped AS s
        ), timed AS (
            SELECT c.*,
                   c.dispatch_done + c.r_accept * interval '17 minutes' AS accept_done,
                   c.dispatch_done + c.r_accept * interval '17 minutes'
                       + c.r_arrive * c.arrive_minutes * 1.2 * interval '1 minute'
                       AS arrive_done,
                   c.dispatch_done + c.r_accept * interval '17 minutes'
                       + c.r_arrive * c.arrive_minutes * 1.2 * interval '1 minute'
                       + c.r_handle * c.handle_minutes * 1.15 * interval '1 minute'
                       AS handle_done
            FROM clocked AS c
        ), loop AS (
            SELECT t.*,
                   t.handle_done + t.r_check * interval '1600 minutes' AS check_done,
                   t.handle_done + t.r_check * interval '1600 minutes'
                       + t.r_close * interval '60 minutes' AS close_done,
                   CASE WHEN t.clocks AND t.progress >= 2 THEN 1 + (t.r_return < 0.05)::int
                        ELSE 0 END AS dispatches,
                   CASE WHEN t.clocks AND t.progress >= 6 THEN 1 + (t.r_rework < 0.04)::int
                        ELSE 0 END AS checks
            FROM timed AS t
        )
        INSERT INTO cases (
            number, kind, subclass, channel, urgency, status, light, reported_at, reporter,
            grid_code, unit_code, area_codes, pre_launch, hazard, assignee, unassigned,
            escalation_level, self_handled, closed_at, updated_at, version, state,
            first_channel, first_found_at, responsible, dispatches, returns, reworks,
            extensions, checks, failed_checks,
            register_started_at, register_due_at, register_done_at,
            dispatch_started_at, dispatch_due_at, dispatch_done_at,
            accept_started_at, accept_due_at, accept_done_at,
            arrive_started_at, arrive_due_at, arrive_done_at,
            handle_started_at, handle_due_at, handle_done_at,
            check_started_at, check_due_at, check_done_at)
        SELECT
            l.subclass || to_char(l.reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
                || lpad(l.g::text, 7, '0'),
            l.kind, l.subclass, l.channel, l.urgency, l.status, 'green', l.reported_at,
            CASE WHEN l.channel IN ('patrol', 'inspection') THEN l.patrol END,
            CASE WHEN l.status <> 'forwarded' THEN l.grid_code END,
            CASE WHEN l.status <> 'forwarded' THEN l.unit_code END,
            CASE WHEN l.area_code IS NOT NULL AND l.r_area < 0.3
                 THEN json_build_array(l.area_code) ELSE '[]'::json END,
            false, false,
            CASE WHEN l.self_handled THEN l.patrol
                 WHEN l.progress >= 2 THEN l.patrol END,
            false, 'handler', l.self_handled,
            CASE WHEN l.self_handled THEN l.reported_at
                 WHEN l.status = 'closed' THEN l.close_done END,
            CASE WHEN l.self_handled THEN l.reported_at
                 WHEN l.progress >= 7 THEN l.close_done
                 WHEN l.progress >= 5 THEN l.handle_done
                 WHEN l.progress >= 1 THEN l.register_done
                 ELSE l.reported_at END,
            1 + greatest(l.progress, 0),
            json_build_object('handlers', CASE WHEN l.self_handled OR l.progress >= 5
                                               THEN json_build_array(l.patrol)
                                               ELSE '[]'::json END),
            l.first_channel, l.first_found_at,
            CASE WHEN l.progress >= 1 THEN l.responsible END,
            l.dispatches, l.dispatches - 1 + (l.dispatches = 0)::int,
            l.checks - 1 + (l.checks = 0)::int,
            CASE WHEN l.dispatches > 0 AND l.r_extension < 0.03 THEN 1 ELSE 0 END,
            l.checks, l.checks - 1 + (l.checks = 0)::int,
            CASE WHEN l.clocks THEN l.reported_at END,
            CASE WHEN l.clocks THEN l.reported_at + interval '30 minutes' END,
            CASE WHEN l.clocks AND (l.progress >= 1 OR l.status = 'rejected')
                 THEN l.register_done END,
            CASE WHEN l.clocks AND l.progress >= 1 THEN l.register_done END,
            CASE WHEN l.clocks AND l.progress >= 1
                 THEN l.register_done + interval '15 minutes' END,
            CASE WHEN l.clocks AND l.progress >= 2 THEN l.dispatch_done END,
            CASE WHEN l.clocks AND l.progress >= 2 THEN l.dispatch_done END,
            CASE WHEN l.clocks AND l.progress >= 2
                 THEN l.dispatch_done + interval '15 minutes' END,
            CASE WHEN l.clocks AND l.progress >= 3 THEN l.accept_done END,
            CASE WHEN l.clocks AND l.progress >= 2 THEN l.dispatch_done END,
            CASE WHEN l.clocks AND l.progress >= 2
                 THEN l.dispatch_done + l.arrive_minutes * interval '1 minute' END,
            CASE WHEN l.clocks AND l.progress >= 4 THEN l.arrive_done END,
            CASE WHEN l.clocks AND l.progress >= 2 THEN l.dispatch_done END,
            CASE WHEN l.clocks AND l.progress >= 2
                 THEN l.dispatch_done + l.handle_minutes * interval '1 minute' END,
            CASE WHEN l.clocks AND l.progress >= 5 THEN l.handle_done END,
            CASE WHEN l.clocks AND l.progress >= 5 THEN l.handle_done END,
            CASE WHEN l.clocks AND l.progress >= 5
                 THEN l.handle_done + interval '1 day' END,
            CASE WHEN l.clocks AND l.progress >= 6 THEN l.check_done END
        FROM loop AS l
        ORDER BY l.g
        """,
        {"cases": cases},
    )


#: The events each case gets, in order: (seq, action, the status after it, the time
#: column it happened at, the condition on the case).
EVENTS = (
    (1, "report", "reported", "reported_at", "true"),
    (2, "register", "registered", "register_done_at", "dispatch_started_at IS NOT NULL"),
    (2, "reject", "rejected", "register_done_at", "status = 'rejected'"),
    (2, "self_handle", "closed", "reported_at", "self_handled"),
    (2, "forward", "forwarded", "reported_at", "status = 'forwarded'"),
    (3, "dispatch", "dispatched", "dispatch_done_at", "dispatch_done_at IS NOT NULL"),
    (4, "accept", "accepted", "accept_done_at", "accept_done_at IS NOT NULL"),
    (5, "arrive", "on_scene", "arrive_done_at", "arrive_done_at IS NOT NULL"),
    (6, "handle", "handled", "handle_done_at", "handle_done_at IS NOT NULL"),
    (7, "check", "checked", "check_done_at", "check_done_at IS NOT NULL"),
    (8, "close", "closed", "closed_at", "status = 'closed' AND NOT self_handled"),
)


def seed_events(db: psycopg.Connection[Any]) -> None:
    """The timeline of every case as its status implies; a rejection says why (one in
    four as a duplicate)."""
    for seq, action, status, at, condition in EVENTS:
        data = (
            "json_build_object('reason_kind', CASE WHEN id % 4 = 0 THEN 'duplicate' "
            "ELSE 'invalid' END)"
            if action == "reject"
            else "'{}'::json"
        )
        actor = "coalesce(reporter, 'gateway')" if seq <= 2 else "coalesce(assignee, 'YPC-ZB01')"
        db.execute(
            "INSERT INTO case_events (case_id, seq, action, actor, at, to_status, photos, data) "
            f"SELECT id, {seq}, '{action}', {actor}, {at}, '{status}', '[]'::json, {data} "
            f"FROM cases WHERE {condition} AND {at} IS NOT NULL ORDER BY id"
        )


def seed(database: str, cases: int) -> tuple[int, int]:
    """Cases and events of the year, their measure profiles (computed by the platform's
    rebuild, as after the migration), then fresh statistics; (cases, events)."""
    with psycopg.connect(pg_url(database)) as db:
        _lookups(db)
        seed_cases(db, cases)
        seed_events(db)
        db.commit()
    start = time.perf_counter()
    engine = make_engine(sqlalchemy_url(database))
    try:
        with engine.begin() as connection:
            rebuild_profiles(connection)
    finally:
        engine.dispose()
    print(f"  profiles rebuilt in {time.perf_counter() - start:.0f} s", flush=True)
    with psycopg.connect(pg_url(database)) as db:
        db.autocommit = True
        for table in ("cases", "case_events", "case_measures"):
            db.execute(f"VACUUM ANALYZE {table}")
        (made,) = db.execute("SELECT count(*) FROM cases").fetchone() or (0,)
        (events,) = db.execute("SELECT count(*) FROM case_events").fetchone() or (0,)
        (size,) = db.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('cases')) || ' cases, ' || "
            # the events are partitioned by month: their size is their partitions'
            "pg_size_pretty((SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) "
            "FROM pg_inherits WHERE inhparent = 'case_events'::regclass) "
            "+ pg_total_relation_size('case_events')) || ' events, ' || "
            "pg_size_pretty(pg_total_relation_size('case_measures')) || ' profiles'"
        ).fetchone() or ("",)
    print(f"  on disk: {size}", flush=True)
    return int(made), int(events)


def timed(engine: sa.Engine, request: MeasuresRequest) -> tuple[float, MeasuresReport]:
    start = time.perf_counter()
    report = measures_report(SqlUnitOfWork(engine), reader, request)
    return time.perf_counter() - start, report


def statements_of(
    engine: sa.Engine, run: Callable[[], object]
) -> list[tuple[float, str, dict[str, Any]]]:
    """The statements ``run`` sends, each with its own wall time and parameters."""
    sent: list[tuple[float, str, dict[str, Any]]] = []
    started: list[float] = []

    def before(_conn: Any, _cursor: Any, _statement: str, *_: Any) -> None:
        started.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        params = dict(parameters) if isinstance(parameters, dict) else {}
        sent.append((time.perf_counter() - started.pop(), statement, params))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        run()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
    return sent


def _describe(sent: list[tuple[float, str, dict[str, Any]]]) -> str:
    lines = []
    for seconds, statement, _ in sorted(sent, key=lambda s: -s[0]):
        if seconds < 0.001:
            continue
        flat = " ".join(statement.split())
        where = flat.rsplit(" WHERE ", 1)[-1] if " WHERE " in flat else flat
        lines.append(f"{seconds * 1000:8.1f} ms  WHERE {where[:140]}")
    return "\n    ".join(lines)


def explain(engine: sa.Engine, statement: str, parameters: dict[str, Any]) -> str:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
        connection.rollback()
    return "\n    ".join(str(r[0]) for r in rows)


def _check(report: MeasuresReport, cases: int) -> None:
    """The figures are plausible: every valid case of the year counted once."""
    first = (report.figures or {}).get("first_discovery_rate")
    denominator = first.denominator if isinstance(first, Ratio) else 0
    if not 0.8 * cases < denominator < cases:
        raise RuntimeError(f"{denominator} valid cases counted of {cases}: the seeding is off")


def _summary(report: MeasuresReport) -> str:
    parts = []
    for name, figure in (report.figures or {}).items():
        if isinstance(figure, Ratio) and figure.value is not None:
            parts.append(f"{name} {figure.value:.3f}")
        elif isinstance(figure, Duration) and figure.mean_minutes is not None:
            parts.append(f"{name} mean {figure.mean_minutes:.0f} min, p90 {figure.p90_minutes:.0f}")
    return "; ".join(parts)


def scan(engine: sa.Engine) -> float:
    """Seconds to count the cases reported in the year: one filtered pass over ``cases``,
    the baseline the full set is compared with in the same run."""
    start = time.perf_counter()
    with engine.connect() as connection:
        connection.execute(
            sa.text(
                "SELECT count(*) FROM cases WHERE reported_at >= :start AND reported_at < :end"
            ),
            {"start": YEAR.start, "end": YEAR.end},
        ).one()
    return time.perf_counter() - start


def published_report(engine: sa.Engine) -> float:
    """Seconds to gather July 2025's assessment and write it as .xlsx and PDF."""
    start = time.perf_counter()
    now = datetime(2026, 1, 5, tzinfo=CHINA)
    assessment = monthly_assessment(
        SqlUnitOfWork(engine), reader, settings_store, parse_month("2025-07", now), now
    )
    monthly_xlsx(assessment)
    monthly_pdf(assessment)
    return time.perf_counter() - start


@contextmanager
def _seeded(cases: int, existing: str | None) -> Iterator[tuple[str, int]]:
    """A database holding the year's cases and their count: ``existing`` as it is, or a
    fresh one seeded now and dropped afterwards."""
    if existing:
        with psycopg.connect(pg_url(existing)) as db:
            (made,) = db.execute("SELECT count(*) FROM cases").fetchone() or (0,)
        yield existing, int(made)
        return
    with fresh_database() as database:
        start = time.perf_counter()
        made, events = seed(database, cases)
        print(
            f"  {made:,} cases and {events:,} events made in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        yield database, made


def run(repeats: int = 3, cases: int = CASES, existing: str | None = None) -> list[Figure]:
    repeats = max(repeats, 1)
    full_request = MeasuresRequest(YEAR, Scope())
    monthly_request = MeasuresRequest(YEAR, Scope(), GroupBy.MONTH)
    with _seeded(cases, existing) as (database, made):
        engine = make_engine(sqlalchemy_url(database))
        try:
            _, warm = timed(engine, full_request)  # warm-up: caches, plans
            _check(warm, made)
            print(f"  figures: {_summary(warm)}", flush=True)
            full = [timed(engine, full_request)[0] for _ in range(repeats)]
            scan(engine)
            bare = [scan(engine) for _ in range(repeats)]
            print(f"  baseline, counting the year's cases: {bare} s", flush=True)
            print(f"  full set: {', '.join(f'{s * 1000:.0f}' for s in full)} ms", flush=True)
            timed(engine, monthly_request)
            monthly = [timed(engine, monthly_request)[0] for _ in range(repeats)]
            print(f"  monthly: {', '.join(f'{s:.2f}' for s in monthly)} s", flush=True)
            published_report(engine)
            published = [published_report(engine) for _ in range(repeats)]
            print(f"  published report: {', '.join(f'{s:.2f}' for s in published)} s", flush=True)
            sent = statements_of(engine, lambda: timed(engine, full_request))
            print(f"  statements of the full set, slowest first:\n    {_describe(sent)}")
            slowest = max(sent, key=lambda s: s[0])
            print(f"  the slowest one's plan:\n    {explain(engine, *slowest[1:])}", flush=True)
            monthly_sent = statements_of(engine, lambda: timed(engine, monthly_request))
            print(
                f"  statements of the monthly report, slowest first:\n    {_describe(monthly_sent)}"
            )
            slowest_monthly = max(monthly_sent, key=lambda s: s[0])
            print(
                f"  its slowest statement's plan:\n    "
                f"{explain(engine, slowest_monthly[1], slowest_monthly[2])}",
                flush=True,
            )
        finally:
            engine.dispose()
    label = f"measures, {made:,} cases of a year, PostgreSQL"
    return [
        Figure(
            f"{label}: the full set (median of {repeats})",
            "ms",
            [s * 1000 for s in full],
            f"< {FULL_TARGET_S * 1000:.0f} ms",
            statistics.median(full) < FULL_TARGET_S,
        ),
        Figure(
            f"{label}: baseline, counting the year's cases (one filtered pass over cases)",
            "ms",
            [s * 1000 for s in bare],
            "— (reference)",
            True,
        ),
        Figure(
            f"{label}: the full set / baseline",
            "×",
            [f / b for f, b in zip(full, bare, strict=True)],
            "— (reference)",
            True,
        ),
        Figure(
            f"{label}: the monthly report, 12 months (median of {repeats})",
            "s",
            monthly,
            f"< {MONTHLY_TARGET_S:.0f} s",
            statistics.median(monthly) < MONTHLY_TARGET_S,
        ),
        Figure(
            f"{label}: the published assessment report of one month, .xlsx and PDF "
            f"(median of {repeats})",
            "s",
            published,
            f"< {MONTHLY_TARGET_S:.0f} s",
            statistics.median(published) < MONTHLY_TARGET_S,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="the measures over a year of cases")
    parser.add_argument("--cases", type=int, default=CASES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", help="measure this already seeded database (kept)")
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats, args.cases, args.database)
    print_or_record(figures, args.record)


if __name__ == "__main__":
    main()
