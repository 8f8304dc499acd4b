"""The SLA sweep over 100,000 open cases on PostgreSQL (issue: case engine).

A fresh database with the demo sub-district gets a few template cases reported through
the intake service at a fixed clock (dispatched, their clocks running), then 100,000
copies made in SQL: each template row and its events repeated with its own id and
number. 99,500 copies are reported a minute later than the other 500, so there is a
moment when nothing is due and, a little later, one when exactly the 500 are.

Timed: ``sweep`` passes when nothing is due (target: median under 200 ms a pass), and
passes where the 500 are due (no target; the cost per case is reported). The due query
is shown with ``EXPLAIN ANALYZE``.

The baseline, in the same run and alternately with the passes when nothing is due (one
baseline pass after each sweep pass): the sweep's due-case selection as plain SQL text
through psycopg on a connection of its own to the same database — ``BEGIN``, ``SELECT id
FROM cases WHERE next_due_at <= … AND status = ANY(…) ORDER BY next_due_at LIMIT 500 FOR
UPDATE SKIP LOCKED``, ``COMMIT`` — without SQLAlchemy or platform code: what a pass with
nothing due cannot go below. Printed and recorded: its median and, per pass, the sweep
pass's time over the baseline's (``… / baseline``), which survives a noisy machine
better than the milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from shapely.geometry import shape

from bench.intake import fresh_database, pg_url, sqlalchemy_url
from bench.record import Figure, print_or_record
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.domain.cases import OPEN_STATUSES, Channel
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import ReportCommand, report_case, sweep

CASES = 100_000
DUE = 500
#: General subclasses whose first stages have the same limits (accept within 15 minutes).
SUBCLASSES = ("E0102", "E0504", "C0301", "E0201")
#: A Wednesday morning: a working day, the day shift on duty, every demo grid live.
REPORTED = datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=8)))
LATER = timedelta(minutes=1)
IDLE_PASSES = 7
DUE_PASSES = 5
#: ``services.cases.sweep``'s default batch: the due query's LIMIT.
BATCH = 500
#: The sweep's due-case selection (``CaseRepository.due`` on PostgreSQL) as plain SQL.
BARE_DUE_QUERY = (
    "SELECT id FROM cases WHERE next_due_at <= %s AND status = ANY(%s) "
    "ORDER BY next_due_at LIMIT %s FOR UPDATE SKIP LOCKED"
)


@dataclass(frozen=True)
class Template:
    case_id: int
    prefix: str
    copies: int


@dataclass(frozen=True)
class Moments:
    idle: datetime
    """Every case reported, none due."""
    due: datetime
    """Exactly the early group due."""


def _report(platform: Platform, subclass: str, lng: float, lat: float, reporter: str) -> int:
    command = ReportCommand(
        channel=Channel.PATROL,
        subclass=subclass,
        lng=lng,
        lat=lat,
        description="bench sweep template",
        reporter=reporter,
    )
    result = report_case(platform.uow(), platform.cases, command)
    assert result.record.case.status.value == "dispatched", result.record.case.status
    return result.record.id


def templates(platform: Platform, clock: DrivenClock) -> tuple[list[Template], list[Template]]:
    """One early and one later template per subclass, each in its own unit."""
    territory = platform.territory_index.get().territory
    points = [shape(u.geometry).representative_point() for u in territory.units]
    with platform.uow() as uow:
        patrol = next(p.number for p in uow.forces.roster().people if p.post.value == "patrol")
    early: list[Template] = []
    later: list[Template] = []
    per_subclass = CASES // len(SUBCLASSES)
    early_each = DUE // len(SUBCLASSES)
    for i, subclass in enumerate(SUBCLASSES):
        prefix = f"{subclass}{REPORTED:%Y%m%d}"
        for group, at, copies, point in (
            (early, REPORTED, early_each, points[2 * i]),
            (later, REPORTED + LATER, per_subclass - early_each, points[2 * i + 1]),
        ):
            clock.set(at)
            group.append(
                Template(_report(platform, subclass, point.x, point.y, patrol), prefix, copies)
            )
    return early, later


def copy_cases(db: psycopg.Connection[Any], group: list[Template]) -> None:
    """Each template row and its events ``copies - 1`` more times (new ids and numbers)."""
    columns = [
        str(c)
        for (c,) in db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'cases' "
            "ORDER BY ordinal_position"
        )
    ]
    kept = sql.SQL(", ").join(sql.Identifier(c) for c in columns if c not in ("id", "number"))
    event_columns = [
        str(c)
        for (c,) in db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'case_events' "
            "ORDER BY ordinal_position"
        )
        if c not in ("id", "case_id")
    ]
    events = sql.SQL(", ").join(sql.Identifier(c) for c in event_columns)
    events_from = sql.SQL(", ").join(sql.Identifier("e", c) for c in event_columns)
    for template in group:
        (first,) = db.execute("SELECT coalesce(max(id), 0) + 1 FROM cases").fetchone() or (1,)
        (last_seq,) = db.execute(
            "SELECT last FROM case_sequences WHERE prefix = %s", (template.prefix,)
        ).fetchone() or (0,)
        n = template.copies - 1
        db.execute(
            sql.SQL(
                "INSERT INTO cases (id, number, {kept}) "
                "SELECT %(first)s::integer + g, %(prefix)s || lpad((%(seq)s::integer + 1 + g)::text, 5, '0'), {kept} "
                "FROM cases, generate_series(0, %(n)s::integer - 1) AS g WHERE cases.id = %(template)s"
            ).format(kept=kept),
            {
                "first": first,
                "prefix": template.prefix,
                "seq": last_seq,
                "n": n,
                "template": template.case_id,
            },
        )
        db.execute(
            sql.SQL(
                "INSERT INTO case_events (case_id, {events}) "
                "SELECT c.id, {events_from} FROM cases AS c "
                "JOIN case_events AS e ON e.case_id = %(template)s "
                "WHERE c.id BETWEEN %(first)s::integer AND %(first)s::integer + %(n)s::integer - 1"
            ).format(events=events, events_from=events_from),
            {"template": template.case_id, "first": first, "n": n},
        )
        db.execute(
            "UPDATE case_sequences SET last = %s WHERE prefix = %s",
            (last_seq + n, template.prefix),
        )
    db.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))")


def moments(db: psycopg.Connection[Any], early: list[Template], later: list[Template]) -> Moments:
    def due_at(group: list[Template]) -> list[datetime]:
        ids = [t.case_id for t in group]
        return [
            d for (d,) in db.execute("SELECT next_due_at FROM cases WHERE id = ANY(%s)", (ids,))
        ]

    early_due, later_due = due_at(early), due_at(later)
    idle = REPORTED + LATER + timedelta(seconds=1)
    due = max(early_due) + timedelta(seconds=1)
    if not (idle < min(early_due) and due < min(later_due)):
        raise RuntimeError(f"templates do not separate: early {early_due}, later {later_due}")
    return Moments(idle, due)


@contextmanager
def restored(db: psycopg.Connection[Any], ids: list[int]) -> Iterator[None]:
    """Put the given cases back as they were, and drop the events and outbox rows a
    pass added, after the block."""
    db.execute("DROP TABLE IF EXISTS bench_backup")
    db.execute("CREATE TABLE bench_backup AS SELECT * FROM cases WHERE id = ANY(%s)", (ids,))
    (events,) = db.execute("SELECT coalesce(max(id), 0) FROM case_events").fetchone() or (0,)
    (outbox,) = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone() or (0,)
    columns = [
        str(c)
        for (c,) in db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'cases' AND column_name <> 'id'"
        )
    ]
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = b.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in columns
    )
    try:
        yield
    finally:
        db.execute(
            sql.SQL("UPDATE cases SET {} FROM bench_backup AS b WHERE cases.id = b.id").format(
                assignments
            )
        )
        db.execute("DELETE FROM case_events WHERE id > %s", (events,))
        db.execute("DELETE FROM outbox WHERE id > %s", (outbox,))


def captured_pass(platform: Platform) -> list[tuple[str, dict[str, Any]]]:
    """The statements one sweep pass sends, with their parameters."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, dict(parameters) if isinstance(parameters, dict) else {}))

    sa.event.listen(platform.engine, "before_cursor_execute", keep)
    try:
        sweep(platform.uow(), platform.cases)
    finally:
        sa.event.remove(platform.engine, "before_cursor_execute", keep)
    return sent


