"""The case lifecycle state machine: the closed loop, its side roads, and its invariants."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from chengyun.domain.cases import (
    CREATION_ACTIONS,
    OPEN_STATUSES,
    OWN_DISCOVERY_CHANNELS,
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
    merge_report,
    next_level,
)
from chengyun.domain.errors import Conflict, InvalidInput
from chengyun.domain.forces import Department
from chengyun.domain.taxonomy import CaseKind, Urgency
from chengyun.domain.working_time import CHINA_TZ

allowed = allowed_actions

T0 = datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)

CENTRE = Actor("K1", centre=True)
COMMANDER = Actor("K0", centre=True, approver=True)
CHIEF = Actor("G1", approver=True)
REPORTER = Actor("R1")
HANDLER = Actor("P1")
OTHER = Actor("P2")
STRANGER = Actor("X9")
EVERYONE = (CENTRE, COMMANDER, CHIEF, REPORTER, HANDLER, OTHER, STRANGER, SYSTEM_ACTOR)

S = CaseStatus
A = Action


def new_report(
    *,
    at: datetime = T0,
    channel: Channel = Channel.PATROL,
    reporter: str | None = "R1",
    id: int | None = 7,
    number: str = "E0501202006240007",
) -> Case:
    return Case.report(
        id=id,
        number=number,
        kind=CaseKind.EVENT,
        subclass="E0501",
        channel=channel,
        urgency=Urgency.GENERAL,
        at=at,
        reporter=reporter,
        description="人行道上乱堆物 / rubbish piled on the pavement",
        grid_code="310118002900001",
        unit_code="310118002001001",
        position=(121.1001, 31.1502),
        photos=["found.jpg"],
    )


@dataclass
class Run:
    """A case and a driven time: each step happens one minute after the last."""

    case: Case
    now: datetime = T0
    log: list[CaseEvent] = field(default_factory=list)

    def do(self, action: Action, actor: Actor, **params: Any) -> CaseEvent:
        self.now += timedelta(minutes=1)
        event = apply(self.case, action, actor, self.now, **params)
        self.log.append(event)
        return event

    def refused(self, action: Action, actor: Actor, **params: Any) -> ActionNotAllowed:
        before = copy.deepcopy(self.case)
        with pytest.raises(ActionNotAllowed) as caught:
            apply(self.case, action, actor, self.now + timedelta(minutes=1), **params)
        assert self.case == before
        return caught.value

    def invalid(self, action: Action, actor: Actor, **params: Any) -> InvalidInput:
        before = copy.deepcopy(self.case)
        with pytest.raises(InvalidInput) as caught:
            apply(self.case, action, actor, self.now + timedelta(minutes=1), **params)
        assert self.case == before
        return caught.value


def status(case: Case) -> CaseStatus:
    """The status, read through a call so that the type checker does not pin it."""
    return case.status


def named(error: InvalidInput) -> set[str | int]:
    return {problem.location[0] for problem in error.problems}


def dispatched(assignee: str = "P1") -> Run:
    run = Run(new_report())
    run.do(A.REGISTER, CENTRE)
    run.do(A.DISPATCH, CENTRE, assignee=assignee)
    return run


def accepted() -> Run:
    run = dispatched()
    run.do(A.ACCEPT, HANDLER)
    return run


def handled() -> Run:
    run = accepted()
    run.do(A.ARRIVE, HANDLER, position=(121.1, 31.15))
    run.do(A.HANDLE, HANDLER, note="已清理", photos=["after.jpg"])
    return run


def closed() -> Run:
    run = handled()
    run.do(A.CHECK, REPORTER, passed=True)
    run.do(A.CLOSE, CENTRE)
    return run


# --- the closed loop -------------------------------------------------------------------------


def test_happy_path_through_every_step() -> None:
    run = Run(new_report())
    case = run.case
    assert status(case) is S.REPORTED
    assert case.version == 1
    assert case.events[0].action is A.REPORT
    assert case.events[0].actor == "R1"
    assert case.events[0].photos == ("found.jpg",)

    run.do(A.REGISTER, CENTRE)
    assert status(case) is S.REGISTERED
    run.do(A.DISPATCH, CENTRE, assignee="P1")
    assert (case.status, case.assignee) == (S.DISPATCHED, "P1")
    run.do(A.ACCEPT, HANDLER)
    assert status(case) is S.ACCEPTED
    arrive = run.do(A.ARRIVE, HANDLER, position=(121.1, 31.15))
    assert status(case) is S.ON_SCENE
    assert arrive.position == (121.1, 31.15)
    handle = run.do(A.HANDLE, HANDLER, note="已清理", photos=["after.jpg"])
    assert (case.status, case.handlers) == (S.HANDLED, ["P1"])
    assert (handle.note, handle.photos) == ("已清理", ("after.jpg",))
    check = run.do(A.CHECK, REPORTER, passed=True)
    assert status(case) is S.CHECKED
    assert check.data["passed"] is True
    run.do(A.CLOSE, CENTRE)

    assert status(case) is S.CLOSED
    assert case.assignee is None
    assert case.handlers == ["P1"]
    assert (case.returns, case.reworks, case.extensions) == (0, 0, 0)
    assert case.version == len(case.events) == 8
    assert [e.action for e in case.events] == [
        A.REPORT,
        A.REGISTER,
        A.DISPATCH,
        A.ACCEPT,
        A.ARRIVE,
        A.HANDLE,
        A.CHECK,
        A.CLOSE,
    ]
    assert [e.to_status for e in case.events] == [
        S.REPORTED,
        S.REGISTERED,
        S.DISPATCHED,
        S.ACCEPTED,
        S.ON_SCENE,
        S.HANDLED,
        S.CHECKED,
        S.CLOSED,
    ]
    assert [e.seq for e in case.events] == list(range(1, 9))
    assert [e.actor for e in case.events[1:]] == ["K1", "K1", "P1", "P1", "P1", "R1", "K1"]
    assert all(b.from_status is a.to_status for a, b in pairwise(case.events))
    assert case.events[2].data == {
        "assignee": "P1",
        "previous": None,
        "reassign": False,
        "automatic": False,
    }
    assert run.log == case.events[1:]


def test_algorithm_alerts_are_registered_and_dispatched_by_the_system() -> None:
    run = Run(new_report(channel=Channel.VIDEO_AI, reporter=None))
    assert run.case.events[0].actor == "system"
    register = run.do(A.REGISTER, SYSTEM_ACTOR)
    dispatch = run.do(A.DISPATCH, SYSTEM_ACTOR, assignee="P1")
    assert (register.actor, register.data["automatic"]) == ("system", True)
    assert dispatch.data["automatic"] is True
    run.do(A.ACCEPT, HANDLER)
    # Reassigning work in progress is the operators' override, not the system's.
    assert A.DISPATCH not in run.refused(A.DISPATCH, SYSTEM_ACTOR, assignee="P2").allowed


def test_reject_as_duplicate_or_invalid() -> None:
    run = Run(new_report())
    assert named(run.invalid(A.REJECT, CENTRE, reason="重复", reason_kind="twice")) == {
        "reason_kind"
    }
    assert named(run.invalid(A.REJECT, CENTRE, reason_kind="duplicate")) == {"reason"}
    run.refused(A.REJECT, STRANGER, reason="重复", reason_kind="duplicate")
    run.refused(A.REJECT, SYSTEM_ACTOR, reason="重复", reason_kind="duplicate")
    event = run.do(A.REJECT, CENTRE, reason="与 E0501…0003 重复", reason_kind="duplicate")
    assert run.case.status is S.REJECTED
    assert event.reason == "与 E0501…0003 重复"
    assert event.data["reason_kind"] == "duplicate"
    assert all(not allowed(run.case, actor) for actor in EVERYONE)


# --- side roads ------------------------------------------------------------------------------


def test_return_and_redispatch() -> None:
    run = dispatched()
    case = run.case
    assert named(run.invalid(A.RETURN_, HANDLER)) == {"reason"}
    run.refused(A.RETURN_, OTHER, reason="不归我管")

    event = run.do(A.RETURN_, HANDLER, reason="非本队职责 / not our team's job")
    assert (case.status, case.assignee, case.returns) == (S.REGISTERED, None, 1)
    assert event.data == {"assignee": "P1"}
    assert event.reason == "非本队职责 / not our team's job"

    run.do(A.DISPATCH, CENTRE, assignee="P2")
    run.do(A.ACCEPT, OTHER)
    run.do(A.RETURN_, OTHER, reason="需执法力量")  # returning after accepting is allowed too
    assert (case.status, case.assignee, case.returns) == (S.REGISTERED, None, 2)
    run.do(A.DISPATCH, CENTRE, assignee="P1")
    assert (case.status, case.assignee) == (S.DISPATCHED, "P1")
    assert [e.action for e in case.events].count(A.RETURN_) == 2


def test_operators_reassign_work_in_progress() -> None:
    run = accepted()
    run.do(A.ARRIVE, HANDLER)
    event = run.do(A.DISPATCH, CENTRE, assignee="P2")
    assert (run.case.status, run.case.assignee) == (S.DISPATCHED, "P2")
    assert event.data["previous"] == "P1"
    assert event.data["reassign"] is True
    run.refused(A.ACCEPT, HANDLER)
    run.do(A.ACCEPT, OTHER)
    assert named(run.invalid(A.DISPATCH, CENTRE)) == {"assignee"}
    assert named(run.invalid(A.DISPATCH, CENTRE, assignee="  ")) == {"assignee"}


def test_extension_requested_approved_and_denied() -> None:
    run = accepted()
    case = run.case
    assert named(run.invalid(A.REQUEST_EXTENSION, HANDLER, minutes=0, reason="等材料")) == {
        "minutes"
    }
    assert named(run.invalid(A.REQUEST_EXTENSION, HANDLER, minutes=60)) == {"reason"}
    assert named(run.invalid(A.REQUEST_EXTENSION, HANDLER, minutes="60", reason="x")) == {"minutes"}
    run.refused(A.REQUEST_EXTENSION, OTHER, minutes=60, reason="等材料")
    run.refused(A.APPROVE_EXTENSION, CHIEF, approved=True)  # nothing pending yet

    request = run.do(
        A.REQUEST_EXTENSION, HANDLER, minutes=120, reason="等待配件 / waiting for parts"
    )
    assert request.data == {"minutes": 120}
    assert dict(case.extension_pending or {})["minutes"] == 120
    assert case.status == S.ACCEPTED
    run.refused(A.REQUEST_EXTENSION, HANDLER, minutes=30, reason="再延")
    run.refused(A.APPROVE_EXTENSION, HANDLER, approved=True)
    run.refused(A.APPROVE_EXTENSION, STRANGER, approved=True)
    assert named(run.invalid(A.APPROVE_EXTENSION, CHIEF)) == {"approved"}

    approval = run.do(A.APPROVE_EXTENSION, CHIEF, approved=True)
    assert (case.extension_pending, case.extensions) == (None, 1)
    assert approval.data == {"approved": True, "minutes": 120, "requested_by": "P1"}

    run.do(A.ARRIVE, HANDLER)
    run.do(A.REQUEST_EXTENSION, HANDLER, minutes=30, reason="再等一天")
    denial = run.do(A.APPROVE_EXTENSION, CENTRE, approved=False)
    assert (case.extension_pending, case.extensions, case.status) == (None, 1, S.ON_SCENE)
    assert denial.data["approved"] is False


def test_an_approver_never_approves_their_own_extension() -> None:
    run = dispatched(assignee="K0")
    run.do(A.ACCEPT, COMMANDER)
    run.do(A.REQUEST_EXTENSION, COMMANDER, minutes=60, reason="等材料")
    run.refused(A.APPROVE_EXTENSION, COMMANDER, approved=True)
    run.do(A.APPROVE_EXTENSION, CHIEF, approved=True)


def test_a_pending_extension_is_withdrawn_when_the_case_moves_on() -> None:
    run = accepted()
    run.do(A.REQUEST_EXTENSION, HANDLER, minutes=60, reason="等材料")
    run.do(A.HANDLE, HANDLER)
    assert run.case.extension_pending is None
    assert A.APPROVE_EXTENSION not in allowed(run.case, CHIEF)


def test_hold_and_resume() -> None:
    run = accepted()
    case = run.case
    assert named(run.invalid(A.HOLD, CHIEF)) == {"reason"}
    run.refused(A.HOLD, HANDLER, reason="季节性")
    event = run.do(A.HOLD, CHIEF, reason="绿化季节性养护 / seasonal planting")
    assert (case.status, case.held_from, case.assignee) == (S.ON_HOLD, S.ACCEPTED, "P1")
    assert event.data == {"held_from": S.ACCEPTED}
    assert allowed(case, HANDLER) == [A.VOID, A.ESCALATE]
    run.refused(A.HANDLE, HANDLER)
    resume = run.do(A.RESUME, CENTRE, note="工程完工")
    assert (case.status, case.held_from, case.assignee) == (S.ACCEPTED, None, "P1")
    assert resume.data == {"resumed_to": S.ACCEPTED}


def test_hold_from_registered_resumes_unassigned() -> None:
    run = Run(new_report())
    run.do(A.REGISTER, CENTRE)
    run.do(A.HOLD, COMMANDER, reason="待工程实施")
    assert (run.case.status, run.case.assignee) == (S.ON_HOLD, None)
    run.do(A.RESUME, COMMANDER)
    assert (run.case.status, run.case.assignee) == (S.REGISTERED, None)


def test_void_requested_denied_then_approved() -> None:
    run = dispatched()
    case = run.case
    run.refused(A.VOID, STRANGER, reason="误报")
    assert named(run.invalid(A.VOID, REPORTER)) == {"reason"}
    request = run.do(A.VOID, REPORTER, reason="误报 / false report")
    assert dict(case.void_pending or {})["requested_by"] == "R1"
    assert (case.status, request.to_status) == (S.DISPATCHED, S.DISPATCHED)
    run.refused(A.VOID, HANDLER, reason="again")
    run.refused(A.APPROVE_VOID, REPORTER, approved=True)
    run.refused(A.APPROVE_VOID, HANDLER, approved=True)

    denial = run.do(A.APPROVE_VOID, CHIEF, approved=False)
    assert (case.status, case.void_pending) == (S.DISPATCHED, None)
    assert denial.data == {"approved": False, "requested_by": "R1"}

    run.do(A.VOID, COMMANDER, reason="重复派单")
    run.refused(A.APPROVE_VOID, COMMANDER, approved=True)  # not the requester
    run.do(A.APPROVE_VOID, CENTRE, approved=True)
    assert (case.status, case.void_pending, case.assignee) == (S.VOIDED, None, None)
    assert all(not allowed(case, actor) for actor in EVERYONE)


def test_merge_both_sides() -> None:
    original = new_report(id=1, number="E0501202006240001")
    apply(original, A.REGISTER, CENTRE, T0 + timedelta(minutes=1))
    later = T0 + timedelta(minutes=30)
    duplicate = new_report(
        id=2, number="E0501202006240002", at=later, channel=Channel.HOTLINE, reporter=None
    )

    merged, gained = merge_report(original, duplicate, SYSTEM_ACTOR, later + timedelta(minutes=1))

    assert (duplicate.status, duplicate.merged_into, duplicate.version) == (S.MERGED, 1, 2)
    assert merged is duplicate.events[-1]
    assert (merged.action, merged.data) == (A.MERGE, {"side": "duplicate", "into": 1})
    assert original.status is S.REGISTERED
    assert original.duplicates == [
        {
            "id": 2,
            "number": "E0501202006240002",
            "channel": Channel.HOTLINE,
            "reported_at": later,
            "reporter": None,
        }
    ]
    assert gained is original.events[-1]
    assert (gained.action, gained.from_status, gained.to_status) == (
        A.MERGE,
        S.REGISTERED,
        S.REGISTERED,
    )
    assert gained.data["side"] == "original"
    assert gained.data["duplicate_channel"] == Channel.HOTLINE
    assert original.version == len(original.events) == 3
    assert not allowed(duplicate, CENTRE)


def test_merge_refusals() -> None:
    original = new_report(id=1, at=T0 + timedelta(hours=1))
    earlier = new_report(id=2, at=T0)
    with pytest.raises(InvalidInput) as caught:
        merge_report(original, earlier, CENTRE, T0 + timedelta(hours=2))
    assert named(caught.value) == {"into"}
    with pytest.raises(InvalidInput):
        merge_report(original, original, CENTRE, T0 + timedelta(hours=2))
    with pytest.raises(ActionNotAllowed):
        merge_report(earlier, original, STRANGER, T0 + timedelta(hours=2))
    assert (original.version, earlier.version) == (1, 1)

    done = closed().case
    with pytest.raises(ActionNotAllowed):
        merge_report(
            done, new_report(id=9, at=T0 + timedelta(days=1)), CENTRE, T0 + timedelta(days=1)
        )

    run = Run(new_report(id=5))
    assert named(run.invalid(A.MERGE, CENTRE, into=5)) == {"into"}
    assert named(run.invalid(A.MERGE, CENTRE)) == {"into"}
    assert named(run.invalid(A.MERGE, CENTRE, into=True)) == {"into"}
    run.do(A.MERGE, CENTRE, into=3)
    assert (run.case.status, run.case.merged_into) == (S.MERGED, 3)


def test_rework_after_a_failed_check() -> None:
    run = handled()
    case = run.case
    assert named(run.invalid(A.CHECK, REPORTER)) == {"passed"}
    assert named(run.invalid(A.CHECK, REPORTER, passed="no")) == {"passed"}
    failed = run.do(A.CHECK, REPORTER, passed=False, note="仍有垃圾", photos=["still.jpg"])
    assert (case.status, case.assignee, case.reworks) == (S.DISPATCHED, "P1", 1)
    assert failed.data == {"passed": False, "rework": True, "assignee": "P1"}

    run.do(A.ACCEPT, HANDLER)
    run.do(A.HANDLE, HANDLER, photos=["clean.jpg"])
    assert case.handlers == ["P1"]
    run.do(A.CHECK, OTHER, passed=True)
    run.do(A.CLOSE, SYSTEM_ACTOR)
    assert (case.status, case.reworks) == (S.CLOSED, 1)


def test_reopen_a_closed_case_found_not_done() -> None:
    run = closed()
    case = run.case
    assert allowed(case, CENTRE) == [A.REOPEN]
    assert all(allowed(case, actor) == [] for actor in EVERYONE if not actor.centre)
    assert named(run.invalid(A.REOPEN, CENTRE)) == {"reason"}
    run.refused(A.REOPEN, REPORTER, reason="又堆了")
    event = run.do(A.REOPEN, CENTRE, reason="复查发现未处置到位 / found not done")
    assert (case.status, case.assignee, case.reworks) == (S.REGISTERED, None, 1)
    assert (event.from_status, event.to_status) == (S.CLOSED, S.REGISTERED)
    run.do(A.DISPATCH, CENTRE, assignee="P2")
    run.do(A.ACCEPT, OTHER)
    run.do(A.HANDLE, OTHER)
    assert case.handlers == ["P1", "P2"]
    run.refused(A.CHECK, HANDLER, passed=True)  # an earlier handler is no independent checker
    run.do(A.CHECK, REPORTER, passed=True)
    run.do(A.CLOSE, CENTRE)
    assert case.status is S.CLOSED


def test_self_handled_is_closed_in_one_step() -> None:
    case = Case.self_handle(
        id=3,
        number="E0501202006240003",
        kind=CaseKind.EVENT,
        subclass="E0501",
        urgency=Urgency.GENERAL,
        at=T0,
        reporter="P1",
        before_photos=["before.jpg"],
        after_photos=["after.jpg", "after2.jpg"],
        position=(121.1, 31.15),
    )
    assert (case.status, case.self_handled, case.handlers, case.assignee) == (
        S.CLOSED,
        True,
        ["P1"],
        None,
    )
    assert case.channel is Channel.PATROL
    assert case.version == len(case.events) == 1
    event = case.events[0]
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        A.SELF_HANDLE,
        None,
        S.CLOSED,
        "P1",
    )
    assert event.photos == ("before.jpg", "after.jpg", "after2.jpg")
    assert event.data == {
        "before_photos": ["before.jpg"],
        "after_photos": ["after.jpg", "after2.jpg"],
    }
    assert allowed(case, CENTRE) == [A.REOPEN]


@pytest.mark.parametrize(
    ("before", "after", "missing"),
    [
        ([], ["after.jpg"], {"before_photos"}),
        (["before.jpg"], [], {"after_photos"}),
        ([], [], {"before_photos", "after_photos"}),
    ],
)
def test_self_handled_needs_photos_before_and_after(
    before: list[str], after: list[str], missing: set[str]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        Case.self_handle(
            number="E0501202006240003",
            kind=CaseKind.EVENT,
            subclass="E0501",
            urgency=Urgency.GENERAL,
            at=T0,
            reporter="P1",
            before_photos=before,
            after_photos=after,
        )
    assert named(caught.value) == missing
    assert all(name in str(caught.value) for name in missing)


def test_forwarded_outside_the_sub_district() -> None:
    case = Case.forwarded(
        number="E0501202006240004",
        kind=CaseKind.EVENT,
        subclass="E0501",
        channel=Channel.CITIZEN_QR,
        urgency=Urgency.GENERAL,
        at=T0,
        reporter="citizen-1",
        reason="位置不在本街道 / outside the sub-district",
    )
    assert (case.status, case.assignee, case.version) == (S.FORWARDED, None, 1)
    assert case.events[0].action is A.FORWARD
    assert case.events[0].reason == "位置不在本街道 / outside the sub-district"
    assert all(allowed(case, actor) == [] for actor in EVERYONE)


def test_joint_handling() -> None:
    run = dispatched()
    case = run.case
    run.refused(A.START_JOINT, HANDLER, lead=Department.URBAN_MANAGEMENT, partners=["market"])
    assert named(
        run.invalid(A.START_JOINT, CHIEF, lead="urban_management", partners=["urban_management"])
    ) == {"partners"}
    assert named(run.invalid(A.START_JOINT, CHIEF, lead="urban_management", partners=[])) == {
        "partners"
    }
    assert named(run.invalid(A.START_JOINT, CHIEF, partners=["market"])) == {"lead"}

    event = run.do(
        A.START_JOINT,
        CHIEF,
        lead=Department.URBAN_MANAGEMENT,
        partners=[Department.MARKET, "police"],
        note="占道经营，需市场所、派出所协同",
    )
    assert event.data == {
        "lead": Department.URBAN_MANAGEMENT,
        "partners": [Department.MARKET, Department.POLICE],
    }
    assert case.joint is not None
    assert case.joint["lead"] is Department.URBAN_MANAGEMENT
    run.refused(A.START_JOINT, CHIEF, lead="police", partners=["market"])

    assert named(run.invalid(A.CONTRIBUTE, Actor("M1"), department="housing", note="x")) == {
        "department"
    }
    assert named(run.invalid(A.CONTRIBUTE, Actor("M1"), department="market")) == {"note"}
    run.do(A.CONTRIBUTE, Actor("M1"), department="market", note="已核查营业执照")
    run.do(A.CONTRIBUTE, Actor("PO1"), department=Department.POLICE, note="现场维持秩序")
    assert [(c["department"], c["actor"]) for c in case.joint["contributions"]] == [
        (Department.MARKET, "M1"),
        (Department.POLICE, "PO1"),
    ]
    assert case.events[-1].to_status is S.DISPATCHED  # feedback leaves the status alone

    # The lead's handling closes it, through the same independent check and close.
    run.do(A.ACCEPT, HANDLER)
    run.do(A.HANDLE, HANDLER)
    run.do(A.CHECK, CENTRE, passed=True)
    run.do(A.CLOSE, COMMANDER)
    assert case.status is S.CLOSED


def test_consultation_agenda_and_decision() -> None:
    run = accepted()
    case = run.case
    run.refused(A.DECIDE, CENTRE, decision="x")  # nothing on the agenda
    run.refused(A.CONSULT, HANDLER, note="疑难")
    assert named(run.invalid(A.CONSULT, CENTRE)) == {"note"}
    run.do(A.CONSULT, CENTRE, note="跨部门：违建拆除责任主体")
    run.do(A.CONSULT, CHIEF, note="第二议题")
    assert [item["decision"] for item in case.agenda] == [None, None]

    assert named(run.invalid(A.DECIDE, COMMANDER, follow_ups=["a"])) == {"decision"}
    assert named(run.invalid(A.DECIDE, COMMANDER, decision="x", follow_ups="a")) == {"follow_ups"}
    event = run.do(
        A.DECIDE, COMMANDER, decision="由房管所牵头", follow_ups=["下周复查", "通知业主"]
    )
    assert event.data == {
        "item": 1,
        "decision": "由房管所牵头",
        "follow_ups": ["下周复查", "通知业主"],
    }
    assert case.agenda[1]["decided_by"] == "K0"
    run.do(A.DECIDE, CENTRE, decision="城管中队牵头")
    assert case.agenda[0]["decision"] == "城管中队牵头"
    assert case.agenda[0]["follow_ups"] == []
    run.refused(A.DECIDE, CENTRE, decision="again")
    assert case.status is S.ACCEPTED


def test_escalation_up_the_whole_ladder_and_no_further() -> None:
    run = accepted()
    case = run.case
    Run(new_report()).refused(A.ESCALATE, CENTRE, reason="x")  # not before registration
    run.refused(A.ESCALATE, STRANGER, reason="太难")
    assert named(run.invalid(A.ESCALATE, HANDLER)) == {"reason"}

    first = run.do(A.ESCALATE, HANDLER, reason="需执法 / needs enforcement")
    assert first.data == {
        "from_level": EscalationLevel.HANDLER,
        "level": EscalationLevel.DEPARTMENT_LINE,
        "automatic": False,
    }
    automatic = run.do(A.ESCALATE, SYSTEM_ACTOR)  # a red light: no reason needed
    assert automatic.data["automatic"] is True
    run.do(A.ESCALATE, CHIEF, reason="协调未果")
    run.do(A.ESCALATE, CENTRE, reason="需城运中心协调")
    run.do(A.ESCALATE, COMMANDER, reason="需区职能部门")
    assert case.escalation_level is EscalationLevel.DISTRICT
    assert [e.data["level"] for e in case.events if e.action is A.ESCALATE] == list(
        EscalationLevel
    )[1:]
    assert case.status is S.ACCEPTED
    error = run.refused(A.ESCALATE, CENTRE, reason="再升")
    assert A.ESCALATE not in error.allowed
    assert "district" in str(error)
    assert next_level(EscalationLevel.DISTRICT) is None
    assert next_level(EscalationLevel.HANDLER) is EscalationLevel.DEPARTMENT_LINE


# --- forbidden actions and bad input ---------------------------------------------------------


def test_the_handler_never_checks_its_own_case() -> None:
    run = handled()
    error = run.refused(A.CHECK, HANDLER, passed=True)
    assert "handler" in str(error)
    assert A.CHECK not in error.allowed
    run.refused(A.CHECK, SYSTEM_ACTOR, passed=True)


def test_the_handler_never_closes_its_own_case() -> None:
    run = dispatched(assignee="K1")  # an operator who handled the case themselves
    run.do(A.ACCEPT, CENTRE)
    run.do(A.HANDLE, CENTRE)
    run.refused(A.CHECK, CENTRE, passed=True)
    run.do(A.CHECK, REPORTER, passed=True)
    error = run.refused(A.CLOSE, CENTRE)
    assert A.CLOSE not in error.allowed
    run.do(A.CLOSE, COMMANDER)
    assert run.case.status is S.CLOSED


def test_only_the_assignee_accepts() -> None:
    run = dispatched()
    for actor in (OTHER, CENTRE, COMMANDER, SYSTEM_ACTOR):
        error = run.refused(A.ACCEPT, actor)
        assert "P1" in str(error)
    run.do(A.ACCEPT, HANDLER)


def test_check_from_dispatched_lists_the_allowed_actions() -> None:
    run = dispatched()
    error = run.refused(A.CHECK, CENTRE, passed=True)
    assert isinstance(error, Conflict)
    assert (error.action, error.status) == (A.CHECK, S.DISPATCHED)
    assert error.allowed == [
        A.DISPATCH,
        A.HOLD,
        A.VOID,
        A.ESCALATE,
        A.START_JOINT,
        A.CONSULT,
    ]
    message = str(error)
    assert "check" in message
    assert "dispatched" in message
    assert all(action.value in message for action in error.allowed)


def test_creation_events_are_not_actions() -> None:
    run = Run(new_report())
    for action in CREATION_ACTIONS:
        run.refused(action, CENTRE)


def test_events_are_time_ordered() -> None:
    run = dispatched()
    with pytest.raises(InvalidInput) as caught:
        apply(run.case, A.ACCEPT, HANDLER, run.now - timedelta(seconds=1))
    assert named(caught.value) == {"at"}
    with pytest.raises(InvalidInput) as caught:
        apply(run.case, A.ACCEPT, HANDLER, datetime(2020, 6, 24, 10, 0))
    assert named(caught.value) == {"at"}
    apply(run.case, A.ACCEPT, HANDLER, run.now)  # the same instant is fine
    assert run.case.status is S.ACCEPTED


def test_unknown_and_malformed_parameters_are_named() -> None:
    run = dispatched()
    assert named(run.invalid(A.ACCEPT, HANDLER, asignee="P1")) == {"asignee"}
    assert named(run.invalid(A.ACCEPT, HANDLER, position=(1.0,))) == {"position"}
    assert named(run.invalid(A.ACCEPT, HANDLER, photos="a.jpg")) == {"photos"}
    assert named(run.invalid(A.ACCEPT, HANDLER, note=3)) == {"note"}


def test_report_checks_its_facts() -> None:
    with pytest.raises(InvalidInput) as caught:
        Case.report(
            number="C0101202006240001",
            kind=CaseKind.COMPONENT,
            subclass="E0501",
            channel=Channel.PATROL,
            urgency=Urgency.URGENT,
            at=T0,
        )
    assert named(caught.value) == {"subclass"}
    with pytest.raises(InvalidInput) as caught:
        new_report(number=" ")
    assert named(caught.value) == {"number"}


def test_labels_and_sets() -> None:
    assert {"patrol", "video_ai", "citizen_qr", "inspection"} == OWN_DISCOVERY_CHANNELS
    assert {"closed", "rejected", "voided", "merged", "forwarded"} == TERMINAL_STATUSES
    assert set(CaseStatus) == OPEN_STATUSES | TERMINAL_STATUSES
    assert all(status.colour.startswith("#") for status in CaseStatus)
    assert A.RETURN_.value == "return"
    assert A.RETURN_.zh == "退单"
    for enum in (Channel, CaseStatus, Action, EscalationLevel):
        assert all(m.zh != m.value and m.en for m in enum)


# --- properties ------------------------------------------------------------------------------

ASSIGNEES = ("P1", "P2", "R1", "K1")  # the reporter and an operator may be assignees too
ROLES = ("assignee", "reporter", "centre", "commander", "approver", "system", "patrol", "stranger")
APPLICABLE = [a for a in Action if a not in CREATION_ACTIONS]
#: Weighted up in the random walk so that it reaches the end of the loop and back.
PROGRESS = frozenset(
    {A.REGISTER, A.DISPATCH, A.ACCEPT, A.ARRIVE, A.HANDLE, A.CHECK, A.CLOSE, A.RESUME, A.REOPEN}
)


def weight(case: Case, action: Action) -> int:
    """How often the walk picks an allowed action: forward steps often, so that it reaches
    the end of the loop and comes back; re-dispatching work in progress rarely."""
    if action is A.DISPATCH:
        return 6 if case.status is S.REGISTERED else 1
    return 6 if action in PROGRESS else 1


def actor_for(role: str, case: Case) -> Actor:
    return {
        "assignee": Actor(case.assignee or "P1"),
        "reporter": Actor(case.reporter or "R1"),
        "centre": CENTRE,
        "commander": COMMANDER,
        "approver": CHIEF,
        "system": SYSTEM_ACTOR,
        "patrol": OTHER,
        "stranger": STRANGER,
    }[role]


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "reason": st.sampled_from(["现场无法处置 / cannot be done on the spot", "现场核实", ""]),
    "note": st.sampled_from(["已处理 / done", "会商议题", ""]),
    "assignee": st.sampled_from([*ASSIGNEES, ""]),
    "passed": st.sampled_from([True, False, True, "yes"]),
    "approved": st.sampled_from([True, False, None]),
    "minutes": st.sampled_from([30, 120, 0, -5]),
    "into": st.sampled_from([1, 99, "x"]),
    "reason_kind": st.sampled_from(["invalid", "duplicate", "dup"]),
    "lead": st.sampled_from(list(Department)),
    "partners": st.lists(st.sampled_from(list(Department)), max_size=3),
    "department": st.sampled_from(list(Department)),
    "decision": st.sampled_from(["由城管中队牵头", ""]),
    "follow_ups": st.lists(st.sampled_from(["下周复查", "通知业主"]), max_size=2),
    "photos": st.lists(st.sampled_from(["a.jpg", "b.jpg"]), max_size=2),
    "position": st.sampled_from([(121.1, 31.15), None, (1.0,)]),
}
_OWN_PARAMS: dict[Action, tuple[str, ...]] = {
    A.REJECT: ("reason_kind",),
    A.DISPATCH: ("assignee",),
    A.CHECK: ("passed",),
    A.REQUEST_EXTENSION: ("minutes",),
    A.APPROVE_EXTENSION: ("approved",),
    A.APPROVE_VOID: ("approved",),
    A.MERGE: ("into",),
    A.START_JOINT: ("lead", "partners"),
    A.CONTRIBUTE: ("department",),
    A.DECIDE: ("decision", "follow_ups"),
}


def params_for(action: Action) -> st.SearchStrategy[dict[str, Any]]:
    own = {name: _VALUES[name] for name in _OWN_PARAMS.get(action, ())}
    common = {name: _VALUES[name] for name in ("reason", "note", "photos", "position")}
    return st.fixed_dictionaries(
        {**own, "reason": common.pop("reason"), "note": common.pop("note")}, optional=common
    )


def count(case: Case, action: Action, **data: Any) -> int:
    return sum(
        1
        for e in case.events
        if e.action is action and all(e.data.get(k) == v for k, v in data.items())
    )


def check_invariants(case: Case) -> None:
    events = case.events
    assert isinstance(case.status, CaseStatus)
    assert len(events) == case.version
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(a.at <= b.at for a, b in pairwise(events))
    assert events[0].from_status is None
    assert events[0].action in CREATION_ACTIONS
    assert all(b.from_status is a.to_status for a, b in pairwise(events))
    assert events[-1].to_status is case.status

    # The assignee is None exactly when the case is reported, registered (or held from
    # registered) or terminal.
    effective = case.held_from if case.status is S.ON_HOLD else case.status
    unassigned = {S.REPORTED, S.REGISTERED} | TERMINAL_STATUSES
    assert (case.assignee is None) == (effective in unassigned)
    assert (case.held_from is not None) == (case.status is S.ON_HOLD)

    assert case.returns == count(case, A.RETURN_)
    assert case.reworks == count(case, A.CHECK, passed=False) + count(case, A.REOPEN)
    assert case.extensions == count(case, A.APPROVE_EXTENSION, approved=True)
    ladder = list(EscalationLevel)
    assert ladder.index(case.escalation_level) == count(case, A.ESCALATE)

    handlers = [e.actor for e in events if e.action in (A.HANDLE, A.SELF_HANDLE)]
    assert case.handlers == list(dict.fromkeys(handlers))

    if case.status is S.CLOSED:
        assert events[-1].action in (A.CLOSE, A.SELF_HANDLE)
    for index, closing in enumerate(events):
        if closing.action is not A.CLOSE:
            continue
        before = events[:index]
        last_handle = max(i for i, e in enumerate(before) if e.action is A.HANDLE)
        checks = [
            e for e in before[last_handle + 1 :] if e.action is A.CHECK and e.data["passed"] is True
        ]
        # Handlers as they stood at the close (a reopened case may gain handlers later).
        handlers_then = {e.actor for e in before if e.action in (A.HANDLE, A.SELF_HANDLE)}
        assert checks
        assert checks[-1].actor not in handlers_then
        assert closing.actor not in handlers_then

    if case.extension_pending is not None:
        assert case.status in (S.ACCEPTED, S.ON_SCENE)
    if case.void_pending is not None:
        assert case.status in OPEN_STATUSES
    assert (case.merged_into is not None) == (case.status is S.MERGED)

    if case.status in TERMINAL_STATUSES:
        for actor in [*EVERYONE, *(Actor(n) for n in ASSIGNEES)]:
            allowed_now = allowed(case, actor)
            assert set(allowed_now) <= {A.REOPEN}
            if allowed_now:
                assert case.status is S.CLOSED


class CaseLifecycle(RuleBasedStateMachine):
    """Random actors take random actions at increasing (sometimes earlier) times."""

    case: Case
    original: Case
    now: datetime

    @initialize(
        start=st.sampled_from(["report", "report", "report", "self_handle", "forwarded"]),
        channel=st.sampled_from(list(Channel)),
    )
    def start(self, start: str, channel: Channel) -> None:
        self.now = T0
        self.original = new_report(id=1, number="E0501202006240001", at=T0)
        self.now += timedelta(minutes=5)
        if start == "report":
            self.case = new_report(id=2, at=self.now, channel=channel)
        elif start == "self_handle":
            self.case = Case.self_handle(
                id=2,
                number="E0501202006240002",
                kind=CaseKind.EVENT,
                subclass="E0501",
                urgency=Urgency.GENERAL,
                at=self.now,
                reporter="R1",
                before_photos=["b.jpg"],
                after_photos=["a.jpg"],
            )
        else:
            self.case = Case.forwarded(
                id=2,
                number="E0501202006240002",
                kind=CaseKind.EVENT,
                subclass="E0501",
                channel=channel,
                urgency=Urgency.GENERAL,
                at=self.now,
            )

    @rule(
        data=st.data(),
        move=st.sampled_from(["allowed"] * 12 + ["anything"] * 2 + ["merge_report"]),
        minutes=st.sampled_from([0, 1, 7, 60, 600, -1]),
    )
    def step(self, data: st.DataObject, move: str, minutes: int) -> None:
        at = self.now + timedelta(minutes=minutes)
        if move == "merge_report":
            self.merge_into_original(data.draw(st.sampled_from(ROLES), label="role"), at)
            return
        case = self.case
        pairs = [
            (role, action)
            for role in ROLES
            for action in allowed(case, actor_for(role, case))
            for _ in range(weight(case, action))
        ]
        if move == "allowed" and pairs:
            role, action = data.draw(st.sampled_from(pairs), label="role, action")
        else:
            role = data.draw(st.sampled_from(ROLES), label="role")
            action = data.draw(st.sampled_from(APPLICABLE), label="action")
        actor = actor_for(role, case)
        allowed_now = allowed(case, actor)
        params = data.draw(params_for(action), label="params")
        before = copy.deepcopy(case)
        try:
            event = apply(case, action, actor, at, **params)
        except ActionNotAllowed as error:
            assert case == before
            assert action not in allowed_now
            assert error.allowed == allowed_now
            assert action.value in str(error)
            assert case.status.value in str(error)
        except InvalidInput:
            assert case == before
            assert action in allowed_now
        else:
            assert action in allowed_now
            assert at >= before.events[-1].at
            assert event is case.events[-1]
            assert event.action is action
            assert event.actor == actor.recorded_as
            self.now = at

    def merge_into_original(self, role: str, at: datetime) -> None:
        actor = actor_for(role, self.case)
        before = copy.deepcopy((self.original, self.case))
        try:
            merge_report(self.original, self.case, actor, at)
        except (ActionNotAllowed, InvalidInput):
            assert (self.original, self.case) == before
        else:
            assert self.case.status is S.MERGED
            assert self.case.merged_into == 1
            assert self.original.duplicates[-1]["number"] == self.case.number
            self.now = at

    @rule(role=st.sampled_from(ROLES), minutes=st.sampled_from([0, 2]))
    def work_on_original(self, role: str, minutes: int) -> None:
        actor = actor_for(role, self.original)
        at = self.now + timedelta(minutes=minutes)
        for action in allowed(self.original, actor)[:1]:
            params: dict[str, Any] = {"reason": "原因", "note": "备注"}
            params.update(
                {"assignee": "P1"} if action is A.DISPATCH else {},
            )
            try:
                apply(self.original, action, actor, at, **params)
            except InvalidInput:
                continue
            self.now = at

    @invariant()
    def invariants_hold(self) -> None:
        event(f"reached {self.case.status.value}")  # see --hypothesis-show-statistics
        check_invariants(self.case)
        check_invariants(self.original)


TestCaseLifecycle = CaseLifecycle.TestCase
TestCaseLifecycle.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_a_long_walk_of_allowed_steps_keeps_the_invariants() -> None:
    """One long walk (hypothesis prefers short ones): a few hundred allowed steps by random
    actors go round the loop — closed, reopened, reworked — with the invariants after each."""
    case = _walk(seed=20200624, steps=400)
    reached = {e.to_status for e in case.events}
    assert {S.CLOSED, S.CHECKED, S.HANDLED, S.ON_SCENE, S.ON_HOLD, S.REGISTERED} <= reached
    assert count(case, A.CLOSE) >= 2
    assert count(case, A.REOPEN) >= 1
    assert count(case, A.CHECK, passed=False) >= 1


def _walk(seed: int, steps: int) -> Case:
    rng = random.Random(seed)
    case = new_report(id=2)
    now = T0
    params = {
        "reason": "原因",
        "note": "备注",
        "minutes": 60,
        "reason_kind": "invalid",
        "lead": Department.URBAN_MANAGEMENT,
        "partners": [Department.MARKET],
        "department": Department.MARKET,
        "decision": "决定",
        "follow_ups": [],
    }
    for _ in range(steps):
        pairs = [
            (actor, action)
            for actor in (actor_for(role, case) for role in ROLES)
            for action in allowed(case, actor)
            if action not in (A.MERGE, A.REJECT, A.APPROVE_VOID)  # keep the walk going
        ]
        weights = [weight(case, action) for _, action in pairs]
        actor, action = rng.choices(pairs, weights)[0]
        now += timedelta(minutes=rng.randint(0, 30))
        chosen = {
            **params,
            "assignee": rng.choice(ASSIGNEES),
            "passed": rng.random() < 0.7,
            "approved": rng.random() < 0.5,
        }
        own = set(_OWN_PARAMS.get(action, ())) | {"reason", "note"}
        apply(case, action, actor, now, **{k: v for k, v in chosen.items() if k in own})
        check_invariants(case)
    return case
