"""Open311 GeoReport v2 intake over HTTP on PostgreSQL (issue: performance and scale-out).

``POST /open311/v2/requests.json`` against ``chengyun serve`` with 2 server processes, as
the ``intake`` benchmark runs it (a fresh database with the demo sub-district, the same
load generator in this process apart from the server, the same warm-up, CPU accounting
and checks). Each post is form-encoded, as the spec's clients send it, with the demo
application's ``api_key`` (``demo-open311-key``): a ``service_code`` from
``services.json``, ``lat``/``long`` inside a demo unit, a description, on components a
``attribute[hazard]`` (one in ten ``true``), on a third of them the citizen's name and
phone number, and a new ``Idempotency-Key`` each. No photos.

Afterwards the database is checked against the 201 answers: an acknowledged request is
*lost* unless its ``Idempotency-Key`` leads, through the stored request and its case's
idempotency key, to the case number it was answered with; a case number or client key
stored twice, or a case number answered twice, is a *duplicate*.

A repeat is: the load with 2 server processes, then PostgreSQL's own single-row insert
transactions per second with as many clients (the ``intake`` baseline, measured in the
same run); the ratio of the two is printed with each run.

Target: ≥ 800 requests/s with 2 server processes (the Open311 gateway of a whole
district, fed by several citizen apps, on the platform's two API processes); no errors,
nothing lost or duplicated. The server's CPU time per request is the steadier figure on
a shared machine.

Quick trial without recording: ``python -m bench.open311 --seconds 10 --repeats 1``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx2
import psycopg

from bench.http import LeanClient
from bench.intake import (
    BASELINE_S,
    WORKER,
    Check,
    LoadRun,
    Sample,
    Send,
    backlog_figure,
    baseline_once,
    describe,
    fresh_database,
    load,
    measure,
    pg_url,
    server_log,
    serving,
    workload,
)
from bench.record import Figure, fmt, print_or_record
from chengyun.services.open311_records import CASE_KEY_PREFIX

TARGET = 800.0
WORKERS = 2
API_KEY = "demo-open311-key"
PATH = "/open311/v2/requests.json"
HAZARD_SHARE = 0.1
CONTACT_SHARE = 1 / 3


@dataclass(frozen=True)
class Services:
    codes: list[str]
    components: frozenset[str]
    """Codes whose definition has attributes (components: object code, hazard)."""


def services(base: str) -> Services:
    """The service list a client reads first (``GET /open311/v2/services.json``)."""
    with httpx2.Client(base_url=base, timeout=30) as client:
        answer = client.get("/open311/v2/services.json")
        answer.raise_for_status()
        listed = answer.json()
    codes = [str(s["service_code"]) for s in listed]
    if not codes:
        raise RuntimeError("services.json lists no service")
    return Services(codes, frozenset(str(s["service_code"]) for s in listed if s["metadata"]))


def form(
    offered: Services, positions: list[tuple[float, float]], rng: random.Random
) -> dict[str, str]:
    """One request's form fields."""
    lng, lat = rng.choice(positions)
    code = rng.choice(offered.codes)
    fields = {
        "api_key": API_KEY,
        "service_code": code,
        "lat": str(lat),
        "long": str(lng),
        "description": f"bench open311 {code}",
    }
    if code in offered.components:
        fields["attribute[hazard]"] = "true" if rng.random() < HAZARD_SHARE else "false"
    if rng.random() < CONTACT_SHARE:
        fields["first_name"] = "伟"
        fields["last_name"] = "张"
        fields["phone"] = f"139{rng.randrange(10**8):08d}"
    return fields


def poster(offered: Services, positions: list[tuple[float, float]]) -> Send:
    async def send(client: LeanClient, rng: random.Random, key: str) -> tuple[int, str | None]:
        answer = await client.post(
            PATH, data=form(offered, positions, rng), headers={"Idempotency-Key": key}
        )
        status = answer.status_code
        if status not in (200, 201):
            return status, None
        return status, str(answer.json()[0]["service_request_id"])

    return send


# --- the database against the answers ----------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    numbers: Counter[str]
    client_keys: Counter[str]
    case_of_key: dict[str, str]
    """Client key → case number, through the stored request and its case's idempotency key."""
    transactions: dict[str, str]
    """Case number → the transaction that stored the case (``xmin``)."""


def stored(database: str) -> Stored:
    with psycopg.connect(pg_url(database)) as db:
        numbers: Counter[str] = Counter()
        transactions: dict[str, str] = {}
        for number, xmin in db.execute("SELECT number, xmin::text FROM cases"):
            numbers[str(number)] += 1
            transactions[str(number)] = str(xmin)
        client_keys = Counter(
            str(k)
            for (k,) in db.execute(
                "SELECT client_key FROM open311_requests WHERE client_key IS NOT NULL"
            )
        )
        chain = db.execute(
            "SELECT r.client_key, c.number FROM open311_requests AS r "
            "JOIN idempotency_keys AS k ON k.key = %s || r.token "
            "JOIN cases AS c ON c.id = k.case_id WHERE r.client_key IS NOT NULL",
            (CASE_KEY_PREFIX,),
        )
        case_of_key = {str(k): str(n) for k, n in chain}
    return Stored(numbers, client_keys, case_of_key, transactions)


