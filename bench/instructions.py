"""Instructions a report costs the committing thread, counted (callgrind), at two
revisions: a change of a few per cent that timing cannot see on a drifting machine.

    python -m bench.instructions REV [--few 5] [--many 25]

The benchmark machines are shared virtual machines whose speed drifts by a third within
minutes (``compare``'s pairs of the same code: 563 to 775 cases/s); a change that saves
5–10 % of a report's CPU needs many pairs to show. Valgrind's callgrind counts the
instructions the interpreter executes instead: the same for the same code and inputs,
whatever else the machine does (and some 50 times slower, so only the committing work is
run, not the HTTP server).

For ``REV`` (its ``src`` taken with ``git archive``, as ``compare`` does) and for this
checkout, ``services.cases.report_cases`` — the group commit's work — takes batches of 16
reports of intake's workload (mixed channels, random subclasses and positions from the
demo's units, an Idempotency-Key and an audit record each; the same seeds on both sides)
in a fresh copy of one database prepared once (the demo sub-district). The reports are
made as ``POST /api/v1/cases`` makes them (its ``CaseIn`` and ``report_command``), so
``REV`` must have ``report_command`` (since the commit that added it). Each side runs
twice, with ``--few`` and with ``--many`` batches, the two at once (one a core), both
making ``--many`` batches of reports, and the difference of the two counts over the
extra reports is its instructions per report: start-up (imports, the first connection)
and making the reports fall out, so the counts are a little lower than those made before
(which counted making them). PostgreSQL's own work is not counted (another process), nor
is the event loop's. Prints both counts and their ratio. Needs valgrind (Debian's
``valgrind``). Takes about 10 minutes on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql

from bench.compare import ROOT, _migrations, short_name, source_of
from bench.intake import (
    Workload,
    _positions,
    fresh_database,
    patrol_numbers,
    pg_url,
    report,
    sqlalchemy_url,
)

BATCH = 16
#: callgrind's count of all instructions executed, in the file it writes
TOTALS = re.compile(r"^(?:totals|summary): (\d+)", re.MULTILINE)


def _batches(template: str, rounds: int, made: int) -> None:
    """The child's work (under callgrind): ``made`` batches of reports made as the endpoint
    makes them, then the first ``rounds`` taken by ``report_cases`` in a copy of
    ``template``, dropped afterwards. Both runs of a side make the same ``made``, so that
    making them falls out of the difference with the rest of start-up."""
    from shapely.geometry import shape

    from chengyun.config import Settings
    from chengyun.domain.access import Principal, Role
    from chengyun.entrypoints.api.v1.cases import CaseIn, report_command
    from chengyun.entrypoints.platform import Platform
    from chengyun.services.accounts import AuditEntry
    from chengyun.services.cases import Report, ReportCommand, report_cases

    name = f"{template}_{os.getpid()}"
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = Settings(
                mode="development", data_dir=Path(data_dir), database_url=sqlalchemy_url(name)
            )
            platform = Platform(settings)
            patrol = patrol_numbers(name)
            with psycopg.connect(pg_url(name)) as db:
                units = [
                    shape(g) for (g,) in db.execute("SELECT geometry FROM units ORDER BY code")
                ]
            subclasses = sorted(s.code for s in platform.cases.default_taxonomy)
            work = Workload({}, patrol, subclasses, _positions(units, 2000, random.Random(0)))
            rng = random.Random(5)
            audit = AuditEntry("bench", "POST /api/v1/cases", "/api/v1/cases", {"status": 201})

            # as the endpoint takes them: validated as its body, converted by its own function
            who = Principal(0, "bench-intake", Role.SYSTEM)

            def command() -> ReportCommand:
                return report_command(CaseIn.model_validate(report(work, rng)), who)[1]

            batches = [
                [Report(command(), f"{r:08d}-{i:04d}", "0" * 64, audit) for i in range(BATCH)]
                for r in range(made)
            ]
            for batch in batches[:rounds]:
                report_cases(platform.uow(), platform.cases, batch)
            platform.engine.dispose()
    finally:
        with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _counted(
    template: str, rounds: int, made: int, source: Path | None, out: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """A child counting ``rounds`` batches (of ``made``) under callgrind, its counts written
    to ``out`` and what it and valgrind say to ``log``; ``source``: the ``src`` to import
    the project from (this checkout's when ``None``)."""
    path = [str(source)] if source is not None else []
    path += [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.instructions",
            "--child",
            template,
            str(rounds),
            str(made),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )


def _total(out: Path) -> int:
    found = TOTALS.search(out.read_text())
    if found is None:
        raise SystemExit(f"callgrind wrote no total into {out}")
    return int(found.group(1))


def per_report(template: str, few: int, many: int, source: Path | None, scratch: Path) -> float:
    """Instructions per report: the two runs' difference over the extra reports."""
    label = "old" if source is not None else "new"
    outs = {rounds: scratch / f"{label}.{rounds}.callgrind" for rounds in (few, many)}
    logs = {rounds: scratch / f"{label}.{rounds}.log" for rounds in (few, many)}
    with ExitStack() as files:
        children = {
            rounds: _counted(
                template, rounds, many, source, out, files.enter_context(logs[rounds].open("wb"))
            )
            for rounds, out in outs.items()
        }
        exits = {rounds: child.wait() for rounds, child in children.items()}  # both, always
    for rounds, code in exits.items():
        if code != 0:
            said = logs[rounds].read_text(errors="replace").strip().splitlines()[-15:]
            raise SystemExit(
                f"the {label} run of {rounds} batches failed (exit {code}):\n" + "\n".join(said)
            )
    return (_total(outs[many]) - _total(outs[few])) / ((many - few) * BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revision", nargs="?", help="the revision to compare this checkout with")
    parser.add_argument("--few", type=int, default=5, help="batches of the shorter run")
    parser.add_argument("--many", type=int, default=25, help="batches of the longer run")
    parser.add_argument(
        "--child", nargs=3, metavar=("TEMPLATE", "ROUNDS", "MADE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        _batches(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    if not args.revision:
        parser.error("name the revision to compare this checkout with")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install -y valgrind")
    if not 0 < args.few < args.many:
        parser.error("--few must be at least 1 and less than --many")
    revision = short_name(args.revision)
    with (
        tempfile.TemporaryDirectory(prefix="chengyun-instructions-") as scratch,
        fresh_database() as template,
    ):
        old_src = source_of(args.revision, Path(scratch))
        if _migrations(old_src) != _migrations(ROOT / "src"):
            raise SystemExit(
                f"{revision} and this checkout have different migrations: the database is "
                "made by this checkout's, so the two cannot be compared this way"
            )
        endpoint = old_src / "chengyun" / "entrypoints" / "api" / "v1" / "cases.py"
        if "def report_command(" not in endpoint.read_text():
            raise SystemExit(
                f"{revision} has no report_command (the reports are made with it): compare "
                "with a later revision"
            )
        print(
            f"counting {revision}: {args.few} and {args.many} batches under callgrind …", flush=True
        )
        old = per_report(template, args.few, args.many, old_src, Path(scratch))
        print(f"{revision:>14}: {old / 1e6:.3f} million instructions per report", flush=True)
        print("counting this checkout …", flush=True)
        new = per_report(template, args.few, args.many, None, Path(scratch))
        print(f" this checkout: {new / 1e6:.3f} million instructions per report", flush=True)
    print(f"committing work per report, this checkout / {revision}: {new / old:.3f} ×")


if __name__ == "__main__":
    main()
