"""Which stage clocks (环节时限) a case's events start and stop, and what is due next.

Each stage (register, dispatch, accept, arrive, handle, check) has its own clock,
started and stopped by the events of the closed loop. A stage that goes red is
escalated one level at once and again after every further span of its limit while it
stays open, so a stuck case climbs the ladder. Pure: events and time come in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chengyun.domain.cases import Action, CaseEvent, CaseStatus
from chengyun.domain.sla import (
    Deadline,
    Light,
    extend,
    fixed_deadline,
    make_deadline,
    stage_limit,
)
from chengyun.domain.taxonomy import Stage, TimeLimit, TimeUnit, Urgency
from chengyun.domain.working_time import WorkingCalendar

#: The shortest gap between two automatic escalations of one stage.
MIN_ESCALATION_GAP = timedelta(minutes=5)


@dataclass(frozen=True)
class StageClock:
    """A stage's deadline and its progress: done, warned, escalations so far."""

    deadline: Deadline
    done_at: datetime | None = None
    warned: bool = False
    escalations: int = 0

    @property
    def stage(self) -> Stage:
        return self.deadline.stage

    @property
    def open(self) -> bool:
        return self.done_at is None

    def next_escalation_at(self) -> datetime:
        span = max(self.deadline.due_at - self.deadline.started_at, MIN_ESCALATION_GAP)
        return self.deadline.due_at + span * self.escalations

    def next_change(self) -> datetime | None:
        """When this stage next needs the sweeper: its warning, its due time, or the next
        escalation while it stays red."""
        if not self.open:
            return None
        if not self.warned:
            return self.deadline.warn_at
        return self.next_escalation_at()


@dataclass(frozen=True)
class ClockRules:
    """What the clocks need from the case's rule: per-stage limits, urgency, and a
    12345 order's own deadline for handling when it brings one."""

    limits: Mapping[Stage, TimeLimit]
    urgency: Urgency
    handle_due_at: datetime | None = None


@dataclass(frozen=True)
class Clocks:
    """A case's stage clocks, and the stages a hold (挂账) paused."""

    stages: Mapping[Stage, StageClock]
    held: tuple[Stage, ...] = ()

    @classmethod
    def none(cls) -> Clocks:
        return cls({})


_STARTS: Mapping[Action, tuple[Stage, ...]] = {
    Action.REPORT: (Stage.REGISTER,),
    Action.REGISTER: (Stage.DISPATCH,),
    Action.DISPATCH: (Stage.ACCEPT, Stage.ARRIVE, Stage.HANDLE),
    Action.RETURN_: (Stage.DISPATCH,),
    Action.HANDLE: (Stage.CHECK,),
    Action.REOPEN: (Stage.DISPATCH,),
}
_STOPS: Mapping[Action, tuple[Stage, ...]] = {
    Action.REGISTER: (Stage.REGISTER,),
    Action.DISPATCH: (Stage.REGISTER, Stage.DISPATCH),
    Action.ACCEPT: (Stage.ACCEPT,),
    Action.ARRIVE: (Stage.ACCEPT, Stage.ARRIVE),
    Action.HANDLE: (Stage.ACCEPT, Stage.ARRIVE, Stage.HANDLE),
    Action.RETURN_: (Stage.ACCEPT, Stage.ARRIVE, Stage.HANDLE),
    Action.CHECK: (Stage.CHECK,),
}
_FINAL = frozenset(
    {
        CaseStatus.CLOSED,
        CaseStatus.REJECTED,
        CaseStatus.VOIDED,
        CaseStatus.MERGED,
        CaseStatus.FORWARDED,
        CaseStatus.ON_HOLD,
    }
)


def _start(stage: Stage, at: datetime, rules: ClockRules, calendar: WorkingCalendar) -> StageClock:
    if stage is Stage.HANDLE and rules.handle_due_at is not None:
        return StageClock(fixed_deadline(stage, at, rules.handle_due_at))
    limit = stage_limit(stage, rules.urgency, rules.limits[stage])
    return StageClock(make_deadline(stage, at, limit, calendar))


