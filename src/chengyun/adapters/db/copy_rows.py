"""Rows written with PostgreSQL's ``COPY … FROM STDIN`` (成批写入) instead of an INSERT
executed once per row.

A group commit writes the rows of its batch table by table (``SqlCaseRepository``'s rows
held back). Sent as an ``executemany``, every row costs a Bind and an Execute on the wire,
a result to read back, and SQLAlchemy's and psycopg's work around each; as one ``COPY``
the rows stream in one message each and PostgreSQL inserts them without an executor
per row. The values go through the same conversions an INSERT would give them (the
columns' bind processors: times in UTC, JSON wrapped for psycopg), so what is stored is
the same. Only plain inserts qualify: COPY knows no ``ON CONFLICT`` and no
``RETURNING``, and a unique violation fails the statement as an INSERT would (raised as
SQLAlchemy's ``IntegrityError``, so callers see one kind of error either way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Connection

_Processor = Callable[[Any], Any] | None
_PLANS: dict[tuple[str, tuple[str, ...]], tuple[bytes, list[_Processor]]] = {}


def _plan(
    table: sa.Table, names: tuple[str, ...], connection: Connection
) -> tuple[bytes, list[_Processor]]:
    """The COPY statement (as sent: composing it costs more than a row) and the columns'
    bind processors, built once per column set."""
    key = (table.name, names)
    plan = _PLANS.get(key)
    if plan is None:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        dialect = connection.dialect
        processors: list[_Processor] = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        plan = _PLANS[key] = (statement.as_bytes(_driver(connection)), processors)
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
    statement, processors = _plan(table, names, connection)
    converters = list(zip(names, processors, strict=True))
    try:
        with _driver(connection).cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[n] if p is None else p(row[n]) for n, p in converters])
    except psycopg.IntegrityError as error:
        raise sa.exc.IntegrityError(statement.decode(), None, error) from error
