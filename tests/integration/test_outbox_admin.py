"""The outbox for operators: dead letters and failing messages listed with their last error
(API, command line, page), replayed one by one or all at once — audited, and delivered once
when the peer is back."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.entrypoints.api.security import SESSION_COOKIE, session_cookie
from chengyun.entrypoints.cli import app as cli
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.worker import run, run_once
from chengyun.services.accounts import issue_token, provision_accounts
from chengyun.services.delivery import RecordingSender, deliver_due, deliver_outbox
from chengyun.services.records import NewAccount, OutboxMessage, PendingMessage
from tests.factories import Passes

runner = CliRunner()


class Down:
    """A peer that is down."""

    def send(self, message: PendingMessage) -> None:
        raise ConnectionError("peer down / 对端不可达")


def _messages(platform: Platform) -> list[int]:
    with platform.engine.connect() as c:
        return list(c.execute(sa.select(t.outbox.c.id).order_by(t.outbox.c.id)).scalars())


def _write(platform: Platform, *recipients: str) -> list[int]:
    before = set(_messages(platform))
    with platform.uow() as uow:
        for recipient in recipients:
            uow.outbox.add(
                OutboxMessage("task", recipient, {"note": "派单 / a task"}), platform.clock.now()
            )
        uow.commit()
    return [i for i in _messages(platform) if i not in before]


def _headers(platform: Platform, username: str, role: str) -> dict[str, str]:
    provision_accounts(
        platform.uow(), platform.clock, [NewAccount(username, None, role, "sub_district")]
    )
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None
    raw, _ = issue_token(platform.uow(), platform.clock, account, "test")
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def letters(platform: Platform, clock: DrivenClock) -> dict[str, list[int]]:
    """Two dead letters, one failing message and one pending (all undelivered)."""
    dead = _write(platform, "P1", "P2")
    deliver_outbox(platform.uow(), clock, Down(), max_attempts=2)
    clock.tick(timedelta(minutes=5))
    assert deliver_outbox(platform.uow(), clock, Down(), max_attempts=2).dead == 2
    failing = _write(platform, "P3")
    deliver_outbox(platform.uow(), clock, Down(), max_attempts=2)
    pending = _write(platform, "P4")
    return {"dead": dead, "failing": failing, "pending": pending}


class DownFor:
    """A peer that cannot reach one recipient."""

    def __init__(self, recipient: str) -> None:
        self.recipient = recipient

    def send(self, message: PendingMessage) -> None:
        if message.recipient == self.recipient:
            raise ConnectionError(f"{self.recipient} unreachable / 无法送达")


def test_a_round_marks_what_it_sent_and_retries_what_failed(
    platform: Platform, clock: DrivenClock
) -> None:
    ids = _write(platform, "P1", "P2", "P3")
    result = deliver_outbox(platform.uow(), clock, DownFor("P2"))
    assert (result.delivered, result.failed, result.dead) == (2, 1, 0)
    o = t.outbox.c
    with platform.engine.connect() as c:
        rows = {
            r.recipient: r
            for r in c.execute(sa.select(t.outbox).where(o.id.in_(ids)).order_by(o.id))
        }
    for sent in ("P1", "P3"):
        assert rows[sent].delivered_at == clock.now() and rows[sent].attempts == 1
        assert rows[sent].last_error == ""
    failed = rows["P2"]
    assert failed.delivered_at is None and failed.attempts == 1
    assert "P2 unreachable" in failed.last_error and failed.available_at > clock.now()
    # the retry, once due, sends only the one that failed
    clock.tick(timedelta(minutes=1))
    again = RecordingSender()
    assert deliver_outbox(platform.uow(), clock, again).delivered == 1
    assert [m.id for m in again.sent] == [rows["P2"].id]


def test_a_pass_delivers_more_than_a_round(platform: Platform, clock: DrivenClock) -> None:
    # a busy hour's backlog: a pass goes on while its rounds come back full
    ids = _write(platform, *(f"P{i}" for i in range(450)))
    sender = RecordingSender()
    assert run_once(platform, sender).delivery.delivered == 450
    assert sorted(m.id for m in sender.sent) == ids
    # at most ``rounds`` rounds a pass, so that the sweep gets its turn
    more = _write(platform, *(f"Q{i}" for i in range(25)))
    assert deliver_due(platform.uow, clock, RecordingSender(), batch=10, rounds=2).delivered == 20
    # a round in which a peer failed ends the pass; its message waits for its backoff
    more += _write(platform, *(f"R{i}" for i in range(20)))
    failing = deliver_due(platform.uow, clock, DownFor("Q22"), batch=10, rounds=5)
    assert (failing.delivered, failing.failed) == (9, 1)
    rest = deliver_due(platform.uow, clock, RecordingSender(), batch=10, rounds=5)
    assert (rest.delivered, rest.failed) == (15, 0)
    with platform.engine.connect() as c:
        undelivered = c.execute(
            sa.select(t.outbox.c.recipient).where(
                t.outbox.c.id.in_(more), t.outbox.c.delivered_at.is_(None)
            )
        ).scalars()
        assert list(undelivered) == ["Q22"]


def test_after_a_pass_that_delivered_the_next_comes_sooner(platform: Platform) -> None:
    # messages flowing: the next pass after 0.2 s, so that they go out in small rounds
    # soon after they were queued; a quiet pass waits the interval
    _write(platform, "P1", "P2")
    sender = RecordingSender()
    stop = Passes(3)
    run(platform, sender, interval=1.0, stop=stop, busy_interval=0.2)
    assert stop.waits == [0.2, 1.0, 1.0]
    assert len(sender.sent) == 2
    # never later than the interval itself
    _write(platform, "P3")
    stop = Passes(1)
    run(platform, sender, interval=0.1, stop=stop, busy_interval=0.2)
    assert stop.waits == [0.1] and len(sender.sent) == 3


def test_listing_by_state_with_the_last_error(
    client: TestClient, platform: Platform, letters: dict[str, list[int]]
) -> None:
    dead = client.get("/api/v1/outbox", params={"state": "dead"}).json()
    assert dead["counts"] == {
        "dead": len(letters["dead"]),
        "failing": len(letters["failing"]),
        "pending": len(letters["failing"]) + len(letters["pending"]),
    }
    assert sorted(i["id"] for i in dead["items"]) == letters["dead"]
    first = dead["items"][0]
    assert first["state"] == "dead" and first["attempts"] == 2
    assert first["last_error"] == "ConnectionError: peer down / 对端不可达"
    assert first["topic"] == "task" and first["recipient"] == "P2"
    failing = client.get("/api/v1/outbox", params={"state": "failing"}).json()
    assert [i["id"] for i in failing["items"]] == letters["failing"]
    item = failing["items"][0]
    assert datetime.fromisoformat(item["available_at"]) > datetime.fromisoformat(
        item["created_at"]
    )  # backoff
    paged = client.get("/api/v1/outbox", params={"state": "pending", "limit": 1})
    assert paged.json()["total"] == 2 and len(paged.json()["items"]) == 1
    wrong = client.get("/api/v1/outbox", params={"state": "lost"})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"][-1] == "state"
    commander = _headers(platform, "commander", "duty_commander")
    assert client.get("/api/v1/outbox", headers=commander).status_code == 200
    patrol = _headers(platform, "patrol", "patrol_member")
    assert client.get("/api/v1/outbox", headers=patrol).status_code == 403


def test_replay_one_and_all_then_each_is_delivered_once(
    client: TestClient, platform: Platform, clock: DrivenClock, letters: dict[str, list[int]]
) -> None:
    one = letters["dead"][0]
    answer = client.post(f"/api/v1/outbox/{one}/replay")
    assert answer.status_code == 200 and answer.json() == {"replayed": 1, "ids": [one]}
    pending = client.get("/api/v1/outbox", params={"state": "pending"}).json()["items"]
    again = next(i for i in pending if i["id"] == one)
    assert again["attempts"] == 0
    assert datetime.fromisoformat(again["available_at"]) == clock.now()
    assert client.post("/api/v1/outbox/987654/replay").status_code == 404

    everything = client.post("/api/v1/outbox/replay-dead").json()
    assert everything["ids"] == letters["dead"][1:]
    assert client.post("/api/v1/outbox/replay-dead").json() == {"replayed": 0, "ids": []}

    clock.tick(timedelta(hours=1))  # the failing one is due again too
    peer = RecordingSender()
    delivered = deliver_outbox(platform.uow(), clock, peer)
    assert delivered.failed == 0
    sent = [m.id for m in peer.sent]
    assert sorted(sent) == sorted(i for ids in letters.values() for i in ids) and len(
        set(sent)
    ) == len(sent)
    assert deliver_outbox(platform.uow(), clock, peer).delivered == 0
    late = client.post(f"/api/v1/outbox/{one}/replay")
    assert late.status_code == 409 and "delivered" in late.json()["message"]

    with platform.engine.connect() as c:
        audited = list(
            c.execute(
                sa.select(t.audit_log.c.action, t.audit_log.c.target).where(
                    t.audit_log.c.action.like("outbox.%")
                )
            )
        )
    assert ("outbox.replay", f"outbox:{one}") in audited
    assert any(action == "outbox.replay_dead" for action, _ in audited)


@pytest.fixture
def env(db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    return tmp_path


def test_the_command_line(env: Path, letters: dict[str, list[int]]) -> None:
    listed = runner.invoke(cli, ["outbox", "list", "--dead"])
    assert listed.exit_code == 0, listed.output
    assert f"dead {len(letters['dead'])}" in listed.output
    assert "ConnectionError: peer down" in listed.output
    assert all(str(i) in listed.output for i in letters["dead"])

    one = runner.invoke(cli, ["outbox", "replay", str(letters["dead"][0])])
    assert one.exit_code == 0 and f"replayed 1: {letters['dead'][0]}" in one.output
    rest = runner.invoke(cli, ["outbox", "replay", "--all-dead"])
    assert rest.exit_code == 0 and f"replayed {len(letters['dead']) - 1}" in rest.output
    assert "dead 0" in runner.invoke(cli, ["outbox", "list"]).output

    neither = runner.invoke(cli, ["outbox", "replay"])
    assert neither.exit_code == 2 and "--all-dead" in neither.output
    missing = runner.invoke(cli, ["outbox", "replay", "987654"])
    assert missing.exit_code == 1 and "987654" in missing.output


def _signed_in(client: TestClient, platform: Platform, username: str) -> TestClient:
    with platform.uow() as uow:
        account = uow.accounts.by_username(username)
    assert account is not None
    client.headers.pop("Authorization", None)
    client.cookies.set(
        SESSION_COOKIE,
        session_cookie(platform.settings.secret_key, account.id, account.session_epoch),
    )
    return client


def test_the_page_lists_dead_letters_and_replays_them(
    client: TestClient, platform: Platform, letters: dict[str, list[int]]
) -> None:
    _headers(platform, "operator", "operator")
    _headers(platform, "patrol", "patrol_member")
    browser = _signed_in(client, platform, "operator")
    html = {"Accept": "text/html"}
    page = browser.get("/admin/outbox", headers=html)
    assert page.status_code == 200, page.text
    assert "发件箱与死信" in page.text and "ConnectionError: peer down" in page.text
    assert all(f'id="message-{i}"' in page.text for i in letters["dead"])
    assert "/static/js/admin_outbox.js" in page.text and "<script>" not in page.text
    english = browser.get("/admin/outbox?lang=en&state=failing", headers=html)
    assert "Outbox and dead letters" in english.text
    assert f'id="message-{letters["failing"][0]}"' in english.text
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match is not None
    csrf = match.group(1)

    one = letters["dead"][0]
    forged = browser.post(f"/admin/outbox/{one}/replay", data={}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token: refused, nothing replayed
    done = browser.post(
        f"/admin/outbox/{one}/replay", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and "replayed=1" in done.headers["location"]
    after = browser.get(done.headers["location"] + "&lang=zh", headers=html)
    assert f'id="message-{one}"' not in after.text and "已重发" in after.text
    refused = browser.post(
        "/admin/outbox/987654/replay", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert "refused=987654" in refused.headers["location"]
    everything = browser.post(
        "/admin/outbox/replay-dead", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert everything.status_code == 303
    assert "没有消息" in browser.get("/admin/outbox?lang=zh", headers=html).text

    patrol = _signed_in(client, platform, "patrol")
    assert patrol.get("/admin/outbox", headers=html).status_code == 403
    browser.cookies.clear()
    anonymous = browser.get("/admin/outbox", headers=html, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
