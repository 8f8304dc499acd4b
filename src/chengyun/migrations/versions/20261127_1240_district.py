"""The district platform: exchanged messages

Revision ID: 20261127_1240
Revises: 20261127_1230
Create Date: 2026-11-27 12:40
"""

from __future__ import annotations

revision = "20261127_1240"
down_revision = "20261127_1230"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
