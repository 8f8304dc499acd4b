"""Rows written with PostgreSQL's ``COPY … FROM STDIN`` (成批写入) instead of an INSERT
executed once per row.

A group commit writes the rows of its batch table by table (``SqlCaseRepository``'s rows
held back), and its outbox messages and audit records (``insert_rows``). Sent as an
``executemany``, every row costs a Bind and an Execute on the wire, a result to read
back, and SQLAlchemy's and psycopg's work around each; as one ``COPY`` the rows stream
in one message each and PostgreSQL inserts them without an executor per row. The values
go through the same conversions an INSERT would give them (the columns' bind processors:
times in UTC, JSON wrapped for psycopg), so what is stored is the same. Only plain
inserts qualify: COPY knows no ``ON CONFLICT`` and no ``RETURNING``, and a unique
violation fails the statement as an INSERT would (raised as SQLAlchemy's
``IntegrityError``, so callers see one kind of error either way).

The rows travel in COPY's binary format: times, numbers and flags as PostgreSQL stores
them, which psycopg writes and PostgreSQL reads with less work than their text (about a
third less of this process's CPU for a batch's four COPYs). That needs each column's type,
read from the catalogue once per process and column set; a table with a type of its own
(one made by CREATE TYPE, whose number differs between databases) is copied as text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Connection

from chengyun.adapters.db.writes import mark_written

_Processor = Callable[[Any], Any] | None
#: A COPY as sent, the columns' bind processors and, for the binary format, their types.
_Plan = tuple[bytes, list[_Processor], list[int] | None]
#: By database (tests use many in one process), table and column set.
_PLANS: dict[tuple[str, int, str, str, tuple[str, ...]], _Plan] = {}
#: Types numbered below this are PostgreSQL's own, the same in every database.
_FIRST_NORMAL_OID = 16384
_COLUMN_TYPES = (
    "SELECT attname, atttypid::int FROM pg_attribute "
    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
)


def _plan(table: sa.Table, names: tuple[str, ...], connection: Connection) -> _Plan:
    """The COPY statement (as sent: composing it costs more than a row), the columns'
    bind processors and their types, built once per database and column set."""
    driver = _driver(connection)
    info = driver.info
    key = (info.host, info.port, info.dbname, table.name, names)
    plan = _PLANS.get(key)
    if plan is None:
        found = dict(driver.execute(_COLUMN_TYPES, (table.name,)).fetchall())
        types: list[int] | None = [found[name] for name in names]
        if any(oid >= _FIRST_NORMAL_OID for oid in types or ()):
            types = None
        statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
            sql.Identifier(table.name),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(" (FORMAT BINARY)" if types is not None else ""),
        )
        dialect = connection.dialect
        processors: list[_Processor] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        plan = _PLANS[key] = (statement.as_bytes(driver), processors, types)
    return plan


def _driver(connection: Connection) -> psycopg.Connection[Any]:
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def copy_rows(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys, as for an ``executemany``) into ``table``
    in one COPY, inside the connection's transaction. PostgreSQL only."""
    if not rows:
        return
    names = tuple(c.name for c in table.c if c.name in rows[0])
    unknown = set(rows[0]) - set(names)
    if unknown:
        raise ValueError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    statement, processors, types = _plan(table, names, connection)
    mark_written(connection)
    converters = list(zip(names, processors, strict=True))
    try:
        with _driver(connection).cursor() as cursor, cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(types)
            for row in rows:
                copy.write_row([row[n] if p is None else p(row[n]) for n, p in converters])
    except psycopg.IntegrityError as error:
        raise sa.exc.IntegrityError(statement.decode(), None, error) from error


@lru_cache(maxsize=64)
def _insert(table: sa.Table) -> sa.Insert:
    """``table``'s INSERT, built once (a statement built per call costs SQLAlchemy its
    cache key)."""
    return table.insert()


def insert_rows(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table``: several in one COPY on PostgreSQL (``copy_rows``),
    otherwise one INSERT (of many rows on SQLite)."""
    if not rows:
        return
    if len(rows) > 1 and connection.dialect.name == "postgresql":
        copy_rows(connection, table, rows)
    else:
        connection.execute(_insert(table), rows[0] if len(rows) == 1 else list(rows))
