"""Government WeChat (政务微信) and SMS: staff accounts and tokens

Revision ID: 20261127_1250
Revises: 20261127_1240
Create Date: 2026-11-27 12:50
"""

from __future__ import annotations

revision = "20261127_1250"
down_revision = "20261127_1240"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
