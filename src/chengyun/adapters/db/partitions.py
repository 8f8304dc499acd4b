"""Monthly partitions (按月分区) of the case events and the audit log on PostgreSQL: making
the coming months' partitions, draining the DEFAULT partition into them, listing them.

``case_events`` and ``audit_log`` are ``PARTITION BY RANGE (at)`` with one partition per
China-time month (``case_events_2026_11`` holds 2026-11-01 00:00 to 2026-12-01 00:00 at
UTC+8, the month the measures and monthly reports count in) and a DEFAULT partition that
takes whatever has no month of its own yet, so an insert never fails. The migration
``20261127_1300`` makes the months of the rows it finds and the next few; the worker calls
``ensure_partitions`` every hour so that the coming months exist before they begin, and
any row that landed in DEFAULT moves into its month's partition when that is made.
SQLite has no partitions: every function here does nothing there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from chengyun.adapters.db import tables as t
from chengyun.domain.working_time import CHINA_TZ

#: The partitioned tables; both are partitioned on ``at``.
PARTITIONED = (t.case_events, t.audit_log)
PARTITION_KEY = "at"
#: Months made ahead of the current one.
MONTHS_AHEAD = 3
#: Serialises partition maintenance between workers (the other keys: 7242001 taxonomy,
#: 7242002 audit chain).
_LOCK_KEY = 7242003
#: How long making a partition waits for the tables' locks before giving up until the
#: next pass: attaching a partition briefly locks the DEFAULT partition against readers.
_LOCK_TIMEOUT = "3s"


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in China time (UTC+8, no daylight saving)."""

    year: int
    month: int

    @classmethod
    def of(cls, at: datetime) -> Month:
        local = at.astimezone(CHINA_TZ)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=CHINA_TZ)

    @property
    def suffix(self) -> str:
        return f"{self.year:04d}_{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def partition_name(table: str, month: Month) -> str:
    return f"{table}_{month.suffix}"


def coming_months(now: datetime, months_ahead: int = MONTHS_AHEAD) -> list[Month]:
    """The current month and the ``months_ahead`` after it."""
    months = [Month.of(now)]
    for _ in range(months_ahead):
        months.append(months[-1].next())
    return months


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    #: ``FOR VALUES FROM (…) TO (…)`` in China time, or ``DEFAULT``
    bounds: str
    rows: int


def _is_partitioned(connection: Connection, table: str) -> bool:
    return bool(
        connection.execute(
            sa.text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table"
                " WHERE partrelid = to_regclass(:table))"
            ),
            {"table": table},
        ).scalar_one()
    )


def _attached(connection: Connection, table: str) -> set[str]:
    return set(
        connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = to_regclass(:table)"
            ),
            {"table": table},
        ).scalars()
    )


def _default_partition(connection: Connection, table: str) -> str | None:
    return connection.execute(
        sa.text(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid"
            " WHERE p.partrelid = to_regclass(:table)"
        ),
        {"table": table},
    ).scalar()


def _months_in(connection: Connection, relation: str) -> set[Month]:
    quoted = connection.dialect.identifier_preparer.quote(relation)
    starts = connection.execute(
        sa.text(
            f"SELECT DISTINCT date_trunc('month', {PARTITION_KEY} AT TIME ZONE 'Asia/Shanghai')"
            f" FROM {quoted}"
        )
    ).scalars()
    return {Month(s.year, s.month) for s in starts}


