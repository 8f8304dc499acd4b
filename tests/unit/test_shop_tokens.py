"""The shop token's rules (domain/shops.py): signed, compact, expiring, re-issuable; the
registry's field checks and what a citizen is shown of their case."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengyun.domain.cases import Action, CaseEvent, CaseStatus
from chengyun.domain.errors import InvalidInput
from chengyun.domain.shops import (
    DEFAULT_TOKEN_DAYS,
    MAX_KEY_VERSION,
    MAX_SHOP_ID,
    TOKEN_LENGTH,
    ExpiredShopToken,
    ForgedShopToken,
    Shop,
    check_current,
    check_shop,
    issue_token,
    next_code,
    public_steps,
    read_token,
    shop_problems,
    token_expiry,
)
from chengyun.domain.working_time import CHINA_TZ

SECRET = "a-test-secret-that-is-long-enough-0123456789"
NOW = datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)
EXPIRES = token_expiry(NOW, DEFAULT_TOKEN_DAYS)
SHOP = Shop("S00001", "好邻居便利店", "徐泾镇1号", 121.11, 31.15, "G", "U", 1, EXPIRES, id=7)


def test_a_token_is_compact_url_safe_and_reads_back() -> None:
    token = issue_token(SECRET, 7, 1, EXPIRES)
    assert len(token) == TOKEN_LENGTH == 31
    assert token.replace("-", "").replace("_", "").isalnum()
    read = read_token(SECRET, token, NOW)
    assert (read.shop_id, read.key_version, read.expires_at) == (7, 1, EXPIRES)
    assert check_current(SHOP, read) is SHOP


def test_the_default_expiry_is_two_years_in_whole_seconds() -> None:
    assert EXPIRES.tzinfo is UTC and EXPIRES.microsecond == 0
    assert timedelta(days=730) == EXPIRES - NOW


@given(
    shop_id=st.integers(1, MAX_SHOP_ID),
    version=st.integers(1, MAX_KEY_VERSION),
    days=st.integers(1, 3650),
)
def test_every_token_reads_back_what_was_signed(shop_id: int, version: int, days: int) -> None:
    expires = token_expiry(NOW, days)
    read = read_token(SECRET, issue_token(SECRET, shop_id, version, expires), NOW)
    assert (read.shop_id, read.key_version, read.expires_at) == (shop_id, version, expires)


@given(position=st.integers(0, TOKEN_LENGTH - 1), replacement=st.sampled_from("AbZ9-_"))
def test_a_changed_character_is_refused_as_forged(position: int, replacement: str) -> None:
    token = issue_token(SECRET, 7, 1, EXPIRES)
    changed = token[:position] + replacement + token[position + 1 :]
    # the last character carries two unused bits: a change of only those decodes to the
    # same bytes, which is the same genuine token
    if base64.urlsafe_b64decode(changed + "=") == base64.urlsafe_b64decode(token + "="):
        assert read_token(SECRET, changed, NOW).shop_id == 7
        return
    with pytest.raises(ForgedShopToken):
        read_token(SECRET, changed, NOW)


@pytest.mark.parametrize(
    "token",
    ["", "x", "not a token", "A" * 31, "A" * 30 + "!", "A" * 40, "../../etc/passwd"],
)
def test_malformed_tokens_are_forged(token: str) -> None:
    with pytest.raises(ForgedShopToken) as refused:
        read_token(SECRET, token, NOW)
    assert refused.value.problems[0].kind == "shop_token_forged"
    assert "/" in refused.value.message  # Chinese / English


def test_a_token_signed_with_another_secret_is_forged() -> None:
    token = issue_token("another-secret", 7, 1, EXPIRES)
    with pytest.raises(ForgedShopToken):
        read_token(SECRET, token, NOW)


def test_a_token_past_its_expiry_is_expired_not_forged() -> None:
    token = issue_token(SECRET, 7, 1, EXPIRES)
    read_token(SECRET, token, EXPIRES - timedelta(seconds=1))
    with pytest.raises(ExpiredShopToken) as refused:
        read_token(SECRET, token, EXPIRES)
    assert refused.value.problems[0].kind == "shop_token_expired"
    assert EXPIRES.strftime("%Y-%m-%d") in refused.value.problems[0].message


def test_a_reissued_shop_refuses_its_old_posters() -> None:
    old = read_token(SECRET, issue_token(SECRET, 7, 1, EXPIRES), NOW)
    reissued = replace(SHOP, key_version=2)
    with pytest.raises(ExpiredShopToken) as refused:
        check_current(reissued, old)
    assert "replaced" in refused.value.problems[0].message
    new = read_token(SECRET, issue_token(SECRET, 7, 2, EXPIRES), NOW)
    assert check_current(reissued, new) is reissued


def test_a_token_of_a_shop_gone_or_inactive_no_longer_works() -> None:
    read = read_token(SECRET, issue_token(SECRET, 7, 1, EXPIRES), NOW)
    with pytest.raises(ExpiredShopToken):
        check_current(None, read)
    with pytest.raises(ExpiredShopToken):
        check_current(replace(SHOP, active=False), read)


def test_ids_out_of_range_cannot_be_signed() -> None:
    for shop_id, version in ((0, 1), (MAX_SHOP_ID + 1, 1), (1, 0), (1, MAX_KEY_VERSION + 1)):
        with pytest.raises(ValueError):
            issue_token(SECRET, shop_id, version, EXPIRES)
    with pytest.raises(ValueError):
        issue_token("", 1, 1, EXPIRES)


def test_shop_fields_are_checked_and_located() -> None:
    assert shop_problems("S00001", "便利店", "徐泾镇1号") == []
    found = {p.location[0]: p.kind for p in shop_problems("bad code!", "", "x" * 201)}
    assert found == {"code": "code", "name": "missing", "address": "length"}
    with pytest.raises(InvalidInput):
        check_shop("", "店" * 101, "")


def test_automatic_codes_follow_the_highest() -> None:
    assert next_code([]) == "S00001"
    assert next_code(["S00001", "S00007", "SHOP-9"]) == "S00008"


def _event(seq: int, action: Action, to: CaseStatus, **data: object) -> CaseEvent:
    return CaseEvent(seq, action, "YPC-ZB01", NOW + timedelta(minutes=seq), None, to, data=data)


def test_a_citizen_sees_the_public_steps_only() -> None:
    events = [
        _event(1, Action.REPORT, CaseStatus.REPORTED),
        _event(2, Action.REGISTER, CaseStatus.REGISTERED),
        _event(3, Action.DISPATCH, CaseStatus.DISPATCHED, assignee="P1"),
        _event(4, Action.DISPATCH, CaseStatus.DISPATCHED, assignee="P2"),  # reassigned
        _event(5, Action.ESCALATE, CaseStatus.DISPATCHED, level="grid_chief"),
        _event(6, Action.ACCEPT, CaseStatus.ACCEPTED),
        _event(7, Action.ARRIVE, CaseStatus.ON_SCENE),
        _event(8, Action.HANDLE, CaseStatus.HANDLED),
        _event(9, Action.CHECK, CaseStatus.DISPATCHED, passed=False),
        _event(10, Action.DISPATCH, CaseStatus.DISPATCHED),
        _event(11, Action.HANDLE, CaseStatus.HANDLED),
        _event(12, Action.CHECK, CaseStatus.CHECKED, passed=True),
        _event(13, Action.CLOSE, CaseStatus.CLOSED),
    ]
    kinds = [s.kind for s in public_steps(events)]
    assert kinds == [
        "report",
        "register",
        "dispatch",
        "accept",
        "arrive",
        "handle",
        "check_failed",
        "dispatch",
        "handle",
        "check_passed",
        "close",
    ]
    assert public_steps(events)[0].at == events[0].at
    void = [
        _event(1, Action.REPORT, CaseStatus.REPORTED),
        _event(2, Action.VOID, CaseStatus.REPORTED),
        _event(3, Action.APPROVE_VOID, CaseStatus.VOIDED, approved=True),
    ]
    assert [s.kind for s in public_steps(void)] == ["report", "void"]
