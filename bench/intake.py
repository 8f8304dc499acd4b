"""Case intake over HTTP on PostgreSQL (issue: case engine).

Each run makes a fresh PostgreSQL database, upgrades it with ``chengyun db upgrade``,
loads the demo sub-district and starts ``chengyun serve --workers N`` on a free loopback
port, and one ``chengyun worker`` beside it as ``docs/deployment.md`` runs them (it
delivers the messages new cases queue for the people on duty and folds the counts the
triggers add; its CPU is counted apart, and so are the messages still waiting for it as
the load ends). The load generator, in this process and so apart from the server
(asyncio + ``bench.http.LeanClient``, ``concurrency`` requests in flight), warms up for a
few seconds and then reports cases for ``seconds``: mixed channels, random subclasses
(from ``GET /api/v1/taxonomy`` when the platform has it), random positions inside the
demo units, a unique ``Idempotency-Key`` each, no photos. Every request's latency and
status are kept.
Afterwards the database is checked against the 201 answers: an acknowledged case that
is missing is *lost*; a case number or key stored twice, or one case acknowledged twice,
is a *duplicate*. The server's resident memory is read from /proc before it stops.

A repeat is: 2 workers; the baseline, PostgreSQL's own single-row insert transactions
per second with as many clients (psycopg, one transaction per insert, ``BASELINE_S``);
1 worker; 2 workers on a database already holding ``OPEN_CASES`` open cases reported over
the last three days across every subclass, the demo's units and people
(``_with_open_cases``): what every report looks up — the earlier open cases near it, its
candidates' open cases — is then looked up among them, and video alerts merge into them
(a reference figure: a district's bad day, far denser than a sub-district's week). The
server runs as ``docs/deployment.md`` runs it behind nginx, with ``--no-access-log``. Each
run also reports the CPU time per case used by the server, PostgreSQL's
backends and the load generator, and the CPU the rest of the machine used meanwhile.

A repeat ends with an open-loop run: 2 workers offered ``TARGET`` reports a second for
``seconds`` (``paced``), one due every millisecond whether or not the earlier ones were
answered, each timed from when it was due. Back to back, 32 clients make the latency
what Little's law says it is — 32 in flight at 1,000 cases/s are 32 ms on average,
whatever the server does — and a slower answer slows the next request instead of showing
as a queue; offered at a fixed rate, the latency is what a report arriving at that rate
waits, and a server that cannot keep up shows it as a backlog growing in every latency
after it. A second open-loop run offers ``SIZING_RATE`` (the rate ``docs/deployment.md``
sizes a box by) the same way: how long a report waits at the load a box is sized for.

Targets (the performance issue's, on this 2-core machine with the load generator on it):
≥ 1,000 cases/s with 2 workers, p99 < 50 ms (both runs' 99th percentiles are held to
it), no errors, nothing lost or duplicated, < 250 MB resident per API process.

Quick trial without recording: ``python -m bench.intake --seconds 5 --repeats 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, NamedTuple

import httpx2
import psycopg
from psycopg import sql
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from bench.http import HttpError, LeanClient, run_loop
from bench.record import Figure, fmt, print_or_record

TARGET = 1000.0
P99_MS = 50.0
#: The rate ``docs/deployment.md`` sizes a 2-core box by (its slowest hour, rounded down):
#: the last run of a repeat offers it steadily, so that the sizing has a latency beside it.
SIZING_RATE = 500.0
#: Connections the open-loop run (``paced``) keeps: at ``TARGET`` reports a second, room
#: for answers taking 64 ms on average before a report waits for a free one (a wait that
#: counts in its latency).
CONNECTIONS = 64

#: Server for the scratch databases; override with CHENGYUN_BENCH_PG (a libpq URL).
PG_SERVER = os.environ.get("CHENGYUN_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
CHINA = timezone(timedelta(hours=8))
#: Used when the platform has no ``GET /api/v1/taxonomy``.
SUBCLASSES = (
    "E0102",
    "E0504",
    "C0301",
    "E0101",
    "E0103",
    "E0201",
    "E0501",
    "E0601",
    "C0101",
    "C0201",
)
#: Share of reports per channel (patrol reports carry a patrol member's number).
CHANNELS = {"patrol": 40, "video_ai": 20, "hotline": 15, "citizen_qr": 15, "inspection": 10}
JITTER_M = 200.0
WARM_UP_S = 3.0
#: Open cases already stored in the run at scale.
OPEN_CASES = 100_000
#: The server's threads, as its CPU time is split: each process's main thread runs its
#: event loop (HTTP, validation, answers); the others are chiefly its committing thread
#: (``services.group_commit``: the reports' transactions).
EVENT_LOOPS = "event loops"
OTHER_THREADS = "other threads"
#: The CPU figure of the ``chengyun worker`` running beside the server (``serving``).
WORKER = "worker"
#: Columns the copies made by ``_with_open_cases`` give their own values (or none).
_SEED_OWN = frozenset(
    {"id", "number", "status", "subclass", "lng", "lat", "assignee", "reported_at"}
)
BASELINE_S = 10.0


# --- scratch database and server --------------------------------------------------------------


def pg_url(database: str) -> str:
    """A libpq URL of ``database`` on the benchmark server."""
    return f"{PG_SERVER.rstrip('/')}/{database}"


def sqlalchemy_url(database: str) -> str:
    return pg_url(database).replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def fresh_database(*, demo: bool = True) -> Iterator[str]:
    """A new PostgreSQL database with a random name, upgraded by ``chengyun db upgrade``
    and (by default) holding the demo sub-district; dropped afterwards, even on failure.
    Yields the database name."""
    name = f"chengyun_bench_{secrets.token_hex(6)}"
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        env = {**os.environ, "CHENGYUN_DATABASE_URL": sqlalchemy_url(name)}
        subprocess.run(
            [sys.executable, "-m", "chengyun.entrypoints.cli", "db", "upgrade"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if demo:
            _load_demo(name)
        yield name
    finally:
        with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _load_demo(name: str) -> None:
    from chengyun.adapters.db.engine import make_engine
    from chengyun.adapters.db.unit_of_work import SqlUnitOfWork
    from chengyun.demo.loader import load_demo

    engine = make_engine(sqlalchemy_url(name))
    try:
        load_demo(SqlUnitOfWork(engine))
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served(NamedTuple):
    """A server under test: its base URL, its process id (the supervisor, whose children
    are the server processes) and its ``chengyun worker``'s, if one runs."""

    base: str
    pid: int
    worker: int | None


