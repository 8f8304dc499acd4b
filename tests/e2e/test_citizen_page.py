"""The citizen page in a real browser on a phone-sized screen: a citizen scans a shop's
QR code, reports with a photo (the first answer is lost on the way back and the page resends
it: one case, not two), the command centre registers and dispatches it, the handler accepts,
arrives and handles it, another person checks, the centre closes it — and the follow page
shows each step and the points earned. Forged and expired codes get a clear page.

Staff steps go through the HTTP API with each person's token (their phone pages are tested
elsewhere). Screenshots of every page are kept under ``test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from chengyun.clock import DrivenClock
from chengyun.entrypoints.platform import Platform
from tests.e2e.test_command_page import (  # noqa: F401  (fixtures: server, browser)
    Console,
    _accessible,
    _shot,
    browser,
    server,
)
from tests.factories import COMMANDER, OPERATOR, do, files, png

PHONE = {"width": 360, "height": 740}
#: Readable contrast (WCAG AA): every visible text against the background it sits on,
#: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
CONTRAST_PROBLEMS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const problems = [];
  for (const e of document.querySelectorAll("body *")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !(e.offsetWidth || e.offsetHeight)) continue;
    const style = getComputedStyle(e);
    const a = lum(rgb(style.color)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      problems.push(`${ratio.toFixed(2)}: ${e.outerHTML.slice(0, 100)}`);
    }
  }
  return problems;
}"""
#: Touch targets of at least 44 × 44 CSS pixels (the form's controls and links).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    "main button, main select, main input:not([type=hidden]), main textarea, .c-lang a")]
  .filter((e) => e.offsetWidth && (e.offsetHeight < 44 || e.offsetWidth < 44))
  .map((e) => `${e.offsetWidth}x${e.offsetHeight}: ${e.outerHTML.slice(0, 80)}`)"""


def _readable(page: Any) -> None:
    _accessible(page)
    assert page.evaluate(CONTRAST_PROBLEMS) == []
    assert page.evaluate(SMALL_TARGETS) == []


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_citizen_reports_from_a_qr_code_and_follows_it_to_the_end(
    demo: Platform,
    client: TestClient,
    clock: DrivenClock,
    server: str,  # noqa: F811  (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    shop = client.get("/api/v1/shops").json()["items"][0]
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    try:
        page = context.new_page()
        console = Console(page, server)

        # the QR code opens the report form with the shop's position filled in
        page.goto(server + _path(shop["url"]))
        expect(page.get_by_role("heading", level=1)).to_have_text(shop["name"])
        assert float(page.locator("#lng").input_value()) == shop["position"]["lng"]
        expect(page.get_by_label("拍照或选择照片")).to_have_attribute("capture", "environment")
        expect(page.get_by_label("拍照或选择照片")).to_have_attribute("accept", "image/*")
        _readable(page)
        _shot(page, "citizen-form", whole=True)

        # every control can be reached with the keyboard, in reading order
        page.locator("body").focus()
        reached = []
        for _ in range(9):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("document.activeElement.id"))
        order = ["subclass", "photos", "description", "use-location", "phone", "send"]
        assert [i for i in reached if i in order] == order, reached

        # filled in as a citizen would; sent with the keyboard
        page.get_by_label("问题类型").select_option(label="暴露垃圾")
        page.get_by_label("拍照或选择照片").set_input_files(
            files=[{"name": "rubbish.png", "mimeType": "image/png", "buffer": png(8, 8)}]
        )
        expect(page.locator("#previews img")).to_have_count(1)
        page.get_by_label("补充说明（选填）").fill(
            "店门口堆了几袋垃圾 / bags of rubbish at the door"
        )
        page.get_by_label("手机号（选填，用于积分）").fill("139 1234 5678")
        _shot(page, "citizen-form-filled", whole=True)

        # the first answer is lost on its way back (the report did arrive): the page resends
        lost: list[int] = []

        def drop_first_answer(route: Any) -> None:
            if not lost:
                answer = route.fetch()
                lost.append(answer.status)
                route.abort("connectionreset")
                return
            route.continue_()

        page.route("**/reports", drop_first_answer)
        page.get_by_role("button", name="提交").focus()
        page.keyboard.press("Enter")
        status = page.locator("#send-status")
        expect(status).to_contain_text("已提交")
        assert lost == [201]
        follow = page.get_by_role("link", name="查看处置进度")
        expect(follow).to_be_focused()
        _readable(page)
        _shot(page, "citizen-received", whole=True)
        cases = client.get("/api/v1/cases", params={"channel": "citizen_qr"}).json()
        assert cases["total"] == 1  # sent twice, reported once
        case = cases["items"][0]
        assert case["status"] == "reported" and case["unit"]["code"] == shop["unit_code"]

        # it waits for the command centre (citizen_qr is registered by an operator)
        follow.click()
        expect(page).to_have_url(re.compile(r"/c/r/[\w-]{32}$"))
        page.wait_for_load_state()
        expect(page.locator("#status-now")).to_contain_text("已收到，等待受理")
        expect(page.locator("#points-balance")).to_have_text("0")
        expect(page.locator("main")).to_contain_text("139****5678")
        _readable(page)
        _shot(page, "citizen-follow-received", whole=True)
        operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
        queue = client.get("/api/v1/cases", params={"status": "reported"}, headers=operator).json()
        assert case["id"] in [c["id"] for c in queue["items"]]

        # the centre registers and dispatches; the handler accepts, arrives and handles;
        # another person checks; the centre closes
        assert do(client, case["id"], "register", OPERATOR).status_code == 200
        dispatched = do(client, case["id"], "dispatch", OPERATOR)
        assert dispatched.status_code == 200, dispatched.text
        handler = dispatched.json()["assignee"]["number"]
        clock.tick(timedelta(minutes=5))
        assert do(client, case["id"], "accept", handler).status_code == 200
        page.reload()
        expect(page.locator("#status-now")).to_contain_text("处置人员已接单")
        clock.tick(timedelta(minutes=10))
        position = {"lng": shop["position"]["lng"], "lat": shop["position"]["lat"]}
        assert do(client, case["id"], "arrive", handler, position=position).status_code == 200
        photo = client.post(
            f"/api/v1/cases/{case['id']}/photos",
            files=files(png()),
            headers=client.headers_for(handler),  # type: ignore[attr-defined]
        ).json()["photos"][0]["id"]
        clock.tick(timedelta(minutes=20))
        handled = do(client, case["id"], "handle", handler, note="已清运 / cleared", photos=[photo])
        assert handled.status_code == 200, handled.text
        checked = do(client, case["id"], "check", COMMANDER, passed=True)
        assert checked.status_code == 200, checked.text
        assert do(client, case["id"], "close", OPERATOR).status_code == 200

        page.reload()
        expect(page.locator("#status-now")).to_contain_text("已办结")
        steps = page.locator("#steps li")
        assert [s.get_attribute("data-step") for s in steps.all()] == [
            "report",
            "register",
            "dispatch",
            "accept",
            "arrive",
            "handle",
            "check_passed",
            "close",
        ]
        expect(steps.nth(6)).to_contain_text("他人核查通过")
        expect(page.locator("#points-balance")).to_have_text("10")
        text = page.locator("main").inner_text()
        assert handler not in text and OPERATOR not in text and COMMANDER not in text
        _readable(page)
        _shot(page, "citizen-follow-closed", whole=True)

        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.wait_for_load_state()
        expect(page.locator("#status-now")).to_contain_text("Done and closed")
        expect(page.locator("#steps")).to_contain_text("Checked by someone else")
        _readable(page)
        _shot(page, "citizen-follow-closed-en", whole=True)

        assert console.errors == []
        assert console.failed == []
    finally:
        context.close()


def test_a_report_that_cannot_be_sent_says_so_and_goes_when_sent_again(
    demo: Platform,
    client: TestClient,
    server: str,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    shop = client.get("/api/v1/shops").json()["items"][2]
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
    try:
        page = context.new_page()
        console = Console(page, server)
        page.clock.install()  # the page's retry timers run when the test says
        page.goto(server + _path(shop["url"]))
        page.get_by_label("问题类型").select_option("E0505")
        page.get_by_label("拍照或选择照片").set_input_files(
            files=[{"name": "car.png", "mimeType": "image/png", "buffer": png(4, 4)}]
        )
        page.route("**/reports", lambda route: route.abort("internetdisconnected"))
        with page.expect_event("requestfailed"):
            page.get_by_role("button", name="提交").click()
        for delay in (1000, 2000, 4000, 8000):  # the page tries again, waiting longer
            expect(page.locator("#send-status")).to_contain_text("正在重试")
            with page.expect_event("requestfailed"):
                page.clock.run_for(delay)
        expect(page.locator("#send-status")).to_contain_text("未送达，请重试")
        expect(page.get_by_role("button", name="提交")).to_be_enabled()
        _readable(page)
        _shot(page, "citizen-not-sent", whole=True)
        assert client.get("/api/v1/cases", params={"channel": "citizen_qr"}).json()["total"] == 0

        page.unroute("**/reports")  # back online: the same report, sent again
        page.get_by_role("button", name="提交").click()
        expect(page.locator("#send-status")).to_contain_text("已提交")
        assert client.get("/api/v1/cases", params={"channel": "citizen_qr"}).json()["total"] == 1
        assert console.errors == [] and console.failed == []
    finally:
        context.close()


def test_forged_and_expired_codes_show_a_clear_page_on_a_phone(
    demo: Platform,
    client: TestClient,
    clock: DrivenClock,
    server: str,  # noqa: F811  (the fixture imported above)
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    shop = client.get("/api/v1/shops").json()["items"][1]
    url = _path(shop["url"])
    forged = url[:-8] + ("A" if url[-8] != "A" else "B") + url[-7:]
    context = browser.new_context(viewport=PHONE, is_mobile=True, locale="zh-CN")
    try:
        page = context.new_page()
        answer = page.goto(server + forged)
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("二维码无效")
        expect(page.get_by_role("alert")).to_contain_text("not valid")
        _readable(page)
        _shot(page, "citizen-forged")

        clock.tick(timedelta(days=731))
        answer = page.goto(server + url + "?lang=en")
        assert answer is not None and answer.status == 410
        expect(page.get_by_role("heading", level=1)).to_have_text("This QR code is no longer valid")
        expect(page.locator("main")).to_contain_text("expired on")
        _readable(page)
        _shot(page, "citizen-expired-en")
    finally:
        context.close()
