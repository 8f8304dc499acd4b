"""Who may do what, and where (权限与范围): roles, permissions, scopes, and the rules for
which cases a principal sees, for lockout after failed logins, and for masking contacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chengyun.domain.forces import Post
from chengyun.domain.labels import Labelled


class Role(Labelled):
    """A role (角色); each works within a scope."""

    ADMINISTRATOR = "administrator", "系统管理员", "Administrator"
    DUTY_COMMANDER = "duty_commander", "指挥长", "Duty commander"
    OPERATOR = "operator", "城运中心值班员", "Operator"
    GRID_CHIEF = "grid_chief", "网格长", "Grid chief"
    DEPUTY_GRID_CHIEF = "deputy_grid_chief", "副网格长", "Deputy grid chief"
    UNIT_LEADER = "unit_leader", "管理单元负责人", "Unit leader"
    DEPARTMENT_HANDLER = "department_handler", "部门处置人员", "Department handler"
    PATROL_MEMBER = "patrol_member", "巡查队员", "Patrol member"
    ASSESSOR = "assessor", "考核人员", "Assessor"
    CITIZEN = "citizen", "市民", "Citizen"
    SYSTEM = "system", "外部系统", "System"


class ScopeKind(Labelled):
    """Where a role works."""

    SUB_DISTRICT = "sub_district", "全街道", "Whole sub-district"
    GRID = "grid", "责任网格", "Grid"
    UNIT = "unit", "管理单元", "Unit"
    DEPARTMENT = "department", "部门", "Department"


class Permission(Labelled):
    """What a route needs. ``PUBLIC`` routes need nothing; every other one names its
    permission, and a role holds a fixed set of them."""

    PUBLIC = "public", "公开", "Public"
    AUTHENTICATED = "authenticated", "已登录", "Signed in"
    TERRITORY_READ = "territory.read", "查看辖区", "Read the territory"
    TERRITORY_WRITE = "territory.write", "维护辖区", "Edit the territory"
    FORCES_READ = "forces.read", "查看力量", "Read forces and rosters"
    FORCES_WRITE = "forces.write", "维护力量", "Edit forces and rosters"
    CONTACTS = "forces.contacts", "查看完整联系方式", "See full names and phone numbers"
    DUTY_READ = "duty.read", "查看值班", "Read the duty board"
    TAXONOMY_READ = "taxonomy.read", "查看分类", "Read the taxonomy"
    TAXONOMY_WRITE = "taxonomy.write", "维护分类", "Edit the taxonomy"
    CASES_READ = "cases.read", "查看案件", "Read cases"
    CASES_REPORT = "cases.report", "上报案件", "Report cases"
    CASES_ACT = "cases.act", "办理案件", "Act on cases"
    MEASURES_READ = "measures.read", "查看考核", "Read measures"
    ACCOUNTS_MANAGE = "accounts.manage", "管理账号", "Manage accounts"
    ASSESSMENT_MANAGE = "assessment.manage", "考核设置", "Set assessment weights"
    POINTS_MANAGE = "points.manage", "积分管理", "Manage citizen points"
    POSITIONS_REPORT = "positions.report", "上报巡查轨迹", "Report patrol positions"
    AUDIT_READ = "audit.read", "查看审计", "Read the audit log"
    INTEGRATIONS_MANAGE = (
        "integrations.manage",
        "维护对接",
        "Manage integrations (applications, cameras, shops, gazetteer, dead letters)",
    )
    # integrations: further permissions below, one member each
    HOTLINE_EXCHANGE = "hotline.exchange", "热线工单对接", "Exchange 12345 hotline orders"
    VISION_REPORT = "vision.report", "上报视频告警", "Post video alerts"
    DISTRICT_EXCHANGE = (
        "district.exchange",
        "区平台对接",
        "Exchange cases with the district platform",
    )


_STAFF_READ = frozenset(
    {
        Permission.AUTHENTICATED,
        Permission.TERRITORY_READ,
        Permission.FORCES_READ,
        Permission.DUTY_READ,
        Permission.TAXONOMY_READ,
        Permission.CASES_READ,
    }
)
_WORKER = _STAFF_READ | {
    Permission.CASES_REPORT,
    Permission.CASES_ACT,
    Permission.POSITIONS_REPORT,
}
_COORDINATOR = _WORKER | {Permission.CONTACTS, Permission.MEASURES_READ}
_CENTRE = _COORDINATOR | {
    Permission.POINTS_MANAGE,
    Permission.INTEGRATIONS_MANAGE,
    # integrations: centre permissions below, one line each
}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMINISTRATOR: frozenset(Permission)
    - {Permission.CASES_REPORT, Permission.CASES_ACT, Permission.POSITIONS_REPORT},
    Role.DUTY_COMMANDER: _CENTRE,
    Role.OPERATOR: _CENTRE,
    Role.GRID_CHIEF: _COORDINATOR,
    Role.DEPUTY_GRID_CHIEF: _COORDINATOR,
    Role.UNIT_LEADER: _COORDINATOR,
    Role.DEPARTMENT_HANDLER: _WORKER,
    Role.PATROL_MEMBER: _WORKER,
    Role.ASSESSOR: _STAFF_READ
    | {Permission.MEASURES_READ, Permission.AUDIT_READ, Permission.ASSESSMENT_MANAGE},
    Role.CITIZEN: frozenset({Permission.AUTHENTICATED, Permission.CASES_REPORT}),
    Role.SYSTEM: frozenset(
        {
            Permission.AUTHENTICATED,
            Permission.CASES_REPORT,
            Permission.CASES_READ,
            Permission.TAXONOMY_READ,
            Permission.TERRITORY_READ,
            # integrations: system (hotline, district, algorithms) permissions below
            Permission.HOTLINE_EXCHANGE,
            Permission.VISION_REPORT,
            Permission.DISTRICT_EXCHANGE,
        }
    ),
}

#: Roles that act for the command centre (register, dispatch, close …) and approvers.
CENTRE_ROLES = frozenset({Role.DUTY_COMMANDER, Role.OPERATOR})
APPROVER_ROLES = frozenset({Role.DUTY_COMMANDER, Role.GRID_CHIEF, Role.DEPUTY_GRID_CHIEF})

#: The role a person's post gives their account.
POST_ROLES: Mapping[Post, Role] = {
    Post.DUTY_COMMANDER: Role.DUTY_COMMANDER,
    Post.OPERATOR: Role.OPERATOR,
    Post.GRID_CHIEF: Role.GRID_CHIEF,
    Post.DEPUTY_GRID_CHIEF: Role.DEPUTY_GRID_CHIEF,
    Post.STATION_CHIEF: Role.DEPUTY_GRID_CHIEF,
    Post.UNIT_LEADER: Role.UNIT_LEADER,
    Post.STATION_DEPUTY: Role.UNIT_LEADER,
    Post.STATION_MEMBER: Role.PATROL_MEMBER,
    Post.PATROL: Role.PATROL_MEMBER,
    Post.HANDLER: Role.DEPARTMENT_HANDLER,
}


@dataclass(frozen=True)
class Principal:
    """Who is making a request: an account, its role and scope, and — for a token —
    the permissions the token was limited to."""

    account_id: int
    username: str
    role: Role
    scope_kind: ScopeKind = ScopeKind.SUB_DISTRICT
    scope_code: str | None = None
    person_number: str | None = None
    token_permissions: frozenset[Permission] | None = None
    via: str = "token"

    @property
    def permissions(self) -> frozenset[Permission]:
        granted = ROLE_PERMISSIONS[self.role]
        if self.token_permissions is not None:
            granted = granted & self.token_permissions
        return granted | {Permission.PUBLIC}

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class CaseView:
    """What visibility needs to know of a case."""

    grid_code: str | None
    unit_code: str | None
    assignee: str | None
    reporter: str | None
    responsible: str | None
    handlers: tuple[str, ...] = field(default=())
    joint_departments: tuple[str, ...] = field(default=())


def joint_departments(joint: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The departments of a joint handling (联合处置), as a case's state keeps it: its lead
    and its partners."""
    joint = joint or {}
    departments = (joint.get("lead"), *joint.get("partners", ()))
    return tuple(str(d) for d in departments if d)


