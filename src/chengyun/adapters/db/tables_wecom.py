"""Tables — Government WeChat (政务微信) and SMS: staff accounts and tokens."""

from __future__ import annotations

import sqlalchemy as sa

from chengyun.adapters.db.tables import UtcDateTime, metadata

#: The access token of each corp and application, shared by the platform's processes so
#: that they do not each ask for one (gettoken is rate-limited).
wecom_access_tokens = sa.Table(
    "wecom_access_tokens",
    metadata,
    sa.Column("corp_id", sa.String(64), primary_key=True),
    sa.Column("agent", sa.String(32), primary_key=True),
    sa.Column("token", sa.String(512), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

#: A person's user id in government WeChat when it is not their person number.
wecom_users = sa.Table(
    "wecom_users",
    metadata,
    sa.Column("person_number", sa.String(32), primary_key=True),
    sa.Column("userid", sa.String(64), nullable=False, unique=True),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
