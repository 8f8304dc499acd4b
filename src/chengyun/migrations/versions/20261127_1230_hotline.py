"""12345 hotline work orders and the address gazetteer

Revision ID: 20261127_1230
Revises: 20261127_1220
Create Date: 2026-11-27 12:30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1230"
down_revision = "20261127_1220"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotline_orders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("category", sa.String(length=100), server_default="", nullable=False),
        sa.Column("subclass", sa.String(length=5), nullable=False),
        sa.Column("address", sa.String(length=200), server_default="", nullable=False),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("placement", sa.String(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("own_case_id", sa.Integer(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contact_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handle_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warnings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_hotline_orders_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["own_case_id"], ["cases.id"], name=op.f("fk_hotline_orders_own_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotline_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_hotline_orders_number")),
    )
    with op.batch_alter_table("hotline_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotline_orders_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_hotline_orders_status", ["status"], unique=False)
        batch_op.create_index("ix_hotline_orders_placement", ["placement"], unique=False)
        batch_op.create_index("ix_hotline_orders_received_at", ["received_at"], unique=False)

    op.create_table(
        "gazetteer_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("end_lng", sa.Float(), nullable=True),
        sa.Column("end_lat", sa.Float(), nullable=True),
        sa.Column("first", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last", sa.Integer(), server_default="0", nullable=False),
        sa.Column("parity", sa.String(length=10), server_default="all", nullable=False),
        sa.Column("note", sa.String(length=200), server_default="", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gazetteer_entries")),
        sa.UniqueConstraint(
            "kind", "name", "first", "last", "parity", name=op.f("uq_gazetteer_entries_kind")
        ),
    )
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.create_index("ix_gazetteer_entries_name", ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gazetteer_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_gazetteer_entries_name")
    op.drop_table("gazetteer_entries")
    with op.batch_alter_table("hotline_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_hotline_orders_received_at")
        batch_op.drop_index("ix_hotline_orders_placement")
        batch_op.drop_index("ix_hotline_orders_status")
        batch_op.drop_index(batch_op.f("ix_hotline_orders_case_id"))
    op.drop_table("hotline_orders")