def ensure_partitions(engine: Engine, now: datetime, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make the partitions of the current month, the ``months_ahead`` after it and every
    month that has rows waiting in DEFAULT; return the names made.

    Idempotent, and safe with several workers: each partition is made in its own short
    transaction under one advisory lock, after looking again whether another worker made
    it meanwhile. A name taken by a table that is no longer a partition (a month detached
    for archiving) is left alone, and that month's late rows stay in DEFAULT."""
    if engine.dialect.name != "postgresql":
        return []
    made = []
    for table in PARTITIONED:
        with engine.connect() as connection:
            if not _is_partitioned(connection, table.name):
                continue
            attached = _attached(connection, table.name)
            default = _default_partition(connection, table.name)
            wanted = set(coming_months(now, months_ahead))
            if default is not None:
                wanted |= _months_in(connection, default)
        for month in sorted(wanted):
            if partition_name(table.name, month) in attached:
                continue
            with engine.begin() as connection:
                if _make_partition(connection, table, month):
                    made.append(partition_name(table.name, month))
    return made


def _make_partition(connection: Connection, table: sa.Table, month: Month) -> bool:
    """Create the month's partition as a plain table, move that month's rows out of
    DEFAULT into it, and attach it (attaching checks DEFAULT holds none of the month
    any more, which the lock on DEFAULT guarantees)."""
    quote = connection.dialect.identifier_preparer.quote
    name = partition_name(table.name, month)
    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    connection.execute(sa.text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
    existing = connection.execute(
        sa.text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}
    ).scalar_one()
    if existing:  # made by another worker meanwhile, or a detached month kept for archiving
        return False
    parent = quote(table.name)
    default = _default_partition(connection, table.name)
    # the locks ATTACH takes, taken first and in its order: no insert can slip a row of
    # this month into DEFAULT between the move and the attach
    connection.execute(sa.text(f"LOCK TABLE ONLY {parent} IN SHARE UPDATE EXCLUSIVE MODE"))
    if default is not None:
        connection.execute(sa.text(f"LOCK TABLE {quote(default)} IN ACCESS EXCLUSIVE MODE"))
    connection.execute(sa.text(f"CREATE TABLE {quote(name)} (LIKE {parent} INCLUDING DEFAULTS)"))
    start, end = month.start().isoformat(), month.next().start().isoformat()
    if default is not None:
        columns = ", ".join(quote(c.name) for c in table.columns)
        key = quote(PARTITION_KEY)
        connection.execute(
            sa.text(
                f"WITH moved AS (DELETE FROM {quote(default)}"
                f" WHERE {key} >= CAST(:start AS timestamptz) AND {key} < CAST(:end AS timestamptz)"
                f" RETURNING {columns})"
                f" INSERT INTO {quote(name)} ({columns}) SELECT {columns} FROM moved"
            ),
            {"start": start, "end": end},
        )
    connection.execute(
        sa.text(
            f"ALTER TABLE {parent} ATTACH PARTITION {quote(name)}"
            f" FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    )
    return True


def list_partitions(engine: Engine) -> list[Partition]:
    """Every partition of the partitioned tables with its bounds (in China time) and its
    exact row count, oldest month first and DEFAULT last; nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    found = []
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL TimeZone = 'Asia/Shanghai'"))
        for table in PARTITIONED:
            if not _is_partitioned(connection, table.name):
                continue
            quoted = connection.dialect.identifier_preparer.quote(table.name)
            counts: dict[str, int] = {
                name: int(rows)
                for name, rows in connection.execute(
                    sa.text(f"SELECT tableoid::regclass::text, count(*) FROM {quoted} GROUP BY 1")
                )
            }
            bounds = connection.execute(
                sa.text(
                    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)"
                    " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = to_regclass(:table)"
                ),
                {"table": table.name},
            ).all()
            for name, bound in sorted(bounds, key=lambda b: (b[1] == "DEFAULT", b[0])):
                found.append(Partition(table.name, name, bound, counts.get(name, 0)))
    return found


def partition_tables(connection: Connection) -> set[str]:
    """The names of the tables that are partitions of another (they hold the rows of
    their parent and are not tables of their own for the schema check or the backup)."""
    if connection.dialect.name != "postgresql":
        return set()
    return set(
        connection.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c"
                " WHERE c.relispartition AND c.relnamespace = current_schema()::regnamespace"
            )
        ).scalars()
    )
