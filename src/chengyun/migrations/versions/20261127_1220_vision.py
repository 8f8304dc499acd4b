"""Video algorithms: cameras, scene mappings and alerts

Revision ID: 20261127_1220
Revises: 20261127_1210
Create Date: 2026-11-27 12:20
"""

from __future__ import annotations

revision = "20261127_1220"
down_revision = "20261127_1210"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
