"""Case use cases: report a problem, act on a case, sweep the clocks.

Each has the same shape (STYLE.md): load, ask the pure domain, save, write the outbox,
commit once. The collaborators come in a ``CaseEnvironment``: the clock, the working
calendar, the locator, the shipped taxonomy and the intake policy.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from chengyun.clock import Clock
from chengyun.domain import case_clocks
from chengyun.domain.case_clocks import ClockRules, Clocks
from chengyun.domain.cases import (
    SYSTEM_ACTOR,
    TERMINAL_STATUSES,
    Action,
    ActionNotAllowed,
    Actor,
    Case,
    CaseEvent,
    CaseStatus,
    Channel,
    EscalationLevel,
    allowed_actions,
    apply,
    intake_urgency,
    merge_report,
)
from chengyun.domain.dispatch import Place, candidates, choose, coordinators, responsible_for
from chengyun.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    OutsideTerritory,
    Problem,
)
from chengyun.domain.forces import Department, Person, Post, Roster
from chengyun.domain.taxonomy import Subclass, Taxonomy
from chengyun.domain.territory import Location
from chengyun.domain.working_time import WorkingCalendar, as_china_time
from chengyun.services.accounts import AuditEntry, audit_in
from chengyun.services.points import points_for_event
from chengyun.services.records import (
    CaseRecord,
    DuplicateKey,
    NearbyCase,
    OutboxMessage,
    PhotoRecord,
)
from chengyun.services.unit_of_work import UnitOfWork

CENTRE_POSTS = frozenset({Post.DUTY_COMMANDER, Post.OPERATOR})
APPROVER_POSTS = frozenset({Post.DUTY_COMMANDER, Post.GRID_CHIEF, Post.DEPUTY_GRID_CHIEF})
#: Recipient of messages for the command centre's queue as a whole.
COMMAND_CENTRE = "command_centre"
DISTRICT = "district"


class Locator(Protocol):
    def locate(self, lng: float, lat: float) -> Location:
        """WGS-84 position → location; ``OutsideTerritory`` or ``InvalidInput`` otherwise."""
        ...


@dataclass(frozen=True)
class IntakePolicy:
    """How intake behaves; every rule here is configurable."""

    auto_register: frozenset[Channel] = frozenset(Channel) - {Channel.CITIZEN_QR}
    auto_dispatch_all: bool = True
    duplicate_radius_m: float = 50.0
    duplicate_window: timedelta = timedelta(hours=72)
    self_handled_sample_percent: int = 10
    max_future_skew: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class CaseEnvironment:
    clock: Clock
    calendar: WorkingCalendar
    locator: Locator
    default_taxonomy: Taxonomy
    policy: IntakePolicy = field(default_factory=IntakePolicy)


@dataclass(frozen=True)
class ReportCommand:
    """A report as it arrives from any channel (positions already in WGS-84)."""

    channel: Channel
    subclass: str
    lng: float
    lat: float
    description: str = ""
    observed_at: datetime | None = None
    reporter: str | None = None
    hazard: bool = False
    urgent: bool = False
    address: str = ""
    component: Mapping[str, str] | None = None
    due_at: datetime | None = None
    photos: tuple[str, ...] = ()
    uploads: tuple[PhotoRecord, ...] = ()
    """Photos stored with this report; ``photos``, ``before_photos`` and ``after_photos``
    name them by id."""
    self_handled: bool = False
    before_photos: tuple[str, ...] = ()
    after_photos: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reported:
    record: CaseRecord
    created: bool
    taxonomy: Taxonomy | None = None
    """The taxonomy the new case was classified by (``None`` when the key was seen)."""
    assignee: Person | None = None
    """The person the new case was dispatched to, if any."""


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- helpers --------------------------------------------------------------------------------


def taxonomy_in_force(uow: UnitOfWork, env: CaseEnvironment) -> Taxonomy:
    return uow.taxonomy.get() or env.default_taxonomy


def _rule(taxonomy: Taxonomy, code: str) -> Subclass:
    rule = taxonomy.get(code)
    if rule is None:
        raise InvalidInput(
            "未知的案件小类 / unknown subclass",
            [
                Problem(
                    ("subclass",),
                    f"{code!r} 不在分类中，见 GET /api/v1/taxonomy / {code!r} is "
                    "not in the taxonomy: see GET /api/v1/taxonomy",
                    "unknown",
                )
            ],
        )
    return rule


def clock_rules(record: CaseRecord, rule: Subclass) -> ClockRules:
    due = record.extra.get("handle_due_at")
    return ClockRules(rule.limits, record.case.urgency, due if isinstance(due, datetime) else None)


def _refresh(record: CaseRecord, now: datetime) -> None:
    if record.case.status in TERMINAL_STATUSES or record.case.status is CaseStatus.ON_HOLD:
        record.light = case_clocks.light(Clocks.none(), now)
        record.next_due_at = None
        return
    record.light = case_clocks.light(record.clocks, now)
    record.next_due_at = case_clocks.next_change(record.clocks)


def _advance(record: CaseRecord, event: CaseEvent, rule: Subclass, env: CaseEnvironment) -> None:
    record.clocks = case_clocks.apply_event(
        record.clocks, event, clock_rules(record, rule), env.calendar
    )


def actor_for(uow: UnitOfWork, number: str) -> tuple[Actor, Person]:
    person = uow.forces.get(number)
    if person is None:
        raise InvalidInput(
            "未知的操作人 / unknown actor",
            [
                Problem(
                    ("actor",),
                    f"人员编号 {number!r} 未登记 / no person numbered {number!r}; "
                    "send your person number in the X-Actor header",
                    "unknown",
                )
            ],
        )
    return (
        Actor(number, centre=person.post in CENTRE_POSTS, approver=person.post in APPROVER_POSTS),
        person,
    )


def _message(record: CaseRecord, topic: str, recipient: str, **payload: Any) -> OutboxMessage:
    case = record.case
    body = {
        "case_id": case.id,
        "number": case.number,
        "subclass": case.subclass,
        "status": case.status.value,
        "urgency": case.urgency.value,
        "light": record.light.value,
        **payload,
    }
    return OutboxMessage(topic, recipient, body, case.id)


def escalation_recipients(roster: Roster, record: CaseRecord, level: EscalationLevel) -> list[str]:
    """Who is told when a case reaches ``level`` of the ladder."""
    case = record.case
    if level is EscalationLevel.HANDLER:
        return [case.assignee] if case.assignee else [COMMAND_CENTRE]
    if level is EscalationLevel.DEPARTMENT_LINE:
        department = record.extra.get("responsible")
        if department in {d.value for d in Department}:
            people = [
                p.number
                for p in roster.people
                if p.department == department and p.post is Post.HANDLER
            ]
            return people[:3] or [COMMAND_CENTRE]
        deputies = coordinators(roster, Post.STATION_CHIEF, case.grid_code)
        return [p.number for p in deputies] or [COMMAND_CENTRE]
    if level is EscalationLevel.DEPUTY_GRID_CHIEF:
        found = coordinators(roster, Post.DEPUTY_GRID_CHIEF, case.grid_code)
        return [p.number for p in found] or [COMMAND_CENTRE]
    if level is EscalationLevel.GRID_CHIEF:
        found = coordinators(roster, Post.GRID_CHIEF, case.grid_code)
        return [p.number for p in found] or [COMMAND_CENTRE]
    if level is EscalationLevel.COMMAND_CENTRE:
        return [COMMAND_CENTRE]
    return [DISTRICT]


def _dispatch(
    uow: UnitOfWork,
    env: CaseEnvironment,
    record: CaseRecord,
    rule: Subclass,
    actor: Actor,
    now: datetime,
    assignee: str | None,
    note: str = "",
) -> tuple[CaseEvent | None, list[OutboxMessage]]:
    """Dispatch to ``assignee`` or, without one, to whoever the flat rules pick."""
    case = record.case
    responsible = responsible_for(
        rule.responsible, (record.extra.get("component") or {}).get("owner")
    )
    record.extra["responsible"] = responsible.value
    if assignee is None:
        roster = uow.forces.roster()
        shift = env.calendar.shift_at(now)
        place = Place(case.grid_code or "", case.unit_code, bool(record.extra.get("street")))
        found, reason = candidates(roster, shift, place, responsible)
        counts = uow.cases.open_counts(o.person.number for o in found)
        person = choose(found, counts)
        if person is None:
            record.unassigned = True
            record.extra["dispatch_reason"] = (
                f"无人在岗（{responsible.zh}，{shift.zh}）/ no one on duty ({responsible.en}, "
                f"{shift.en.lower()}): command-centre queue"
            )
            return None, [
                _message(
                    record, "unassigned", COMMAND_CENTRE, reason=record.extra["dispatch_reason"]
                )
            ]
        assignee = person.number
        record.extra["dispatch_reason"] = reason
    elif uow.forces.get(assignee) is None:
        raise InvalidInput(
            "未知的处置人 / unknown assignee",
            [
                Problem(
                    ("assignee",),
                    f"人员编号 {assignee!r} 未登记 / no person numbered {assignee!r}",
                    "unknown",
                )
            ],
        )
    event = apply(case, Action.DISPATCH, actor, now, assignee=assignee, note=note)
    record.unassigned = False
    return event, [_message(record, "task", assignee, action="dispatch")]


# --- report ---------------------------------------------------------------------------------


#: What a channel writes with the case it reports, in the case's transaction (the Open311
#: request's row, the citizen): given the open unit of work and the command, the command
#: to report (with the ids of what it wrote).
WithCase = Callable[[UnitOfWork, ReportCommand], ReportCommand]


@dataclass(frozen=True)
class Report:
    """One report with what ``report_case`` takes besides it: the client's
    Idempotency-Key and the hash of what was sent, the audit record and the channel's
    own writes (``with_case``)."""

    command: ReportCommand
    idempotency_key: str | None = None
    body_hash: str = ""
    audit: AuditEntry | None = None
    with_case: WithCase | None = None


def report_case(
    uow: UnitOfWork,
    env: CaseEnvironment,
    command: ReportCommand,
    idempotency_key: str | None = None,
    body_hash: str = "",
    audit: AuditEntry | None = None,
    with_case: WithCase | None = None,
) -> Reported:
    """A report from any channel becomes a case: placed, classified, timed and, by the
    intake policy, registered and dispatched — in one transaction, with ``audit``'s
    record and ``with_case``'s writes when the case is new (a seen key changes nothing,
    so records nothing).

    Nearly every key is new: it is stored with the case without being looked up first.
    Only when storing it clashes (a repeat), or when the report is refused (a repeat may
    be refused now where its first sending was taken), is the report made again, looking
    the key up first — so that the answer is what it would have been."""
    report = Report(command, idempotency_key, body_hash, audit, with_case)
    location = _locate(env, command)
    if idempotency_key:
        try:
            return _report_alone(uow, env, report, location, look_up=False)
        except (DuplicateKey, DomainError):
            pass
    return _report_alone(uow, env, report, location, look_up=True)


def report_one(uow: UnitOfWork, env: CaseEnvironment, report: Report) -> Reported:
    """``report_case`` of a ``Report``."""
    return report_case(
        uow,
        env,
        report.command,
        report.idempotency_key,
        report.body_hash,
        report.audit,
        report.with_case,
    )


def report_cases(
    uow: UnitOfWork, env: CaseEnvironment, reports: Sequence[Report]
) -> list[Reported]:
    """Several new reports taken in one transaction (成组提交, group commit): each case
    is written as ``report_case`` would write it, and all are committed at once — one
    wait for the disk, one turn on the audit chain and one live-update notice for the lot
    instead of one each.

    The case numbers, the audit records and the outbox messages are written last, just
    before the commit (``_Batch``): taking a number locks its sequence until the commit,
    and so does the audit chain, so two processes' batches overlap in everything but that
    short tail instead of queueing whole. The numbers stay gapless and in id order. The
    rows nothing reads back before the commit are written one statement per table: those
    that carry no number (events, measure profiles, photos, keys) before the tail
    (``write_ahead``), the cases and the messages in it.

    A video alert that joins an earlier open case (``_merge_alert``) is taken after the
    batch's end, in the same transaction, with the others that do (``_take_tail``): the
    earlier case is changed, and the alert's number goes into it. Those joining a stored
    case are seen before anything is written, and the stored cases' rows are locked then,
    before the audit chain, in the order an action takes them (the case, then the chain);
    those joining a case of their own batch are found as they are taken. Either way the
    others' cases are as they would have been: a merged alert is no open case for them to
    find.

    All or nothing: if any report is refused or its Idempotency-Key was used before, the
    whole transaction is undone and the error raised; the caller then takes each report
    alone with ``report_case``, which gives each its own answer (see ``GroupCommit``)."""
    locations = [_locate(env, r.command) for r in reports]
    with uow:
        batch = _Batch(secrets.token_hex(8))
        uow.cases.hold_back(len(reports))
        _expect_nearby(uow, env, reports)
        merging = _merging_alerts(uow, env, reports)
        uow.cases.lock(sorted(set(merging.values())))
        _expect_dispatch(uow, env, reports, locations)
        taken: dict[int, Reported] = {}
        later = list(merging)
        for i, (report, location) in enumerate(zip(reports, locations, strict=True)):
            if i in merging:
                continue
            try:
                taken[i] = _take(uow, env, report, location, look_up=False, batch=batch)
            except _MergesLater:
                later.append(i)
        uow.cases.write_ahead()  # before the chain's turn; the cases, messages, audit in it
        batch.finish(uow, env.clock, [taken[i].record for i in sorted(taken)])
        if later:
            taken.update(_take_tail(uow, env, batch, reports, locations, sorted(later)))
        uow.commit()
    return [taken[i] for i in range(len(reports))]


def _expect_nearby(uow: UnitOfWork, env: CaseEnvironment, reports: Sequence[Report]) -> None:
    """Ask ahead, in one go, for the earlier open cases near each report of a batch, as
    ``_earlier_nearby`` will (it looks back from the time the case was observed, or now)."""
    now = env.clock.now()
    observed = [r.command.observed_at for r in reports]
    earliest = min(
        (o for o in observed if o is not None and o.utcoffset() is not None), default=now
    )
    uow.cases.expect_nearby(
        [(r.command.subclass, r.command.lng, r.command.lat) for r in reports],
        env.policy.duplicate_radius_m,
        min(earliest, now) - env.policy.duplicate_window,
    )


def _merging_alerts(
    uow: UnitOfWork, env: CaseEnvironment, reports: Sequence[Report]
) -> dict[int, int]:
    """The video alerts of ``reports`` that will join an earlier open case already stored,
    as ``_take`` will find them (in a batch, from what ``_expect_nearby`` asked ahead):
    their positions, each with the id of that case. A guess from the report, not its
    case: one that then does not join is taken as it would have been all the same."""
    now = env.clock.now()
    policy = env.policy
    found = {}
    for i, report in enumerate(reports):
        command = report.command
        if command.channel is not Channel.VIDEO_AI or command.lng is None or command.lat is None:
            continue
        at = _reported_at(command, now)
        nearby = uow.cases.nearby_open(
            command.subclass,
            command.lng,
            command.lat,
            policy.duplicate_radius_m,
            at - policy.duplicate_window,
        )
        earlier = [r for r in nearby if r.reported_at <= at]
        if earlier:
            found[i] = earlier[0].id
    return found


def _expect_dispatch(
    uow: UnitOfWork,
    env: CaseEnvironment,
    reports: Sequence[Report],
    locations: Sequence[Location | None],
) -> None:
    """Count, in one go, the open cases of everyone the batch's reports may be dispatched
    to (as ``_dispatch`` picks them), instead of a count for each report: the counts are
    kept while rows are held back. Whoever this misses is counted when asked."""
    taxonomy = taxonomy_in_force(uow, env)
    roster = uow.forces.roster()
    shift = env.calendar.shift_at(env.clock.now())
    numbers: set[str] = set()
    for report, location in zip(reports, locations, strict=True):
        rule = taxonomy.get(report.command.subclass)
        if location is None or rule is None:
            continue
        owner = (report.command.component or {}).get("owner")
        place = Place(location.grid.code, location.unit.code, location.on_street)
        found, _ = candidates(roster, shift, place, responsible_for(rule.responsible, owner))
        numbers.update(o.person.number for o in found)
    uow.cases.open_counts(sorted(numbers))


class _MergesLater(Exception):
    """Raised by ``_take`` in a batch for a video alert joining a case of its own batch:
    ``report_cases`` takes it after the batch's end, when that case has its number."""


