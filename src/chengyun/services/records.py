"""What the case services keep about a case besides the domain ``Case``: its stage clocks,
light, where it is and what the intake knew (address, component, duplicates offered)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chengyun.domain.case_clocks import Clocks
from chengyun.domain.cases import Case, CaseStatus, Channel, EscalationLevel
from chengyun.domain.sla import Light
from chengyun.domain.taxonomy import CaseKind, Urgency


@dataclass(frozen=True)
class NearbyCase:
    """An open case near a new report: enough to offer it, or to load it for a merge."""

    id: int
    number: str
    reported_at: datetime


class DuplicateKey(Exception):
    """Another request with the same idempotency key committed first: ask again."""


@dataclass
class CaseRecord:
    """A case as stored: the aggregate plus what the platform derived for it."""

    case: Case
    clocks: Clocks = field(default_factory=Clocks.none)
    light: Light = Light.GREEN
    next_due_at: datetime | None = None
    address: str = ""
    unassigned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    saved_events: int = 0
    """How many of ``case.events`` are already stored (the rest are appended on save)."""

    @property
    def id(self) -> int:
        assert self.case.id is not None, "the case has not been saved"
        return self.case.id


@dataclass(frozen=True)
class CaseSummary:
    """A case as a list shows it (案件列表的一行): what its row holds and the due times of
    its open stages, without its events or its stage clocks rebuilt."""

    id: int
    number: str
    kind: CaseKind
    subclass: str
    channel: Channel
    urgency: Urgency
    status: CaseStatus
    light: Light
    reported_at: datetime
    reporter: str | None
    description: str
    address: str
    grid_code: str | None
    unit_code: str | None
    area_codes: tuple[str, ...]
    position: tuple[float, float] | None
    assignee: str | None
    unassigned: bool
    escalation_level: EscalationLevel
    pre_launch: bool
    self_handled: bool
    version: int
    deadlines: dict[str, datetime]
    """Stage (value) → due time, for the stages whose clocks run, in the clocks' order."""
    possible_duplicates: tuple[dict[str, Any], ...] = ()
    dispatch_reason: str = ""

    @classmethod
    def of(cls, record: CaseRecord) -> CaseSummary:
        case = record.case
        return cls(
            id=record.id,
            number=case.number,
            kind=case.kind,
            subclass=case.subclass,
            channel=case.channel,
            urgency=case.urgency,
            status=case.status,
            light=record.light,
            reported_at=case.reported_at,
            reporter=case.reporter,
            description=case.description,
            address=record.address,
            grid_code=case.grid_code,
            unit_code=case.unit_code,
            area_codes=case.area_codes,
            position=case.position,
            assignee=case.assignee,
            unassigned=record.unassigned,
            escalation_level=case.escalation_level,
            pre_launch=case.pre_launch,
            self_handled=case.self_handled,
            version=case.version,
            deadlines={
                s.value: c.deadline.due_at for s, c in record.clocks.stages.items() if c.open
            },
            possible_duplicates=tuple(record.extra.get("possible_duplicates", ())),
            dispatch_reason=str(record.extra.get("dispatch_reason", "")),
        )


@dataclass(frozen=True)
class OutboxMessage:
    """A message to leave the process after commit (notifications, the district)."""

    topic: str
    recipient: str
    payload: dict[str, Any]
    case_id: int | None = None


@dataclass(frozen=True)
class PendingMessage:
    id: int
    topic: str
    recipient: str
    payload: dict[str, Any]
    attempts: int
    case_id: int | None


@dataclass(frozen=True)
class Delivery:
    """What the API shows of a notification: to whom, what, when (or why not yet)."""

    id: int
    topic: str
    recipient: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    dead: bool
    last_error: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class PhotoRecord:
    id: str
    case_id: int
    content_type: str
    size: int
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class CaseFilter:
    """The filters of the case list; every field optional."""

    status: tuple[str, ...] = ()
    grid_code: str | None = None
    unit_code: str | None = None
    area_code: str | None = None
    urgency: str | None = None
    channel: str | None = None
    subclass: str | None = None
    assignee: str | None = None
    light: str | None = None
    text: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    open_only: bool = False
    unassigned: bool | None = None
    visible_scope: tuple[str, str | None] | None = None
    """(scope kind, code) of a principal limited to a grid, unit or department."""
    visible_person: str | None = None
    """…who also sees the cases they reported or hold."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    password_hash: str | None
    role: str
    scope_kind: str
    scope_code: str | None
    person_number: str | None
    display_name: str
    disabled: bool
    failed_logins: int
    last_failed_at: datetime | None
    session_epoch: int
    created_at: datetime


@dataclass(frozen=True)
class NewAccount:
    username: str
    password_hash: str | None
    role: str
    scope_kind: str
    scope_code: str | None = None
    person_number: str | None = None
    display_name: str = ""


@dataclass(frozen=True)
class ApiToken:
    id: int
    account_id: int
    name: str
    permissions: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
