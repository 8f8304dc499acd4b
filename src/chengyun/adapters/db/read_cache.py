"""A per-process cache of data read on every request but rarely changed (the roster, the
taxonomy), kept correct by revision counters that every write bumps in its transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from chengyun.adapters.db import tables as t

T = TypeVar("T")


def current(connection: Connection, name: str) -> int:
    value = connection.execute(
        sa.select(t.revisions.c.value).where(t.revisions.c.name == name)
    ).scalar()
    return int(value or 0)


def bump(connection: Connection, name: str) -> None:
    """Mark ``name`` changed; part of the writer's transaction."""
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
