"""Intake (or Open311) at two revisions, run in pairs: which is faster on a machine whose
speed drifts.

    python -m bench.compare REV [--open311 | --open-cases] [--workers 2] [--rate R] [--pairs 4]
        [--seconds 15] [--record]

The benchmark machines are shared virtual machines: within one hour the same code went
from 600 to 900 cases/s and its server CPU per case from 1.3 to 1.8 ms, so two sections
of ``RESULTS.md`` cannot tell a change of 10 % from the weather. This runs the intake
benchmark's 2-worker run (``intake.intake_once``: a fresh database, ``chengyun serve
--workers 2``, 32 requests in flight, the database checked afterwards) with the server
from ``REV``'s source and from this checkout in turn, in the order old, new, new, old, …
(so that a drift of the machine falls on both alike), and prints each pair's ratios
(this checkout / ``REV``) of cases/s, of the 99th percentile latency and of the server's
and PostgreSQL's CPU per case, with their medians. ``--open311`` runs the Open311 benchmark's run instead
(``open311.open311_once``: ``POST requests.json``, 2 server processes);
``--open-cases``, intake on a database already holding ``OPEN_CASES`` open cases;
``--workers 1``, intake with one server process; ``--rate R``, intake offered a steady
``R`` reports a second (``intake.paced``, an open loop over ``intake.CONNECTIONS``
connections, each report timed from when it was due) instead of 32 clients back to back.
``--record`` appends them to ``RESULTS.md``.

``REV``'s ``src`` is taken with ``git archive`` and put first on the old server's
``PYTHONPATH``; everything else — the database (this checkout's migrations and demo),
the load generator, the checks — is this checkout's, so the two revisions must have the
same migrations (checked). Record from a clean checkout: the section names its commit.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.intake import CONNECTIONS, OPEN_CASES, LoadRun, describe, intake_once, server_log
from bench.open311 import open311_once
from bench.record import Figure, append, fmt

ROOT = Path(__file__).resolve().parent.parent
#: What each pair compares, as a ratio this checkout / the other revision.
MEASURES: dict[str, Callable[[LoadRun], float]] = {
    "cases/s": lambda run: run.rate,
    "p99 latency": lambda run: run.p99_ms,
    "server CPU per case": lambda run: run.cpu_ms["server"],
    "PostgreSQL backends' CPU per case": lambda run: run.cpu_ms["postgres"],
}
MIGRATIONS = Path("src/chengyun/migrations/versions")


def source_of(revision: str, into: Path) -> Path:
    """``revision``'s ``src`` written under ``into``; the directory to import it from."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, "src"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(
            f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 on
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)  # our own repository's archive
    return into / "src"


