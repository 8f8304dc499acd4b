"""Citizen QR codes: the shop registry

Revision ID: 20261127_1210
Revises: 20261127_1200
Create Date: 2026-11-27 12:10
"""

from __future__ import annotations

revision = "20261127_1210"
down_revision = "20261127_1200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
