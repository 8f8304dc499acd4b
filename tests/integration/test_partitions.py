"""Monthly partitions of the case events and the audit log on PostgreSQL: made by the
migration and by the worker, events land in their China-time month, a month's query reads
one partition, a case's events are read from the month of its report on, rows waiting in
DEFAULT move into their month, and the migration keeps the rows and ids both ways. On
SQLite the tables stay plain.

The session's database is shared, so each test works in months of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.account_repository import SqlAuditRepository
from chengyun.adapters.db.case_measures import facts_rows
from chengyun.adapters.db.engine import upgrade
from chengyun.adapters.db.partitions import (
    Month,
    coming_months,
    ensure_partitions,
    list_partitions,
    partition_name,
    partition_tables,
)
from chengyun.clock import DrivenClock
from chengyun.domain.audit import GENESIS, record_hash, verify_chain
from chengyun.domain.cases import Action, Channel
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.worker import PartitionUpkeep, run_once
from chengyun.services.accounts import audit, verify_audit
from chengyun.services.cases import act
from chengyun.services.delivery import RecordingSender
from tests.conftest import empty_postgresql
from tests.factories import COMMANDER, OPERATOR, downgrade, patrol_member
from tests.integration.test_clocks_and_escalation import new_case

BEFORE = "20261127_1255"
PARTITIONED = "20261127_1300"


def _postgresql_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("partitions are PostgreSQL's; on SQLite the tables stay plain")


def _where(engine: Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> list[str]:
    """The partition each row is stored in, in id order."""
    with engine.connect() as c:
        return list(
            c.execute(
                sa.select(sa.literal_column("tableoid::regclass::text"))
                .select_from(table)
                .where(*where)
                .order_by(table.c.id)
            ).scalars()
        )


def test_months_are_china_time_months() -> None:
    assert Month.of(datetime(2020, 6, 30, 15, 59, tzinfo=UTC)) == Month(2020, 6)
    assert Month.of(datetime(2020, 6, 30, 16, 0, tzinfo=UTC)) == Month(2020, 7)
    assert Month(2020, 12).next() == Month(2021, 1)
    assert Month(2020, 7).start() == datetime(2020, 6, 30, 16, tzinfo=UTC)
    assert coming_months(datetime(2020, 11, 15, tzinfo=CHINA_TZ), 2) == [
        Month(2020, 11),
        Month(2020, 12),
        Month(2021, 1),
    ]
    assert partition_name("audit_log", Month(2021, 1)) == "audit_log_2021_01"


def test_sqlite_keeps_plain_tables(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the SQLite side")
    assert ensure_partitions(engine, datetime.now(UTC)) == []
    assert list_partitions(engine) == []
    with engine.connect() as c:
        assert partition_tables(c) == set()


def test_upgrade_makes_the_coming_months_and_a_default(engine: Engine) -> None:
    _postgresql_only(engine)
    found = {(p.table, p.name): p.bounds for p in list_partitions(engine)}
    for table in ("case_events", "audit_log"):
        assert found[(table, f"{table}_default")] == "DEFAULT"
        for month in coming_months(datetime.now(UTC)):
            name = partition_name(table, month)
            start, end = month.start().strftime("%Y-%m"), month.next().start().strftime("%Y-%m")
            assert found[(table, name)] == (
                f"FOR VALUES FROM ('{start}-01 00:00:00+08') TO ('{end}-01 00:00:00+08')"
            )


def test_events_and_audit_records_land_in_their_china_time_month(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _postgresql_only(demo.engine)
    reporter = patrol_member(client)
    clock.set(datetime(2020, 6, 30, 23, 50, tzinfo=CHINA_TZ))
    ensure_partitions(demo.engine, clock.now(), months_ahead=1)
    june = new_case(demo, reporter)
    audit(demo.uow(), clock, "tester", "test.june", "")
    clock.set(datetime(2020, 7, 1, 0, 10, tzinfo=CHINA_TZ))  # still June 30th in UTC
    july = new_case(demo, reporter)
    audit(demo.uow(), clock, "tester", "test.july", "")

    events = t.case_events.c
    assert set(_where(demo.engine, t.case_events, events.case_id == june)) == {
        "case_events_2020_06"
    }
    assert set(_where(demo.engine, t.case_events, events.case_id == july)) == {
        "case_events_2020_07"
    }
    assert _where(demo.engine, t.audit_log, t.audit_log.c.action.like("test.%")) == [
        "audit_log_2020_06",
        "audit_log_2020_07",
    ]
    # the chain is read in id order across the partitions
    count, breaks, _ = verify_audit(demo.uow())
    assert count >= 2
    assert breaks == []


def _plan(engine: Engine, table: str, start: datetime, end: datetime) -> str:
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                f"EXPLAIN SELECT * FROM {table}"
                " WHERE at >= CAST(:start AS timestamptz) AND at < CAST(:end AS timestamptz)"
            ),
            {"start": start, "end": end},
        ).scalars()
        return "\n".join(rows)


def test_a_query_for_one_month_reads_one_partition(engine: Engine) -> None:
    _postgresql_only(engine)
    month = Month(2020, 9)
    ensure_partitions(engine, month.start(), months_ahead=1)
    for table in ("case_events", "audit_log"):
        plan = _plan(engine, table, month.start(), month.next().start())
        scanned = set(re.findall(r" on (\w+)", plan))
        assert scanned == {partition_name(table, month)}, plan


def test_ensure_is_idempotent_and_makes_the_next_months(engine: Engine) -> None:
    _postgresql_only(engine)
    now = datetime(2022, 12, 31, 23, 30, tzinfo=CHINA_TZ)
    made = ensure_partitions(engine, now, months_ahead=2)
    assert sorted(made) == sorted(
        partition_name(table, Month(year, month))
        for table in ("case_events", "audit_log")
        for year, month in ((2022, 12), (2023, 1), (2023, 2))
    )
    assert ensure_partitions(engine, now, months_ahead=2) == []
    assert ensure_partitions(engine, now + timedelta(days=31), months_ahead=2) == [
        "case_events_2023_03",
        "audit_log_2023_03",
    ]


def test_two_workers_making_the_same_partitions_at_once(engine: Engine) -> None:
    _postgresql_only(engine)
    now = datetime(2024, 3, 10, tzinfo=CHINA_TZ)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: ensure_partitions(engine, now, 3), range(2)))
    made = results[0] + results[1]
    assert sorted(made) == sorted(
        partition_name(table, Month(2024, m))
        for table in ("case_events", "audit_log")
        for m in (3, 4, 5, 6)
    )


def test_rows_waiting_in_default_move_into_their_month(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _postgresql_only(demo.engine)
    reporter = patrol_member(client)
    clock.set(datetime(2021, 3, 10, 9, 0, tzinfo=CHINA_TZ))  # a month no partition holds
    case_id = new_case(demo, reporter)
    audit(demo.uow(), clock, "tester", "test.default", "")
    events = t.case_events.c
    in_case = events.case_id == case_id
    ours = t.audit_log.c.action == "test.default"
    with demo.engine.connect() as c:
        before = c.execute(sa.select(t.case_events).where(in_case).order_by(events.id)).all()
    assert before
    assert set(_where(demo.engine, t.case_events, in_case)) == {"case_events_default"}
    assert _where(demo.engine, t.audit_log, ours) == ["audit_log_default"]

    # the worker's pass makes the month the rows wait for, and their partitions
    made = run_once(demo, RecordingSender(), PartitionUpkeep()).partitions
    assert {"case_events_2021_03", "audit_log_2021_03"} <= set(made)

    with demo.engine.connect() as c:
        after = c.execute(sa.select(t.case_events).where(in_case).order_by(events.id)).all()
    assert after == before
    assert set(_where(demo.engine, t.case_events, in_case)) == {"case_events_2021_03"}
    assert _where(demo.engine, t.audit_log, ours) == ["audit_log_2021_03"]
    assert verify_audit(demo.uow())[1] == []
    with demo.uow() as uow:  # the case reads back whole
        record = uow.cases.get(case_id)
    assert record is not None
    assert [e.seq for e in record.case.events] == [r.seq for r in before]


def test_the_worker_makes_the_coming_months_as_time_passes(
    demo: Platform, clock: DrivenClock
) -> None:
    _postgresql_only(demo.engine)
    clock.set(datetime(2025, 1, 20, tzinfo=CHINA_TZ))
    upkeep = PartitionUpkeep()
    sender = RecordingSender()
    assert "case_events_2025_04" in run_once(demo, sender, upkeep).partitions
    clock.tick(timedelta(minutes=30))
    assert run_once(demo, sender, upkeep).partitions == ()  # not due yet
    clock.set(datetime(2025, 2, 1, 1, 0, tzinfo=CHINA_TZ))
    assert run_once(demo, sender, upkeep).partitions == ("case_events_2025_05", "audit_log_2025_05")


def test_cli_lists_the_partitions_with_their_rows(
    db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["db", "partitions", "--ensure"])
    assert result.exit_code == 0, result.output
    if db.dialect.name == "sqlite":
        assert "SQLite" in result.output
        return
    assert "case_events_default" in result.output
    assert "audit_log_default" in result.output
    name = partition_name("case_events", Month.of(datetime.now(UTC)))
    assert name in result.output
    assert "行 rows" in result.output


def _scanned(engine: Engine, statement: str, parameters: object) -> set[str]:
    """The ``case_events`` partitions ``statement`` reads (run under EXPLAIN ANALYZE): a
    partition pruned when planned is not in the plan, one pruned while running is in it
    but never executed."""

    def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", ()):
            yield from walk(child)

    with engine.connect() as c:
        plan = c.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)
        root = plan.scalar_one()[0]["Plan"]
    return {
        node["Relation Name"]
        for node in walk(root)
        if node.get("Relation Name", "").startswith("case_events_") and node["Actual Loops"]
    }


def test_a_case_is_read_from_the_month_of_its_report_on(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    """``case_id`` is not the partitions' key: loading a case (an action, its page) reads
    its events from the month of its report on, not every month kept."""
    _postgresql_only(demo.engine)
    reporter = patrol_member(client)
    clock.set(datetime(2019, 1, 5, 9, 0, tzinfo=CHINA_TZ))
    ensure_partitions(demo.engine, clock.now(), months_ahead=5)
    clock.set(datetime(2019, 4, 10, 9, 0, tzinfo=CHINA_TZ))
    case_id = new_case(demo, reporter)
    clock.set(datetime(2019, 5, 6, 9, 0, tzinfo=CHINA_TZ))
    act(demo.uow(), demo.cases, case_id, Action.HOLD, COMMANDER, {"reason": "季节性 / seasonal"})

    sent: list[tuple[str, object]] = []

    def seen(_c: object, _k: object, statement: str, parameters: object, *_: object) -> None:
        if "case_events" in statement:
            sent.append((statement, parameters))

    sa.event.listen(demo.engine, "before_cursor_execute", seen)
    try:
        with demo.uow() as uow:
            loaded = uow.cases.get(case_id)
            page = uow.cases.get_for_page(case_id)
    finally:
        sa.event.remove(demo.engine, "before_cursor_execute", seen)
    assert loaded is not None and page is not None
    for case in (loaded.case, page[0].case):
        assert [(e.seq, e.action) for e in case.events][-1] == (case.version, Action.HOLD)
        assert [e.seq for e in case.events] == list(range(1, case.version + 1))
    assert len(sent) == 2  # the load's events, the page's statement
    earlier = {partition_name("case_events", Month(2019, m)) for m in (1, 2, 3)}
    for statement, parameters in sent:
        scanned = _scanned(demo.engine, statement, parameters)
        assert {"case_events_2019_04", "case_events_2019_05"} <= scanned, statement
        assert not scanned & earlier, (statement, scanned)


def test_the_measures_rebuild_reads_a_reject_reason_from_the_month_of_the_report_on(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    """Rebuilding the measure profiles reads each rejected case's reason from its events
    from the month of its report on, and reads no events for the other cases."""
    _postgresql_only(demo.engine)
    reporter = patrol_member(client)
    clock.set(datetime(2018, 1, 5, 9, 0, tzinfo=CHINA_TZ))
    ensure_partitions(demo.engine, clock.now(), months_ahead=5)
    clock.set(datetime(2018, 4, 10, 9, 0, tzinfo=CHINA_TZ))
    rejected = new_case(demo, reporter, channel=Channel.CITIZEN_QR)
    registered = new_case(demo, reporter)
    clock.set(datetime(2018, 5, 6, 9, 0, tzinfo=CHINA_TZ))
    reason = {"reason": "照片与描述不符 / not real", "reason_kind": "invalid"}
    act(demo.uow(), demo.cases, rejected, Action.REJECT, OPERATOR, reason)

    earlier = {partition_name("case_events", Month(2018, m)) for m in (1, 2, 3)}
    sent: list[tuple[str, object]] = []

    def seen(_c: object, _k: object, statement: str, parameters: object, *_: object) -> None:
        sent.append((statement, parameters))

    for case_id, expected in ((rejected, "invalid"), (registered, None)):
        sent.clear()
        sa.event.listen(demo.engine, "before_cursor_execute", seen)
        try:
            with demo.engine.connect() as connection:
                (facts,) = facts_rows(connection, t.cases.c.id == case_id)
        finally:
            sa.event.remove(demo.engine, "before_cursor_execute", seen)
        assert facts.reject_reason == expected
        ((statement, parameters),) = sent
        scanned = _scanned(demo.engine, statement, parameters)
        if expected is None:
            assert scanned == set(), scanned
        else:
            assert "case_events_2018_05" in scanned and not scanned & earlier, scanned


def test_a_case_with_an_event_before_its_report_still_reads_whole(
    client: TestClient, demo: Platform
) -> None:
    """The domain never records an event before its case's report; should a database hold
    one anyway (its case's report time moved by hand), the load notices the missing event
    by the case's version and reads them all."""
    case_id = new_case(demo, patrol_member(client))
    with demo.engine.begin() as c:
        reported = c.execute(
            sa.select(t.cases.c.reported_at).where(t.cases.c.id == case_id)
        ).scalar_one()
        later = t.cases.update().where(t.cases.c.id == case_id)
        c.execute(later.values(reported_at=reported + timedelta(days=40)))
    with demo.uow() as uow:
        loaded = uow.cases.get(case_id)
        page = uow.cases.get_for_page(case_id)
    assert loaded is not None and page is not None
    for case in (loaded.case, page[0].case):
        assert case.version >= 1
        assert [e.seq for e in case.events] == list(range(1, case.version + 1))
        assert case.events[0].action in (Action.REPORT, Action.SELF_HANDLE)


# --- the migration itself, on a database of its own ------------------------------------------


@pytest.fixture
def scratch(engine: Engine) -> Iterator[Engine]:
    """An empty PostgreSQL database beside the session's one."""
    _postgresql_only(engine)
    with empty_postgresql() as database:
        yield database


def _is_partitioned(engine: Engine, table: str) -> bool:
    with engine.connect() as c:
        kind = c.execute(
            sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        ).scalar_one()
    return bool(kind == "p")


EVENT = sa.text(
    "INSERT INTO case_events (case_id, seq, action, actor, at, to_status, photos, data)"
    " VALUES (:case, :seq, 'report', 'tester', :at, 'registered', '[]', '{}') RETURNING id"
)


def test_upgrade_keeps_the_rows_ids_continue_and_downgrade_restores(scratch: Engine) -> None:
    upgrade(scratch, BEFORE)
    moments = [
        datetime(2019, 2, 28, 23, 59, tzinfo=CHINA_TZ),
        datetime(2019, 3, 1, 0, 0, tzinfo=CHINA_TZ),
        datetime(2025, 8, 8, 8, 8, tzinfo=CHINA_TZ),
    ]
    with scratch.begin() as c:
        case_id = c.execute(
            sa.text(
                "INSERT INTO cases (number, kind, subclass, channel, urgency, status,"
                " reported_at, area_codes, escalation_level, updated_at, version, state)"
                " VALUES ('T1', 'event', 'E0102', 'patrol', 'normal', 'registered',"
                " :at, '[]', 'none', :at, 3, '{}') RETURNING id"
            ),
            {"at": moments[0]},
        ).scalar_one()
        prev = GENESIS  # the chain as the code of then appended it (no head row yet)
        for seq, at in enumerate(moments, 1):
            c.execute(EVENT, {"case": case_id, "seq": seq, "at": at})
            record = (at, "tester", f"test.{seq}", "", {"seq": seq})
            digest = record_hash(prev, *record)
            c.execute(
                t.audit_log.insert().values(
                    **dict(
                        zip(("at", "actor", "action", "target", "details"), record, strict=True)
                    ),
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest

    def rows(table: sa.Table) -> list[sa.Row]:
        with scratch.connect() as c:
            return list(c.execute(sa.text(f"SELECT * FROM {table.name} ORDER BY id")))

    events, records = rows(t.case_events), rows(t.audit_log)

    upgrade(scratch)  # through the partitioning to today's schema, which the appends below use
    assert _is_partitioned(scratch, "case_events") and _is_partitioned(scratch, "audit_log")
    with scratch.connect() as c:  # the chain's head starts from the log's last record
        head = c.execute(sa.select(t.audit_head.c.id, t.audit_head.c.hash)).one()
    assert tuple(head) == (records[-1].id, records[-1].hash)
    assert rows(t.case_events) == events
    assert rows(t.audit_log) == records
    assert _where(scratch, t.case_events) == [
        "case_events_2019_02",
        "case_events_2019_03",
        "case_events_2025_08",
    ]
    assert _where(scratch, t.audit_log) == [
        "audit_log_2019_02",
        "audit_log_2019_03",
        "audit_log_2025_08",
    ]
    with scratch.begin() as c:
        assert c.execute(EVENT, {"case": case_id, "seq": 4, "at": moments[2]}).scalar() == 4
        repository = SqlAuditRepository(c)
        repository.append(moments[2], "tester", "test.4", "", {})
        chain = list(repository.records())
    assert [r.id for r in chain] == [1, 2, 3, 4]
    assert verify_chain(chain) == []
    with scratch.connect() as c, pytest.raises(sa.exc.IntegrityError):  # the case's foreign key
        c.execute(EVENT, {"case": case_id + 99, "seq": 1, "at": moments[2]})

    events, records = rows(t.case_events), rows(t.audit_log)
    downgrade(scratch, BEFORE)
    assert not _is_partitioned(scratch, "case_events")
    assert not _is_partitioned(scratch, "audit_log")
    with scratch.connect() as c:
        assert partition_tables(c) == set()
    assert rows(t.case_events) == events
    assert rows(t.audit_log) == records
    with scratch.begin() as c:  # (id 5 went to the refused insert above)
        assert c.execute(EVENT, {"case": case_id, "seq": 5, "at": moments[2]}).scalar() == 6
    with scratch.connect() as c, pytest.raises(sa.exc.IntegrityError):  # (case_id, seq) unique
        c.execute(EVENT, {"case": case_id, "seq": 5, "at": moments[0]})

    events = rows(t.case_events)
    upgrade(scratch, PARTITIONED)
    assert _is_partitioned(scratch, "case_events")
    assert rows(t.case_events) == events
    with scratch.begin() as c:
        assert c.execute(EVENT, {"case": case_id, "seq": 6, "at": moments[1]}).scalar() == 8
