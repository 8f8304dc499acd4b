"""A reading unit of work runs its statements without a transaction on PostgreSQL (no
BEGIN, no COMMIT round trips); the connection it hands back to the pool writes in one
transaction again, so the next writer's work is still all or nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.copy_rows import copy_rows
from chengyun.adapters.db.engine import make_engine
from chengyun.adapters.db.unit_of_work import ReadingUnitOfWorkWrote, SqlUnitOfWork


@pytest.fixture
def one_connection(db: Engine) -> Iterator[Engine]:
    """The test database through a pool of a single connection: every unit of work below
    gets the same one."""
    engine = make_engine(db.url.render_as_string(hide_password=False), pool_size=1)
    yield engine
    engine.dispose()


def _in_transaction(uow: SqlUnitOfWork) -> bool:
    driver = uow.connection.connection.driver_connection
    if uow.connection.dialect.name == "postgresql":
        return bool(driver.info.transaction_status != 0)  # psycopg: 0 is IDLE
    return bool(driver.in_transaction)


def _revisions(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {str(n): int(v) for n, v in connection.execute(sa.select(t.revisions))}


def test_a_reading_unit_of_work_opens_no_transaction_on_postgresql(db: Engine) -> None:
    with SqlUnitOfWork(db, reading=True) as uow:
        uow.connection.execute(sa.select(t.revisions))
        reading_in_transaction = _in_transaction(uow)
        uow.commit()
    with SqlUnitOfWork(db) as uow:
        uow.connection.execute(sa.select(t.revisions))
        writing_in_transaction = _in_transaction(uow)
    if db.dialect.name == "postgresql":
        assert writing_in_transaction and not reading_in_transaction
    else:  # SQLite's driver begins only before a write: reading changes nothing there
        assert reading_in_transaction is writing_in_transaction is False


def test_after_a_reader_the_same_connection_writes_all_or_nothing(
    one_connection: Engine,
) -> None:
    with SqlUnitOfWork(one_connection, reading=True) as uow:
        reader = uow.connection.connection.driver_connection
        uow.connection.execute(sa.select(t.revisions)).all()
        uow.commit()
    before = _revisions(one_connection)
    with pytest.raises(RuntimeError, match="half-way"), SqlUnitOfWork(one_connection) as uow:
        assert uow.connection.connection.driver_connection is reader  # the same connection
        uow.connection.execute(t.revisions.insert().values(name="first half", value=1))
        uow.connection.execute(t.revisions.insert().values(name="second half", value=1))
        raise RuntimeError("stopped half-way")
    assert _revisions(one_connection) == before
    with SqlUnitOfWork(one_connection) as uow:
        uow.connection.execute(t.revisions.insert().values(name="kept", value=1))
        uow.commit()
    assert _revisions(one_connection) == {**before, "kept": 1}


def test_a_reading_unit_of_work_refuses_to_write_and_the_next_writer_may(
    one_connection: Engine,
) -> None:
    before = _revisions(one_connection)
    with SqlUnitOfWork(one_connection, reading=True) as uow:
        uow.connection.execute(sa.select(t.revisions)).all()  # reading is what it is for
        for write in (
            t.revisions.insert().values(name="read-only", value=1),
            t.revisions.update().values(value=99),
            t.revisions.delete(),
        ):
            with pytest.raises(ReadingUnitOfWorkWrote, match="does not write"):
                uow.connection.execute(write)
        with pytest.raises(ReadingUnitOfWorkWrote):
            uow.connection.exec_driver_sql("  delete from revisions")
        # a write behind a WITH: the statement the CTEs lead to, or (PostgreSQL) a CTE
        behind_with = [
            "WITH n AS (SELECT 'cte' AS name, 1 AS value) "
            "INSERT INTO revisions (name, value) SELECT name, value FROM n"
        ]
        if one_connection.dialect.name == "postgresql":
            behind_with.append(
                "with gone as ( delete from revisions returning name ) select count(*) from gone"
            )
        for statement in behind_with:
            with pytest.raises(ReadingUnitOfWorkWrote):
                uow.connection.exec_driver_sql(statement)
        # reading behind a WITH still reads, a row lock's FOR UPDATE included
        reads = ["WITH n AS (SELECT name FROM revisions) SELECT count(*) FROM n"]
        if one_connection.dialect.name == "postgresql":
            reads.append("WITH n AS (SELECT name FROM revisions FOR UPDATE) SELECT count(*) FROM n")
        for statement in reads:
            uow.connection.exec_driver_sql(statement).all()
        uow.commit()
    assert _revisions(one_connection) == before
    with SqlUnitOfWork(one_connection) as uow:  # the same connection, writing again
        uow.connection.execute(t.revisions.insert().values(name="written", value=1))
        uow.commit()
    assert _revisions(one_connection) == {**before, "written": 1}


def test_a_unit_of_work_left_after_reads_commits_and_one_left_after_a_write_rolls_back(
    one_connection: Engine,
) -> None:
    """Left without an exception and without a commit, a unit of work that only read ends
    with a COMMIT (a ROLLBACK would make psycopg forget the connection's prepared
    statements); one that wrote — a statement, or rows copied in — is rolled back, as
    always, and so is one left by an exception."""
    before = _revisions(one_connection)
    ended: list[str] = []
    sa.event.listen(one_connection, "commit", lambda _c: ended.append("commit"))
    sa.event.listen(one_connection, "rollback", lambda _c: ended.append("rollback"))

    with SqlUnitOfWork(one_connection) as uow:
        uow.connection.execute(sa.select(t.revisions)).all()
        uow.connection.exec_driver_sql("WITH r AS (SELECT name FROM revisions) SELECT * FROM r")
        if one_connection.dialect.name == "postgresql":  # a row lock ends with either
            uow.connection.exec_driver_sql("SELECT 1 FROM revisions FOR UPDATE").all()
    assert ended[:1] == ["commit"], ended

    ended.clear()
    with SqlUnitOfWork(one_connection) as uow:
        uow.connection.execute(t.revisions.insert().values(name="dropped", value=1))
    assert ended[:1] == ["rollback"] and _revisions(one_connection) == before

    ended.clear()
    with pytest.raises(ZeroDivisionError), SqlUnitOfWork(one_connection) as uow:
        uow.connection.execute(sa.select(t.revisions)).all()
        raise ZeroDivisionError
    assert ended[:1] == ["rollback"]

    if one_connection.dialect.name == "postgresql":
        ended.clear()
        with SqlUnitOfWork(one_connection) as uow:
            copy_rows(uow.connection, t.revisions, [{"name": "copied", "value": 2}])
        assert ended[:1] == ["rollback"] and _revisions(one_connection) == before

    ended.clear()
    with SqlUnitOfWork(one_connection) as uow:  # a writer's flag does not outlive it
        uow.connection.execute(sa.select(t.revisions)).all()
    assert ended[:1] == ["commit"], ended

    ended.clear()
    with SqlUnitOfWork(one_connection) as uow:  # reads after a commit: committed too
        uow.connection.execute(t.revisions.insert().values(name="kept", value=3))
        uow.commit()
        uow.connection.execute(sa.select(t.revisions)).all()
    assert ended[:2] == ["commit", "commit"], ended
    assert _revisions(one_connection) == {**before, "kept": 3}
