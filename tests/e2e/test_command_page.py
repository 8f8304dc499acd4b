"""The command centre in a real browser: an operator signs in, sees a patrol member's
report on the map and in the queues, switches to English, opens the case and dispatches it.

Debian's Chromium is driven by Playwright (``playwright install`` cannot download browsers
here). Without ``/usr/bin/chromium`` the browser tests are skipped with a message saying how
to install it, except under ``CI=true``, where they fail. Screenshots of every page are kept
under ``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chengyun.clock import DrivenClock
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.platform import Platform
from chengyun.entrypoints.web.command import tile_csp
from chengyun.entrypoints.web.i18n import LANGUAGES, WORDS, labels, words
from chengyun.services.accounts import provision_accounts
from chengyun.services.cases import sweep
from chengyun.services.records import NewAccount
from tests.factories import G1, OPERATOR, patrol_member, report, submit
from tests.servers import served

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
INSTALL = (
    "browser tests need Debian's Chromium and CJK fonts: "
    "apt-get update && apt-get install -y chromium fonts-noto-cjk"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAPTOP = {"width": 1440, "height": 900}
NIGHT = datetime(2020, 6, 24, 20, 0, tzinfo=CHINA_TZ)

# Every field must have a label and every button or link a name a screen reader can say.
ACCESSIBILITY_PROBLEMS = """() => {
  const problems = [];
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  for (const e of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const named = (e.labels && e.labels.length) || e.getAttribute("aria-label")
      || e.getAttribute("aria-labelledby") || e.title;
    if (!named) problems.push("unlabelled: " + e.outerHTML.slice(0, 140));
  }
  for (const e of document.querySelectorAll("button, a[href], [role=button]")) {
    const name = (e.getAttribute("aria-label") || e.textContent || e.title || "").trim();
    if (!name && visible(e)) problems.push("nameless: " + e.outerHTML.slice(0, 140));
  }
  return problems;
}"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# --- the page without a browser --------------------------------------------------------------


def test_every_word_exists_in_both_languages() -> None:
    assert LANGUAGES == ("zh", "en")
    for key, pair in WORDS.items():
        assert len(pair) == 2 and all(text.strip() for text in pair), key
    assert words("zh").keys() == words("en").keys()
    assert labels("en")["status"]["dispatched"] == "Dispatched"
    assert labels("zh")["light"]["red"] == "红灯"


