"""The citizen QR codes end to end on a real database: the shop registry over HTTP and the
command line, the posters (a valid A5 PDF, a page per shop, whose drawn code is segno's
code for the shop's URL), and the citizen page — report, resend, follow, refusals."""

from __future__ import annotations

import base64
import io
import re
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import segno
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.reports.posters import QUIET_ZONE, qr_matrix
from chengyun.clock import DrivenClock
from chengyun.demo.shops import DEMO_SHOPS, demo_citizen_url
from chengyun.domain.shops import issue_token
from chengyun.entrypoints.api.app import create_app
from chengyun.entrypoints.cli import app as cli_app
from chengyun.entrypoints.platform import Platform
from tests.factories import CENTRE, COMMANDER, OPERATOR, do, png

UNIT = "310118002001001"  # the demo's first unit; CENTRE lies in it
A5 = (419.53, 595.28)  # points


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _shop(client: TestClient, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "好邻居便利店",
        "address": "城中路1号",
        "position": {"lng": CENTRE[0], "lat": CENTRE[1]},
        **changes,
    }
    answer = client.post("/api/v1/shops", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


# --- the registry ---------------------------------------------------------------------------


def test_the_demo_has_ten_shops_each_in_a_unit(demo: Platform, client: TestClient) -> None:
    page = client.get("/api/v1/shops").json()
    assert page["total"] == len(DEMO_SHOPS) == 10
    assert [s["code"] for s in page["items"]][:2] == ["S00001", "S00002"]
    assert all(s["unit_code"] and s["grid_code"] and s["active"] for s in page["items"])
    assert len({s["unit_code"] for s in page["items"]}) == 10
    url = demo_citizen_url(demo.uow(), demo.settings.secret_key, demo.settings.public_base_url)
    assert url == page["items"][0]["url"]
    assert url is not None and url.startswith("http://127.0.0.1:8000/c/")


def test_register_change_and_reissue_a_shop(demo: Platform, client: TestClient) -> None:
    shop = _shop(client, code="s-100")
    assert shop["code"] == "S-100" and shop["unit_code"] == UNIT and shop["key_version"] == 1
    assert shop["url"].startswith("http://127.0.0.1:8000/c/")
    assert shop["token_expires_at"] == "2022-06-24T01:30:00Z"  # two years from the clock
    auto = _shop(client, name="  东门  生鲜 ", position={"lng": 121.1135, "lat": 31.1512})
    assert auto["code"] == "S00011" and auto["name"] == "东门 生鲜"

    taken = client.post(
        "/api/v1/shops",
        json={"code": "S-100", "name": "x", "position": {"lng": CENTRE[0], "lat": CENTRE[1]}},
    )
    assert taken.status_code == 422 and taken.json()["detail"][0]["loc"] == ["code"]
    outside = client.post(
        "/api/v1/shops", json={"name": "远方", "position": {"lng": 121.5, "lat": 31.23}}
    )
    assert outside.status_code == 422
    assert outside.json()["detail"][0] == {
        "loc": ["position"],
        "msg": outside.json()["detail"][0]["msg"],
        "type": "outside",
    }
    nowhere = client.post("/api/v1/shops", json={"name": "零", "position": {"lng": 0, "lat": 0}})
    assert nowhere.status_code == 422 and "China" in nowhere.json()["detail"][0]["msg"]
    empty = client.post(
        "/api/v1/shops", json={"name": " ", "position": {"lng": CENTRE[0], "lat": CENTRE[1]}}
    )
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["name"]

    moved = client.patch(
        f"/api/v1/shops/{shop['id']}",
        json={"address": "东门路2号", "position": {"lng": 121.1135, "lat": 31.1512}},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["address"] == "东门路2号" and moved.json()["url"] == shop["url"]
    half = client.patch(f"/api/v1/shops/{shop['id']}", json={"name": ""})
    assert half.status_code == 422
    assert client.patch("/api/v1/shops/987654", json={"name": "x"}).status_code == 404

    reissued = client.post(f"/api/v1/shops/{shop['id']}/token").json()
    assert reissued["key_version"] == 2 and reissued["url"] != shop["url"]
    old = client.get(_path(shop["url"]), headers={"Accept": "text/html"})
    assert old.status_code == 410 and "二维码已失效" in old.text and "replaced" in old.text
    assert client.get(_path(reissued["url"])).status_code == 200


def test_who_may_read_and_manage_shops(demo: Platform, client: TestClient) -> None:
    shop = _shop(client)
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    gateway = client.headers_for("gateway")  # type: ignore[attr-defined]
    seen = client.get(f"/api/v1/shops/{shop['id']}", headers=gateway)
    assert seen.status_code == 200 and seen.json()["url"] is None  # reads, without the code
    refused = client.post(
        "/api/v1/shops",
        json={"name": "x", "position": {"lng": CENTRE[0], "lat": CENTRE[1]}},
        headers=gateway,
    )
    assert refused.status_code == 403
    assert client.post(f"/api/v1/shops/{shop['id']}/token", headers=operator).status_code == 200


# --- posters ---------------------------------------------------------------------------------


def _streams(pdf: bytes) -> list[bytes]:
    """Every stream of the PDF, decoded (ReportLab writes ASCII85 over Flate)."""
    found = []
    for match in re.finditer(rb"\bstream\r?\n(.*?)\r?\n?endstream", pdf, re.S):
        head = pdf[pdf.rfind(b"<<", 0, match.start()) : match.start()]
        data = match.group(1)
        if b"ASCII85Decode" in head:
            data = base64.a85decode(b"<~" + data.strip(), adobe=True)
        if b"FlateDecode" in head:
            data = zlib.decompress(data)
        found.append(data)
    return found


def _drawn_code(content: bytes) -> list[list[bool]]:
    """The QR code as the page draws it: the rectangles in module units after the
    transformation that flips rows downwards (``a 0 0 -a x y cm``)."""
    text = content.decode("latin-1")
    flip = re.search(r"([\d.]+) 0 0 -\1 [\d.]+ [\d.]+ cm", text)
    assert flip, "the code is drawn in module units"
    after = text[flip.end() :]
    rects = re.findall(r"(\d+) (\d+) (\d+) 1 re", after[: after.index(" f")])
    size = max(int(c) + int(n) for c, _, n in rects)
    rows = max(int(r) for _, r, _ in rects) + 1
    matrix = [[False] * max(size, rows) for _ in range(max(size, rows))]
    for column, row, length in rects:
        for x in range(int(column), int(column) + int(length)):
            matrix[int(row)][x] = True
    return matrix


def _pages(pdf: bytes) -> list[bytes]:
    return re.findall(rb"/MediaBox \[\s*([\d.\s]+)\]", pdf)


def test_a_poster_is_an_a5_pdf_whose_code_is_the_shop_url(
    demo: Platform, client: TestClient
) -> None:
    shop = client.get("/api/v1/shops").json()["items"][0]
    answer = client.get(shop["poster"])
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert 'filename="poster-S00001.pdf"' in answer.headers["content-disposition"]
    pdf = answer.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"STSong-Light" in pdf and b"/Count 1" in pdf
    boxes = _pages(pdf)
    assert len(boxes) == 1
    width, height = (float(v) for v in boxes[0].split()[2:])
    assert (round(width, 1), round(height, 1)) == (round(A5[0], 1), round(A5[1], 1))
    pages = [s for s in _streams(pdf) if b" re" in s and b"BT" in s]
    assert len(pages) == 1
    expected = [[bool(m) for m in row] for row in segno.make(shop["url"], error="m").matrix]
    assert _drawn_code(pages[0]) == expected == qr_matrix(shop["url"])
    assert QUIET_ZONE == 4
    assert client.get(shop["poster"]).content == pdf  # the same shop, the same file


def test_the_posters_of_a_unit_are_one_page_per_shop(demo: Platform, client: TestClient) -> None:
    second = _shop(client, name="城中小吃", position={"lng": CENTRE[0] + 0.0004, "lat": CENTRE[1]})
    assert second["unit_code"] == UNIT
    answer = client.get("/api/v1/shops/posters.pdf", params={"unit": UNIT})
    assert answer.status_code == 200
    pdf = answer.content
    assert len(_pages(pdf)) == 2 and b"/Count 2" in pdf
    drawn = [_drawn_code(s) for s in _streams(pdf) if b" re" in s and b"BT" in s]
    items = client.get("/api/v1/shops", params={"unit": UNIT}).json()["items"]
    assert drawn == [qr_matrix(s["url"]) for s in items]
    everyone = client.get("/api/v1/shops/posters.pdf")
    assert len(_pages(everyone.content)) == 11
    none = client.get("/api/v1/shops/posters.pdf", params={"unit": "310118002099001"})
    assert none.status_code == 404
    client.patch(f"/api/v1/shops/{second['id']}", json={"active": False})
    assert client.get(second["poster"]).status_code == 409
    assert len(_pages(client.get("/api/v1/shops/posters.pdf", params={"unit": UNIT}).content)) == 1


# --- the command line ------------------------------------------------------------------------


runner = CliRunner()


@pytest.fixture
def env(demo: Platform, db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CHENGYUN_PUBLIC_BASE_URL", "https://cy.example.gov.cn")
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli_app, list(args))
    return result.exit_code, result.output


def test_cli_export_import_add_reissue_and_posters(env: Path) -> None:
    exported = env / "shops.xlsx"
    code, output = _run("shops", "export", str(exported))
    assert code == 0 and "10 shops" in output, output
    sheet = load_workbook(exported).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号 Code", "店铺名称 Name", "地址 Address")
    assert rows[1][0] == "S00001" and str(rows[1][-1]).startswith("https://cy.example.gov.cn/c/")
    code, output = _run("shops", "import", str(exported))
    assert code == 0 and "0 new, 0 updated" in output, output

    # a sheet with English headers only, GCJ-02 positions, one change, one new shop
    book = Workbook()
    new = book.active
    assert new is not None
    new.append(["Code", "Name", "Address", "Longitude", "Latitude", "CRS", "Active"])
    new.append(["S00001", "好邻居便利店（新）", "城中路9号", rows[1][3], rows[1][4], "wgs84", "是"])
    new.append([None, "新开的店", "城中路10号", 121.1145, 31.1481, "gcj02", None])
    source = env / "new.xlsx"
    book.save(source)
    code, output = _run("shops", "import", str(source))
    assert code == 0 and "1 new, 1 updated" in output, output

    bad = Workbook()
    wrong = bad.active
    assert wrong is not None
    wrong.append(["编号 Code", "店铺名称 Name", "经度 Longitude", "纬度 Latitude"])
    wrong.append(["S00001", "", 121.11, 31.15])
    wrong.append(["S00002", "远方", 121.5, 31.23])
    wrong.append(["S00003", "乱", "east", 31.15])
    broken = env / "bad.xlsx"
    bad.save(broken)
    code, output = _run("shops", "import", str(broken))
    assert code == 1
    assert "3 problem(s); nothing was imported" in output
    assert "Sheet / 2 / 店铺名称 Name" in output and "Sheet / 3 / 经度 Longitude" in output
    assert "Sheet / 4 / 经度 Longitude" in output and "east" in output

    code, output = _run(
        "shops", "add", "--name", "北门药房二店", "--lng", "121.1135", "--lat", "31.1512"
    )
    assert code == 0 and "S00012" in output and "https://cy.example.gov.cn/c/" in output, output
    url = output.strip().split()[-1]
    code, output = _run("shops", "reissue", "S00012")
    assert code == 0 and "version 2" in output and url not in output
    assert _run("shops", "reissue", "NOPE")[0] == 1

    out = env / "posters"
    code, output = _run("shops", "posters", "--unit", UNIT, "--out", str(out))
    assert code == 0, output
    combined = (out / f"posters-{UNIT}.pdf").read_bytes()
    assert combined.startswith(b"%PDF-") and len(_pages(combined)) >= 2
    code, output = _run("shops", "posters", "--out", str(out), "--each")
    assert code == 0, output
    each = sorted(p.name for p in out.glob("poster-*.pdf"))
    assert len(each) == 12 and each[0] == "poster-S00001.pdf"
    assert _run("shops", "posters", "--unit", "NOWHERE", "--out", str(out))[0] == 1


# --- the citizen page ------------------------------------------------------------------------


def _form(anonymous: TestClient, url: str) -> dict[str, str]:
    page = anonymous.get(_path(url), headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)"[^>]*value="([^"]*)"', page.text))
    assert set(fields) == {"form_token", "idempotency_key", "lng", "lat"}
    return fields


def _send(
    anonymous: TestClient, url: str, fields: dict[str, str], photos: int = 1, **more: str
) -> Any:
    data = {**fields, "subclass": "E0102", "description": "门口有垃圾 / rubbish", **more}
    files = [("photos", (f"p{i}.png", png(), "image/png")) for i in range(photos)]
    return anonymous.post(
        _path(url) + "/reports", data=data, files=files, headers={"Accept": "application/json"}
    )


def test_a_citizen_reports_resends_and_follows_with_points(
    demo: Platform, client: TestClient, anonymous: TestClient, clock: DrivenClock
) -> None:
    shop = client.get("/api/v1/shops").json()["items"][0]
    page = anonymous.get(_path(shop["url"]), headers={"Accept": "text/html"})
    assert 'accept="image/*" capture="environment"' in page.text
    assert shop["name"] in page.text and "随手拍 城市管理" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    fields = _form(anonymous, shop["url"])
    assert (float(fields["lng"]), float(fields["lat"])) == (
        shop["position"]["lng"],
        shop["position"]["lat"],
    )

    sent = _send(anonymous, shop["url"], fields, phone="139 1234 5678")
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["status"] == "reported" and body["created"] is True
    follow = body["follow_url"]
    assert re.fullmatch(r"/c/r/[\w-]{32}", follow)
    again = _send(anonymous, shop["url"], fields, phone="139 1234 5678")  # a lost answer
    assert again.status_code == 200 and again.json()["follow_url"] == follow
    other = _send(anonymous, shop["url"], fields, phone="139 1234 5678", description="别的")
    assert other.status_code == 409  # the same key for a different report

    cases = client.get("/api/v1/cases", params={"channel": "citizen_qr"}).json()
    assert cases["total"] == 1
    case = cases["items"][0]
    assert case["number"] == body["number"] and case["status"] == "reported"
    assert case["unit"]["code"] == shop["unit_code"] and shop["name"] in case["address"]
    detail = client.get(f"/api/v1/cases/{case['id']}").json()
    assert len(detail["photos"]) == 1
    assert client.get("/api/v1/shops").json()["items"][0]["reports"] == 1

    view = anonymous.get(follow)
    assert view.status_code == 200 and body["number"] in view.text
    assert "已收到，等待受理" in view.text and "139****5678" in view.text
    assert "13912345678" not in view.text
    assert re.search(r'id="points-balance">0<', view.text)

    # the centre registers (the citizen earns points), dispatches; the page says so
    assert do(client, case["id"], "register", OPERATOR).status_code == 200
    assignee = client.get(f"/api/v1/cases/{case['id']}").json()
    if assignee["status"] == "registered":
        people = client.get("/api/v1/people", params={"post": "patrol", "limit": 1}).json()
        do(client, case["id"], "dispatch", OPERATOR, assignee=people["items"][0]["number"])
    handler = client.get(f"/api/v1/cases/{case['id']}").json()["assignee"]
    view = anonymous.get(follow + "?lang=en")
    assert 'lang="en"' in view.text and "Someone has been sent" in view.text
    assert "Sent to the people who fix it" in view.text
    assert re.search(r'id="points-balance">10<', view.text)
    assert handler["number"] not in view.text and OPERATOR not in view.text
    assert handler["name"] not in view.text and COMMANDER not in view.text

    unknown = anonymous.get("/c/r/" + "x" * 32, headers={"Accept": "text/html"})
    assert unknown.status_code == 404 and "找不到该反映" in unknown.text
    clock.tick(timedelta(hours=25))  # the rendered form is a day old: reload it
    stale = _send(anonymous, shop["url"], fields)
    assert stale.status_code == 403 and stale.json()["detail"][0]["type"] == "csrf"


def test_a_browser_without_script_is_sent_to_the_follow_page(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    shop = client.get("/api/v1/shops").json()["items"][1]
    fields = _form(anonymous, shop["url"])
    answer = anonymous.post(
        _path(shop["url"]) + "/reports",
        data={**fields, "subclass": "E0505"},
        files=[("photos", ("p.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/c/r/")
    page = anonymous.get(answer.headers["location"])
    assert "收到您的反映" in page.text and "points-balance" not in page.text


def test_bad_reports_are_refused_with_the_field_named(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    shop = client.get("/api/v1/shops").json()["items"][2]
    fields = _form(anonymous, shop["url"])

    def refused(answer: Any) -> tuple[int, list[Any]]:
        return answer.status_code, answer.json()["detail"][0]["loc"]

    assert refused(_send(anonymous, shop["url"], fields, photos=0)) == (422, ["photos"])
    assert refused(_send(anonymous, shop["url"], fields, photos=4)) == (422, ["photos"])
    assert refused(_send(anonymous, shop["url"], fields, subclass="")) == (422, ["subclass"])
    assert refused(_send(anonymous, shop["url"], fields, subclass="Z9999")) == (422, ["subclass"])
    assert refused(_send(anonymous, shop["url"], fields, phone="12345")) == (422, ["phone"])
    # six refusals spend this client's allowance for the minute: go on as another process
    with TestClient(create_app(platform=demo), raise_server_exceptions=False) as anonymous:
        assert refused(_send(anonymous, shop["url"], {**fields, "lng": "east"})) == (422, ["lng"])
        forged_form = {**fields, "form_token": "1.x"}
        assert refused(_send(anonymous, shop["url"], forged_form)) == (403, ["form_token"])
        foreign = anonymous.post(
            _path(shop["url"]) + "/reports",
            data=fields,
            headers={"Origin": "https://evil.example", "Accept": "application/json"},
        )
        assert refused(foreign) == (403, ["header", "Origin"])
        text = anonymous.post(_path(shop["url"]) + "/reports", json={"x": 1})
        assert text.status_code == 422
    assert client.get("/api/v1/cases", params={"channel": "citizen_qr"}).json()["total"] == 0
    with demo.uow() as uow:
        assert uow.points.citizen(1) is None  # a refused report leaves no citizen behind


def test_forged_and_expired_codes_get_a_clear_page(
    demo: Platform, client: TestClient, anonymous: TestClient, clock: DrivenClock
) -> None:
    genuine = _path(client.get("/api/v1/shops").json()["items"][0]["url"])
    changed = genuine[:24] + ("A" if genuine[24] != "A" else "B") + genuine[25:]
    forged = anonymous.get(changed, headers={"Accept": "text/html"})
    assert forged.status_code == 403
    assert "二维码无效" in forged.text and "not valid" in forged.text
    assert "Traceback" not in forged.text
    assert anonymous.get("/c/x", headers={"Accept": "text/html"}).status_code == 403
    english = anonymous.get("/c/nonsense?lang=en", headers={"Accept": "text/html"})
    assert "This QR code is not valid" in english.text
    other_secret = issue_token("not-our-secret", 1, 1, clock.now() + timedelta(days=9))
    assert anonymous.get(f"/c/{other_secret}").status_code == 403
    posted = anonymous.post(f"/c/{other_secret}/reports", headers={"Accept": "application/json"})
    assert posted.status_code == 403
    assert posted.json()["detail"][0]["type"] == "shop_token_forged"

    shop = client.get("/api/v1/shops").json()["items"][3]
    fields = _form(anonymous, shop["url"])
    clock.tick(timedelta(days=731))
    expired = anonymous.get(_path(shop["url"]), headers={"Accept": "text/html"})
    assert expired.status_code == 410 and "二维码已失效" in expired.text
    assert "expired on 2022-06-24" in expired.text
    late = _send(anonymous, shop["url"], fields)
    assert late.status_code == 410 and late.json()["detail"][0]["type"] == "shop_token_expired"


def test_reports_are_rate_limited_per_client_and_per_shop(
    demo: Platform, client: TestClient, anonymous: TestClient
) -> None:
    shop = client.get("/api/v1/shops").json()["items"][4]
    fields = _form(anonymous, shop["url"])
    answers = [
        _send(anonymous, shop["url"], {**fields, "idempotency_key": f"key-{i:016d}"})
        for i in range(7)
    ]
    assert [a.status_code for a in answers[:6]] == [201] * 6
    assert answers[6].status_code == 429 and answers[6].headers["retry-after"] == "20"
    assert answers[6].json()["detail"][0]["loc"] == ["client"]
    page = anonymous.post(
        _path(shop["url"]) + "/reports", data=fields, headers={"Accept": "text/html"}
    )
    assert page.status_code == 429 and "提交过于频繁" in page.text


def test_xlsx_import_reads_bilingual_headers_and_rejects_non_xlsx(demo: Platform) -> None:
    from chengyun.adapters.spreadsheets.shops_xlsx import shops_from_xlsx
    from chengyun.domain.errors import InvalidInput

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["店铺名称", "纬度", "经度", "启用 Active"])
    sheet.append(["甲", 31.15, 121.11, "否"])
    sheet.append([None, None, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    read = shops_from_xlsx(buffer.getvalue())
    assert len(read.rows) == 1 and read.problems == []
    where, shop = read.rows[0]
    assert where == ("Sheet", 2) and (shop.lng, shop.lat, shop.active) == (121.11, 31.15, False)
    with pytest.raises(InvalidInput) as refused:
        shops_from_xlsx(b"not a workbook")
    assert refused.value.problems[0].location == ("file",)


def test_one_shop_code_is_rate_limited_whoever_scans_it(demo: Platform, client: TestClient) -> None:
    shop = client.get("/api/v1/shops").json()["items"][5]
    app = create_app(platform=demo)
    answers = []
    for number in range(21):  # four reports from each phone, well within its own limit
        address = (f"10.0.0.{number // 4 + 1}", 40000 + number)
        with TestClient(app, raise_server_exceptions=False, client=address) as phone:
            fields = _form(phone, shop["url"])
            answers.append(_send(phone, shop["url"], fields, photos=0))
    assert {a.status_code for a in answers[:20]} == {422}  # refused for the missing photo
    assert answers[20].status_code == 429
    assert answers[20].json()["detail"][0]["loc"] == ["shop_token"]


def test_the_registry_goes_out_and_back_in_as_xlsx_over_http(
    demo: Platform, client: TestClient
) -> None:
    exported = client.get("/api/v1/shops/export.xlsx")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    sheet.cell(row=2, column=2, value="好邻居便利店（改名）")
    sheet.cell(row=3, column=4, value=121.5)  # moved out of the sub-district: refused
    changed = io.BytesIO()
    assert sheet.parent is not None
    sheet.parent.save(changed)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

    def upload(data: bytes) -> Any:
        return client.post("/api/v1/shops/import.xlsx", files={"file": ("shops.xlsx", data, xlsx)})

    refused = upload(changed.getvalue())
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["店铺 Shops", 3, "经度 Longitude"]
    assert client.get("/api/v1/shops").json()["items"][0]["name"] == "好邻居便利店"  # nothing
    sheet.cell(row=3, column=4, value=exported_lng(exported.content))
    fixed = io.BytesIO()
    sheet.parent.save(fixed)
    done = upload(fixed.getvalue())
    assert done.status_code == 200 and done.json() == {"created": 0, "updated": 1}
    assert client.get("/api/v1/shops").json()["items"][0]["name"] == "好邻居便利店（改名）"
    assert upload(b"PK not really").status_code == 422


def exported_lng(content: bytes) -> float:
    """The second shop's longitude in an exported workbook."""
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    value = sheet.cell(row=3, column=4).value
    assert isinstance(value, float)
    return value
