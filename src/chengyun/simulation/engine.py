"""The capacity simulation (容量仿真): a discrete-event run (SimPy, simulated clock) of a
period of incidents against a roster, driving the platform's own domain code.

Intake, registration, dispatch (``domain.dispatch``), every step of the closed loop
(``domain.cases.apply``), the stage clocks and the escalation sweep
(``domain.case_clocks``) and the measures (``domain.measures``) are the platform's; the
simulation only decides *when* people act and how long things take. No database.
"""

from __future__ import annotations

import heapq
import random
import time as wall
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import simpy

from chengyun.adapters.calendar import china_calendar
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain import case_clocks
from chengyun.domain.case_clocks import ClockRules, Clocks
from chengyun.domain.cases import (
    SYSTEM_ACTOR,
    TERMINAL_STATUSES,
    Action,
    ActionNotAllowed,
    Actor,
    Case,
    CaseStatus,
    Channel,
    apply,
    intake_urgency,
    next_level,
)
from chengyun.domain.dispatch import Place, candidates, choose, responsible_for
from chengyun.domain.duty import OnDuty
from chengyun.domain.forces import Post, Roster, Shift
from chengyun.domain.measures import (
    CaseFacts,
    Figures,
    GroupBy,
    Measure,
    Period,
    all_measures,
    is_valid,
    measures_by_group,
    on_time_handling_rate,
    urgent_on_time_arrival_rate,
)
from chengyun.domain.taxonomy import CaseKind, Stage, Taxonomy, Urgency
from chengyun.domain.territory import Territory
from chengyun.domain.working_time import WorkingCalendar, as_china_time
from chengyun.services.cases import IntakePolicy
from chengyun.simulation.config import SimulationConfig
from chengyun.simulation.discovery import Discovery, PatrolCoverage, Timeline, discover
from chengyun.simulation.handling import (
    SimCase,
    Staff,
    actor_of,
    exponential,
    facts_of,
    handling_minutes,
    travel_minutes,
)
from chengyun.simulation.incidents import Incident, Places, generate

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` in simulated hours."""

_PHOTO_BEFORE = ("simulated-before",)
_PHOTO_AFTER = ("simulated-after",)


@dataclass(frozen=True)
class HourRow:
    """One hour of the day (0–23) over the period: incidents that appeared then, the cases
    found then with their urgent on-time arrival and on-time handling, and how many of
    those cases went red (an escalated stage: an SLA miss)."""

    hour: int
    found: int
    cases: int
    missed: int
    figures: Figures

    @property
    def miss_share(self) -> float:
        return self.missed / self.cases if self.cases else 0.0


@dataclass(frozen=True)
class StaffRow:
    """A person's load over the period."""

    number: str
    name: str
    post: Post
    force: str
    shifts: tuple[Shift, ...]
    jobs: int
    self_handled: int
    busy_minutes: float
    duty_minutes: float

    @property
    def utilisation(self) -> float:
        return self.busy_minutes / self.duty_minutes if self.duty_minutes else 0.0


@dataclass
class SimulationResult:
    """What one run produced: the cases' facts and the figures the platform would show."""

    name: str
    config: SimulationConfig
    period: Period
    incidents: int
    found: int
    undiscovered: int
    facts: list[CaseFacts]
    figures: Figures
    by_shift: dict[Shift, Figures]
    by_grid: list[tuple[str | None, Figures]]
    by_unit: list[tuple[str | None, Figures]]
    by_hour: list[HourRow]
    staff: list[StaffRow]
    sla: dict[Stage, tuple[int, int]]
    channels: Counter[str]
    queued_cases: int
    queued_minutes: float
    escalations: int
    names: dict[str, str] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    incident_list: Sequence[Incident] = ()

    def worst_hours(self, count: int = 5) -> list[HourRow]:
        """The hours of the day whose cases most often went red."""
        ranked = sorted(self.by_hour, key=lambda h: (-h.miss_share, -h.missed, h.hour))
        return [h for h in ranked if h.cases][:count]


class _Run:
    """One simulation run: the SimPy environment and the state the processes share."""

    def __init__(
        self,
        territory: Territory,
        roster: Roster,
        config: SimulationConfig,
        incidents: Sequence[Incident],
        places: Places,
        taxonomy: Taxonomy,
        calendar: WorkingCalendar,
        progress: Progress | None,
    ) -> None:
        self.env = simpy.Environment()
        self.territory = territory
        self.roster = roster
        self.config = config
        self.incidents = incidents
        self.places = places
        self.taxonomy = taxonomy
        self.calendar = calendar
        self.progress = progress
        self.timeline = Timeline(calendar, config.start, config.days)
        self.horizon = config.days * 1440.0
        self.coverage = PatrolCoverage(roster, territory, places, config)
        self.policy = IntakePolicy()
        self.grids = {g.code: g for g in territory.grids}
        self.key_units = frozenset(u.code for u in territory.units if u.key)
        shifts: dict[str, set[Shift]] = {}
        homes: dict[str, tuple[str | None, str | None]] = {}
        for a in roster.assignments:
            shifts.setdefault(a.number, set()).add(a.shift)
            homes.setdefault(a.number, (a.grid_code, a.unit_code))
        self.staff: dict[str, Staff] = {}
        for index, person in enumerate(roster.people):
            grid_code, unit_code = homes.get(person.number, (None, None))
            self.staff[person.number] = Staff(
                person,
                simpy.PriorityResource(self.env, capacity=1),
                places.home(grid_code, unit_code, index),
                frozenset(shifts.get(person.number, ())),
            )
        self.operators = [
            actor_of(p)
            for p in sorted(roster.people, key=lambda p: p.number)
            if p.post is Post.OPERATOR
        ] or [Actor("centre-operator", centre=True)]
        self.open_counts: dict[str, int] = {}
        self.cases: list[SimCase] = []
        self.heap: list[tuple[datetime, int, int, SimCase]] = []
        self.pushes = 0
        self.numbers: dict[str, int] = {}
        self.candidates: dict[tuple[Any, ...], list[OnDuty]] = {}
        self.sla: dict[Stage, list[int]] = {stage: [0, 0] for stage in Stage}
        self.escalations = 0
        self.found = 0

    # --- time -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.timeline.at(self.env.now)

    # --- the platform's steps -------------------------------------------------------------

    def act(self, sim: SimCase, action: Action, actor: Actor, **params: Any) -> None:
        """Take one step of the closed loop and advance the clocks, as ``services.act``."""
        event = apply(sim.case, action, actor, self.now(), **params)
        sim.clocks = case_clocks.apply_event(sim.clocks, event, sim.rules, self.calendar)
        self.reschedule(sim)

    def reschedule(self, sim: SimCase) -> None:
        sim.token += 1
        status = sim.case.status
        if status in TERMINAL_STATUSES or status is CaseStatus.ON_HOLD:
            return
        moment = case_clocks.next_change(sim.clocks)
        if moment is not None:
            self.pushes += 1
            heapq.heappush(self.heap, (moment, self.pushes, sim.token, sim))

    def reschedule_warnings(self, sim: SimCase) -> None:
        """At the top of the ladder only the warnings of stages not yet warned remain."""
        sim.token += 1
        pending = [
            c.deadline.warn_at for c in sim.clocks.stages.values() if c.open and not c.warned
        ]
        if pending:
            self.pushes += 1
            heapq.heappush(self.heap, (min(pending), self.pushes, sim.token, sim))

    def number(self, code: str, at: datetime) -> str:
        prefix = f"{code}{as_china_time(at).strftime('%Y%m%d')}"
        self.numbers[prefix] = self.numbers.get(prefix, 0) + 1
        return f"{prefix}{self.numbers[prefix]:05d}"

    def dispatch(self, sim: SimCase) -> str | None:
        """Flat dispatch by the platform's rules to the candidate with fewest open cases;
        ``None`` when nobody is on duty (the command centre's queue)."""
        case = sim.case
        responsible = responsible_for(sim.rule.responsible, None)
        sim.responsible = responsible.value
        shift = self.timeline.shift_at(self.env.now)
        key = (shift, case.grid_code, case.unit_code, sim.street, responsible)
        found = self.candidates.get(key)
        if found is None:
            place = Place(case.grid_code or "", case.unit_code, sim.street)
            found, _reason = candidates(self.roster, shift, place, responsible)
            self.candidates[key] = found
        pool = [o for o in found if o.person.number not in sim.excluded] or found
        person = choose(pool, self.open_counts)
        if person is None:
            return None
        self.act(sim, Action.DISPATCH, SYSTEM_ACTOR, assignee=person.number)
        self.open_counts[person.number] = self.open_counts.get(person.number, 0) + 1
        return person.number

    def checker(self, sim: SimCase) -> Actor:
        """The reporter checks a patrol's case unless they handled it; otherwise an
        operator of the command centre (the handler never checks their own case)."""
        case = sim.case
        reporter = case.reporter
        if reporter and reporter not in case.handlers and reporter != case.assignee:
            person = self.staff.get(reporter)
            if person is not None:
                return actor_of(person.person)
        return self.operators[(case.id or 0) % len(self.operators)]

    # --- processes ------------------------------------------------------------------------

    def feeder(self, found: list[tuple[Discovery, Incident]]) -> Any:
        for discovery, incident in found:
            wait = discovery.minute - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            self.env.process(self.intake(incident, discovery))

    def intake(self, incident: Incident, discovery: Discovery) -> Any:
        """A report arrives: classified, timed, registered and dispatched as intake does."""
        rule = self.taxonomy.get(incident.subclass)
        assert rule is not None
        rng = random.Random(f"h:{self.config.seed}:{incident.id}")
        at = self.now()
        spot = incident.spot
        urgency = intake_urgency(rule, discovery.channel, incident.hazard)
        grid = self.grids.get(spot.grid_code)
        pre_launch = grid is not None and not grid.is_live(at.date())
        common: dict[str, Any] = {
            "number": self.number(rule.code, at),
            "kind": rule.kind,
            "subclass": rule.code,
            "urgency": urgency,
            "at": at,
            "grid_code": spot.grid_code,
            "unit_code": spot.unit_code,
            "area_codes": spot.area_codes,
            "position": spot.position,
            "pre_launch": pre_launch,
            "hazard": incident.hazard,
            "id": len(self.cases) + 1,
        }
        self_handle = rng.random() < self.config.patrol.self_handle_probability
        reporter = discovery.reporter if discovery.reporter in self.staff else None
        if (
            self_handle
            and discovery.channel is Channel.PATROL
            and reporter is not None
            and rule.kind is CaseKind.EVENT
            and urgency is Urgency.GENERAL
        ):
            case = Case.self_handle(
                **common,
                reporter=reporter,
                channel=Channel.PATROL,
                before_photos=_PHOTO_BEFORE,
                after_photos=_PHOTO_AFTER,
            )
            sim = SimCase(case, Clocks.none(), rule, _rules(rule, urgency), incident, rng)
            sim.street = spot.street
            self.cases.append(sim)
            minutes = handling_minutes(self.config.handling, rule, False, rng.random())
            yield from self.busy(self.staff[reporter], 1, 0.0, minutes, spot.position, own=True)
            return
        case = Case.report(**common, channel=discovery.channel, reporter=reporter)
        sim = SimCase(case, Clocks.none(), rule, _rules(rule, urgency), incident, rng)
        sim.street = spot.street
        self.cases.append(sim)
        sim.clocks = case_clocks.apply_event(sim.clocks, case.events[-1], sim.rules, self.calendar)
        self.reschedule(sim)
        if case.channel in self.policy.auto_register:
            self.act(sim, Action.REGISTER, SYSTEM_ACTOR)
        else:  # an operator reads the citizen's report and registers it
            yield self.env.timeout(exponential(rng, self.config.handling.register_minutes))
            self.act(sim, Action.REGISTER, self.operators[0])
        if pre_launch:
            return  # before the grid went live nothing is dispatched automatically
        yield from self.work(sim)

    def busy(
        self,
        staff: Staff,
        priority: int,
        travel: float,
        minutes: float,
        where: tuple[float, float],
        own: bool = False,
    ) -> Any:
        with staff.resource.request(priority=priority) as request:
            yield request
            started = self.env.now
            yield self.env.timeout(travel + minutes)
            staff.busy_minutes += self.env.now - started
            staff.position = where
            staff.jobs += 1
            staff.self_handled += int(own)

    def work(self, sim: SimCase) -> Any:
        """Dispatch, accept, travel, arrive, handle, check, close — with returns, reworks
        and the queue of cases nobody on duty can take."""
        handling = self.config.handling
        rng = sim.rng
        case = sim.case
        urgent = case.urgency is Urgency.URGENT
        rework = False
        while True:
            if not rework:
                number = self.dispatch(sim)
                while number is None:
                    retry = min(
                        self.timeline.next_change(self.env.now),
                        self.env.now + handling.queue_retry_minutes,
                    )
                    wait = max(retry - self.env.now, 0.5)
                    yield self.env.timeout(wait)
                    sim.queued_minutes += wait
                    number = self.dispatch(sim)
            rework = False
            assignee = case.assignee
            assert assignee is not None
            staff = self.staff[assignee]
            actor = actor_of(staff.person)
            yield self.env.timeout(exponential(rng, handling.accept_minutes))
            self.act(sim, Action.ACCEPT, actor)
            if rng.random() < handling.return_rate:
                self.act(
                    sim, Action.RETURN_, actor, reason="非本人职责（仿真）/ not mine (simulated)"
                )
                self.open_counts[assignee] -= 1
                sim.excluded.add(assignee)
                continue
            u_handle = rng.random()
            with staff.resource.request(priority=0 if urgent else 1) as request:
                yield request
                started = self.env.now
                travel = travel_minutes(
                    handling, staff.position, sim.incident.spot.position, urgent
                )
                yield self.env.timeout(travel)
                self.act(sim, Action.ARRIVE, actor, position=sim.incident.spot.position)
                yield self.env.timeout(handling_minutes(handling, sim.rule, urgent, u_handle))
                self.act(sim, Action.HANDLE, actor)
                staff.busy_minutes += self.env.now - started
                staff.position = sim.incident.spot.position
                staff.jobs += 1
            yield self.env.timeout(exponential(rng, handling.check_minutes))
            passed = rng.random() >= handling.rework_rate
            self.act(sim, Action.CHECK, self.checker(sim), passed=passed)
            if not passed:
                rework = True
                continue
            yield self.env.timeout(exponential(rng, handling.close_minutes))
            self.act(sim, Action.CLOSE, SYSTEM_ACTOR)
            self.open_counts[assignee] -= 1
            return

    def sweeper(self) -> Any:
        """The SLA sweep (as ``services.cases.sweep``): warn at yellow, escalate at red."""
        step = max(self.config.handling.sweep_minutes, 0.1)
        ticks = 0
        hours = self.config.days * 24
        while True:
            yield self.env.timeout(step)
            now = self.now()
            while self.heap and self.heap[0][0] <= now:
                _, _, token, sim = heapq.heappop(self.heap)
                if token != sim.token:
                    continue
                due = case_clocks.due(sim.clocks, now)
                if due.escalate and next_level(sim.case.escalation_level) is not None:
                    with suppress(ActionNotAllowed):  # reported: not escalated yet
                        self.act_sweep(sim, due.escalate)
                for stage in due.warn:
                    if stage not in sim.warned:
                        sim.warned.add(stage)
                        self.sla[stage][0] += 1
                for stage in due.escalate:
                    if stage not in sim.escalated:
                        sim.escalated.add(stage)
                        self.sla[stage][1] += 1
                sim.clocks = case_clocks.acknowledge(sim.clocks, due)
                if next_level(sim.case.escalation_level) is None:
                    self.reschedule_warnings(sim)  # nothing left to escalate to
                else:
                    self.reschedule(sim)
            if self.progress is not None:
                done = int(self.env.now // 60)
                if done > ticks:
                    ticks = done
                    self.progress(min(done, hours), hours)

    def act_sweep(self, sim: SimCase, stages: Sequence[Stage]) -> None:
        event = apply(
            sim.case,
            Action.ESCALATE,
            SYSTEM_ACTOR,
            self.now(),
            reason="超时自动升级 / overdue: " + ", ".join(s.value for s in stages),
        )
        sim.clocks = case_clocks.apply_event(sim.clocks, event, sim.rules, self.calendar)
        sim.escalations += 1
        self.escalations += 1

    def run(self) -> None:
        found: list[tuple[Discovery, Incident]] = []
        for incident in self.incidents:
            if incident.minute >= self.horizon:
                continue
            rng = random.Random(f"d:{self.config.seed}:{incident.id}")
            discovery = discover(
                incident, rng, self.coverage, self.timeline, self.config, self.horizon
            )
            if discovery is not None:
                found.append((discovery, incident))
        found.sort(key=lambda f: (f[0].minute, f[1].id))
        self.found = len(found)
        self.env.process(self.feeder(found))
        self.env.process(self.sweeper())
        self.env.run(until=self.horizon)


def _rules(rule: Any, urgency: Urgency) -> ClockRules:
    return ClockRules(rule.limits, urgency, None)


# --- the public entry ------------------------------------------------------------------------


def simulate(
    territory: Territory,
    roster: Roster,
    config: SimulationConfig,
    incidents: Sequence[Incident] | None = None,
    *,
    places: Places | None = None,
    taxonomy: Taxonomy | None = None,
    calendar: WorkingCalendar | None = None,
    progress: Progress | None = None,
    name: str = "",
) -> SimulationResult:
    """Run ``config.days`` days from ``config.start`` against ``roster``; the incidents are
    generated from the config (seeded) unless given. Deterministic for a seed."""
    began = wall.perf_counter()
    places = places or Places(territory)
    taxonomy = taxonomy or load_default_taxonomy()
    calendar = calendar or china_calendar()
    if incidents is None:
        incidents = generate(config.incidents, places, taxonomy, config.days, config.seed)
    run = _Run(territory, roster, config, incidents, places, taxonomy, calendar, progress)
    run.run()
    result = summarise(run)
    result.name = name
    result.incident_list = incidents
    result.elapsed_seconds = wall.perf_counter() - began
    return result


def summarise(run: _Run) -> SimulationResult:
    timeline = run.timeline
    start = timeline.origin
    end = start + timedelta(days=run.config.days)
    period = Period(start, end)
    facts = [facts_of(sim, run.key_units) for sim in run.cases]
    by_shift: dict[Shift, list[CaseFacts]] = {Shift.DAY: [], Shift.NIGHT: []}
    by_hour: dict[int, list[CaseFacts]] = {h: [] for h in range(24)}
    missed: Counter[int] = Counter()
    for sim, f in zip(run.cases, facts, strict=True):
        minute = (f.first_found_at - start) / timedelta(minutes=1)
        by_shift[timeline.shift_at(minute)].append(f)
        hour = as_china_time(f.first_found_at).hour
        by_hour[hour].append(f)
        if sim.escalated and is_valid(f):
            missed[hour] += 1
    occurred: Counter[int] = Counter(
        int(i.minute // 60) % 24 for i in run.incidents if i.minute < run.horizon
    )
    hours = [
        HourRow(
            h,
            occurred[h],
            sum(1 for f in by_hour[h] if is_valid(f)),
            missed[h],
            {
                Measure.URGENT_ON_TIME_ARRIVAL_RATE.value: urgent_on_time_arrival_rate(
                    by_hour[h], start, end
                ),
                Measure.ON_TIME_HANDLING_RATE.value: on_time_handling_rate(by_hour[h], start, end),
            },
        )
        for h in range(24)
    ]
    staff_rows = []
    for number in sorted(run.staff):
        staff = run.staff[number]
        person = staff.person
        if person.team is None and person.department is None:
            continue
        duty = sum(timeline.minutes_on(s, run.horizon) for s in staff.shifts)
        force = person.team or person.department
        staff_rows.append(
            StaffRow(
                number,
                person.name,
                person.post,
                force.value if force else "",
                tuple(s for s in Shift if s in staff.shifts),
                staff.jobs,
                staff.self_handled,
                staff.busy_minutes,
                duty,
            )
        )
    names = {g.code: g.name for g in run.territory.grids}
    names.update({u.code: u.name for u in run.territory.units})
    channels: Counter[str] = Counter(f.first_channel.value for f in facts if is_valid(f))
    return SimulationResult(
        name="",
        config=run.config,
        period=period,
        incidents=sum(1 for i in run.incidents if i.minute < run.horizon),
        found=run.found,
        undiscovered=sum(1 for i in run.incidents if i.minute < run.horizon) - run.found,
        facts=facts,
        figures=all_measures(facts, start, end),
        by_shift={s: all_measures(rows, start, end) for s, rows in by_shift.items()},
        by_grid=measures_by_group(facts, period, GroupBy.GRID),
        by_unit=measures_by_group(facts, period, GroupBy.UNIT),
        by_hour=hours,
        staff=staff_rows,
        sla={stage: (w, e) for stage, (w, e) in run.sla.items()},
        channels=channels,
        queued_cases=sum(1 for s in run.cases if s.queued_minutes > 0),
        queued_minutes=sum(s.queued_minutes for s in run.cases),
        escalations=run.escalations,
        names=names,
    )
