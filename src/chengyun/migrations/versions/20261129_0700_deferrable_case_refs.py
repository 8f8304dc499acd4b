"""case events, measure profiles, photos, Idempotency-Keys: their reference to the case
deferrable (PostgreSQL)

Revision ID: 20261129_0700
Revises: 20261127_1350
Create Date: 2026-11-29 07:00

A group commit (``services.cases.report_cases``) takes the case numbers and the audit
chain's turn together, just before it commits, and until then every other server
process's batch waits for that turn. The case rows must be written in it, with their
numbers; their events, measure profiles, photos and keys carry no number and are now
written before it (``SqlCaseRepository.write_ahead``), which needs their references to
``cases`` checked at the commit rather than as each row is written: ``DEFERRABLE
INITIALLY IMMEDIATE``, so that every other transaction still has them checked row by
row, and a batch defers them with ``SET CONSTRAINTS``. On the partitioned
``case_events`` PostgreSQL changes the partitions' constraints with their parent's.

SQLite writes a batch's rows in one transaction of its only writer: nothing waits for a
turn there, and its tables stay as they are.
"""

from __future__ import annotations

from alembic import op

revision = "20261129_0700"
down_revision = "20261127_1350"
branch_labels = None
depends_on = None

#: The references made deferrable, each ``fk_<table>_case_id_cases``.
TABLES = ("case_events", "case_measures", "case_photos", "idempotency_keys")


def _alter(deferrable: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT fk_{table}_case_id_cases {deferrable}")


def upgrade() -> None:
    _alter("DEFERRABLE INITIALLY IMMEDIATE")


def downgrade() -> None:
    _alter("NOT DEFERRABLE")
