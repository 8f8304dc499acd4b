"""Case counts (案件计数) for the case list's ``total`` without counting every case: on
PostgreSQL, triggers on ``cases`` add +1/−1 rows to ``case_counts`` by status, light,
urgency and ``unassigned`` (migration 20261127_1320); here they are summed, and folded
into one row per combination so that the sum stays short. The same triggers keep the open
cases per person in ``assignee_counts`` (在办案件数, migration 20261127_1340), which
dispatch reads (``open_by_assignee``) and which are folded the same way. SQLite keeps no
counts."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from chengyun.adapters.db import tables as t
from chengyun.domain.cases import OPEN_STATUSES

#: Fold when there are more rows than this: about one per combination is the least there
#: can be (13 statuses × 3 lights × 2 urgencies × 2); an idle platform is not rewritten.
FOLD_ABOVE = 200
#: Fold ``assignee_counts`` when it has more rows than this beyond one per person in it
#: (the least there can be): a roster of thousands is not rewritten on every pass.
FOLD_ASSIGNEES_ABOVE = 1000
#: After folding more rows than this (a bulk load, a restore, a worker that was down), fold
#: once more so that the table shrinks back to a page or two.
COMPACT_ABOVE = 5000

_c = t.case_counts.c


def _folding(table: sa.Table) -> sa.TextClause:
    """The statement replacing ``table``'s rows by their sums, one per combination of its
    other columns (none where they cancel out)."""
    keys = ", ".join(c.name for c in table.c if c.name not in ("id", "n"))
    return sa.text(
        f"WITH gone AS (DELETE FROM {table.name} RETURNING {keys}, n) "
        f"INSERT INTO {table.name} ({keys}, n) "
        f"SELECT {keys}, sum(n) FROM gone GROUP BY {keys} HAVING sum(n) <> 0"
    )


_FOLDS = {
    t.case_counts.name: _folding(t.case_counts),
    t.assignee_counts.name: _folding(t.assignee_counts),
}
_a = t.assignee_counts.c
_OPEN_BY_ASSIGNEE = (
    sa.select(_a.assignee, sa.func.sum(_a.n))
    .where(_a.assignee == sa.any_(sa.bindparam("numbers", type_=postgresql.ARRAY(sa.String))))
    .group_by(_a.assignee)
    .having(sa.func.sum(_a.n) != 0)
)


def open_by_assignee(connection: Connection, numbers: list[str]) -> dict[str, int]:
    """The open cases of each of ``numbers`` (people with none left out), from the counts
    (PostgreSQL: see ``kept``)."""
    rows = connection.execute(_OPEN_BY_ASSIGNEE, {"numbers": numbers})
    return {str(a): int(n) for a, n in rows}


def kept(connection: Connection) -> bool:
    """Whether this database keeps case counts (PostgreSQL)."""
    return connection.dialect.name == "postgresql"


#: The filters the counts can answer (``case_repository._filter``'s names).
_COUNTED = frozenset({"status", "open", "urgency", "light", "unassigned"})
_OPEN_WORDS: list[Any] = [sa.literal_column(f"'{s.value}'") for s in sorted(OPEN_STATUSES)]


def counted(shape: tuple[tuple[Any, ...], ...]) -> sa.Select[Any] | None:
    """The statement summing the counts of the cases a filter of ``shape`` selects (with
    the filter's values), or ``None`` when it filters on anything else: then the cases
    must be counted."""
    if any(name not in _COUNTED for name, *_ in shape):
        return None
    return _summing(tuple(name for name, *_ in shape))


@lru_cache(maxsize=64)
def _summing(names: tuple[str, ...]) -> sa.Select[Any]:
    conditions: list[Any] = []
    for name in names:
        if name == "status":  # an array: the same text whatever the number of statuses
            statuses = sa.bindparam("status", type_=postgresql.ARRAY(sa.String))
            conditions.append(_c.status == sa.any_(statuses))
        elif name == "open":
            conditions.append(_c.status.in_(_OPEN_WORDS))
        else:
            conditions.append(_c[name] == sa.bindparam(name))
    return sa.select(sa.func.coalesce(sa.func.sum(_c.n), 0)).where(*conditions)


def fold(
    engine: Engine,
    above: int = FOLD_ABOVE,
    compact_above: int = COMPACT_ABOVE,
    assignees_above: int = FOLD_ASSIGNEES_ABOVE,
) -> int:
    """Fold the +1/−1 rows of ``case_counts`` (when it has more than ``above``) and of
    ``assignee_counts`` (more than ``assignees_above`` beyond one per person) into one row
    per combination (none where they cancel out), and vacuum what was folded; the number
    of rows folded. Safe
    beside writers (they only add rows, which a fold never waits for) and beside another
    fold (rows one fold deleted, the other skips)."""
    if engine.dialect.name != "postgresql":
        return 0
    folded = 0
    for table, threshold in ((t.case_counts, above), (t.assignee_counts, assignees_above)):
        rows = _fold(engine, table, threshold)
        if rows:
            # the deleted rows stay in the table's pages, and every sum reads past them,
            # until a vacuum: autovacuum may take a minute to come, this one a millisecond;
            # the space it frees is what the next rows take, so the table keeps its size
            _vacuum(engine, table, truncate=False)
            if rows > compact_above:
                # the fold wrote its rows at the table's end (the space it freed was not
                # known yet); written again now they go to its start, and the vacuum cuts
                # off the rest
                _fold(engine, table, 0)
                _vacuum(engine, table, truncate=True)
        folded += rows
    return folded


def _fold(engine: Engine, table: sa.Table, above: int) -> int:
    with engine.begin() as connection:
        rows = int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        if table is t.assignee_counts and rows > above:
            people = sa.select(sa.func.count(_a.assignee.distinct()))
            rows_beyond = rows - int(connection.execute(people).scalar_one())
        else:
            rows_beyond = rows
        if rows_beyond <= above:
            return 0
        connection.execute(_FOLDS[table.name])
    return rows


def _vacuum(engine: Engine, table: sa.Table, truncate: bool) -> None:
    """Vacuum ``table`` with its index cleaned even for a few dead rows (left to itself,
    vacuum skips that and keeps their line pointers, which stops it cutting off the empty
    end); skipped if another vacuum (autovacuum) holds it.

    ``truncate``: cut off the empty end. Only after a compaction: cutting needs the table
    to itself, and while reports come in — every new case adds rows here, through the
    triggers — vacuum tries for it again and again, up to 5 s. Under the intake benchmark
    with 100,000 open cases the worker's vacuum of ``assignee_counts`` took up to 2 s that
    way, its pass stalled, and thousands of staff messages waited (``bench/RESULTS.md``,
    2026-11-29)."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql(
            f"VACUUM (INDEX_CLEANUP ON, SKIP_LOCKED, TRUNCATE {'ON' if truncate else 'OFF'}) "
            f"{table.name}"
        )
