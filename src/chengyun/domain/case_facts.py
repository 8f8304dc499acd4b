"""A case's facts for the measures (考核事实), read off the case and its stage clocks.

The database keeps them as columns of ``cases`` and the capacity simulation builds them
for its simulated cases: both call ``facts_of`` so that the measures read the same facts
wherever the case came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chengyun.domain.case_clocks import Clocks
from chengyun.domain.cases import Action, Case, CaseStatus, Channel
from chengyun.domain.measures import CaseFacts
from chengyun.domain.taxonomy import Stage

#: Each stage with the names of its three facts (built once: a case's facts are made on
#: every change to it).
_STAGE_FACTS = tuple(
    (stage, f"{stage.value}_started_at", f"{stage.value}_due_at", f"{stage.value}_done_at")
    for stage in Stage
)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def facts_of(
    case: Case,
    clocks: Clocks,
    *,
    responsible: str | None,
    key_unit: bool = False,
    reporter_team: str | None = None,
) -> CaseFacts:
    """The facts of ``case``: its first discovery (the earliest of its own report and the
    reports merged into it), its counters, the current cycle of each stage clock and,
    for a rejected report, why it was rejected. ``responsible``, ``key_unit`` and
    ``reporter_team`` come from outside the case (the dispatch, the territory, the forces).
    """
    found: list[tuple[datetime, str]] = [(case.reported_at, case.channel.value)]
    for duplicate in case.duplicates:
        at = _moment(duplicate.get("reported_at"))
        if at is not None:
            found.append((at, str(duplicate.get("channel"))))
    first_at, first_channel = min(found, key=lambda f: f[0])
    checks = [e for e in case.events if e.action is Action.CHECK]
    closed_at = (
        next((e.at for e in reversed(case.events) if e.to_status is CaseStatus.CLOSED), None)
        if case.status is CaseStatus.CLOSED
        else None
    )
    reject_reason = next(
        (
            _text(e.data.get("reason_kind"))
            for e in reversed(case.events)
            if e.action is Action.REJECT
        ),
        None,
    )
    stages: dict[str, datetime | None] = {}
    for stage, started, due, done in _STAGE_FACTS:
        clock = clocks.stages.get(stage)
        stages[started] = clock.deadline.started_at if clock else None
        stages[due] = clock.deadline.due_at if clock else None
        stages[done] = clock.done_at if clock else None
    return CaseFacts(
        id=case.id or 0,
        number=case.number,
        status=case.status,
        channel=case.channel,
        first_channel=Channel(first_channel),
        reported_at=case.reported_at,
        first_found_at=first_at,
        urgency=case.urgency,
        subclass=case.subclass,
        grid_code=case.grid_code,
        unit_code=case.unit_code,
        key_unit=key_unit,
        area_codes=tuple(case.area_codes),
        pre_launch=case.pre_launch,
        self_handled=case.self_handled,
        merged_into=case.merged_into,
        reporter=case.reporter,
        assignee=case.assignee,
        handlers=tuple(case.handlers),
        responsible=responsible,
        reporter_team=reporter_team,
        reject_reason=reject_reason,
        closed_at=closed_at,
        dispatches=sum(1 for e in case.events if e.action is Action.DISPATCH),
        returns=case.returns,
        reworks=case.reworks,
        extensions=case.extensions,
        checks=len(checks),
        failed_checks=sum(1 for e in checks if not e.data.get("passed")),
        **stages,
    )
