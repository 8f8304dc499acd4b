"""A dispatch decision (派单决策) (issue: performance and scale-out): the pure domain
decision, in process, and the dispatch of a registered case through the service on
PostgreSQL.

*Domain*: ``responsible_for`` then ``domain.dispatch.decide`` over the demo sub-district's
roster (its day and night tables) for ``DECISIONS`` random cases a run: a demo unit and
its grid, on the street frontage or not (even odds), a subclass of the shipped taxonomy
(a component's owner names one of the departments one time in five), the shift in force
at a random minute of a week (working calendar), and random open-case counts for every
person. Decisions/s and µs per decision (the run's mean), median of ``repeats`` runs. Each
decision is made on a roster value of its own, so that it scans the assignments as the
first report at a place after a roster change does; a roster keeps who is on duty where
(``Roster.answers``), so the later reports there decide faster: that figure is given too.

*Service*: a fresh PostgreSQL database with the demo (as ``intake``), automatic dispatch
off, so that reported cases stop at registered (patrol reports, random subclasses, random
positions in the demo units, on a Wednesday morning: the day table on duty). Each run
then dispatches ``cases`` of them one after another, as an operator does without naming
an assignee: ``services.cases.act(…, Action.DISPATCH, operator, {})`` — the case loaded
for update, the roster, the candidates' open cases, the decision, the event, the outbox,
the commit. Decisions/s, wall and CPU ms per decision (this process and PostgreSQL's
backends).

Baselines, each measured in the same run and alternately with what it is compared with
(one baseline run after each run), so that the ratios survive a noisy machine:

- *domain*: a fixed pure-Python calibration of the decision's shape and no domain code
  — for each of the same random cases, one scan over the demo roster's assignments as
  plain tuples (number, shift, grid), keeping those of the case's shift on its grid or
  on none, and the one with the fewest open cases by a ``(open cases, number)`` key: what
  choosing among the roster cannot go below. µs per case; ratio decision µs / baseline µs.
- *service*: PostgreSQL's own single-row insert transactions per second on one
  connection (``bench.intake.baseline_once`` with one client, ``BASELINE_S`` seconds, in
  a scratch database of its own) — a dispatch is one such transaction and more; ratio
  dispatches/s / inserts/s.

Targets:

- domain decision < 100 µs. The intake target (500 cases/s on the two cores of the
  reference machine) leaves 4 ms of CPU per case for everything — HTTP, validation, SQL,
  PostgreSQL. Every automatically dispatched case takes one decision; at 100 µs it is
  2.5 % of that budget, and at 1,000 cases/s still a tenth of one core, so the decision
  never limits intake. The demo roster is small (about 270 people, 360 assignments) and
  a decision scans every assignment: a larger sub-district needs the margin.
- service dispatch ≥ 250 decisions/s on one connection (< 4 ms per dispatch with its
  transaction): two API processes then dispatch at the 500 cases/s of the intake target,
  so neither automatic dispatch at intake nor an operator's dispatch is the bottleneck.

Quick trial without recording: ``python -m bench.dispatch --repeats 1 --cases 200``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta

from shapely.geometry import shape

from bench.intake import BackendCpu, _positions, baseline_once, fresh_database, sqlalchemy_url
from bench.record import Figure, fmt, print_or_record
from bench.sweep import REPORTED
from chengyun.adapters.calendar import china_calendar
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.domain.cases import Action, CaseStatus, Channel
from chengyun.domain.dispatch import Place, decide, responsible_for
from chengyun.domain.duty import Responsible
from chengyun.domain.errors import Conflict
from chengyun.domain.forces import Department, Post, Roster, Shift
from chengyun.domain.taxonomy import CaseKind
from chengyun.domain.territory import Territory
from chengyun.entrypoints.cli_simulate import load_roster, load_territory
from chengyun.entrypoints.platform import Platform
from chengyun.services.cases import ReportCommand, act, report_case

DECISIONS = 20_000
DECISION_TARGET_US = 100.0
SERVICE_TARGET = 250.0
STREET_SHARE = 0.5
OWNER_SHARE = 0.2
MAX_OPEN = 30
WARM_UP = 50
#: Seconds of the service baseline (single-row inserts on one connection) a run.
BASELINE_S = 3.0


# --- the domain decision -------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionCase:
    shift: Shift
    place: Place
    rule: Responsible
    owner: str | None


def decision_cases(territory: Territory, count: int, rng: random.Random) -> list[DecisionCase]:
    """Random cases as dispatch sees them (the shift from a random minute of a week)."""
    taxonomy = list(load_default_taxonomy())
    calendar = china_calendar()
    monday = REPORTED - timedelta(days=REPORTED.weekday(), hours=REPORTED.hour)
    departments = [d.zh for d in Department]
    cases = []
    for _ in range(count):
        unit = rng.choice(territory.units)
        rule = rng.choice(taxonomy)
        owner = None
        if rule.kind is CaseKind.COMPONENT and rng.random() < OWNER_SHARE:
            owner = rng.choice(departments)
        at = monday + timedelta(minutes=rng.randrange(7 * 24 * 60))
        cases.append(
            DecisionCase(
                calendar.shift_at(at),
                Place(unit.grid_code, unit.code, rng.random() < STREET_SHARE),
                rule.responsible,
                owner,
            )
        )
    return cases


def decisions_once(
    roster: Roster, cases: list[DecisionCase], rng: random.Random, *, cold: bool = True
) -> tuple[float, int]:
    """Seconds for all the decisions, and how many found no one on duty. ``cold``: each
    decision on a roster value of its own, so that it finds none of the answers a roster
    keeps (``Roster.answers``) and scans the assignments, as the first report at a place
    after the roster changed does; otherwise all on one roster, as reports are."""
    open_cases = {p.number: rng.randrange(MAX_OPEN) for p in roster.people}
    rosters = (
        [Roster(roster.people, roster.assignments) for _ in cases]
        if cold
        else [roster] * len(cases)
    )
    queued = 0
    start = time.perf_counter()
    for case, asked in zip(cases, rosters, strict=True):
        decision = decide(
            asked, case.shift, case.place, responsible_for(case.rule, case.owner), open_cases
        )
        queued += decision.assignee is None
    return time.perf_counter() - start, queued


def calibration_once(
    roster: Roster, cases: list[DecisionCase], rng: random.Random
) -> tuple[float, int]:
    """Seconds for the domain baseline over ``cases``, and how many found no one: per
    case, one scan of the roster's assignments as plain tuples and the minimum by a
    ``(open cases, number)`` key, no domain code."""
    rows = [(a.number, a.shift.value, a.grid_code) for a in roster.assignments]
    open_cases = {p.number: rng.randrange(MAX_OPEN) for p in roster.people}
    asked = [(c.shift.value, c.place.grid_code) for c in cases]
    empty = 0
    start = time.perf_counter()
    for shift, grid in asked:
        found = [n for n, s, g in rows if s == shift and (g is None or g == grid)]
        if found:
            min(found, key=lambda n: (open_cases[n], n))
        else:
            empty += 1
    return time.perf_counter() - start, empty


# --- the service ---------------------------------------------------------------------------


def registered_cases(platform: Platform, clock: DrivenClock, count: int, seed: int) -> list[int]:
    """``count`` patrol reports registered but not dispatched (automatic dispatch is off)."""
    rng = random.Random(seed)
    territory = platform.territory_index.get().territory
    positions = _positions([shape(u.geometry) for u in territory.units], count, rng)
    codes = [rule.code for rule in platform.cases.default_taxonomy]
    with platform.uow() as uow:
        patrol = [p.number for p in uow.forces.roster().people if p.post is Post.PATROL]
    clock.set(REPORTED)
    ids = []
    for lng, lat in positions:
        command = ReportCommand(
            channel=Channel.PATROL,
            subclass=rng.choice(codes),
            lng=lng,
            lat=lat,
            description="bench dispatch",
            reporter=rng.choice(patrol),
        )
        result = report_case(platform.uow(), platform.cases, command)
        if result.record.case.status is not CaseStatus.REGISTERED:
            raise RuntimeError(f"a report was {result.record.case.status}, not registered")
        ids.append(result.record.id)
    return ids


@dataclass(frozen=True)
class ServiceRun:
    rate: float
    wall_ms: float
    cpu_ms: float
    """This process's CPU per decision."""
    postgres_ms: float
    queued: int


