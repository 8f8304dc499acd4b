"""The 12345 placement queue panel in a real browser: an order the gazetteer cannot place
waits on the command centre; the operator picks its place on the map and the case is
filed. The panel (``_hotline_queue.html``) is included in the command page for those who
may keep the integrations; others do not get it at all."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from chengyun.services.hotline import OrderIn, get_order, receive_order
from tests.e2e.test_command_page import LAPTOP, Console, _shot
from tests.factories import OPERATOR


def test_the_operator_places_a_waiting_order_on_the_map(
    demo: Platform, client: TestClient, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    now = demo.clock.now()
    waiting = receive_order(
        demo.uow(),
        demo.cases,
        OrderIn(
            number="HL-WEB-1",
            received_at=now,
            deadline=now.replace(day=now.day + 3),
            content="老街口大树下堆放杂物 / rubbish under the big tree",
            category="乱堆物堆料",
            address="老街口那棵大树下面",
        ),
    ).record
    assert waiting.case_id is None

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        console = Console(page, server)
        page.goto(f"{server}/login?next=/command")
        page.get_by_label("用户名").fill(OPERATOR)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/command$"))
        panel = page.locator("#hotline-queue-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#hotline-queue-count")).to_have_text("1")
        item = page.locator("#hotline-queue li[data-order='HL-WEB-1']")
        expect(item).to_contain_text("老街口那棵大树下面")
        item.get_by_role("button", name=re.compile("Place on the map")).click()
        expect(page.locator("#hotline-pick")).to_be_visible()
        expect(page.locator("#hotline-pick-map path.leaflet-interactive").first).to_be_visible()
        place = page.get_by_role("button", name=re.compile("Place here"))
        expect(place).to_be_disabled()
        page.locator("#hotline-pick-map").click()
        expect(place).to_be_enabled()
        expect(page.locator("#hotline-pick-where")).to_contain_text("121.1")
        _shot(page, "hotline-placement-queue")
        place.click()
        expect(page.locator("#hotline-queue-notice")).to_contain_text("HL-WEB-1")
        expect(page.locator("#hotline-queue-count")).to_have_text("0")
        assert console.errors == []
    finally:
        context.close()
    placed = get_order(demo.uow(), "HL-WEB-1")
    assert placed.placement.value == "placed" and placed.case_id is not None
    assert placed.order.position is not None
    assert abs(placed.order.position[0] - 121.11) < 0.01


def test_the_panel_stays_hidden_without_the_desk_permission(
    demo: Platform, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{server}/login?next=/command")
        with demo.uow() as uow:
            chief = next(
                a for a in uow.accounts.all() if a.role == "grid_chief" and a.person_number
            )
        page.get_by_label("用户名").fill(chief.username)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/command$"))
        console = Console(page, server)
        expect(page.locator("#queue li").first).to_be_visible()
        assert page.locator("#hotline-queue-panel").count() == 0  # not in the page at all
        assert not [f for f in console.failed if "hotline" in f], console.failed
        assert console.errors == []
    finally:
        context.close()
