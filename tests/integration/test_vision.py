"""Video algorithms over HTTP on both databases: alerts become cases exactly once, repeats
join the open case within the window, "scene cleared" proposes closure, false alarms are
voided and counted, bad input is refused with nothing left behind."""

from __future__ import annotations

import base64
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.db.tables_vision import vision_alerts
from chengyun.clock import DrivenClock
from chengyun.domain.vision import DEFAULT_SCENES
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform
from chengyun.services import vision
from chengyun.services.records import PhotoRecord
from tests.factories import CENTRE, COMMANDER, GATEWAY, OPERATOR, do, patrol_member, png

CAMERA = "31011800201320999001"
SOURCE = "hik-ai"


def snapshot(width: int = 4) -> str:
    return base64.b64encode(png(width, 3)).decode()


def alert(clock: DrivenClock, alert_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": SOURCE,
        "alert_id": alert_id,
        "camera_id": CAMERA,
        "scene": "street_vending",
        "occurred_at": clock.now().astimezone(CHINA_TZ).isoformat(),
        "confidence": 0.93,
        "bbox": [120, 80, 64, 128],
        "snapshot": snapshot(),
    }
    body.update(changes)
    return body


def post(client: TestClient, body: Any, **kwargs: Any):
    headers = client.headers_for(GATEWAY)  # type: ignore[attr-defined]
    if "files" in kwargs or "data" in kwargs:
        return client.post("/api/v1/vision/alerts", headers=headers, **kwargs)
    return client.post("/api/v1/vision/alerts", json=body, headers=headers)


