"""Territory (grids, units, areas) and forces (people, day/night assignments).

Revision ID: 20261127_0600
Revises:
Create Date: 2026-11-27 06:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261127_0600"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "territory_meta",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
        sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_territory_meta"),
    )
    op.create_table(
        "grids",
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
        sa.Column("live_from", sa.Date, nullable=False),
        sa.Column("geometry", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_grids"),
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.Boolean, nullable=False),
        sa.Column("geometry", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_units"),
        sa.ForeignKeyConstraint(["grid_code"], ["grids.code"], name="fk_units_grid_code_grids"),
    )
    op.create_index("ix_units_grid_code", "units", ["grid_code"])
    op.create_table(
        "areas",
        sa.Column("code", sa.String(15), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("geometry", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_areas"),
    )
    op.create_table(
        "people",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("post", sa.String(30), nullable=False),
        sa.Column("team", sa.String(30)),
        sa.Column("department", sa.String(30)),
        sa.PrimaryKeyConstraint("number", name="pk_people"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("shift", sa.String(10), nullable=False),
        sa.Column("grid_code", sa.String(15)),
        sa.Column("unit_code", sa.String(15)),
        sa.Column("note", sa.String(200), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
        sa.ForeignKeyConstraint(
            ["number"],
            ["people.number"],
            name="fk_assignments_number_people",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"], ["grids.code"], name="fk_assignments_grid_code_grids"
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name="fk_assignments_unit_code_units"
        ),
    )
    op.create_index("ix_assignments_number", "assignments", ["number"])


def downgrade() -> None:
    op.drop_index("ix_assignments_number", table_name="assignments")
    op.drop_table("assignments")
    op.drop_table("people")
    op.drop_table("areas")
    op.drop_index("ix_units_grid_code", table_name="units")
    op.drop_table("units")
    op.drop_table("grids")
    op.drop_table("territory_meta")
