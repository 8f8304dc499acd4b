"""Citizen points (市民积分): the rules of the reward scheme for citizens' reports
(市民上报问题积分奖励制度, seed 三.(三).4).

A citizen is known by a salted hash of their mobile number. An accepted report (立案)
earns points by its subclass; a report voided as invalid gives them back; points are
redeemed for rewards, never beyond the balance. The ledger is the truth: every change is
an entry with signed points, and the balance is their sum.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.labels import Labelled
from chengyun.domain.taxonomy import SUBCLASS_CODE

#: The most one report may earn, and the most a policy may set (keeps sums far from
#: the 32-bit columns and typing slips from becoming fortunes).
MAX_AWARD = 1000
#: The most one redemption may take.
MAX_REDEMPTION = 1_000_000
MAX_REWARD_TEXT = 200
MAX_NICKNAME = 40

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-()（）]")


class EntryKind(Labelled):
    """What a ledger entry records."""

    EARN = "earn", "获得", "Earned"
    REVOKE = "revoke", "扣回", "Revoked"
    REDEEM = "redeem", "兑换", "Redeemed"


@dataclass(frozen=True)
class Citizen:
    """A citizen who reports (市民). ``phone`` is kept masked (``139****5678``); the full
    number exists only as ``phone_hash``."""

    id: int
    phone: str
    nickname: str
    party_member: bool
    created_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    """One change of a citizen's points: positive when earned, negative when revoked or
    redeemed. ``case_id`` names the report behind an earn or revoke."""

    citizen_id: int
    kind: EntryKind
    points: int
    actor: str
    at: datetime
    case_id: int | None = None
    note: str = ""
    id: int | None = None


# --- phone numbers --------------------------------------------------------------------------


def normalise_phone(text: str) -> str:
    """An 11-digit mainland mobile number from what a person typed: spaces, dashes and
    brackets dropped, a leading ``+86``/``0086``/``86`` removed. ``InvalidInput`` naming
    ``phone`` otherwise."""
    digits = _SEPARATORS.sub("", text or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.match(digits):
        raise InvalidInput(
            "手机号码无效 / not a mobile number",
            [
                Problem(
                    ("phone",),
                    "须为11位手机号码，如 13912345678 / an 11-digit mobile number such as "
                    "13912345678",
                    "phone",
                )
            ],
        )
    return digits


def phone_hash(phone: str, salt: str) -> str:
    """The citizen's identity: HMAC-SHA-256 of the normalised number keyed by the
    installation's salt (64 hex digits). The same number always gives the same hash."""
    if not salt:
        raise ValueError("a salt is required")
    return hmac.new(salt.encode(), normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


# --- the policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PointsPolicy:
    """How many points an accepted report earns (积分规则): ``default_points`` unless its
    subclass has an override; party members (党员) earn ``party_member_bonus`` more on a
    report that earns anything. A subclass set to 0 earns nothing."""

    default_points: int = 10
    per_subclass: Mapping[str, int] = field(default_factory=dict)
    party_member_bonus: int = 0

    def points_for(self, subclass: str, party_member: bool) -> int:
        base = self.per_subclass.get(subclass, self.default_points)
        if base <= 0:
            return 0
        return base + (self.party_member_bonus if party_member else 0)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "default_points": self.default_points,
            "per_subclass": dict(sorted(self.per_subclass.items())),
            "party_member_bonus": self.party_member_bonus,
        }


def _amount_problem(value: object, location: tuple[str | int, ...]) -> Problem | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return Problem(location, "须为整数 / must be a whole number", "type")
    if not 0 <= value <= MAX_AWARD:
        return Problem(
            location, f"须在 0 到 {MAX_AWARD} 之间 / must be from 0 to {MAX_AWARD}", "range"
        )
    return None


def policy_from_mapping(data: Mapping[str, Any]) -> PointsPolicy:
    """A policy from its stored or sent form; ``InvalidInput`` lists every problem, each
    located by field (``("per_subclass", "E0102")``)."""
    problems: list[Problem] = []
    unknown = sorted(set(data) - {"default_points", "per_subclass", "party_member_bonus"})
    problems.extend(Problem((name,), "未知字段 / unknown field", "unknown") for name in unknown)
    default = data.get("default_points", PointsPolicy.default_points)
    bonus = data.get("party_member_bonus", PointsPolicy.party_member_bonus)
    for name, value in (("default_points", default), ("party_member_bonus", bonus)):
        problem = _amount_problem(value, (name,))
        if problem:
            problems.append(problem)
    overrides = data.get("per_subclass") or {}
    if not isinstance(overrides, Mapping):
        problems.append(
            Problem(("per_subclass",), "须为 {小类代码: 积分} / a {code: points} object", "type")
        )
        overrides = {}
    per_subclass: dict[str, int] = {}
    for code, value in overrides.items():
        if not isinstance(code, str) or not SUBCLASS_CODE.match(code):
            problems.append(
                Problem(
                    ("per_subclass", str(code)),
                    "小类代码须如 E0102 / a subclass code such as E0102",
                    "code",
                )
            )
            continue
        problem = _amount_problem(value, ("per_subclass", code))
        if problem:
            problems.append(problem)
        else:
            per_subclass[code] = value
    if problems:
        raise InvalidInput("积分规则有误 / the points policy is not valid", problems)
    return PointsPolicy(default, per_subclass, bonus)


