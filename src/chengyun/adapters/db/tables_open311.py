"""Tables — Open311 GeoReport v2 applications (registered apps and their api keys) and the
requests they submitted (token, application, the client's idempotency key, media URL)."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

open311_applications = sa.Table(
    "open311_applications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime()),
    sa.Column("last_used_at", UtcDateTime()),
)

# A request's case is found through the core's idempotency key ``open311:<token>``, which
# report_case writes in the same transaction as the case: the two can never disagree.
open311_requests = sa.Table(
    "open311_requests",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column(
        "application_id",
        sa.Integer,
        sa.ForeignKey("open311_applications.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("client_key", sa.String(200)),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("media_url", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint(
        "application_id", "client_key", name="uq_open311_requests_application_id_client_key"
    ),
)
