"""Engines for SQLite (the demo and small installs) and PostgreSQL, and schema upgrade."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pydantic_core import to_json
from sqlalchemy.engine import Engine

#: How long a new PostgreSQL connection may take before it fails (libpq's minimum is 2).
CONNECT_TIMEOUT_S = 10
#: How long data sent to PostgreSQL may go unacknowledged before the connection fails.
TCP_USER_TIMEOUT_MS = 30_000


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
    # At most 15 connections a process, as SQLAlchemy's default (5 kept, 10 more on demand),
    # but all of them kept: with the default, the 10 were closed as they came back and
    # opened again under load — at 32 requests in flight, a new database session (a new
    # PostgreSQL backend, its caches cold) for one case detail in five.
    kwargs.setdefault("pool_size", 15)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("json_serializer", json_text)
    # A server that does not answer fails the request (503) in seconds, not minutes: a
    # connection not made within CONNECT_TIMEOUT_S, and one whose data goes unacknowledged
    # for TCP_USER_TIMEOUT_MS (the host gone, say after a failover), give up. Without
    # them a request waits for the operating system's TCP timeouts (15 minutes for data).
    # The URL's own values win (``?connect_timeout=…``).
    limits = {"connect_timeout": CONNECT_TIMEOUT_S, "tcp_user_timeout": TCP_USER_TIMEOUT_MS}
    connect_args = {
        **{k: v for k, v in limits.items() if k not in parsed.query},
        **kwargs.pop("connect_args", {}),
    }
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def json_text(value: Any) -> str:
    """A JSON column's value as written to PostgreSQL: pydantic-core's serializer (a
    case's clocks in 3 µs, where ``json.dumps`` took 16; a case writes about a dozen JSON
    values); Chinese as it is rather than in ``\\u`` escapes, the same values read back."""
    return to_json(value).decode()


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use when it has been idle a while, so that one
    dropped by a database restart or a firewall is replaced instead of failing a request.
    SQLAlchemy's ``pool_pre_ping`` pings before every use: one more round trip for every
    request, which under load (a connection back in use within milliseconds) only costs.
    A connection that breaks while busy still fails its request once (a 503 the client
    retries), and SQLAlchemy then replaces every connection of the pool."""

    @sa.event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine.pool, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or back in use at once
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise sa.exc.DisconnectionError(str(error)) from error
        if not alive:
            raise sa.exc.DisconnectionError("the connection did not answer a ping")


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
