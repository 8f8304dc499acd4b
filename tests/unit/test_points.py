"""The rules of citizen points (domain/points.py): phones, the policy, the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chengyun.domain.errors import InvalidInput
from chengyun.domain.points import (
    MAX_AWARD,
    Citizen,
    EntryKind,
    LedgerEntry,
    PointsPolicy,
    balance,
    earn,
    earned,
    normalise_phone,
    phone_hash,
    policy_from_mapping,
    ranked,
    redeem,
    revoke,
)
from chengyun.domain.working_time import CHINA_TZ

AT = datetime(2020, 6, 24, 10, 0, tzinfo=CHINA_TZ)
CITIZEN = Citizen(1, "139****5678", "张小明", False, AT)
MEMBER = Citizen(2, "138****0000", "王建国", True, AT)


def locations(error: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str | int, ...]]:
    return [p.location for p in error.value.problems]


def test_entry_kinds_carry_their_labels() -> None:
    assert [(k.value, k.zh) for k in EntryKind] == [
        ("earn", "获得"),
        ("revoke", "扣回"),
        ("redeem", "兑换"),
    ]
    assert EntryKind.parse("兑换") is EntryKind.REDEEM


@pytest.mark.parametrize(
    "typed",
    ["13912345678", " 139 1234 5678 ", "139-1234-5678", "+86 139 1234 5678", "8613912345678",
     "0086-13912345678", "(139)12345678"],
)  # fmt: skip
def test_mobile_numbers_are_normalised(typed: str) -> None:
    assert normalise_phone(typed) == "13912345678"


@pytest.mark.parametrize(
    "typed", ["", "1391234567", "139123456789", "12912345678", "021-64001234", "1391234567x"]
)
def test_other_numbers_are_refused_naming_the_phone(typed: str) -> None:
    with pytest.raises(InvalidInput) as error:
        normalise_phone(typed)
    assert locations(error) == [("phone",)]


def test_a_citizen_is_identified_by_a_salted_hash_of_the_number() -> None:
    first = phone_hash("13912345678", "salt-a")
    assert len(first) == 64 and "13912345678" not in first
    assert phone_hash("+86 139 1234 5678", "salt-a") == first  # the same person
    assert phone_hash("13912345678", "salt-b") != first  # another installation
    assert phone_hash("13912345679", "salt-a") != first
    with pytest.raises(ValueError):
        phone_hash("13912345678", "")


def test_the_policy_gives_points_by_subclass_with_an_optional_party_member_bonus() -> None:
    policy = PointsPolicy()
    assert (policy.points_for("E0102", False), policy.points_for("E0102", True)) == (10, 10)
    policy = PointsPolicy(10, {"E0102": 20, "C0301": 0}, party_member_bonus=5)
    assert policy.points_for("E0102", False) == 20
    assert policy.points_for("E0102", True) == 25
    assert policy.points_for("E0501", True) == 15
    assert policy.points_for("C0301", True) == 0  # a subclass that earns nothing: no bonus


def test_a_policy_round_trips_and_every_problem_is_located() -> None:
    policy = PointsPolicy(8, {"E0102": 20}, 3)
    assert policy_from_mapping(policy.to_mapping()) == policy
    assert policy_from_mapping({}) == PointsPolicy()
    with pytest.raises(InvalidInput) as error:
        policy_from_mapping(
            {
                "default_points": -1,
                "party_member_bonus": True,
                "per_subclass": {"E0102": MAX_AWARD + 1, "rubbish": 5, "C0301": "7"},
                "bonus": 1,
            }
        )
    assert locations(error) == [
        ("bonus",),
        ("default_points",),
        ("party_member_bonus",),
        ("per_subclass", "E0102"),
        ("per_subclass", "rubbish"),
        ("per_subclass", "C0301"),
    ]
    with pytest.raises(InvalidInput) as error:
        policy_from_mapping({"per_subclass": [1, 2]})
    assert locations(error) == [("per_subclass",)]


def test_an_accepted_report_earns_once() -> None:
    entry = earn([], PointsPolicy(), CITIZEN, 7, "E0102", "YPC-ZB01", AT, "registered")
    assert entry == LedgerEntry(1, EntryKind.EARN, 10, "YPC-ZB01", AT, 7, "registered")
    assert earn([entry], PointsPolicy(), CITIZEN, 7, "E0102", "YPC-ZB01", AT) is None
    member = earn([], PointsPolicy(party_member_bonus=5), MEMBER, 8, "E0102", "op", AT)
    assert member is not None and member.points == 15
    assert earn([], PointsPolicy(0), CITIZEN, 9, "E0102", "op", AT) is None  # nothing to earn


def test_a_voided_report_gives_back_what_it_earned_once() -> None:
    assert revoke([], 7, "op", AT) is None  # rejected before it earned anything
    earned_entry = LedgerEntry(1, EntryKind.EARN, 25, "op", AT, 7)
    taken = revoke([earned_entry], 7, "YPC-ZH01", AT, "voided")
    assert taken == LedgerEntry(1, EntryKind.REVOKE, -25, "YPC-ZH01", AT, 7, "voided")
    assert revoke([earned_entry, taken], 7, "YPC-ZH01", AT) is None


def test_the_balance_is_the_sum_and_redemption_stops_at_it() -> None:
    ledger = [
        LedgerEntry(1, EntryKind.EARN, 10, "op", AT, 1),
        LedgerEntry(1, EntryKind.EARN, 10, "op", AT, 2),
    ]
    assert balance(ledger) == 20
    spent = redeem(ledger, 1, 15, " 环保袋 / tote bag ", "YPC-ZB01", AT)
    assert spent == LedgerEntry(1, EntryKind.REDEEM, -15, "YPC-ZB01", AT, None, "环保袋 / tote bag")
    ledger.append(spent)
    assert (balance(ledger), earned(ledger)) == (5, 20)  # redeeming keeps what was earned
    assert redeem(ledger, 1, 5, "pen", "op", AT).points == -5  # the whole balance: fine
    with pytest.raises(InvalidInput) as error:
        redeem(ledger, 1, 6, "pen", "op", AT)
    assert locations(error) == [("points",)]
    assert "5" in error.value.problems[0].message
    for wrong in (0, -3, True):
        with pytest.raises(InvalidInput) as error:
            redeem(ledger, 1, wrong, "pen", "op", AT)
        assert locations(error) == [("points",)]
    for reward in ("", "   ", "x" * 201):
        with pytest.raises(InvalidInput) as error:
            redeem(ledger, 1, 1, reward, "op", AT)
        assert locations(error) == [("reward",)]


def test_a_revocation_after_spending_leaves_a_debt_that_blocks_redemption() -> None:
    ledger = [
        LedgerEntry(1, EntryKind.EARN, 10, "op", AT, 1),
        LedgerEntry(1, EntryKind.REDEEM, -10, "op", AT),
        LedgerEntry(1, EntryKind.REVOKE, -10, "op", AT, 1),
    ]
    assert (balance(ledger), earned(ledger)) == (-10, 0)
    with pytest.raises(InvalidInput):
        redeem(ledger, 1, 1, "pen", "op", AT)


def test_the_leaderboard_ranks_by_points_ties_sharing_a_rank() -> None:
    later = Citizen(3, "137****1111", "李四", False, AT + timedelta(days=1))
    nobody = Citizen(4, "136****2222", "赵五", False, AT)
    rows = [(later, 20, 2), (CITIZEN, 10, 1), (MEMBER, 20, 1), (nobody, 0, 0)]
    standings = ranked(rows, 10)
    assert [(s.rank, s.nickname, s.points) for s in standings] == [
        (1, "王建国", 20),  # joined before 李四
        (1, "李四", 20),
        (3, "张小明", 10),
    ]
    assert standings[0].party_member and not standings[1].party_member
    assert [s.nickname for s in ranked(rows, 1)] == ["王建国"]
