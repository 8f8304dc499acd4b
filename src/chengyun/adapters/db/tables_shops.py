"""Tables — Citizen QR codes: the shop registry and the citizen reports made from it."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

shops = sa.Table(
    "shops",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(20), nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("grid_code", sa.String(15), nullable=False),
    sa.Column("unit_code", sa.String(15), nullable=False, index=True),
    sa.Column("key_version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("token_expires_at", UtcDateTime(), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

citizen_reports = sa.Table(
    "citizen_reports",
    metadata,
    sa.Column("follow_token", sa.String(43), primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, unique=True),
    sa.Column("shop_id", sa.Integer, sa.ForeignKey("shops.id"), nullable=False, index=True),
    sa.Column("citizen_id", sa.Integer, sa.ForeignKey("citizens.id"), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)
