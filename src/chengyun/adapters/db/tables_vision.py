"""Tables — Video algorithms: cameras, scene mappings, alerts and verdicts."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

vision_cameras = sa.Table(
    "vision_cameras",
    metadata,
    sa.Column("camera_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("grid_code", sa.String(15)),
    sa.Column("unit_code", sa.String(15)),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("owner", sa.String(100), nullable=False, server_default=""),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

vision_scenes = sa.Table(
    "vision_scenes",
    metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("subclass", sa.String(5), nullable=False),
    sa.Column("name_zh", sa.String(60), nullable=False),
    sa.Column("name_en", sa.String(100), nullable=False, server_default=""),
    sa.Column("min_confidence", sa.Float, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

vision_alerts = sa.Table(
    "vision_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("alert_id", sa.String(64), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("event", sa.String(10), nullable=False),
    sa.Column(
        "camera_id", sa.String(64), sa.ForeignKey("vision_cameras.camera_id"), nullable=False
    ),
    sa.Column("scene", sa.String(40), nullable=False),
    sa.Column("subclass", sa.String(5), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("bbox", sa.JSON),
    sa.Column("photo_id", sa.String(32)),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("opened_case_id", sa.Integer, sa.ForeignKey("cases.id")),
    sa.UniqueConstraint("source", "alert_id", name="uq_vision_alerts_source_alert_id"),
)
sa.Index(
    "ix_vision_alerts_camera_scene",
    vision_alerts.c.camera_id,
    vision_alerts.c.scene,
    vision_alerts.c.occurred_at,
)
sa.Index("ix_vision_alerts_occurred_at", vision_alerts.c.occurred_at)

vision_verdicts = sa.Table(
    "vision_verdicts",
    metadata,
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), primary_key=True),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("at", UtcDateTime(), nullable=False),
)