@pytest.fixture
def camera(client: TestClient, demo: Platform) -> str:
    answer = client.put(
        f"/api/v1/vision/cameras/{CAMERA}",
        json={"name": "盈浦路口东", "lng": CENTRE[0], "lat": CENTRE[1], "address": "盈浦路1号"},
        headers=client.headers_for(OPERATOR),  # type: ignore[attr-defined]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["grid_code"] == "310118002900001" and answer.json()["unit_code"]
    return CAMERA


def cases_total(client: TestClient) -> int:
    return int(client.get("/api/v1/cases").json()["total"])


def case(client: TestClient, case_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/cases/{case_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_alert_opens_a_dispatched_case_once(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    body = alert(clock, "A-0001")
    first = post(client, body)
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["outcome"] == "opened" and answer["subclass"] == "E0501"
    assert answer["case"]["status"] == "dispatched"
    assert answer["case_id"] == answer["opened_case_id"]
    detail = case(client, answer["case_id"])
    assert detail["channel"] == "video_ai" and detail["reporter"] is None
    assert detail["position"] == {"lng": CENTRE[0], "lat": CENTRE[1]}
    assert [e["action"] for e in detail["timeline"]] == ["report", "register", "dispatch"]
    assert len(detail["photos"]) == 1 and detail["photos"][0]["content_type"] == "image/png"
    photo = client.get(answer["snapshot_url"])
    assert photo.status_code == 200 and photo.content.startswith(b"\x89PNG")

    again = post(client, body)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == answer
    assert cases_total(client) == 1

    same_instant = clock.now().astimezone(UTC).isoformat()
    restated = post(client, {**body, "occurred_at": same_instant, "scene": "Street_Vending"})
    assert restated.status_code == 200 and restated.json()["id"] == answer["id"]
    changed = post(client, {**body, "confidence": 0.5})
    assert changed.status_code == 409
    assert changed.json()["detail"][0]["loc"] == ["alert_id"]
    listed = client.get("/api/v1/vision/alerts").json()
    assert listed["total"] == 1 and listed["items"][0]["alert_id"] == "A-0001"


def test_alerts_opening_joining_and_replayed_send_no_rollback(
    client: TestClient, camera: str, clock: DrivenClock, rollbacks: list[str]
) -> None:
    """The alert intake's reads before it reports a case, and a replay's, end without a
    ROLLBACK (on PostgreSQL it would make psycopg forget the connection's prepared
    statements: cameras send alerts all day)."""
    client.headers_for(GATEWAY)  # type: ignore[attr-defined]  # the token, issued once
    rollbacks.clear()
    opened = post(client, alert(clock, "R-0001"))
    assert opened.status_code == 201 and opened.json()["outcome"] == "opened", opened.text
    clock.tick(timedelta(minutes=1))
    joined = post(client, alert(clock, "R-0002"))
    assert joined.status_code == 201 and joined.json()["outcome"] == "joined", joined.text
    replayed = post(client, alert(clock, "R-0002"))
    assert replayed.status_code == 200, replayed.text
    assert rollbacks == []


def test_repeats_join_within_the_window_and_a_new_case_opens_after_it(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    first = post(client, alert(clock, "A-1")).json()
    case_id = first["case_id"]
    clock.tick(timedelta(minutes=20))
    joined = post(client, alert(clock, "A-2", confidence=0.81)).json()
    assert joined["outcome"] == "joined" and joined["case_id"] == case_id
    assert joined["opened_case_id"] is None
    clock.tick(timedelta(minutes=25))  # 45 min after the first, 25 after the last: still joins
    rolled = post(client, alert(clock, "A-3")).json()
    assert rolled["outcome"] == "joined" and rolled["case_id"] == case_id
    assert cases_total(client) == 1
    assert len(case(client, case_id)["photos"]) == 3
    other_scene = post(client, alert(clock, "A-4", scene="exposed_rubbish")).json()
    assert other_scene["outcome"] == "opened" and other_scene["case_id"] != case_id

    clock.tick(timedelta(minutes=31))  # past the window: a new case record …
    later = post(client, alert(clock, "A-5")).json()
    assert later["opened_case_id"] not in (None, case_id)
    # … which the platform's duplicate rule merges into the earlier case, still open nearby
    assert later["outcome"] == "merged" and later["case_id"] == case_id
    assert case(client, later["opened_case_id"])["status"] == "merged"
    assert [d["id"] for d in case(client, case_id)["duplicates"]] == [later["opened_case_id"]]

    listed = client.get("/api/v1/vision/alerts", params={"case_id": case_id}).json()
    assert listed["total"] == 4
    only_joined = client.get("/api/v1/vision/alerts", params={"outcome": "joined"}).json()
    assert {a["alert_id"] for a in only_joined["items"]} == {"A-2", "A-3"}


def test_the_window_is_a_setting(
    client: TestClient, camera: str, clock: DrivenClock, platform: Platform
) -> None:
    platform.settings.vision_join_minutes = 5
    first = post(client, alert(clock, "W-1")).json()
    clock.tick(timedelta(minutes=6))
    second = post(client, alert(clock, "W-2")).json()
    assert second["outcome"] == "merged" and second["case_id"] == first["case_id"]


def test_scene_cleared_proposes_closure_and_a_person_closes(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    opened = post(client, alert(clock, "C-1")).json()
    case_id = opened["case_id"]
    handler = case(client, case_id)["assignee"]["number"]
    clock.tick(timedelta(minutes=12))
    cleared = post(client, alert(clock, "C-2", event="cleared", confidence=0.88))
    assert cleared.status_code == 201, cleared.text
    proposal = cleared.json()
    assert proposal["outcome"] == "closure_proposed" and proposal["case_id"] == case_id
    detail = case(client, case_id)
    assert detail["status"] == "dispatched"  # a proposal only: people close cases
    assert [
        n["recipient"] for n in detail["notifications"] if n["topic"] == "closure_proposal"
    ] == ["command_centre"]
    assert len(detail["photos"]) == 2

    for action in ("accept", "arrive", "handle"):
        extra = {"position": {"lng": CENTRE[0], "lat": CENTRE[1]}} if action == "arrive" else {}
        answer = do(client, case_id, action, handler, **extra)
        assert answer.status_code == 200, answer.text
    assert do(client, case_id, "check", OPERATOR, passed=True).status_code == 200
    closed = do(client, case_id, "close", OPERATOR)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"

    # nothing open any more: "cleared" is recorded, proposes nothing
    clock.tick(timedelta(minutes=1))
    late = post(client, alert(clock, "C-3", event="cleared", snapshot=None)).json()
    assert late["outcome"] == "no_open_case" and late["case_id"] is None
    # a closed case is not joined: the scene coming back opens a new case
    again = post(client, alert(clock, "C-4")).json()
    assert again["outcome"] == "opened" and again["case_id"] != case_id

    precision = client.get(
        "/api/v1/vision/precision", headers=client.headers_for("assessor")
    ).json()  # type: ignore[attr-defined]
    row = next(r for r in precision["scenes"] if r["scene"] == "street_vending")
    assert (row["alerts"], row["cases"], row["confirmed"], row["pending"]) == (2, 2, 1, 1)
    assert row["precision"] == 1.0 and row["scene_name"].startswith("占道经营")


def test_a_false_alarm_is_voided_through_the_case_engine_and_counted(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    wrong = post(client, alert(clock, "F-1")).json()
    right = post(client, alert(clock, "F-2", scene="exposed_rubbish")).json()
    auth = client.headers_for  # type: ignore[attr-defined]

    marked = client.post(
        f"/api/v1/vision/alerts/{wrong['id']}/false-alarm",
        json={"note": "行人被识别为摊贩 / a pedestrian taken for a vendor"},
        headers=auth(OPERATOR),
    )
    assert marked.status_code == 200, marked.text
    verdict = marked.json()
    assert verdict["verdict"] == "false_alarm" and verdict["actor"] == OPERATOR
    assert verdict["void_pending"] is True and verdict["case"]["status"] == "dispatched"
    again = client.post(f"/api/v1/vision/alerts/{wrong['id']}/false-alarm", headers=auth(OPERATOR))
    assert again.status_code == 200 and again.json()["at"] == verdict["at"]
    other = client.post(f"/api/v1/vision/alerts/{wrong['id']}/confirm", headers=auth(OPERATOR))
    assert other.status_code == 409

    own = do(client, wrong["case_id"], "approve_void", OPERATOR, approved=True)
    assert own.status_code == 409  # nobody approves their own request
    approved = do(client, wrong["case_id"], "approve_void", COMMANDER, approved=True)
    assert approved.status_code == 200 and approved.json()["status"] == "voided"
    reason = next(e for e in approved.json()["timeline"] if e["action"] == "void")["reason"]
    assert "误报" in reason and "pedestrian" in reason

    confirmed = client.post(
        f"/api/v1/vision/cases/{right['case_id']}/verdict/confirmed", headers=auth(OPERATOR)
    )
    assert confirmed.status_code == 200 and confirmed.json()["verdict"] == "confirmed"

    # a voided case is not joined: the same scene again opens a new case
    clock.tick(timedelta(minutes=2))
    anew = post(client, alert(clock, "F-3")).json()
    assert anew["outcome"] == "opened" and anew["case_id"] != wrong["case_id"]

    answer = client.get(
        "/api/v1/vision/precision",
        params={
            "from": (clock.now() - timedelta(hours=1)).isoformat(),
            "to": (clock.now() + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    rows = {r["scene"]: r for r in report["scenes"]}
    vending, rubbish = rows["street_vending"], rows["exposed_rubbish"]
    assert (vending["cases"], vending["false_alarms"], vending["confirmed"]) == (2, 1, 0)
    assert vending["precision"] == 0.0 and vending["pending"] == 1
    assert rubbish["precision"] == 1.0
    total = report["algorithms"][0]
    assert (total["source"], total["alerts"], total["cases"]) == (SOURCE, 3, 3)
    assert total["precision"] == 0.5
    assert "from" in report and "to" in report

    empty = client.get(
        "/api/v1/vision/precision",
        params={"from": "2019-01-01T00:00:00+08:00", "to": "2019-02-01T00:00:00+08:00"},
    ).json()
    assert empty["scenes"] == [] and empty["algorithms"] == []
    backwards = client.get(
        "/api/v1/vision/precision",
        params={"from": "2020-02-01T00:00:00+08:00", "to": "2020-01-01T00:00:00+08:00"},
    )
    assert backwards.status_code == 422


def test_multipart_alerts_with_a_snapshot_file(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    body = alert(clock, "M-1", snapshot=None, bbox=None)
    fields = {k: str(v) for k, v in body.items() if v is not None}
    fields["bbox"] = "10,20,30,40"
    files = {"snapshot": ("shot.png", io.BytesIO(png(6, 6)), "application/octet-stream")}
    answer = post(client, None, data=fields, files=files)
    assert answer.status_code == 201, answer.text
    assert answer.json()["bbox"] == [10, 20, 30, 40]
    files = {"snapshot": ("shot.png", io.BytesIO(png(6, 6)), "application/octet-stream")}
    replay = post(client, None, data=fields, files=files)
    assert replay.status_code == 200 and replay.json()["id"] == answer.json()["id"]


def _refused(answer: Any, status: int, *loc: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["message"]
    if loc:
        assert any(list(d["loc"])[-len(loc) :] == list(loc) for d in body["detail"]), body


def test_bad_input_is_refused_with_nothing_left_behind(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    _refused(post(client, alert(clock, "B-1", camera_id="NO-SUCH-CAMERA")), 422, "camera_id")
    _refused(post(client, alert(clock, "B-2", scene="flying_saucer")), 422, "scene")
    _refused(post(client, alert(clock, "B-3", snapshot=None)), 422, "snapshot")
    _refused(
        post(client, alert(clock, "B-4", snapshot=base64.b64encode(b"%PDF-1.4 hi").decode())),
        422,
        "snapshot",
    )
    _refused(post(client, alert(clock, "B-5", snapshot="***not base64***")), 422, "snapshot")
    huge = base64.b64encode(b"\xff\xd8\xff" + bytes(10 * 1024 * 1024)).decode()
    _refused(post(client, alert(clock, "B-6", snapshot=huge)), 422, "snapshot")
    future = (clock.now() + timedelta(hours=2)).isoformat()
    _refused(post(client, alert(clock, "B-7", occurred_at=future)), 422, "occurred_at")
    _refused(post(client, alert(clock, "B-8", occurred_at="2020-06-24T09:30:00")), 422)
    _refused(post(client, alert(clock, "B-9", confidence=1.5)), 422, "confidence")
    _refused(post(client, alert(clock, "B-10", bbox=[1, 2, 3])), 422, "bbox")
    _refused(post(client, alert(clock, "B-11", event="exploded")), 422, "event")
    _refused(post(client, alert(clock, "B 12 with spaces")), 422, "alert_id")
    _refused(post(client, [1, 2, 3]), 422)
    headers = {**client.headers_for(GATEWAY), "content-type": "application/json"}  # type: ignore[attr-defined]
    _refused(client.post("/api/v1/vision/alerts", content=b"{not json", headers=headers), 422)
    body = alert(clock, "B-13")
    del body["camera_id"]
    _refused(post(client, body), 422, "camera_id")
    patrol = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    _refused(client.post("/api/v1/vision/alerts", json=alert(clock, "B-14"), headers=patrol), 403)

    assert client.get("/api/v1/vision/alerts").json()["total"] == 0
    assert cases_total(client) == 0
    # after all that, the same ids still work
    assert post(client, alert(clock, "B-1")).status_code == 201


def test_inactive_cameras_thresholds_and_switched_off_scenes(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    auth = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    scenes = client.get("/api/v1/vision/scenes", headers=auth).json()
    assert scenes["shipped"] is False  # the demo stored the shipped mapping
    assert {s["code"] for s in scenes["items"]} == {m.code for m in DEFAULT_SCENES}
    by_code = {s["code"]: s for s in scenes["items"]}
    assert by_code["exposed_rubbish"]["subclass"] == "E0102"
    assert by_code["outside_shop"]["subclass"] == "E0504"

    unknown = client.put(
        "/api/v1/vision/scenes/ghost", json={"subclass": "E9999", "name_zh": "鬼"}, headers=auth
    )
    _refused(unknown, 422, "subclass")
    strict = client.put(
        "/api/v1/vision/scenes/Street_Vending",
        json={"subclass": "E0501", "name_zh": "占道经营", "min_confidence": 0.9},
        headers=auth,
    )
    assert strict.status_code == 200 and strict.json()["code"] == "street_vending"
    low = post(client, alert(clock, "T-1", confidence=0.6)).json()
    assert low["outcome"] == "below_threshold" and low["case_id"] is None
    client.put(
        "/api/v1/vision/scenes/laundry",
        json={"subclass": "E0511", "name_zh": "乱晾晒", "active": False},
        headers=auth,
    )
    off = post(client, alert(clock, "T-2", scene="laundry")).json()
    assert off["outcome"] == "scene_off"
    fresh = client.put(
        "/api/v1/vision/scenes/umbrella",
        json={"subclass": "E0504", "name_zh": "出店经营（遮阳伞）", "name_en": "Shop umbrella"},
        headers=auth,
    )
    assert fresh.status_code == 200
    assert post(client, alert(clock, "T-3", scene="UMBRELLA")).json()["outcome"] == "opened"
    assert cases_total(client) == 1
    stored = client.get("/api/v1/vision/scenes", headers=auth).json()
    assert len(stored["items"]) == len(scenes["items"]) + 1
    assert client.delete("/api/v1/vision/scenes/umbrella", headers=auth).status_code == 204
    assert client.delete("/api/v1/vision/scenes/umbrella", headers=auth).status_code == 404
    _refused(post(client, alert(clock, "T-4", scene="umbrella")), 422, "scene")

    listed = client.get(f"/api/v1/vision/cameras/{CAMERA}", headers=auth).json()
    client.put(
        f"/api/v1/vision/cameras/{CAMERA}",
        json={
            **{k: listed[k] for k in ("name", "lng", "lat", "address", "owner")},
            "active": False,
        },
        headers=auth,
    )
    _refused(post(client, alert(clock, "T-5")), 422, "camera_id")
    _refused(client.delete(f"/api/v1/vision/cameras/{CAMERA}", headers=auth), 409)


def test_camera_registry_edits_and_refusals(client: TestClient, demo: Platform) -> None:
    auth = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    seeded = client.get("/api/v1/vision/cameras", headers=auth).json()
    assert seeded["total"] == 12
    assert len({c["unit_code"] for c in seeded["items"]}) == 12
    outside = client.put(
        "/api/v1/vision/cameras/CAM-X",
        json={"name": "远方", "lng": 116.4, "lat": 39.9},
        headers=auth,
    )
    _refused(outside, 422, "lng")
    zero = client.put(
        "/api/v1/vision/cameras/CAM-X", json={"name": "零", "lng": 0, "lat": 0}, headers=auth
    )
    _refused(zero, 422)
    wrong_unit = client.put(
        "/api/v1/vision/cameras/CAM-X",
        json={"name": "错单元", "lng": CENTRE[0], "lat": CENTRE[1], "unit_code": "310118002999999"},
        headers=auth,
    )
    _refused(wrong_unit, 422, "unit_code")
    bad_id = client.put(
        "/api/v1/vision/cameras/%E6%91%84",
        json={"name": "x", "lng": CENTRE[0], "lat": CENTRE[1]},
        headers=auth,
    )
    _refused(bad_id, 422, "camera_id")
    made = client.put(
        "/api/v1/vision/cameras/CAM-X",
        json={"name": "新探头", "lng": CENTRE[0], "lat": CENTRE[1], "crs": "gcj02"},
        headers=auth,
    )
    assert made.status_code == 200 and made.json()["lng"] != CENTRE[0]
    assert client.delete("/api/v1/vision/cameras/CAM-X", headers=auth).status_code == 204
    assert client.get("/api/v1/vision/cameras/CAM-X", headers=auth).status_code == 404
    patrol = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    assert client.get("/api/v1/vision/cameras", headers=patrol).status_code == 403


def test_cameras_xlsx_round_trip_and_row_located_problems(
    client: TestClient, demo: Platform
) -> None:
    auth = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    exported = client.get("/api/v1/vision/cameras.xlsx", headers=auth)
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    rows = list(sheet.values)
    assert rows[0][:4] == ("编号 Camera ID", "名称 Name", "经度 Longitude", "纬度 Latitude")
    assert len(rows) == 13
    sheet.cell(row=2, column=2, value="改名的探头")
    sheet.append(
        ["CAM-NEW", "新增探头", CENTRE[0], CENTRE[1], "wgs84", None, None, None, None, "否"]
    )
    buffer = io.BytesIO()
    sheet.parent.save(buffer)
    files = {"file": ("cameras.xlsx", buffer.getvalue(), "application/octet-stream")}
    imported = client.post("/api/v1/vision/cameras.xlsx", files=files, headers=auth)
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"cameras": 13}
    listed = {
        c["camera_id"]: c
        for c in client.get("/api/v1/vision/cameras", headers=auth).json()["items"]
    }
    assert len(listed) == 13 and listed["CAM-NEW"]["active"] is False
    assert listed[rows[1][0]]["name"] == "改名的探头"

    sheet.append(["CAM-BAD", "坏行", "东经", CENTRE[1]])
    sheet.append(["CAM-FAR", "太远", 116.4, 39.9])
    sheet.append(["CAM-NEW", "重复", CENTRE[0], CENTRE[1]])
    buffer = io.BytesIO()
    sheet.parent.save(buffer)
    files = {"file": ("cameras.xlsx", buffer.getvalue(), "application/octet-stream")}
    refused = client.post("/api/v1/vision/cameras.xlsx", files=files, headers=auth)
    assert refused.status_code == 422
    where = [d["loc"][:2] for d in refused.json()["detail"]]
    assert where == [["摄像头 Cameras", 15]]  # format problems first, nothing else read
    sheet.delete_rows(15)
    buffer = io.BytesIO()
    sheet.parent.save(buffer)
    files = {"file": ("cameras.xlsx", buffer.getvalue(), "application/octet-stream")}
    refused = client.post("/api/v1/vision/cameras.xlsx", files=files, headers=auth)
    assert refused.status_code == 422
    assert sorted(d["loc"][1] for d in refused.json()["detail"]) == [15, 16]
    assert client.get("/api/v1/vision/cameras", headers=auth).json()["total"] == 13
    not_xlsx = {"file": ("cameras.xlsx", b"hello", "application/octet-stream")}
    _refused(client.post("/api/v1/vision/cameras.xlsx", files=not_xlsx, headers=auth), 422)


runner = CliRunner()


def test_cameras_cli(
    demo: Platform, db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    target = tmp_path / "cameras.xlsx"
    result = runner.invoke(app, ["cameras", "export", str(target)])
    assert result.exit_code == 0, result.output
    assert "12 cameras" in result.output
    result = runner.invoke(app, ["cameras", "import", str(target)])
    assert result.exit_code == 0 and "imported 12" in result.output, result.output
    result = runner.invoke(app, ["cameras", "list"])
    assert result.exit_code == 0 and "12 cameras" in result.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    result = runner.invoke(app, ["cameras", "import", str(broken)])
    assert result.exit_code == 1 and "xlsx" in result.output


def test_alert_json_survives_a_round_trip_of_the_doc_example(
    client: TestClient, camera: str, clock: DrivenClock
) -> None:
    example = json.loads(
        json.dumps(alert(clock, "DOC-1", bbox=[0.5, 0.25, 100, 200.5]), ensure_ascii=False)
    )
    answer = post(client, example)
    assert answer.status_code == 201 and answer.json()["bbox"] == [0.5, 0.25, 100, 200.5]
    one = client.get(f"/api/v1/vision/alerts/{answer.json()['id']}").json()
    assert one["case"]["number"].startswith("E0501")
    assert client.get("/api/v1/vision/alerts/987654").status_code == 404


def _command(clock: DrivenClock, alert_id: str, platform: Platform) -> vision.AlertCommand:
    stored = platform.photos.save(png(5, 5), "snapshot")
    return vision.AlertCommand(
        source=SOURCE,
        alert_id=alert_id,
        camera_id=CAMERA,
        scene="street_vending",
        occurred_at=clock.now(),
        confidence=0.9,
        snapshot=PhotoRecord(
            uuid.uuid4().hex, 0, stored.content_type, stored.size, stored.sha256, clock.now()
        ),
    )


def test_an_interrupted_intake_finishes_the_case_it_opened(
    client: TestClient, camera: str, clock: DrivenClock, platform: Platform
) -> None:
    command = _command(clock, "R-1", platform)
    first = vision.receive_alert(platform.uow(), platform.cases, command, body_hash="h1")
    assert first.created and first.alert.outcome.value == "opened"
    # as if the process died after the case was committed and before the alert was
    with platform.engine.begin() as connection:
        connection.execute(sa.delete(vision_alerts))
    again = vision.receive_alert(
        platform.uow(), platform.cases, _command(clock, "R-1", platform), body_hash="h1"
    )
    assert again.created and again.alert.case_id == first.alert.case_id
    assert cases_total(client) == 1


def test_the_same_alert_twice_at_once_makes_one_case(
    client: TestClient, camera: str, clock: DrivenClock, platform: Platform
) -> None:
    commands = [_command(clock, "P-1", platform) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        receipts = list(
            pool.map(
                lambda c: vision.receive_alert(platform.uow(), platform.cases, c, body_hash="p"),
                commands,
            )
        )
    assert {r.alert.id for r in receipts} == {receipts[0].alert.id}
    assert sorted(r.created for r in receipts) == [False, True]
    assert cases_total(client) == 1
