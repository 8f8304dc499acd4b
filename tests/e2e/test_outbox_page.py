"""The outbox page in a real browser: an operator signs in, sees the dead letters a peer's
outage left with their last error, replays one, then every other one (confirming first)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables as t
from chengyun.clock import DrivenClock
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from chengyun.services.delivery import deliver_outbox
from chengyun.services.records import PendingMessage
from tests.e2e.test_command_page import LAPTOP, Console, _accessible, _shot
from tests.factories import OPERATOR, patrol_member, report, submit


class Down:
    def send(self, message: PendingMessage) -> None:
        raise ConnectionError("district platform unreachable / 区平台不可达")


def test_the_operator_replays_dead_letters(
    demo: Platform, client: TestClient, clock: DrivenClock, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    member = patrol_member(client)
    for n in range(3):
        assert submit(client, report(reporter=member, description=f"#{n}")).status_code == 201
    for _ in range(2):
        deliver_outbox(demo.uow(), clock, Down(), max_attempts=2)
        clock.tick(timedelta(minutes=5))
    with demo.engine.connect() as c:
        dead = list(c.execute(sa.select(t.outbox.c.id).where(t.outbox.c.dead)).scalars())
    assert len(dead) >= 3

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        console = Console(page, server)
        page.goto(f"{server}/admin/outbox")
        expect(page).to_have_url(re.compile(r"/login\?next=/admin/outbox$"))
        page.get_by_label("用户名").fill(OPERATOR)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/admin/outbox$"))

        expect(page.get_by_role("heading", name="发件箱与死信")).to_be_visible()
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(len(dead))
        expect(rows.first).to_contain_text("区平台不可达")
        expect(page.locator(".outbox-states a[aria-current='page']")).to_contain_text("死信")
        _accessible(page)
        _shot(page, "outbox-dead-letters", whole=True)

        page.get_by_role("button", name=f"重发 {dead[0]}").click()
        expect(page.locator(".notice")).to_contain_text("已重发：1")
        expect(page.locator(f"#message-{dead[0]}")).to_have_count(0)
        expect(rows).to_have_count(len(dead) - 1)

        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="全部死信重发").click()
        expect(page.locator(".notice")).to_contain_text(f"已重发：{len(dead) - 1}")
        expect(page.locator(".outbox-states a[aria-current='page']")).to_contain_text("待发送")
        expect(page.locator("tbody tr")).to_have_count(len(dead))  # all pending again

        page.goto(f"{server}/admin/outbox?state=dead&lang=en")
        expect(page.get_by_text("Nothing here")).to_be_visible()
        assert console.errors == [] and console.failed == [], (console.errors, console.failed)
    finally:
        context.close()
