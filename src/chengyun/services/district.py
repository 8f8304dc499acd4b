"""The district link (区级平台对接): cases escalated up to the district platform and sent down
from it, with their status synced both ways — between two chengyun platforms, or chengyun
and a district system that speaks the same protocol (docs/integrations/district.md).

Every message carries an id. Delivery is at least once (the outbox retries until the peer
takes it) and handling is idempotent: a received message is stored with the answer it got,
and a repeat gets the same answer without anything happening again. The effects reuse the
case engine: a received case is ``report_case`` (keyed ``district:<from>:<message_id>``),
a received status is the ``district_sync`` action on the case it refers to.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chengyun.clock import Clock
from chengyun.domain.cases import (
    SYSTEM_ACTOR,
    TERMINAL_STATUSES,
    Action,
    ActionNotAllowed,
    CaseStatus,
    Channel,
)
from chengyun.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from chengyun.domain.working_time import as_china_time
from chengyun.services.cases import (
    COMMAND_CENTRE,
    DISTRICT,
    CaseEnvironment,
    ReportCommand,
    act,
    report_case,
)
from chengyun.services.district_records import CaseLink, Received
from chengyun.services.records import CaseRecord, DuplicateKey, OutboxMessage
from chengyun.services.unit_of_work import UnitOfWork

#: The kinds of message (消息类型).
CASE_UP = "case.up"
CASE_DOWN = "case.down"
STATUS = "status"
KINDS = (CASE_UP, CASE_DOWN, STATUS)
#: What a status message can say of a case the sender handles.
PEER_STATUSES = ("accepted", "handled", "closed", "returned")
#: Outbox topics; their first segment routes them to the district sender. The engine's own
#: escalations and forwards to the district use the topic ``district``.
TOPIC_STATUS = "district.status"
TOPIC_DOWN = "district.down"
#: The outbox recipient that means "the district this platform reports to".
UPSTREAM = DISTRICT
#: The topic of the command centre's notice that a linked platform reported on a case.
TOPIC_RESULT = "district_result"


@dataclass(frozen=True)
class LinkConfig:
    """How this platform is linked: its own code, whether it reports to a district, and
    the sub-districts it serves as the district."""

    code: str
    upstream: bool = False
    peers: frozenset[str] = frozenset()

    def reply_to(self, sender: str) -> str:
        """The outbox recipient that reaches ``sender``."""
        return sender if sender in self.peers else UPSTREAM


@dataclass(frozen=True)
class CaseContent:
    """The case in a ``case.up`` or ``case.down`` message."""

    number: str
    subclass: str
    lng: float
    lat: float
    description: str = ""
    address: str = ""
    reported_at: datetime | None = None
    due_at: datetime | None = None
    hazard: bool = False
    reason: str = ""
    photos: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusContent:
    """The case in a ``status`` message: the receiver's case (``reference``), the sender's
    own number for it, where it stands there and the result text."""

    reference: str
    number: str
    status: str
    result: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class Incoming:
    message_id: str
    kind: str
    sender: str
    sent_at: datetime
    case: CaseContent | StatusContent
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    replayed: bool


def _problem(where: str, message: str, kind: str = "peer") -> list[Problem]:
    return [Problem((where,), message, kind)]


def message_hash(message: Incoming) -> str:
    """What identifies a message's content: a message id reused for other content is a
    conflict, while a retry (same content, a later ``sent_at``) is a repeat."""
    case = message.case
    if isinstance(case, StatusContent):
        identity = [message.kind, message.sender, case.reference, case.number, case.status]
    else:
        identity = [message.kind, message.sender, case.number, case.subclass]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


def _check_sender(link: LinkConfig, message: Incoming) -> None:
    if message.kind == CASE_UP and message.sender not in link.peers:
        raise Forbidden(
            f"{message.sender} 不是本平台所辖街道 / {message.sender} is not a sub-district this "
            "platform serves as the district: add it to CHENGYUN_DISTRICT_PEERS",
            _problem("from", "unknown sub-district"),
        )
    if message.kind == CASE_DOWN and (message.sender in link.peers or not link.upstream):
        raise Forbidden(
            f"{message.sender} 不是本平台的区平台 / {message.sender} is not the district this "
            "platform reports to (CHENGYUN_DISTRICT_URL)",
            _problem("from", "not the district"),
        )
    if message.kind == STATUS and message.sender not in link.peers and not link.upstream:
        raise Forbidden(
            f"未与 {message.sender} 对接 / this platform is not linked with {message.sender}",
            _problem("from", "not linked"),
        )


def receive(uow: UnitOfWork, env: CaseEnvironment, link: LinkConfig, message: Incoming) -> Answer:
    """Handle one message from a linked platform, once: a repeat of its id is answered as
    the first time; the same id with other content is a ``Conflict``."""
    _check_sender(link, message)
    digest = message_hash(message)
    with uow:
        seen = uow.district.received(message.sender, message.message_id)
    if seen is not None:
        if seen.request_hash != digest:
            raise Conflict(
                "消息编号已用于另一条消息 / this message_id was already used for another message",
                _problem("message_id", "use a new message_id for a new message", "idempotency"),
            )
        return Answer(seen.answer, True)
    try:
        return _first_time(uow, env, link, message, digest)
    except DuplicateKey:  # a twin was handled at the same moment: answer as it was answered
        with uow:
            seen = uow.district.received(message.sender, message.message_id)
        if seen is None:
            raise
        return Answer(seen.answer, True)


def _first_time(
    uow: UnitOfWork, env: CaseEnvironment, link: LinkConfig, message: Incoming, digest: str
) -> Answer:
    now = env.clock.now()
    case = message.case
    if isinstance(case, StatusContent):
        record, recorded = _take_status(uow, env, link, message, case)
        note = "" if recorded else "本案已结束，仅作记录 / the case is no longer open: noted only"
        notices = [_result_notice(record, message, case)]
    else:
        record = _take_case(uow, env, link, message, case, digest)
        note, notices = "", []
    answer = {
        "message_id": message.message_id,
        "kind": message.kind,
        "received_at": now.isoformat(),
        "case": {"reference": record.case.number, "status": record.case.status.value},
        "note": note,
    }
    with uow:
        if not isinstance(case, StatusContent) and uow.district.link(record.id) is None:
            uow.district.add_link(
                CaseLink(
                    0,
                    record.id,
                    message.sender,
                    link.reply_to(message.sender),
                    case.number,
                    message.kind,
                    message.message_id,
                    None,
                    0,
                ),
                now,
            )
        uow.district.remember(
            Received(
                message.sender, message.message_id, message.kind, record.id, digest, answer, now
            )
        )
        for notice in notices:
            uow.outbox.add(notice, now)
        uow.commit()
    return Answer(answer, False)


def _take_case(
    uow: UnitOfWork,
    env: CaseEnvironment,
    link: LinkConfig,
    message: Incoming,
    case: CaseContent,
    digest: str,
) -> CaseRecord:
    """A case sent up or down becomes a case here, through the ordinary intake."""
    command = ReportCommand(
        channel=Channel.DISTRICT,
        subclass=case.subclass.strip().upper(),
        lng=case.lng,
        lat=case.lat,
        description=case.description,
        hazard=case.hazard,
        address=case.address,
        due_at=case.due_at if message.kind == CASE_DOWN else None,
        extra={
            "district": {
                "from": message.sender,
                "kind": message.kind,
                "message_id": message.message_id,
                "peer_number": case.number,
                "peer_reported_at": case.reported_at.isoformat() if case.reported_at else None,
                "peer_due_at": case.due_at.isoformat() if case.due_at else None,
                "reason": case.reason,
                "photos": list(case.photos),
            }
        },
    )
    key = f"district:{message.sender}:{message.message_id}"
    try:
        return report_case(uow, env, command, idempotency_key=key, body_hash=digest).record
    except DuplicateKey:
        return report_case(uow, env, command, idempotency_key=key, body_hash=digest).record


def _sent_to(uow: UnitOfWork, case_id: int, recipient: str) -> bool:
    return any(
        d.topic in (DISTRICT, TOPIC_DOWN) and d.recipient == recipient
        for d in uow.outbox.for_case(case_id)
    )


def _take_status(
    uow: UnitOfWork, env: CaseEnvironment, link: LinkConfig, message: Incoming, case: StatusContent
) -> tuple[CaseRecord, bool]:
    """A status of a case this platform sent: recorded on it with ``district_sync``."""
    with uow:
        record = uow.cases.get_by_number(case.reference)
        sent = record is not None and _sent_to(uow, record.id, link.reply_to(message.sender))
    if record is None:
        raise NotFound(
            f"本平台没有编号为 {case.reference} 的案件 / no case numbered {case.reference} here",
            _problem("case.reference", "the number this platform sent the case with", "unknown"),
        )
    if not sent:
        raise Forbidden(
            f"案件 {case.reference} 未发送给 {message.sender} / case {case.reference} was not "
            f"sent to {message.sender}",
            _problem("case.reference", "only the platform a case was sent to reports on it"),
        )
    done = any(
        e.action is Action.DISTRICT_SYNC and e.data.get("message_id") == message.message_id
        for e in record.case.events
    )
    if done or record.case.status in TERMINAL_STATUSES:
        return record, done
    params = {
        "peer": message.sender,
        "reference": case.number,
        "peer_status": case.status,
        "message_id": message.message_id,
        "note": case.result,
    }
    try:
        return act(uow, env, record.id, Action.DISTRICT_SYNC, SYSTEM_ACTOR, params).record, True
    except ActionNotAllowed:  # closed here meanwhile: noted only
        return record, False


def _result_notice(record: CaseRecord, message: Incoming, case: StatusContent) -> OutboxMessage:
    return OutboxMessage(
        TOPIC_RESULT,
        COMMAND_CENTRE,
        {
            "case_id": record.id,
            "number": record.case.number,
            "status": record.case.status.value,
            "peer": message.sender,
            "peer_number": case.number,
            "peer_status": case.status,
            "result": case.result,
        },
        record.id,
    )


# --- what goes out ---------------------------------------------------------------------------


def _deadlines(record: CaseRecord) -> dict[str, str]:
    return {
        stage.value: clock.deadline.due_at.isoformat()
        for stage, clock in record.clocks.stages.items()
        if clock.open
    }


def case_message(
    record: CaseRecord, kind: str, message_id: str, own_code: str, now: datetime, reason: str
) -> dict[str, Any]:
    """A ``case.up`` or ``case.down`` message for ``record``."""
    case = record.case
    body: dict[str, Any] = {
        "number": case.number,
        "subclass": case.subclass,
        "kind": case.kind.value,
        "urgency": case.urgency.value,
        "hazard": case.hazard,
        "description": case.description,
        "address": record.address,
        "reported_at": case.reported_at.isoformat(),
        "deadlines": _deadlines(record),
        "reason": reason,
    }
    if case.position is not None:
        body["position"] = {"lng": case.position[0], "lat": case.position[1], "crs": "wgs84"}
    return {
        "message_id": message_id,
        "kind": kind,
        "sent_at": as_china_time(now).isoformat(),
        "from": own_code,
        "case": body,
    }


def up_message_id(own_code: str, number: str) -> str:
    """A case goes up once (the district is the top of the ladder), so its number names
    the message: every retry carries the same id."""
    return f"up:{own_code}:{number}"


def came_from_upstream(record: CaseRecord) -> bool:
    """Sent down by the district: its status goes back up, the case itself never does."""
    origin = record.extra.get("district")
    return isinstance(origin, Mapping) and origin.get("kind") == CASE_DOWN


def escalation_reason(record: CaseRecord) -> str:
    for event in reversed(record.case.events):
        if event.action is Action.ESCALATE:
            return event.reason or "超时自动升级 / overdue"
        if event.action is Action.FORWARD:
            return event.reason or "转区平台 / forwarded"
    return ""


def peer_status(record: CaseRecord) -> tuple[str, str] | None:
    """What a status message says of a case handled here: accepted, handled, closed or
    returned (refused here: rejected, voided, merged, outside the territory), with the
    result text — the handler's note, or why it was returned."""
    case = record.case
    status = case.status
    if status is CaseStatus.REPORTED:
        return None
    if status in (CaseStatus.HANDLED, CaseStatus.CHECKED, CaseStatus.CLOSED):
        notes = [e.note for e in case.events if e.action in (Action.HANDLE, Action.CLOSE)]
        result = next((n for n in reversed(notes) if n), "")
        return ("closed" if status is CaseStatus.CLOSED else "handled"), result
    if status in TERMINAL_STATUSES:
        last = case.events[-1]
        return "returned", last.reason or last.note or status.label
    return "accepted", ""


