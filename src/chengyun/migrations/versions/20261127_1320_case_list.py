"""case list: one index for its order, and case counts kept by triggers (PostgreSQL)

Revision ID: 20261127_1320
Revises: 20261127_1300
Create Date: 2026-11-27 13:20

The case list shows the nearest deadline first and, among equal deadlines, the newest
case first (``ORDER BY next_due_at NULLS LAST, id DESC``). ``ix_cases_next_due_at`` gave
the first key only, so equal deadlines were sorted on every request (at 100,000 copies of
a few deadlines, every open case); ``ix_cases_due_order (next_due_at, id DESC)`` gives the
whole order and replaces it (the sweep's ``next_due_at <= now`` walks it the same way).

``case_counts`` holds how many cases there are by status, light, urgency and
``unassigned``, so that the list's ``total`` is a sum over a few hundred rows rather than a
count over every open case. On PostgreSQL, row triggers on ``cases`` add a row of +1 for a
case inserted, −1 for one deleted, and −1/+1 when an update moves a case to another
combination (updates that leave the four columns alone fire nothing); a TRUNCATE of
``cases`` empties it. Rows are only ever added, never updated, so concurrent writers do not
wait on one another (one shared counter row would queue every intake behind the last, and
updating one row many times in a transaction gets slower with each update); the worker
folds the rows into one per combination (``adapters/db/case_counts.py``). The counts start
from the cases already stored. On SQLite the table stays empty: the list counts the cases.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1320"
down_revision = "20261127_1300"
branch_labels = None
depends_on = None

COUNTED = "status, light, urgency, unassigned"

#: One function per kind of change, each a single INSERT (an UPDATE adds both its rows in
#: one): about 30 µs of the database's time per counted change.
TRIGGERS = f"""
CREATE FUNCTION case_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    RETURN NULL;
END
$$;

CREATE FUNCTION case_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1);
    RETURN NULL;
END
$$;

CREATE FUNCTION case_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1),
           (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    RETURN NULL;
END
$$;

CREATE FUNCTION case_counts_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM case_counts;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_counts_added AFTER INSERT ON cases
FOR EACH ROW EXECUTE FUNCTION case_counts_added();

CREATE TRIGGER case_counts_removed AFTER DELETE ON cases
FOR EACH ROW EXECUTE FUNCTION case_counts_removed();

CREATE TRIGGER case_counts_moved AFTER UPDATE OF {COUNTED} ON cases
FOR EACH ROW WHEN (
    OLD.status IS DISTINCT FROM NEW.status
    OR OLD.light IS DISTINCT FROM NEW.light
    OR OLD.urgency IS DISTINCT FROM NEW.urgency
    OR OLD.unassigned IS DISTINCT FROM NEW.unassigned
) EXECUTE FUNCTION case_counts_moved();

CREATE TRIGGER case_counts_cleared AFTER TRUNCATE ON cases
FOR EACH STATEMENT EXECUTE FUNCTION case_counts_cleared();
"""
KINDS = ("added", "removed", "moved", "cleared")


def upgrade() -> None:
    op.drop_index("ix_cases_next_due_at", table_name="cases")
    op.create_index(
        "ix_cases_due_order", "cases", ["next_due_at", sa.text("id DESC")], unique=False
    )
    op.create_table(
        "case_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("light", sa.String(length=10), nullable=False),
        sa.Column("urgency", sa.String(length=10), nullable=False),
        sa.Column("unassigned", sa.Boolean(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_counts")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRIGGERS)
    # after the triggers: they lock ``cases`` against writers until this commits
    op.execute(
        f"INSERT INTO case_counts ({COUNTED}, n) "
        f"SELECT {COUNTED}, count(*) FROM cases GROUP BY {COUNTED}"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for kind in KINDS:
            op.execute(f"DROP TRIGGER case_counts_{kind} ON cases")
            op.execute(f"DROP FUNCTION case_counts_{kind}()")
    op.drop_table("case_counts")
    op.drop_index("ix_cases_due_order", table_name="cases")
    op.create_index("ix_cases_next_due_at", "cases", ["next_due_at"], unique=False)