def check(database: str, samples: list[Sample], before: Counter[str]) -> Check:
    """Acknowledged but missing (or leading to another case), stored or answered twice.
    ``before`` are the case numbers stored before the load began."""
    acknowledged = [s for s in samples if s.status == 201]
    found = stored(database)
    numbers = found.numbers
    numbers.subtract(before)
    numbers = +numbers
    answered = Counter(s.number for s in acknowledged)
    lost = sum(1 for s in acknowledged if found.case_of_key.get(s.key) != s.number)
    duplicates = (
        sum(n - 1 for n in numbers.values())
        + sum(n - 1 for n in found.client_keys.values())
        + sum(n - 1 for n in answered.values())
    )
    total = sum(numbers.values())
    batches = len({found.transactions[n] for n in numbers})
    return Check(total, lost, duplicates, total - len(answered), total / max(batches, 1))


# --- the benchmark ------------------------------------------------------------------------


def open311_once(
    seconds: float, concurrency: int, seed: int, log: IO[bytes], source: Path | None = None
) -> LoadRun:
    """One run on a fresh database; ``source``, see ``serving``."""
    rng = random.Random(seed)
    with fresh_database() as database, serving(database, WORKERS, log, source) as served:
        base = served.base
        positions = workload(base, database, rng).positions
        offered = services(base)
        before = stored(database).numbers
        keep_up = load(base, {}, poster(offered, positions), concurrency)
        return measure(
            database,
            WORKERS,
            served,
            keep_up,
            seconds,
            seed,
            lambda samples: check(database, samples, before),
        )


def _load_average() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def run(repeats: int = 3, seconds: float = 30.0, concurrency: int = 32) -> list[Figure]:
    runs: list[LoadRun] = []
    baseline: list[float] = []
    with server_log() as log:
        for i in range(repeats):
            print(f"  run {i + 1}: load average before {_load_average()}", flush=True)
            runs.append(open311_once(seconds, concurrency, 10 * i, log))
            print(describe(runs[-1], "request"), flush=True)
            baseline.append(baseline_once(BASELINE_S, concurrency))
            print(
                f"  baseline: {fmt(baseline[-1])} single-row insert transactions/s "
                f"({concurrency} clients); Open311/baseline {runs[-1].rate / baseline[-1]:.3f}",
                flush=True,
            )
    rates = [r.rate for r in runs]
    ratio = [r.rate / b for r, b in zip(runs, baseline, strict=True)]
    print(f"  Open311/baseline: median {statistics.median(ratio):.3f}", flush=True)
    label = (
        f"Open311 POST requests.json over HTTP, PostgreSQL, {WORKERS} server processes, "
        f"{concurrency} in flight, {fmt(seconds)} s"
    )
    reference = "— (reference)"
    return [
        Figure(label, "requests/s", rates, f"≥ {TARGET:,.0f}", statistics.median(rates) >= TARGET),
        Figure(f"{label}: p99 latency", "ms", [r.p99_ms for r in runs], reference, True),
        Figure(
            f"{label}: errors (non-201 or no answer)",
            "",
            [float(r.errors) for r in runs],
            "0",
            all(r.errors == 0 for r in runs),
        ),
        Figure(
            f"{label}: lost (acknowledged, not stored)",
            "",
            [float(r.check.lost) for r in runs],
            "0",
            all(r.check.lost == 0 for r in runs),
        ),
        Figure(
            f"{label}: duplicates",
            "",
            [float(r.check.duplicates) for r in runs],
            "0",
            all(r.check.duplicates == 0 for r in runs),
        ),
        Figure(
            f"{label}: server CPU per request",
            "ms",
            [r.cpu_ms["server"] for r in runs],
            reference,
            True,
        ),
        Figure(
            f"{label}: PostgreSQL backends' CPU per request",
            "ms",
            [r.cpu_ms["postgres"] for r in runs],
            reference,
            True,
        ),
        Figure(
            f"{label}: CPU per request of the `chengyun worker` beside the server (staff "
            "messages delivered, counts folded)",
            "ms",
            [r.cpu_ms[WORKER] for r in runs],
            reference,
            True,
        ),
        backlog_figure(label, runs),
        Figure(
            f"{label}: cores used by other processes meanwhile (of {os.cpu_count()})",
            "",
            [r.others_cores for r in runs],
            reference,
            True,
        ),
        Figure(
            f"baseline: PostgreSQL single-row insert transactions, {concurrency} clients, "
            f"{fmt(BASELINE_S)} s (measured between the Open311 runs)",
            "inserts/s",
            baseline,
            reference,
            True,
        ),
        Figure("Open311 POST / baseline", "×", ratio, reference, True),
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
