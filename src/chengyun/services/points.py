"""Citizen points use cases (市民积分): record a citizen who reports, earn and revoke
points as their reports are accepted or voided, redeem, read a ledger and the public
leaderboard, read and set the policy.

Earning and revoking happen inside the case action that causes them (``act`` calls
``points_for_event`` before it commits), so a case and its points never disagree.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chengyun.clock import Clock
from chengyun.domain import points as rules
from chengyun.domain.access import mask_name, mask_phone
from chengyun.domain.cases import Action, CaseEvent, CaseStatus, RejectReason
from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.points import Citizen, LedgerEntry, PointsPolicy, Standing
from chengyun.domain.taxonomy import Taxonomy
from chengyun.services.records import CaseRecord
from chengyun.services.unit_of_work import UnitOfWork

MAX_LEADERBOARD = 100


@dataclass(frozen=True)
class CitizenLedger:
    """A citizen with their balance, the points they kept, and every entry."""

    citizen: Citizen
    balance: int
    earned: int
    entries: list[LedgerEntry]


def _not_found(citizen_id: int) -> NotFound:
    return NotFound(f"没有编号为 {citizen_id} 的市民 / no citizen with id {citizen_id}")


def _nickname(nickname: str | None) -> str | None:
    if nickname is None:
        return None
    cleaned = " ".join(nickname.split())
    if len(cleaned) > rules.MAX_NICKNAME:
        raise InvalidInput(
            "昵称过长 / the nickname is too long",
            [Problem(("nickname",), f"at most {rules.MAX_NICKNAME} characters", "length")],
        )
    return cleaned or None


def _hash(uow: UnitOfWork, clock: Clock, phone: str) -> str:
    """Inside an open unit of work: the hash of ``phone`` (stores the salt on first use)."""
    salt = uow.points.phone_salt(secrets.token_hex(32), clock.now())
    return rules.phone_hash(phone, salt)


def record_citizen(
    uow: UnitOfWork,
    clock: Clock,
    phone: str,
    nickname: str | None = None,
    party_member: bool | None = None,
) -> Citizen:
    """Create or update the citizen with this mobile number (``None`` keeps what is
    stored). Only the hash and a masked copy of the number are kept."""
    with uow:
        citizen = citizen_in(uow, clock, phone, nickname, party_member)
        uow.commit()
    return citizen


def citizen_in(
    uow: UnitOfWork,
    clock: Clock,
    phone: str,
    nickname: str | None = None,
    party_member: bool | None = None,
) -> Citizen:
    """``record_citizen`` inside ``uow``'s open transaction (the report's own)."""
    number = rules.normalise_phone(phone)
    return uow.points.save_citizen(
        _hash(uow, clock, number),
        mask_phone(number),
        _nickname(nickname),
        party_member,
        clock.now(),
    )


def _policy(uow: UnitOfWork) -> PointsPolicy:
    stored = uow.points.policy()
    return rules.policy_from_mapping(stored) if stored is not None else PointsPolicy()


def points_for_event(
    uow: UnitOfWork, clock: Clock, record: CaseRecord, event: CaseEvent
) -> LedgerEntry | None:
    """Inside the open unit of work of a case action: earn when a citizen's report is
    registered (立案), revoke what it earned when it is rejected as invalid or voided.
    Safe to call for any case and event; the entry written, if any."""
    citizen_id = record.extra.get("citizen_id")
    if not isinstance(citizen_id, int) or isinstance(citizen_id, bool):
        return None
    case = record.case
    entry: LedgerEntry | None = None
    if event.action is Action.REGISTER:
        citizen = uow.points.citizen(citizen_id)
        if citizen is None:
            return None
        entry = rules.earn(
            uow.points.entries_for_case(record.id),
            _policy(uow),
            citizen,
            record.id,
            case.subclass,
            event.actor,
            clock.now(),
            f"案件 {case.number} 立案 / case {case.number} registered",
        )
    elif (
        event.action is Action.REJECT and event.data.get("reason_kind") == RejectReason.INVALID
    ) or (event.action is Action.APPROVE_VOID and case.status is CaseStatus.VOIDED):
        entry = rules.revoke(
            uow.points.entries_for_case(record.id),
            record.id,
            event.actor,
            clock.now(),
            f"案件 {case.number} {event.action.zh} / case {case.number} " + event.action.en.lower(),
        )
    return uow.points.add(entry) if entry is not None else None


def redeem(
    uow: UnitOfWork, clock: Clock, citizen_id: int, points: int, reward: str, actor: str
) -> LedgerEntry:
    """Exchange ``points`` for ``reward`` (兑换), never beyond the balance; redemptions of
    one citizen wait for each other so two at once cannot overspend."""
    with uow:
        if uow.points.citizen(citizen_id, for_update=True) is None:
            raise _not_found(citizen_id)
        entry = rules.redeem(
            uow.points.entries(citizen_id), citizen_id, points, reward, actor, clock.now()
        )
        saved = uow.points.add(entry)
        uow.commit()
    return saved


def _ledger_of(uow: UnitOfWork, citizen: Citizen) -> CitizenLedger:
    entries = uow.points.entries(citizen.id)
    return CitizenLedger(citizen, rules.balance(entries), rules.earned(entries), entries)


def ledger(uow: UnitOfWork, citizen_id: int) -> CitizenLedger:
    """A citizen, their balance and every entry, oldest first."""
    with uow.reader() as uow:
        citizen = uow.points.citizen(citizen_id)
        if citizen is None:
            raise _not_found(citizen_id)
        return _ledger_of(uow, citizen)


def balance(uow: UnitOfWork, citizen_id: int) -> int:
    return ledger(uow, citizen_id).balance


def find_citizen(uow: UnitOfWork, clock: Clock, phone: str) -> CitizenLedger:
    """The ledger of the citizen with this mobile number (at the redemption counter)."""
    number = rules.normalise_phone(phone)
    with uow:
        citizen = uow.points.citizen_by_hash(_hash(uow, clock, number))
        if citizen is None:
            raise NotFound(
                "没有使用该号码的市民 / no citizen has reported with this number",
                [Problem(("phone",), mask_phone(number), "unknown")],
            )
        return _ledger_of(uow, citizen)


def leaderboard(uow: UnitOfWork, limit: int = 10) -> list[Standing]:
    """The public leaderboard (积分榜): the top ``limit`` by points kept, names and phones
    masked, party members marked."""
    limit = max(1, min(limit, MAX_LEADERBOARD))
    with uow.reader() as uow:
        rows = uow.points.top(limit)
    return [
        replace(s, nickname=mask_name(s.nickname), phone=mask_phone(s.phone))
        for s in rules.ranked(rows, limit)
    ]


def get_policy(uow: UnitOfWork) -> PointsPolicy:
    """The policy in force: the stored one, or the defaults."""
    with uow.reader() as uow:
        return _policy(uow)


def set_policy(
    uow: UnitOfWork, clock: Clock, data: Mapping[str, Any], actor: str, default_taxonomy: Taxonomy
) -> PointsPolicy:
    """Replace the policy; every subclass named must be in the taxonomy in force. Reports
    registered from now on earn by it; what was earned stays."""
    policy = rules.policy_from_mapping(data)
    with uow:
        taxonomy = uow.taxonomy.get() or default_taxonomy
        unknown = [code for code in policy.per_subclass if taxonomy.get(code) is None]
        if unknown:
            raise InvalidInput(
                "积分规则含未知小类 / the points policy names unknown subclasses",
                [
                    Problem(
                        ("per_subclass", code),
                        f"{code} 不在分类中，见 GET /api/v1/taxonomy / {code} is not in the "
                        "taxonomy: see GET /api/v1/taxonomy",
                        "unknown",
                    )
                    for code in unknown
                ],
            )
        uow.points.save_policy(policy.to_mapping(), clock.now(), actor)
        uow.commit()
    return policy
