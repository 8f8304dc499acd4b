"""The schema the migrations build is the one the code queries, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from chengyun.adapters.db.engine import alembic_config, current_revision
from chengyun.adapters.db.tables import metadata


def test_database_is_at_head(engine: Engine) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_revision_files_are_date_named() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        assert revision.revision[:8].isdigit(), revision.revision
        assert revision.path.rsplit("/", 1)[-1].startswith(revision.revision)