@contextmanager
def serving(
    database: str,
    workers: int,
    log: IO[bytes],
    source: Path | None = None,
    *,
    worker: bool = True,
) -> Iterator[Served]:
    """``chengyun serve --workers N`` on a free loopback port until ``/api/v1/health``
    answers, and beside it one ``chengyun worker`` (unless ``worker`` is false), as
    ``docs/deployment.md`` runs them on one box: the worker delivers the messages the new
    cases queue for the people on duty, sweeps the clocks and folds the counts the
    triggers add. Stops them all afterwards. With ``--no-access-log``, as the deployment
    runs the server behind nginx. ``source``: a directory to import ``chengyun`` from
    instead of this checkout's (another revision's ``src``: ``bench.compare``)."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="chengyun-bench-")
    env = {
        **os.environ,
        "CHENGYUN_DATABASE_URL": sqlalchemy_url(database),
        "CHENGYUN_MODE": "development",
        "CHENGYUN_DATA_DIR": data_dir,
    }
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chengyun.entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    background: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chengyun serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/api/v1/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /api/v1/health within 120 s")
            time.sleep(0.2)
        if worker:
            background = subprocess.Popen(
                [sys.executable, "-m", "chengyun.entrypoints.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        yield Served(base, process.pid, background.pid if background else None)
    finally:
        for started in (p for p in (process, background) if p is not None):
            try:
                os.killpg(started.pid, signal.SIGTERM)
                started.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(started.pid, signal.SIGKILL)
                started.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
    tree = {root}
    while found := {pid for pid, parent in parents.items() if parent in tree} - tree:
        tree |= found
    return sorted(tree)


def rss_mb(pids: list[int]) -> dict[int, float]:
    """Resident memory of each process in MB (VmRSS from /proc)."""
    rss: dict[int, float] = {}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[pid] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return rss


def _running(pid: int) -> bool:
    """Whether process ``pid`` is still there and has not exited (a zombie has)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2 :].split()[0] != "Z"


