"""The PostgreSQL pool pings a connection only when it has been idle a while: one that
the server dropped meanwhile is replaced without failing the request; one back in use at
once costs no extra round trip (and, if it broke while busy, fails its request once
before the pool replaces it)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from chengyun.adapters.db import engine as engine_module
from tests.conftest import empty_postgresql


@pytest.fixture
def pg() -> Iterator[Engine]:
    with empty_postgresql("chengyun_pool") as engine:
        yield engine


def _backend(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _drop(engine: Engine, pid: int) -> None:
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as connection:
        assert connection.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    admin.dispose()


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of the pings the pool sends, as they are sent."""
    seen: list[bool] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        try:
            alive = ping(dbapi_connection)
        except Exception:
            seen.append(False)
            raise
        seen.append(alive)
        return alive

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def test_an_idle_connection_dropped_by_the_server_is_replaced_unseen(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pg)
    _drop(pg, first)
    pings = _pings(pg, monkeypatch)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # idle "long enough"
    assert _backend(pg) != first  # pinged, found dead, replaced: no error
    assert pings == [False]  # the new connection was not pinged


def test_a_connection_back_in_use_at_once_is_not_pinged(
    pg: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _backend(pg)
    pings = _pings(pg, monkeypatch)
    assert _backend(pg) == first and pings == []


def test_a_connection_dropped_while_in_use_fails_once_then_the_pool_recovers(
    pg: Engine,
) -> None:
    first = _backend(pg)
    _drop(pg, first)  # within the idle time: not pinged, so this request fails
    with pytest.raises(sa.exc.OperationalError), pg.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    assert _backend(pg) != first


def test_a_connection_gives_up_in_seconds_on_a_server_that_does_not_answer(pg: Engine) -> None:
    """A new connection waits at most ``CONNECT_TIMEOUT_S`` (the URL may say otherwise),
    and its data unacknowledged at most ``TCP_USER_TIMEOUT_MS``: a host gone (after a
    failover, say) fails the request in seconds instead of after the operating system's
    TCP timeouts."""
    sent: list[dict[str, object]] = []
    engine = engine_module.make_engine(pg.url.render_as_string(hide_password=False))
    sa.event.listen(engine, "do_connect", lambda _d, _r, _a, params: sent.append(dict(params)))
    _backend(engine)
    engine.dispose()
    assert sent[0]["connect_timeout"] == engine_module.CONNECT_TIMEOUT_S
    assert sent[0]["tcp_user_timeout"] == engine_module.TCP_USER_TIMEOUT_MS

    silent = socket.create_server(("127.0.0.1", 0))  # takes connections, never answers
    try:
        port = silent.getsockname()[1]
        url = pg.url.set(port=port).update_query_dict({"connect_timeout": "2"})
        hung = engine_module.make_engine(url.render_as_string(hide_password=False))
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError):
            hung.connect()
        assert time.monotonic() - started < 10  # libpq's 2 s, not minutes
        hung.dispose()
    finally:
        silent.close()