def _take_tail(
    uow: UnitOfWork,
    env: CaseEnvironment,
    batch: _Batch,
    reports: Sequence[Report],
    locations: Sequence[Location | None],
    later: Sequence[int],
) -> dict[int, Reported]:
    """The video alerts of a batch that join an earlier case, taken after the batch's
    end (its cases have their numbers then) and together: their numbers taken at once,
    their rows held back and written one statement per table, their messages and audit
    records written last, as a batch's are. Each joins its case as ``_take`` alone would
    join it; one that finds none after all is taken as any other report."""
    uow.cases.hold_back(len(later))
    taxonomy = taxonomy_in_force(uow, env)
    now = as_china_time(env.clock.now())
    wanted: dict[str, int] = {}
    for i in later:
        command = reports[i].command
        at = _reported_at(command, now)
        prefix = _number_prefix(_rule(taxonomy, command.subclass), at)
        wanted[prefix] = wanted.get(prefix, 0) + 1
    lasts = uow.cases.next_sequences(wanted)
    numbers = {
        prefix: [f"{prefix}{n:05d}" for n in range(lasts[prefix] - count + 1, lasts[prefix] + 1)]
        for prefix, count in wanted.items()
    }
    tail = _Batch(batch.token, numbers=numbers)
    taken = {i: _take(uow, env, reports[i], locations[i], look_up=False, batch=tail) for i in later}
    tail.finish(uow, env.clock, [])
    return taken


