"""Citizen QR codes: the shop registry

Revision ID: 20261127_1210
Revises: 20261127_1200
Create Date: 2026-11-27 12:10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1210"
down_revision = "20261127_1200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), server_default="", nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("unit_code", sa.String(length=15), nullable=False),
        sa.Column("key_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("code", name=op.f("uq_shops_code")),
    )
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shops_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "citizen_reports",
        sa.Column("follow_token", sa.String(length=43), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_citizen_reports_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["citizens.id"], name=op.f("fk_citizen_reports_citizen_id_citizens")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_citizen_reports_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("follow_token", name=op.f("pk_citizen_reports")),
        sa.UniqueConstraint("case_id", name=op.f("uq_citizen_reports_case_id")),
    )
    with op.batch_alter_table("citizen_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_citizen_reports_shop_id"), ["shop_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("citizen_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_citizen_reports_shop_id"))
    op.drop_table("citizen_reports")
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shops_unit_code"))
    op.drop_table("shops")
