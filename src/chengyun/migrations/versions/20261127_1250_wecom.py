"""Government WeChat (政务微信) and SMS: staff accounts and tokens

Revision ID: 20261127_1250
Revises: 20261127_1240
Create Date: 2026-11-27 12:50
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1250"
down_revision = "20261127_1240"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wecom_access_tokens",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=512), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "agent", name=op.f("pk_wecom_access_tokens")),
    )
    op.create_table(
        "wecom_users",
        sa.Column("person_number", sa.String(length=32), nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_number", name=op.f("pk_wecom_users")),
        sa.UniqueConstraint("userid", name=op.f("uq_wecom_users_userid")),
    )


def downgrade() -> None:
    op.drop_table("wecom_users")
    op.drop_table("wecom_access_tokens")
