"""Group commit (成组提交): reports waiting together are written in one transaction, each
exactly as it would have been written alone; a batch that fails is undone and its
reports taken one by one, so each gets its own answer; over HTTP, concurrent reports
(the QR-code citizen's record included) all land once, on one unbroken audit chain."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.account_repository import AUDIT_CHAIN_LOCK
from chengyun.clock import DrivenClock
from chengyun.domain.cases import CaseStatus, Channel
from chengyun.domain.errors import Conflict, InvalidInput
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import AuditEntry, verify_audit
from chengyun.services.cases import (
    Report,
    ReportCommand,
    report_case,
    report_cases,
)
from chengyun.services.group_commit import GroupCommit
from chengyun.services.points import citizen_in
from chengyun.services.unit_of_work import UnitOfWork
from tests.factories import CENTRE, GATEWAY, report, statements_sent, write_commits

SUBCLASSES = ("E0102", "E0504", "C0301", "E0101")


def _report(i: int, key: str | None = None, **changes: object) -> Report:
    command = ReportCommand(
        channel=Channel.PATROL if i % 2 else Channel.HOTLINE,
        subclass=SUBCLASSES[i % len(SUBCLASSES)],
        lng=CENTRE[0] + 0.0004 * i,
        lat=CENTRE[1] + 0.0003 * i,
        description=f"第 {i} 份上报 / report {i}",
    )
    command = replace(command, **changes)  # type: ignore[arg-type]
    audit = AuditEntry("gateway", "POST /api/v1/cases", "/api/v1/cases", {"i": i})
    return Report(command, key or f"batch-{i}", f"hash-{i}", audit)


def _count(platform: Platform, table: sa.Table) -> int:
    with platform.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_batch_is_one_transaction_and_each_case_is_as_if_reported_alone(
    demo: Platform,
) -> None:
    before = _count(demo, t.audit_log)
    commits = write_commits(demo.engine)
    taken = report_cases(demo.uow(), demo.cases, [_report(i) for i in range(6)])
    assert len(commits) == 1
    assert all(r.created for r in taken)
    ids = [r.record.id for r in taken]
    assert len({r.record.case.number for r in taken}) == 6 and ids == sorted(ids)
    assert {r.record.case.status for r in taken} == {CaseStatus.DISPATCHED}
    assert all(r.assignee is not None and r.taxonomy is not None for r in taken)

    count, breaks, _ = verify_audit(demo.uow())
    assert (count, breaks) == (before + 6, [])
    # each key was stored with its case: sending one again answers with that case
    again = report_case(demo.uow(), demo.cases, *_args(_report(3)))
    assert not again.created and again.record.id == taken[3].record.id
    assert _count(demo, t.cases) == 6


def _args(r: Report) -> tuple:
    return (r.command, r.idempotency_key, r.body_hash, r.audit, r.with_case)


def test_a_batch_numbers_its_cases_at_the_end_gapless_in_id_order(demo: Platform) -> None:
    alone = report_case(demo.uow(), demo.cases, *_args(_report(0, key="alone")))
    same_place = {"lng": CENTRE[0] + 0.002, "lat": CENTRE[1] + 0.002}
    reports = [_report(i) for i in range(1, 9)] + [
        _report(20, subclass="E0102", **same_place),
        _report(21, subclass="E0102", **same_place),  # a possible duplicate of the one before
    ]
    with statements_sent(demo.engine) as sent:
        taken = report_cases(demo.uow(), demo.cases, reports)
    if demo.engine.dialect.name == "postgresql":
        # the rows held back were written with their numbers, the duplicate's offer too:
        # nothing written and then updated
        assert not [s for s in sent if s.startswith("UPDATE cases")]

    with demo.engine.connect() as connection:
        stored = dict(connection.execute(sa.select(t.cases.c.id, t.cases.c.number)).all())
        payloads = connection.execute(sa.select(t.outbox.c.case_id, t.outbox.c.payload)).all()
    assert not any(n.startswith("~") for n in stored.values())
    assert {r.record.id: r.record.case.number for r in taken}.items() <= stored.items()
    by_prefix: dict[str, list[tuple[int, int]]] = {}
    for case_id, number in stored.items():
        by_prefix.setdefault(number[:-5], []).append((case_id, int(number[-5:])))
    for prefix, numbered in by_prefix.items():
        numbered.sort()
        assert [n for _, n in numbered] == list(range(1, len(numbered) + 1)), prefix
    assert stored[alone.record.id].endswith("00001")  # the batch went on from it
    for case_id, payload in payloads:
        assert payload["number"] == stored[case_id]
    assert len(payloads) >= len(taken)
    with demo.uow() as uow:
        again = uow.cases.get(taken[-1].record.id)
    assert again is not None and again.case.number == stored[again.id]
    duplicates = again.extra["possible_duplicates"]
    assert duplicates == [{"id": taken[-2].record.id, "number": stored[taken[-2].record.id]}]
    assert taken[-1].record.extra["possible_duplicates"] == duplicates


def test_a_video_alert_joining_a_case_of_its_batch_is_taken_after_the_batch_in_its_transaction(
    demo: Platform,
) -> None:
    place = {"lng": CENTRE[0] + 0.003, "lat": CENTRE[1] + 0.001}
    first = _report(30, subclass="E0102", **place)
    alert = _report(31, subclass="E0102", channel=Channel.VIDEO_AI, **place)
    after = _report(32)
    before = _count(demo, t.audit_log)
    commits = write_commits(demo.engine)
    reported, merged, other = report_cases(demo.uow(), demo.cases, [first, alert, after])
    assert len(commits) == 1
    assert reported.created and merged.created and other.created
    assert merged.record.case.merged_into == reported.record.id  # as if reported alone
    assert merged.record.case.status is CaseStatus.MERGED
    # taken last: its id and number after the others' (gapless, in id order)
    assert merged.record.id > other.record.id > reported.record.id
    with demo.uow() as uow:
        joined = uow.cases.get(reported.record.id)
    assert joined is not None
    assert [d["number"] for d in joined.case.duplicates] == [merged.record.case.number]
    with demo.engine.connect() as connection:
        numbers = set(connection.execute(sa.select(t.cases.c.number)).scalars())
    assert numbers == {r.record.case.number for r in (reported, merged, other)}
    assert not any(n.startswith("~") for n in numbers)
    count, breaks, _ = verify_audit(demo.uow())
    assert (count, breaks) == (before + 3, [])


def test_video_alerts_joining_stored_cases_lock_them_first_and_join_them_with_the_batch(
    demo: Platform,
) -> None:
    place = {"lng": CENTRE[0] + 0.002, "lat": CENTRE[1] - 0.002}
    stored = report_case(demo.uow(), demo.cases, *_args(_report(50, key="stored", **place)))
    subclass = stored.record.case.subclass
    batch = [
        _report(51),
        _report(52, channel=Channel.VIDEO_AI, subclass=subclass, **place),
        _report(53),
        _report(54, channel=Channel.VIDEO_AI, subclass=subclass, **place),
        _report(55, channel=Channel.VIDEO_AI),  # nothing near it: taken with the batch
    ]
    committer = GroupCommit(demo.uow, demo.cases)
    with statements_sent(demo.engine) as sent:
        taken = [f.result(timeout=60) for f in committer.submit_all(batch)]
    assert all(r.created for r in taken)
    merged = [taken[1].record.case.merged_into, taken[3].record.case.merged_into]
    assert merged == [stored.record.id] * 2  # as if reported alone
    assert taken[4].record.case.merged_into is None
    # one transaction for all five; nothing undone or redone
    assert (committer.stats.batches_undone, committer.stats.transactions) == (0, 1)
    with demo.engine.connect() as connection:
        numbers = set(connection.execute(sa.select(t.cases.c.number)).scalars())
    assert numbers == {stored.record.case.number, *(r.record.case.number for r in taken)}
    if demo.engine.dialect.name == "postgresql":
        # the stored case's row is locked before the audit chain, as an action takes them
        lock = next(i for i, s in enumerate(sent) if s.startswith("SELECT id FROM cases"))
        chain = next(i for i, s in enumerate(sent) if "pg_advisory_xact_lock" in s)
        assert lock < chain


def test_alerts_joining_earlier_cases_are_taken_together_after_the_batch(
    demo: Platform,
) -> None:
    place = {"lng": CENTRE[0] - 0.002, "lat": CENTRE[1] + 0.002}
    stored = report_case(demo.uow(), demo.cases, *_args(_report(60, key="stored", **place)))
    subclass = stored.record.case.subclass
    other = {"lng": CENTRE[0] + 0.003, "lat": CENTRE[1] - 0.003}
    alerts = [
        _report(61 + i, channel=Channel.VIDEO_AI, subclass=subclass, **place) for i in range(3)
    ]
    batch = [
        _report(70, subclass="E0102", **other),
        *alerts,
        _report(71, subclass="E0102", channel=Channel.VIDEO_AI, **other),  # joins the 70th
    ]
    before = _count(demo, t.audit_log)
    with statements_sent(demo.engine) as sent:
        taken = report_cases(demo.uow(), demo.cases, batch)
    # each as if reported alone: the three join the stored case, the last the batch's own
    assert [r.record.case.merged_into for r in taken[1:4]] == [stored.record.id] * 3
    assert taken[4].record.case.merged_into == taken[0].record.id
    with demo.uow() as uow:
        joined = uow.cases.get(stored.record.id)
        own = uow.cases.get(taken[0].record.id)
        merged = [uow.cases.get(r.record.id) for r in taken[1:]]
    assert joined is not None and own is not None
    assert [d["number"] for d in joined.case.duplicates] == [
        r.record.case.number for r in taken[1:4]
    ]
    assert [d["number"] for d in own.case.duplicates] == [taken[4].record.case.number]
    assert all(m is not None and m.case.status is CaseStatus.MERGED for m in merged)
    # numbered after the batch's own, gapless, in id order
    numbers = [r.record.case.number for r in taken[1:4]]
    first = int(numbers[0][-5:])
    assert [int(n[-5:]) for n in numbers] == [first, first + 1, first + 2]
    assert sorted(r.record.id for r in taken[1:4]) == [r.record.id for r in taken[1:4]]
    if demo.engine.dialect.name == "postgresql":
        # the tail's numbers taken in one go (the batch's, then the tail's), its rows held
        # back and copied a table at a time: no statement of its own for any alert's row
        sequences = [s for s in sent if s.startswith("INSERT INTO case_sequences")]
        assert len(sequences) == 2
        written = ("INSERT INTO cases", "INSERT INTO idempotency_keys", "INSERT INTO case_events")
        assert not [s for s in sent if s.startswith(written)]
    count, breaks, _ = verify_audit(demo.uow())
    assert (count, breaks) == (before + len(batch), [])


def test_a_tail_whose_day_turns_meanwhile_is_undone_and_taken_alone(
    demo: Platform, clock: DrivenClock
) -> None:
    clock.set(datetime(2020, 6, 24, 23, 59, 59, tzinfo=CHINA_TZ))
    place = {"lng": CENTRE[0] - 0.003, "lat": CENTRE[1] - 0.001}
    stored = report_case(demo.uow(), demo.cases, *_args(_report(80, key="stored", **place)))
    subclass = stored.record.case.subclass

    def midnight(uow: UnitOfWork, command: ReportCommand) -> ReportCommand:
        clock.tick(timedelta(seconds=2))  # the tail took its numbers on the 24th
        return command

    alert = replace(
        _report(81, channel=Channel.VIDEO_AI, subclass=subclass, **place), with_case=midnight
    )
    committer = GroupCommit(demo.uow, demo.cases)
    (taken,) = [f.result(timeout=60) for f in committer.submit_all([alert])]
    assert committer.stats.batches_undone == 1
    assert taken.created and taken.record.case.merged_into == stored.record.id
    assert taken.record.case.number == f"{subclass}2020062500001"  # the 24th's left unused
    with demo.engine.connect() as connection:
        numbers = set(connection.execute(sa.select(t.cases.c.number)).scalars())
    assert numbers == {stored.record.case.number, taken.record.case.number}


@pytest.mark.parametrize("taken", ["in a batch", "alone"])
def test_an_alert_joining_a_stored_case_waits_for_its_row_before_taking_the_audit_chain(
    demo: Platform, taken: str
) -> None:
    """An action locks its case's row, then appends to the audit chain: an alert joining
    that case must take them in the same order, or each would wait for the other."""
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("row locks and the chain's lock are PostgreSQL's")
    place = {"lng": CENTRE[0] - 0.002, "lat": CENTRE[1] + 0.002}
    stored = report_case(demo.uow(), demo.cases, *_args(_report(60, key="stored", **place)))
    alert = _report(61, channel=Channel.VIDEO_AI, subclass=stored.record.case.subclass, **place)
    answers: list[Any] = []

    def report_it() -> None:
        try:
            if taken == "alone":
                answers.append(report_case(demo.uow(), demo.cases, *_args(alert)))
            else:
                answers.append(report_cases(demo.uow(), demo.cases, [_report(62), alert])[-1])
        except BaseException as error:  # the test's thread reports it
            answers.append(error)

    reporting = threading.Thread(target=report_it)
    with demo.engine.connect() as action:  # as ``act`` takes them: the case, then the chain
        action.execute(
            sa.select(t.cases.c.id).where(t.cases.c.id == stored.record.id).with_for_update()
        )
        reporting.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_a_row(action) and reporting.is_alive():
            assert time.monotonic() < deadline, "the report never waited for the case's row"
            time.sleep(0.01)
        # the report waits for the row without holding the chain
        chain = sa.text(f"SELECT pg_try_advisory_xact_lock({AUDIT_CHAIN_LOCK})")
        assert action.execute(chain).scalar()
        action.commit()
    reporting.join(60)
    [answer] = answers
    assert not isinstance(answer, BaseException), answer
    assert answer.record.case.merged_into == stored.record.id


def _waiting_for_a_row(connection: sa.Connection) -> bool:
    """Whether another session of this database waits for a lock (a row's, here)."""
    # a transaction sees the sessions as it first read them unless told to read again
    connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return bool(connection.execute(query).scalar())


def test_a_batch_writes_all_but_its_case_rows_before_its_turn_on_the_audit_chain(
    demo: Platform,
) -> None:
    """While another batch holds the chain, a batch has written its events, measure
    profiles and keys, and waits with only its case rows (which carry the numbers taken in
    that turn) left to write; its references to those cases are checked as it commits."""
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("the chain's lock and the deferred references are PostgreSQL's")
    answers: list[Any] = []

    def report_them() -> None:
        try:
            answers.append(report_cases(demo.uow(), demo.cases, [_report(i) for i in range(3)]))
        except BaseException as error:  # the test's thread reports it
            answers.append(error)

    reporting = threading.Thread(target=report_them)
    with demo.engine.connect() as other:  # another batch's turn
        other.execute(sa.text(f"SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK})"))
        reporting.start()
        deadline = time.monotonic() + 30
        while not _waiting_for_a_row(other) and reporting.is_alive():
            assert time.monotonic() < deadline, "the batch never waited for the chain"
            time.sleep(0.01)
        written = set(
            other.execute(
                sa.text(
                    "SELECT DISTINCT c.relname FROM pg_locks l "
                    "JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE a.wait_event_type = 'Lock' "
                    "AND a.datname = current_database() AND l.mode = 'RowExclusiveLock'"
                )
            ).scalars()
        )
        assert {"case_events", "case_measures", "idempotency_keys"} <= written
        assert "cases" not in written
        other.commit()
    reporting.join(60)
    [answer] = answers
    assert not isinstance(answer, BaseException), answer
    with demo.engine.connect() as connection:
        stored = connection.execute(
            sa.select(sa.func.count())
            .select_from(t.case_events)
            .where(t.case_events.c.case_id.in_([r.record.id for r in answer]))
        ).scalar_one()
    assert stored == sum(len(r.record.case.events) for r in answer)


def test_a_reference_written_ahead_is_still_checked_at_the_commit(demo: Platform) -> None:
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL's batches write ahead")
    with demo.uow() as uow:
        uow.cases.hold_back()
        uow.cases.remember_idempotency("no-such-case", "hash", 999_999, demo.clock.now())
        uow.cases.write_ahead()  # written (no error yet); its case is not, and never will be
        with pytest.raises(sa.exc.IntegrityError, match="fk_idempotency_keys_case_id_cases"):
            uow.commit()
    assert _count(demo, t.idempotency_keys) == 0


def test_the_audit_chain_s_head_is_one_row_kept_by_the_log_s_trigger(demo: Platform) -> None:
    """An append reads the chain's last hash from ``audit_head``, not by walking every
    month of the partitioned log; the row follows a batch's COPY and a single append, and
    deleting records clears it, so that the next append looks in the log itself."""
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("the head's trigger is PostgreSQL's")

    def head() -> tuple[int, str] | None:
        with demo.engine.connect() as connection:
            row = connection.execute(sa.select(t.audit_head.c.id, t.audit_head.c.hash)).first()
            last = connection.execute(
                sa.select(t.audit_log.c.id, t.audit_log.c.hash).order_by(t.audit_log.c.id.desc())
            ).first()
        assert row is None or (last is not None and tuple(row) == tuple(last))
        return None if row is None else (row.id, row.hash)

    with statements_sent(demo.engine) as sent:
        report_cases(demo.uow(), demo.cases, [_report(i) for i in range(4)])
        report_case(demo.uow(), demo.cases, *_args(_report(9, key="alone")))
    assert not [s for s in sent if "FROM audit_log" in s]  # the log itself is not read
    assert [s for s in sent if "FROM audit_head" in s]
    assert head() is not None
    with demo.engine.begin() as connection:  # (nothing in the platform deletes records)
        connection.execute(t.audit_log.delete())
    assert head() is None
    report_case(demo.uow(), demo.cases, *_args(_report(10, key="after")))
    assert head() is not None
    count, breaks, _ = verify_audit(demo.uow())
    assert (count, breaks) == (1, [])  # a new chain, from its genesis


def test_a_batch_asks_ahead_for_the_cases_near_its_reports_and_the_counts_of_their_staff(
    demo: Platform,
) -> None:
    place = {"lng": CENTRE[0] + 0.001, "lat": CENTRE[1] - 0.001}
    earlier = report_case(
        demo.uow(), demo.cases, *_args(_report(40, key="earlier", subclass="E0102", **place))
    ).record
    a_minute_ago = demo.clock.now() - timedelta(minutes=1)
    reports = [
        _report(41, subclass="E0102", **place),
        _report(42, subclass="E0504", **place),  # another subclass
        _report(43, subclass="E0102", observed_at=a_minute_ago, **place),  # before `earlier`
        _report(44, subclass="E0102", **place),
        _report(45, subclass="E0102", lng=CENTRE[0] + 0.01, lat=CENTRE[1]),  # far away
    ]
    with statements_sent(demo.engine) as sent:
        taken = [r.record for r in report_cases(demo.uow(), demo.cases, reports)]

    def offered(i: int) -> list[int]:
        return [d["id"] for d in taken[i].extra.get("possible_duplicates", [])]

    # oldest first, the batch's own cases among them (equal times by id)
    assert [offered(i) for i in range(5)] == [
        [earlier.id],
        [],
        [],
        [taken[2].id, earlier.id, taken[0].id],
        [],
    ]
    nearby_queries = [s for s in sent if "lng BETWEEN" in s]
    assert len(nearby_queries) == (1 if demo.engine.dialect.name == "postgresql" else 5)
    # and everyone they may go to is counted once, ahead of them
    assert sum(r.case.status is CaseStatus.DISPATCHED for r in taken) >= 3
    counting = (
        "GROUP BY assignee_counts.assignee"
        if demo.engine.dialect.name == "postgresql"
        else "GROUP BY cases.assignee"
    )
    assert len([s for s in sent if counting in s]) == 1


def test_a_batch_with_one_refused_report_writes_nothing(demo: Platform) -> None:
    def with_citizen(uow: UnitOfWork, command: ReportCommand) -> ReportCommand:
        found = citizen_in(uow, demo.clock, "13912345678", "张三")
        return replace(command, extra={**command.extra, "citizen_id": found.id})

    before = _count(demo, t.audit_log)
    reports = [
        replace(_report(0), with_case=with_citizen),
        _report(1),
        _report(2, subclass="Z9999"),  # no such subclass
    ]
    with pytest.raises(InvalidInput):
        report_cases(demo.uow(), demo.cases, reports)
    assert _count(demo, t.audit_log) == before
    for table in (t.cases, t.idempotency_keys, t.citizens, t.case_events):
        assert _count(demo, table) == 0, table.name


def test_waiting_reports_are_taken_together_and_a_failed_batch_answers_each_alone(
    demo: Platform,
) -> None:
    before = _count(demo, t.audit_log)
    first = report_case(demo.uow(), demo.cases, *_args(_report(0, key="seen")))
    committer = GroupCommit(demo.uow, demo.cases)

    clean = committer.submit_all([_report(i) for i in range(1, 6)])
    assert all(f.result(timeout=60).created for f in clean)
    assert committer.stats.transactions == 1 and committer.stats.largest_batch == 5

    mixed = committer.submit_all(
        [
            _report(10),
            _report(11, subclass="Z9999"),  # refused
            _report(0, key="seen"),  # a repeat: the stored case
            replace(_report(0, key="seen"), body_hash="other"),  # the key, reused
            _report(12),
        ]
    )
    assert mixed[0].result(timeout=60).created
    with pytest.raises(InvalidInput):
        mixed[1].result(timeout=60)
    repeat = mixed[2].result(timeout=60)
    assert not repeat.created and repeat.record.id == first.record.id
    with pytest.raises(Conflict):
        mixed[3].result(timeout=60)
    assert mixed[4].result(timeout=60).created
    assert committer.stats.batches_undone == 1

    assert _count(demo, t.cases) == 1 + 5 + 2
    count, breaks, _ = verify_audit(demo.uow())
    assert (count, breaks) == (before + 8, [])


def test_a_batch_never_exceeds_its_size(demo: Platform) -> None:
    committer = GroupCommit(demo.uow, demo.cases, max_batch=3)
    futures = committer.submit_all([_report(i) for i in range(7)])
    assert all(f.result(timeout=60).created for f in futures)
    assert committer.stats.largest_batch == 3 and committer.stats.transactions == 3
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommit(demo.uow, demo.cases, max_batch=0)


def test_while_reports_come_together_the_thread_lingers_for_a_fuller_batch(
    demo: Platform,
) -> None:
    # a long linger, so that nothing here depends on the machine's speed: the thread takes
    # its batch as soon as max_batch reports wait
    committer = GroupCommit(demo.uow, demo.cases, max_batch=4, linger_s=60)
    first = committer.submit(_report(0))  # after a quiet spell: taken at once, alone
    assert first.result(timeout=30).created and committer.stats.lingered == 0
    pair = committer.submit_all([_report(1), _report(2)])  # after a batch of one: at once
    assert all(f.result(timeout=30).created for f in pair)
    assert committer.stats.lingered == 0

    one = committer.submit(_report(3))  # after a batch of two: the thread waits for more
    deadline = time.monotonic() + 30
    while not committer.stats.lingered:
        assert time.monotonic() < deadline and not one.done(), "the thread did not linger"
        time.sleep(0.01)
    rest = committer.submit_all([_report(i) for i in range(4, 7)])  # max_batch: taken now
    assert all(f.result(timeout=30).created for f in [one, *rest])
    assert committer.stats.lingered == 1
    assert (committer.stats.transactions, committer.stats.largest_batch) == (3, 4)
    with pytest.raises(ValueError, match="linger_s"):
        GroupCommit(demo.uow, demo.cases, linger_s=-1)


def test_a_linger_ends_once_as_many_wait_as_the_last_batches_held(demo: Platform) -> None:
    # a linger of a minute, far short of max_batch: only the expected count ends it (and
    # the thread stays between the batches, however slow the machine)
    committer = GroupCommit(demo.uow, demo.cases, max_batch=8, linger_s=60, idle_s=60)
    three = committer.submit_all([_report(i) for i in range(3)])  # taken at once, together
    assert all(f.result(timeout=30).created for f in three)
    assert (committer.stats.transactions, committer.stats.lingered) == (1, 0)
    # the three senders come back one after the other: the thread waits for the three
    again = [committer.submit(_report(i)) for i in range(3, 6)]
    assert all(f.result(timeout=30).created for f in again)  # not after the minute
    assert (committer.stats.transactions, committer.stats.largest_batch) == (2, 3)
    assert committer.stats.lingered == 1


def _post_all(demo: Platform, path: str, requests: list[dict[str, Any]]) -> list[httpx2.Response]:
    """POST each of ``requests`` (httpx's keyword arguments) to ``path`` at once, through
    the app in this process."""

    async def send_all() -> list[httpx2.Response]:
        transport = httpx2.ASGITransport(app=create_app(platform=demo))
        async with httpx2.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(http.post(path, **r) for r in requests))

    return asyncio.run(send_all())


