"""case events and audit log partitioned by month (按月分区) on PostgreSQL

Revision ID: 20261127_1300
Revises: 20261127_1255
Create Date: 2026-11-27 13:00

On PostgreSQL ``case_events`` and ``audit_log`` become ``PARTITION BY RANGE (at)`` tables
with one partition per China-time month (UTC+8, the month the measures and the monthly
reports count in: ``case_events_2026_11`` holds 2026-11-01 00:00+08 up to 2026-12-01
00:00+08), made for every month that has rows and for the current month and the three
after it, plus a DEFAULT partition so that no insert can fail for want of a month. The
worker makes the coming months from then on (``adapters/db/partitions.py``). Each table is
renamed, the partitioned table is created in its place, the rows are copied over with
their ids and the old table is dropped. The id sequence is handed over to the new table,
so ids continue where they were.

PostgreSQL wants the partition key in every primary key and unique constraint, so:

- the primary keys become ``(id, at)``. ``id`` stays unique in practice — it comes from the
  one sequence — and nothing refers to these ids by foreign key. The audit chain is read
  and extended in ``id`` order, which is unchanged.
- ``uq_case_events_case_id_seq`` becomes ``(case_id, seq, at)``. The database no longer
  refuses a second event with the same ``(case_id, seq)`` in another month, but the
  application never writes one: an event's ``seq`` is the case's version after it, and
  ``SqlCaseRepository.save`` appends events only after ``UPDATE cases … WHERE id = … AND
  version = <the version it read>`` changed the row. That UPDATE holds the case row's lock
  until commit, and a second writer of the same version finds the version moved on and
  fails with a conflict, so each ``(case_id, seq)`` is written by one transaction only; a
  new case's events are written with the new case row.
- the foreign key ``case_events.case_id → cases.id`` is kept.

On SQLite nothing changes. The downgrade puts the plain tables back, rows and sequences
included (months detached for archiving are not part of the table and are left alone).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "20261127_1300"
down_revision = "20261127_1255"
branch_labels = None
depends_on = None

CHINA = timezone(timedelta(hours=8))
MONTHS_AHEAD = 3
#: table → (primary key, unique constraints, foreign keys) besides the partition key
KEYS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, str]]] = {
    "case_events": (
        ("id",),
        {"uq_case_events_case_id_seq": ("case_id", "seq")},
        {"fk_case_events_case_id_cases": "FOREIGN KEY (case_id) REFERENCES cases (id)"},
    ),
    "audit_log": (("id",), {}, {}),
}


def _next(month: tuple[int, int]) -> tuple[int, int]:
    year, m = month
    return (year + m // 12, m % 12 + 1)


def _bound(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}-01 00:00:00+08"


def _months(bind: sa.Connection, table: str) -> list[tuple[int, int]]:
    now = datetime.now(CHINA)
    wanted = {(now.year, now.month)}
    for _ in range(MONTHS_AHEAD):
        wanted.add(_next(max(wanted)))
    starts = bind.execute(
        sa.text(
            f"SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'Asia/Shanghai') FROM {table}"
        )
    ).scalars()
    wanted |= {(s.year, s.month) for s in starts}
    return sorted(wanted)


def _sequence(bind: sa.Connection, table: str) -> str:
    sequence = bind.execute(
        sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
    ).scalar_one()
    assert sequence, f"{table}.id has no sequence"
    return str(sequence)


def _add_keys(table: str, key_columns: tuple[str, ...]) -> None:
    primary, uniques, foreign = KEYS[table]
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT pk_{table}"
        f" PRIMARY KEY ({', '.join(primary + key_columns)})"
    )
    for name, columns in uniques.items():
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({', '.join(columns + key_columns)})"
        )
    for name, definition in foreign.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def _set_aside(table: str, new_name: str) -> None:
    """Rename the table and its keys' indexes (index names are unique in the schema), so
    that its replacement can take the names; foreign key names need not move."""
    _, uniques, _ = KEYS[table]
    op.execute(f"ALTER TABLE {table} RENAME TO {new_name}")
    for name in [f"pk_{table}", *uniques]:
        op.execute(f"ALTER TABLE {new_name} RENAME CONSTRAINT {name} TO {name}__old")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in KEYS:
        old = f"{table}__unpartitioned"
        sequence = _sequence(bind, table)
        months = _months(bind, table)
        _set_aside(table, old)
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (at)")
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        for month in months:
            op.execute(
                f"CREATE TABLE {table}_{month[0]:04d}_{month[1]:02d} PARTITION OF {table}"
                f" FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(_next(month))}')"
            )
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        # the keys after the copy: one index build per partition instead of row by row
        _add_keys(table, ("at",))
        op.execute(f"DROP TABLE {old}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in KEYS:
        old = f"{table}__partitioned"
        sequence = _sequence(bind, table)
        _set_aside(table, old)
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
        op.execute(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old} ORDER BY id")
        _add_keys(table, ())
        op.execute(f"DROP TABLE {old}")
