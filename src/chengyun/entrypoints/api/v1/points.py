"""Citizen points (市民积分) over HTTP: the public leaderboard, a citizen's ledger,
redemption, the policy. Thin: parse, call one service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from chengyun.domain.access import Permission, Principal, mask_name
from chengyun.domain.points import MAX_AWARD, MAX_REDEMPTION, MAX_REWARD_TEXT, PointsPolicy
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.services.points import (
    MAX_LEADERBOARD,
    CitizenLedger,
    find_citizen,
    get_policy,
    leaderboard,
    ledger,
    redeem,
    set_policy,
)

router = APIRouter(prefix="/points", tags=["points 市民积分"])
Public = Annotated[Principal | None, Depends(requires(Permission.PUBLIC))]
Manager = Annotated[Principal | None, Depends(requires(Permission.POINTS_MANAGE))]
CitizenId = Annotated[int, Path(ge=1, le=MAX_ID)]


class StandingOut(BaseModel):
    rank: int
    nickname: str = Field(description="masked: 张*")
    phone: str = Field(description="masked: 139****5678")
    party_member: bool = Field(description="党员")
    points: int = Field(description="earned and kept (revocations taken off; redemptions not)")
    reports: int = Field(description="accepted reports that earned points")


class EntryOut(BaseModel):
    id: int
    kind: str = Field(description="earn, revoke or redeem")
    kind_label: str
    points: int = Field(description="signed: positive when earned")
    case_id: int | None
    note: str
    actor: str
    at: datetime


class CitizenOut(BaseModel):
    id: int
    nickname: str
    phone: str = Field(description="masked; the full number is not stored")
    party_member: bool
    created_at: datetime
    balance: int = Field(description="what may still be redeemed")
    earned: int = Field(description="earned and kept, whatever was redeemed")
    ledger: list[EntryOut]


class RedeemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: int = Field(ge=1, le=MAX_REDEMPTION)
    reward: str = Field(min_length=1, max_length=MAX_REWARD_TEXT, description="what was given")


class FindIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=20, description="the citizen's mobile number")


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_points: int = Field(10, ge=0, le=MAX_AWARD)
    per_subclass: dict[str, Annotated[int, Field(ge=0, le=MAX_AWARD)]] = Field(
        default_factory=dict, description="subclass code → points; 0: the subclass earns nothing"
    )
    party_member_bonus: int = Field(0, ge=0, le=MAX_AWARD)


class PolicyOut(BaseModel):
    default_points: int
    per_subclass: dict[str, int]
    party_member_bonus: int


def _citizen(found: CitizenLedger, principal: Principal) -> CitizenOut:
    citizen = found.citizen
    full = principal.may(Permission.CONTACTS)
    return CitizenOut(
        id=citizen.id,
        nickname=citizen.nickname if full else mask_name(citizen.nickname),
        phone=citizen.phone,
        party_member=citizen.party_member,
        created_at=citizen.created_at,
        balance=found.balance,
        earned=found.earned,
        ledger=[
            EntryOut(
                id=e.id or 0,
                kind=e.kind.value,
                kind_label=e.kind.label,
                points=e.points,
                case_id=e.case_id,
                note=e.note,
                actor=e.actor,
                at=e.at,
            )
            for e in found.entries
        ],
    )


def _policy(policy: PointsPolicy) -> PolicyOut:
    return PolicyOut(**policy.to_mapping())


def _actor(principal: Principal) -> str:
    return principal.person_number or principal.username


@router.get(
    "/leaderboard",
    response_model=list[StandingOut],
    summary="积分榜 / The leaderboard (public; names and phones masked)",
)
def get_leaderboard(
    platform: PlatformDep,
    principal: Public,
    limit: Annotated[int, Query(ge=1, le=MAX_LEADERBOARD)] = 10,
) -> list[StandingOut]:
    return [
        StandingOut(
            rank=s.rank,
            nickname=s.nickname,
            phone=s.phone,
            party_member=s.party_member,
            points=s.points,
            reports=s.reports,
        )
        for s in leaderboard(platform.uow(), limit)
    ]


@router.get(
    "/citizens/{citizen_id}",
    response_model=CitizenOut,
    summary="市民积分 / A citizen's balance and ledger",
)
def get_citizen(platform: PlatformDep, principal: Manager, citizen_id: CitizenId) -> CitizenOut:
    return _citizen(ledger(platform.uow(), citizen_id), signed_in(principal))


@router.post(
    "/citizens/find",
    response_model=CitizenOut,
    summary="按手机号查找 / Find a citizen by mobile number (sent in the body, not the URL)",
    responses={404: {"description": "no citizen has reported with this number"}},
)
def post_find_citizen(platform: PlatformDep, principal: Manager, body: FindIn) -> CitizenOut:
    found = find_citizen(platform.uow(), platform.clock, body.phone)
    return _citizen(found, signed_in(principal))


@router.post(
    "/citizens/{citizen_id}/redeem",
    response_model=CitizenOut,
    summary="兑换 / Redeem points for a reward (never beyond the balance)",
    responses={
        404: {"description": "no such citizen"},
        422: {"description": "not enough points (`loc`: points), or no reward named"},
    },
)
def post_redeem(
    platform: PlatformDep, principal: Manager, citizen_id: CitizenId, body: RedeemIn
) -> CitizenOut:
    who = signed_in(principal)
    redeem(platform.uow(), platform.clock, citizen_id, body.points, body.reward, _actor(who))
    return _citizen(ledger(platform.uow(), citizen_id), who)


@router.get(
    "/policy",
    response_model=PolicyOut,
    summary="积分规则 / The points policy in force",
)
def get_points_policy(platform: PlatformDep, principal: Manager) -> PolicyOut:
    return _policy(get_policy(platform.uow()))


@router.put(
    "/policy",
    response_model=PolicyOut,
    summary="设置积分规则 / Replace the points policy (reports registered from now on)",
    responses={422: {"description": "a value out of range or an unknown subclass, located"}},
)
def put_points_policy(platform: PlatformDep, principal: Manager, body: PolicyIn) -> PolicyOut:
    data: dict[str, Any] = body.model_dump()
    policy = set_policy(
        platform.uow(),
        platform.clock,
        data,
        _actor(signed_in(principal)),
        platform.cases.default_taxonomy,
    )
    return _policy(policy)
