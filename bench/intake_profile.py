"""Where a case's server CPU goes: the intake request profiled in one process.

Makes a fresh PostgreSQL database with the demo sub-district (as ``bench.intake`` does),
builds the app in this process and sends ``POST /api/v1/cases`` through the ASGI
interface (httpx2's ``ASGITransport``, no sockets), ``--concurrency`` at a time, with the
intake benchmark's workload (mixed channels, random subclasses and positions, a bearer
token of a system account, a new ``Idempotency-Key`` each). It prints:

- the process's CPU time per case (all threads, this process only; PostgreSQL's
  backends are separate processes and not counted),
- the SQL statements sent per case, by their first words,
- with ``--profile``, a cProfile of every thread (the event loop and the thread pool)
  timed by each thread's CPU clock (waits for PostgreSQL and the GIL do not count),
  sorted by cumulative time, and the functions with the most own time.

Nothing is recorded: the figures go into ``RESULTS.md`` by hand, next to the intake
benchmark's. Run: ``python -m bench.intake_profile --cases 2000 --profile``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from bench.intake import (
    Workload,
    _codes,
    _positions,
    bearer_token,
    fresh_database,
    patrol_numbers,
    report,
    sqlalchemy_url,
)


class _Statements:
    """Counts the statements an engine sends, by their first two words (three for an
    INSERT, naming its table)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seen: Counter[str] = Counter()
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        shown = 3 if words and words[0] == "INSERT" else 2
        self.seen[" ".join(words[:shown]) if words else "?"] += 1


class _AllThreads:
    """cProfile on the calling thread and every thread started while it runs."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_here(self, *_: Any) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not waiting
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def __enter__(self) -> _AllThreads:
        threading.setprofile(self._start_here)
        self._start_here()
        return self

    def __exit__(self, *_: object) -> None:
        threading.setprofile(None)
        self.profiles[0].disable()

    def stats(self) -> pstats.Stats:
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=out)
        for other in self.profiles[1:]:
            other.create_stats()
            stats.add(other)
        return stats


async def _drive(
    app: Any, headers: dict[str, str], work: Any, cases: int, seed: int, concurrency: int
) -> int:
    """Send ``cases`` reports, ``concurrency`` at a time (so that the group commit can
    take several together, as under load)."""
    rng = random.Random(seed)
    left = [cases]
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers
    ) as client:

        async def one_after_another() -> int:
            created = 0
            while left[0] > 0:
                left[0] -= 1
                answer = await client.post(
                    "/api/v1/cases",
                    json=report(work, rng),
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"{answer.status_code}: {answer.text[:300]}")
                created += 1
            return created

        return sum(await asyncio.gather(*(one_after_another() for _ in range(concurrency))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="cProfile every thread")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument(
        "--dump", metavar="FILE", help="with --profile: also write the profile (pstats) to FILE"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    args = parser.parse_args()

    from chengyun.config import Settings
    from chengyun.entrypoints.api.app import create_app
    from chengyun.entrypoints.platform import Platform

    with fresh_database() as database, tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            mode="development",
            data_dir=Path(data_dir),
            database_url=sqlalchemy_url(database),
        )
        platform = Platform(settings)
        app = create_app(platform=platform)
        statements = _Statements(platform.engine)
        work = _workload(app, database)
        asyncio.run(_drive(app, work.headers, work, args.warm_up, 1, args.concurrency))
        # the group commit's thread ends when idle; started again below, it is profiled
        time.sleep(platform.group_commit.idle_s + 0.5)
        statements.seen.clear()
        batches = replace(platform.group_commit.stats)
        cpu, wall = time.process_time(), time.perf_counter()
        if args.profile:
            with _AllThreads() as profiler:
                created = asyncio.run(
                    _drive(app, work.headers, work, args.cases, 2, args.concurrency)
                )
        else:
            created = asyncio.run(_drive(app, work.headers, work, args.cases, 2, args.concurrency))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = platform.group_commit.stats
        platform.engine.dispose()
    print(
        f"group commit: {after.transactions - batches.transactions} transactions for "
        f"{after.reports - batches.reports} reports ({args.concurrency} in flight), "
        f"largest batch {after.largest_batch}, batches undone "
        f"{after.batches_undone - batches.batches_undone}"
    )
    print(
        f"{created} cases: CPU {cpu * 1000 / created:.2f} ms per case (this process, all "
        f"threads), wall {wall * 1000 / created:.2f} ms per case"
        + (" — under cProfile, so slower" if args.profile else "")
    )
    committing = (after.cpu_s - batches.cpu_s) * 1000 / created
    print(
        f"  of which the group commit's thread {committing:.2f} ms per case; the event loop "
        f"(the app and the in-process client) {cpu * 1000 / created - committing:.2f}"
    )
    per_case = sum(statements.seen.values()) / created
    print(f"SQL statements per case: {per_case:.2f}")
    for words, n in statements.seen.most_common():
        print(f"  {n / created:6.2f}  {words}")
    if args.profile:
        stats = profiler.stats()
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        print(out.getvalue())
        if args.dump:
            stats.dump_stats(args.dump)


def _workload(app: Any, database: str) -> Workload:
    """The benchmark's workload (token, patrol members, units, subclasses), read through
    the in-process app."""
    from fastapi.testclient import TestClient
    from shapely.geometry import shape

    token = bearer_token(database)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    patrol = patrol_numbers(database)
    with TestClient(app) as client:
        units = client.get("/api/v1/territory/units", headers=headers)
        units.raise_for_status()
        shapes = [shape(f["geometry"]) for f in units.json()["features"]]
        subclasses = _codes(client.get("/api/v1/taxonomy", headers=headers).json())
    return Workload(headers, patrol, subclasses, _positions(shapes, 5000, random.Random(0)))


if __name__ == "__main__":
    main()