@dataclass
class _Batch:
    """What a group commit writes at its end: its cases carry provisional numbers
    (``~`` + the batch's token + a counter, unique and never shown) until ``finish``
    gives them their real ones."""

    token: str
    prefixes: dict[str, str] = field(default_factory=dict)
    """Provisional number → the real number's prefix (subclass code + date)."""
    messages: list[OutboxMessage] = field(default_factory=list)
    audits: list[AuditEntry] = field(default_factory=list)
    numbers: dict[str, list[str]] | None = None
    """A tail's (``_take_tail``): the real numbers taken ahead, by prefix. Its video
    alerts join their earlier cases as they are taken. (Should the day turn between
    taking them and a case, its prefix is missing: the ``KeyError`` undoes the batch, and
    its reports are taken alone.)"""

    def number(self, prefix: str) -> str:
        if self.numbers is not None:
            return self.numbers[prefix].pop(0)
        provisional = f"~{self.token}{len(self.prefixes):04d}"
        self.prefixes[provisional] = prefix
        return provisional

    def finish(self, uow: UnitOfWork, clock: Clock, records: Sequence[CaseRecord]) -> None:
        # the chain's turn before the numbers (see AuditRepository.hold), and the numbers
        # before the rows held back are written: they are written with their real numbers
        uow.audit.hold()
        by_prefix: dict[str, list[CaseRecord]] = {}
        for record in records:
            by_prefix.setdefault(self.prefixes[record.case.number], []).append(record)
        real: dict[str, str] = {}
        lasts = uow.cases.next_sequences({p: len(group) for p, group in by_prefix.items()})
        for prefix, group in by_prefix.items():
            first = lasts[prefix] - len(group) + 1
            for i, record in enumerate(group):
                real[record.case.number] = f"{prefix}{first + i:05d}"
        for record in records:
            record.case.number = real[record.case.number]
        uow.cases.renumber(records)
        for record in records:  # offered as a duplicate of a case of this batch
            duplicates = record.extra.get("possible_duplicates", ())
            if any(d["number"] in real for d in duplicates):
                for d in duplicates:
                    d["number"] = real.get(d["number"], d["number"])
                uow.cases.save(record, record.case.version)
        uow.cases.flush()
        messages = []
        for message in self.messages:
            number = message.payload.get("number")
            payload = {**message.payload, "number": real.get(str(number), number)}
            messages.append(replace(message, payload=payload))
        uow.outbox.add_all(messages, clock.now())
        audit_in(uow, clock, *self.audits)


