"""The district platform: exchanged messages

Revision ID: 20261127_1240
Revises: 20261127_1230
Create Date: 2026-11-27 12:40
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1240"
down_revision = "20261127_1230"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "district_received",
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_district_received_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("peer", "message_id", name=op.f("pk_district_received")),
    )
    with op.batch_alter_table("district_received", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_district_received_case_id"), ["case_id"], unique=False)
    op.create_table(
        "district_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("reply_to", sa.String(length=64), nullable=False),
        sa.Column("peer_number", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=120), nullable=False),
        sa.Column("synced_status", sa.String(length=20), nullable=True),
        sa.Column("synced_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_district_links_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_links")),
        sa.UniqueConstraint("case_id", name=op.f("uq_district_links_case_id")),
    )


def downgrade() -> None:
    op.drop_table("district_links")
    with op.batch_alter_table("district_received", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_district_received_case_id"))
    op.drop_table("district_received")
