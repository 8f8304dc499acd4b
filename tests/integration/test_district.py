"""The district link between two real chengyun platforms, each with its own database and
its own HTTP server on a free port: a sub-district (盈浦街道, on the test database of either
backend) escalates a case up to a district (a second platform on its own SQLite file); the
district works it and its result comes back down; the district sends a case down and hears
back. Delivery goes through the worker's pass and the outbox; the clock is driven.

For brevity the district platform holds the same demo territory and roster as the
sub-district (a real district holds the union of its sub-districts)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.engine import make_engine, upgrade
from chengyun.adapters.http import PeerError, post_json
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.demo.loader import load_demo
from chengyun.domain.access import Role, ScopeKind
from chengyun.domain.cases import Action, Channel
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.senders import build_sender
from chengyun.entrypoints.worker import run_once
from chengyun.services.accounts import issue_token, provision_accounts
from chengyun.services.cases import ReportCommand, act, report_case
from chengyun.services.delivery import MAX_ATTEMPTS
from chengyun.services.records import NewAccount
from tests.factories import CENTRE, OPERATOR
from tests.servers import ServedApp, free_port

SUB_DISTRICT = "310118002"
DISTRICT = "310118"


def _account(platform: Platform, username: str, code: str) -> str:
    """A system account for a linked platform (its scope code is the peer's code) and a
    token of it that does not expire."""
    provision_accounts(
        platform.uow(),
        platform.clock,
        [NewAccount(username, None, Role.SYSTEM.value, ScopeKind.SUB_DISTRICT.value, code)],
    )
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None
    raw, _ = issue_token(platform.uow(), platform.clock, account, "district link", ttl=None)
    return raw


@dataclass
class Link:
    sub: Platform
    district: Platform
    sub_server: ServedApp
    district_server: ServedApp
    clock: DrivenClock
    sub_token: str  # the district's account at the sub-district (for direct calls)
    district_token: str  # the sub-district's account at the district

    def pass_on(self, platform: Platform) -> Any:
        return run_once(platform, build_sender(platform))


@pytest.fixture(scope="session")
def district_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district's database, migrated and holding the demo, built once and copied."""
    path = tmp_path_factory.mktemp("district") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    platform = Platform(Settings(mode="test"), engine_override=engine)
    load_demo(platform.uow(), DrivenClock(datetime(2020, 6, 24, 9, 0, tzinfo=CHINA_TZ)))
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def district_engine(district_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "district.sqlite3"
    shutil.copyfile(district_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def link(
    demo: Platform, district_engine: Engine, clock: DrivenClock, tmp_path: Path
) -> Iterator[Link]:
    sub_port, district_port = free_port(), free_port()
    district = Platform(
        Settings(
            mode="test",
            data_dir=tmp_path / "district",
            database_url=district_engine.url.render_as_string(hide_password=False),
            territory_refresh_seconds=0,
        ),
        clock=clock,
        engine_override=district_engine,
    )
    to_district = _account(district, "yingpu", SUB_DISTRICT)
    to_sub = _account(demo, "qingpu-district", DISTRICT)
    sub = Platform(
        demo.settings.model_copy(
            update={
                "district_code": SUB_DISTRICT,
                "district_url": f"http://127.0.0.1:{district_port}",
                "district_token": to_district,
            }
        ),
        clock=clock,
        engine_override=demo.engine,
    )
    district.settings = district.settings.model_copy(
        update={
            "district_code": DISTRICT,
            "district_peers": {
                SUB_DISTRICT: {"url": f"http://127.0.0.1:{sub_port}", "token": to_sub}
            },
        }
    )
    # one app each: stopped and started again on its port, a peer goes down and comes back
    servers = (
        ServedApp(create_app(platform=sub), sub_port),
        ServedApp(create_app(platform=district), district_port),
    )
    for server in servers:
        server.start()
    try:
        yield Link(sub, district, *servers, clock, to_sub, to_district)
    finally:
        for server in servers:
            server.stop()


# --- helpers ---------------------------------------------------------------------------------


def _report(platform: Platform, description: str, position: tuple[float, float] = CENTRE) -> int:
    command = ReportCommand(
        channel=Channel.PATROL,
        subclass="E0102",
        lng=position[0],
        lat=position[1],
        description=description,
    )
    return report_case(platform.uow(), platform.cases, command).record.id


def _escalate_to_district(platform: Platform, case_id: int) -> None:
    for _ in range(5):  # handler → department line → … → command centre → district
        act(
            platform.uow(),
            platform.cases,
            case_id,
            Action.ESCALATE,
            OPERATOR,
            {"reason": "街道无法协调 / beyond the sub-district"},
        )


def _district_cases(platform: Platform) -> list[Any]:
    with platform.engine.connect() as c:
        return list(
            c.execute(
                sa.select(t.cases.c.id, t.cases.c.number, t.cases.c.status).where(
                    t.cases.c.channel == Channel.DISTRICT.value
                )
            )
        )


def _syncs(platform: Platform, case_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    with platform.uow() as uow:
        record = uow.cases.get(case_id)
    assert record is not None
    return [
        (e.data["peer_status"], e.note, dict(e.data))
        for e in record.case.events
        if e.action is Action.DISTRICT_SYNC
    ]


def _outbox(platform: Platform, topic: str) -> list[Any]:
    with platform.engine.connect() as c:
        return list(
            c.execute(sa.select(t.outbox).where(t.outbox.c.topic == topic).order_by(t.outbox.c.id))
        )


def _work_to_closed(platform: Platform, case_id: int, result: str) -> None:
    def do(action: Action, actor: str, **params: Any) -> None:
        act(platform.uow(), platform.cases, case_id, action, actor, params)

    with platform.uow() as uow:
        record = uow.cases.get(case_id)
    assert record is not None
    assignee = record.case.assignee
    assert assignee is not None, record.extra.get("dispatch_reason")
    do(Action.ACCEPT, assignee)
    do(Action.HANDLE, assignee, note=result)
    do(Action.CHECK, OPERATOR, passed=True)
    do(Action.CLOSE, OPERATOR)


# --- the tests -------------------------------------------------------------------------------


def test_a_case_goes_up_is_worked_at_the_district_and_its_result_comes_down(
    link: Link,
) -> None:
    sub, district = link.sub, link.district
    case_id = _report(sub, "占道堆物，需区级协调 / goods blocking the road")
    _escalate_to_district(sub, case_id)

    first = link.pass_on(sub)
    assert first.delivery.failed == 0
    [up] = _outbox(sub, "district")
    assert up.delivered_at is not None

    [there] = _district_cases(district)
    with district.uow() as uow:
        received = uow.cases.get(there.id)
    assert received is not None
    origin = received.extra["district"]
    assert origin["from"] == SUB_DISTRICT and origin["kind"] == "case.up"
    with sub.uow() as uow:
        mine = uow.cases.get(case_id)
    assert mine is not None
    assert origin["peer_number"] == mine.case.number
    assert received.case.description.startswith("占道堆物")

    # the district took it: "accepted" goes down with the district's reference
    link.pass_on(district)
    [(status, _, data)] = _syncs(sub, case_id)
    assert status == "accepted"
    assert data["reference"] == there.number and data["peer"] == DISTRICT

    # closed there: the result comes down and is on the sub-district's timeline
    _work_to_closed(district, there.id, "已清理占道物品 / the road is clear")
    link.pass_on(district)
    assert [s for s, _, _ in _syncs(sub, case_id)] == ["accepted", "closed"]
    assert _syncs(sub, case_id)[-1][1] == "已清理占道物品 / the road is clear"
    notices = _outbox(sub, "district_result")
    assert [n.payload["peer_status"] for n in notices] == ["accepted", "closed"]
    assert link.pass_on(district).delivery.delivered == 0  # nothing new to tell

    # the same message again (a retry after a lost answer): the same answer, no new case
    again = _resend_up(link, mine.case.number)
    assert again["case"]["reference"] == there.number
    assert again["message_id"] == f"up:{SUB_DISTRICT}:{mine.case.number}"
    assert len(_district_cases(district)) == 1
    assert _resend_up(link, mine.case.number) == again

    _only_linked_platforms_speaking_for_themselves_are_heard(link, again["message_id"])
    assert len(_district_cases(district)) == 1


def _resend_up(link: Link, number: str) -> Any:
    with link.sub.uow() as uow:
        record = uow.cases.get_by_number(number)
    assert record is not None
    from chengyun.services.district import case_message

    body = case_message(
        record, "case.up", f"up:{SUB_DISTRICT}:{number}", SUB_DISTRICT, link.clock.now(), "again"
    )
    return post_json(
        f"{link.district_server.url}/api/v1/district/messages",
        body,
        headers={"Authorization": f"Bearer {link.district_token}"},
    )


def test_the_district_sends_a_case_down_and_hears_back(link: Link) -> None:
    sub, district = link.sub, link.district
    mine = _report(district, "区平台受理的12345工单 / an order the district took")
    with TestClient(create_app(platform=district), raise_server_exceptions=False) as client:
        with district.uow() as uow:
            operator = uow.accounts.by_username(OPERATOR)
        assert operator is not None
        raw, _ = issue_token(district.uow(), district.clock, operator, "test")
        headers = {"Authorization": f"Bearer {raw}"}
        url = f"/api/v1/district/cases/{mine}/send-down"
        unknown = client.post(url, json={"to": "310118999"}, headers=headers)
        assert unknown.status_code == 422 and "310118999" in unknown.json()["message"]
        sent = client.post(url, json={"to": SUB_DISTRICT, "note": "请处置"}, headers=headers)
        assert sent.status_code == 202, sent.text
        twice = client.post(url, json={"to": SUB_DISTRICT}, headers=headers)
        assert twice.status_code == 409

    link.pass_on(district)
    [down] = _district_cases(sub)
    with sub.uow() as uow:
        record = uow.cases.get(down.id)
    assert record is not None
    assert record.extra["district"]["kind"] == "case.down"
    assert "handle_due_at" in record.extra  # the district's deadline binds

    link.pass_on(sub)
    assert [s for s, _, _ in _syncs(district, mine)] == ["accepted"]
    _work_to_closed(sub, down.id, "已处置 / done")
    link.pass_on(sub)
    assert [s for s, _, _ in _syncs(district, mine)] == ["accepted", "closed"]
    # a case sent down never goes back up as a new case, even when escalated to the top
    _escalate_rest(sub, down.id)
    link.pass_on(sub)
    assert len(_district_cases(district)) == 0

    # a report outside the sub-district is forwarded up; outside the district's territory
    # too, it comes back "returned" — noted on the forwarded case, the centre told
    outside = _report(sub, "辖区外 / outside", position=(121.30, 31.30))
    link.pass_on(sub)
    [there] = _district_cases(district)
    assert there.status == "forwarded"
    link.pass_on(district)
    [notice] = [n for n in _outbox(sub, "district_result") if n.case_id == outside]
    assert notice.payload["peer_status"] == "returned"
    assert "outside" in notice.payload["result"]
    assert _syncs(sub, outside) == []  # closed here: noted only, no event


def _escalate_rest(platform: Platform, case_id: int) -> None:
    """Reopen and escalate a case to the district level."""
    act(platform.uow(), platform.cases, case_id, Action.REOPEN, OPERATOR, {"reason": "复发"})
    _escalate_to_district(platform, case_id)


def test_the_district_down_for_an_hour_then_back_and_dead_letters_replayed(
    link: Link,
) -> None:
    sub, district, clock = link.sub, link.district, link.clock
    link.district_server.stop()
    case_id = _report(sub, "区平台停机期间升级 / escalated while the district is down")
    _escalate_to_district(sub, case_id)

    failures, back_at = 0, clock.now() + timedelta(hours=1)
    while clock.now() < back_at:  # an hour down: retried with backoff, never lost
        failures += link.pass_on(sub).delivery.failed
        assert link.pass_on(sub).delivery.failed == 0  # backoff: not tried again at once
        [up] = _outbox(sub, "district")
        assert up.delivered_at is None and not up.dead
        assert "district/messages" in up.last_error  # a clear error naming the peer
        clock.tick(timedelta(minutes=10))
    assert 5 <= failures == up.attempts < MAX_ATTEMPTS

    link.district_server.start()
    [up] = _outbox(sub, "district")
    clock.set(max(clock.now(), up.available_at))  # the next try (backoff: at most an hour)
    assert link.pass_on(sub).delivery.delivered >= 1  # the outbox drains by itself
    assert len(_district_cases(district)) == 1
    link.pass_on(district)
    assert [s for s, _, _ in _syncs(sub, case_id)] == ["accepted"]

    # down for longer: after the last attempt a dead letter, visible, replayed once
    link.district_server.stop()
    second = _report(sub, "区平台长时间停机 / the district is down for long")
    _escalate_to_district(sub, second)
    for _ in range(MAX_ATTEMPTS):
        link.pass_on(sub)
        clock.tick(timedelta(hours=1))
    [_, letter] = _outbox(sub, "district")
    assert letter.dead and letter.attempts == MAX_ATTEMPTS and letter.delivered_at is None
    assert link.pass_on(sub).delivery.failed == 0  # dead letters wait for an operator

    with TestClient(create_app(platform=sub), raise_server_exceptions=False) as client:
        admin = _admin(sub, client)
        dead = client.get("/api/v1/outbox", params={"state": "dead"}, headers=admin).json()
        assert dead["counts"]["dead"] == 1
        [shown] = dead["items"]
        assert shown["id"] == letter.id and shown["state"] == "dead"
        assert shown["topic"] == "district" and "failed" in shown["last_error"]

        link.district_server.start()
        replayed = client.post(f"/api/v1/outbox/{letter.id}/replay", headers=admin)
        assert replayed.status_code == 200 and replayed.json()["ids"] == [letter.id]
    assert link.pass_on(sub).delivery.delivered >= 1
    assert link.pass_on(sub).delivery.delivered == 0
    assert len(_district_cases(district)) == 2


def _admin(platform: Platform, client: TestClient) -> dict[str, str]:
    provision_accounts(
        platform.uow(),
        platform.clock,
        [NewAccount("district-admin", None, "administrator", "sub_district")],
    )
    with platform.uow() as uow:
        account = uow.accounts.by_username("district-admin")
    assert account is not None
    raw, _ = issue_token(platform.uow(), platform.clock, account, "test")
    return {"Authorization": f"Bearer {raw}"}


def _only_linked_platforms_speaking_for_themselves_are_heard(link: Link, used: str) -> None:
    url = f"{link.district_server.url}/api/v1/district/messages"
    message = {
        "message_id": "up:310118003:X1",
        "kind": "case.up",
        "sent_at": link.clock.now().isoformat(),
        "from": "310118003",
        "case": {
            "number": "X1",
            "subclass": "E0102",
            "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
        },
    }
    auth = {"Authorization": f"Bearer {link.district_token}"}
    with pytest.raises(PeerError) as wrong_sender:  # the account speaks for 310118002 only
        post_json(url, message, headers=auth)
    assert wrong_sender.value.status == 403
    with pytest.raises(PeerError) as bad:
        post_json(url, {**message, "from": SUB_DISTRICT, "case": {"number": "X1"}}, headers=auth)
    assert bad.value.status == 422 and "subclass" in str(bad.value)
    unknown = {**message, "from": SUB_DISTRICT, "case": {**message["case"], "subclass": "E9999"}}
    with pytest.raises(PeerError) as refused:
        post_json(url, unknown, headers=auth)
    assert refused.value.status == 422 and "E9999" in str(refused.value)
    # a status about a case this platform never sent is refused
    status = {
        "message_id": "status:x",
        "kind": "status",
        "sent_at": link.clock.now().isoformat(),
        "from": SUB_DISTRICT,
        "case": {"reference": "E0102202006240099", "number": "N1", "status": "closed"},
    }
    with pytest.raises(PeerError) as missing:
        post_json(url, status, headers=auth)
    assert missing.value.status == 404
    # a message id used before, for another case: a conflict, not a repeat
    reused = {**message, "message_id": used, "from": SUB_DISTRICT}
    with pytest.raises(PeerError) as conflict:
        post_json(url, reused, headers=auth)
    assert conflict.value.status == 409 and "message_id" in str(conflict.value)


def test_settings_refuse_a_half_configured_link() -> None:
    with pytest.raises(ValueError, match="CHENGYUN_DISTRICT_CODE"):
        Settings(district_url="https://district.example", district_token="cy_x")
    with pytest.raises(ValueError, match="CHENGYUN_DISTRICT_TOKEN"):
        Settings(district_url="https://district.example", district_code="310118002")
    with pytest.raises(ValueError, match="token is missing"):
        Settings(district_code="310118", district_peers={"310118002": {"url": "https://yp"}})
    linked = Settings(
        district_code="310118",
        district_peers={"310118002": {"url": "https://yp.example", "token": "cy_x"}},
    )
    assert linked.district_peers["310118002"]["url"] == "https://yp.example"
