"""Tables — The district platform (区级平台对接): the messages received from a linked
platform (so that a repeat is answered as the first was) and the cases this platform
handles for a linked platform (so that their status goes back)."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

district_received = sa.Table(
    "district_received",
    metadata,
    sa.Column("peer", sa.String(32), primary_key=True),
    sa.Column("message_id", sa.String(120), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), index=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("answer", sa.JSON, nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
)

district_links = sa.Table(
    "district_links",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False, unique=True),
    sa.Column("peer", sa.String(32), nullable=False),
    sa.Column("reply_to", sa.String(64), nullable=False),
    sa.Column("peer_number", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("message_id", sa.String(120), nullable=False),
    sa.Column("synced_status", sa.String(20)),
    sa.Column("synced_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("synced_at", UtcDateTime()),
)
