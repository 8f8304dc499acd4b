"""The case list on both databases: each row as the case itself shows it, ``total`` as a
count of the cases gives it (from the case counts on PostgreSQL, through every kind of
change and a fold), equal deadlines newest first; and the open cases per person that
dispatch reads, as counting them gives them (kept by the same triggers on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from chengyun.adapters.backup import create_backup, restore_backup
from chengyun.adapters.db import case_counts
from chengyun.adapters.db import tables as t
from chengyun.adapters.db.engine import make_engine, upgrade
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import load_demo
from chengyun.domain.cases import OPEN_STATUSES, Channel
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.v1.cases import CaseDetail
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import sweep
from chengyun.services.records import CaseFilter, CaseSummary
from tests.conftest import empty_postgresql
from tests.factories import CENTRE, COMMANDER, do, downgrade, patrol_member, report, submit
from tests.integration.test_clocks_and_escalation import new_case

#: Filters the counts answer, and some they cannot (then the cases are counted).
FILTERS = [
    CaseFilter(),
    CaseFilter(open_only=True),
    CaseFilter(open_only=True, light="yellow"),
    CaseFilter(open_only=True, light="green"),
    CaseFilter(open_only=True, urgency="urgent"),
    CaseFilter(open_only=True, unassigned=True),
    CaseFilter(open_only=True, unassigned=False, light="green", urgency="general"),
    CaseFilter(status=("dispatched", "accepted")),
    CaseFilter(status=("reported",), open_only=True),
    CaseFilter(status=("closed", "voided", "merged")),
    CaseFilter(open_only=True, channel="patrol"),
    CaseFilter(open_only=True, text="第"),
    CaseFilter(visible_scope=("grid", "310118002900001"), visible_person="nobody"),
    CaseFilter(visible_scope=("department", None)),
    CaseFilter(area_code="310118002", reported_from=datetime(2020, 6, 24, tzinfo=CHINA_TZ)),
    CaseFilter(reported_to=datetime(2020, 6, 25, tzinfo=CHINA_TZ), open_only=True),
]


def _mixed_cases(client: TestClient, clock: DrivenClock, demo: Platform) -> None:
    """Cases in many states: dispatched, accepted, returned, on hold, voided, urgent, a
    merged video alert, a citizen report offered as a duplicate; some turned yellow."""
    reporter = patrol_member(client)
    cases = [
        submit(client, report(reporter=reporter, description=f"第{i}件")).json() for i in range(4)
    ]
    handler = cases[0]["assignee"]["number"]
    assert do(client, cases[0]["id"], "accept", handler).status_code == 200
    assert do(client, cases[1]["id"], "return", handler, reason="不属于本队").status_code == 200
    assert do(client, cases[2]["id"], "hold", COMMANDER, reason="季节性").status_code == 200
    assert do(client, cases[3]["id"], "void", handler, reason="误报").status_code == 200
    assert do(client, cases[3]["id"], "approve_void", COMMANDER, approved=True).status_code == 200
    near = {"lng": CENTRE[0] + 0.0001, "lat": CENTRE[1], "crs": "wgs84"}
    assert submit(client, report(channel="video_ai", position=near)).json()["status"] == "merged"
    assert submit(client, report(channel="citizen_qr", position=near)).json()["possible_duplicates"]
    assert submit(client, report(reporter=reporter, urgent=True)).status_code == 201
    clock.tick(timedelta(minutes=12, seconds=1))  # 80 % of the accept limit: yellow
    assert sweep(demo.uow(), demo.cases).warned > 0
    assert submit(client, report(reporter=reporter, description="后来的")).status_code == 201


def _counted(demo: Platform, where: CaseFilter) -> int:
    """The cases of the list's rows, counted one by one."""
    with demo.uow() as uow:
        return len(uow.cases.search(where, 100_000, 0)[1])


def _totals(demo: Platform) -> list[int]:
    with demo.uow() as uow:
        return [uow.cases.summaries(where, 1, 0)[0] for where in FILTERS]


def _expected(demo: Platform) -> list[int]:
    return [_counted(demo, where) for where in FILTERS]