def _ticks(stat: Path) -> int:
    """User plus system CPU ticks from a /proc ``stat`` file (0 if it is gone)."""
    try:
        text = stat.read_text()
    except OSError:
        return 0
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time the processes have used so far."""
    return sum(_ticks(Path(f"/proc/{pid}/stat")) for pid in pids) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pids: list[int]) -> dict[str, float]:
    """CPU time the processes' threads have used so far: their main threads (a server
    process's event loop) and the others (its committing thread, the thread pool). Only
    live threads count: under load the committing thread lives on (it ends after two
    idle seconds)."""
    found = {EVENT_LOOPS: 0, OTHER_THREADS: 0}
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("[0-9]*"):
            who = EVENT_LOOPS if int(task.name) == pid else OTHER_THREADS
            found[who] += _ticks(task / "stat")
    return {who: ticks / os.sysconf("SC_CLK_TCK") for who, ticks in found.items()}


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU time used by the PostgreSQL backends serving ``database`` while the block runs.
    Sampled twice a second, so that backends which come and go meanwhile count too."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> BackendCpu:
        self._db = psycopg.connect(pg_url("postgres"), autocommit=True)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._db.close()

    @property
    def seconds(self) -> float:
        return sum(self.last[pid] - self.first[pid] for pid in self.last)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s"
        for (pid,) in self._db.execute(query, (self.database,)).fetchall():
            cpu = cpu_seconds([int(pid)])
            if cpu > 0:
                self.first.setdefault(int(pid), cpu)
                self.last[int(pid)] = cpu


# --- workload -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    headers: dict[str, str]
    patrol: list[str]
    subclasses: list[str]
    positions: list[tuple[float, float]]


def bearer_token(database: str) -> str | None:
    """A token of a system account (a gateway that reports for every channel) made with
    ``chengyun accounts``; ``None`` for a platform without accounts."""
    env = {**os.environ, "CHENGYUN_DATABASE_URL": sqlalchemy_url(database)}
    cli = [sys.executable, "-m", "chengyun.entrypoints.cli", "accounts"]
    add = subprocess.run(
        [*cli, "add", "bench-intake", "--role", "system"], env=env, capture_output=True, text=True
    )
    if add.returncode != 0:
        if "No such command" in add.stderr + add.stdout:
            return None
        raise RuntimeError(f"chengyun accounts add: {add.stderr or add.stdout}")
    issued = subprocess.run(
        [*cli, "token", "bench-intake", "--name", "bench intake"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"cy_\S+", issued.stdout)
    if found is None:
        raise RuntimeError(f"no token in {issued.stdout!r}")
    return found.group()


def _positions(
    units: list[BaseGeometry], count: int, rng: random.Random
) -> list[tuple[float, float]]:
    """Points inside the units: a unit's representative point moved by up to
    ``JITTER_M`` in each direction, kept only when it stays inside the unit."""
    points: list[tuple[float, float]] = []
    while len(points) < count:
        unit = rng.choice(units)
        anchor = unit.representative_point()
        dlat = JITTER_M / 110_540.0
        dlng = JITTER_M / (111_320.0 * math.cos(math.radians(anchor.y)))
        for _ in range(20):
            x = anchor.x + rng.uniform(-dlng, dlng)
            y = anchor.y + rng.uniform(-dlat, dlat)
            if unit.contains(Point(x, y)):
                points.append((round(x, 7), round(y, 7)))
                break
        else:
            points.append((anchor.x, anchor.y))
    return points


def patrol_numbers(database: str) -> list[str]:
    """The patrol members' numbers, read from the database."""
    with psycopg.connect(pg_url(database)) as db:
        query = "SELECT number FROM people WHERE post = 'patrol' ORDER BY number"
        return [str(n) for (n,) in db.execute(query)]


def workload(base: str, database: str, rng: random.Random) -> Workload:
    """Reporters, subclasses and positions from the running platform (patrol members from
    the database when the account may not list people)."""
    token = bearer_token(database)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx2.Client(base_url=base, headers=headers, timeout=30) as client:
        people = client.get("/api/v1/people", params={"post": "patrol", "limit": 1000})
        if people.status_code in (401, 403):
            patrol = patrol_numbers(database)
        else:
            people.raise_for_status()
            patrol = [p["number"] for p in people.json()["items"]]
        units = client.get("/api/v1/territory/units")
        units.raise_for_status()
        shapes = [shape(f["geometry"]) for f in units.json()["features"]]
        taxonomy = client.get("/api/v1/taxonomy")
        subclasses = _codes(taxonomy.json()) if taxonomy.status_code == 200 else []
    if not patrol or not shapes:
        raise RuntimeError("the demo roster or territory is empty")
    positions = _positions(shapes, 5000, rng)
    return Workload(headers, patrol, subclasses or list(SUBCLASSES), positions)


def _codes(body: Any) -> list[str]:
    items = body.get("subclasses", body.get("items", [])) if isinstance(body, dict) else body
    if not isinstance(items, list):
        return []
    return [str(i["code"]) for i in items if isinstance(i, dict) and "code" in i]


def report(work: Workload, rng: random.Random) -> dict[str, Any]:
    channel = rng.choices(list(CHANNELS), weights=list(CHANNELS.values()))[0]
    lng, lat = rng.choice(work.positions)
    observed = datetime.now(CHINA).replace(microsecond=0) - timedelta(minutes=1)
    body: dict[str, Any] = {
        "channel": channel,
        "subclass": rng.choice(work.subclasses),
        "position": {"lng": lng, "lat": lat, "crs": "wgs84"},
        "observed_at": observed.isoformat(),
        "description": f"bench {channel}",
    }
    if channel == "patrol":
        body["reporter"] = rng.choice(work.patrol)
    return body


# --- load ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    started: float
    latency: float
    status: int  # 0: no answer (timeout or connection error)
    key: str
    number: str | None


#: Sends one request with ``Idempotency-Key: key``; answers the status and, when the
#: request was taken, the case number the answer names.
Send = Callable[[LeanClient, random.Random, str], Awaitable[tuple[int, str | None]]]
#: Keeps the load up for a number of seconds with a seed: the samples and the time taken.
Load = Callable[[float, int], tuple[list[Sample], float]]


