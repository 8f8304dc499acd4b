"""Revision counters of data the processes cache (forces, taxonomy).

Revision ID: 20261127_1000
Revises: 20261127_0900
Create Date: 2026-11-27 10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1000"
down_revision = "20261127_0900"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_revisions")),
    )


def downgrade() -> None:
    op.drop_table("revisions")