def _open_cases(demo: Platform) -> dict[str, int]:
    """Open cases per assignee, counted from the cases themselves."""
    c = t.cases.c
    query = (
        sa.select(c.assignee, sa.func.count())
        .where(c.assignee.is_not(None), c.status.in_([s.value for s in OPEN_STATUSES]))
        .group_by(c.assignee)
    )
    with demo.engine.connect() as connection:
        return {str(a): int(n) for a, n in connection.execute(query)}


def _open_for_dispatch(demo: Platform, *others: str) -> dict[str, int]:
    """Open cases per person as dispatch reads them, asked for everyone who has or had a
    case and for ``others``."""
    with demo.engine.connect() as connection:
        anyone = connection.execute(sa.select(t.cases.c.assignee).distinct()).scalars()
        numbers = sorted({str(n) for n in anyone if n is not None} | set(others))
    with demo.uow() as uow:
        return uow.cases.open_counts(numbers)


def test_rows_and_totals_are_those_of_the_cases(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _mixed_cases(client, clock, demo)
    with demo.uow() as uow:
        for where in FILTERS:
            total, rows = uow.cases.summaries(where, 500, 0)
            count, records = uow.cases.search(where, 500, 0)
            assert rows == [CaseSummary.of(r) for r in records], where
            assert total == count == _counted(demo, where), where
        _, everything = uow.cases.summaries(CaseFilter(), 500, 0)
    assert {r.status.value for r in everything} >= {"dispatched", "accepted", "on_hold", "voided"}
    assert any(r.possible_duplicates for r in everything)
    assert any(r.light.value == "yellow" for r in everything)
    assert any(r.deadlines for r in everything)

    listed = client.get("/api/v1/cases", params={"limit": 500}).json()
    assert listed["total"] == len(listed["items"]) == len(everything)
    for item in listed["items"]:
        detail = client.get(f"/api/v1/cases/{item['id']}").json()
        assert {k: detail[k] for k in item} == item
        # the detail's plain values are exactly what its model would have answered
        assert CaseDetail.model_validate(detail).model_dump(mode="json") == detail


def test_equal_deadlines_newest_first(client: TestClient, demo: Platform) -> None:
    reporter = patrol_member(client)
    ids = [submit(client, report(reporter=reporter)).json()["id"] for _ in range(3)]
    listed = client.get("/api/v1/cases", params={"open": True}).json()["items"]
    assert len({i["deadlines"]["accept"] for i in listed}) == 1  # reported at one moment
    assert [i["id"] for i in listed] == sorted(ids, reverse=True)


def _needs_counts(demo: Platform) -> None:
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("the case counts are kept on PostgreSQL only")


def _rows(demo: Platform) -> int:
    with demo.engine.connect() as connection:
        query = sa.select(sa.func.count()).select_from(t.case_counts)
        return int(connection.execute(query).scalar_one())


def test_counts_follow_bulk_moves_deletes_and_truncation(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _needs_counts(demo)
    _mixed_cases(client, clock, demo)
    assert _totals(demo) == _expected(demo)
    with demo.engine.begin() as connection:  # by hand, many cases in one statement
        connection.execute(t.cases.update().where(t.cases.c.light == "green").values(light="red"))
        connection.execute(
            t.cases.update().where(t.cases.c.status == "dispatched").values(unassigned=True)
        )
        connection.execute(t.cases.update().values(description="改过 / edited"))  # not counted
    assert _totals(demo) == _expected(demo)

    with demo.engine.begin() as connection:
        voided = connection.execute(
            sa.select(t.cases.c.id).where(t.cases.c.status == "voided")
        ).scalars()
        for case_id in list(voided):
            for table in (t.case_events, t.case_photos, t.outbox, t.case_measures):
                connection.execute(table.delete().where(table.c.case_id == case_id))
            connection.execute(t.cases.delete().where(t.cases.c.id == case_id))
    assert _totals(demo) == _expected(demo)

    with demo.engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE cases CASCADE")
    assert _totals(demo) == _expected(demo) == [0] * len(FILTERS)


def test_open_cases_per_person_follow_every_kind_of_change(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    """On both databases: dispatch's numbers are the counted ones after cases are
    dispatched, accepted, returned, held, voided and merged, and after changes by hand
    (reassigned, closed, reopened, deleted, all emptied)."""
    _mixed_cases(client, clock, demo)
    counted = _open_cases(demo)
    assert len(counted) >= 1 and sum(counted.values()) >= 3
    assert _open_for_dispatch(demo, "nobody") == counted
    first = min(counted)
    c = t.cases.c
    with demo.engine.begin() as connection:  # by hand, many cases in one statement each
        connection.execute(t.cases.update().where(c.assignee == first).values(assignee="P-moved"))
        connection.execute(t.cases.update().where(c.status == "on_hold").values(status="closed"))
        connection.execute(
            t.cases.update().where(c.status == "voided").values(status="dispatched", assignee=first)
        )
        connection.execute(t.cases.update().values(description="改过 / edited"))  # not counted
    assert _open_for_dispatch(demo, first, "P-moved") == _open_cases(demo) != counted
    assert _open_cases(demo)["P-moved"] >= 1

    with demo.engine.begin() as connection:
        case_id = connection.execute(
            sa.select(c.id).where(c.assignee == "P-moved").limit(1)
        ).scalar_one()
        for table in (t.case_events, t.case_photos, t.outbox, t.case_measures, t.idempotency_keys):
            connection.execute(table.delete().where(table.c.case_id == case_id))
        connection.execute(t.cases.delete().where(c.id == case_id))
    assert _open_for_dispatch(demo, first, "P-moved") == _open_cases(demo)

    if demo.engine.dialect.name == "postgresql":
        with demo.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE cases CASCADE")
        assert _open_for_dispatch(demo, first, "P-moved") == {}


def test_dispatch_reads_the_open_cases_from_the_counts(client: TestClient, demo: Platform) -> None:
    _needs_counts(demo)
    case = submit(client, report(reporter=patrol_member(client))).json()
    number = case["assignee"]["number"]
    with demo.engine.begin() as connection:
        connection.execute(t.assignee_counts.insert().values(assignee=number, n=1000))
    assert _open_for_dispatch(demo)[number] == _open_cases(demo)[number] + 1000


def test_a_fold_leaves_the_totals_and_waits_for_no_writer(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _needs_counts(demo)
    _mixed_cases(client, clock, demo)
    before = _rows(demo)
    assert case_counts.fold(demo.engine, above=before) == 0  # not above the threshold
    assert _rows(demo) == before

    with demo.engine.connect() as writer:  # a change not yet committed while the fold runs
        writer.execute(t.cases.update().values(light="red"))
        assert case_counts.fold(demo.engine, above=0) == before
        writer.commit()
    assert _totals(demo) == _expected(demo)
    c = t.cases.c
    with demo.engine.connect() as connection:
        cells = connection.execute(
            sa.select(c.status, c.light, c.urgency, c.unassigned).distinct()
        ).all()
    assert case_counts.fold(demo.engine, above=0) > 0  # the writer's −1/+1 rows
    assert _rows(demo) == len(cells)
    assert _totals(demo) == _expected(demo)

    people = _open_cases(demo)
    with demo.engine.begin() as connection:  # −1/+1 rows for the open cases per person
        connection.execute(
            t.cases.update().where(t.cases.c.assignee.is_not(None)).values(assignee="P-1")
        )
        connection.execute(
            t.cases.update().where(t.cases.c.assignee == "P-1").values(assignee=min(people))
        )
    assert case_counts.fold(demo.engine, assignees_above=10**6) == 0  # neither above
    folded = case_counts.fold(demo.engine, assignees_above=0)
    assert folded > len(people)
    with demo.engine.connect() as connection:
        kept = connection.execute(sa.select(t.assignee_counts.c.assignee)).scalars().all()
    assert sorted(kept) == sorted(_open_cases(demo))
    assert _open_for_dispatch(demo, "P-1") == _open_cases(demo)


def test_after_a_large_fold_the_counts_take_a_page(
    client: TestClient, demo: Platform, clock: DrivenClock
) -> None:
    _needs_counts(demo)
    _mixed_cases(client, clock, demo)
    with demo.engine.begin() as connection:
        for light in ["red", "yellow"] * 50:  # many rows: the table grows over many pages
            connection.execute(t.cases.update().values(light=light))
    before = _pages(demo)
    assert before > 2
    assert case_counts.fold(demo.engine, above=0, compact_above=100) > 100
    assert _pages(demo) == 1
    assert _totals(demo) == _expected(demo)


def _pages(demo: Platform) -> int:
    with demo.engine.connect() as connection:
        size = connection.execute(sa.text("SELECT pg_relation_size('case_counts')")).scalar_one()
    return int(size) // 8192


def test_the_counts_triggers_are_in_place(client: TestClient, demo: Platform) -> None:
    """A migration that rebuilds ``cases`` must make them again."""
    _needs_counts(demo)
    with demo.engine.connect() as connection:
        triggers = set(
            connection.execute(
                sa.text(
                    "SELECT tgname FROM pg_trigger "
                    "WHERE tgrelid = 'cases'::regclass AND NOT tgisinternal"
                )
            ).scalars()
        )
    assert triggers >= {f"case_counts_{kind}" for kind in ("added", "removed", "moved", "cleared")}


def test_the_assignee_counts_migration_counts_the_stored_cases_and_goes_back(
    scratch: Engine, clock: DrivenClock, tmp_path: Path
) -> None:
    platform = _demo_on(scratch, clock, tmp_path)
    for _ in range(3):
        new_case(platform, "YPG1-001")
    downgrade(scratch, "20261127_1330")
    assert "assignee_counts" not in sa.inspect(scratch).get_table_names()
    with scratch.begin() as connection:  # the triggers as they were: an assignee uncounted
        before = connection.execute(sa.select(sa.func.count()).select_from(t.case_counts))
        rows = before.scalar_one()
        connection.execute(t.cases.update().values(assignee="P-1"))
        after = connection.execute(sa.select(sa.func.count()).select_from(t.case_counts))
        assert after.scalar_one() == rows

    upgrade(scratch)
    counted = _open_cases(platform)
    assert counted == {"P-1": 3}
    assert _open_for_dispatch(platform) == counted


def test_totals_on_counted_columns_come_from_the_counts(client: TestClient, demo: Platform) -> None:
    _needs_counts(demo)
    submit(client, report(reporter=patrol_member(client)))
    extra = {"status": "dispatched", "light": "green", "urgency": "general", "unassigned": False}
    with demo.engine.begin() as connection:
        connection.execute(t.case_counts.insert().values(**extra, n=1000))
    with demo.uow() as uow:
        assert uow.cases.summaries(CaseFilter(open_only=True), 1, 0)[0] == 1001
        assert uow.cases.summaries(CaseFilter(open_only=True, channel="patrol"), 1, 0)[0] == 1


@pytest.fixture
def blank(engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the session's kind beside the session's one."""
    if engine.dialect.name == "postgresql":
        with empty_postgresql() as database:
            yield database
        return
    database = make_engine(f"sqlite:///{tmp_path / 'blank.sqlite3'}")
    yield database
    database.dispose()


@pytest.fixture
def scratch(blank: Engine) -> Engine:
    """An empty PostgreSQL database beside the session's one."""
    if blank.dialect.name != "postgresql":
        pytest.skip("the case counts are kept on PostgreSQL only")
    return blank


def _demo_on(engine: Engine, clock: DrivenClock, tmp_path: Path) -> Platform:
    """The demo sub-district on ``engine``, upgraded to the newest schema first."""
    upgrade(engine)
    settings = Settings(mode="test", data_dir=tmp_path, territory_refresh_seconds=0)
    platform = Platform(settings, clock=clock, engine_override=engine)
    load_demo(platform.uow(), clock)
    return platform


def _indexes(engine: Engine) -> set[str]:
    return {str(i["name"]) for i in sa.inspect(engine).get_indexes("cases")}


def test_the_migration_counts_the_stored_cases_and_goes_back(
    scratch: Engine, clock: DrivenClock, tmp_path: Path
) -> None:
    platform = _demo_on(scratch, clock, tmp_path)
    for _ in range(3):
        new_case(platform, "YPG1-001")
    downgrade(scratch, "20261127_1300")
    assert "case_counts" not in sa.inspect(scratch).get_table_names()
    assert "ix_cases_next_due_at" in _indexes(scratch)

    upgrade(scratch)
    assert "ix_cases_due_order" in _indexes(scratch)
    assert "ix_cases_next_due_at" not in _indexes(scratch)
    with platform.uow() as uow:
        assert uow.cases.summaries(CaseFilter(open_only=True), 1, 0)[0] == 3
    with scratch.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(t.case_counts)).scalar() == 1
        )


def test_a_restore_counts_the_cases_it_inserts(
    client: TestClient, demo: Platform, clock: DrivenClock, scratch: Engine, tmp_path: Path
) -> None:
    _mixed_cases(client, clock, demo)
    archive = tmp_path / "backup.zip"
    create_backup(demo.engine, archive, None)
    upgrade(scratch)
    restored = Platform(demo.settings, clock=clock, engine_override=scratch)
    restore_backup(scratch, archive, None)
    assert _totals(restored) == _totals(demo) == _expected(demo)
    assert _open_for_dispatch(restored) == _open_cases(restored) == _open_cases(demo)
    restore_backup(scratch, archive, None, force=True)  # emptied first (TRUNCATE), again
    assert _totals(restored) == _expected(demo)
    assert _open_for_dispatch(restored) == _open_cases(demo)


def test_the_list_state_migration_fills_in_the_stored_cases_and_goes_back(
    blank: Engine, clock: DrivenClock, tmp_path: Path
) -> None:
    platform = _demo_on(blank, clock, tmp_path)
    for channel in (Channel.PATROL, Channel.CITIZEN_QR, Channel.HOTLINE, Channel.CITIZEN_QR):
        new_case(platform, "YPG1-001", channel=channel)
    with platform.uow() as uow:
        before = uow.cases.summaries(CaseFilter(), 50, 0)[1]
    assert any(r.possible_duplicates for r in before) and all(r.deadlines for r in before)
    assert any(r.dispatch_reason for r in before)

    downgrade(blank, "20261127_1320")
    assert "list_state" not in {c["name"] for c in sa.inspect(blank).get_columns("cases")}
    upgrade(blank)  # each stored case gets its list state from its state

    with platform.uow() as uow:
        after = uow.cases.summaries(CaseFilter(), 50, 0)[1]
        records = uow.cases.search(CaseFilter(), 50, 0)[1]
    assert after == before == [CaseSummary.of(r) for r in records]


def test_the_nearby_index_migration_extends_the_subclass_index_and_goes_back(
    blank: Engine, clock: DrivenClock, tmp_path: Path
) -> None:
    """On both databases: the earlier open cases near a report are looked up by subclass,
    status and latitude (migration 20261127_1350), in place of subclass and status."""
    platform = _demo_on(blank, clock, tmp_path)
    case_id = new_case(platform, "YPG1-001")

    def near() -> list[int]:
        with platform.uow() as uow:
            found = uow.cases.nearby_open(
                "E0102", CENTRE[0], CENTRE[1], 50.0, clock.now() - timedelta(hours=1)
            )
        return [n.id for n in found]

    def columns() -> dict[str, list[str]]:
        return {
            str(i["name"]): [str(c) for c in i["column_names"]]
            for i in sa.inspect(blank).get_indexes("cases")
            if str(i["name"]).startswith("ix_cases_subclass")
        }

    assert columns() == {"ix_cases_subclass_status_lat": ["subclass", "status", "lat"]}
    assert near() == [case_id]
    downgrade(blank, "20261127_1340")
    assert columns() == {"ix_cases_subclass_status": ["subclass", "status"]}
    upgrade(blank)
    assert columns() == {"ix_cases_subclass_status_lat": ["subclass", "status", "lat"]}
    assert near() == [case_id]
