"""The schema the migrations build is the one the code queries, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from chengyun.adapters.db.engine import alembic_config, current_revision, upgrade
from chengyun.adapters.db.partitions import PARTITION_KEY, PARTITIONED, partition_tables
from chengyun.adapters.db.tables import metadata
from tests.conftest import empty_postgresql
from tests.factories import downgrade


def test_database_is_at_head(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head


def _as_held_by(dialect: str) -> sa.MetaData:
    """tables.py as the database holds it. On PostgreSQL the case events and the audit log
    are partitioned by month, and PostgreSQL wants the partition key in every unique
    constraint: there, theirs also hold ``at`` (see migration 20261127_1300). On SQLite
    the references to a case are not deferrable (only PostgreSQL's batches defer them:
    migration 20261129_0700)."""
    held = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(held)
    if dialect != "postgresql":
        for table in held.sorted_tables:
            for reference in table.foreign_key_constraints:
                reference.deferrable = reference.initially = None
        return held
    for partitioned in PARTITIONED:
        table = held.tables[partitioned.name]
        for unique in [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]:
            table.constraints.remove(unique)
            table.append_constraint(
                sa.UniqueConstraint(*unique.columns.keys(), PARTITION_KEY, name=unique.name)
            )
    return held


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        # a month's partition holds rows of its parent; it is not a table of its own
        partitions = partition_tables(connection)
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: not (kind == "table" and name in partitions),
            },
        )
        differences = compare_metadata(context, _as_held_by(engine.dialect.name))
    assert differences == []


def test_revision_files_are_date_named() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert revision.revision[:8].isdigit(), revision.revision
        assert revision.path.rsplit("/", 1)[-1].startswith(revision.revision)


def _deferrable(engine: Engine) -> dict[str, bool]:
    """Whether each table's (and partition's) reference to ``cases`` is deferrable."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT conrelid::regclass::text, condeferrable FROM pg_constraint "
                "WHERE contype = 'f' AND confrelid = 'cases'::regclass"
            )
        )
        return {str(table): bool(deferrable) for table, deferrable in rows}


def test_the_deferrable_references_to_a_case_go_back_and_forth(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL's references are made deferrable")
    deferred = {"case_events", "case_measures", "case_photos", "idempotency_keys"}
    with empty_postgresql() as scratch:
        upgrade(scratch)
        after = _deferrable(scratch)
        assert {table for table, d in after.items() if d} >= deferred
        assert not after["outbox"]  # written in the chain's turn: checked row by row
        assert all(d for table, d in after.items() if table.startswith("case_events_"))
        downgrade(scratch, "20261127_1350")
        assert not any(_deferrable(scratch).values())
        upgrade(scratch)
        assert _deferrable(scratch) == after