def dispatch_once(platform: Platform, database: str, operator: str, ids: list[int]) -> ServiceRun:
    queued = 0
    with BackendCpu(database) as postgres:
        start, cpu = time.perf_counter(), time.process_time()
        for case_id in ids:
            try:
                act(platform.uow(), platform.cases, case_id, Action.DISPATCH, operator, {})
            except Conflict:  # no one on duty: the case stays in the command centre's queue
                queued += 1
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(ids)
    return ServiceRun(
        n / wall, wall * 1000 / n, cpu * 1000 / n, postgres.seconds * 1000 / n, queued
    )


def service_runs(repeats: int, cases: int) -> tuple[list[ServiceRun], list[float]]:
    """The service runs and, after each, the baseline's single-row inserts/s."""
    runs: list[ServiceRun] = []
    baseline: list[float] = []
    with fresh_database() as database:
        clock = DrivenClock(REPORTED)
        settings = Settings(
            database_url=sqlalchemy_url(database), mode="development", auto_dispatch_all=False
        )
        platform = Platform(settings, clock=clock)
        try:
            start = time.perf_counter()
            ids = registered_cases(platform, clock, WARM_UP + repeats * cases, 1)
            print(
                f"  {len(ids)} registered cases reported in {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            with platform.uow() as uow:
                operator = next(
                    p.number for p in uow.forces.roster().people if p.post is Post.OPERATOR
                )
            clock.set(REPORTED + timedelta(minutes=2))
            dispatch_once(platform, database, operator, ids[:WARM_UP])
            for i in range(repeats):
                part = ids[WARM_UP + i * cases : WARM_UP + (i + 1) * cases]
                runs.append(dispatch_once(platform, database, operator, part))
                r = runs[-1]
                print(
                    f"  service run {i + 1}: {fmt(r.rate)} dispatches/s, {r.wall_ms:.2f} ms wall, "
                    f"CPU {r.cpu_ms:.2f} ms this process + {r.postgres_ms:.2f} ms PostgreSQL "
                    f"per dispatch; {r.queued} of {len(part)} found no one on duty",
                    flush=True,
                )
                baseline.append(baseline_once(BASELINE_S, 1))
                print(
                    f"  baseline: {fmt(baseline[-1])} single-row insert transactions/s "
                    f"(one connection); dispatch/baseline {r.rate / baseline[-1]:.3f}",
                    flush=True,
                )
        finally:
            platform.engine.dispose()
    return runs, baseline


# --- the benchmark ------------------------------------------------------------------------


def run(repeats: int = 3, cases: int = 500, decisions: int = DECISIONS) -> list[Figure]:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"  load average before: {load}", flush=True)
    territory = load_territory(None)
    roster = load_roster([], territory)
    rng = random.Random(1)
    sample = decision_cases(territory, decisions, rng)
    decisions_once(roster, sample[:1000], rng)  # warm-up
    calibration_rng = random.Random(2)  # its own, so the decisions see what they saw before
    calibration_once(roster, sample[:1000], calibration_rng)
    micro: list[float] = []
    warm: list[float] = []
    calibration: list[float] = []
    for i in range(max(repeats, 3)):
        seconds, queued = decisions_once(roster, sample, rng)
        micro.append(seconds * 1e6 / len(sample))
        kept, _ = decisions_once(roster, sample, rng, cold=False)
        warm.append(kept * 1e6 / len(sample))
        bare, _ = calibration_once(roster, sample, calibration_rng)
        calibration.append(bare * 1e6 / len(sample))
        print(
            f"  domain run {i + 1}: {fmt(len(sample) / seconds)} decisions/s, "
            f"{micro[-1]:.1f} µs a decision ({warm[-1]:.1f} on one roster keeping its "
            f"answers); {queued} of {len(sample)} found no one on duty "
            f"(roster: {len(roster.people)} people, {len(roster.assignments)} assignments); "
            f"baseline {calibration[-1]:.1f} µs a case, decision/baseline "
            f"{micro[-1] / calibration[-1]:.2f}",
            flush=True,
        )
    service, inserts = service_runs(repeats, cases)
    rates = [r.rate for r in service]
    what = f"demo roster, {len(sample):,} random cases a run"
    label = f"dispatch through the service on PostgreSQL, one connection, {cases} cases a run"
    reference = "— (reference)"
    return [
        Figure(
            f"dispatch decision (domain, in process), {what}",
            "µs",
            micro,
            f"< {DECISION_TARGET_US:.0f} µs",
            statistics.median(micro) < DECISION_TARGET_US,
        ),
        Figure(
            f"dispatch decisions (domain, in process), {what}",
            "decisions/s",
            [1e6 / us for us in micro],
            f"≥ {1e6 / DECISION_TARGET_US:,.0f}",
            statistics.median(micro) < DECISION_TARGET_US,
        ),
        Figure(
            f"dispatch decision (domain, in process) on one roster keeping its answers "
            f"(who is on duty where), {what}",
            "µs",
            warm,
            reference,
            True,
        ),
        Figure(
            f"baseline: a scan of the demo roster's assignments as tuples and the minimum "
            f"by (open cases, number), pure Python, {what}",
            "µs",
            calibration,
            reference,
            True,
        ),
        Figure(
            "dispatch decision (domain) / baseline",
            "×",
            [m / c for m, c in zip(micro, calibration, strict=True)],
            reference,
            True,
        ),
        Figure(
            label,
            "decisions/s",
            rates,
            f"≥ {SERVICE_TARGET:,.0f}",
            statistics.median(rates) >= SERVICE_TARGET,
        ),
        Figure(
            f"{label}: CPU per decision, this process",
            "ms",
            [r.cpu_ms for r in service],
            reference,
            True,
        ),
        Figure(
            f"{label}: CPU per decision, PostgreSQL's backends",
            "ms",
            [r.postgres_ms for r in service],
            reference,
            True,
        ),
        Figure(
            f"baseline: PostgreSQL single-row insert transactions, one connection, "
            f"{fmt(BASELINE_S)} s",
            "inserts/s",
            inserts,
            reference,
            True,
        ),
        Figure(
            "dispatch through the service / baseline",
            "×",
            [r / b for r, b in zip(rates, inserts, strict=True)],
            reference,
            True,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each (the domain one at least 3)"
    )
    parser.add_argument("--cases", type=int, default=500, help="dispatched per service run")
    parser.add_argument("--decisions", type=int, default=DECISIONS, help="per domain run")
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    figures = run(args.repeats, args.cases, args.decisions)
    print_or_record(figures, args.record)


if __name__ == "__main__":
    main()