async def _load(
    base: str, headers: dict[str, str], send: Send, seconds: float, concurrency: int, seed: int
) -> tuple[list[Sample], float]:
    """Each of ``concurrency`` clients sends requests back to back until ``seconds`` have
    passed, each with a new ``Idempotency-Key``; the samples and the time until the last
    answer."""
    samples: list[Sample] = []
    start = time.perf_counter()
    end = start + seconds

    async def one_client(rng: random.Random) -> None:
        client = LeanClient(base, headers)
        try:
            while time.perf_counter() < end:
                key = uuid.uuid4().hex
                started = time.perf_counter()
                try:
                    status, number = await send(client, rng, key)
                except HttpError:
                    status, number = 0, None
                samples.append(Sample(started, time.perf_counter() - started, status, key, number))
        finally:
            await client.close()

    await asyncio.gather(*(one_client(random.Random(seed + i)) for i in range(concurrency)))
    return samples, time.perf_counter() - start


def load(base: str, headers: dict[str, str], send: Send, concurrency: int) -> Load:
    """The load generator: ``concurrency`` requests in flight from this process (asyncio),
    apart from the server's."""

    def keep_up(seconds: float, seed: int) -> tuple[list[Sample], float]:
        return run_loop(_load(base, headers, send, seconds, concurrency, seed))

    return keep_up