def _report_alone(
    uow: UnitOfWork,
    env: CaseEnvironment,
    report: Report,
    location: Location | None,
    *,
    look_up: bool,
) -> Reported:
    with uow:
        # the stored case a video alert will join, before the chain: see report_cases
        uow.cases.lock(list(_merging_alerts(uow, env, [report]).values()))
        if report.audit is not None:
            uow.audit.hold()  # before the case number: see AuditRepository.hold
        reported = _take(uow, env, report, location, look_up=look_up)
        if reported.created:
            uow.commit()
    return reported


def _take(
    uow: UnitOfWork,
    env: CaseEnvironment,
    report: Report,
    location: Location | None,
    *,
    look_up: bool,
    batch: _Batch | None = None,
) -> Reported:
    """The case of ``report`` written in ``uow``'s open transaction (not committed), or
    the stored case of its key when ``look_up`` finds the key seen; in a ``batch``, its
    number, messages and audit record are left to the batch's end."""
    command, idempotency_key, body_hash = report.command, report.idempotency_key, report.body_hash
    if idempotency_key and look_up:
        seen = uow.cases.idempotency(idempotency_key)
        if seen is not None:
            stored_hash, case_id = seen
            if stored_hash != body_hash:
                raise Conflict(
                    "幂等键已用于另一份不同的上报 / this Idempotency-Key was already used "
                    "for a different report",
                    [
                        Problem(
                            ("header", "Idempotency-Key"),
                            "use a new key for a new report",
                            "idempotency",
                        )
                    ],
                )
            stored = uow.cases.get(case_id)
            assert stored is not None
            return Reported(stored, False)
    if report.with_case is not None:
        command = report.with_case(uow, command)
    _check_uploads(command)
    taxonomy = taxonomy_in_force(uow, env)
    rule = _rule(taxonomy, command.subclass)
    record, messages = _new_case(
        uow, env, command, location, rule, batch.number if batch is not None else None
    )
    nearby = _earlier_nearby(uow, env, record.case)
    if nearby and record.case.channel is Channel.VIDEO_AI:
        if batch is not None and batch.numbers is None:
            raise _MergesLater()
        uow.cases.add(record)
        original = uow.cases.get(nearby[0].id, for_update=True)
        assert original is not None
        _merge_alert(uow, env, record, original)
    else:
        if nearby:
            record.extra["possible_duplicates"] = [
                {"id": r.id, "number": r.number} for r in nearby[:5]
            ]
        if record.case.status is CaseStatus.REPORTED:
            messages = _take_in(uow, env, record, rule)
        uow.cases.add(record)
    case_id = record.id
    for photo in command.uploads:
        uow.cases.add_photo(replace(photo, case_id=case_id))
    for message in messages:
        message = replace(message, case_id=case_id, payload={**message.payload, "case_id": case_id})
        if batch is not None:
            batch.messages.append(message)
        else:
            uow.outbox.add(message, env.clock.now())
    if idempotency_key:
        uow.cases.remember_idempotency(idempotency_key, body_hash, case_id, env.clock.now())
    assignee = uow.forces.get(record.case.assignee) if record.case.assignee else None
    if batch is None:
        audit_in(uow, env.clock, report.audit)
    elif report.audit is not None:
        batch.audits.append(report.audit)
    return Reported(record, True, taxonomy, assignee)


