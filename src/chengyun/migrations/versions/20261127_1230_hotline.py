"""12345 hotline work orders and the address gazetteer

Revision ID: 20261127_1230
Revises: 20261127_1220
Create Date: 2026-11-27 12:30
"""

from __future__ import annotations

revision = "20261127_1230"
down_revision = "20261127_1220"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
