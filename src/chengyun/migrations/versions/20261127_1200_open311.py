"""Open311 GeoReport v2 applications (registered apps and their api keys)

Revision ID: 20261127_1200
Revises: 20261127_1100
Create Date: 2026-11-27 12:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_1200"
down_revision = "20261127_1100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open311_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_open311_applications")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_open311_applications_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_open311_applications_name")),
    )
    op.create_table(
        "open311_requests",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("client_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("media_url", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["open311_applications.id"],
            name=op.f("fk_open311_requests_application_id_open311_applications"),
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_open311_requests")),
        sa.UniqueConstraint(
            "application_id",
            "client_key",
            name="uq_open311_requests_application_id_client_key",
        ),
    )
    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_open311_requests_application_id"), ["application_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("open311_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_open311_requests_application_id"))

    op.drop_table("open311_requests")
    op.drop_table("open311_applications")
