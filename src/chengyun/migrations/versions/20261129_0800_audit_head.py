"""audit_head: the audit chain's head kept by a trigger (PostgreSQL)

Revision ID: 20261129_0800
Revises: 20261129_0700
Create Date: 2026-11-29 08:00

Every append to the audit chain — each batch of reports, each action — reads the chain's
last record in its turn on the chain, with every other process's appends waiting. On
PostgreSQL ``audit_log`` is partitioned by month (migration 20261127_1300) while its
records are ordered by id, so "the last record" was a backward walk of every month's
index, planned and locked partition by partition: 0.27 ms at 5 months and 0.56–1.8 ms at
125 on the benchmark machine in a slow hour (a ``SELECT 1`` took 0.21 ms, reading the head
row 0.22), growing with the years kept. ``audit_head`` holds the last record's id and hash
in one row; a statement trigger on ``audit_log`` moves it forward with each insert (a
group commit's COPY included; never backwards), and clears it when records are deleted or
the log truncated, so that the reader then falls back to the log itself. It starts from
the log's last record. The trigger adds about 0.05 ms to a batch's COPY of its records,
about what the walk of 5 months cost. SQLite's log is one table: the table is made there
too and stays empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261129_0800"
down_revision = "20261129_0700"
branch_labels = None
depends_on = None

TRIGGERS = """
CREATE FUNCTION audit_head_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_head (one, id, hash)
    SELECT true, id, hash FROM added ORDER BY id DESC LIMIT 1
    ON CONFLICT (one) DO UPDATE SET id = excluded.id, hash = excluded.hash
    WHERE excluded.id > audit_head.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION audit_head_cleared() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM audit_head;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_head_added AFTER INSERT ON audit_log
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION audit_head_added();
CREATE TRIGGER audit_head_removed AFTER DELETE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_head_cleared();
CREATE TRIGGER audit_head_truncated AFTER TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_head_cleared();

INSERT INTO audit_head (one, id, hash)
SELECT true, id, hash FROM audit_log ORDER BY id DESC LIMIT 1;
"""


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("one", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("one", name=op.f("ck_audit_head_one_row")),
        sa.PrimaryKeyConstraint("one", name=op.f("pk_audit_head")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger in ("audit_head_added", "audit_head_removed", "audit_head_truncated"):
            op.execute(f"DROP TRIGGER {trigger} ON audit_log")
        op.execute("DROP FUNCTION audit_head_added()")
        op.execute("DROP FUNCTION audit_head_cleared()")
    op.drop_table("audit_head")