def sees_case(principal: Principal, case: CaseView) -> bool:
    """A patrol member sees the cases of their own grid; a department handler those sent to
    the department or handled jointly with it; a unit leader their unit; anyone the cases they reported, hold or
    handled; the centre, administrators and assessors everything."""
    me = principal.person_number
    if me and me in (case.assignee, case.reporter, *case.handlers):
        return True
    if principal.scope_kind is ScopeKind.SUB_DISTRICT:
        return principal.role is not Role.CITIZEN
    code = principal.scope_code
    if principal.scope_kind is ScopeKind.GRID:
        return case.grid_code == code
    if principal.scope_kind is ScopeKind.UNIT:
        return case.unit_code == code
    return case.responsible == code or code in case.joint_departments


#: Failed logins allowed before the account is locked, and the first lock.
FREE_ATTEMPTS = 5
FIRST_LOCK = timedelta(minutes=1)
LONGEST_LOCK = timedelta(hours=1)


def locked_until(failures: int, last_failure: datetime) -> datetime | None:
    """Lockout with backoff: after 5 failures 1 minute, then doubling up to an hour."""
    if failures < FREE_ATTEMPTS:
        return None
    lock: timedelta = min(FIRST_LOCK * (2 ** (failures - FREE_ATTEMPTS)), LONGEST_LOCK)
    until: datetime = last_failure + lock
    return until


def mask_phone(phone: str) -> str:
    """``13912345678`` → ``139****5678``: enough to recognise, not to call."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_name(name: str) -> str:
    """``张伟`` → ``张*``; ``欧阳娜娜`` → ``欧***``."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name
