"""While the read replica does not answer, its screens read from the primary: the case
list, the measures and the health check answer as before, the replica is not tried again
within ``read_replica_retry_seconds``, and once it answers again its screens go back to it.

The "replica" is a door on a port of its own in front of the test database: shut, it
takes each connection and closes it at once (as a PostgreSQL that is going down does);
open, it passes the connection through to the test database. (A real streaming standby:
``tests/e2e/test_read_replica.py``.)
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import load_demo
from chengyun.domain.cases import Channel
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import ReportCommand, report_case
from tests.conftest import _token_for
from tests.factories import CENTRE


class Door:
    """A TCP port in front of the test database: ``shut`` closes each connection as it
    comes, open passes it through. ``knocks`` counts the connections that came."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.shut = True
        self.knocks = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed: the test is over
                return
            self.knocks += 1
            if self.shut:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            end.close()


@pytest.fixture
def door(db: Engine) -> Iterator[Door]:
    if db.dialect.name != "postgresql":
        pytest.skip("a read replica is a PostgreSQL standby")
    door = Door((str(db.url.host), int(db.url.port or 5432)))
    yield door
    door.close()


def _platform(
    db: Engine, door: Door, clock: DrivenClock, tmp_path: Path, retry_s: float
) -> Platform:
    replica = db.url.set(port=door.port).render_as_string(hide_password=False)
    settings = Settings(
        mode="test",
        data_dir=tmp_path,
        database_url=db.url.render_as_string(hide_password=False),
        read_database_url=replica,
        read_replica_retry_seconds=retry_s,
        territory_refresh_seconds=0,
    )
    platform = Platform(settings, clock=clock, engine_override=db)
    load_demo(platform.uow(), platform.clock)
    return platform


def _reported(platform: Platform) -> int:
    command = ReportCommand(
        channel=Channel.CITIZEN_QR, subclass="E0102", lng=CENTRE[0], lat=CENTRE[1]
    )
    return report_case(platform.uow(), platform.cases, command).record.id


def _read(client: TestClient) -> set[int]:
    """The case list and the measures, both on the replica's side: the cases listed."""
    listed = client.get("/api/v1/cases")
    assert listed.status_code == 200, listed.text
    measures = client.get("/api/v1/measures")
    assert measures.status_code == 200, measures.text
    return {item["id"] for item in listed.json()["items"]}


def _client(platform: Platform) -> TestClient:
    client = TestClient(create_app(platform=platform), raise_server_exceptions=False)
    client.headers.update(
        _token_for(platform, "test-admin", role="administrator", scope_kind="sub_district")
    )
    return client


def test_a_replica_that_does_not_answer_leaves_its_screens_on_the_primary(
    db: Engine, door: Door, clock: DrivenClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    platform = _platform(db, door, clock, tmp_path, retry_s=3600)
    case_id = _reported(platform)
    with _client(platform) as client, caplog.at_level(logging.WARNING):
        assert _read(client) == {case_id}  # from the primary
        assert door.knocks == 1  # tried once, then not again within the hour
        assert _read(client) == {case_id}
        health = client.get("/api/v1/health")
        assert door.knocks == 1
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["database"] == "ok"
    assert health.json()["replica"].startswith("down (OperationalError")
    assert "reading from the primary" in health.json()["replica"]
    warned = [
        r for r in caplog.records if "read replica is unreachable or behind" in r.getMessage()
    ]
    assert len(warned) == 1, caplog.text
    platform.read_engine.dispose()


def test_its_screens_go_back_to_the_replica_once_it_answers(
    db: Engine, door: Door, clock: DrivenClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    platform = _platform(db, door, clock, tmp_path, retry_s=0)  # tried again at every read
    case_id = _reported(platform)
    with _client(platform) as client, caplog.at_level(logging.WARNING):
        assert _read(client) == {case_id}
        assert client.get("/api/v1/health").json()["replica"].startswith("down (")
        tried = door.knocks
        assert tried >= 2  # the list and the measures each tried it
        door.shut = False
        assert _read(client) == {case_id}  # through the door, from the "replica"
        assert door.knocks > tried
        assert platform.replica is not None and not platform.replica.down
        assert client.get("/api/v1/health").json()["replica"] == "ok"
    back = [r for r in caplog.records if "read replica answers again" in r.getMessage()]
    assert len(back) == 1, caplog.text
    platform.read_engine.dispose()


def test_without_a_replica_the_health_check_names_none(client: TestClient) -> None:
    answer = client.get("/api/v1/health").json()
    assert answer == {"status": "ok", "database": "ok"}
