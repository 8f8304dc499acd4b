"""The case taxonomy over HTTP on both databases: list and filters, edit one subclass and
see a new case use it, replace it all, exchange it as .xlsx, refuse what breaks cases."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from chengyun.entrypoints.platform import Platform
from tests.factories import G1

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIELDS = {
    "code",
    "kind",
    "class_code",
    "class_name_zh",
    "class_name_en",
    "name_zh",
    "name_en",
    "sector",
    "urgency",
    "responsible",
    "responsible_label",
    "filing",
    "closure",
    "limits",
}
STAGES = {"register", "dispatch", "accept", "arrive", "handle", "check"}


def subclass(client: TestClient, code: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/taxonomy/{code}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def cells(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {s.title: list(s.iter_rows(values_only=True)) for s in book.worksheets}


def upload(client: TestClient, data: bytes) -> Any:
    return client.post("/api/v1/taxonomy.xlsx", files={"file": ("taxonomy.xlsx", data, XLSX)})


def report_e0102(client: TestClient) -> dict[str, Any]:
    reporter = client.get(
        "/api/v1/people", params={"post": "patrol", "grid": G1, "limit": 1}
    ).json()["items"][0]["number"]
    answer = client.post(
        "/api/v1/cases",
        json={
            "channel": "patrol",
            "subclass": "E0102",
            "position": {"lng": 121.110, "lat": 31.150},
            "reporter": reporter,
            "observed_at": "2020-06-24T09:20:00+08:00",
        },
        headers=client.headers_for(reporter),  # type: ignore[attr-defined]
    )
    assert answer.status_code == 201, answer.text
    case: dict[str, Any] = answer.json()
    return case


def test_the_list_has_every_subclass_with_its_rule(client: TestClient, demo: Platform) -> None:
    answer = client.get("/api/v1/taxonomy")
    assert answer.status_code == 200
    items = answer.json()
    assert len(items) >= 60
    assert len({s["code"] for s in items}) == len(items)
    for item in items:
        assert set(item) >= FIELDS, item["code"]
        assert item["kind"] in ("component", "event")
        assert set(item["limits"]) == STAGES
        assert all(v["amount"] > 0 and v["unit"] for v in item["limits"].values())
    e0102 = next(s for s in items if s["code"] == "E0102")
    assert e0102["responsible"] == "maintenance"
    assert e0102["responsible_label"] == "一体化养护公司 Integrated maintenance company"
    assert e0102["limits"]["handle"] == {"amount": 2, "unit": "working_hours"}


def test_filters(client: TestClient, demo: Platform) -> None:
    everything = client.get("/api/v1/taxonomy").json()
    components = client.get("/api/v1/taxonomy", params={"kind": "component"}).json()
    events = client.get("/api/v1/taxonomy", params={"kind": "event"}).json()
    assert components and events and len(components) + len(events) == len(everything)
    assert all(s["code"].startswith("C") for s in components)
    class_01 = client.get("/api/v1/taxonomy", params={"kind": "event", "class_code": "01"}).json()
    assert class_01 and all(s["code"].startswith("E01") for s in class_01)
    rubbish = client.get("/api/v1/taxonomy", params={"q": "暴露垃圾"}).json()
    assert [s["code"] for s in rubbish] == ["E0102"]
    by_english = client.get("/api/v1/taxonomy", params={"q": "exposed RUBBISH"}).json()
    assert "E0102" in [s["code"] for s in by_english]
    by_code = client.get("/api/v1/taxonomy", params={"q": "e0102"}).json()
    assert [s["code"] for s in by_code] == ["E0102"]
    assert client.get("/api/v1/taxonomy", params={"q": "no such thing"}).json() == []
    bad_kind = client.get("/api/v1/taxonomy", params={"kind": "animal"})
    assert bad_kind.status_code == 422
    assert bad_kind.json()["detail"][0]["loc"] == ["query", "kind"]


def test_get_one_and_unknown_codes(client: TestClient, demo: Platform) -> None:
    e0102 = subclass(client, "E0102")
    assert e0102["name_zh"] == "暴露垃圾" and e0102["kind"] == "event"
    missing = client.get("/api/v1/taxonomy/E9999")
    assert missing.status_code == 404
    assert "E9999" in missing.json()["message"]


def test_an_edited_limit_is_used_by_new_cases(
    client: TestClient, demo: Platform, clock: Any
) -> None:
    body = subclass(client, "E0102")  # sent back as read, labels included
    body["limits"]["handle"] = {"amount": 30, "unit": "minutes"}
    saved = client.put("/api/v1/taxonomy/E0102", json=body)
    assert saved.status_code == 200, saved.text
    assert saved.json()["limits"]["handle"] == {"amount": 30, "unit": "minutes"}
    assert subclass(client, "E0102")["limits"]["handle"] == {"amount": 30, "unit": "minutes"}
    everything = client.get("/api/v1/taxonomy").json()
    assert len(everything) >= 60  # one subclass changed, none lost

    case = report_e0102(client)
    assert case["status"] == "dispatched"
    detail = client.get(f"/api/v1/cases/{case['id']}").json()
    handle = next(s for s in detail["stages"] if s["stage"] == "handle")
    started = datetime.fromisoformat(handle["started_at"])
    assert started == clock.now()
    assert datetime.fromisoformat(handle["due_at"]) - started == timedelta(minutes=30)


def test_a_new_subclass_is_added_in_code_order(client: TestClient, demo: Platform) -> None:
    body = subclass(client, "E0102")
    body.update(code="E0198", name_zh="测试小类", name_en="Test subclass")
    created = client.put("/api/v1/taxonomy/E0198", json=body)
    assert created.status_code == 200, created.text
    codes = [s["code"] for s in client.get("/api/v1/taxonomy").json()]
    assert "E0198" in codes
    assert codes[codes.index("E0198") - 1] < "E0198" < codes[codes.index("E0198") + 1]
    assert subclass(client, "E0198")["name_en"] == "Test subclass"


def test_bad_subclasses_are_refused_with_the_field_named(
    client: TestClient, demo: Platform
) -> None:
    good = subclass(client, "E0102")

    def refused(body: dict[str, Any], code: str = "E0102") -> list[list[Any]]:
        answer = client.put(f"/api/v1/taxonomy/{code}", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"]
        return [d["loc"] for d in answer.json()["detail"]]

    bad_unit = {**good, "limits": {**good["limits"], "handle": {"amount": 2, "unit": "weeks"}}}
    assert refused(bad_unit) == [["limits", "handle", "unit"]]
    negative = {**good, "limits": {**good["limits"], "arrive": {"amount": -5, "unit": "minutes"}}}
    assert refused(negative) == [["limits", "arrive"]]
    unknown_owner = {**good, "responsible": "the mayor"}
    assert refused(unknown_owner) == [["responsible"]]
    assert refused({**good, "code": "E0103"}) == [["code"]]
    missing_stage = {**good, "limits": {k: v for k, v in good["limits"].items() if k != "check"}}
    assert refused(missing_stage) == [["limits", "check"]]
    assert ["surprise"] in refused({**good, "surprise": 1})
    not_an_object = client.put("/api/v1/taxonomy/E0102", json=[good])
    assert not_an_object.status_code == 422
    # nothing was changed by any of them
    assert subclass(client, "E0102") == good


def test_xlsx_export_import_export_is_identical(client: TestClient, demo: Platform) -> None:
    first = client.get("/api/v1/taxonomy.xlsx")
    assert first.status_code == 200 and first.headers["content-type"] == XLSX
    imported = upload(client, first.content)
    assert imported.status_code == 200, imported.text
    counts = imported.json()
    assert counts["subclasses"] >= 60
    assert counts["components"] + counts["events"] == counts["subclasses"]
    second = client.get("/api/v1/taxonomy.xlsx")
    assert cells(second.content) == cells(first.content)


def test_a_broken_workbook_names_sheet_row_and_column(client: TestClient, demo: Platform) -> None:
    good = client.get("/api/v1/taxonomy.xlsx").content
    book = load_workbook(io.BytesIO(good))
    sheet = book["分类 Taxonomy"]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=3, column=headers.index("处置时限单位 Handle unit") + 1, value="fortnights")
    sheet.cell(row=5, column=headers.index("责任主体 Responsible") + 1, value="nobody")
    buffer = io.BytesIO()
    book.save(buffer)
    answer = upload(client, buffer.getvalue())
    assert answer.status_code == 422, answer.text
    locs = [d["loc"] for d in answer.json()["detail"]]
    assert ["分类 Taxonomy", 3, "处置时限单位 Handle unit"] in locs
    assert ["分类 Taxonomy", 5, "责任主体 Responsible"] in locs
    assert "nothing was imported" in answer.json()["message"]
    assert cells(client.get("/api/v1/taxonomy.xlsx").content) == cells(good)

    not_a_workbook = upload(client, b"PK not really")
    assert not_a_workbook.status_code == 422
    assert not_a_workbook.json()["detail"][0]["loc"] == ["file"]


def test_replacing_all_refuses_to_drop_a_subclass_in_use(
    client: TestClient, demo: Platform
) -> None:
    everything = client.get("/api/v1/taxonomy").json()  # labels included, as read
    without_rubbish = [s for s in everything if s["code"] != "E0102"]
    # nothing uses E0102 yet: it may go, and then come back
    assert client.put("/api/v1/taxonomy", json={"subclasses": without_rubbish}).status_code == 200
    assert client.get("/api/v1/taxonomy/E0102").status_code == 404
    back = client.put("/api/v1/taxonomy", json={"subclasses": everything})
    assert back.status_code == 200, back.text
    assert back.json()["subclasses"] == len(everything)

    report_e0102(client)
    refused = client.put("/api/v1/taxonomy", json={"subclasses": without_rubbish})
    assert refused.status_code == 422, refused.text
    assert "E0102" in refused.json()["message"]
    assert any("E0102" in d["msg"] for d in refused.json()["detail"])
    assert client.get("/api/v1/taxonomy/E0102").status_code == 200


def test_a_subclass_in_use_survives_a_workbook_without_it(
    client: TestClient, demo: Platform
) -> None:
    report_e0102(client)  # the shipped default is in force: its subclasses are protected too
    book = load_workbook(io.BytesIO(client.get("/api/v1/taxonomy.xlsx").content))
    sheet = book["分类 Taxonomy"]
    row = next(
        r for r in range(2, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == "E0102"
    )
    sheet.delete_rows(row)
    buffer = io.BytesIO()
    book.save(buffer)
    answer = upload(client, buffer.getvalue())
    assert answer.status_code == 422
    assert "E0102" in answer.json()["message"]


def test_bad_whole_taxonomies_are_located(client: TestClient, demo: Platform) -> None:
    everything = client.get("/api/v1/taxonomy").json()
    twice = client.put("/api/v1/taxonomy", json={"subclasses": [*everything, everything[0]]})
    assert twice.status_code == 422
    assert twice.json()["detail"][0]["loc"] == ["subclasses", len(everything), "code"]
    assert twice.json()["detail"][0]["type"] == "duplicate"
    broken = [dict(s) for s in everything]
    broken[3] = {**broken[3], "urgency": "whenever"}
    answer = client.put("/api/v1/taxonomy", json={"subclasses": broken})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["subclasses", 3, "urgency"]
    empty = client.put("/api/v1/taxonomy", json={"subclasses": []})
    assert empty.status_code == 422
    not_a_document = client.put("/api/v1/taxonomy", json={"items": everything})
    assert not_a_document.status_code == 422
    assert not_a_document.json()["detail"][0]["loc"] == ["subclasses"]