def test_concurrent_reports_over_http_all_land_once_on_one_audit_chain(
    demo: Platform, client: object
) -> None:
    headers = dict(client.headers_for(GATEWAY))  # type: ignore[attr-defined]
    bodies = [
        report(
            channel="citizen_qr",
            citizen={"phone": "13800001111", "nickname": "李四"},
            position={"lng": CENTRE[0] + 0.0002 * i, "lat": CENTRE[1], "crs": "wgs84"},
        )
        if i % 4 == 0
        else report(subclass=SUBCLASSES[i % 4], description=f"并发上报 {i} / concurrent {i}")
        for i in range(24)
    ]

    answers = _post_all(
        demo,
        "/api/v1/cases",
        [
            {"json": body, "headers": {**headers, "Idempotency-Key": f"http-{i}"}}
            for i, body in enumerate(bodies)
        ],
    )
    assert [a.status_code for a in answers] == [201] * 24, [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 24 and _count(demo, t.cases) == 24
    assert _count(demo, t.citizens) == 1  # the same phone, one citizen
    count, breaks, _ = verify_audit(demo.uow())
    assert breaks == [] and count >= 24
    assert demo.group_commit.stats.reports == 24


def test_concurrent_open311_requests_write_their_records_with_their_batch(
    demo: Platform,
) -> None:
    """Open311 requests taken together write their intake records as the batch writes its
    rows, one statement for the lot; two sent at once with one Idempotency-Key undo their
    batch and are then one request (the second answered with the first)."""
    from tests.integration.test_open311 import count_intakes, fields

    def send_all(keys: list[str]) -> list[httpx2.Response]:
        return _post_all(
            demo,
            "/open311/v2/requests.json",
            [
                {
                    "data": fields(description=f"并发请求 / concurrent {key}"),
                    "headers": {"Idempotency-Key": key},
                }
                for key in keys
            ],
        )

    with statements_sent(demo.engine) as sent:
        answers = send_all([f"app-{i}" for i in range(16)])
    assert [a.status_code for a in answers] == [201] * 16, [a.text for a in answers]
    stats = demo.group_commit.stats
    assert stats.batches_undone == 0 and stats.transactions < 16  # some taken together
    # one statement a batch (a COPY on PostgreSQL, which SQLAlchemy does not see): not one
    # INSERT a request
    writes = [s for s in sent if s.startswith("INSERT INTO open311_requests")]
    assert len(writes) <= stats.transactions
    assert count_intakes(demo.engine) == _count(demo, t.cases) == 16

    twice = send_all(["twice", "twice"])
    assert sorted(a.status_code for a in twice) == [200, 201], [a.text for a in twice]
    assert twice[0].json() == twice[1].json()  # the same request
    assert count_intakes(demo.engine) == _count(demo, t.cases) == 17


class Boom(BaseException):
    """Something no report should ever raise."""


def test_a_report_that_blows_up_gets_its_error_and_the_others_and_the_thread_go_on(
    demo: Platform,
) -> None:
    def explode(uow: UnitOfWork, command: ReportCommand) -> ReportCommand:
        raise Boom()

    committer = GroupCommit(demo.uow, demo.cases)
    futures = committer.submit_all([_report(1), replace(_report(2), with_case=explode), _report(3)])
    assert futures[0].result(timeout=60).created
    with pytest.raises(Boom):
        futures[1].result(timeout=60)
    assert futures[2].result(timeout=60).created
    assert committer.submit(_report(4)).result(timeout=60).created
    assert _count(demo, t.cases) == 3


def test_a_batch_shares_its_cases_out_as_reports_taken_one_by_one_would(
    demo: Platform,
) -> None:
    same_place = {"lng": CENTRE[0] + 0.001, "lat": CENTRE[1] - 0.001, "subclass": "E0102"}
    taken = report_cases(demo.uow(), demo.cases, [_report(i, **same_place) for i in range(8)])
    in_batch = Counter(r.record.case.assignee for r in taken)
    alone = [
        report_case(demo.uow(), demo.cases, *_args(_report(i, **same_place))) for i in range(8, 16)
    ]
    after = Counter(r.record.case.assignee for r in alone)
    # the open cases of each person were counted once and then kept up to date: the batch
    # spread its cases as evenly as the reports taken alone afterwards did
    assert len(in_batch) > 1 and max(in_batch.values()) - min(in_batch.values()) <= 1
    assert set(after) == set(in_batch)
    totals = in_batch + after
    assert max(totals.values()) - min(totals.values()) <= 1