def due_query(sent: list[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    for statement, parameters in sent:
        if statement.lstrip().startswith("SELECT") and "next_due_at" in statement:
            return statement, parameters
    raise RuntimeError(f"no due query among {len(sent)} statements")


def _kinds(sent: list[tuple[str, dict[str, Any]]]) -> str:
    kinds = Counter(" ".join(statement.split()[:3]) for statement, _ in sent)
    return ", ".join(f"{n} × {kind}…" for kind, n in kinds.most_common())


def explain(platform: Platform, statement: str, parameters: dict[str, Any]) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)``, rolled back (the query locks what it finds)."""
    with platform.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        ).all()
        connection.rollback()
    return "\n    ".join(str(r[0]) for r in rows)


def timed_pass(platform: Platform) -> tuple[float, float, int]:
    """Wall and CPU seconds of one pass (this process's CPU), and the cases it looked at."""
    start, cpu = time.perf_counter(), time.process_time()
    result = sweep(platform.uow(), platform.cases)
    return time.perf_counter() - start, time.process_time() - cpu, result.looked_at


def bare_pass(db: psycopg.Connection[Any], now: datetime) -> tuple[float, int]:
    """Wall seconds of the baseline: the due-case selection as plain SQL in a transaction
    of its own (``db`` in autocommit mode, so ``BEGIN`` and ``COMMIT`` are sent as a pass
    sends them), and the cases it found."""
    statuses = sorted(s.value for s in OPEN_STATUSES)
    start = time.perf_counter()
    with db.transaction():
        found = db.execute(BARE_DUE_QUERY, (now, statuses, BATCH)).fetchall()
    return time.perf_counter() - start, len(found)


def prepare(platform: Platform, clock: DrivenClock, database: str) -> Moments:
    """The templates, their copies, fresh planner statistics; the two moments."""
    early, later = templates(platform, clock)
    start = time.perf_counter()
    with psycopg.connect(pg_url(database)) as db:
        copy_cases(db, early + later)
        db.commit()
        db.autocommit = True
        db.execute("VACUUM ANALYZE cases")
        db.execute("VACUUM ANALYZE case_events")
        (total,) = db.execute("SELECT count(*) FROM cases").fetchone() or (0,)
        at = moments(db, early, later)
    if total != CASES:
        raise RuntimeError(f"{total} cases instead of {CASES}")
    print(f"  {total:,} open cases made in {time.perf_counter() - start:.1f} s", flush=True)
    return at


def run(repeats: int = 3) -> list[Figure]:
    idle_passes = max(IDLE_PASSES, repeats)
    due_passes = max(DUE_PASSES, repeats)
    with fresh_database() as database:
        clock = DrivenClock(REPORTED)
        settings = Settings(database_url=sqlalchemy_url(database), mode="development")
        platform = Platform(settings, clock=clock)
        try:
            at = prepare(platform, clock, database)
            clock.set(at.idle)
            idle: list[float] = []
            bare: list[float] = []
            with psycopg.connect(pg_url(database), autocommit=True) as baseline_db:
                bare_pass(baseline_db, at.idle)  # warm-up, as the passes' pool is warm
                for _ in range(idle_passes):
                    seconds, _, looked_at = timed_pass(platform)
                    assert looked_at == 0, looked_at
                    idle.append(seconds * 1000)
                    seconds, found = bare_pass(baseline_db, at.idle)
                    assert found == 0, found
                    bare.append(seconds * 1000)
            ratio = [i / b for i, b in zip(idle, bare, strict=True)]
            sent = captured_pass(platform)
            statement, parameters = due_query(sent)
            print(f"  nothing due: {', '.join(f'{ms:.1f}' for ms in idle)} ms a pass")
            print(
                f"  baseline, the due query as plain SQL through psycopg: "
                f"{', '.join(f'{ms:.2f}' for ms in bare)} ms; pass/baseline "
                f"{', '.join(f'{r:.1f}' for r in ratio)} (median {statistics.median(ratio):.1f})",
                flush=True,
            )
            print(f"  statements in a pass: {_kinds(sent)}")
            print(f"  due query, nothing due:\n    {explain(platform, statement, parameters)}")

            clock.set(at.due)
            moved = {k: at.due if isinstance(v, datetime) else v for k, v in parameters.items()}
            print(f"  due query, {DUE} due:\n    {explain(platform, statement, moved)}")
            due: list[float] = []
            due_cpu: list[float] = []
            with psycopg.connect(pg_url(database), autocommit=True) as db:
                query = "SELECT id FROM cases WHERE next_due_at <= %s"
                ids = [int(i) for (i,) in db.execute(query, (at.due,))]
                assert len(ids) == DUE, len(ids)
                with restored(db, ids):
                    print(f"  statements in a pass: {_kinds(captured_pass(platform))}")
                for _ in range(due_passes):
                    with restored(db, ids):
                        seconds, cpu, looked_at = timed_pass(platform)
                    assert looked_at == DUE, looked_at
                    due.append(seconds * 1000)
                    due_cpu.append(cpu * 1000)
            print(
                f"  {DUE} due: {', '.join(f'{ms:.0f}' for ms in due)} ms a pass "
                f"({statistics.median(due) / DUE:.2f} ms a case, of which "
                f"{statistics.median(due_cpu) / DUE:.2f} ms CPU in this process)",
                flush=True,
            )
        finally:
            platform.engine.dispose()
    label = f"sweep pass, {CASES:,} open cases, PostgreSQL"
    return [
        Figure(
            f"{label}, none due (median of {idle_passes} passes)",
            "ms",
            idle,
            "< 200 ms",
            statistics.median(idle) < 200,
        ),
        Figure(
            f"baseline: the due-case selection as plain SQL through psycopg, {CASES:,} open "
            f"cases, none due (BEGIN, SELECT … FOR UPDATE SKIP LOCKED, COMMIT)",
            "ms",
            bare,
            "— (reference)",
            True,
        ),
        Figure(f"{label}, none due / baseline", "×", ratio, "— (reference)", True),
        Figure(
            f"{label}, {DUE} due (median of {due_passes} passes)",
            "ms",
            due,
            "— (reference)",
            True,
        ),
        Figure(
            f"{label}, {DUE} due: per due case",
            "ms",
            [ms / DUE for ms in due],
            "— (reference)",
            True,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="the SLA sweep over 100,000 open cases")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats)
    print_or_record(figures, args.record)


if __name__ == "__main__":
    main()
