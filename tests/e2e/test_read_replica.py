"""The read-heavy screens read from a replica (``CHENGYUN_READ_DATABASE_URL``): a real
PostgreSQL streaming standby of a private primary, made with ``pg_basebackup``. While the
standby's replay is paused, the case list and the measures do not yet show a new report
that the primary already holds; once replay resumes, they do. While the standby is down,
they answer from the primary, and go back to the standby once it is up again."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from chengyun.adapters.db.engine import make_engine, upgrade
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import DEMO_GATEWAY, DEMO_PASSWORD, load_demo
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from tests.e2e.test_faults import Cluster, _free_port
from tests.factories import CENTRE, report

pytestmark = pytest.mark.slow


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def standby(cluster: Cluster) -> Iterator[Cluster]:
    """A hot standby of ``cluster``, streaming from it, on a port of its own."""
    root = cluster.data.parent / "standby"
    root.mkdir()
    if cluster.as_postgres:
        shutil.chown(root, "postgres", "postgres")
    node = Cluster(cluster.bindir, root, _free_port())
    cluster.run(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(cluster.port),
        "-U",
        "postgres",
        "-D",
        str(node.data),
        "-R",  # writes standby.signal and primary_conninfo
        "-X",
        "stream",
        "--no-sync",
    )
    node.ctl("start")
    try:
        yield node
    finally:
        node.ctl("stop", "-m", "immediate")


def _caught_up(primary: Cluster, replica: Cluster, seconds: float = 30) -> None:
    """Wait until the standby has replayed everything the primary has written."""
    with psycopg.connect(_dsn(primary.url), autocommit=True) as p:
        (target,) = p.execute("SELECT pg_current_wal_lsn()").fetchone() or ("",)
    deadline = time.monotonic() + seconds
    with psycopg.connect(_dsn(replica.url), autocommit=True) as r:
        while True:
            (done,) = r.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone() or (False,)
            if done:
                return
            assert time.monotonic() < deadline, "the standby did not catch up"
            time.sleep(0.05)  # waiting for another process, not for a timer of ours


def _platform(cluster: Cluster, standby: Cluster, tmp_path: Path, **settings: Any) -> Platform:
    """The demo sub-district on ``cluster``, read from ``standby``."""
    engine = make_engine(cluster.url)
    upgrade(engine)
    load_demo(SqlUnitOfWork(engine))
    engine.dispose()
    return Platform(
        Settings(
            mode="test",
            data_dir=tmp_path,
            database_url=cluster.url,
            read_database_url=standby.url,
            territory_refresh_seconds=0,
            **settings,
        ),
        clock=DrivenClock(datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)),
    )


def test_lists_and_measures_come_from_the_replica(
    cluster: Cluster, standby: Cluster, tmp_path: Path
) -> None:
    platform = _platform(cluster, standby, tmp_path)
    clock = platform.clock
    assert platform.read_engine.url.port == standby.port != platform.engine.url.port
    with TestClient(create_app(platform=platform)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        gateway = client.post(
            "/api/v1/auth/token", data={"username": DEMO_GATEWAY, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        reporter = {"Authorization": f"Bearer {gateway}"}

        def reported(dx: float) -> int:
            body = report(
                channel="hotline",
                observed_at=None,
                position={"lng": CENTRE[0] + dx, "lat": CENTRE[1], "crs": "wgs84"},
            )
            answer = client.post("/api/v1/cases", json=body, headers=reporter)
            assert answer.status_code == 201, answer.text
            return int(answer.json()["id"])

        def listed() -> set[int]:
            answer = client.get("/api/v1/cases", headers=admin)
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()["items"]}

        def found() -> int:
            day = clock.now().date().isoformat()
            figures = client.get(
                "/api/v1/measures", params={"from": day, "to": day}, headers=admin
            ).json()["measures"]
            return int(figures["intelligent_discovery_share"]["denominator"])

        first = reported(0.0)
        _caught_up(cluster, standby)
        assert listed() == {first} and found() == 1
        with psycopg.connect(_dsn(standby.url), autocommit=True) as r:
            r.execute("SELECT pg_wal_replay_pause()")
            second = reported(0.003)
            assert client.get(f"/api/v1/cases/{second}", headers=admin).status_code == 200
            assert listed() == {first} and found() == 1  # the replica has not replayed it yet
            r.execute("SELECT pg_wal_replay_resume()")
        _caught_up(cluster, standby)
        assert listed() == {first, second} and found() == 2
    platform.engine.dispose()
    platform.read_engine.dispose()


def test_while_the_standby_is_down_lists_and_measures_answer_from_the_primary(
    cluster: Cluster, standby: Cluster, tmp_path: Path
) -> None:
    # the replica tried again at every read
    platform = _platform(cluster, standby, tmp_path, read_replica_retry_seconds=0)

    def on_standby() -> bool:
        with platform.read_uow() as uow:
            return bool(uow.connection.exec_driver_sql("SELECT pg_is_in_recovery()").scalar())

    with TestClient(create_app(platform=platform)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "admin", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}

        def answered() -> None:
            for path in ("/api/v1/cases", "/api/v1/measures"):
                answer = client.get(path, headers=admin)
                assert answer.status_code == 200, (path, answer.text)

        answered()
        assert on_standby()
        standby.ctl("stop", "-m", "fast")
        try:
            answered()
            assert not on_standby()  # the primary
            health = client.get("/api/v1/health").json()
            assert health["status"] == "ok" and health["replica"].startswith("down (")
        finally:
            standby.ctl("start")
        answered()
        assert on_standby()
        assert client.get("/api/v1/health").json()["replica"] == "ok"
    platform.engine.dispose()
    platform.read_engine.dispose()


def test_a_standby_too_far_behind_leaves_its_screens_on_the_primary(
    cluster: Cluster, standby: Cluster, tmp_path: Path
) -> None:
    """A standby that answers but whose replay stopped is behind the primary by the time
    since the last transaction it replayed: beyond ``read_replica_max_lag_seconds`` its
    screens read from the primary (and show the newest report), until it catches up."""
    platform = _platform(
        cluster, standby, tmp_path, read_replica_retry_seconds=0, read_replica_max_lag_seconds=0
    )
    with TestClient(create_app(platform=platform)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": DEMO_GATEWAY, "password": DEMO_PASSWORD}
        ).json()["access_token"]
        gateway = {"Authorization": f"Bearer {token}"}

        def reported() -> int:
            answer = client.post(
                "/api/v1/cases", json=report(channel="hotline", observed_at=None), headers=gateway
            )
            assert answer.status_code == 201, answer.text
            return int(answer.json()["id"])

        def listed() -> set[int]:
            answer = client.get("/api/v1/cases", headers=gateway)
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()["items"]}

        first = reported()
        _caught_up(cluster, standby)
        assert listed() == {first}
        assert client.get("/api/v1/health").json()["replica"] == "ok"
        with psycopg.connect(_dsn(standby.url), autocommit=True) as r:
            r.execute("SELECT pg_wal_replay_pause()")
            second = reported()
            assert listed() == {first, second}  # the standby has not replayed it: the primary
            health = client.get("/api/v1/health").json()["replica"]
            assert health.startswith("down (") and "behind the primary" in health, health
            r.execute("SELECT pg_wal_replay_resume()")
        _caught_up(cluster, standby)
        assert listed() == {first, second}
        assert platform.replica is not None and not platform.replica.down
    platform.engine.dispose()
    platform.read_engine.dispose()