# --- the ledger -----------------------------------------------------------------------------


def balance(entries: Iterable[LedgerEntry]) -> int:
    """What a citizen may still redeem: the sum of their entries (revocations can take it
    below zero when the points were already spent; later earnings make up for it)."""
    return sum(e.points for e in entries)


def earned(entries: Iterable[LedgerEntry]) -> int:
    """Points earned and kept (earned minus revoked), whatever was redeemed: the
    leaderboard's measure."""
    return sum(e.points for e in entries if e.kind is not EntryKind.REDEEM)


def earn(
    case_entries: Sequence[LedgerEntry],
    policy: PointsPolicy,
    citizen: Citizen,
    case_id: int,
    subclass: str,
    actor: str,
    at: datetime,
    note: str = "",
) -> LedgerEntry | None:
    """The entry for an accepted report, or ``None`` when the case already earned (once
    per case) or its subclass earns nothing. ``case_entries``: the case's ledger entries."""
    if any(e.kind is EntryKind.EARN for e in case_entries):
        return None
    points = policy.points_for(subclass, citizen.party_member)
    if points <= 0:
        return None
    return LedgerEntry(citizen.id, EntryKind.EARN, points, actor, at, case_id, note)


def revoke(
    case_entries: Sequence[LedgerEntry], case_id: int, actor: str, at: datetime, note: str = ""
) -> LedgerEntry | None:
    """The entry taking back what a case earned, or ``None`` when it earned nothing or
    was already revoked (once per case)."""
    if any(e.kind is EntryKind.REVOKE for e in case_entries):
        return None
    earns = [e for e in case_entries if e.kind is EntryKind.EARN]
    if not earns:
        return None
    points = sum(e.points for e in earns)
    return LedgerEntry(earns[0].citizen_id, EntryKind.REVOKE, -points, actor, at, case_id, note)


def redeem(
    entries: Sequence[LedgerEntry],
    citizen_id: int,
    points: int,
    reward: str,
    actor: str,
    at: datetime,
) -> LedgerEntry:
    """The entry for exchanging ``points`` for ``reward``; ``InvalidInput`` naming
    ``points`` when they are not a positive whole number or exceed the balance, or
    ``reward`` when it is missing or too long."""
    reward = (reward or "").strip()
    if not reward:
        raise InvalidInput(
            "须写明兑换的奖励 / say what the points are exchanged for",
            [Problem(("reward",), "e.g. 环保袋 / a tote bag", "missing")],
        )
    if len(reward) > MAX_REWARD_TEXT:
        raise InvalidInput(
            "奖励说明过长 / the reward text is too long",
            [Problem(("reward",), f"at most {MAX_REWARD_TEXT} characters", "length")],
        )
    if isinstance(points, bool) or not isinstance(points, int) or not 0 < points <= MAX_REDEMPTION:
        raise InvalidInput(
            "兑换积分须为正整数 / points must be a positive whole number",
            [Problem(("points",), f"from 1 to {MAX_REDEMPTION}", "range")],
        )
    available = balance(entries)
    if points > available:
        raise InvalidInput(
            "积分不足 / not enough points",
            [
                Problem(
                    ("points",),
                    f"余额 {available} 分，不足 {points} 分 / the balance is {available}, "
                    f"less than {points}",
                    "balance",
                )
            ],
        )
    return LedgerEntry(citizen_id, EntryKind.REDEEM, -points, actor, at, None, reward)


# --- the leaderboard ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """A citizen's place on the leaderboard (积分榜); names and phones already masked."""

    rank: int
    nickname: str
    phone: str
    party_member: bool
    points: int
    reports: int


def ranked(rows: Iterable[tuple[Citizen, int, int]], limit: int) -> list[Standing]:
    """The top ``limit`` of (citizen, points kept, reports kept) by points, ties sharing a
    rank (1, 1, 3) and listed by who joined first; citizens without points are left out.
    Masking is the caller's (the domain does not decide how names are shown)."""
    ordered = sorted((r for r in rows if r[1] > 0), key=lambda r: (-r[1], r[0].created_at, r[0].id))
    standings: list[Standing] = []
    for position, (citizen, points, reports) in enumerate(ordered[:limit], start=1):
        rank = standings[-1].rank if standings and standings[-1].points == points else position
        standings.append(
            Standing(rank, citizen.nickname, citizen.phone, citizen.party_member, points, reports)
        )
    return standings
