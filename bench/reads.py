"""Reading at 100,000 open cases on PostgreSQL (issue: performance): the command centre's
case list (`GET /api/v1/cases?open=true&limit=50`, nearest deadline first) and one case
with its timeline (`GET /api/v1/cases/{id}`).

The 100,000 open cases are the sweep benchmark's (a few templates reported through the
intake service, copied in SQL). The server is ``chengyun serve`` with 2 processes on
loopback; a separate load generator keeps 32 requests in flight for ``seconds`` per run.
Targets: list ≥ 500 requests/s with p99 < 30 ms, detail ≥ 1,000 requests/s. The list's
throughput is measured with 32 in flight; its latency target, in a second run that sends
500 list requests a second at a steady pace (an open loop: each request's latency counts
from the moment it was due, so a server that falls behind is charged for the wait). With
32 in flight the latency is mostly queueing: by Little's law its mean is 32 / throughput,
so p99 < 30 ms at 32 in flight would take more than 1,067 requests/s. The baseline,
measured by the same servers and load generator in the same run, is the health check (one
``SELECT 1`` through the whole stack); list and detail are also given as ratios to it.

Each run also reports the CPU time per request of the server, PostgreSQL's backends and
the load generator, the cores the rest of the machine used meanwhile and the load
average before it: the machine is shared, so compare runs by CPU per request.
Quick trial without recording: ``python -m bench.reads --seconds 5 --repeats 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg

from bench.http import HttpError, LeanClient, run_loop
from bench.intake import (
    BackendCpu,
    bearer_token,
    cpu_seconds,
    fresh_database,
    machine_busy,
    paced_load,
    pg_url,
    process_tree,
    serving,
    sqlalchemy_url,
)
from bench.record import Figure, fmt
from bench.sweep import REPORTED, prepare
from chengyun.adapters.db import case_counts
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.entrypoints.platform import Platform

LIST_TARGET = 500.0
LIST_P99_MS = 30.0
DETAIL_TARGET = 1000.0


async def _load(
    base: str,
    headers: dict[str, str],
    path: Callable[[random.Random], str],
    seconds: float,
    concurrency: int,
) -> tuple[float, float, int]:
    """Requests/s, p99 in ms and the number of answers other than 200."""
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    end = start + seconds

    async def one_client(rng: random.Random) -> None:
        nonlocal errors
        client = LeanClient(base, headers)
        try:
            while time.perf_counter() < end:
                started = time.perf_counter()
                try:
                    answer = await client.get(path(rng))
                    ok = answer.status_code == 200
                except HttpError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += int(not ok)
        finally:
            await client.close()

    await asyncio.gather(*(one_client(random.Random(i)) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, p99, errors


async def _paced(
    base: str,
    headers: dict[str, str],
    path: Callable[[random.Random], str],
    seconds: float,
    rate: float,
    connections: int = 64,
) -> tuple[float, float, int]:
    """Requests sent at ``rate`` a second for ``seconds`` (an open loop: ``paced_load``),
    over up to ``connections`` keep-alive connections: requests/s answered, p99 in ms
    counted from the moment each request was due (waiting for a free connection
    included), and the number of answers other than 200."""

    async def send(client: LeanClient, rng: random.Random, key: str) -> tuple[int, str | None]:
        return (await client.get(path(rng))).status_code, None

    samples, elapsed = await paced_load(base, headers, send, seconds, rate, connections, 0)
    latencies = sorted(s.latency for s in samples)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, p99, sum(1 for s in samples if s.status != 200)


def _measured(
    database: str,
    server: int,
    load: Callable[[], Coroutine[Any, Any, tuple[float, float, int]]],
) -> tuple[float, float, int, dict[str, float], float]:
    """A load (``_load`` or ``_paced``) with the CPU it cost: requests/s, p99 ms, answers
    other than 200, CPU ms per request (server, PostgreSQL's backends, load generator) and
    the cores the rest of the machine used meanwhile."""
    pids = process_tree(server)
    before = (cpu_seconds(pids), time.process_time(), machine_busy(), time.perf_counter())
    with BackendCpu(database) as postgres:
        rate, p99, failed = run_loop(load())
    used = (cpu_seconds(pids) - before[0], postgres.seconds, time.process_time() - before[1])
    elapsed = time.perf_counter() - before[3]
    others = max(machine_busy() - before[2] - sum(used), 0.0) / elapsed
    per_request = 1000 / max(rate * elapsed, 1)
    cpu = {
        "server": used[0] * per_request,
        "postgres": used[1] * per_request,
        "load generator": used[2] * per_request,
    }
    return rate, p99, failed, cpu, others


def run(repeats: int = 3, seconds: float = 15.0, concurrency: int = 32) -> list[Figure]:
    names = ("list", "paced list", "detail", "baseline")
    rates: dict[str, list[float]] = {name: [] for name in names}
    p99s: dict[str, list[float]] = {name: [] for name in names}
    server_ms: dict[str, list[float]] = {name: [] for name in names}
    errors = 0
    with fresh_database() as database:
        clock = DrivenClock(REPORTED)
        settings = Settings(database_url=sqlalchemy_url(database), mode="development")
        platform = Platform(settings, clock=clock)
        try:
            prepare(platform, clock, database)
            # as the worker would within a second: fold the counts the copies added
            case_counts.fold(platform.engine)
        finally:
            platform.engine.dispose()
        with psycopg.connect(pg_url(database)) as db:
            ids = [
                int(i) for (i,) in db.execute("SELECT id FROM cases ORDER BY random() LIMIT 5000")
            ]
        token = bearer_token(database)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        paths: dict[str, Callable[[random.Random], str]] = {
            "list": lambda rng: "/api/v1/cases?open=true&limit=50",
            "detail": lambda rng: f"/api/v1/cases/{rng.choice(ids)}",
            # the baseline, same servers and load generator in the same run: the health
            # check, one `SELECT 1` through the whole stack
            "baseline": lambda rng: "/api/v1/health",
        }
        # reads queue nothing for a worker, and the counts were folded above: none runs
        with tempfile.TemporaryFile() as log, serving(database, 2, log, worker=False) as served:
            base, pid = served.base, served.pid

            def loads(name: str) -> Callable[[], Coroutine[Any, Any, tuple[float, float, int]]]:
                if name == "paced list":
                    return lambda: _paced(base, headers, paths["list"], seconds, LIST_TARGET)
                return lambda: _load(base, headers, paths[name], seconds, concurrency)

            for name in names:
                path = paths["list" if name == "paced list" else name]
                run_loop(_load(base, headers, path, 2.0, concurrency))  # warm-up
                for i in range(repeats):
                    load = os.getloadavg()[0]
                    rate, p99, failed, cpu, others = _measured(database, pid, loads(name))
                    rates[name].append(rate)
                    p99s[name].append(p99)
                    server_ms[name].append(cpu["server"])
                    errors += failed
                    spent = ", ".join(f"{who} {ms:.2f}" for who, ms in cpu.items())
                    print(
                        f"  {name} run {i + 1}: {rate:.0f} requests/s, p99 {p99:.1f} ms, "
                        f"{failed} not 200; CPU ms per request: {spent}; other processes "
                        f"used {others:.2f} cores meanwhile (load average before: {load:.2f})",
                        flush=True,
                    )
    what = f"PostgreSQL, 100,000 open cases, 2 server processes, {concurrency} in flight"
    paced = "PostgreSQL, 100,000 open cases, 2 server processes"
    return [
        Figure(
            f"case list page (50 rows) over HTTP, {what}",
            "requests/s",
            rates["list"],
            f"≥ {LIST_TARGET:,.0f}",
            statistics.median(rates["list"]) >= LIST_TARGET,
        ),
        Figure(
            f"case list page: p99 latency, {what}",
            "ms",
            p99s["list"],
            "— (reference)",
            True,
        ),
        Figure(
            f"case list page sent at a steady {LIST_TARGET:,.0f} requests/s (open loop), "
            f"{paced}: answered",
            "requests/s",
            rates["paced list"],
            f"{LIST_TARGET:,.0f}",
            statistics.median(rates["paced list"]) >= LIST_TARGET * 0.99,
        ),
        Figure(
            f"case list page sent at a steady {LIST_TARGET:,.0f} requests/s (open loop), "
            f"{paced}: p99 latency from the moment each was due",
            "ms",
            p99s["paced list"],
            f"< {LIST_P99_MS:.0f} ms",
            statistics.median(p99s["paced list"]) < LIST_P99_MS,
        ),
        Figure(
            f"case detail with timeline over HTTP, {what}",
            "requests/s",
            rates["detail"],
            f"≥ {DETAIL_TARGET:,.0f}",
            statistics.median(rates["detail"]) >= DETAIL_TARGET,
        ),
        Figure(
            f"case detail: p99 latency, {what}",
            "ms",
            p99s["detail"],
            "— (reference)",
            True,
        ),
        Figure(
            f"case list page: server CPU per request, {what}",
            "ms",
            server_ms["list"],
            "— (reference)",
            True,
        ),
        Figure(
            f"case detail: server CPU per request, {what}",
            "ms",
            server_ms["detail"],
            "— (reference)",
            True,
        ),
        Figure(
            f"baseline: the health check (one SELECT 1) over HTTP, {what}",
            "requests/s",
            rates["baseline"],
            "— (reference)",
            True,
        ),
        *(
            Figure(
                f"case {name} / baseline",
                "×",
                [r / b for r, b in zip(rates[name], rates["baseline"], strict=True)],
                "— (reference)",
                True,
            )
            for name in ("list", "detail")
        ),
        Figure("reads: answers other than 200", "", [float(errors)], "0", errors == 0),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="the case list and detail at 100,000 cases")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats, args.seconds)
    if args.record:
        from bench.record import append

        print(append(figures))
    else:
        for f in figures:
            print(f"{f.benchmark}: {fmt(f.median)} {f.unit} (target {f.target}, met {f.met})")


if __name__ == "__main__":
    main()