def _check_uploads(command: ReportCommand) -> None:
    uploaded = {p.id for p in command.uploads}
    for name in ("photos", "before_photos", "after_photos"):
        for photo_id in getattr(command, name):
            if photo_id not in uploaded:
                raise InvalidInput(
                    "未知的照片 / unknown photo",
                    [Problem((name,), f"photo {photo_id!r} is not part of this report", "unknown")],
                )


def _locate(env: CaseEnvironment, command: ReportCommand) -> Location | None:
    """Where the report is, or ``None`` outside the sub-district. Called before the
    transaction opens: the locator may need a connection of its own to load the
    territory, and a request must never hold one connection while waiting for another."""
    try:
        return env.locator.locate(command.lng, command.lat)
    except OutsideTerritory:
        return None


def _reported_at(command: ReportCommand, now: datetime) -> datetime:
    """When a new case of ``command`` counts as reported (China time): when it was
    observed, or ``now`` (``_new_case`` refuses an observation further ahead than the
    allowed skew, and takes one slightly ahead as now)."""
    return min(as_china_time(command.observed_at), now) if command.observed_at else now


def _number_prefix(rule: Subclass, at: datetime) -> str:
    """A new case's number without its sequence: the subclass code and the day (China
    time, ``at``) the case was observed."""
    return f"{rule.code}{at.strftime('%Y%m%d')}"


