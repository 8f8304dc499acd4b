"""Patrol positions (巡查定位) in ``patrol_positions``: stored in batches without repeating
a (person, time) already there, and read back by period.

The store works on the engine, one short transaction per call, outside any unit of work:
a phone's batch is neither part of another use case nor worth a connection held while
its positions are located.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from chengyun.adapters.db import tables as t
from chengyun.domain.coverage import PatrolPosition

p = t.patrol_positions.c

#: The first key of the advisory locks that serialise one person's batches on PostgreSQL.
_LOCK_KEY = 7242003


def _serialise(connection: Connection, people: list[str]) -> None:
    """Make two copies of one person's batch, sent at once, store their positions once:
    the second waits until the first has committed, then sees its rows."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before reading
    elif connection.dialect.name == "postgresql":
        for person in people:  # in order, so that two batches never wait on each other
            connection.execute(
                sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY, sa.func.hashtext(person)))
            )


class SqlPositionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_new(self, positions: Sequence[PatrolPosition], received_at: datetime) -> int:
        """Store the positions whose (person, time) is not stored yet, the first of any
        repeated in the batch; how many were stored. A re-sent batch stores nothing."""
        if not positions:
            return 0
        people = sorted({x.person for x in positions})
        with self.engine.begin() as connection:
            _serialise(connection, people)
            seen: set[tuple[str, datetime]] = set()
            for person in people:
                seen |= self._stored(connection, person, positions)
            new: list[PatrolPosition] = []
            for x in positions:
                if (x.person, x.at) not in seen:
                    seen.add((x.person, x.at))
                    new.append(x)
            if new:
                connection.execute(
                    t.patrol_positions.insert(),
                    [
                        {
                            "person_number": x.person,
                            "at": x.at,
                            "lng": x.lng,
                            "lat": x.lat,
                            "accuracy_m": x.accuracy_m,
                            "grid_code": x.grid_code,
                            "unit_code": x.unit_code,
                            "received_at": received_at,
                        }
                        for x in new
                    ],
                )
        return len(new)

    def _stored(
        self, connection: Connection, person: str, positions: Sequence[PatrolPosition]
    ) -> set[tuple[str, datetime]]:
        """The times already stored for ``person`` within the batch's span."""
        times = [x.at for x in positions if x.person == person]
        rows = connection.execute(
            sa.select(p.at).where(p.person_number == person, p.at >= min(times), p.at <= max(times))
        )
        return {(person, at) for (at,) in rows}

    def between(self, start: datetime, end: datetime) -> list[PatrolPosition]:
        """Every position reported for ``[start, end)``, by person and time."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    p.person_number, p.at, p.lng, p.lat, p.unit_code, p.grid_code, p.accuracy_m
                )
                .where(p.at >= start, p.at < end)
                .order_by(p.person_number, p.at, p.id)
            ).all()
            connection.commit()  # a read ended with a COMMIT: a ROLLBACK would make
            # psycopg forget the connection's prepared statements
        return [
            PatrolPosition(
                person=row.person_number,
                at=row.at,
                lng=row.lng,
                lat=row.lat,
                unit_code=row.unit_code,
                grid_code=row.grid_code,
                accuracy_m=row.accuracy_m,
            )
            for row in rows
        ]
