"""People and the day/night tables over HTTP, and the same rules for Excel — both databases."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from chengyun.entrypoints.platform import Platform

G1 = "310118002900001"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def first_unit(client: TestClient, grid: str = G1) -> str:
    units = client.get("/api/v1/territory/units", params={"grid": grid}).json()["features"]
    return units[0]["properties"]["code"]


def person(**changes: Any) -> dict[str, Any]:
    body = {
        "number": "YPT-001",
        "name": "测试员",
        "phone": "13912345678",
        "post": "patrol",
        "team": "social_security",
        "assignments": [{"shift": "day", "grid_code": G1}, {"shift": "night", "grid_code": G1}],
    }
    body.update(changes)
    return body


def cells(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {s.title: list(s.iter_rows(values_only=True)) for s in book.worksheets}


def test_register_get_update_delete_a_person(client: TestClient, demo: Platform) -> None:
    created = client.post("/api/v1/people", json=person())
    assert created.status_code == 201, created.text
    assert created.json()["post_label"] == "先行巡查处置队员 Patrol and first-response member"
    assert client.get("/api/v1/people/YPT-001").json()["assignments"][1]["shift"] == "night"
    again = client.post("/api/v1/people", json=person())
    assert again.status_code == 422
    assert again.json()["detail"][0]["loc"] == ["number"]
    updated = client.put("/api/v1/people/YPT-001", json=person(name="改名"))
    assert updated.status_code == 200 and updated.json()["name"] == "改名"
    assert client.delete("/api/v1/people/YPT-001").status_code == 204
    assert client.get("/api/v1/people/YPT-001").status_code == 404
    assert client.delete("/api/v1/people/YPT-001").status_code == 404


def test_bad_people_are_refused_with_the_field_named(client: TestClient, demo: Platform) -> None:
    letters = client.post("/api/v1/people", json=person(phone="1391234abcd"))
    assert letters.status_code == 422
    assert letters.json()["detail"][0]["loc"] == ["phone"]
    unknown_grid = client.post(
        "/api/v1/people",
        json=person(assignments=[{"shift": "day", "grid_code": "310118002900042"}]),
    )
    assert unknown_grid.status_code == 422
    assert unknown_grid.json()["detail"][0]["loc"] == ["assignments", 0, "grid_code"]
    night_rule = client.post(
        "/api/v1/people",
        json=person(team="grid_supervisor", assignments=[{"shift": "night", "grid_code": G1}]),
    )
    assert night_rule.status_code == 422
    assert "outside working hours" in night_rule.json()["detail"][0]["msg"]
    bad_enum = client.post("/api/v1/people", json=person(post="mayor"))
    assert bad_enum.status_code == 422
    assert bad_enum.json()["detail"][0]["loc"] == ["body", "post"]
    assert client.get("/api/v1/people/YPT-001").status_code == 404


def test_people_filters(client: TestClient, demo: Platform) -> None:
    everyone = client.get("/api/v1/people", params={"limit": 1000}).json()
    assert 150 <= everyone["total"] <= 300
    chiefs = client.get("/api/v1/people", params={"post": "grid_chief"}).json()
    assert chiefs["total"] == 5
    night = client.get("/api/v1/people", params={"shift": "night", "grid": G1}).json()["items"]
    assert night and all(any(a["shift"] == "night" for a in p["assignments"]) for p in night)
    page = client.get("/api/v1/people", params={"limit": 10, "offset": 5}).json()
    assert len(page["items"]) == 10 and page["total"] == everyone["total"]


def test_export_import_export_is_identical(client: TestClient, demo: Platform) -> None:
    first = client.get("/api/v1/forces.xlsx")
    assert first.status_code == 200 and first.headers["content-type"] == XLSX
    imported = client.post(
        "/api/v1/forces.xlsx", files={"file": ("forces.xlsx", first.content, XLSX)}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["shifts"] == ["day", "night"]
    second = client.get("/api/v1/forces.xlsx")
    assert cells(second.content) == cells(first.content)
    template = cells(client.get("/api/v1/forces.xlsx", params={"template": True}).content)
    assert [
        len(rows) for title, rows in template.items() if title.startswith(("日间", "夜间"))
    ] == [1, 1]


def _edit(data: bytes, sheet_prefix: str, row: int, column: int, value: Any) -> bytes:
    book = load_workbook(io.BytesIO(data))
    sheet = next(s for s in book.worksheets if s.title.startswith(sheet_prefix))
    sheet.cell(row=row, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_bad_spreadsheets_name_sheet_row_and_column(client: TestClient, demo: Platform) -> None:
    good = client.get("/api/v1/forces.xlsx").content
    before = cells(good)

    def upload(data: bytes) -> dict[str, Any]:
        answer = client.post("/api/v1/forces.xlsx", files={"file": ("f.xlsx", data, XLSX)})
        assert answer.status_code == 422, answer.text
        return answer.json()

    unknown_grid = upload(_edit(good, "日间", 12, 7, "310118002900077"))
    assert unknown_grid["detail"][0]["loc"] == ["日间 Day（附件2）", 12, "责任网格 Grid"]
    assert "unknown grid code" in unknown_grid["detail"][0]["msg"]

    letters = upload(_edit(good, "夜间", 3, 3, "139abc45678"))
    assert letters["detail"][0]["loc"] == ["夜间 Night（附件3）", 3, "电话 Phone"]

    book = load_workbook(io.BytesIO(good))
    day = next(s for s in book.worksheets if s.title.startswith("日间"))
    row = [c.value for c in day[20]]
    row[1] = "另一个人"  # same number, different person
    day.append(row)
    out = io.BytesIO()
    book.save(out)
    duplicate = upload(out.getvalue())
    assert duplicate["detail"][0]["type"] == "duplicate"
    assert duplicate["detail"][0]["loc"][1] == day.max_row

    assert upload(b"not a workbook")["detail"][0]["loc"] == ["file"]
    assert cells(client.get("/api/v1/forces.xlsx").content) == before  # nothing half-imported
