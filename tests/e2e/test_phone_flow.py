"""The staff phone pages (/m/) with the command centre, in real browsers: a patrol member
reports a problem with a photo on a phone; within 2 s it is on the command centre's map
(server-sent events, not the 30 s poll); the operator dispatches it; the handler accepts,
arrives and handles it on their phone; the reporter checks it; the operator closes it and
the timeline shows every step. A report also survives a dropped connection.

Screenshots of every phone page are kept under ``test-artifacts/``. Each page is checked
for labelled controls, touch targets of at least 44 px and readable contrast.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chengyun.adapters.geo.crs import wgs84_to_gcj02
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.i18n import WORDS, words
from chengyun.entrypoints.web.mobile import PHONE_WORD_PREFIX
from tests.e2e.test_command_page import (
    LAPTOP,
    Console,
    _accessible,
    _shot,
    browser,
    server,
)
from tests.factories import CENTRE, G1, OPERATOR, png, report, submit

#: Fixtures shared with the command centre's browser test: Chromium, and the app on a port.
SHARED_FIXTURES = (browser, server)
PHONE = {"width": 360, "height": 740}
LIVE_WITHIN_MS = 2000  # the issue: a report is on the command centre's map within 2 s

# Touch targets of at least 44 × 44 CSS pixels, and text contrast of 4.5:1 (WCAG AA)
# against the background it is drawn on.
PHONE_PROBLEMS = """() => {
  const problems = [];
  const shown = (e) => {
    const box = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && box.left >= 0;
  };
  const targets = "button, a[href], summary, input[type=search], input[type=number], textarea, "
    + "select, label.camera, label.choice, label.check";
  for (const e of document.querySelectorAll(targets)) {
    if (!shown(e) || e.closest(".timeline, .previews, .skip-link")) continue;
    const box = e.getBoundingClientRect();
    if (box.height < 44 || box.width < 44)
      problems.push(`small target ${Math.round(box.width)}x${Math.round(box.height)}: `
        + e.outerHTML.slice(0, 100));
  }
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const e of document.querySelectorAll("body *")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !shown(e) || e.closest(".skip-link")) continue;
    const style = getComputedStyle(e);
    if (parseFloat(style.opacity) < 1) continue;
    const fg = luminance(rgb(style.color).slice(0, 3));
    const bg = luminance(background(e));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ` + e.outerHTML.slice(0, 100));
  }
  return problems;
}"""


def _fit_for_a_phone(page: Any) -> None:
    """Labelled controls, big targets, readable text, and nothing wider than the screen."""
    page.wait_for_load_state("load")  # measured with the style sheet applied
    _accessible(page)
    problems = page.evaluate(PHONE_PROBLEMS)
    assert problems == [], problems
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 360 px screen"


def _phone(chromium: Any, where: tuple[float, float] = CENTRE) -> Any:
    """A phone as WeChat opens the pages: 360 px wide, touch, and a GCJ-02 position."""
    lng, lat = wgs84_to_gcj02(*where)
    return chromium.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": lng, "latitude": lat, "accuracy": 12},
        permissions=["geolocation"],
    )


def _sign_in(page: Any, base: str, path: str, username: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base}{path}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def _patrol_members(client: TestClient, grid: str = G1) -> list[str]:
    found = client.get("/api/v1/people", params={"post": "patrol", "grid": grid, "limit": 2})
    return [p["number"] for p in found.json()["items"]]


def _manual_dispatch(platform: Platform) -> None:
    """The centre dispatches every report by hand (a setting: auto_dispatch_all=false)."""
    policy = replace(platform.cases.policy, auto_dispatch_all=False)
    platform.__dict__["cases"] = replace(platform.cases, policy=policy)


def _report_on_the_phone(page: Any, description: str) -> None:
    """Fill the report form: a photo, the kind (searched), a description."""
    from playwright.sync_api import expect

    t = words("zh")
    expect(page.locator("#position-status")).to_contain_text("已定位")
    page.locator("#photos").set_input_files(
        files=[{"name": "rubbish.png", "mimeType": "image/png", "buffer": png(640, 480)}]
    )
    expect(page.locator("#photos-taken")).to_have_text(t["m_photo_taken"].format(n=1))
    expect(page.locator("#previews img")).to_have_count(1)
    search = page.get_by_label(t["m_subclass_search"])
    search.fill("暴露垃圾")
    choice = page.locator("#subclasses .choice:not([hidden])")
    expect(choice).to_have_count(1)
    # the keyboard picks it: Tab to the only kind left, Space to choose it
    search.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(page.locator("input[name=subclass][value=E0102]")).to_be_checked()
    page.get_by_label(t["m_description"]).fill(description)


def test_the_phone_words_exist_in_both_languages() -> None:
    phone = {k: pair for k, pair in WORDS.items() if k.startswith(PHONE_WORD_PREFIX)}
    assert len(phone) > 40
    for key, pair in phone.items():
        assert len(pair) == 2 and all(text.strip() for text in pair), key
    assert words("en")["m_received"] == "Received"
    assert words("zh")["m_received_case"].format(n="E1") == "已送达 — 案件编号 E1"


def test_a_phone_that_has_not_signed_in_is_sent_to_the_login_page(
    anonymous: TestClient,
) -> None:
    for path in ("/m/", "/m/report", "/m/tasks", "/m/tasks/3"):
        page = anonymous.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303, path
        assert page.headers["location"] == f"/login?next={path}"
    script = anonymous.get("/m/tasks", headers={"Accept": "application/json"})
    assert script.status_code == 401


def test_the_phone_pages_render_for_staff_only(demo: Platform, client: TestClient) -> None:
    member, _ = _patrol_members(client)
    auth = client.headers_for  # type: ignore[attr-defined]
    html = {"Accept": "text/html"}
    home = client.get("/m/", headers={**auth(member), **html})
    assert home.status_code == 200 and "上报问题" in home.text
    report_page = client.get("/m/report?lang=en", headers={**auth(member), **html})
    assert report_page.status_code == 200 and "Report a problem" in report_page.text
    assert 'capture="environment"' in report_page.text and 'accept="image/*"' in report_page.text
    assert "script-src 'self'" in report_page.headers["content-security-policy"]
    case = submit(client, report(reporter=member)).json()
    assignee = case["assignee"]["number"]
    tasks = client.get("/m/tasks", headers={**auth(assignee), **html})
    assert case["number"] in tasks.text
    task = client.get(f"/m/tasks/{case['id']}?lang=zh", headers={**auth(assignee), **html})
    assert task.status_code == 200 and "提交 · 签收" in task.text
    config = json.loads(re.search(r'id="page-config">(.*?)</script>', task.text, re.S)[1])
    assert (config["caseId"], config["version"]) == (case["id"], case["version"])
    assert config["crs"] == "gcj02"
    missing = client.get("/m/tasks/999999", headers={**auth(assignee), **html})
    assert missing.status_code == 404 and "找不到该案件" in missing.text
    # an administrator's account is no person: it may neither report nor act on the phone
    admin = client.get("/m/report", headers=html)
    assert admin.status_code == 403


def test_a_patrol_report_on_the_phone_is_dispatched_handled_checked_and_closed(
    demo: Platform, client: TestClient, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    _manual_dispatch(demo)
    reporter, handler = _patrol_members(client)
    description = "人行道上有暴露垃圾（手机上报）/ exposed rubbish, reported on a phone"
    centre = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    phone = _phone(browser)
    handler_phone = _phone(browser, (CENTRE[0] + 0.0002, CENTRE[1] + 0.0001))
    try:
        # the operator watches the command centre; its live stream is open
        operator = centre.new_page()
        operator_console = Console(operator, server)
        _sign_in(operator, server, "/command", OPERATOR)
        expect(operator.locator("body")).to_have_attribute("data-live", "on")

        # the patrol member signs in on the phone and reports with a photo
        page = phone.new_page()
        console = Console(page, server)
        _sign_in(page, server, "/m/", reporter)
        expect(page.get_by_role("heading", level=1)).to_have_text("城运移动端")
        _fit_for_a_phone(page)
        _shot(page, "phone-home")
        menu = page.locator(".phone-menu summary")
        expect(menu).to_have_accessible_name(re.compile("^账号与语言"))
        menu.click()  # the menu: languages and signing out
        expect(page.get_by_role("button", name="退出登录")).to_be_visible()
        _fit_for_a_phone(page)
        _shot(page, "phone-menu")
        menu.click()
        page.get_by_role("link", name=re.compile("上报问题")).click()
        expect(page).to_have_url(re.compile(r"/m/report$"))
        _report_on_the_phone(page, description)
        _fit_for_a_phone(page)
        _shot(page, "phone-report", whole=True)
        page.get_by_role("button", name="提交上报").click()
        status = page.locator("#submit-status")
        expect(status).to_contain_text("已送达 — 案件编号")
        number = status.get_attribute("data-case")
        assert number and number in (status.text_content() or "")
        _fit_for_a_phone(page)
        _shot(page, "phone-report-received")

        # within 2 s it is on the command centre's map, without reloading
        marker = operator.locator(f".case-marker[data-case='{number}']")
        expect(marker).to_be_visible(timeout=LIVE_WITHIN_MS)
        expect(operator.locator(f"#queue li[data-case='{number}']")).to_be_visible()
        found = client.get("/api/v1/cases", params={"q": number}).json()["items"]
        assert len(found) == 1
        case = found[0]
        assert case["status"] == "registered" and case["reporter"] == reporter
        assert abs(case["position"]["lng"] - CENTRE[0]) < 1e-5  # GCJ-02 in, WGS-84 stored
        assert abs(case["position"]["lat"] - CENTRE[1]) < 1e-5
        _shot(operator, "phone-flow-command-live")

        # the operator dispatches it to the handler on the case page
        operator.locator(f"#queue a[href='/command/cases/{case['id']}']").click()
        operator.get_by_role("button", name="派遣", exact=True).click()
        form = operator.locator("#form-dispatch")
        form.get_by_label("处置人编号").fill(handler)
        form.get_by_role("button", name="提交 · 派遣").click()
        expect(operator.locator("#action-result")).to_contain_text("已办理：派遣")

        # the handler accepts, arrives and handles it on their phone
        work = handler_phone.new_page()
        work_console = Console(work, server)
        _sign_in(work, server, "/m/tasks", handler)
        task = work.locator(f"a.task[data-case='{number}']")
        expect(task).to_be_visible()
        _fit_for_a_phone(work)
        _shot(work, "phone-tasks")
        task.click()
        expect(work).to_have_url(re.compile(rf"/m/tasks/{case['id']}$"))
        _fit_for_a_phone(work)
        _shot(work, "phone-task-dispatched", whole=True)
        for action in ("签收", "到场"):
            work.get_by_role("button", name=f"提交 · {action}").click()
            expect(work.locator("#action-status")).to_have_text(f"已送达：{action}")
        work.locator("#handle-photos").set_input_files(
            files=[{"name": "after.png", "mimeType": "image/png", "buffer": png(320, 240)}]
        )
        expect(work.locator(".photos-taken")).to_have_text("已拍 1 张")
        work.get_by_label("处置情况").fill("已清理 / cleaned up")
        _fit_for_a_phone(work)
        _shot(work, "phone-task-handle", whole=True)
        work.get_by_role("button", name="提交 · 处置").click()
        expect(work.locator("#action-status")).to_have_text("已送达：处置")
        expect(work.locator("#case-status")).to_have_text("处置完毕")
        expect(work.locator(".action-form")).to_have_count(0)  # nobody checks their own work

        # the reporter checks it on the phone
        page.goto(f"{server}/m/tasks")
        expect(page.locator("#check-title")).to_contain_text("待我核查")
        page.locator(f"a.task[data-case='{number}']").click()
        page.get_by_text("合格", exact=True).click()
        _fit_for_a_phone(page)
        _shot(page, "phone-task-check", whole=True)
        page.get_by_role("button", name="提交 · 核查").click()
        expect(page.locator("#action-status")).to_have_text("已送达：核查")
        expect(page.locator("#case-status")).to_have_text("核查通过")

        # the operator closes it; the timeline shows every step
        operator.reload()
        operator.get_by_role("button", name="结案", exact=True).click()
        operator.locator("#form-close").get_by_role("button", name="提交 · 结案").click()
        expect(operator.locator("#action-result")).to_contain_text("已办理：结案")
        expect(operator.locator(".case-tags .status")).to_have_text("结案")
        steps = operator.locator(".timeline .event-action")
        expect(steps).to_have_text(["上报", "立案", "派遣", "签收", "到场", "处置", "核查", "结案"])
        expect(operator.locator(".timeline .photos img")).to_have_count(2)  # report, handled
        _shot(operator, "phone-flow-case-closed", whole=True)

        # English on the phone
        page.goto(f"{server}/m/?lang=en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("link", name=re.compile("Report a problem"))).to_be_visible()
        _fit_for_a_phone(page)
        _shot(page, "phone-home-en")

        for watched in (console, work_console, operator_console):
            assert watched.errors == []
            assert watched.failed == []
    finally:
        for context in (phone, handler_phone, centre):
            context.close()
    detail = client.get(f"/api/v1/cases/{case['id']}").json()
    assert detail["status"] == "closed"
    actors = [(e["action"], e["actor"]) for e in detail["timeline"]]
    assert ("check", reporter) in actors and ("handle", handler) in actors
    arrived = next(e for e in detail["timeline"] if e["action"] == "arrive")
    assert arrived["position"] is not None  # the phone's position, converted


def test_a_report_survives_a_dropped_connection_and_is_received_once(
    demo: Platform, client: TestClient, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    reporter = _patrol_members(client)[0]
    phone = _phone(browser)
    try:
        page = phone.new_page()
        _sign_in(page, server, "/m/report", reporter)

        # offline: the report waits on the phone and is sent when the network is back
        _report_on_the_phone(page, "断网时上报 / reported while offline")
        phone.set_offline(True)
        page.get_by_role("button", name="提交上报").click()
        status = page.locator("#submit-status")
        expect(status).to_contain_text("未送达")
        expect(status).to_have_class(re.compile("retrying"))
        kept = page.evaluate("JSON.parse(localStorage.getItem('chengyun-m-outbox'))")
        assert len(kept) == 1 and kept[0]["key"].startswith("m-")
        _shot(page, "phone-report-offline")
        phone.set_offline(False)
        expect(status).to_contain_text("已送达 — 案件编号", timeout=10000)
        assert page.evaluate("localStorage.getItem('chengyun-m-outbox')") == "[]"

        # the answer is lost after the server stored the report: the retry, with the same
        # Idempotency-Key, gets the same case back instead of making a second one
        answers: list[int] = []
        keys: list[str] = []

        def lose_the_first_answer(route: Any) -> None:
            keys.append(route.request.headers["idempotency-key"])
            if not answers:
                answers.append(route.fetch().status)  # the server has it …
                route.abort("connectionreset")  # … but the phone never hears back
                return
            route.continue_()

        page.route("**/api/v1/cases", lose_the_first_answer)
        page.get_by_role("link", name="再报一件").click()
        description = "回复丢失的上报 / a report whose answer was lost"
        _report_on_the_phone(page, description)
        page.get_by_role("button", name="提交上报").click()
        expect(status).to_contain_text("未送达，正在重试")
        expect(status).to_contain_text("已送达 — 案件编号", timeout=10000)
        assert answers == [201] and len(keys) == 2 and keys[0] == keys[1]
        found = client.get("/api/v1/cases", params={"q": "回复丢失的上报"}).json()
        assert found["total"] == 1
        assert found["items"][0]["number"] in (status.text_content() or "")
    finally:
        phone.close()


def test_the_handler_asks_for_more_time_and_returns_a_task_on_the_phone(
    demo: Platform, client: TestClient, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    reporter = _patrol_members(client)[0]
    case = submit(client, report(reporter=reporter)).json()  # dispatched by the duty table
    assignee = case["assignee"]["number"]
    phone = _phone(browser)
    try:
        page = phone.new_page()
        _sign_in(page, server, f"/m/tasks/{case['id']}", assignee)

        # the answer to "accept" is lost: the retry finds it went through and says so
        lost: list[int] = []

        def lose_the_answer(route: Any) -> None:
            if not lost:
                lost.append(route.fetch().status)
                route.abort("connectionreset")
                return
            route.continue_()

        page.route("**/actions/accept", lose_the_answer)
        page.get_by_role("button", name="提交 · 签收").click()
        status = page.locator("#action-status")
        expect(status).to_have_text("已送达：签收", timeout=10000)
        assert lost == [200]
        accepted = client.get(f"/api/v1/cases/{case['id']}").json()
        assert [e["action"] for e in accepted["timeline"]].count("accept") == 1

        # more time: the minutes and the reason are asked for
        page.locator("summary", has_text="申请延期").click()
        page.get_by_label("需延期（分钟）").fill("120")
        page.locator("#ext-reason").fill("需要等待养护单位 / waiting for maintenance")
        _fit_for_a_phone(page)
        page.get_by_role("button", name="提交 · 申请延期").click()
        expect(status).to_have_text("已送达：申请延期")

        # a return needs a reason: without one the page says so and sends nothing
        page.locator("summary", has_text="退单").click()
        page.get_by_role("button", name="提交 · 退单").click()
        expect(page.locator("form[data-action=return] .form-error")).to_contain_text("原因")
        page.locator("#return-reason").fill("不属于本人职责 / not my duty")
        page.get_by_role("button", name="提交 · 退单").click()
        expect(status).to_have_text("已送达：退单")
        _shot(page, "phone-task-returned", whole=True)
    finally:
        phone.close()
    detail = client.get(f"/api/v1/cases/{case['id']}").json()
    actions = [e["action"] for e in detail["timeline"]]
    assert actions[-3:] == ["accept", "request_extension", "return"]
    assert detail["timeline"][-1]["reason"] == "不属于本人职责 / not my duty"


def test_a_refused_report_says_why_and_keeps_the_form(
    demo: Platform, client: TestClient, server: str, browser: Any
) -> None:
    """Outside the sub-district's grids a patrol report is forwarded, but a position far
    from China is refused: the phone says so plainly and the person can fix it."""
    from playwright.sync_api import expect

    reporter = _patrol_members(client)[0]
    phone = _phone(browser, (2.35, 48.85))  # Paris: not a position in China
    try:
        page = phone.new_page()
        _sign_in(page, server, "/m/report", reporter)
        _report_on_the_phone(page, "错误位置 / a wrong position")
        page.get_by_role("button", name="提交上报").click()
        status = page.locator("#submit-status")
        expect(status).to_contain_text("未送达：")
        expect(status).to_have_class(re.compile("refused"))
        expect(page.locator("#report-form")).to_be_visible()
        assert page.evaluate("localStorage.getItem('chengyun-m-outbox')") == "[]"
        _shot(page, "phone-report-refused")
    finally:
        phone.close()


@pytest.mark.parametrize("path", ["/m/", "/m/report", "/m/tasks"])
def test_each_phone_page_fits_a_phone_in_english_too(
    demo: Platform, client: TestClient, server: str, browser: Any, path: str
) -> None:
    reporter = _patrol_members(client)[0]
    phone = _phone(browser)
    try:
        page = phone.new_page()
        _sign_in(page, server, path, reporter)
        page.goto(f"{server}{path}?lang=en")
        _fit_for_a_phone(page)
        name = path.strip("/").replace("/", "-") or "m"
        _shot(page, f"phone-{name}-en", whole=True)
    finally:
        phone.close()
