"""A per-process cache of data read on every request but rarely changed (the roster, the
taxonomy), kept correct by revision counters that every write bumps in its transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t

T = TypeVar("T")


_MEMO = "chengyun_revisions"
#: All counters (built once: a statement built per call costs SQLAlchemy its cache key).
_COUNTERS = sa.select(t.revisions.c.name, t.revisions.c.value)


def current(connection: Connection, name: str) -> int:
    """The revision of ``name``. All counters are read together, once per transaction:
    a report consults the taxonomy and the roster in one transaction, one statement."""
    transaction = connection.get_transaction()
    memo = connection.info.get(_MEMO)
    if transaction is None or memo is None or memo[0] is not transaction:
        values = {str(n): int(v) for n, v in connection.execute(_COUNTERS)}
        # kept with the transaction it was read in (held, so never confused with a later one)
        memo = connection.info[_MEMO] = (transaction, values)
    return memo[1].get(name, 0)


def counters(dialect: str) -> sa.ScalarSelect[Any]:
    """All revision counters as one JSON object: a column another statement can read them
    in, saving ``current`` a statement of its own (see ``carried``)."""
    aggregate = sa.func.json_object_agg if dialect == "postgresql" else sa.func.json_group_object
    return sa.select(aggregate(t.revisions.c.name, t.revisions.c.value)).scalar_subquery()


@lru_cache(maxsize=128)
def carrying(query: sa.Select[Any], dialect: str) -> sa.Select[Any]:
    """``query`` (built once, so kept by identity) with the counters as its last column."""
    return query.add_columns(counters(dialect))


def carried(connection: Connection, value: str | dict[str, Any] | None) -> None:
    """The counters read along with a statement of this transaction, as ``current`` would
    have read them."""
    values = json.loads(value) if isinstance(value, str) else (value or {})
    transaction = connection.get_transaction()
    if transaction is not None:
        connection.info[_MEMO] = (transaction, {str(n): int(v) for n, v in values.items()})


#: Changes made by this process, per name: a cache in this process may drop what it holds
#: at once, without waiting to read the revision counter again (see ``changed_here``).
_changed_here: dict[str, int] = {}


def changed_here(name: str) -> int:
    """How often this process has bumped ``name`` (only ever grows)."""
    return _changed_here.get(name, 0)


def bump(connection: Connection, name: str) -> None:
    """Mark ``name`` changed; part of the writer's transaction."""
    _changed_here[name] = _changed_here.get(name, 0) + 1
    connection.info.pop(_MEMO, None)  # this transaction's counters are no longer current
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(t.revisions).values(name=name, value=1)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[t.revisions.c.name], set_={"value": t.revisions.c.value + 1}
        )
    )


class ReadCache:
    """Values by name, each with the revision it was read at. Values must be immutable."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[int, Any]] = {}

    def get(self, connection: Connection, name: str, load: Callable[[], T]) -> T:
        revision = current(connection, name)
        cached = self._values.get(name)
        if cached is not None and cached[0] == revision:
            value: T = cached[1]
            return value
        loaded = load()
        self._values[name] = (revision, loaded)
        return loaded