def test_a_browser_that_has_not_signed_in_is_sent_to_the_login_page(
    anonymous: TestClient,
) -> None:
    page = anonymous.get("/command", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/command"
    case = anonymous.get(
        "/command/cases/7?lang=en", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert case.headers["location"] == "/login?next=/command/cases/7%3Flang%3Den"
    script = anonymous.get("/command", headers={"Accept": "application/json"})
    assert script.status_code == 401
    assert script.json()["detail"][0]["type"] == "anonymous"


def test_the_pages_render_for_the_centre_and_refuse_who_may_not_read_cases(
    demo: Platform, client: TestClient
) -> None:
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    page = client.get("/command", headers={**operator, "Accept": "text/html"})
    assert page.status_code == 200
    assert "城运中心" in page.text and 'name="csrf-token"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    english = client.get("/command?lang=en", headers={**operator, "Accept": "text/html"})
    assert 'lang="en"' in english.text and "Command centre" in english.text
    assert english.cookies.get("chengyun_lang") == "en"
    admin = client.get("/command?lang=zh", headers={"Accept": "text/html"})
    assert admin.status_code == 200 and "test-admin" in admin.text  # an account, not a person
    missing = client.get("/command/cases/999?lang=zh", headers={**operator, "Accept": "text/html"})
    assert missing.status_code == 404 and "找不到该案件" in missing.text
    provision_accounts(
        demo.uow(), demo.clock, [NewAccount("a-citizen", None, "citizen", "sub_district", None)]
    )
    citizen = client.headers_for("a-citizen")  # type: ignore[attr-defined]
    refused = client.get("/command", headers={**citizen, "Accept": "text/html"})
    assert refused.status_code == 403 and refused.json()["detail"][0]["type"] == "forbidden"


def test_an_intranet_tile_server_is_admitted_by_the_content_security_policy() -> None:
    assert tile_csp(None) is None
    assert tile_csp("/tiles/{z}/{x}/{y}.png") is None  # served by the platform itself
    policy = tile_csp("https://{s}.tiles.qp.gov.cn/{z}/{x}/{y}.png")
    assert policy is not None
    assert "img-src 'self' https://*.tiles.qp.gov.cn data: blob:" in policy
    assert "script-src 'self';" in policy


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture
def server(demo: Platform) -> Iterator[str]:
    """The app on a free port, in a thread, over the test database with the demo loaded."""
    with served(create_app(platform=demo), name="e2e-uvicorn") as url:
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless; skipped (failed under CI=true) when it is missing."""
    if not CHROMIUM.exists():
        if _in_ci():
            pytest.fail(f"CI=true but Chromium is missing at {CHROMIUM}: {INSTALL}", pytrace=False)
        pytest.skip(f"Chromium not found at {CHROMIUM}; {INSTALL}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """What went wrong in the page: errors it logged (a script error, a refused
    Content-Security-Policy…) and the requests that failed, with their paths."""

    def __init__(self, page: Any, server: str) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.server = server
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("response", self._response)

    def _message(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url.removeprefix(self.server)}")


def _shot(page: Any, name: str, whole: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=whole)


def _accessible(page: Any) -> None:
    problems = page.evaluate(ACCESSIBILITY_PROBLEMS)
    assert problems == [], problems


def _nobody_on_duty_tonight(client: TestClient, grid_code: str) -> None:
    """Take the grid's first-line forces on duty tonight off the roster."""
    board = client.get("/api/v1/duty").json()
    grid = next(g for g in board["grids"] if g["code"] == grid_code)
    on_duty = {p["number"] for p in grid["street"]}
    on_duty |= {p["number"] for unit in grid["units"] for p in unit["on_duty"]}
    for number in sorted(on_duty):
        assert client.delete(f"/api/v1/people/{number}").status_code == 204, number


def _cleaning_on_standby(client: TestClient, grid_code: str) -> str:
    """The street-cleaning company's person on standby tonight for the grid."""
    board = client.get("/api/v1/duty").json()
    grid = next(g for g in board["grids"] if g["code"] == grid_code)
    cleaning = next(d for d in grid["departments"] if d["department"] == "cleaning")
    assert cleaning["on_duty"][0]["standby"] is True
    return str(cleaning["on_duty"][0]["number"])


def test_the_operator_sees_a_report_and_dispatches_it(
    demo: Platform, client: TestClient, clock: DrivenClock, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    member = patrol_member(client)
    day = submit(client, report(reporter=member)).json()
    urgent = submit(
        client,
        report(
            channel="police_diversion",
            subclass="E0102",
            description="群众报警：路面散落大量垃圾阻碍通行 / rubbish blocking the road",
            position={"lng": 121.1135, "lat": 31.1512, "crs": "wgs84"},
        ),
    ).json()
    assert urgent["urgency"] == "urgent"
    clock.set(NIGHT)  # tonight nobody is on duty in grid 1: the next report waits for a person
    sweep(demo.uow(), demo.cases)  # as the worker would: the day's cases are overdue now
    _nobody_on_duty_tonight(client, G1)
    night = submit(
        client,
        report(
            reporter=member,
            description="夜间巡查：桥头暴露垃圾 / exposed rubbish by the bridge",
            position={"lng": 121.1085, "lat": 31.1488, "crs": "wgs84"},
            observed_at="2020-06-24T19:55:00+08:00",
        ),
    ).json()
    assert night["unassigned"] is True, night
    assignee = _cleaning_on_standby(client, G1)

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        console = Console(page, server)

        # sign in: the command centre sends a browser that has not signed in to /login
        page.goto(f"{server}/command")
        expect(page).to_have_url(re.compile(r"/login\?next=/command$"))
        page.get_by_label("用户名").fill(OPERATOR)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="登录").click()
        expect(page).to_have_url(re.compile(r"/command$"))

        # the reports on the map and in the queues, the duty board at night
        queue = page.locator("#queue")
        for case in (day, urgent, night):
            expect(queue.locator(f"li[data-case='{case['number']}']")).to_be_visible()
            expect(page.locator(f".case-marker[data-case='{case['number']}']")).to_be_visible()
        expect(page.locator(f".case-marker.urgent[data-case='{urgent['number']}']")).to_be_visible()
        expect(page.locator(f".case-marker.light-red[data-case='{day['number']}']")).to_be_visible()
        expect(page.locator("[data-count='red']")).to_have_text("2")
        expect(page.locator(f"#unassigned li[data-case='{night['number']}']")).to_be_visible()
        expect(page.locator("[data-count='open']")).to_have_text("3")
        expect(page.locator("[data-count='unassigned']")).to_have_text("1")
        expect(page.locator("#duty")).to_contain_text("夜间备勤")
        expect(page.locator("#shift-badge")).to_contain_text("夜间")
        expect(page.locator("#server-clock")).to_have_text(re.compile(r"^20:0\d:\d\d$"))
        expect(queue.locator(".countdown").first).to_have_text(re.compile(r"\d\d:\d\d"))
        expect(page.locator(".grid-label").first).to_be_visible()

        # a marker answers the keyboard: Enter opens the case's summary with a link to it
        marker = page.locator(f".case-marker[data-case='{night['number']}']")
        marker.focus()
        page.keyboard.press("Enter")
        popup = page.locator(".leaflet-popup")
        expect(popup).to_contain_text(night["number"])
        expect(popup).to_have_css("opacity", "1")
        expect(popup.get_by_role("link", name=re.compile("查看案件"))).to_have_attribute(
            "href", f"/command/cases/{night['id']}"
        )
        _accessible(page)
        _shot(page, "command-zh")

        # the filters narrow the map and the queue
        page.get_by_label("来源渠道").select_option("police_diversion")
        expect(queue.locator("li.case-row")).to_have_count(1)
        expect(page.locator(".case-marker")).to_have_count(1)
        page.get_by_role("button", name="重置").click()
        expect(queue.locator("li.case-row")).to_have_count(3)

        # English
        page.get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", name="Command centre")).to_be_visible()
        expect(page.get_by_label("Channel")).to_be_visible()
        expect(page.locator("#duty")).to_contain_text("Night standby")
        expect(queue.locator(f"li[data-case='{night['number']}']")).to_contain_text(
            "Exposed rubbish"
        )
        _accessible(page)
        _shot(page, "command-en")
        page.get_by_role("link", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

        # the case page: timeline, clocks, notifications, and the actions allowed now
        page.locator(f"#unassigned a[href='/command/cases/{night['id']}']").click()
        expect(page).to_have_url(re.compile(rf"/command/cases/{night['id']}$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text(night["number"])
        expect(page.locator(".timeline")).to_contain_text("上报")
        expect(page.locator("table.stages")).to_contain_text("派遣")
        expect(page.locator("table.notifications")).to_contain_text("无人在岗，待人工派遣")
        _accessible(page)
        _shot(page, "case-zh", whole=True)

        # dispatch: first to nobody known (the API's message is shown), then to a person
        page.get_by_role("button", name="派遣", exact=True).click()
        form = page.locator("#form-dispatch")
        expect(form).to_be_visible()
        form.get_by_label("处置人编号").fill("NOBODY-1")
        form.get_by_role("button", name="提交 · 派遣").click()
        error = form.locator(".form-error")
        expect(error).to_contain_text("未知的处置人 / unknown assignee")
        _shot(page, "case-error", whole=True)
        form.get_by_label("处置人编号").fill(assignee)
        form.get_by_label("备注").fill(
            "夜间由保洁公司备勤人员处置 / to the cleaning company's standby"
        )
        form.get_by_role("button", name="提交 · 派遣").click()
        expect(page.locator("#action-result")).to_contain_text("已办理：派遣")
        expect(page.locator(".case-tags .status")).to_have_text("派遣")
        expect(page.locator(".timeline")).to_contain_text(assignee)
        _accessible(page)
        _shot(page, "case-dispatched", whole=True)

        # back in the command centre the case has left the no-one-on-duty queue
        page.get_by_role("link", name=re.compile("返回城运中心")).click()
        expect(page.locator("[data-count='unassigned']")).to_have_text("0")
        expect(page.locator("#unassigned")).to_contain_text("暂无")
        page.set_viewport_size({"width": 1280, "height": 720})  # a small laptop
        expect(page.locator("#map")).to_be_visible()
        _shot(page, "command-small-laptop")
        page.set_viewport_size({"width": 900, "height": 1000})  # narrower: one column
        _shot(page, "command-narrow", whole=True)

        page.set_viewport_size(LAPTOP)
        page.get_by_role("button", name="退出登录").click()  # a form with the CSRF field
        expect(page).to_have_url(re.compile(r"/login$"))
        page.goto(f"{server}/command")
        expect(page).to_have_url(re.compile(r"/login\?next=/command$"))

        assert console.errors == []
        assert console.failed == [f"422 /api/v1/cases/{night['id']}/actions/dispatch"]
    finally:
        context.close()
    detail = client.get(f"/api/v1/cases/{night['id']}").json()
    assert detail["status"] == "dispatched" and detail["assignee"]["number"] == assignee
