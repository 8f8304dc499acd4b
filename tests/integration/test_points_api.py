"""Citizen points over HTTP on both databases: reports from the citizen page earn when an
operator registers them, give back when voided, redeem within the balance, the public
leaderboard masks, the policy sets the amounts."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.domain.errors import InvalidInput
from chengyun.entrypoints.platform import Platform
from chengyun.services.points import redeem
from tests.factories import COMMANDER, OPERATOR, do, patrol_member, report, submit

PHONE = "13912345678"
POINTS = "/api/v1/points"


def citizen_report(client: TestClient, phone: str = PHONE, **citizen: Any) -> dict[str, Any]:
    """A report from the citizen page: channel citizen_qr, through the gateway."""
    answer = submit(client, report(channel="citizen_qr", citizen={"phone": phone, **citizen}))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "reported"
    return dict(answer.json())


def as_operator(client: TestClient) -> dict[str, str]:
    return dict(client.headers_for(OPERATOR))  # type: ignore[attr-defined]


def find(client: TestClient, phone: str = PHONE) -> dict[str, Any]:
    answer = client.post(
        f"{POINTS}/citizens/find", json={"phone": phone}, headers=as_operator(client)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def registered(client: TestClient, phone: str = PHONE, **citizen: Any) -> int:
    case_id = int(citizen_report(client, phone, **citizen)["id"])
    answer = do(client, case_id, "register", OPERATOR)
    assert answer.status_code == 200, answer.text
    return case_id


def test_a_citizen_report_earns_points_when_an_operator_registers_it(
    client: TestClient, demo: Platform
) -> None:
    case = citizen_report(client, "+86 139-1234-5678", nickname="张小明")
    citizen = find(client)
    assert (citizen["balance"], citizen["ledger"]) == (0, [])  # reported, not yet accepted
    assert citizen["phone"] == "139****5678" and citizen["nickname"] == "张小明"

    assert do(client, case["id"], "register", OPERATOR).status_code == 200
    citizen = find(client)
    assert citizen["balance"] == citizen["earned"] == 10
    [entry] = citizen["ledger"]
    assert (entry["kind"], entry["points"], entry["case_id"], entry["actor"]) == (
        "earn",
        10,
        case["id"],
        OPERATOR,
    )
    assert entry["kind_label"] == "获得 Earned" and case["number"] in entry["note"]
    same = client.get(f"{POINTS}/citizens/{citizen['id']}", headers=as_operator(client))
    assert same.status_code == 200 and same.json() == citizen

    with demo.engine.connect() as connection:
        rows = connection.execute(sa.select(t.citizens)).all()
    assert len(rows) == 1 and rows[0].phone == "139****5678"
    assert PHONE not in rows[0].phone_hash  # the full number is never stored


def test_the_same_phone_is_one_citizen_and_updates_keep_what_is_not_sent(
    client: TestClient, demo: Platform
) -> None:
    citizen_report(client, nickname="张小明", party_member=True)
    citizen_report(client, "139 1234 5678")  # nickname and party membership kept
    citizen = find(client)
    assert (citizen["nickname"], citizen["party_member"]) == ("张小明", True)
    citizen_report(client, nickname="小明", party_member=False)
    assert (find(client)["nickname"], find(client)["party_member"]) == ("小明", False)
    with demo.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(t.citizens)).scalar() == 1


def test_an_invalid_report_earns_nothing_and_a_voided_one_gives_its_points_back(
    client: TestClient, demo: Platform
) -> None:
    rejected = citizen_report(client)["id"]
    answer = do(
        client,
        rejected,
        "reject",
        OPERATOR,
        reason="照片与描述不符 / not real",
        reason_kind="invalid",
    )
    assert answer.status_code == 200, answer.text
    assert find(client)["ledger"] == []

    kept = registered(client)
    voided = registered(client)
    assert find(client)["balance"] == 20
    assert do(client, voided, "void", OPERATOR, reason="虚假上报 / false").status_code == 200
    denied = do(client, voided, "approve_void", COMMANDER, approved=False)
    assert denied.status_code == 200 and find(client)["balance"] == 20  # a denial changes nothing
    do(client, voided, "void", OPERATOR, reason="虚假上报 / false")
    approved = do(client, voided, "approve_void", COMMANDER, approved=True)
    assert approved.json()["status"] == "voided"

    citizen = find(client)
    assert (citizen["balance"], citizen["earned"]) == (10, 10)
    assert [(e["kind"], e["points"], e["case_id"]) for e in citizen["ledger"]] == [
        ("earn", 10, kept),
        ("earn", 10, voided),
        ("revoke", -10, voided),
    ]
    assert citizen["ledger"][2]["actor"] == COMMANDER


def test_points_need_a_citizen_report_with_a_valid_phone(
    client: TestClient, demo: Platform
) -> None:
    wrong = submit(client, report(channel="citizen_qr", citizen={"phone": "12345"}))
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "citizen", "phone"]
    # only the citizen page's channel earns: a citizen on a patrol report is ignored
    reporter = patrol_member(client)
    patrol = submit(client, report(reporter=reporter, citizen={"phone": PHONE}))
    assert patrol.status_code == 201, patrol.text
    lookup = client.post(
        f"{POINTS}/citizens/find", json={"phone": PHONE}, headers=as_operator(client)
    )
    assert lookup.status_code == 404
    # and a citizen report without a phone earns nobody anything
    anonymous_case = submit(client, report(channel="citizen_qr")).json()["id"]
    assert do(client, anonymous_case, "register", OPERATOR).status_code == 200
    with demo.engine.connect() as connection:
        assert connection.execute(sa.select(t.points_ledger)).all() == []


def test_redeem_within_the_balance_and_never_beyond_it(client: TestClient, demo: Platform) -> None:
    registered(client)
    registered(client)
    citizen_id = find(client)["id"]
    url = f"{POINTS}/citizens/{citizen_id}/redeem"
    spent = client.post(
        url, json={"points": 15, "reward": "环保袋 / tote bag"}, headers=as_operator(client)
    )
    assert spent.status_code == 200, spent.text
    assert (spent.json()["balance"], spent.json()["earned"]) == (5, 20)
    last = spent.json()["ledger"][-1]
    assert (last["kind"], last["points"], last["note"], last["actor"]) == (
        "redeem",
        -15,
        "环保袋 / tote bag",
        OPERATOR,
    )

    beyond = client.post(url, json={"points": 6, "reward": "笔 / pen"}, headers=as_operator(client))
    assert beyond.status_code == 422
    assert beyond.json()["detail"][0]["loc"] == ["points"]
    assert find(client)["balance"] == 5  # nothing was taken
    assert client.post(url, json={"points": 5}, headers=as_operator(client)).status_code == 422
    assert client.post(url, json={"points": 0, "reward": "x"}).status_code == 422
    nobody = client.post(
        f"{POINTS}/citizens/987654/redeem",
        json={"points": 1, "reward": "x"},
        headers=as_operator(client),
    )
    assert nobody.status_code == 404
    assert client.get(f"{POINTS}/citizens/0").status_code == 422
    assert client.post(url, json={"points": 5, "reward": "笔 / pen"}).status_code == 200  # admin


def test_two_redemptions_at_once_never_overspend(client: TestClient, demo: Platform) -> None:
    registered(client)
    citizen_id = find(client)["id"]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def spend() -> None:
        start.wait()
        try:
            redeem(demo.uow(), demo.clock, citizen_id, 8, "笔 / pen", OPERATOR)
            outcomes.append("redeemed")
        except InvalidInput:
            outcomes.append("refused")

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["redeemed", "refused"]
    assert find(client)["balance"] == 2


def test_a_patrol_member_can_neither_redeem_nor_read_a_ledger(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    registered(client)
    citizen_id = find(client)["id"]
    patrol = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    url = f"{POINTS}/citizens/{citizen_id}"
    refused = client.post(f"{url}/redeem", json={"points": 1, "reward": "x"}, headers=patrol)
    assert refused.status_code == 403 and "points.manage" in refused.json()["message"]
    assert client.get(url, headers=patrol).status_code == 403
    assert client.put(f"{POINTS}/policy", json={}, headers=patrol).status_code == 403
    assert anonymous.get(url).status_code == 401
    assert find(client)["balance"] == 10


def test_the_public_leaderboard_masks_names_and_phones_and_marks_party_members(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    registered(client, "13800000001", nickname="王建国", party_member=True)
    registered(client, "13800000001")
    registered(client, "13700000002", nickname="李四")
    citizen_report(client, "13600000003", nickname="赵五")  # never registered: not listed

    answer = anonymous.get(f"{POINTS}/leaderboard")
    assert answer.status_code == 200, answer.text
    assert answer.json() == [
        {
            "rank": 1,
            "nickname": "王**",
            "phone": "138****0001",
            "party_member": True,
            "points": 20,
            "reports": 2,
        },
        {
            "rank": 2,
            "nickname": "李*",
            "phone": "137****0002",
            "party_member": False,
            "points": 10,
            "reports": 1,
        },
    ]
    for secret in ("13800000001", "王建国", "李四", "赵"):
        assert secret not in answer.text
    assert len(anonymous.get(f"{POINTS}/leaderboard", params={"limit": 1}).json()) == 1
    assert anonymous.get(f"{POINTS}/leaderboard", params={"limit": 0}).status_code == 422


def test_the_policy_per_subclass_changes_the_amount(client: TestClient, demo: Platform) -> None:
    operator = as_operator(client)
    assert client.get(f"{POINTS}/policy", headers=operator).json() == {
        "default_points": 10,
        "per_subclass": {},
        "party_member_bonus": 0,
    }
    policy = {"default_points": 5, "per_subclass": {"E0102": 30}, "party_member_bonus": 2}
    saved = client.put(f"{POINTS}/policy", json=policy, headers=operator)
    assert saved.status_code == 200, saved.text
    assert client.get(f"{POINTS}/policy", headers=operator).json() == policy

    rubbish = registered(client, nickname="王建国", party_member=True)  # E0102: 30 + 2
    other = citizen_report(client)
    # another subclass at the same place: the default, 5 + 2
    answer = submit(
        client,
        report(channel="citizen_qr", subclass="C0301", citizen={"phone": PHONE}),
    )
    assert answer.status_code == 201, answer.text
    assert do(client, answer.json()["id"], "register", OPERATOR).status_code == 200
    ledger = find(client)["ledger"]
    assert [(e["case_id"], e["points"]) for e in ledger] == [
        (rubbish, 32),
        (answer.json()["id"], 7),
    ]
    assert other["id"] not in {e["case_id"] for e in ledger}

    unknown = client.put(f"{POINTS}/policy", json={"per_subclass": {"E9999": 5}}, headers=operator)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["per_subclass", "E9999"]
    negative = client.put(f"{POINTS}/policy", json={"default_points": -1}, headers=operator)
    assert negative.status_code == 422
    assert negative.json()["detail"][0]["loc"] == ["body", "default_points"]
    extra = client.put(f"{POINTS}/policy", json={"bonus": 1}, headers=operator)
    assert extra.status_code == 422
    assert client.get(f"{POINTS}/policy", headers=operator).json() == policy  # unchanged


def test_a_citizen_is_stored_once_and_keeps_what_a_later_report_leaves_out(
    platform: Platform,
) -> None:
    at = platform.clock.now()
    with platform.uow() as uow:
        first = uow.points.save_citizen("hash-1", "139****0001", "小王", True, at)
        again = uow.points.save_citizen("hash-1", "139****0002", None, None, at + timedelta(1))
        other = uow.points.save_citizen("hash-2", "139****0003", None, None, at)
        uow.commit()
    assert (again.id, again.created_at) == (first.id, first.created_at)
    assert (again.phone, again.nickname, again.party_member) == ("139****0002", "小王", True)
    assert other.id != first.id and (other.nickname, other.party_member) == ("", False)
    with platform.uow() as uow:
        changed = uow.points.save_citizen("hash-1", "139****0002", "", False, at)
        uow.commit()
    assert (changed.id, changed.nickname, changed.party_member) == (first.id, "", False)
