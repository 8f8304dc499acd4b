"""Open311 GeoReport v2 applications (registered apps and their api keys)

Revision ID: 20261127_1200
Revises: 20261127_1100
Create Date: 2026-11-27 12:00
"""

from __future__ import annotations

revision = "20261127_1200"
down_revision = "20261127_1100"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
