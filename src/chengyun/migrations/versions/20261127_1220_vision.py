"""Video algorithms: cameras, scene mappings and alerts

Revision ID: 20261127_1220
Revises: 20261127_1210
Create Date: 2026-11-27 12:20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1220"
down_revision = "20261127_1210"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vision_cameras",
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("unit_code", sa.String(length=15), nullable=True),
        sa.Column("address", sa.String(length=200), server_default="", nullable=False),
        sa.Column("owner", sa.String(length=100), server_default="", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_vision_cameras")),
    )
    op.create_table(
        "vision_scenes",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("subclass", sa.String(length=5), nullable=False),
        sa.Column("name_zh", sa.String(length=60), nullable=False),
        sa.Column("name_en", sa.String(length=100), server_default="", nullable=False),
        sa.Column("min_confidence", sa.Float(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_vision_scenes")),
    )
    op.create_table(
        "vision_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("scene", sa.String(length=40), nullable=False),
        sa.Column("subclass", sa.String(length=5), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("bbox", sa.JSON(), nullable=True),
        sa.Column("photo_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("opened_case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["camera_id"],
            ["vision_cameras.camera_id"],
            name=op.f("fk_vision_alerts_camera_id_vision_cameras"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_vision_alerts_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["opened_case_id"], ["cases.id"], name=op.f("fk_vision_alerts_opened_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vision_alerts")),
        sa.UniqueConstraint("source", "alert_id", name="uq_vision_alerts_source_alert_id"),
    )
    with op.batch_alter_table("vision_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vision_alerts_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_vision_alerts_camera_scene", ["camera_id", "scene", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_vision_alerts_occurred_at", ["occurred_at"], unique=False)
    op.create_table(
        "vision_verdicts",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), server_default="", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_vision_verdicts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_vision_verdicts")),
    )


def downgrade() -> None:
    op.drop_table("vision_verdicts")
    with op.batch_alter_table("vision_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_vision_alerts_occurred_at")
        batch_op.drop_index("ix_vision_alerts_camera_scene")
        batch_op.drop_index(batch_op.f("ix_vision_alerts_case_id"))
    op.drop_table("vision_alerts")
    op.drop_table("vision_scenes")
    op.drop_table("vision_cameras")
