"""No lost data: while phones keep reporting (each report with its idempotency key,
retrying on failure), PostgreSQL is restarted under the running server. Afterwards every
acknowledged report exists exactly once and the service recovered by itself.

Runs a private PostgreSQL cluster (initdb in a temporary folder on a free port), so that
restarting it disturbs nothing else on the machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from chengyun.adapters.db.engine import make_engine, upgrade
from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
from chengyun.demo.loader import DEMO_PASSWORD, load_demo

pytestmark = pytest.mark.slow
REPORTS = 120
CLIENTS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """A throw-away PostgreSQL server of our own."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.data, self.port = bindir, root / "data", port
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        self.run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.data.parent / "log")
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-t", "60", *args)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _pg_bin()
    if bindir is None:
        message = "fault tests need PostgreSQL's server binaries (initdb, pg_ctl)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="chengyun-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    node = Cluster(bindir, root, _free_port())
    node.init()
    node.ctl("start")
    try:
        yield node
    finally:
        try:
            node.ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_restarting_postgresql_loses_and_doubles_no_report(
    cluster: Cluster, tmp_path: Path
) -> None:
    engine = make_engine(cluster.url)
    upgrade(engine)
    load_demo(SqlUnitOfWork(engine))
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "CHENGYUN_DATABASE_URL": cluster.url,
        "CHENGYUN_DATA_DIR": str(tmp_path),
        "CHENGYUN_MODE": "development",
    }
    server = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "chengyun"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base)
        token = httpx.post(
            f"{base}/api/v1/auth/token", json={"username": "gateway", "password": DEMO_PASSWORD}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        acknowledged: dict[str, int] = {}
        attempts = {"failed": 0}
        lock = threading.Lock()
        restarted = threading.Event()
        problems: list[str] = []

        def phone(worker: int) -> None:
            try:
                report_all(worker)
            except BaseException as exc:  # surfaced below, with the others
                problems.append(f"{type(exc).__name__}: {exc}")

        def report_all(worker: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                for i in range(worker, REPORTS, CLIENTS):
                    key = f"fault-{uuid.uuid4().hex}"
                    body = {
                        "channel": "hotline",
                        "subclass": "E0102",
                        "description": f"report {i}",
                        "position": {"lng": 121.110 + i * 1e-5, "lat": 31.150},
                    }
                    for _ in range(200):  # a phone keeps trying until it gets an answer
                        try:
                            answer = client.post(
                                "/api/v1/cases", json=body, headers={"Idempotency-Key": key}
                            )
                        except httpx.TransportError:
                            answer = None
                        if answer is not None and answer.status_code in (200, 201):
                            with lock:
                                acknowledged[key] = answer.json()["id"]
                            break
                        assert answer is None or answer.status_code in (500, 502, 503), (
                            answer.status_code,
                            answer.text,
                        )
                        with lock:
                            attempts["failed"] += 1
                        time.sleep(0.1)
                    else:
                        raise AssertionError(f"report {i} never got through")
                    if len(acknowledged) >= REPORTS // 3 and not restarted.is_set():
                        with lock:
                            mine = not restarted.is_set()
                            restarted.set()
                        if mine:  # not holding the lock, which the others need to record
                            # their answers: they keep reporting while it restarts
                            cluster.ctl("restart", "-m", "fast")

        threads = [threading.Thread(target=phone, args=(w,)) for w in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert problems == []
        assert restarted.is_set()
        assert attempts["failed"] > 0  # the restart was felt: some attempts had to be retried
        assert len(acknowledged) == REPORTS
        assert httpx.get(f"{base}/api/v1/health").json() == {"status": "ok", "database": "ok"}
        check = make_engine(cluster.url)
        with check.connect() as c:
            keys = dict(
                c.execute(
                    sa.text("SELECT key, case_id FROM idempotency_keys WHERE key LIKE 'fault-%'")
                ).all()
            )
            cases = c.execute(
                sa.text("SELECT count(*) FROM cases WHERE description LIKE 'report %'")
            ).scalar_one()
            numbers = c.execute(sa.text("SELECT count(DISTINCT number) FROM cases")).scalar_one()
            total = c.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
        check.dispose()
        assert keys == acknowledged  # every acknowledged report is stored, under its key
        assert cases == REPORTS  # … exactly once
        assert numbers == total
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")
