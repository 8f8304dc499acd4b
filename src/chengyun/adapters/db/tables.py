"""Table definitions (SQLAlchemy Core). The schema itself is built by the migrations;
these mirror them for queries."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

territory_meta = sa.Table(
    "territory_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(15), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("illustrative", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

grids = sa.Table(
    "grids",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("live_from", sa.Date, nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

units = sa.Table(
    "units",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("grid_code", sa.String(15), sa.ForeignKey("grids.code"), nullable=False, index=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("key", sa.Boolean, nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("code", sa.String(15), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False, server_default=""),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("geometry", sa.JSON, nullable=False),
)

people = sa.Table(
    "people",
    metadata,
    sa.Column("number", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("phone", sa.String(20), nullable=False),
    sa.Column("post", sa.String(30), nullable=False),
    sa.Column("team", sa.String(30)),
    sa.Column("department", sa.String(30)),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "number",
        sa.String(32),
        sa.ForeignKey("people.number", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("shift", sa.String(10), nullable=False),
    sa.Column("grid_code", sa.String(15), sa.ForeignKey("grids.code")),
    sa.Column("unit_code", sa.String(15), sa.ForeignKey("units.code")),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
)
