"""Case measure profiles (考核画像): one narrow row per case that the measures add up

Revision ID: 20261127_1255
Revises: 20261127_1250
Create Date: 2026-11-27 12:55

The profiles of the cases already stored are computed from their facts columns by the
platform's own rules (``adapters.db.case_measures.rebuild_profiles``), in this migration's
transaction; ``chengyun measures rebuild`` does the same later if ever needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1255"
down_revision = "20261127_1250"
branch_labels = None
depends_on = None

ANCHORS = (
    "found",
    "reported",
    "close_due",
    "handle_due",
    "dispatched",
    "handle_started",
    "register_due",
    "dispatch_due",
    "handled",
)
WEIGHTED = ("return_rate", "rework_rate", "dispatch_accuracy")


def upgrade() -> None:
    op.create_table(
        "case_measures",
        sa.Column("case_id", sa.Integer(), nullable=False),
        *(sa.Column(f"{anchor}_at", sa.DateTime(timezone=True)) for anchor in ANCHORS),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        *(sa.Column(f"{anchor}_day", sa.Integer()) for anchor in (*ANCHORS, "closed")),
        sa.Column("bits", sa.BigInteger(), nullable=False),
        *(
            sa.Column(f"{measure}_{part}", sa.Integer(), nullable=False)
            for measure in WEIGHTED
            for part in ("numerator", "denominator")
        ),
        sa.Column("handling_us", sa.BigInteger()),
        sa.Column("grid_code", sa.String(length=15)),
        sa.Column("unit_code", sa.String(length=15)),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("subclass", sa.String(length=5), nullable=False),
        sa.Column("responsible", sa.String(length=30)),
        sa.Column("reporter", sa.String(length=64)),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_measures_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_measures")),
    )
    from chengyun.adapters.db.case_measures import rebuild_profiles

    rebuild_profiles(op.get_bind())


def downgrade() -> None:
    op.drop_table("case_measures")
