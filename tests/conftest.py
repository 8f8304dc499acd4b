"""Shared fixtures: real databases built by the migrations, on SQLite and PostgreSQL.

Every test that asks for ``engine`` runs once per backend. PostgreSQL is found at
``CHENGYUN_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``,
an administrative connection used to create and drop a database of its own). Without
a reachable server the PostgreSQL runs are skipped, except under ``CI=true``, where
they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from chengyun.adapters.db.engine import make_engine, upgrade
from chengyun.adapters.db.tables import metadata
from chengyun.adapters.geo.geojson import territory_from_geojson
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import demo_territory_geojson, load_demo
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token, provision_accounts
from chengyun.services.records import NewAccount

PG_URL = os.environ.get(
    "CHENGYUN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENABLE_PG = (
    "PostgreSQL tests skipped: no server at {url} ({reason}). To run them, start PostgreSQL "
    "and set CHENGYUN_TEST_PG_URL=postgresql+psycopg://USER@HOST:PORT/postgres "
    "(a role that may CREATE DATABASE)."
)


def _pg_admin() -> Engine:
    engine = sa.create_engine(
        PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        message = ENABLE_PG.format(url=PG_URL, reason=type(exc).__name__)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but " + message, pytrace=False)
        pytest.skip(message)
    return engine


@contextmanager
def empty_postgresql(prefix: str = "chengyun_test") -> Iterator[Engine]:
    """A new, empty PostgreSQL database under a random name, dropped afterwards (skips, or
    fails under CI, when no server answers)."""
    admin = _pg_admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(sa.make_url(PG_URL).set(database=name).render_as_string(False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database built by the migrations; one per backend for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "chengyun.sqlite3"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    with empty_postgresql() as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The session's database, emptied after each test."""
    yield engine
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def clock() -> DrivenClock:
    return DrivenClock(datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ))


@pytest.fixture
def platform(db: Engine, clock: DrivenClock, tmp_path: Path) -> Platform:
    settings = Settings(
        mode="test",
        data_dir=tmp_path,
        database_url=db.url.render_as_string(hide_password=False),
        territory_refresh_seconds=0,
    )
    return Platform(settings, clock=clock, engine_override=db)


def _token_for(platform: Platform, username: str, **new: str) -> dict[str, str]:
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    if account is None:
        provision_accounts(platform.uow(), platform.clock, [NewAccount(username, None, **new)])
        with platform.uow() as uow:
            account = uow.accounts.by_username(username)
    assert account is not None, username
    raw, _ = issue_token(platform.uow(), platform.clock, account, "test")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def anonymous(platform: Platform) -> Iterator[TestClient]:
    """A client that has not signed in."""
    with TestClient(create_app(platform=platform), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """A client signed in as an administrator; ``client.headers_for(username)`` gives the headers
    of another account (a demo person's number, ``gateway``, ``assessor``…)."""
    cache: dict[str, dict[str, str]] = {}

    def auth(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = _token_for(platform, username)
        return cache[username]

    with TestClient(create_app(platform=platform), raise_server_exceptions=False) as client:
        client.headers.update(
            _token_for(platform, "test-admin", role="administrator", scope_kind="sub_district")
        )
        client.headers_for = auth  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="session")
def demo_geojson() -> dict:
    return demo_territory_geojson()


@pytest.fixture(scope="session")
def demo_territory(demo_geojson: dict) -> Territory:
    return territory_from_geojson(demo_geojson)


@pytest.fixture
def demo(platform: Platform) -> Platform:
    """A platform holding the demo sub-district (territory, forces, accounts)."""
    load_demo(platform.uow(), platform.clock)
    return platform


@pytest.fixture
def rollbacks(platform: Platform) -> Iterator[list[str]]:
    """The ROLLBACKs that reach the database while the test runs (clear it to start
    counting). A connection in no transaction is "rolled back" by SQLAlchemy too, and
    the driver then sends nothing; on PostgreSQL each one sent makes psycopg forget the
    connection's prepared statements, so the hot paths should send none."""
    seen: list[str] = []

    def rolled_back(connection: sa.Connection) -> None:
        driver = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            open_ = driver.info.transaction_status != 0  # psycopg's IDLE
        else:
            open_ = driver.in_transaction
        if open_:
            seen.append("rollback")

    sa.event.listen(platform.engine, "rollback", rolled_back)
    yield seen
    sa.event.remove(platform.engine, "rollback", rolled_back)
