"""The case lifecycle (案件生命周期): a pure state machine over the closed loop of SPEC §3.

reported → registered → dispatched → accepted → on scene → handled → checked → closed,
with the side roads (return, extension, hold, void, merge, rework, reopen, escalation,
joint handling, consultation). Every action is checked against the case's status and the
actor's capabilities, is recorded as exactly one event, and takes its time as a parameter.

State table (``=``: the status does not change; who may act in brackets)::

    from                  action (parameters)                 [who]                to
    reported              register                            [centre, system]     registered
                          reject (reason, reason_kind)        [centre]             rejected
    reported, registered  merge (into)                        [centre, system]     merged
    registered            dispatch (assignee)                 [centre, system]     dispatched
    dispatched…on_scene   dispatch (assignee) = reassign      [centre]             dispatched
    dispatched            accept                              [assignee]           accepted
    dispatched, accepted  return (reason)                     [assignee]           registered
    accepted              arrive (position)                   [assignee]           on_scene
    accepted, on_scene    handle (note, photos)               [assignee]           handled
                          request_extension (minutes, reason) [assignee]           =
                          approve_extension (approved)        [approver*]          =
    handled               check (passed=True)                 [not a handler]      checked
                          check (passed=False): rework        [not a handler]      dispatched
    checked               close                               [centre, system; not a handler]
                                                                                   closed
    registered…on_scene   hold (reason)                       [approver*]          on_hold
    on_hold               resume                              [approver*]          held-from status
    closed                reopen (reason)                     [centre]             registered
    registered…on_scene   start_joint (lead, partners)        [approver*]          =
    any open (joint)      contribute (department, note)       [a person]           =
    any open              void (reason): a request            [centre, approver,   =
                                                               assignee, reporter]
                          approve_void (approved)             [approver*, not the requester]
                                                                                   voided | =
                          consult (note)                      [approver*]          =
                          decide (decision, follow_ups)       [approver*]          =
    any open but reported escalate (reason unless automatic)  [centre, approver,   =
                                                               assignee, system]
    any open              district_sync (peer, reference,     [system]             =
                          peer_status, message_id)
    rejected, voided, merged, forwarded: nothing.

``approver*`` is an approver or the command centre, never the system; nobody approves
their own request.

The assignee (处置人) is ``None`` exactly when the case is reported, registered, held from
registered, or in a terminal status (the last assignee stays on the events and, if they
handled it, in ``handlers``).

Joint handling (联勤联动): the lead department's staff are the assignee; the co-operating
departments add feedback with ``contribute``. A joint case "closes when the lead closes
it" in the sense that the lead's handling is what gets checked: it still closes through
the same independent ``check`` and ``close`` as every other case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from chengyun.domain.errors import Conflict, InvalidInput, Problem
from chengyun.domain.forces import Department
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import SUBCLASS_CODE, CaseKind, Subclass, Urgency

SYSTEM = "system"
"""The actor recorded on events done by the platform itself (the worker, inbound feeds)."""


class Channel(Labelled):
    """How a case was found (发现渠道)."""

    PATROL = "patrol", "巡查上报", "Patrol report"
    VIDEO_AI = "video_ai", "智能发现", "Video AI alert"
    CITIZEN_QR = "citizen_qr", "市民扫码", "Citizen QR report"
    HOTLINE = "hotline", "12345热线", "12345 hotline"
    POLICE_DIVERSION = "police_diversion", "非警务警情", "Non-police 110 call"
    DISTRICT = "district", "区平台下派", "Sent down by the district"
    INSPECTION = "inspection", "监督检查", "Supervision inspection"


#: Found by the sub-district's own means (先行发现): the numerator of the first-discovery rate.
OWN_DISCOVERY_CHANNELS = frozenset(
    {Channel.PATROL, Channel.VIDEO_AI, Channel.CITIZEN_QR, Channel.INSPECTION}
)
#: Channels a problem solved on the spot (自处理) can come from: a person of the platform
#: who found and fixed it, not an algorithm, a citizen or another system.
SELF_HANDLE_CHANNELS = frozenset({Channel.PATROL, Channel.INSPECTION})


class CaseStatus(Labelled):
    """Where a case stands in the closed loop (闭环)."""

    REPORTED = "reported", "上报", "Reported", "#757575"
    REGISTERED = "registered", "立案", "Registered", "#1565c0"
    DISPATCHED = "dispatched", "派遣", "Dispatched", "#0277bd"
    ACCEPTED = "accepted", "签收", "Accepted", "#00838f"
    ON_SCENE = "on_scene", "到场", "On scene", "#00695c"
    HANDLED = "handled", "处置完毕", "Handled", "#2e7d32"
    CHECKED = "checked", "核查通过", "Checked", "#558b2f"
    CLOSED = "closed", "结案", "Closed", "#1b5e20"
    REJECTED = "rejected", "不予立案", "Rejected", "#9e9e9e"
    ON_HOLD = "on_hold", "挂账", "On hold", "#f9a825"
    VOIDED = "voided", "作废", "Voided", "#616161"
    MERGED = "merged", "已合并", "Merged", "#8d6e63"
    FORWARDED = "forwarded", "转区平台", "Forwarded to the district", "#6a1b9a"


TERMINAL_STATUSES = frozenset(
    {
        CaseStatus.CLOSED,
        CaseStatus.REJECTED,
        CaseStatus.VOIDED,
        CaseStatus.MERGED,
        CaseStatus.FORWARDED,
    }
)
OPEN_STATUSES = frozenset(CaseStatus) - TERMINAL_STATUSES
#: Statuses in which someone works on the case and may be reassigned or held.
WORKING_STATUSES = frozenset(
    {CaseStatus.REGISTERED, CaseStatus.DISPATCHED, CaseStatus.ACCEPTED, CaseStatus.ON_SCENE}
)
#: Statuses (or, on hold, the status held from) in which a case has no assignee.
UNASSIGNED_STATUSES = frozenset({CaseStatus.REPORTED, CaseStatus.REGISTERED}) | TERMINAL_STATUSES


class Action(Labelled):
    """What can happen to a case; each occurrence is one ``CaseEvent``."""

    REPORT = "report", "上报", "Report"
    SELF_HANDLE = "self_handle", "自处理", "Solved on the spot"
    FORWARD = "forward", "转区平台", "Forward to the district"
    REGISTER = "register", "立案", "Register"
    REJECT = "reject", "不予立案", "Reject"
    DISPATCH = "dispatch", "派遣", "Dispatch"
    ACCEPT = "accept", "签收", "Accept"
    RETURN_ = "return", "退单", "Return"
    ARRIVE = "arrive", "到场", "Arrive on scene"
    HANDLE = "handle", "处置", "Handle"
    CHECK = "check", "核查", "Check"
    CLOSE = "close", "结案", "Close"
    REQUEST_EXTENSION = "request_extension", "申请延期", "Request an extension"
    APPROVE_EXTENSION = "approve_extension", "审批延期", "Decide an extension"
    HOLD = "hold", "挂账", "Put on hold"
    RESUME = "resume", "恢复处置", "Resume"
    VOID = "void", "申请作废", "Request voiding"
    APPROVE_VOID = "approve_void", "审批作废", "Decide voiding"
    MERGE = "merge", "合并", "Merge"
    ESCALATE = "escalate", "升级", "Escalate"
    REOPEN = "reopen", "重新处置", "Reopen"
    START_JOINT = "start_joint", "联勤联动", "Start joint handling"
    CONTRIBUTE = "contribute", "协办反馈", "Partner feedback"
    CONSULT = "consult", "会商研判", "Put on the consultation agenda"
    DECIDE = "decide", "会商决定", "Record the consultation decision"
    DISTRICT_SYNC = "district_sync", "区平台同步", "Update from the district link"


#: Recorded when a case is created, never applied to an existing one.
CREATION_ACTIONS = frozenset({Action.REPORT, Action.SELF_HANDLE, Action.FORWARD})


class RejectReason(Labelled):
    """Why a report is not registered (不予立案)."""

    INVALID = "invalid", "无效上报", "Invalid report"
    DUPLICATE = "duplicate", "重复上报", "Duplicate report"


class EscalationLevel(Labelled):
    """The escalation ladder (逐级协调), from the handler up to the district platform."""

    HANDLER = "handler", "处置人员", "Handler"
    DEPARTMENT_LINE = "department_line", "业务条线", "Department line"
    DEPUTY_GRID_CHIEF = "deputy_grid_chief", "副网格长", "Deputy grid chief"
    GRID_CHIEF = "grid_chief", "网格长", "Grid chief"
    COMMAND_CENTRE = "command_centre", "城运中心", "Command centre"
    DISTRICT = "district", "区网格平台", "District grid platform"


_LADDER = tuple(EscalationLevel)


def intake_urgency(
    rule: Subclass, channel: Channel, hazard: bool = False, urgent_order: bool = False
) -> Urgency:
    """A new case's urgency (紧急程度): the subclass rule's, raised by a component with a
    safety hazard, an urgent 12345 order or a diverted 110 call."""
    urgent = (
        rule.urgency is Urgency.URGENT
        or (rule.kind is CaseKind.COMPONENT and hazard)
        or (channel is Channel.HOTLINE and urgent_order)
        or channel is Channel.POLICE_DIVERSION
    )
    return Urgency.URGENT if urgent else Urgency.GENERAL


def next_level(level: EscalationLevel) -> EscalationLevel | None:
    """The next rung of the ladder, or ``None`` at the district platform (the top)."""
    index = _LADDER.index(level) + 1
    return _LADDER[index] if index < len(_LADDER) else None


@dataclass(frozen=True)
class Actor:
    """Who acts on a case and what they may do (capabilities, not the security model).

    ``centre``: command-centre operators and the duty commander (register, reject,
    dispatch, check, close, approve); ``approver``: the duty commander, grid chiefs and
    deputies (approve extensions, holds and voids); ``system``: the platform itself
    (automatic registration, dispatch and escalation), recorded as ``"system"``.
    """

    number: str
    centre: bool = False
    approver: bool = False
    system: bool = False

    @property
    def recorded_as(self) -> str:
        return SYSTEM if self.system else self.number


SYSTEM_ACTOR = Actor(SYSTEM, system=True)


@dataclass(frozen=True)
class CaseEvent:
    """One step of the closed loop (闭环留痕): who did what, when, with what proof.

    ``data`` carries what the step decided (assignee, passed, minutes, level, …) for the
    SLA, KPI and notification modules that read the events.
    """

    seq: int
    action: Action
    actor: str
    at: datetime
    from_status: CaseStatus | None
    to_status: CaseStatus
    note: str = ""
    reason: str = ""
    photos: tuple[str, ...] = ()
    position: tuple[float, float] | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class Case:
    """A case (案件): a problem found in the territory, followed until it is closed.

    ``pre_launch`` and ``hazard`` (重大安全隐患) are facts the caller records; the state
    machine carries them without interpreting them. ``handlers`` lists everyone who
    performed ``handle`` (each once); ``duplicates`` the reports merged into this one
    (channel, time, reporter, number — the first-discovery rate reads them). ``held_from``
    is the status a held case (挂账) resumes to. ``version`` counts the events.
    """

    id: int | None = None
    number: str
    kind: CaseKind
    subclass: str
    channel: Channel
    urgency: Urgency
    status: CaseStatus
    reported_at: datetime
    reporter: str | None = None
    description: str = ""
    grid_code: str | None = None
    unit_code: str | None = None
    area_codes: tuple[str, ...] = ()
    position: tuple[float, float] | None = None
    pre_launch: bool = False
    hazard: bool = False
    assignee: str | None = None
    handlers: list[str] = field(default_factory=list)
    escalation_level: EscalationLevel = EscalationLevel.HANDLER
    returns: int = 0
    reworks: int = 0
    extensions: int = 0
    self_handled: bool = False
    extension_pending: Mapping[str, Any] | None = None
    void_pending: Mapping[str, Any] | None = None
    held_from: CaseStatus | None = None
    joint: Mapping[str, Any] | None = None
    agenda: list[Mapping[str, Any]] = field(default_factory=list)
    merged_into: int | None = None
    duplicates: list[Mapping[str, Any]] = field(default_factory=list)
    version: int = 0
    events: list[CaseEvent] = field(default_factory=list)

    @classmethod
    def report(
        cls,
        *,
        number: str,
        kind: CaseKind,
        subclass: str,
        channel: Channel,
        urgency: Urgency,
        at: datetime,
        reporter: str | None = None,
        description: str = "",
        grid_code: str | None = None,
        unit_code: str | None = None,
        area_codes: Iterable[str] = (),
        position: tuple[float, float] | None = None,
        pre_launch: bool = False,
        hazard: bool = False,
        photos: Sequence[str] = (),
        note: str = "",
        id: int | None = None,
    ) -> Case:
        """A new report (上报), waiting to be registered; recorded by its reporter, or by
        ``"system"`` for feeds without one (video alerts, hotline orders)."""
        case = _new_case(
            id=id,
            number=number,
            kind=kind,
            subclass=subclass,
            channel=channel,
            urgency=urgency,
            at=at,
            reporter=reporter,
            description=description,
            grid_code=grid_code,
            unit_code=unit_code,
            area_codes=area_codes,
            position=position,
            pre_launch=pre_launch,
            hazard=hazard,
            status=CaseStatus.REPORTED,
        )
        _record(
            case,
            Action.REPORT,
            reporter or SYSTEM,
            at,
            None,
            CaseStatus.REPORTED,
            {"channel": case.channel},
            _Common(note=_text_value(note, "note"), photos=_photos(photos), position=case.position),
        )
        return case

    @classmethod
    def self_handle(
        cls,
        *,
        number: str,
        kind: CaseKind,
        subclass: str,
        urgency: Urgency,
        at: datetime,
        reporter: str,
        before_photos: Sequence[str],
        after_photos: Sequence[str],
        channel: Channel = Channel.PATROL,
        description: str = "",
        grid_code: str | None = None,
        unit_code: str | None = None,
        area_codes: Iterable[str] = (),
        position: tuple[float, float] | None = None,
        pre_launch: bool = False,
        hazard: bool = False,
        note: str = "",
        id: int | None = None,
    ) -> Case:
        """A problem found and solved on the spot (发现即处置): recorded and closed in one
        step, proven by at least one photo before and one after, counted separately.

        Named ``self_handle`` (like its event) because ``self_handled`` is the flag it sets.
        """
        problems: list[Problem] = []
        who = reporter.strip() if isinstance(reporter, str) else ""
        if not who:
            problems.append(_problem("reporter", "须填写上报人", "the person who solved it"))
        before = _photos(before_photos, "before_photos")
        after = _photos(after_photos, "after_photos")
        if not before:
            problems.append(_problem("before_photos", "须有处置前照片", "at least one photo"))
        if not after:
            problems.append(_problem("after_photos", "须有处置后照片", "at least one photo"))
        if _member(Channel, channel, "channel") not in SELF_HANDLE_CHANNELS:
            allowed = ", ".join(sorted(SELF_HANDLE_CHANNELS))
            problems.append(
                _problem("channel", "自处理仅限巡查或监督检查", f"self-handled: one of {allowed}")
            )
        if problems:
            raise InvalidInput(
                "自处理案件信息不全 / a self-handled case needs: "
                + ", ".join(str(p.location[0]) for p in problems),
                problems,
            )
        case = _new_case(
            id=id,
            number=number,
            kind=kind,
            subclass=subclass,
            channel=channel,
            urgency=urgency,
            at=at,
            reporter=who,
            description=description,
            grid_code=grid_code,
            unit_code=unit_code,
            area_codes=area_codes,
            position=position,
            pre_launch=pre_launch,
            hazard=hazard,
            status=CaseStatus.CLOSED,
        )
        case.self_handled = True
        case.handlers.append(who)
        _record(
            case,
            Action.SELF_HANDLE,
            who,
            at,
            None,
            CaseStatus.CLOSED,
            {"before_photos": list(before), "after_photos": list(after)},
            _Common(note=_text_value(note, "note"), photos=before + after, position=case.position),
        )
        return case

    @classmethod
    def forwarded(
        cls,
        *,
        number: str,
        kind: CaseKind,
        subclass: str,
        channel: Channel,
        urgency: Urgency,
        at: datetime,
        reporter: str | None = None,
        description: str = "",
        position: tuple[float, float] | None = None,
        photos: Sequence[str] = (),
        reason: str = "",
        note: str = "",
        id: int | None = None,
    ) -> Case:
        """A report from outside the sub-district, recorded and passed to the district
        grid platform (转区平台); it is never worked here."""
        case = _new_case(
            id=id,
            number=number,
            kind=kind,
            subclass=subclass,
            channel=channel,
            urgency=urgency,
            at=at,
            reporter=reporter,
            description=description,
            grid_code=None,
            unit_code=None,
            area_codes=(),
            position=position,
            pre_launch=False,
            hazard=False,
            status=CaseStatus.FORWARDED,
        )
        _record(
            case,
            Action.FORWARD,
            reporter or SYSTEM,
            at,
            None,
            CaseStatus.FORWARDED,
            {"channel": case.channel, "to": "district"},
            _Common(
                note=_text_value(note, "note"),
                reason=_text_value(reason, "reason"),
                photos=_photos(photos),
                position=case.position,
            ),
        )
        return case


class ActionNotAllowed(Conflict):
    """The action is not possible in the case's status or for this actor (HTTP 409);
    ``allowed`` lists what this actor may do instead."""

    def __init__(
        self, action: Action, status: CaseStatus, allowed: Sequence[Action], why: str
    ) -> None:
        choices = ", ".join(f"{a.value} ({a.zh})" for a in allowed) or "无 / none"
        super().__init__(
            f"不能{action.zh}（案件状态：{status.zh}）/ cannot {action.value} a case that is "
            f"{status.value}: {why}. 可执行 / allowed: {choices}",
            [Problem(("action",), why, "not_allowed")],
            "action_not_allowed",
        )
        self.action = action
        self.status = status
        self.allowed = list(allowed)


# --- who may do what, when -------------------------------------------------------------------

Guard = Callable[[Case, Actor], str | None]

_ONLY_CENTRE = "仅城运中心 / only the command centre"
_ONLY_CENTRE_OR_SYSTEM = "仅城运中心或系统 / only the command centre or the system"
_ONLY_APPROVER = "仅审批人或城运中心 / only an approver or the command centre"


def _is_assignee(case: Case, actor: Actor) -> bool:
    return not actor.system and case.assignee is not None and actor.number == case.assignee


def _is_reporter(case: Case, actor: Actor) -> bool:
    return not actor.system and case.reporter is not None and actor.number == case.reporter


def _can_approve(actor: Actor) -> bool:
    return (actor.centre or actor.approver) and not actor.system


def _centre(case: Case, actor: Actor) -> str | None:
    return None if actor.centre and not actor.system else _ONLY_CENTRE


def _centre_or_system(case: Case, actor: Actor) -> str | None:
    return None if actor.centre or actor.system else _ONLY_CENTRE_OR_SYSTEM


def _approver(case: Case, actor: Actor) -> str | None:
    return None if _can_approve(actor) else _ONLY_APPROVER


def _assignee(case: Case, actor: Actor) -> str | None:
    if _is_assignee(case, actor):
        return None
    return f"仅处置人 {case.assignee} / only the assignee {case.assignee}"


def _dispatcher(case: Case, actor: Actor) -> str | None:
    # The system dispatches new work; reassigning work in progress is the operators' override.
    if case.status is CaseStatus.REGISTERED:
        return _centre_or_system(case, actor)
    return _centre(case, actor)


def _requester_of_extension(case: Case, actor: Actor) -> str | None:
    if case.extension_pending is not None:
        return "已有待审批的延期申请 / an extension request is already pending"
    return _assignee(case, actor)


def _approver_of(pending: Mapping[str, Any] | None, actor: Actor, missing: str) -> str | None:
    """Who may decide a pending request: an approver who did not make it."""
    if pending is None:
        return missing
    if not _can_approve(actor):
        return _ONLY_APPROVER
    if actor.number == pending.get("requested_by"):
        return "不能审批自己的申请 / nobody approves their own request"
    return None


def _approver_of_extension(case: Case, actor: Actor) -> str | None:
    return _approver_of(
        case.extension_pending, actor, "没有待审批的延期申请 / no extension request is pending"
    )


def _checker(case: Case, actor: Actor) -> str | None:
    if actor.system:
        return "核查须由人完成 / a check is done by a person, not the system"
    if actor.number in case.handlers or _is_assignee(case, actor):
        return "处置人不能核查自己的案件 / the handler never checks their own case"
    return None


def _closer(case: Case, actor: Actor) -> str | None:
    if not actor.system and actor.number in case.handlers:
        return "处置人不能结自己的案 / the handler never closes their own case"
    return _centre_or_system(case, actor)


def _void_requester(case: Case, actor: Actor) -> str | None:
    if case.void_pending is not None:
        return "已有待审批的作废申请 / a void request is already pending"
    if actor.system:
        return "作废须由人申请 / voiding is requested by a person"
    if actor.centre or actor.approver or _is_assignee(case, actor) or _is_reporter(case, actor):
        return None
    return (
        "仅城运中心、审批人、处置人或上报人 / only the command centre, an approver, "
        "the assignee or the reporter"
    )


def _void_approver(case: Case, actor: Actor) -> str | None:
    return _approver_of(
        case.void_pending, actor, "没有待审批的作废申请 / no void request is pending"
    )


def _escalator(case: Case, actor: Actor) -> str | None:
    if next_level(case.escalation_level) is None:
        return "已升级至区网格平台，无法再升级 / already at the district platform, the top"
    if actor.system or actor.centre or actor.approver or _is_assignee(case, actor):
        return None
    return (
        "仅城运中心、审批人、处置人或系统 / only the command centre, an approver, "
        "the assignee or the system"
    )


def _joint_starter(case: Case, actor: Actor) -> str | None:
    if case.joint is not None:
        return "已启动联勤联动 / joint handling has already started"
    return _approver(case, actor)


def _contributor(case: Case, actor: Actor) -> str | None:
    if case.joint is None:
        return "不是联勤联动案件 / not a joint case"
    if actor.system:
        return "协办反馈须由人提交 / feedback comes from a person"
    return None


def _decider(case: Case, actor: Actor) -> str | None:
    if _open_item(case) is None:
        return "没有待决定的会商议题 / no consultation item is waiting for a decision"
    return _approver(case, actor)


# --- parameters ------------------------------------------------------------------------------

E = TypeVar("E", bound=Labelled)


def _problem(name: str, zh: str, en: str, kind: str = "missing") -> Problem:
    return Problem((name,), f"{zh} / {en}", kind)


def _invalid(name: str, zh: str, en: str, kind: str = "invalid") -> InvalidInput:
    return InvalidInput(f"{name}: {zh} / {en}", [_problem(name, zh, en, kind)])


def _text_value(value: object, name: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(name, "须为文字", f"{name} must be text, got {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise _invalid(name, f"须填写 {name}", f"{name} is required", "missing")
    return text


def _photos(value: object, name: str = "photos") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _invalid(name, "须为照片列表", f"{name} must be a list of photo references")
    photos = tuple(value)
    if not all(isinstance(p, str) and p.strip() for p in photos):
        raise _invalid(
            name, "照片引用不能为空", f"every {name} entry must be a non-empty reference"
        )
    return photos


def _position(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
    ):
        return (float(value[0]), float(value[1]))
    raise _invalid("position", "须为两个有限数字", "position must be two finite numbers (x, y)")


def _member(enum: type[E], value: object, name: str) -> E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    if value is None:
        raise _invalid(name, f"须填写 {name}", f"{name} is required", "missing")
    choices = ", ".join(m.value for m in enum)
    raise _invalid(name, f"须为以下之一：{choices}", f"{name} must be one of {choices}")


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    if value is None:
        raise _invalid(
            name, f"须填写 {name}（是/否）", f"{name} (true or false) is required", "missing"
        )
    raise _invalid(name, "须为是/否", f"{name} must be true or false")


def _integer(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        raise _invalid(name, f"须填写 {name}", f"{name} is required", "missing")
    raise _invalid(name, "须为整数", f"{name} must be an integer")


def _texts(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _invalid(name, "须为文字列表", f"{name} must be a list of texts")
    return [_text_value(item, name, required=True) for item in value]


def _aware(at: object, name: str = "at") -> datetime:
    if not isinstance(at, datetime):
        raise _invalid(name, "须为时间", f"{name} must be a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise _invalid(name, "时间须带时区", f"{name} must carry a time zone offset")
    return at


def _check_time(case: Case, at: datetime) -> None:
    last = case.events[-1].at if case.events else case.reported_at
    if at < last:
        raise _invalid(
            "at",
            f"时间早于上一步（{last.isoformat()}）",
            f"{at.isoformat()} is earlier than the last event at {last.isoformat()}",
        )


@dataclass(frozen=True)
class _Common:
    """What every event may carry."""

    note: str = ""
    reason: str = ""
    photos: tuple[str, ...] = ()
    position: tuple[float, float] | None = None

    def need_reason(self) -> None:
        if not self.reason:
            raise _invalid("reason", "须填写原因", "a reason is required", "missing")

    def need_note(self) -> None:
        if not self.note:
            raise _invalid("note", "须填写内容", "a note is required", "missing")


_COMMON_PARAMS = frozenset({"note", "reason", "photos", "position"})


# --- what each action does -------------------------------------------------------------------
# Each function validates everything first and only then mutates the case, so a refused
# action leaves it untouched; it returns the status to move to and the event's data.

Outcome = tuple[CaseStatus, dict[str, Any]]
Perform = Callable[[Case, Actor, datetime, _Common, Mapping[str, Any]], Outcome]


def _register(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    return CaseStatus.REGISTERED, {"automatic": actor.system}


def _reject(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_reason()
    kind = _member(RejectReason, p.get("reason_kind"), "reason_kind")
    return CaseStatus.REJECTED, {"reason_kind": kind}


def _dispatch(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    assignee = _text_value(p.get("assignee"), "assignee", required=True)
    previous = case.assignee
    case.assignee = assignee
    return CaseStatus.DISPATCHED, {
        "assignee": assignee,
        "previous": previous,
        "reassign": case.status is not CaseStatus.REGISTERED,
        "automatic": actor.system,
    }


def _accept(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    return CaseStatus.ACCEPTED, {"assignee": case.assignee}


def _return(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_reason()
    previous = case.assignee
    case.assignee = None
    case.returns += 1
    return CaseStatus.REGISTERED, {"assignee": previous}


def _arrive(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    return CaseStatus.ON_SCENE, {"assignee": case.assignee}


def _handle(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    if actor.number not in case.handlers:
        case.handlers.append(actor.number)
    return CaseStatus.HANDLED, {"handler": actor.number}


def _request_extension(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    minutes = _integer(p, "minutes")
    if minutes <= 0:
        raise _invalid("minutes", "延期分钟数须大于0", "minutes must be greater than 0")
    c.need_reason()
    case.extension_pending = {
        "minutes": minutes,
        "reason": c.reason,
        "requested_by": actor.number,
        "requested_at": at,
    }
    return case.status, {"minutes": minutes}


def _approve_extension(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    approved = _flag(p, "approved")
    pending = case.extension_pending or {}
    case.extension_pending = None
    if approved:
        case.extensions += 1
    return case.status, {
        "approved": approved,
        "minutes": pending.get("minutes"),
        "requested_by": pending.get("requested_by"),
    }


def _check(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    passed = _flag(p, "passed")
    if passed:
        return CaseStatus.CHECKED, {"passed": True}
    case.reworks += 1
    return CaseStatus.DISPATCHED, {"passed": False, "rework": True, "assignee": case.assignee}


def _close(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    return CaseStatus.CLOSED, {"handlers": list(case.handlers)}


def _hold(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_reason()
    case.held_from = case.status
    return CaseStatus.ON_HOLD, {"held_from": case.status}


def _resume(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    back = case.held_from or CaseStatus.REGISTERED
    return back, {"resumed_to": back}


def _void(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_reason()
    case.void_pending = {"reason": c.reason, "requested_by": actor.number, "requested_at": at}
    return case.status, {}


def _approve_void(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    approved = _flag(p, "approved")
    pending = case.void_pending or {}
    case.void_pending = None
    data = {"approved": approved, "requested_by": pending.get("requested_by")}
    return (CaseStatus.VOIDED if approved else case.status), data


def _merge(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    into = _integer(p, "into")
    if case.id is not None and into == case.id:
        raise _invalid("into", "不能合并到自身", "a case cannot be merged into itself")
    case.merged_into = into
    return CaseStatus.MERGED, {"side": "duplicate", "into": into}


def _escalate(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    if not actor.system:
        c.need_reason()
    current = case.escalation_level
    level = next_level(current)
    if level is None:  # the guard refuses this first; kept for the type checker
        raise _invalid("escalation_level", "已在最高级", "already at the top of the ladder")
    case.escalation_level = level
    return case.status, {"from_level": current, "level": level, "automatic": actor.system}


def _start_joint(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    lead = _member(Department, p.get("lead"), "lead")
    raw = p.get("partners")
    if raw is None or isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
        raise _invalid(
            "partners", "须列出协办部门", "partners must list the co-operating departments"
        )
    partners = [_member(Department, item, "partners") for item in raw]
    if len(set(partners)) != len(partners) or lead in partners:
        raise _invalid(
            "partners",
            "协办部门不能重复，也不能包含牵头部门",
            "partners must be distinct and must not include the lead department",
        )
    case.joint = {"lead": lead, "partners": partners, "contributions": []}
    return case.status, {"lead": lead, "partners": list(partners)}


def _contribute(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    department = _member(Department, p.get("department"), "department")
    joint = case.joint or {}
    if department not in joint.get("partners", ()):
        raise _invalid(
            "department",
            f"{department.zh}不是本案协办部门",
            f"{department.en} is not a co-operating department of this case",
        )
    c.need_note()
    contribution = {"department": department, "actor": actor.number, "at": at, "note": c.note}
    case.joint = {**joint, "contributions": [*joint.get("contributions", ()), contribution]}
    return case.status, {"department": department}


def _consult(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_note()
    case.agenda.append(
        {
            "topic": c.note,
            "raised_by": actor.number,
            "raised_at": at,
            "decision": None,
            "follow_ups": [],
            "decided_by": None,
            "decided_at": None,
        }
    )
    return case.status, {"item": len(case.agenda) - 1}


def _open_item(case: Case) -> int | None:
    for index in range(len(case.agenda) - 1, -1, -1):
        if case.agenda[index].get("decision") is None:
            return index
    return None


def _decide(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    decision = _text_value(p.get("decision"), "decision", required=True)
    follow_ups = _texts(p, "follow_ups")
    index = _open_item(case)
    if index is None:  # the guard refuses this first
        raise _invalid("decision", "没有待决定的议题", "no open consultation item")
    case.agenda[index] = {
        **case.agenda[index],
        "decision": decision,
        "follow_ups": follow_ups,
        "decided_by": actor.number,
        "decided_at": at,
    }
    return case.status, {"item": index, "decision": decision, "follow_ups": list(follow_ups)}


def _reopen(case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]) -> Outcome:
    c.need_reason()
    case.reworks += 1
    return CaseStatus.REGISTERED, {}


def _any(case: Case, actor: Actor) -> str | None:
    return None


def _district_sync(
    case: Case, actor: Actor, at: datetime, c: _Common, p: Mapping[str, Any]
) -> Outcome:
    """What the linked platform (the district, or a sub-district for a case sent down)
    reported about this case (区平台同步): its own reference, its status and result text in
    the note. The status here does not change: the centre decides what follows."""
    return case.status, {
        name: _text_value(p.get(name), name)
        for name in ("peer", "reference", "peer_status", "message_id")
    }


def _system_only(case: Case, actor: Actor) -> str | None:
    return None if actor.system else "仅区平台对接（系统）/ only the district link (the system)"


@dataclass(frozen=True)
class _Rule:
    statuses: frozenset[CaseStatus]
    guard: Guard
    perform: Perform
    params: frozenset[str] = frozenset()

    @property
    def wrong_status(self) -> str:
        wanted = ", ".join(s.value for s in CaseStatus if s in self.statuses)
        return f"仅限以下状态 / only when the case is {wanted}"


def _on(*statuses: CaseStatus) -> frozenset[CaseStatus]:
    return frozenset(statuses)


_S = CaseStatus
_RULES: dict[Action, _Rule] = {
    Action.REGISTER: _Rule(_on(_S.REPORTED), _centre_or_system, _register),
    Action.REJECT: _Rule(_on(_S.REPORTED), _centre, _reject, frozenset({"reason_kind"})),
    Action.DISPATCH: _Rule(WORKING_STATUSES, _dispatcher, _dispatch, frozenset({"assignee"})),
    Action.ACCEPT: _Rule(_on(_S.DISPATCHED), _assignee, _accept),
    Action.RETURN_: _Rule(_on(_S.DISPATCHED, _S.ACCEPTED), _assignee, _return),
    Action.ARRIVE: _Rule(_on(_S.ACCEPTED), _assignee, _arrive),
    Action.HANDLE: _Rule(_on(_S.ACCEPTED, _S.ON_SCENE), _assignee, _handle),
    Action.CHECK: _Rule(_on(_S.HANDLED), _checker, _check, frozenset({"passed"})),
    Action.CLOSE: _Rule(_on(_S.CHECKED), _closer, _close),
    Action.REQUEST_EXTENSION: _Rule(
        _on(_S.ACCEPTED, _S.ON_SCENE),
        _requester_of_extension,
        _request_extension,
        frozenset({"minutes"}),
    ),
    Action.APPROVE_EXTENSION: _Rule(
        _on(_S.ACCEPTED, _S.ON_SCENE),
        _approver_of_extension,
        _approve_extension,
        frozenset({"approved"}),
    ),
    Action.HOLD: _Rule(WORKING_STATUSES, _approver, _hold),
    Action.RESUME: _Rule(_on(_S.ON_HOLD), _approver, _resume),
    Action.VOID: _Rule(OPEN_STATUSES, _void_requester, _void),
    Action.APPROVE_VOID: _Rule(
        OPEN_STATUSES, _void_approver, _approve_void, frozenset({"approved"})
    ),
    Action.MERGE: _Rule(
        _on(_S.REPORTED, _S.REGISTERED), _centre_or_system, _merge, frozenset({"into"})
    ),
    Action.ESCALATE: _Rule(OPEN_STATUSES - {_S.REPORTED}, _escalator, _escalate),
    Action.REOPEN: _Rule(_on(_S.CLOSED), _centre, _reopen),
    Action.START_JOINT: _Rule(
        WORKING_STATUSES, _joint_starter, _start_joint, frozenset({"lead", "partners"})
    ),
    Action.CONTRIBUTE: _Rule(OPEN_STATUSES, _contributor, _contribute, frozenset({"department"})),
    Action.CONSULT: _Rule(OPEN_STATUSES, _approver, _consult),
    Action.DECIDE: _Rule(OPEN_STATUSES, _decider, _decide, frozenset({"decision", "follow_ups"})),
    Action.DISTRICT_SYNC: _Rule(
        OPEN_STATUSES,
        _system_only,
        _district_sync,
        frozenset({"peer", "reference", "peer_status", "message_id"}),
    ),
}


def _refusal(case: Case, actor: Actor, action: Action) -> str | None:
    """Why ``actor`` may not take ``action`` on ``case`` now, or ``None`` if they may."""
    rule = _RULES.get(action)
    if rule is None:
        return (
            "创建案件时的事件，不能对已有案件执行 / recorded when a case is created, "
            "not an action on an existing case"
        )
    if case.status not in rule.statuses:
        return rule.wrong_status
    return rule.guard(case, actor)


#: The actions each status may allow at all, in the order of ``Action``.
_CANDIDATES: dict[CaseStatus, tuple[Action, ...]] = {
    status: tuple(a for a in Action if a in _RULES and status in _RULES[a].statuses)
    for status in CaseStatus
}


def allowed_actions(case: Case, actor: Actor) -> list[Action]:
    """The actions ``actor`` may take on ``case`` now, in the order of ``Action``."""
    return [a for a in _CANDIDATES[case.status] if _RULES[a].guard(case, actor) is None]


def apply(case: Case, action: Action, actor: Actor, at: datetime, **params: Any) -> CaseEvent:
    """Take ``action`` on ``case`` at ``at``: mutate the case, append and return the event.

    Every action accepts ``note``, ``reason``, ``photos`` and ``position``; see the module
    docstring for the state table and each action's own parameters. Raises
    ``ActionNotAllowed`` (a ``Conflict``) when the status or the actor forbids it and
    ``InvalidInput`` naming the parameter when one is missing or wrong; either way the
    case is left as it was.
    """
    action = _member(Action, action, "action")
    why = _refusal(case, actor, action)
    if why is not None:
        raise ActionNotAllowed(action, case.status, allowed_actions(case, actor), why)
    rule = _RULES[action]
    unexpected = sorted(set(params) - _COMMON_PARAMS - rule.params)
    if unexpected:
        accepted = ", ".join(sorted(_COMMON_PARAMS | rule.params))
        raise _invalid(
            unexpected[0],
            f"{action.zh}不接受参数 {', '.join(unexpected)}",
            f"{action.value} does not take {', '.join(unexpected)}; it takes {accepted}",
        )
    if not actor.system and not (isinstance(actor.number, str) and actor.number.strip()):
        raise _invalid("actor", "须有人员编号", "the actor needs a person number", "missing")
    _check_time(case, _aware(at))
    common = _Common(
        note=_text_value(params.get("note"), "note"),
        reason=_text_value(params.get("reason"), "reason"),
        photos=_photos(params.get("photos")),
        position=_position(params.get("position")),
    )
    from_status = case.status
    to_status, data = rule.perform(case, actor, at, common, params)
    return _record(case, action, actor.recorded_as, at, from_status, to_status, data, common)


def merge_report(
    original: Case, duplicate: Case, actor: Actor, at: datetime
) -> tuple[CaseEvent, CaseEvent]:
    """Merge a duplicate report into the earlier, still open case it repeats (合并重复上报).

    The duplicate becomes ``merged`` (into ``original.id``); the original gains an entry in
    ``duplicates`` — the duplicate's channel, time, reporter and number, which the
    first-discovery rate reads — and a ``merge`` event with ``data.side == "original"``.
    Entries already merged into the duplicate are carried over to the original. Returns
    the duplicate's event, then the original's.
    """
    if original is duplicate or (original.id is not None and original.id == duplicate.id):
        raise _invalid("into", "不能合并到自身", "a case cannot be merged into itself")
    if original.id is None:
        raise _invalid("into", "原案件尚无编号", "the original case must be saved (have an id)")
    if original.status in TERMINAL_STATUSES:
        raise ActionNotAllowed(
            Action.MERGE,
            original.status,
            allowed_actions(duplicate, actor),
            "原案件已不在处置中 / the original case is no longer open",
        )
    if duplicate.reported_at < original.reported_at:
        raise _invalid(
            "into",
            "只能并入更早上报的案件",
            "a report is merged into an earlier one, not a later one",
        )
    _check_time(original, _aware(at))
    duplicate_event = apply(duplicate, Action.MERGE, actor, at, into=original.id)
    entry: dict[str, Any] = {
        "id": duplicate.id,
        "number": duplicate.number,
        "channel": duplicate.channel,
        "reported_at": duplicate.reported_at,
        "reporter": duplicate.reporter,
    }
    original.duplicates.extend([entry, *duplicate.duplicates])
    original_event = _record(
        original,
        Action.MERGE,
        actor.recorded_as,
        at,
        original.status,
        original.status,
        {"side": "original", **{f"duplicate_{k}": v for k, v in entry.items()}},
        _Common(),
    )
    return duplicate_event, original_event


# --- recording -------------------------------------------------------------------------------


def _new_case(
    *,
    id: int | None,
    number: str,
    kind: CaseKind,
    subclass: str,
    channel: Channel,
    urgency: Urgency,
    at: datetime,
    reporter: str | None,
    description: str,
    grid_code: str | None,
    unit_code: str | None,
    area_codes: Iterable[str],
    position: tuple[float, float] | None,
    pre_launch: bool,
    hazard: bool,
    status: CaseStatus,
) -> Case:
    kind = _member(CaseKind, kind, "kind")
    code = _text_value(subclass, "subclass", required=True)
    if not SUBCLASS_CODE.match(code) or code[0] != kind.letter:
        raise _invalid(
            "subclass",
            f"小类代码须为 {kind.letter} 加4位数字",
            f"a {kind.value} subclass code is {kind.letter} and 4 digits, got {code!r}",
        )
    if id is not None and (not isinstance(id, int) or isinstance(id, bool)):
        raise _invalid("id", "须为整数", "id must be an integer")
    areas = tuple(area_codes)
    if not all(isinstance(a, str) and a for a in areas):
        raise _invalid("area_codes", "区域代码不能为空", "area codes must be non-empty texts")
    return Case(
        id=id,
        number=_text_value(number, "number", required=True),
        kind=kind,
        subclass=code,
        channel=_member(Channel, channel, "channel"),
        urgency=_member(Urgency, urgency, "urgency"),
        status=status,
        reported_at=_aware(at),
        reporter=_text_value(reporter, "reporter") or None,
        description=_text_value(description, "description"),
        grid_code=grid_code or None,
        unit_code=unit_code or None,
        area_codes=areas,
        position=_position(position),
        pre_launch=bool(pre_launch),
        hazard=bool(hazard),
    )


def _record(
    case: Case,
    action: Action,
    actor: str,
    at: datetime,
    from_status: CaseStatus | None,
    to_status: CaseStatus,
    data: Mapping[str, Any],
    common: _Common,
) -> CaseEvent:
    case.status = to_status
    # Pending requests and the held-from status only make sense in the statuses that
    # produced them; leaving those statuses withdraws them.
    if to_status not in (CaseStatus.ACCEPTED, CaseStatus.ON_SCENE):
        case.extension_pending = None
    if to_status is not CaseStatus.ON_HOLD:
        case.held_from = None
    if to_status in TERMINAL_STATUSES:
        case.void_pending = None
        case.assignee = None
    case.version += 1
    event = CaseEvent(
        seq=case.version,
        action=action,
        actor=actor,
        at=at,
        from_status=from_status,
        to_status=to_status,
        note=common.note,
        reason=common.reason,
        photos=common.photos,
        position=common.position,
        data=dict(data),
    )
    case.events.append(event)
    return event
