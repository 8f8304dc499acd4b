"""Engines for SQLite (the demo and small installs) and PostgreSQL, and schema upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs (foreign keys and WAL on SQLite)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # At most 15 connections a process, as SQLAlchemy's default (5 kept, 10 more on demand),
    # but all of them kept: with the default, the 10 were closed as they came back and
    # opened again under load — at 32 requests in flight, a new database session (a new
    # PostgreSQL backend, its caches cold) for one case detail in five.
    kwargs.setdefault("pool_size", 15)
    kwargs.setdefault("max_overflow", 0)
    return sa.create_engine(url, **kwargs)


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "chengyun:migrations")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` by running the migrations."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