def _new_case(
    uow: UnitOfWork,
    env: CaseEnvironment,
    command: ReportCommand,
    location: Location | None,
    rule: Subclass,
    number_for: Callable[[str], str] | None = None,
) -> tuple[CaseRecord, list[OutboxMessage]]:
    """The new case's record and its messages; its number from ``number_for`` (given the
    prefix) when given, else the next of the prefix's sequence."""
    now = as_china_time(env.clock.now())
    at = as_china_time(command.observed_at) if command.observed_at else now
    if at > now + env.policy.max_future_skew:
        raise InvalidInput(
            "发现时间晚于当前时间 / observed_at is in the future",
            [
                Problem(
                    ("observed_at",),
                    f"{at.isoformat()} is later than now ({now.isoformat()})",
                    "future",
                )
            ],
        )
    at = min(at, now)
    reporter = (command.reporter or "").strip() or None
    must_be_staff = command.self_handled or (
        reporter is not None and command.channel in (Channel.PATROL, Channel.INSPECTION)
    )
    if must_be_staff and (reporter is None or uow.forces.get(reporter) is None):
        raise InvalidInput(
            "上报人须为已登记人员 / the reporter must be a registered person",
            [
                Problem(
                    ("reporter",),
                    f"人员编号 {reporter!r} 未登记 / no person numbered {reporter!r}",
                    "unknown",
                )
            ],
        )
    urgency = intake_urgency(rule, command.channel, command.hazard, command.urgent)
    prefix = _number_prefix(rule, at)
    if number_for is not None:
        number = number_for(prefix)
    else:
        number = f"{prefix}{uow.cases.next_sequence(prefix):05d}"
    position = (command.lng, command.lat)
    extra: dict[str, Any] = dict(command.extra)
    if command.component:
        extra["component"] = dict(command.component)
    if command.due_at is not None:
        extra["handle_due_at"] = as_china_time(command.due_at)
    if location is None:
        case = Case.forwarded(
            number=number,
            kind=rule.kind,
            subclass=rule.code,
            channel=command.channel,
            urgency=urgency,
            at=at,
            reporter=reporter,
            description=command.description,
            position=position,
            photos=command.photos,
            reason="位置不在本街道辖区 / outside the sub-district",
        )
        record = CaseRecord(case, address=command.address, extra=extra)
        _refresh(record, now)
        return record, [
            _message(
                record, "district", DISTRICT, action="forward", lng=command.lng, lat=command.lat
            )
        ]
    extra["street"] = location.on_street
    pre_launch = not location.grid.is_live(at.date())
    areas = [a.code for a in location.areas]
    if command.self_handled:
        case = Case.self_handle(
            number=number,
            kind=rule.kind,
            subclass=rule.code,
            urgency=urgency,
            at=at,
            reporter=reporter or "",
            channel=command.channel,
            before_photos=command.before_photos,
            after_photos=command.after_photos,
            description=command.description,
            grid_code=location.grid.code,
            unit_code=location.unit.code,
            area_codes=areas,
            position=position,
            pre_launch=pre_launch,
            hazard=command.hazard,
        )
        sample = int(hashlib.sha256(number.encode()).hexdigest(), 16) % 100
        extra["check_sample"] = sample < env.policy.self_handled_sample_percent
        record = CaseRecord(case, address=command.address, extra=extra)
        _refresh(record, now)
        if extra["check_sample"]:
            return record, [_message(record, "sample_check", COMMAND_CENTRE)]
        return record, []
    case = Case.report(
        number=number,
        kind=rule.kind,
        subclass=rule.code,
        channel=command.channel,
        urgency=urgency,
        at=at,
        reporter=reporter,
        description=command.description,
        grid_code=location.grid.code,
        unit_code=location.unit.code,
        area_codes=areas,
        position=position,
        pre_launch=pre_launch,
        hazard=command.hazard,
        photos=command.photos,
    )
    record = CaseRecord(case, address=command.address, extra=extra)
    _advance(record, case.events[-1], rule, env)
    _refresh(record, now)
    return record, []


def _take_in(
    uow: UnitOfWork, env: CaseEnvironment, record: CaseRecord, rule: Subclass
) -> list[OutboxMessage]:
    """Register and dispatch a fresh report as the intake policy says (``rule``: the
    case's subclass in the taxonomy in force, read once per report)."""
    case = record.case
    now = as_china_time(env.clock.now())
    messages: list[OutboxMessage] = []
    if case.channel in env.policy.auto_register:
        _advance(record, apply(case, Action.REGISTER, SYSTEM_ACTOR, now), rule, env)
        auto = env.policy.auto_dispatch_all or case.channel is Channel.VIDEO_AI
        if auto and not case.pre_launch:
            event, sent = _dispatch(uow, env, record, rule, SYSTEM_ACTOR, now, None)
            if event is not None:
                _advance(record, event, rule, env)
            messages.extend(sent)
    else:
        messages.append(_message(record, "to_register", COMMAND_CENTRE))
    _refresh(record, now)
    return messages


