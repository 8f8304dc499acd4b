"""The measures dashboard (/dashboard): the page shows the same figures as the API, every
figure opens the cases behind it, and the map switches to a day's patrol coverage."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from chengyun.clock import DrivenClock
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from tests.e2e.test_command_page import LAPTOP, Console, _accessible, _shot
from tests.factories import CENTRE, OPERATOR, do, patrol_member, report, submit


def _story(client: TestClient, clock: DrivenClock) -> dict[str, Any]:
    """Three patrol reports in grid 1: one closed, one handled, one open."""
    member = patrol_member(client)
    cases = [
        submit(
            client,
            report(
                reporter=member,
                observed_at=None,
                position={"lng": CENTRE[0] + dx, "lat": CENTRE[1], "crs": "wgs84"},
            ),
        ).json()
        for dx in (0.0, 0.002, -0.002)
    ]
    first = cases[0]
    handler = first["assignee"]["number"]
    for action, actor, body in (
        ("accept", handler, {}),
        ("arrive", handler, {}),
        ("handle", handler, {"note": "已清理 / cleared"}),
        ("check", member, {"passed": True}),
        ("close", OPERATOR, {}),
    ):
        answer = do(client, first["id"], action, actor, **body)
        assert answer.status_code == 200, answer.text
    clock.tick(timedelta(minutes=5))
    return {"member": member, "closed": first["number"], "numbers": [c["number"] for c in cases]}


def test_the_dashboard_refuses_who_may_not_read_measures(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    page = anonymous.get("/dashboard", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/dashboard"
    member = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    refused = client.get("/dashboard", headers={**member, "Accept": "text/html"})
    assert refused.status_code == 403
    assessor = client.get("/dashboard?lang=en", headers={"Accept": "text/html"})
    assert assessor.status_code == 200
    assert "Measures dashboard" in assessor.text and 'id="page-config"' in assessor.text


def test_the_figures_match_the_api_and_open_the_cases_behind_them(
    demo: Platform, client: TestClient, clock: DrivenClock, server: str, browser: Any
) -> None:
    from playwright.sync_api import expect

    story = _story(client, clock)
    day = clock.now().date().isoformat()
    api = client.get("/api/v1/measures", params={"from": day, "to": day}).json()
    closure = api["measures"]["closure_rate"]
    assert closure["denominator"] >= 1, closure  # the test means something
    behind = client.get(
        "/api/v1/measures/cases", params={"measure": "closure_rate", "from": day, "to": day}
    ).json()
    expected = sorted(item["number"] for item in behind["items"])
    assert story["closed"] in expected

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
    page = context.new_page()
    console = Console(page, server)
    page.goto(f"{server}/login?next=/dashboard")
    page.get_by_label("用户名").fill(OPERATOR)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    page.get_by_label("起始日期").fill(day)
    page.get_by_label("截止日期").fill(day)
    page.get_by_role("button", name="查询").click()

    tile = page.locator('.tile[data-measure="closure_rate"]')
    value = "—" if closure["value"] is None else f"{closure['value'] * 100:.1f}%"
    expect(tile.locator(".tile-value")).to_have_text(value)
    expect(tile.locator(".tile-ratio")).to_have_text(
        f"{closure['numerator']} / {closure['denominator']}"
    )
    expect(tile.locator(".tile-goal")).to_have_text("目标 97.0%")
    tile.click()
    listed = page.locator("#behind-list li a")
    expect(listed).to_have_count(len(expected))
    assert sorted(listed.all_inner_texts()) == expected
    # The grid table's figure opens the same grid's cases.
    page.locator("#grid-table").locator("..").locator("summary").click()
    grid_row = page.locator("#grid-table tbody tr").first
    expect(grid_row).to_be_visible()
    grid_row.get_by_role("button").click()
    expect(page.locator("#behind-what")).to_contain_text("结案率")
    _accessible(page)
    _shot(page, "dashboard", whole=True)

    # The map shows a day's patrol coverage on demand.
    page.get_by_label("地图显示").select_option("coverage")
    expect(page.locator("#map-legend")).to_contain_text("无人巡查")
    _shot(page, "dashboard-coverage")
    assert console.errors == [], console.errors
    assert [f for f in console.failed if not f.startswith("404 /favicon")] == []
    context.close()