def apply_event(
    clocks: Clocks,
    event: CaseEvent,
    rules: ClockRules,
    calendar: WorkingCalendar,
) -> Clocks:
    """The clocks after ``event``."""
    stages: dict[Stage, StageClock] = dict(clocks.stages)
    held = clocks.held
    at = event.at

    def stop(stage: Stage) -> None:
        clock = stages.get(stage)
        if clock is not None and clock.open:
            stages[stage] = replace(clock, done_at=at)

    if event.to_status in _FINAL:
        if event.action is Action.HOLD:
            held = tuple(s for s, c in clocks.stages.items() if c.open)
        for stage in list(stages):
            stop(stage)
        return Clocks(stages, held)
    if event.action is Action.RESUME:
        for stage in held:
            stages[stage] = _start(stage, at, rules, calendar)
        return Clocks(stages)
    for stage in _STOPS.get(event.action, ()):
        stop(stage)
    if event.action is Action.CHECK:
        if not event.data.get("passed", False):  # rework (返工): handle again
            stages[Stage.HANDLE] = _start(Stage.HANDLE, at, rules, calendar)
        return Clocks(stages, held)
    if event.action is Action.APPROVE_EXTENSION and event.data.get("approved"):
        clock = stages.get(Stage.HANDLE)
        minutes = float(event.data.get("minutes", 0))
        if clock is not None and clock.open and minutes > 0:
            deadline = extend(clock.deadline, TimeLimit(minutes, TimeUnit.MINUTES), calendar)
            stages[Stage.HANDLE] = replace(clock, deadline=deadline, warned=False, escalations=0)
        return Clocks(stages, held)
    for stage in _STARTS.get(event.action, ()):
        stages[stage] = _start(stage, at, rules, calendar)
    return Clocks(stages, held)


def light(clocks: Clocks, now: datetime) -> Light:
    """The worst light of the open stages (green when none is open)."""
    worst = Light.GREEN
    for clock in clocks.stages.values():
        if clock.open:
            current = clock.deadline.light(now)
            if current.severity > worst.severity:
                worst = current
    return worst


def next_change(clocks: Clocks) -> datetime | None:
    """The earliest moment the sweeper must look at this case again."""
    moments = [m for c in clocks.stages.values() if (m := c.next_change()) is not None]
    return min(moments) if moments else None


@dataclass(frozen=True)
class Due:
    """What the sweeper must do for one case now."""

    warn: tuple[Stage, ...]
    escalate: tuple[Stage, ...]


def due(clocks: Clocks, now: datetime) -> Due:
    warn: list[Stage] = []
    escalate: list[Stage] = []
    for clock in clocks.stages.values():
        if not clock.open:
            continue
        if not clock.warned and now >= clock.deadline.warn_at:
            warn.append(clock.stage)
        if now >= clock.next_escalation_at():
            escalate.append(clock.stage)
    return Due(tuple(warn), tuple(escalate))


def acknowledge(clocks: Clocks, done: Due) -> Clocks:
    """Record that the warnings were sent and the escalations made."""
    stages = dict(clocks.stages)
    for stage in done.warn:
        stages[stage] = replace(stages[stage], warned=True)
    for stage in done.escalate:
        clock = stages[stage]
        stages[stage] = replace(clock, warned=True, escalations=clock.escalations + 1)
    return Clocks(stages, clocks.held)


# --- storage form (JSON) ---------------------------------------------------------------------


def to_json(clocks: Clocks) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for stage, clock in clocks.stages.items():
        d = clock.deadline
        stages[stage.value] = {
            "started_at": d.started_at.isoformat(),
            "warn_at": d.warn_at.isoformat(),
            "due_at": d.due_at.isoformat(),
            "limit": [d.limit.amount, d.limit.unit.value],
            "warn_ratio": d.warn_ratio,
            "extensions": [[e.amount, e.unit.value] for e in d.extensions],
            "done_at": clock.done_at.isoformat() if clock.done_at else None,
            "warned": clock.warned,
            "escalations": clock.escalations,
        }
    return {"stages": stages, "held": [s.value for s in clocks.held]}


def from_json(data: Mapping[str, Any]) -> Clocks:
    stages: dict[Stage, StageClock] = {}
    for key, value in data.get("stages", {}).items():
        stage = Stage(key)
        deadline = Deadline(
            stage=stage,
            started_at=datetime.fromisoformat(value["started_at"]),
            warn_at=datetime.fromisoformat(value["warn_at"]),
            due_at=datetime.fromisoformat(value["due_at"]),
            limit=TimeLimit(value["limit"][0], TimeUnit(value["limit"][1])),
            warn_ratio=value["warn_ratio"],
            extensions=tuple(TimeLimit(a, TimeUnit(u)) for a, u in value["extensions"]),
        )
        stages[stage] = StageClock(
            deadline=deadline,
            done_at=datetime.fromisoformat(value["done_at"]) if value["done_at"] else None,
            warned=value["warned"],
            escalations=value["escalations"],
        )
    return Clocks(stages, tuple(Stage(s) for s in data.get("held", [])))
