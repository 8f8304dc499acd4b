"""Administration (/admin/): who may open which page, and in a browser an administrator
edits a person, adds and removes one, re-imports the taxonomy and the territory, creates an
account and disables it — each change checked through the API afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from chengyun.adapters.db import tables
from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import provision_accounts
from chengyun.services.records import NewAccount
from tests.e2e.test_command_page import LAPTOP, Console, _accessible, _shot
from tests.factories import OPERATOR, patrol_member

PAGES = (
    "/admin/",
    "/admin/territory",
    "/admin/people",
    "/admin/taxonomy",
    "/admin/accounts",
    "/admin/cameras",
    "/admin/shops",
)


def test_who_may_open_the_administration(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    for path in PAGES:
        sent = anonymous.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/login?next=")
        page = client.get(path, headers={"Accept": "text/html"})  # the administrator
        assert page.status_code == 200, path
        assert "系统管理" in page.text
    member = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    for path in PAGES[1:]:
        refused = client.get(path, headers={**member, "Accept": "text/html"})
        assert refused.status_code == 403, path
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    index = client.get("/admin/?lang=en", headers={**operator, "Accept": "text/html"})
    assert index.status_code == 200 and 'href="/admin/outbox"' in index.text
    for path in ("/admin/cameras", "/admin/shops"):  # the centre keeps the integrations
        assert client.get(path, headers={**operator, "Accept": "text/html"}).status_code == 200
    assert 'href="/admin/people"' not in index.text  # the roster is the administrator's
    command = client.get("/command", headers={**operator, "Accept": "text/html"})
    assert 'href="/admin/"' in command.text and 'href="/dashboard"' in command.text
    provision_accounts(
        demo.uow(), demo.clock, [NewAccount("a-citizen", None, "citizen", "sub_district", None)]
    )
    citizen = client.headers_for("a-citizen")  # type: ignore[attr-defined]
    nothing = client.get("/admin/?lang=en", headers={**citizen, "Accept": "text/html"})
    assert "This account administers nothing" in nothing.text


def test_an_account_is_disabled_and_enabled_again(demo: Platform, client: TestClient) -> None:
    accounts = {a["username"]: a for a in client.get("/api/v1/accounts").json()}
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    assert client.get("/api/v1/auth/me", headers=operator).status_code == 200
    target = accounts[OPERATOR]["id"]
    changed = client.patch(f"/api/v1/accounts/{target}", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert client.get("/api/v1/auth/me", headers=operator).status_code == 401
    again = client.patch(f"/api/v1/accounts/{target}", json={"disabled": False})
    assert again.json()["disabled"] is False
    assert client.get("/api/v1/auth/me", headers=operator).status_code == 200
    me = client.get("/api/v1/auth/me").json()["id"]
    own = client.patch(f"/api/v1/accounts/{me}", json={"disabled": True})
    assert own.status_code == 422 and own.json()["detail"][0]["loc"][-1] == "disabled"
    missing = client.patch("/api/v1/accounts/987654", json={"disabled": True})
    no_grid = client.patch(
        "/api/v1/territory/grids/310118002999999", json={"live_from": "2020-07-01"}
    )
    assert no_grid.status_code == 404
    bad_day = client.patch("/api/v1/territory/grids/310118002900001", json={"live_from": "soon"})
    assert bad_day.status_code == 422 and bad_day.json()["detail"][0]["loc"][-1] == "live_from"
    assert missing.status_code == 404
    bad = client.patch(f"/api/v1/accounts/{target}", json={"disabled": "maybe"})
    assert bad.status_code == 422
    with demo.engine.connect() as connection:
        actions = [
            row.action
            for row in connection.execute(
                sa.select(tables.audit_log.c.action).where(
                    tables.audit_log.c.action.like("account.%able")
                )
            )
        ]
    assert actions == ["account.disable", "account.enable"]  # two changes, two records


def test_an_administrator_keeps_the_platform_in_a_browser(
    demo: Platform,
    client: TestClient,
    server: str,
    browser: Any,
    tmp_path: Path,
    demo_geojson: dict,
) -> None:
    from playwright.sync_api import expect

    taxonomy = tmp_path / "taxonomy.xlsx"
    taxonomy.write_bytes(client.get("/api/v1/taxonomy.xlsx").content)
    territory = tmp_path / "territory.geojson"
    territory.write_text(json.dumps(demo_geojson), encoding="utf-8")

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before deleting
    console = Console(page, server)
    page.goto(f"{server}/admin/")
    expect(page).to_have_url(re.compile(r"/login\?next=/admin/$"))
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    _accessible(page)
    _shot(page, "admin-index")

    # people: find one, edit the phone number; add a person, then remove them
    page.get_by_role("link", name="人员与力量表").first.click()
    page.get_by_placeholder("编号、姓名、岗位…").fill(OPERATOR)
    row = page.locator(f"tr[data-person='{OPERATOR}']")
    expect(row).to_be_visible()
    assert page.locator("#people-table tbody tr:visible").count() == 1
    _accessible(page)
    _shot(page, "admin-people")
    row.get_by_role("button", name=f"编辑 {OPERATOR}").click()
    page.get_by_label("电话").fill("13900001111")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#admin-message")).to_contain_text(f"已保存: {OPERATOR}")
    assert client.get(f"/api/v1/people/{OPERATOR}").json()["phone"] == "13900001111"
    page.get_by_role("button", name="新增人员").click()
    page.get_by_label("编号", exact=True).fill("YPC-NEW01")
    page.get_by_label("姓名").fill("测试人员")
    page.get_by_label("电话").fill("13900002222")
    page.get_by_label("岗位").select_option("operator")
    page.get_by_label("排班").fill("day - -")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#admin-message")).to_contain_text("已保存: YPC-NEW01")
    assert client.get("/api/v1/people/YPC-NEW01").status_code == 200
    page.get_by_role("button", name="删除 YPC-NEW01").click()
    expect(page.locator("#admin-message")).to_contain_text("已删除: YPC-NEW01")
    assert client.get("/api/v1/people/YPC-NEW01").status_code == 404
    # a bad entry is refused with the API's reason, and nothing is stored
    page.get_by_role("button", name="新增人员").click()
    page.get_by_label("编号", exact=True).fill("YPC-BAD01")
    page.get_by_label("姓名").fill("错误")
    page.get_by_label("电话").fill("12")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#person-error")).to_be_visible()
    assert client.get("/api/v1/people/YPC-BAD01").status_code == 404
    page.get_by_role("button", name="取消").click()

    # the taxonomy and the territory, re-imported from their own exports
    page.get_by_role("link", name="分类与时限").first.click()
    page.get_by_label(".xlsx 文件").set_input_files(str(taxonomy))
    page.get_by_role("button", name="导入").click()
    expect(page.locator("#admin-message")).to_contain_text("已导入")
    expect(page.locator("p.hint").first).to_contain_text("本街道导入的分类")
    _accessible(page)
    _shot(page, "admin-taxonomy")
    page.get_by_role("link", name="辖区").first.click()
    expect(page.locator("#admin-map .leaflet-interactive").first).to_be_visible()
    grid = next(
        f["properties"] for f in demo_geojson["features"] if f["properties"]["layer"] == "grid"
    )
    page.locator(f"#live-{grid['code']}").fill("2020-07-01")
    page.locator(f"form[data-go-live='{grid['code']}']").get_by_role("button").click()
    expect(page.locator("#admin-message")).to_contain_text("2020-07-01")
    moved = client.get("/api/v1/territory/grids").json()["features"]
    assert {f["properties"]["code"]: f["properties"]["live_from"] for f in moved}[
        grid["code"]
    ] == "2020-07-01"
    page.get_by_label("GeoJSON 文件（WGS-84）").set_input_files(str(territory))
    page.get_by_role("button", name="导入").click()
    expect(page.locator("#admin-message")).to_contain_text("已导入")
    expect(page.locator("#admin-map .leaflet-interactive").first).to_be_visible()
    _accessible(page)
    _shot(page, "admin-territory")

    # accounts: create one for a system, then disable it
    page.get_by_role("link", name="账号与角色").first.click()
    page.get_by_label("用户名").fill("district-link")
    page.get_by_label("显示名称").fill("区平台 District platform")
    page.get_by_label("角色").select_option("system")
    page.get_by_role("button", name="新建").click()
    expect(page.locator("#admin-message")).to_contain_text("已新建账号: district-link")
    page.get_by_role("button", name="停用 district-link").click()
    expect(page.locator("#admin-message")).to_contain_text("已停用: district-link")
    accounts = {a["username"]: a for a in client.get("/api/v1/accounts").json()}
    assert accounts["district-link"]["disabled"] is True
    _accessible(page)
    _shot(page, "admin-accounts")
    assert console.errors == [], console.errors
    context.close()


@pytest.mark.parametrize("lang", ["en"])
def test_the_pages_speak_english(demo: Platform, client: TestClient, lang: str) -> None:
    for path in PAGES:
        page = client.get(f"{path}?lang={lang}", headers={"Accept": "text/html"})
        assert page.status_code == 200 and 'lang="en"' in page.text, path
        assert "Administration" in page.text


def test_the_centre_keeps_cameras_and_shops_in_a_browser(
    demo: Platform, client: TestClient, server: str, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    cameras = tmp_path / "cameras.xlsx"
    cameras.write_bytes(client.get("/api/v1/vision/cameras.xlsx").content)
    shops = client.get("/api/v1/shops").json()["items"]
    shop = shops[0]

    context = browser.new_context(viewport=LAPTOP, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before re-issuing
    console = Console(page, server)
    page.goto(f"{server}/login?next=/admin/cameras")
    page.get_by_label("用户名").fill(OPERATOR)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/admin/cameras$"))
    expect(page.locator("#cameras-table tbody tr[data-camera]")).to_have_count(12)
    page.get_by_label(".xlsx 文件").set_input_files(str(cameras))
    page.get_by_role("button", name="导入").click()
    expect(page.locator("#admin-message")).to_contain_text("已导入: 12 摄像头")
    _accessible(page)
    _shot(page, "admin-cameras")

    page.get_by_role("link", name="市民扫码店铺").first.click()
    expect(page.locator(f"tr[data-shop='{shop['code']}']")).to_be_visible()
    page.get_by_role("button", name=f"重新签发 {shop['code']}").click()
    expect(page.locator("#admin-message")).to_contain_text(
        f"已重新签发，请打印新海报: {shop['code']}"
    )
    after = client.get(f"/api/v1/shops/{shop['id']}").json()
    assert after["key_version"] == shop["key_version"] + 1
    old_code = client.get(
        shop["url"].split("127.0.0.1:8000", 1)[-1], headers={"Accept": "text/html"}
    )
    assert old_code.status_code == 410  # the old poster's code stops working
    poster = page.get_by_role("link", name=f"海报 {shop['code']}")
    assert poster.get_attribute("href") == f"/api/v1/shops/{shop['id']}/poster.pdf"
    _accessible(page)
    _shot(page, "admin-shops")
    assert console.errors == [], console.errors
    context.close()
