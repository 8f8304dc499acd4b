"""cases: the look-up of earlier open cases near a report narrowed by latitude

Revision ID: 20261127_1350
Revises: 20261127_1340
Create Date: 2026-11-27 13:50

Every report asks for the open cases of its subclass reported within the duplicate
window inside a small box around it (50 m: ``_NEARBY_OPEN``, and ``_NEARBY_MANY`` for a
batch). ``ix_cases_subclass_status (subclass, status)`` gave only the subclass and status,
so every open case of the subclass was read and its position compared; at 100,000 open
cases PostgreSQL chose to read the whole table instead (about 30 ms for a batch of eight
reports). ``ix_cases_subclass_status_lat (subclass, status, lat)`` gives the box's
latitude too (about 0.2 ms), and replaces the index it extends, so that no query that
used the old one loses it and no write maintains one index more.
"""

from __future__ import annotations

from alembic import op

revision = "20261127_1350"
down_revision = "20261127_1340"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_cases_subclass_status_lat", "cases", ["subclass", "status", "lat"], unique=False
    )
    op.drop_index("ix_cases_subclass_status", table_name="cases")


def downgrade() -> None:
    op.create_index("ix_cases_subclass_status", "cases", ["subclass", "status"], unique=False)
    op.drop_index("ix_cases_subclass_status_lat", table_name="cases")
