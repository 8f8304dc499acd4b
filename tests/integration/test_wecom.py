"""Government WeChat (政务微信) and SMS against a local fake server that implements the
documented endpoints: text cards through the outbox, token expiry mid-batch, a peer that
is down, unknown members falling back to SMS, and the staff sign-in (OAuth) end to end."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.config import Settings
from chengyun.domain.cases import Channel
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.api.security import SESSION_COOKIE
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.senders import build_sender
from chengyun.services.cases import ReportCommand, report_case
from chengyun.services.delivery import deliver_outbox
from tests.factories import CENTRE, OPERATOR, statements_sent
from tests.fakes.wecom_server import AGENT_ID, CORP_ID, SECRET, SMS_KEY, FakeWeCom, running

PUBLIC = "https://cy.example.gov.cn"


@pytest.fixture
def fake(demo: Platform) -> Iterator[FakeWeCom]:
    """The fake server knowing every person of the demo roster as a member."""
    with demo.uow() as uow:
        numbers = {p.number.lower() for p in uow.forces.roster().people}
    with running(FakeWeCom(users=numbers)) as server:
        yield server


def configured(demo: Platform, fake: FakeWeCom, **more: object) -> Platform:
    """The demo platform with government WeChat (and optionally SMS) pointed at the fake."""
    settings = demo.settings.model_copy(
        update={
            "wecom_base_url": fake.url,
            "wecom_authorize_url": f"{fake.url}/connect/oauth2/authorize",
            "wecom_corp_id": CORP_ID,
            "wecom_secret": SECRET,
            "wecom_agent_id": AGENT_ID,
            "public_base_url": PUBLIC,
            **more,
        }
    )
    return Platform(settings, clock=demo.clock, engine_override=demo.engine)


def new_case(platform: Platform, subclass: str = "E0102") -> int:
    command = ReportCommand(
        channel=Channel.PATROL, subclass=subclass, lng=CENTRE[0], lat=CENTRE[1], reporter=None
    )
    return report_case(platform.uow(), platform.cases, command).record.id


def outbox(platform: Platform) -> list[sa.Row[Any]]:
    with platform.engine.connect() as c:
        return list(c.execute(sa.select(t.outbox).order_by(t.outbox.c.id)))


def message_ids(fake: FakeWeCom) -> list[int]:
    """The outbox ids of the cards received (each card's link ends in #n<id>)."""
    return [int(m["url"].rsplit("#n", 1)[1]) for m in fake.messages]


def task_recipient(platform: Platform, case_id: int) -> str:
    rows = [r for r in outbox(platform) if r.case_id == case_id and r.topic == "task"]
    assert len(rows) == 1
    return str(rows[0].recipient)


def test_a_task_arrives_as_a_text_card_linking_to_the_case(demo: Platform, fake: FakeWeCom) -> None:
    platform = configured(demo, fake)
    case_id = new_case(platform)
    assignee = task_recipient(platform, case_id)

    result = deliver_outbox(platform.uow(), platform.clock, build_sender(platform))

    assert result.failed == 0 and result.delivered == len(outbox(platform))
    cards = [m for m in fake.messages if m["touser"] == assignee]
    assert len(cards) == 1
    card = cards[0]
    with platform.uow() as uow:
        record = uow.cases.get(case_id)
    assert record is not None
    assert card["title"].startswith("新任务 New task") and record.case.number in card["title"]
    assert card["url"].startswith(f"{PUBLIC}/m/tasks/{case_id}#n")
    assert "E0102" in card["description"] and "签收时限" in card["description"]
    assert "Accept by" in card["description"] and card["btntxt"] == "详情"
    assert all(r.delivered_at is not None for r in outbox(platform))
    assert fake.gettoken_calls == 1  # the token is cached
    with platform.engine.connect() as c:  # …and shared with the other processes
        stored = c.execute(sa.text("SELECT token FROM wecom_access_tokens")).scalar()
    assert stored == fake.tokens[-1].value


def test_the_card_links_to_the_command_centre_without_phone_pages(
    demo: Platform, fake: FakeWeCom
) -> None:
    platform = configured(demo, fake, wecom_link_phone_pages=False)
    case_id = new_case(platform)
    deliver_outbox(platform.uow(), platform.clock, build_sender(platform))
    assert fake.messages[0]["url"].startswith(f"{PUBLIC}/command/cases/{case_id}#n")


def test_a_token_expiring_mid_batch_loses_and_doubles_nothing(
    demo: Platform, fake: FakeWeCom
) -> None:
    platform = configured(demo, fake)
    for _ in range(10):
        new_case(platform)
    expected = [r.id for r in outbox(platform)]
    assert len(expected) >= 10
    fake.expire_after_calls = 3  # the token dies after the 3rd message

    result = deliver_outbox(platform.uow(), platform.clock, build_sender(platform))

    assert (result.delivered, result.failed) == (len(expected), 0)
    assert sorted(message_ids(fake)) == expected  # every message exactly once
    assert len(fake.tokens) > 1 and fake.gettoken_calls == len(fake.tokens)
    assert all(r.delivered_at is not None and r.last_error == "" for r in outbox(platform))


def test_a_token_revoked_between_batches_is_renewed_once(demo: Platform, fake: FakeWeCom) -> None:
    platform = configured(demo, fake)
    sender = build_sender(platform)
    new_case(platform)
    deliver_outbox(platform.uow(), platform.clock, sender)
    fake.expire_token()
    new_case(platform)
    result = deliver_outbox(platform.uow(), platform.clock, sender)
    assert result.failed == 0 and len(fake.tokens) == 2
    assert len(message_ids(fake)) == len(set(message_ids(fake))) == len(outbox(platform))


def test_a_peer_that_is_down_is_retried_and_the_outbox_drains_when_it_is_back(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    platform = configured(demo, fake)
    sender = build_sender(platform)
    for _ in range(3):
        new_case(platform)
    waiting = len(outbox(platform))
    fake.down = True

    first = deliver_outbox(platform.uow(), clock, sender)
    assert (first.delivered, first.failed, first.dead) == (0, waiting, 0)
    assert all("503" in r.last_error and r.delivered_at is None for r in outbox(platform))
    assert deliver_outbox(platform.uow(), clock, sender).failed == 0  # backing off

    fake.down = False
    clock.tick(timedelta(seconds=31))
    back = deliver_outbox(platform.uow(), clock, sender)
    assert (back.delivered, back.failed) == (waiting, 0)
    assert sorted(message_ids(fake)) == [r.id for r in outbox(platform)]


def test_rate_limit_and_busy_are_retried_later(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    platform = configured(demo, fake)
    sender = build_sender(platform)
    new_case(platform)
    fake.rate_limited, fake.busy = 1, 1
    assert deliver_outbox(platform.uow(), clock, sender, batch=1).failed == 1
    assert "45009" in outbox(platform)[0].last_error
    clock.tick(timedelta(seconds=31))
    assert deliver_outbox(platform.uow(), clock, sender, batch=1).failed == 1
    assert "-1" in outbox(platform)[0].last_error
    clock.tick(timedelta(minutes=2))
    assert deliver_outbox(platform.uow(), clock, sender).failed == 0
    assert len(fake.messages) == len(outbox(platform))


def test_a_lost_answer_does_not_double_the_card(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    platform = configured(demo, fake)
    sender = build_sender(platform)
    new_case(platform)
    fake.lose_answers = 1  # the server sends the card but the answer never arrives
    assert deliver_outbox(platform.uow(), clock, sender).failed == 1
    assert len(fake.messages) == 1
    clock.tick(timedelta(seconds=31))
    assert deliver_outbox(platform.uow(), clock, sender).delivered == 1
    assert len(fake.messages) == 1  # the server's duplicate check dropped the repeat


def test_someone_unknown_to_wechat_gets_an_sms(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    platform = configured(demo, fake, sms_gateway_url=f"{fake.url}/sms", sms_gateway_key=SMS_KEY)
    case_id = new_case(platform)
    assignee = task_recipient(platform, case_id)
    fake.users.discard(assignee.lower())

    assert deliver_outbox(platform.uow(), clock, build_sender(platform)).failed == 0

    with platform.uow() as uow:
        person = uow.forces.get(assignee)
    assert person is not None
    texts = [s for s in fake.sms if s["to"] == person.phone]
    assert len(texts) == 1
    assert "新任务" in texts[0]["text"] and f"/m/tasks/{case_id}" in texts[0]["text"]
    assert not [m for m in fake.messages if m["touser"] == assignee]


def test_unknown_to_wechat_without_sms_fails_clearly(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    platform = configured(demo, fake)
    case_id = new_case(platform)
    assignee = task_recipient(platform, case_id)
    fake.users.discard(assignee.lower())
    assert deliver_outbox(platform.uow(), clock, build_sender(platform)).failed == 1
    error = next(r.last_error for r in outbox(platform) if r.recipient == assignee)
    assert f"cannot reach {assignee}" in error and "wecom users import" in error
    assert "不在政务微信中" in error


def test_a_mapped_user_id_is_used_and_imported_all_or_nothing(
    demo: Platform, fake: FakeWeCom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = configured(demo, fake)
    case_id = new_case(platform)
    assignee = task_recipient(platform, case_id)
    fake.users.add("zhangsan")
    sheet = tmp_path / "users.csv"
    sheet.write_text(f"人员编号,政务微信账号\n{assignee},ZhangSan\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("person_number,userid\nNOBODY,x\nYPC-ZB01,bad id\n", encoding="utf-8")
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", demo.settings.resolved_database_url)
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    from chengyun.entrypoints.cli import app

    refused = CliRunner().invoke(app, ["wecom", "users", "import", str(bad)])
    assert refused.exit_code == 1
    assert "NOBODY" in refused.output and "userid" in refused.output
    done = CliRunner().invoke(app, ["wecom", "users", "import", str(sheet)])
    assert done.exit_code == 0, done.output

    deliver_outbox(platform.uow(), platform.clock, build_sender(platform))
    assert [m["touser"] for m in fake.messages if f"/m/tasks/{case_id}#" in m["url"]] == [
        "ZhangSan"
    ]


def test_without_any_channel_messages_are_recorded(demo: Platform) -> None:
    new_case(demo)
    sender = build_sender(demo)
    with statements_sent(demo.engine) as statements:
        result = deliver_outbox(demo.uow(), demo.clock, sender)
    assert result.failed == 0 and result.delivered == len(outbox(demo)) > 0
    # the case would only make a card, and none is sent: it is not read
    assert not [s for s in statements if "FROM cases" in s]


def test_a_round_of_recorded_messages_reads_the_roster_once(demo: Platform) -> None:
    sender = build_sender(demo)
    counted: list[tuple[int, int]] = []
    for cases in (1, 4):
        for _ in range(cases):
            new_case(demo)
        with statements_sent(demo.engine) as statements:
            result = deliver_outbox(demo.uow(), demo.clock, sender)
        assert result.failed == 0
        counted.append((result.delivered, len(statements)))
    (few, before), (more, after) = counted
    # four times the messages, the same statements: none is read per message
    assert more > few > 0 and after == before


def test_production_refuses_a_half_configuration() -> None:
    strong = "s" * 40
    with pytest.raises(ValueError, match="CHENGYUN_WECOM_SECRET"):
        Settings(mode="production", secret_key=strong, wecom_corp_id=CORP_ID)
    with pytest.raises(ValueError, match="CHENGYUN_SMS_GATEWAY_URL"):
        Settings(mode="production", secret_key=strong, sms_gateway_key="k")
    assert not Settings(mode="test", wecom_corp_id=CORP_ID).wecom_enabled


# --- staff sign-in --------------------------------------------------------------------------


def _authorize(location: str) -> str:
    """Follow the authorize page (the fake signs ``fake.signed_in`` in) to our callback."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(location, timeout=10)
    answer.value.close()
    assert answer.value.code == 302
    back = answer.value.headers["Location"]
    assert back.startswith(f"{PUBLIC}/login/wecom/callback?")
    parts = urlsplit(back)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def browser(demo: Platform, fake: FakeWeCom) -> Iterator[TestClient]:
    with TestClient(
        create_app(platform=configured(demo, fake)), raise_server_exceptions=False
    ) as client:
        yield client


def test_signing_in_with_government_wechat_lands_on_the_command_centre(
    browser: TestClient, fake: FakeWeCom
) -> None:
    page = browser.get("/login")
    assert "政务微信登录 / Sign in with government WeChat" in page.text
    fake.signed_in = OPERATOR

    start = browser.get("/login/wecom", params={"next": "/command"}, follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(f"{fake.url}/connect/oauth2/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["appid"] == [CORP_ID] and query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == [f"{PUBLIC}/login/wecom/callback"]
    assert query["agentid"] == [str(AGENT_ID)] and location.endswith("#wechat_redirect")
    assert re.fullmatch(r"[0-9a-f]{64}", query["state"][0])

    callback = browser.get(_authorize(location.split("#")[0]), follow_redirects=False)
    assert callback.status_code == 303 and callback.headers["location"] == "/command"
    assert browser.cookies.get(SESSION_COOKIE)

    command = browser.get("/command", headers={"accept": "text/html"}, follow_redirects=False)
    assert command.status_code == 200 and OPERATOR in command.text
    me = browser.get("/api/v1/auth/me")
    if me.status_code == 200:  # the same account as the password sign-in
        assert me.json()["username"] == OPERATOR


def test_a_forged_or_foreign_state_is_refused(browser: TestClient, fake: FakeWeCom) -> None:
    fake.signed_in = OPERATOR
    start = browser.get("/login/wecom", follow_redirects=False)
    back = _authorize(start.headers["location"].split("#")[0])
    code = parse_qs(urlsplit(back).query)["code"][0]

    forged = browser.get(
        "/login/wecom/callback", params={"code": code, "state": "0" * 64}, follow_redirects=False
    )
    assert forged.status_code == 403 and "登录请求无效" in forged.text
    assert not browser.cookies.get(SESSION_COOKIE)

    browser.cookies.clear()  # another browser replaying this one's state
    replay = browser.get(back, follow_redirects=False)
    assert replay.status_code == 403 and not browser.cookies.get(SESSION_COOKIE)


def test_someone_without_an_account_is_told_so(browser: TestClient, fake: FakeWeCom) -> None:
    for who in ("stranger", "openid:o-visitor"):
        fake.signed_in = who
        start = browser.get("/login/wecom", follow_redirects=False)
        answer = browser.get(_authorize(start.headers["location"].split("#")[0]))
        assert answer.status_code == 403
        alert = re.search(r'<p class="alert" role="alert">(.*?)</p>', answer.text, re.S)
        assert alert is not None, answer.text
        assert "government WeChat user" in alert[1] or "not from a member" in alert[1], alert[1]
        assert not browser.cookies.get(SESSION_COOKIE)


def test_a_used_code_and_a_missing_configuration(
    demo: Platform, browser: TestClient, fake: FakeWeCom
) -> None:
    fake.signed_in = OPERATOR
    start = browser.get("/login/wecom", follow_redirects=False)
    back = _authorize(start.headers["location"].split("#")[0])
    assert browser.get(back, follow_redirects=False).status_code == 303
    browser.cookies.clear()
    start = browser.get("/login/wecom", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"].split("#")[0]).query)["state"][0]
    used = parse_qs(urlsplit(back).query)["code"][0]
    again = browser.get("/login/wecom/callback", params={"code": used, "state": state})
    assert again.status_code == 403 and "授权码无效" in again.text

    with TestClient(create_app(platform=demo), raise_server_exceptions=False) as plain:
        assert "政务微信登录" not in plain.get("/login").text
        assert plain.get("/login/wecom", follow_redirects=False).status_code == 404


def test_a_test_message_from_the_command_line(
    demo: Platform, fake: FakeWeCom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chengyun.entrypoints.cli import app

    monkeypatch.setenv("CHENGYUN_DATABASE_URL", demo.settings.resolved_database_url)
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    nothing = CliRunner().invoke(app, ["wecom", "test-message", OPERATOR])
    assert nothing.exit_code == 1 and "CHENGYUN_WECOM_CORP_ID" in nothing.output
    for name, value in {
        "WECOM_BASE_URL": fake.url,
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_SECRET": SECRET,
        "WECOM_AGENT_ID": str(AGENT_ID),
        "PUBLIC_BASE_URL": PUBLIC,
    }.items():
        monkeypatch.setenv(f"CHENGYUN_{name}", value)
    unknown = CliRunner().invoke(app, ["wecom", "test-message", "NOBODY-1"])
    assert unknown.exit_code == 1 and "NOBODY-1" in unknown.output
    sent = CliRunner().invoke(app, ["wecom", "test-message", OPERATOR])
    assert sent.exit_code == 0, sent.output
    assert f"{OPERATOR} via wecom" in sent.output
    assert [(m["touser"], m["title"], m["url"]) for m in fake.messages] == [
        (OPERATOR, "测试消息 Test message", f"{PUBLIC}/m/")
    ]


def test_the_command_centre_is_the_operators_on_duty_one_by_sms(
    demo: Platform, fake: FakeWeCom, clock: DrivenClock
) -> None:
    from chengyun.services.staff_messages import centre_people

    platform = configured(demo, fake, sms_gateway_url=f"{fake.url}/sms", sms_gateway_key=SMS_KEY)
    command = ReportCommand(
        channel=Channel.CITIZEN_QR, subclass="E0102", lng=CENTRE[0], lat=CENTRE[1]
    )
    case_id = report_case(platform.uow(), platform.cases, command).record.id
    assert [r.recipient for r in outbox(platform)] == ["command_centre"]
    with platform.uow() as uow:
        roster = uow.forces.roster()
    operators = centre_people(roster, platform.calendar.shift_at(clock.now()), clock.now())
    assert len(operators) >= 2 and all(p.post.value == "operator" for p in operators)
    away = operators[0]
    fake.users.discard(away.number.lower())

    assert deliver_outbox(platform.uow(), clock, build_sender(platform)).failed == 0

    assert sorted(m["touser"] for m in fake.messages) == sorted(p.number for p in operators[1:])
    assert all(m["title"].startswith("待立案 To register") for m in fake.messages)
    assert [s["to"] for s in fake.sms] == [away.phone]
    assert f"/m/tasks/{case_id}" in fake.sms[0]["text"]


def test_a_disabled_account_or_a_number_mapped_elsewhere_is_refused(
    demo: Platform, browser: TestClient, fake: FakeWeCom
) -> None:
    with demo.uow() as uow:
        uow.wecom.save_users([(OPERATOR, "zhang.san")], demo.clock.now())
        uow.commit()

    def sign_in(userid: str) -> int:
        fake.signed_in = userid
        start = browser.get("/login/wecom", follow_redirects=False)
        back = _authorize(start.headers["location"].split("#")[0])
        return browser.get(back, follow_redirects=False).status_code

    assert sign_in(OPERATOR) == 403  # the number is no longer this person's WeChat id
    assert sign_in("ZHANG.SAN") == 303  # user ids are compared without case
    browser.cookies.clear()
    with demo.uow() as uow:
        account = uow.accounts.by_username(OPERATOR)
        assert account is not None
        uow.accounts.set_disabled(account.id, True)
        uow.commit()
    assert sign_in("zhang.san") == 403
    assert not browser.cookies.get(SESSION_COOKIE)
    with demo.engine.connect() as c:
        failures = c.execute(
            sa.select(t.audit_log.c.details)
            .where(t.audit_log.c.action == "login.failed")
            .order_by(t.audit_log.c.id)
        ).scalars()
        assert [d["reason"] for d in failures] == ["unknown", "disabled"]