async def paced_load(
    base: str,
    headers: dict[str, str],
    send: Send,
    seconds: float,
    rate: float,
    connections: int,
    seed: int,
) -> tuple[list[Sample], float]:
    """Open loop: a request is due every ``1 / rate`` seconds for ``seconds``, whether or
    not the earlier ones were answered, over up to ``connections`` kept-alive connections
    (a request finding none free waits for one). A sample's latency runs from when the
    request was due, not from when it was sent, so that a server falling behind shows in
    it instead of slowing the load down ("coordinated omission"); the time is until the
    last answer."""
    rng = random.Random(seed)
    idle: asyncio.Queue[LeanClient] = asyncio.Queue()
    clients = [LeanClient(base, headers) for _ in range(connections)]
    for client in clients:
        idle.put_nowait(client)
    samples: list[Sample] = []

    async def one(due: float) -> None:
        client = await idle.get()
        key = uuid.uuid4().hex
        try:
            status, number = await send(client, rng, key)
        except HttpError:
            status, number = 0, None
        finally:
            idle.put_nowait(client)
        samples.append(Sample(due, time.perf_counter() - due, status, key, number))

    interval = 1 / rate
    start = time.perf_counter()
    pending: set[asyncio.Task[None]] = set()
    try:
        for i in range(round(seconds * rate)):
            due = start + i * interval
            late = due - time.perf_counter()
            if late > 0:
                await asyncio.sleep(late)
            task = asyncio.create_task(one(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
    finally:
        for client in clients:
            await client.close()
    return samples, time.perf_counter() - start


def paced(base: str, headers: dict[str, str], send: Send, rate: float, connections: int) -> Load:
    """The open-loop load generator (``paced_load``), in this process apart from the
    server's."""

    def keep_up(seconds: float, seed: int) -> tuple[list[Sample], float]:
        return run_loop(paced_load(base, headers, send, seconds, rate, connections, seed))

    return keep_up


def _case_poster(work: Workload) -> Send:
    async def send(client: LeanClient, rng: random.Random, key: str) -> tuple[int, str | None]:
        answer = await client.post(
            "/api/v1/cases", json=report(work, rng), headers={"Idempotency-Key": key}
        )
        status = answer.status_code
        return status, answer.json().get("number") if status in (200, 201) else None

    return send


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Check:
    stored: int
    lost: int
    duplicates: int
    unacknowledged: int
    per_transaction: float
    """Cases stored per transaction that stored cases (the group commit's batches and the
    reports taken alone), by the transaction id each case row carries (``xmin``)."""


def _stored(
    database: str, transactions: dict[str, str] | None = None
) -> tuple[Counter[str], Counter[str]]:
    """The case numbers and the Idempotency-Keys stored; with ``transactions``, also
    each case number's transaction (``xmin``)."""
    with psycopg.connect(pg_url(database)) as db:
        numbers: Counter[str] = Counter()
        for number, xmin in db.execute("SELECT number, xmin::text FROM cases"):
            numbers[str(number)] += 1
            if transactions is not None:
                transactions[str(number)] = str(xmin)
        keys = Counter(str(k) for (k,) in db.execute("SELECT key FROM idempotency_keys"))
    return numbers, keys


def check(database: str, samples: list[Sample], before: Counter[str]) -> Check:
    """The database against the answers: acknowledged but missing, stored twice.
    ``before`` are the case numbers stored before the load began."""
    acknowledged = [s for s in samples if s.status == 201]
    transactions: dict[str, str] = {}
    numbers, keys = _stored(database, transactions)
    numbers.subtract(before)
    numbers = +numbers
    answered = Counter(s.number for s in acknowledged)
    lost = sum(1 for s in acknowledged if s.number not in numbers or s.key not in keys)
    duplicates = (
        sum(n - 1 for n in numbers.values())
        + sum(n - 1 for n in keys.values())
        + sum(n - 1 for n in answered.values())
    )
    stored = sum(numbers.values())
    batches = len({transactions[n] for n in numbers})
    return Check(stored, lost, duplicates, stored - len(answered), stored / max(batches, 1))


@dataclass(frozen=True)
class LoadRun:
    """One run of sustained load against the server, and the database checked after it."""

    workers: int
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    statuses: dict[int, int]
    check: Check
    rss_mb: dict[int, float]
    cpu_ms: dict[str, float]
    """CPU time per created case (answered 201): the server, PostgreSQL's backends, the
    load generator."""
    server_ms: dict[str, float]
    """The server's CPU time per created case by thread: ``EVENT_LOOPS``, ``OTHER_THREADS``."""
    others_cores: float
    """Cores' worth of CPU that everything else on the machine used meanwhile."""
    backlog: tuple[int, int] | None = None
    """With a worker: the outbox messages not yet delivered as the load ended, and all
    the run queued (warm-up included) — a worker keeping up leaves about a pass's worth."""

    def ceiling(self) -> float:
        """Cases/s (201s/s) this CPU use per case would allow on all cores of an idle
        machine."""
        return (os.cpu_count() or 1) * 1000 / sum(self.cpu_ms.values())


def measure(
    database: str,
    workers: int,
    served: Served,
    keep_up: Load,
    seconds: float,
    seed: int,
    verify: Callable[[list[Sample]], Check],
) -> LoadRun:
    """A warm-up of ``WARM_UP_S``, then ``seconds`` of load while the CPU time of the
    server (its supervisor and server processes), of its ``chengyun worker``, of
    PostgreSQL's backends on ``database``, of this process and of the whole machine is
    counted; then the server's memory, and ``verify`` of every sample (warm-up included)
    against the database.

    After the warm-up the database is analysed, as autovacuum would have done by then on
    a server running for more than its one-minute round: the first reports plan their
    statements on an empty ``cases`` table, and a generic plan made then (the nearby
    cases by the reporting time and status instead of by subclass and position) stays
    cached until the table's statistics change. Left to chance, it made the same code's
    PostgreSQL CPU per case differ by a quarter from run to run."""
    warm, _ = keep_up(WARM_UP_S, seed)
    with psycopg.connect(pg_url(database), autocommit=True) as db:
        db.execute("ANALYZE")
    server = process_tree(served.pid)
    worker = process_tree(served.worker) if served.worker is not None else []
    cpu = (cpu_seconds(server), time.process_time(), machine_busy(), cpu_seconds(worker))
    threads = thread_cpu_seconds(server)
    with BackendCpu(database) as postgres:
        samples, elapsed = keep_up(seconds, seed + 1000)
    used = (cpu_seconds(server) - cpu[0], postgres.seconds, time.process_time() - cpu[1])
    worked = cpu_seconds(worker) - cpu[3]
    if served.worker is not None and not _running(served.worker):
        raise RuntimeError("the chengyun worker stopped during the run: see the server log")
    backlog = _backlog(database) if served.worker is not None else None
    by_thread = {who: t - threads[who] for who, t in thread_cpu_seconds(server).items()}
    others = machine_busy() - cpu[2] - sum(used) - worked
    rss = rss_mb(process_tree(served.pid))
    result = verify(warm + samples)
    statuses = Counter(s.status for s in samples)
    created = statuses.get(201, 0)
    latencies = [s.latency for s in samples]
    per_case = 1000 / max(created, 1)
    return LoadRun(
        workers=workers,
        rate=created / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        errors=len(samples) - created,
        statuses=dict(statuses),
        check=result,
        rss_mb=rss,
        cpu_ms={
            "server": used[0] * per_case,
            "postgres": used[1] * per_case,
            "load generator": used[2] * per_case,
            **({WORKER: worked * per_case} if served.worker is not None else {}),
        },
        server_ms={who: t * per_case for who, t in by_thread.items()},
        others_cores=max(others, 0.0) / elapsed,
        backlog=backlog,
    )


def _backlog(database: str) -> tuple[int, int]:
    """The outbox messages waiting for delivery (not delivered, not dead) and all of them."""
    with psycopg.connect(pg_url(database)) as db:
        row = db.execute(
            "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND NOT dead), count(*) FROM outbox"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def intake_once(
    workers: int,
    seconds: float,
    concurrency: int,
    seed: int,
    log: IO[bytes],
    *,
    open_cases: bool = False,
    source: Path | None = None,
    rate: float | None = None,
) -> LoadRun:
    """One run on a fresh database; with ``open_cases``, one already holding
    ``OPEN_CASES`` open cases (``_with_open_cases``); ``source``, see ``serving``. With a
    ``rate``, the load is open (``paced``: ``rate`` reports a second over up to
    ``concurrency`` connections) instead of ``concurrency`` clients back to back."""
    rng = random.Random(seed)
    with fresh_database() as database:
        if open_cases:
            _with_open_cases(database, random.Random(seed + 1))
        with serving(database, workers, log, source) as served:
            base = served.base
            work = workload(base, database, rng)
            before, _ = _stored(database)
            poster = _case_poster(work)
            keep_up = (
                load(base, work.headers, poster, concurrency)
                if rate is None
                else paced(base, work.headers, poster, rate, concurrency)
            )
            return measure(
                database,
                workers,
                served,
                keep_up,
                seconds,
                seed,
                lambda samples: check(database, samples, before),
            )


def _with_open_cases(database: str, rng: random.Random) -> None:
    """``OPEN_CASES`` open cases as a busy district holds them: reported over the last
    three days (the duplicate window), across every subclass, the demo's units and its
    people. They are copies of one case reported through the service, with its events,
    each with its own number, subclass, position, assignee and time (intake reads no more
    of them; their measure profiles are not copied); the counts they add are folded, as
    the worker would, and the planner's statistics refreshed."""
    from chengyun.adapters.db import case_counts
    from chengyun.adapters.taxonomy_file import load_default_taxonomy
    from chengyun.config import Settings
    from chengyun.domain.cases import Channel
    from chengyun.entrypoints.platform import Platform
    from chengyun.services.cases import ReportCommand, report_case

    start = time.perf_counter()
    platform = Platform(Settings(database_url=sqlalchemy_url(database), mode="development"))
    try:
        units = [shape(u.geometry) for u in platform.territory_index.get().territory.units]
        positions = _positions(units, 5000, rng)
        with platform.uow() as uow:
            people = [p.number for p in uow.forces.roster().people]
        subclasses = [s.code for s in load_default_taxonomy().subclasses]
        lng, lat = positions[0]
        template = report_case(
            platform.uow(),
            platform.cases,
            ReportCommand(
                channel=Channel.PATROL,
                subclass=subclasses[0],
                lng=lng,
                lat=lat,
                description="bench open case",
                reporter=people[0],
            ),
        ).record.id
        now = datetime.now(UTC)
        spots = [rng.choice(positions) for _ in range(OPEN_CASES)]
        with psycopg.connect(pg_url(database)) as db:
            columns = [
                str(c)
                for (c,) in db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'cases' ORDER BY ordinal_position"
                )
                if c not in _SEED_OWN
            ]
            kept = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            db.execute(
                sql.SQL(
                    "INSERT INTO cases (number, status, subclass, lng, lat, assignee, "
                    "reported_at, {kept}) "
                    "SELECT 'BENCH' || lpad(r.i::text, 7, '0'), 'dispatched', r.subclass, "
                    "r.lng, r.lat, r.assignee, r.reported_at, {kept} FROM cases, "
                    "unnest(%s::text[], %s::float8[], %s::float8[], %s::text[], "
                    "%s::timestamptz[]) WITH ORDINALITY AS r (subclass, lng, lat, assignee, "
                    "reported_at, i) WHERE cases.id = %s"
                ).format(kept=kept),
                (
                    [rng.choice(subclasses) for _ in range(OPEN_CASES)],
                    [x for x, _ in spots],
                    [y for _, y in spots],
                    [rng.choice(people) for _ in range(OPEN_CASES)],
                    [now - timedelta(minutes=rng.uniform(5, 72 * 60)) for _ in range(OPEN_CASES)],
                    template,
                ),
            )
            events = [
                str(c)
                for (c,) in db.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'case_events' ORDER BY ordinal_position"
                )
                if c not in ("id", "case_id")
            ]
            db.execute(
                sql.SQL(
                    "INSERT INTO case_events (case_id, {events}) SELECT c.id, {from_e} "
                    "FROM cases AS c JOIN case_events AS e ON e.case_id = %s "
                    "WHERE c.number LIKE 'BENCH%%'"
                ).format(
                    events=sql.SQL(", ").join(map(sql.Identifier, events)),
                    from_e=sql.SQL(", ").join(sql.Identifier("e", c) for c in events),
                ),
                (template,),
            )
            db.commit()
            db.autocommit = True
            db.execute("VACUUM ANALYZE cases")
            db.execute("VACUUM ANALYZE case_events")
        case_counts.fold(platform.engine)
    finally:
        platform.engine.dispose()
    print(f"  {OPEN_CASES:,} open cases made in {time.perf_counter() - start:.1f} s", flush=True)


# --- baseline: PostgreSQL's own single-row insert transactions ---------------------------------


async def _inserts(dsn: str, seconds: float, concurrency: int) -> int:
    done = 0
    payload = json.dumps({"bench": "x" * 400})

    async def one_client() -> None:
        nonlocal done
        async with await psycopg.AsyncConnection.connect(dsn) as db:
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                async with db.transaction():
                    await db.execute(
                        "INSERT INTO bench_scratch (key, body, created_at) VALUES (%s, %s, now())",
                        (uuid.uuid4().hex, payload),
                    )
                done += 1

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return done


def baseline_once(seconds: float, concurrency: int) -> float:
    """Single-row insert transactions per second into a scratch table."""
    with fresh_database(demo=False) as database:
        dsn = pg_url(database)
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute(
                "CREATE TABLE bench_scratch (id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, "
                "body jsonb NOT NULL, created_at timestamptz NOT NULL)"
            )
        start = time.perf_counter()
        done = asyncio.run(_inserts(dsn, seconds, concurrency))
        return done / (time.perf_counter() - start)


# --- the benchmark ------------------------------------------------------------------------


def describe(run: LoadRun, what: str = "case") -> str:
    """One run in a line; ``what`` names the unit counted (a case, a request)."""
    c = run.check
    rss = ", ".join(f"{mb:.0f}" for mb in run.rss_mb.values())
    cpu = ", ".join(f"{who} {ms:.1f}" for who, ms in run.cpu_ms.items())
    threads = ", ".join(f"{who} {ms:.2f}" for who, ms in run.server_ms.items())
    return (
        f"  {run.workers} worker(s): {fmt(run.rate)} {what}s/s, p50 {run.p50_ms:.1f} ms, "
        f"p99 {run.p99_ms:.1f} ms, statuses {run.statuses}, stored {c.stored}, lost {c.lost}, "
        f"duplicates {c.duplicates}, stored but unacknowledged {c.unacknowledged}; "
        f"CPU ms per {what}: {cpu} (ceiling on an idle machine {fmt(run.ceiling())} "
        f"{what}s/s), of the server's: {threads}; {c.per_transaction:.1f} {what}s stored "
        f"per transaction; other processes used {run.others_cores:.2f} cores meanwhile; "
        f"RSS MB of the server processes: {rss}"
        + (
            f"; outbox messages waiting as the load ended: {run.backlog[0]:,} of {run.backlog[1]:,}"
            if run.backlog is not None
            else ""
        )
    )


@contextmanager
def server_log() -> Iterator[IO[bytes]]:
    """A scratch file for the server's output; its tail is printed if the block fails."""
    with tempfile.NamedTemporaryFile(prefix="chengyun-serve-", suffix=".log") as log:
        try:
            yield log
        except BaseException:
            log.flush()
            tail = Path(log.name).read_text("utf-8", "replace")[-4000:]
            print(f"server log (tail):\n{tail}", file=sys.stderr)
            raise


def p99_figure(benchmark: str, runs: list[LoadRun]) -> Figure:
    """The runs' 99th percentile latencies, held to ``P99_MS``."""
    p99 = [r.p99_ms for r in runs]
    return Figure(benchmark, "ms", p99, f"< {P99_MS:.0f} ms", statistics.median(p99) < P99_MS)


def backlog_figure(benchmark: str, runs: list[LoadRun]) -> Figure:
    """The outbox messages the runs' worker had not delivered as their load ended."""
    return Figure(
        f"{benchmark}: outbox messages waiting for the worker as the load ended (its pass "
        "comes every 0.2 s while messages flow: a fraction of a second's worth when it "
        "keeps up)",
        "",
        [float(r.backlog[0]) for r in runs if r.backlog is not None],
        "— (reference)",
        True,
    )


def run(repeats: int = 3, seconds: float = 30.0, concurrency: int = 32) -> list[Figure]:
    two: list[LoadRun] = []
    one: list[LoadRun] = []
    scale: list[LoadRun] = []
    offered: list[LoadRun] = []  # open loop, TARGET cases/s
    sized: list[LoadRun] = []  # open loop, SIZING_RATE cases/s
    baseline: list[float] = []
    with server_log() as log:
        for i in range(repeats):
            two.append(intake_once(2, seconds, concurrency, 10 * i, log))
            print(describe(two[-1]), flush=True)
            baseline.append(baseline_once(BASELINE_S, concurrency))
            print(
                f"  baseline: {fmt(baseline[-1])} single-row insert transactions/s "
                f"({concurrency} clients); intake/baseline {two[-1].rate / baseline[-1]:.2f}",
                flush=True,
            )
            one.append(intake_once(1, seconds, concurrency, 10 * i + 5, log))
            print(describe(one[-1]), flush=True)
            scale.append(intake_once(2, seconds, concurrency, 10 * i + 7, log, open_cases=True))
            print(describe(scale[-1]) + f" ({OPEN_CASES:,} open cases before)", flush=True)
            offered.append(intake_once(2, seconds, CONNECTIONS, 10 * i + 3, log, rate=TARGET))
            print(describe(offered[-1]) + f" ({fmt(TARGET)} cases/s offered)", flush=True)
            sized.append(intake_once(2, seconds, CONNECTIONS, 10 * i + 9, log, rate=SIZING_RATE))
            print(describe(sized[-1]) + f" ({fmt(SIZING_RATE)} cases/s offered)", flush=True)
    rates = [r.rate for r in two]
    ratio = [r.rate / b for r, b in zip(two, baseline, strict=True)]
    print(f"  intake/baseline: median {statistics.median(ratio):.2f}", flush=True)
    everything = two + one + scale + offered + sized
    api_rss = [max(mb for mb in r.rss_mb.values()) for r in everything]
    label = f"intake over HTTP, PostgreSQL, {concurrency} in flight, {fmt(seconds)} s"
    paced_label, sized_label = (
        f"intake over HTTP, PostgreSQL, {fmt(rate)} cases/s offered (open loop, up to "
        f"{CONNECTIONS} connections), {fmt(seconds)} s, 2 workers"
        for rate in (TARGET, SIZING_RATE)
    )
    reference = "— (reference)"
    return [
        Figure(
            f"{label}, 2 workers",
            "cases/s",
            rates,
            f"≥ {TARGET:,.0f}",
            statistics.median(rates) >= TARGET,
        ),
        p99_figure(f"{label}, 2 workers: p99 latency", two),
        Figure(
            f"{label}: errors (non-201 or no answer)",
            "",
            [float(r.errors) for r in everything],
            "0",
            all(r.errors == 0 for r in everything),
        ),
        Figure(
            f"{label}: lost (acknowledged, not stored)",
            "",
            [float(r.check.lost) for r in everything],
            "0",
            all(r.check.lost == 0 for r in everything),
        ),
        Figure(
            f"{label}: duplicates",
            "",
            [float(r.check.duplicates) for r in everything],
            "0",
            all(r.check.duplicates == 0 for r in everything),
        ),
        Figure(
            f"{label}, 2 workers: server CPU per case",
            "ms",
            [r.cpu_ms["server"] for r in two],
            reference,
            True,
        ),
        *(
            Figure(
                f"{label}, 2 workers: server CPU per case in its {who}",
                "ms",
                [r.server_ms[who] for r in two],
                reference,
                True,
            )
            for who in (EVENT_LOOPS, OTHER_THREADS)
        ),
        Figure(
            f"{label}, 2 workers: cases stored per transaction",
            "",
            [r.check.per_transaction for r in two],
            reference,
            True,
        ),
        Figure(
            f"{label}, 2 workers: PostgreSQL backends' CPU per case",
            "ms",
            [r.cpu_ms["postgres"] for r in two],
            reference,
            True,
        ),
        Figure(
            f"{label}, 2 workers: CPU per case of the `chengyun worker` beside the server "
            "(staff messages delivered, counts folded)",
            "ms",
            [r.cpu_ms[WORKER] for r in two],
            reference,
            True,
        ),
        backlog_figure(f"{label}, 2 workers", two),
        Figure(
            f"{label}: cores used by other processes meanwhile (of {os.cpu_count()})",
            "",
            [r.others_cores for r in everything],
            reference,
            True,
        ),
        p99_figure(f"{paced_label}: p99 latency from when each was due", offered),
        Figure(
            f"{paced_label}: cases/s answered (until the last answer)",
            "cases/s",
            [r.rate for r in offered],
            reference,
            True,
        ),
        Figure(
            f"{paced_label}: server CPU per case",
            "ms",
            [r.cpu_ms["server"] for r in offered],
            reference,
            True,
        ),
        Figure(
            f"{sized_label} (the rate docs/deployment.md sizes a box by): p99 latency from "
            "when each was due",
            "ms",
            [r.p99_ms for r in sized],
            reference,
            True,
        ),
        Figure(
            f"{sized_label}: server CPU per case",
            "ms",
            [r.cpu_ms["server"] for r in sized],
            reference,
            True,
        ),
        Figure(f"{label}, 1 worker", "cases/s", [r.rate for r in one], reference, True),
        Figure(
            f"{label}, 2 workers, {OPEN_CASES:,} open cases stored before",
            "cases/s",
            [r.rate for r in scale],
            reference,
            True,
        ),
        Figure(
            f"{label}, 2 workers, {OPEN_CASES:,} open cases stored before: p99 latency",
            "ms",
            [r.p99_ms for r in scale],
            reference,
            True,
        ),
        Figure(
            f"{label}, 2 workers, {OPEN_CASES:,} open cases stored before: server CPU per case",
            "ms",
            [r.cpu_ms["server"] for r in scale],
            reference,
            True,
        ),
        Figure(
            f"{label}, 2 workers, {OPEN_CASES:,} open cases stored before: PostgreSQL "
            "backends' CPU per case",
            "ms",
            [r.cpu_ms["postgres"] for r in scale],
            reference,
            True,
        ),
        Figure(
            f"{label}, 1 worker: server CPU per case",
            "ms",
            [r.cpu_ms["server"] for r in one],
            reference,
            True,
        ),
        Figure(
            f"baseline: PostgreSQL single-row insert transactions, {concurrency} clients, "
            f"{fmt(BASELINE_S)} s",
            "inserts/s",
            baseline,
            reference,
            True,
        ),
        Figure("intake (2 workers) / baseline", "×", ratio, reference, True),
        Figure(
            "RSS of the largest server process after the run",
            "MB",
            api_rss,
            "< 250 MB per API process",
            max(api_rss) < 250,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30.0, help="sustained load per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats, args.seconds, args.concurrency)
    print_or_record(figures, args.record)


if __name__ == "__main__":
    main()
