"""What the intake speed-ups must not change: bearer tokens remembered per process still
stop working when revoked, disabled or expired; the plain-ASGI middleware still refuses
NULs (and hands the body it read on), sets the security headers and audits each
successful change exactly once, with the route and the principal. A new case is one
transaction holding its audit record, answered from what it wrote; a repeated key is
answered as before; concurrent appends keep one unbroken audit chain."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.account_repository import ACCOUNTS
from chengyun.adapters.db.read_cache import changed_here
from chengyun.clock import DrivenClock
from chengyun.domain.access import Principal, Role
from chengyun.domain.cases import Channel
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import (
    AuditEntry,
    TokenCache,
    issue_token,
    provision_accounts,
    revoke_token,
    verify_audit,
)
from chengyun.services.cases import ReportCommand, report_case
from chengyun.services.records import NewAccount
from tests.factories import GATEWAY, as_reporter, report, statements_sent, submit, write_commits


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _account(platform: Platform, username: str) -> tuple[str, int]:
    provision_accounts(
        platform.uow(),
        platform.clock,
        [NewAccount(username, None, "operator", "sub_district", None)],
    )
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None
    raw, token = issue_token(platform.uow(), platform.clock, account, "phone")
    return raw, token.id


def _revision(platform: Platform) -> int:
    with platform.uow() as uow:
        return uow.accounts.revision()


def test_a_token_is_read_once_and_another_process_revoking_it_is_seen_within_a_second(
    platform: Platform,
) -> None:
    raw, token_id = _account(platform, "cache-op")
    ticks = Ticks()
    elsewhere = 0  # changes this "process" made itself: none, the revocation is another's
    cache = TokenCache(lambda: _revision(platform), lambda: elsewhere, monotonic=ticks)
    first = cache.principal(platform.uow(), platform.clock, raw)
    assert isinstance(first, Principal) and first.username == "cache-op"
    ticks.now += 0.5
    with statements_sent(platform.engine) as seen:
        assert cache.principal(platform.uow(), platform.clock, raw) is first
    assert seen == []  # no statement at all: served from the cache

    with platform.uow() as uow:  # another process revokes the token
        assert uow.accounts.revoke_token(token_id, None, platform.clock.now())
        uow.commit()
    ticks.now += 0.4  # within the period the revision is not read again
    assert cache.principal(platform.uow(), platform.clock, raw) is first
    ticks.now += 0.6
    assert cache.principal(platform.uow(), platform.clock, raw) is None
    assert cache.principal(platform.uow(), platform.clock, raw) is None  # never remembered


def test_a_disabled_account_and_an_expired_token_stop_at_once_in_this_process(
    platform: Platform, clock: DrivenClock
) -> None:
    raw, _ = _account(platform, "cache-dis")
    cache = TokenCache(
        lambda: _revision(platform), lambda: changed_here(ACCOUNTS), monotonic=Ticks()
    )
    assert cache.principal(platform.uow(), clock, raw) is not None
    with platform.uow() as uow:
        account = uow.accounts.by_username("cache-dis")
        assert account is not None
        uow.accounts.set_disabled(account.id, True)
        uow.commit()
    assert cache.principal(platform.uow(), clock, raw) is None  # same tick: no re-read
    with platform.uow() as uow:
        uow.accounts.set_disabled(account.id, False)
        uow.commit()
    assert cache.principal(platform.uow(), clock, raw) is not None

    clock.tick(timedelta(hours=12, seconds=1))  # the default lifetime of a token
    assert cache.principal(platform.uow(), clock, raw) is None
    assert cache.principal(platform.uow(), clock, "not-a-token") is None


def test_a_revoked_token_is_refused_on_the_next_request(
    anonymous: TestClient, platform: Platform
) -> None:
    raw, token_id = _account(platform, "cache-http")
    headers = {"Authorization": f"Bearer {raw}"}
    assert anonymous.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert anonymous.get("/api/v1/auth/me", headers=headers).status_code == 200
    with platform.uow() as uow:
        account = uow.accounts.by_username("cache-http")
    assert account is not None
    revoke_token(
        platform.uow(),
        platform.clock,
        Principal(account.id, account.username, Role(account.role)),
        token_id,
    )
    refused = anonymous.get("/api/v1/auth/me", headers=headers)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


def _audit_actions(platform: Platform) -> list[tuple[str, str, str]]:
    with platform.engine.connect() as c:
        rows = c.execute(
            sa.select(t.audit_log.c.actor, t.audit_log.c.action, t.audit_log.c.target).order_by(
                t.audit_log.c.id
            )
        ).all()
    return [(r.actor, r.action, r.target) for r in rows]


def test_each_successful_change_is_audited_once_with_its_route_and_principal(
    client: TestClient, demo: Platform
) -> None:
    gateway = as_reporter(client, {})  # its token is made (and audited) first
    before = len(_audit_actions(demo))
    created = submit(client, report(channel="citizen_qr"))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    refused = client.post("/api/v1/cases", json={"channel": "citizen_qr"}, headers=gateway)
    assert refused.status_code == 422
    assert client.get(f"/api/v1/cases/{case_id}").status_code == 200  # a read: no record
    after = _audit_actions(demo)[before:]
    assert after == [(GATEWAY, "POST /api/v1/cases", "/api/v1/cases")]
    records, breaks, _ = verify_audit(demo.uow())
    assert breaks == [] and records > before


def test_the_nul_guard_replays_the_body_and_headers_are_set_once(
    client: TestClient, demo: Platform
) -> None:
    body = report(channel="citizen_qr")
    body["description"] = "井盖缺失" + " 很长的描述" * 330  # a long body, handed on whole
    created = submit(client, body)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == body["description"]
    assert created.headers["x-frame-options"] == "DENY"
    assert created.headers.get_list("content-security-policy") == [
        created.headers["content-security-policy"]
    ]
    body["description"] = "bad\u0000text"
    refused = submit(client, body)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["type"] == "nul_character"
    assert client.get("/api/v1/cases", params={"q": "a\x00b"}).status_code == 422
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"


def test_a_new_case_is_one_transaction_with_its_audit_record(
    client: TestClient, demo: Platform
) -> None:
    gateway = as_reporter(client, {})
    body = report(channel="citizen_qr")
    warm = client.post("/api/v1/cases", json=body, headers={**gateway, "Idempotency-Key": "w-1"})
    assert warm.status_code == 201, warm.text  # the token is read (and touched) once
    before = len(_audit_actions(demo))
    commits = write_commits(demo.engine)
    with statements_sent(demo.engine) as statements:
        created = client.post(
            "/api/v1/cases", json=body, headers={**gateway, "Idempotency-Key": "n-1"}
        )
    assert created.status_code == 201, created.text
    assert commits == ["commit"]
    assert not [s for s in statements if "FROM idempotency_keys" in s]  # a new key: stored only
    assert _audit_actions(demo)[before:] == [(GATEWAY, "POST /api/v1/cases", "/api/v1/cases")]


def test_the_answer_to_a_new_case_is_what_reading_it_gives(
    client: TestClient, demo: Platform
) -> None:
    created = submit(client, report(channel="patrol"), key="same-as-read")
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["assignee"]["name"] and answer["subclass"]["name_zh"]
    read = client.get(f"/api/v1/cases/{answer['id']}").json()
    assert {k: _moments(read[k]) for k in answer} == {k: _moments(v) for k, v in answer.items()}


def _moments(value: object) -> object:
    """Times as instants (SQLite gives them back in UTC, the answer in China time)."""
    if isinstance(value, dict):
        return {k: _moments(v) for k, v in value.items()}
    if isinstance(value, str) and value[:4].isdigit() and "T" in value:
        return datetime.fromisoformat(value)
    return value


def test_a_repeated_key_is_answered_and_audited_as_before(
    client: TestClient, demo: Platform
) -> None:
    gateway = as_reporter(client, {})
    headers = {**gateway, "Idempotency-Key": "repeat-1"}
    body = report(channel="citizen_qr")
    first = client.post("/api/v1/cases", json=body, headers=headers)
    assert first.status_code == 201, first.text
    before = len(_audit_actions(demo))
    again = client.post("/api/v1/cases", json=body, headers=headers)
    assert again.status_code == 200 and _moments(again.json()) == _moments(first.json())
    assert again.headers["idempotent-replayed"] == "true"
    # refused as a new report (no such subclass), but the key was used: the key's answer
    refused = client.post("/api/v1/cases", json={**body, "subclass": "Z9999"}, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _audit_actions(demo)[before:] == [(GATEWAY, "POST /api/v1/cases", "/api/v1/cases")]
    assert client.get("/api/v1/cases").json()["total"] == 1


def test_concurrent_reports_keep_one_unbroken_audit_chain(demo: Platform) -> None:
    if demo.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers are a PostgreSQL matter; SQLite has one writer")
    # one subclass per thread: reports of one subclass and day wait for each other anyway
    # (the case-number sequence), so only the chain's own lock keeps these apart
    subclasses = ["E0102", "E0504", "C0301", "E0101", "E0103", "E0201"]
    before, _, _ = verify_audit(demo.uow())
    barrier = threading.Barrier(len(subclasses))
    failures: list[BaseException] = []

    def reporter(subclass: str) -> None:
        command = ReportCommand(Channel.CITIZEN_QR, subclass, lng=121.110, lat=31.150)
        barrier.wait()
        try:
            for i in range(8):
                entry = AuditEntry(subclass, "POST /api/v1/cases", "/api/v1/cases", {"i": i})
                key = f"chain-{subclass}-{i}"
                report_case(demo.uow(), demo.cases, command, key, key, entry)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=reporter, args=(s,)) for s in subclasses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    records, breaks, _ = verify_audit(demo.uow())
    assert breaks == [] and records == before + 8 * len(subclasses)
