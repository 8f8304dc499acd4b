"""Which statements write (写入), for the unit of work: a reading one refuses them, and one
left without an exception and without a write ends with a COMMIT instead of a ROLLBACK
(on PostgreSQL a ROLLBACK makes psycopg forget the connection's prepared statements)."""

from __future__ import annotations

import re

from sqlalchemy.engine import Connection

#: Set in a connection's ``info`` once a statement that may have written was sent (or rows
#: copied in): the unit of work then ends without a commit in a ROLLBACK, as always.
WROTE = "chengyun_wrote"
#: Statements that write: a reading unit of work refuses them.
WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "TRUNCATE"})
#: Statements that only read (``pg_notify`` excepted, whose notice a commit would send).
_READS = frozenset({"SELECT", "SHOW", "VALUES", "TABLE"})
#: A write inside or after a WITH clause's parentheses (a data-modifying CTE, or the
#: statement the CTEs lead to); not ``FOR UPDATE``, which follows no parenthesis.
_WRITE_AFTER_WITH = re.compile(r"[()]\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def first_word(statement: str) -> str:
    words = statement.lstrip()[:10].split(None, 1)
    return words[0].upper() if words else ""


def writes(statement: str, word: str) -> bool:
    """Whether ``statement`` (its first word ``word``) is an INSERT, UPDATE, DELETE,
    MERGE or TRUNCATE, also behind a WITH."""
    return word in WRITES or (word == "WITH" and bool(_WRITE_AFTER_WITH.search(statement)))


def only_reads(statement: str, word: str) -> bool:
    """Whether ``statement`` surely changes nothing a commit would keep: a SELECT (row
    locks and advisory locks end with either), SHOW, VALUES or TABLE, or a WITH leading to
    one. Anything else (DDL, SAVEPOINT, EXPLAIN ANALYZE of a write…) counts as a write."""
    if word == "WITH":
        return not writes(statement, word) and "pg_notify" not in statement
    return word in _READS and "pg_notify" not in statement


def mark_written(connection: Connection) -> None:
    """For writes a statement listener does not see (rows copied in through the driver)."""
    connection.info[WROTE] = True