def _earlier_nearby(uow: UnitOfWork, env: CaseEnvironment, case: Case) -> list[NearbyCase]:
    """Open cases of the same subclass reported earlier within the radius and window."""
    if case.status is not CaseStatus.REPORTED or case.position is None:
        return []
    policy = env.policy
    return [
        r
        for r in uow.cases.nearby_open(
            case.subclass,
            case.position[0],
            case.position[1],
            policy.duplicate_radius_m,
            case.reported_at - policy.duplicate_window,
        )
        if r.reported_at <= case.reported_at
    ]


def _merge_alert(
    uow: UnitOfWork, env: CaseEnvironment, record: CaseRecord, original: CaseRecord
) -> None:
    """An algorithm alert repeating an open case joins it at once (the earlier case keeps
    its first discovery; the alert keeps its own channel and time on it)."""
    now = as_china_time(env.clock.now())
    before = (record.case.version, original.case.version)
    merge_report(original.case, record.case, SYSTEM_ACTOR, max(now, original.case.events[-1].at))
    _refresh(record, now)
    uow.cases.save(record, before[0])
    uow.cases.save(original, before[1])


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionResult:
    record: CaseRecord
    event: CaseEvent


def act(
    uow: UnitOfWork,
    env: CaseEnvironment,
    case_id: int,
    action: Action,
    actor: Actor | str,
    params: Mapping[str, Any],
    expected_version: int | None = None,
    may_see: Callable[[CaseRecord], object] | None = None,
) -> ActionResult:
    """Take ``action`` on a case as ``actor`` (or the person with that number, whose
    post gives the capabilities). ``may_see`` is asked first of the case as loaded (the
    caller's scope: it raises when the case is not theirs to see), so that a caller needs
    no read of its own before."""
    with uow:
        record = uow.cases.get(case_id, for_update=True)
        if record is None:
            raise NotFound(f"没有编号为 {case_id} 的案件 / no case with id {case_id}")
        if may_see is not None:
            may_see(record)
        if expected_version is not None and expected_version != record.case.version:
            raise Conflict(
                "案件已被他人更新 / the case changed since you loaded it",
                [
                    Problem(
                        ("header", "If-Match"),
                        f"you have version {expected_version}, the case is at "
                        f"{record.case.version}: reload it",
                        "stale",
                    )
                ],
            )
        if isinstance(actor, str):
            actor, _person = actor_for(uow, actor)
        rule = _rule(taxonomy_in_force(uow, env), record.case.subclass)
        now = as_china_time(env.clock.now())
        version = record.case.version
        photos = tuple(params.get("photos") or ())
        for photo_id in photos:
            photo = uow.cases.photo(str(photo_id))
            if photo is None or photo.case_id != case_id:
                raise InvalidInput(
                    "未知的照片 / unknown photo",
                    [
                        Problem(
                            ("photos",),
                            f"photo {photo_id!r} does not belong to this case: upload it first",
                            "unknown",
                        )
                    ],
                )
        messages: list[OutboxMessage] = []
        if action is Action.DISPATCH:
            assignee = params.get("assignee")
            if assignee is not None and not isinstance(assignee, str):
                raise InvalidInput(
                    "处置人须为人员编号 / assignee must be a person number",
                    [Problem(("assignee",), "a person number, or omit it for automatic dispatch")],
                )
            _check_allowed(record.case, actor, action)
            event, messages = _dispatch(
                uow, env, record, rule, actor, now, assignee or None, str(params.get("note") or "")
            )
            if event is None:
                raise Conflict(
                    "无人在岗，无法自动派遣 / no one on duty to dispatch to",
                    [Problem(("assignee",), record.extra["dispatch_reason"], "no_one_on_duty")],
                )
        elif action is Action.MERGE:
            event, other, other_version = _merge_into(uow, record, actor, now, params)
            _refresh(other, now)
            uow.cases.save(other, other_version)
        else:
            event = apply(record.case, action, actor, now, **params)
        _advance(record, event, rule, env)
        _refresh(record, now)
        messages.extend(_notifications(uow, record, event))
        uow.cases.save(record, version)
        for message in messages:
            uow.outbox.add(message, now)
        points_for_event(uow, env.clock, record, event)
        uow.commit()
    return ActionResult(record, event)


def _check_allowed(case: Case, actor: Actor, action: Action) -> None:
    allowed = allowed_actions(case, actor)
    if action not in allowed:
        raise ActionNotAllowed(
            action, case.status, allowed, "当前状态或身份不允许 / not allowed now or for you"
        )