def sync_statuses(uow: UnitOfWork, clock: Clock, own_code: str, batch: int = 200) -> int:
    """Write a ``status`` message for each case handled for a peer whose status changed
    since it was last told; safe to run twice or on two workers. Returns how many."""
    written = 0
    with uow:
        now = clock.now()
        for link in uow.district.changed_links(batch):
            record = uow.cases.get(link.case_id)
            if record is None:
                continue
            found = peer_status(record)
            status = link.synced_status
            if found is not None and found[0] != link.synced_status:
                status, result = found
                case = record.case
                message = {
                    "message_id": f"status:{own_code}:{case.number}:{case.version}",
                    "kind": STATUS,
                    "sent_at": as_china_time(now).isoformat(),
                    "from": own_code,
                    "case": {
                        "reference": link.peer_number,
                        "number": case.number,
                        "status": status,
                        "result": result,
                        "at": case.events[-1].at.isoformat(),
                    },
                }
                uow.outbox.add(OutboxMessage(TOPIC_STATUS, link.reply_to, message, record.id), now)
                written += 1
            uow.district.synced(link.id, status, record.case.version, now)
        uow.commit()
    return written


def send_down(
    uow: UnitOfWork, clock: Clock, link: LinkConfig, case_id: int, to: str, actor: str, note: str
) -> str:
    """The district sends one of its cases down to a sub-district it serves (下派); the
    message leaves through the outbox. Returns the message id."""
    if to not in link.peers:
        known = ", ".join(sorted(link.peers)) or "无 / none"
        raise InvalidInput(
            f"未知的下级街道 {to!r} / unknown sub-district {to!r}",
            _problem("to", f"one of: {known} (CHENGYUN_DISTRICT_PEERS)", "unknown"),
        )
    with uow:
        now = clock.now()
        record = uow.cases.get(case_id, for_update=True)
        if record is None:
            raise NotFound(f"没有编号为 {case_id} 的案件 / no case with id {case_id}")
        if record.case.status in TERMINAL_STATUSES:
            raise Conflict(
                "案件已结束，不能下派 / the case is no longer open: nothing to send down",
                _problem("case_id", record.case.status.value, "closed"),
            )
        handled_for = uow.district.link(case_id)
        if (handled_for is not None and handled_for.peer == to) or _sent_to(uow, case_id, to):
            raise Conflict(
                f"案件已在 {to} / the case is already with {to}",
                _problem("to", "sent down there already, or it came from there", "duplicate"),
            )
        message_id = f"down:{link.code}:{record.case.number}:{to}"
        message = case_message(record, CASE_DOWN, message_id, link.code, now, note)
        uow.outbox.add(OutboxMessage(TOPIC_DOWN, to, message, case_id), now)
        uow.audit.append(
            now, actor, "district.send_down", f"case:{case_id}", {"to": to, "id": message_id}
        )
        uow.commit()
    return message_id
