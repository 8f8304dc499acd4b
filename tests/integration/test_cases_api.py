"""Cases over HTTP on both databases: intake, idempotency, the closed loop, side roads."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image

from chengyun.demo.loader import DEMO_PASSWORD
from chengyun.entrypoints.platform import Platform
from tests.factories import (
    COMMANDER,
    OPERATOR,
    do,
    files,
    login_csrf,
    patrol_member,
    png,
    report,
    submit,
)


def post_case(client: TestClient, body: dict, key: str | None = None):
    return submit(client, body, key)


def test_a_patrol_report_is_placed_classified_timed_and_dispatched(
    client: TestClient, demo: Platform
) -> None:
    reporter = patrol_member(client)
    answer = post_case(client, report(reporter=reporter), key="phone-1-0001")
    assert answer.status_code == 201, answer.text
    case = answer.json()
    assert re.fullmatch(r"E010220200624\d{5}", case["number"])
    assert case["status"] == "dispatched"
    assert case["urgency"] == "general"
    assert case["grid"]["code"] == "310118002900001" and case["grid"]["name"]
    assert case["unit"]["code"] and case["assignee"]["number"] and case["assignee"]["name"]
    assert set(case["deadlines"]) == {"accept", "arrive", "handle"}
    assert case["light"] == "green"
    assert answer.headers["location"] == f"/api/v1/cases/{case['id']}"

    replay = post_case(client, report(reporter=reporter), key="phone-1-0001")
    assert replay.status_code == 200 and replay.json()["id"] == case["id"]
    assert replay.headers["idempotent-replayed"] == "true"
    other = post_case(client, report(reporter=reporter, description="另一件事"), key="phone-1-0001")
    assert other.status_code == 409
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert client.get("/api/v1/cases").json()["total"] == 1


def test_the_closed_loop_with_an_independent_check(client: TestClient, demo: Platform) -> None:
    reporter = patrol_member(client)
    case = post_case(client, report(reporter=reporter)).json()
    handler = case["assignee"]["number"]
    cid = case["id"]
    accepted = do(client, cid, "accept", handler)
    assert accepted.status_code == 200, accepted.text
    arrive = do(client, cid, "arrive", handler, position={"lng": 121.1101, "lat": 31.1501})
    assert arrive.status_code == 200, arrive.text
    photo = client.post(
        f"/api/v1/cases/{cid}/photos", files=files(png()), headers=client.headers_for(handler)
    )
    assert photo.status_code == 201, photo.text
    photo_id = photo.json()["photos"][0]["id"]
    handled = do(client, cid, "handle", handler, note="已清理 / cleared", photos=[photo_id])
    assert handled.status_code == 200, handled.text

    own_check = do(client, cid, "check", handler, passed=True)
    assert own_check.status_code == 409
    assert "check" not in own_check.json()["allowed"]

    assert do(client, cid, "check", reporter, passed=True).status_code == 200
    closed = do(client, cid, "close", OPERATOR)
    assert closed.status_code == 200, closed.text
    detail = closed.json()
    assert detail["status"] == "closed"
    assert [e["action"] for e in detail["timeline"]] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "arrive",
        "handle",
        "check",
        "close",
    ]
    assert detail["timeline"][4]["position"]["lng"] == 121.1101
    assert detail["timeline"][5]["photos"] == [f"/api/v1/cases/{cid}/photos/{photo_id}"]
    served = client.get(detail["timeline"][5]["photos"][0])
    assert served.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).size == (2, 2)  # re-encoded, same picture
    assert {n["topic"] for n in detail["notifications"]} >= {"task", "check"}
    assert all(s["done_at"] for s in detail["stages"])

    with demo.uow() as uow:
        uow.outbox.delivered([uow.outbox.for_case(cid)[0].id], demo.clock.now())
        uow.commit()
    with demo.uow() as uow:  # a page's one statement (PostgreSQL) reads what four read
        separately = uow.cases.get(cid), uow.cases.photos(cid), uow.outbox.for_case(cid)
        assert separately[2][0].delivered_at and separately[1]
        assert uow.cases.get_for_page(cid) == separately
        assert uow.cases.get_for_page(cid + 1000) is None


def test_citizen_reports_wait_for_an_operator(client: TestClient, demo: Platform) -> None:
    case = post_case(client, report(channel="citizen_qr")).json()
    assert case["status"] == "reported" and case["assignee"] is None
    refused = do(client, case["id"], "register", patrol_member(client))
    assert refused.status_code == 409
    registered = do(client, case["id"], "register", OPERATOR)
    assert registered.json()["status"] == "registered"
    dispatched = do(client, case["id"], "dispatch", OPERATOR)  # no assignee: flat rules pick
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["status"] == "dispatched" and dispatched.json()["assignee"]


def test_urgency_rules_of_the_seed(client: TestClient, demo: Platform) -> None:
    hazard = post_case(
        client, report(subclass="C0301", hazard=True, reporter=patrol_member(client))
    )
    assert hazard.json()["urgency"] == "urgent"
    police = post_case(client, report(channel="police_diversion", subclass="E0102"))
    assert police.json()["urgency"] == "urgent"
    hotline = post_case(client, report(channel="hotline", urgent=True))
    assert hotline.json()["urgency"] == "urgent"
    plain = post_case(client, report(channel="hotline"))
    assert plain.json()["urgency"] == "general"


def test_positions_outside_and_impossible(client: TestClient, demo: Platform) -> None:
    outside = post_case(client, report(position={"lng": 121.47, "lat": 31.23}))
    assert outside.status_code == 201
    assert outside.json()["status"] == "forwarded" and outside.json()["grid"] is None
    zero = post_case(client, report(position={"lng": 0, "lat": 0}))
    assert zero.status_code == 422
    assert "not in China" in zero.json()["detail"][0]["msg"]


def test_pre_launch_grid_cases_are_recorded_but_not_dispatched(
    client: TestClient, demo: Platform, demo_geojson: dict
) -> None:
    from shapely.geometry import shape

    grid5 = next(
        f
        for f in demo_geojson["features"]
        if f["properties"]["layer"] == "unit" and f["properties"]["grid_code"].endswith("900005")
    )
    point = shape(grid5["geometry"]).representative_point()
    case = post_case(client, report(position={"lng": point.x, "lat": point.y})).json()
    assert case["pre_launch"] is True
    assert case["status"] == "registered" and case["assignee"] is None


def test_bad_reports_name_the_field(client: TestClient, demo: Platform) -> None:
    unknown = post_case(client, report(subclass="E9999"))
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["subclass"]
    no_channel = post_case(client, {k: v for k, v in report().items() if k != "channel"})
    assert no_channel.json()["detail"][0]["loc"] == ["body", "channel"]
    bad_channel = post_case(client, report(channel="twitter"))
    assert bad_channel.status_code == 422
    stranger = client.post(  # an operator may report on someone's behalf, but not a stranger's
        "/api/v1/cases", json=report(reporter="NOBODY-1"), headers=client.headers_for(OPERATOR)
    )
    assert stranger.json()["detail"][0]["loc"] == ["reporter"]
    naive = post_case(client, report(observed_at="2020-06-24T09:20:00"))
    assert naive.status_code == 422
    future = post_case(client, report(observed_at="2020-07-24T09:20:00+08:00"))
    assert future.json()["detail"][0]["loc"] == ["observed_at"]
    garbage = client.post(
        "/api/v1/cases",
        content=b"{oops",
        headers={"content-type": "application/json", **client.headers_for("gateway")},
    )
    assert garbage.status_code == 422
    too_long = post_case(client, report(), key="k" * 201)
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "200" in too_long.json()["detail"][0]["msg"]
    assert client.get("/api/v1/cases").json()["total"] == 0
    longest = post_case(client, report(), key="k" * 200)
    assert longest.status_code == 201, longest.text
    documented = client.get("/openapi.json").json()["paths"]["/api/v1/cases"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= documented["parameters"][
        0
    ].items()


def test_multipart_reports_with_photos(client: TestClient, demo: Platform) -> None:
    body = report(reporter=patrol_member(client))
    answer = submit(client, body, files=files(png(), png(3, 3)))
    assert answer.status_code == 201, answer.text
    detail = client.get(f"/api/v1/cases/{answer.json()['id']}").json()
    assert len(detail["photos"]) == 2
    assert len(detail["timeline"][0]["photos"]) == 2
    not_image = submit(
        client,
        body,
        files=[("photos", ("x.png", b"GIF89a not really", "image/png"))],
    )
    assert not_image.status_code == 422
    assert not_image.json()["detail"][0]["loc"] == ["photos[0]"]


def test_self_handled_reports_close_in_one_step(client: TestClient, demo: Platform) -> None:
    body = report(reporter=patrol_member(client), self_handled=True)
    answer = submit(client, body, files=files(png(), png(3, 3)))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "closed" and answer.json()["self_handled"] is True
    without = submit(client, body, files=files(png()))
    assert without.status_code == 422
    assert without.json()["detail"][0]["loc"] == ["after_photos"]


def test_return_and_redispatch_extension_hold_and_void(client: TestClient, demo: Platform) -> None:
    case = post_case(client, report(reporter=patrol_member(client))).json()
    cid, handler = case["id"], case["assignee"]["number"]
    no_reason = do(client, cid, "return", handler)
    assert no_reason.status_code == 422 and no_reason.json()["detail"][0]["loc"] == ["reason"]
    returned = do(client, cid, "return", handler, reason="不属于本队 / not ours").json()
    assert returned["status"] == "registered" and returned["assignee"] is None
    again = do(client, cid, "dispatch", OPERATOR, assignee=handler).json()
    assert again["status"] == "dispatched"
    do(client, cid, "accept", handler)
    asked = do(client, cid, "request_extension", handler, minutes=120, reason="等材料 / parts")
    assert asked.status_code == 200, asked.text
    before = asked.json()["deadlines"]["handle"]
    approved = do(client, cid, "approve_extension", COMMANDER, approved=True).json()
    assert approved["deadlines"]["handle"] > before
    held = do(client, cid, "hold", COMMANDER, reason="季节性 / seasonal").json()
    assert held["status"] == "on_hold" and held["deadlines"] == {}
    resumed = do(client, cid, "resume", COMMANDER).json()
    assert resumed["status"] == "accepted" and resumed["deadlines"]
    do(client, cid, "void", handler, reason="误报 / false report")
    voided = do(client, cid, "approve_void", COMMANDER, approved=True).json()
    assert voided["status"] == "voided"
    assert do(client, cid, "accept", handler).status_code == 409


def test_list_filters_and_pages(client: TestClient, demo: Platform) -> None:
    reporter = patrol_member(client)
    for i in range(3):
        post_case(client, report(reporter=reporter, description=f"第{i}件"))
    post_case(client, report(channel="citizen_qr"))
    listing = client.get("/api/v1/cases", params={"limit": 2}).json()
    assert listing["total"] == 4 and len(listing["items"]) == 2
    assert client.get("/api/v1/cases", params={"status": "reported"}).json()["total"] == 1
    assert client.get("/api/v1/cases", params={"channel": "patrol"}).json()["total"] == 3
    assert client.get("/api/v1/cases", params={"q": "第1件"}).json()["total"] == 1
    assert client.get("/api/v1/cases", params={"light": "green", "open": True}).json()["total"] == 4
    assert client.get("/api/v1/cases", params={"light": "purple"}).status_code == 422
    assert client.get("/api/v1/cases/999999").status_code == 404
    assert client.get("/api/v1/cases/0").status_code == 422


def test_actions_need_a_person_with_the_permission(
    client: TestClient, anonymous: TestClient, demo: Platform
) -> None:
    cid = post_case(client, report(channel="citizen_qr")).json()["id"]
    nobody = anonymous.post(f"/api/v1/cases/{cid}/actions/register", json={})
    assert nobody.status_code == 401 and nobody.headers["www-authenticate"] == "Bearer"
    admin = client.post(f"/api/v1/cases/{cid}/actions/register", json={})
    assert admin.status_code == 403 and "cases.act" in admin.json()["message"]
    gateway = client.post(
        f"/api/v1/cases/{cid}/actions/register", json={}, headers=client.headers_for("gateway")
    )
    assert gateway.status_code == 403
    assert do(client, cid, "fly", OPERATOR).status_code == 422
    stale = client.post(
        f"/api/v1/cases/{cid}/actions/register",
        json={},
        headers={**client.headers_for(OPERATOR), "If-Match": "0"},
    )
    assert stale.status_code == 409


def test_the_hot_paths_send_no_rollback(
    client: TestClient, demo: Platform, rollbacks: list[str]
) -> None:
    """Reporting, reading a case, its photos and the list, and acting send no ROLLBACK: on
    PostgreSQL it would make psycopg forget the connection's prepared statements (and
    PostgreSQL plan the next requests' statements again)."""
    reporter = patrol_member(client)
    first = post_case(client, report(reporter=reporter)).json()
    handler = client.headers_for(first["assignee"]["number"])  # tokens and caches, made once
    photo = client.post(f"/api/v1/cases/{first['id']}/photos", files=files(png()), headers=handler)
    assert photo.status_code == 201, photo.text
    rollbacks.clear()
    assert client.get(photo.json()["photos"][0]["url"]).status_code == 200
    case = post_case(client, report(reporter=reporter, description="另一处 / another")).json()
    assert client.get(f"/api/v1/cases/{case['id']}").status_code == 200
    assert client.get("/api/v1/cases", params={"open": "true"}).json()["total"] == 2
    accepted = do(client, first["id"], "accept", first["assignee"]["number"])
    assert accepted.status_code == 200, accepted.text
    assert rollbacks == []
    photo_id = photo.json()["photos"][0]["id"]
    for wrong in (
        f"/api/v1/cases/{first['id']}/photos/not-a-photo",
        f"/api/v1/cases/{case['id']}/photos/{photo_id}",  # another case's photo
        f"/api/v1/cases/999999/photos/{photo_id}",
    ):
        assert client.get(wrong).status_code == 404, wrong