def short_name(revision: str) -> str:
    """``revision`` as its abbreviated commit id (``HEAD~2`` names nothing once recorded)."""
    named = subprocess.run(
        ["git", "rev-parse", "--short", f"{revision}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if named.returncode != 0:
        raise SystemExit(f"no such revision: {revision}")
    return named.stdout.strip()


def _migrations(src: Path) -> list[str]:
    return sorted(p.name for p in (src.parent / MIGRATIONS).glob("*.py"))


def compare(
    revision: str,
    pairs: int,
    seconds: float,
    concurrency: int = 32,
    open311: bool = False,
    open_cases: bool = False,
    workers: int = 2,
    rate: float | None = None,
) -> tuple[list[tuple[LoadRun, LoadRun]], list[Figure]]:
    """``pairs`` pairs of runs (``REV``'s, this checkout's) and their figures; with
    ``open311``, of the Open311 benchmark; with ``open_cases``, of intake at scale; with
    ``rate``, of intake offered ``rate`` reports a second."""
    done: list[tuple[LoadRun, LoadRun]] = []
    with tempfile.TemporaryDirectory(prefix="chengyun-compare-") as scratch, server_log() as log:
        old_src = source_of(revision, Path(scratch))
        if _migrations(old_src) != _migrations(ROOT / "src"):
            raise SystemExit(
                f"{revision} and this checkout have different migrations: the benchmark's "
                "database is made by this checkout's, so the two cannot be compared this way"
            )
        for i in range(pairs):
            runs: dict[str, LoadRun] = {}
            for which in ("old", "new") if i % 2 == 0 else ("new", "old"):
                source = old_src if which == "old" else None
                if open311:
                    runs[which] = open311_once(seconds, concurrency, 100 + i, log, source)
                else:
                    runs[which] = intake_once(
                        workers,
                        seconds,
                        concurrency if rate is None else CONNECTIONS,
                        100 + i,
                        log,
                        open_cases=open_cases,
                        source=source,
                        rate=rate,
                    )
                label = revision if which == "old" else "this checkout"
                print(f"{label:>14}:{describe(runs[which])}", flush=True)
            done.append((runs["old"], runs["new"]))
            old, new = runs["old"], runs["new"]
            noun = "request" if open311 else "case"  # Open311's count requests
            ratios = ", ".join(
                f"{n.replace('case', noun)} × {m(new) / m(old):.3f}" for n, m in MEASURES.items()
            )
            print(f"  pair {i + 1}: {ratios}", flush=True)
    return done, figures(revision, done, seconds, concurrency, open311, open_cases, workers, rate)


def figures(
    revision: str,
    done: list[tuple[LoadRun, LoadRun]],
    seconds: float,
    concurrency: int,
    open311: bool = False,
    open_cases: bool = False,
    workers: int = 2,
    rate: float | None = None,
) -> list[Figure]:
    what = "Open311 POST requests.json" if open311 else "intake"
    scale = f", {OPEN_CASES:,} open cases stored before" if open_cases else ""
    load = (
        f"{concurrency} in flight"
        if rate is None
        else f"{fmt(rate)} cases/s offered (open loop, up to {CONNECTIONS} connections)"
    )
    label = (
        f"{what} over HTTP, PostgreSQL, {load}, {fmt(seconds)} s, "
        f"{workers} worker{'s' if workers > 1 else ''}"
        f"{scale}, in pairs with {revision}"
    )
    reference = "— (reference)"
    # Open311's figures count requests (each makes a case)
    noun = "request" if open311 else "case"
    per_s = f"{noun}s/s"
    result = [
        Figure(f"{label}: {per_s}, {revision}", per_s, [o.rate for o, _ in done], reference, True),
        Figure(f"{label}: {per_s}, this commit", per_s, [n.rate for _, n in done], reference, True),
    ]
    for name, measure in MEASURES.items():
        ratios = [measure(n) / measure(o) for o, n in done]
        named = name.replace("case", noun)
        result.append(
            Figure(f"{label}: {named}, this commit / {revision}", "×", ratios, reference, True)
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revision", help="the revision to compare this checkout with")
    parser.add_argument("--pairs", type=int, default=4, help="pairs of runs (default 4)")
    parser.add_argument("--seconds", type=float, default=15.0, help="load per run (default 15)")
    parser.add_argument(
        "--open311", action="store_true", help="compare Open311 POSTs instead of intake"
    )
    parser.add_argument(
        "--open-cases",
        action="store_true",
        help=f"intake on a database already holding {OPEN_CASES:,} open cases",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="intake's server processes (default 2)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="intake offered this many reports a second (an open loop) instead of 32 clients",
    )
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    if args.pairs < 1 or args.seconds <= 0:
        parser.error("--pairs must be at least 1 and --seconds above 0")
    if args.open311 and args.open_cases:
        parser.error("--open311 and --open-cases do not go together")
    if args.workers < 1 or (args.open311 and args.workers != 2):
        parser.error("--workers must be at least 1 (Open311 runs with 2)")
    if args.rate is not None and (args.open311 or not args.rate > 0):
        parser.error("--rate must be above 0, and is for intake only")
    _, found = compare(
        short_name(args.revision),
        args.pairs,
        args.seconds,
        open311=args.open311,
        open_cases=args.open_cases,
        workers=args.workers,
        rate=args.rate,
    )
    for f in found:
        print(
            f"{f.benchmark}: median {fmt(f.median)} {f.unit} ({fmt(min(f.runs))}–{fmt(max(f.runs))})"
        )
    if args.record:
        print(append(found))


if __name__ == "__main__":
    main()
