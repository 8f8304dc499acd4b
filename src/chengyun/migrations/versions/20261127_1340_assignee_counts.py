"""open cases per person kept by the case counts' triggers (PostgreSQL)

Revision ID: 20261127_1340
Revises: 20261127_1330
Create Date: 2026-11-27 13:40

Dispatch gives a case to whoever of those on duty has the fewest open cases, and so
counted, for every report, the open cases of each candidate: an index walk over all of
each one's open cases, which grows with the cases left open (about 1.3 ms for ten people
at 10,000 cases, a third of PostgreSQL's time per report in the intake benchmark).

``assignee_counts`` (在办案件数) holds those numbers the way ``case_counts`` holds the
list's totals: the same row triggers on ``cases`` (migration 20261127_1320), replaced
here, also add +1 for a case that becomes open with an assignee, −1 for one that stops
being open or leaves that assignee, and the worker folds the rows. The update trigger now
fires on a change of ``assignee`` too; each kind of change still runs one function, and
writes to either table only what moved. The counts start from the cases already stored.
On SQLite the table stays empty and the cases are counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1340"
down_revision = "20261127_1330"
branch_labels = None
depends_on = None

COUNTED = "status, light, urgency, unassigned"
#: ``domain.cases.OPEN_STATUSES`` as they stand at this revision.
OPEN = (
    "('reported', 'registered', 'dispatched', 'accepted', 'on_scene', 'handled', 'checked', "
    "'on_hold')"
)

TRIGGERS = f"""
CREATE OR REPLACE FUNCTION case_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    IF NEW.assignee IS NOT NULL AND NEW.status IN {OPEN} THEN
        INSERT INTO assignee_counts (assignee, n) VALUES (NEW.assignee, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1);
    IF OLD.assignee IS NOT NULL AND OLD.status IN {OPEN} THEN
        INSERT INTO assignee_counts (assignee, n) VALUES (OLD.assignee, -1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_with text := CASE WHEN OLD.status IN {OPEN} THEN OLD.assignee END;
    now_with text := CASE WHEN NEW.status IN {OPEN} THEN NEW.assignee END;
BEGIN
    IF (OLD.status, OLD.light, OLD.urgency, OLD.unassigned)
       IS DISTINCT FROM (NEW.status, NEW.light, NEW.urgency, NEW.unassigned) THEN
        INSERT INTO case_counts ({COUNTED}, n)
        VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1),
               (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    END IF;
    IF was_with IS DISTINCT FROM now_with THEN
        INSERT INTO assignee_counts (assignee, n)
        SELECT who, n FROM (VALUES (was_with, -1), (now_with, 1)) AS moved (who, n)
        WHERE who IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM case_counts;
    DELETE FROM assignee_counts;
    RETURN NULL;
END
$$;

DROP TRIGGER case_counts_moved ON cases;
CREATE TRIGGER case_counts_moved AFTER UPDATE OF {COUNTED}, assignee ON cases
FOR EACH ROW WHEN (
    OLD.status IS DISTINCT FROM NEW.status
    OR OLD.light IS DISTINCT FROM NEW.light
    OR OLD.urgency IS DISTINCT FROM NEW.urgency
    OR OLD.unassigned IS DISTINCT FROM NEW.unassigned
    OR OLD.assignee IS DISTINCT FROM NEW.assignee
) EXECUTE FUNCTION case_counts_moved();
"""

#: The functions and the update trigger as migration 20261127_1320 made them.
BEFORE = f"""
CREATE OR REPLACE FUNCTION case_counts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_counts ({COUNTED}, n)
    VALUES (OLD.status, OLD.light, OLD.urgency, OLD.unassigned, -1),
           (NEW.status, NEW.light, NEW.urgency, NEW.unassigned, 1);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION case_counts_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM case_counts;
    RETURN NULL;
END
$$;

DROP TRIGGER case_counts_moved ON cases;
CREATE TRIGGER case_counts_moved AFTER UPDATE OF {COUNTED} ON cases
FOR EACH ROW WHEN (
    OLD.status IS DISTINCT FROM NEW.status
    OR OLD.light IS DISTINCT FROM NEW.light
    OR OLD.urgency IS DISTINCT FROM NEW.urgency
    OR OLD.unassigned IS DISTINCT FROM NEW.unassigned
) EXECUTE FUNCTION case_counts_moved();
"""


def upgrade() -> None:
    op.create_table(
        "assignee_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("assignee", sa.String(length=32), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignee_counts")),
    )
    op.create_index("ix_assignee_counts_assignee", "assignee_counts", ["assignee"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TRIGGERS)
    # after the triggers: they lock ``cases`` against writers until this commits
    op.execute(
        "INSERT INTO assignee_counts (assignee, n) SELECT assignee, count(*) FROM cases "
        f"WHERE assignee IS NOT NULL AND status IN {OPEN} GROUP BY assignee"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BEFORE)
    op.drop_index("ix_assignee_counts_assignee", table_name="assignee_counts")
    op.drop_table("assignee_counts")