def test_the_pages_staff_keep_open_send_no_rollback(
    client: TestClient, demo: Platform, rollbacks: list[str]
) -> None:
    """The command centre's pages, a patrol member's phone pages and who-am-I only read:
    they read through reading units of work, which send no ROLLBACK (see above)."""
    reporter = patrol_member(client)
    case = post_case(client, report(reporter=reporter)).json()
    handler = case["assignee"]["number"]
    pages = [
        (OPERATOR, "/command"),
        (OPERATOR, f"/command/cases/{case['id']}"),
        (handler, "/m/"),
        (handler, "/m/report"),
        (handler, "/m/tasks"),
        (handler, f"/m/tasks/{case['id']}"),
        (handler, "/api/v1/auth/me"),
    ]
    reads = [  # what the command centre's screens fetch, and the Open311 catalogue
        "/api/v1/territory/grids",
        "/api/v1/territory/areas",
        "/api/v1/taxonomy",
        "/api/v1/duty",
        "/api/v1/patrol/coverage",
        "/api/v1/hotline/orders",
        "/api/v1/hotline/placement-queue",
        "/api/v1/gazetteer",
        "/api/v1/vision/alerts",
        "/api/v1/vision/cameras",
        "/api/v1/vision/scenes",
        "/api/v1/shops",
        "/api/v1/outbox",
        "/api/v1/points/leaderboard",
        "/api/v1/points/policy",
        "/api/v1/assessment/weights",
        "/open311/v2/services.json",
        "/open311/v2/services/E0102.json",
    ]
    pages += [(COMMANDER, path) for path in reads]
    for who, path in pages:  # once each: tokens and caches made
        client.get(path, headers={**client.headers_for(who), "Accept": "text/html"})
    rollbacks.clear()
    for who, path in pages:
        page = client.get(path, headers={**client.headers_for(who), "Accept": "text/html"})
        assert page.status_code == 200, (path, page.status_code, page.text[:300])
        assert rollbacks == [], path


def test_a_session_signed_in_sends_no_rollback(
    anonymous: TestClient, demo: Platform, rollbacks: list[str]
) -> None:
    """In a browser the session cookie is checked on every request: by a reading unit of
    work, which sends no ROLLBACK."""
    signed = anonymous.post(
        "/login",
        data={"username": OPERATOR, "password": DEMO_PASSWORD, "csrf_token": login_csrf(anonymous)},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    anonymous.get("/command", headers={"Accept": "text/html"})
    rollbacks.clear()
    for path in ("/command", "/api/v1/auth/me", "/api/v1/cases"):
        assert anonymous.get(path, headers={"Accept": "text/html"}).status_code == 200, path
        assert rollbacks == [], path