def _merge_into(
    uow: UnitOfWork, record: CaseRecord, actor: Actor, now: datetime, params: Mapping[str, Any]
) -> tuple[CaseEvent, CaseRecord, int]:
    into = params.get("into")
    if not isinstance(into, int) or isinstance(into, bool):
        raise InvalidInput(
            "须指明并入的案件 / merge needs the case to merge into",
            [Problem(("into",), "the id of the earlier case", "missing")],
        )
    other = uow.cases.get(into, for_update=True)
    if other is None:
        raise InvalidInput(
            "并入的案件不存在 / the case to merge into does not exist",
            [Problem(("into",), f"no case with id {into}", "unknown")],
        )
    _check_allowed(record.case, actor, Action.MERGE)
    version = other.case.version
    event, _ = merge_report(other.case, record.case, actor, now)
    return event, other, version


def _notifications(uow: UnitOfWork, record: CaseRecord, event: CaseEvent) -> list[OutboxMessage]:
    case = record.case
    action = event.action
    if action is Action.ESCALATE:
        level = EscalationLevel(event.data["level"])
        roster = uow.forces.roster()
        return [
            _message(
                record,
                "escalation" if r != DISTRICT else "district",
                r,
                level=level.value,
                reason=event.reason,
            )
            for r in escalation_recipients(roster, record, level)
        ]
    if action is Action.RETURN_:
        return [_message(record, "returned", COMMAND_CENTRE, reason=event.reason)]
    if action is Action.HANDLE:
        return [_message(record, "check", case.reporter or COMMAND_CENTRE)]
    if action is Action.CHECK and not event.data.get("passed"):
        return [_message(record, "rework", case.assignee or COMMAND_CENTRE)]
    if action in (Action.REQUEST_EXTENSION, Action.VOID):
        roster = uow.forces.roster()
        deputies = coordinators(roster, Post.DEPUTY_GRID_CHIEF, case.grid_code)
        return [_message(record, "approval", p.number, action=action.value) for p in deputies] or [
            _message(record, "approval", COMMAND_CENTRE)
        ]
    return []


# --- sweep -----------------------------------------------------------------------------------


#: due cases a sweep takes at a time
SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepResult:
    looked_at: int
    warned: int
    escalated: int

    def __add__(self, other: SweepResult) -> SweepResult:
        return SweepResult(
            self.looked_at + other.looked_at,
            self.warned + other.warned,
            self.escalated + other.escalated,
        )


def sweep(uow: UnitOfWork, env: CaseEnvironment, batch: int = SWEEP_BATCH) -> SweepResult:
    """One pass of the SLA sweep: warn at yellow, escalate at red, once per case and
    moment; safe to run twice or on two workers (rows are locked, skipping locked ones)."""
    warned = escalated = 0
    with uow:
        now = as_china_time(env.clock.now())
        ids = uow.cases.due(now, batch)
        roster: Roster | None = None
        for case_id in ids:
            record = uow.cases.get(case_id)
            if record is None:
                continue
            version = record.case.version
            due = case_clocks.due(record.clocks, now)
            event = None
            if due.escalate:
                try:
                    event = apply(
                        record.case,
                        Action.ESCALATE,
                        SYSTEM_ACTOR,
                        now,
                        reason="超时自动升级 / overdue: "
                        + ", ".join(s.value for s in due.escalate),
                    )
                except ActionNotAllowed:
                    event = None  # already at the top of the ladder
            record.clocks = case_clocks.acknowledge(record.clocks, due)
            _refresh(record, now)
            warnings = [
                _message(
                    record, "warning", record.case.assignee or COMMAND_CENTRE, stage=stage.value
                )
                for stage in due.warn
                if stage not in due.escalate
            ]
            messages = list(warnings)
            if event is not None:
                roster = roster or uow.forces.roster()
                level = EscalationLevel(event.data["level"])
                messages.extend(
                    _message(
                        record,
                        "escalation" if r != DISTRICT else "district",
                        r,
                        level=level.value,
                        automatic=True,
                    )
                    for r in escalation_recipients(roster, record, level)
                )
            try:
                uow.cases.save(record, version)
            except Conflict:
                continue  # changed meanwhile by a person: the next pass looks again
            warned += len(warnings)
            escalated += int(event is not None)
            for message in messages:
                uow.outbox.add(message, now)
        uow.commit()
    return SweepResult(len(ids), warned, escalated)


# --- photos ----------------------------------------------------------------------------------


def add_photos(
    uow: UnitOfWork, clock: Clock, case_id: int, photos: Sequence[PhotoRecord]
) -> list[PhotoRecord]:
    """Attach stored photos to a case (they may then be named in actions)."""
    with uow:
        if uow.cases.view(case_id) is None:
            raise NotFound(f"没有编号为 {case_id} 的案件 / no case with id {case_id}")
        attached = [replace(p, case_id=case_id, created_at=clock.now()) for p in photos]
        for photo in attached:
            uow.cases.add_photo(photo)
        uow.commit()
    return attached
