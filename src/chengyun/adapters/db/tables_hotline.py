"""Tables — 12345 hotline work orders and the address gazetteer."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

hotline_orders = sa.Table(
    "hotline_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(64), nullable=False, unique=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("deadline", UtcDateTime(), nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("category", sa.String(100), nullable=False, server_default=""),
    sa.Column("subclass", sa.String(5), nullable=False),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("lng", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("placement", sa.String(20), nullable=False),
    sa.Column("confidence", sa.Float),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("own_case_id", sa.Integer, sa.ForeignKey("cases.id")),
    sa.Column("signed_at", UtcDateTime()),
    sa.Column("contact_due_at", UtcDateTime()),
    sa.Column("contacted_at", UtcDateTime()),
    sa.Column("handle_due_at", UtcDateTime()),
    sa.Column("replied_at", UtcDateTime()),
    sa.Column("warnings", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
)
sa.Index("ix_hotline_orders_status", hotline_orders.c.status)
sa.Index("ix_hotline_orders_placement", hotline_orders.c.placement)
sa.Index("ix_hotline_orders_received_at", hotline_orders.c.received_at)

gazetteer_entries = sa.Table(
    "gazetteer_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("aliases", sa.JSON, nullable=False),
    sa.Column("lng", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("end_lng", sa.Float),
    sa.Column("end_lat", sa.Float),
    sa.Column("first", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last", sa.Integer, nullable=False, server_default="0"),
    sa.Column("parity", sa.String(10), nullable=False, server_default="all"),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint(
        "kind", "name", "first", "last", "parity", name="uq_gazetteer_entries_kind"
    ),
)
sa.Index("ix_gazetteer_entries_name", gazetteer_entries.c.name)
