"""Patrol positions and coverage over HTTP, on both databases, with the driven clock
(Wednesday 24 June 2020, 09:30 China time: the day shift is on).

Two demo patrol members of grid 1 walk their own units: A from 09:00 to 09:15 (its phone
reports in GCJ-02, one position taken outside the sub-district), B from 09:20 to 09:25.
A's phone re-sends its batch; nothing is counted twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from chengyun.adapters.geo.crs import wgs84_to_gcj02
from chengyun.clock import DrivenClock
from chengyun.domain.forces import Post, Shift
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token, provision_accounts
from chengyun.services.records import NewAccount
from tests.factories import G1

POSITIONS = "/api/v1/patrol/positions"
COVERAGE = "/api/v1/patrol/coverage"
DAY = "2020-06-24"
OUTSIDE = (121.4737, 31.2304)  # People's Square, Huangpu: in China, not in the sub-district


def at(hour: int, minute: int) -> str:
    return datetime(2020, 6, 24, hour, minute, tzinfo=CHINA_TZ).isoformat()


def members(platform: Platform) -> list[tuple[str, str]]:
    """Two patrol members of grid 1 on the day table, each for one unit of their own."""
    with platform.uow() as uow:
        roster = uow.forces.roster()
    patrol = {p.number for p in roster.people if p.post is Post.PATROL}
    day = [
        a
        for a in roster.assignments
        if a.number in patrol and a.shift is Shift.DAY and a.grid_code == G1 and a.unit_code
    ]
    places = Counter(a.number for a in day)
    single = sorted((a.number, a.unit_code or "") for a in day if places[a.number] == 1)
    first = single[0]
    second = next(s for s in single if s[1] != first[1])
    return [first, second]


def inside(platform: Platform, unit_code: str) -> tuple[float, float]:
    unit = platform.territory_index.get().territory.unit(unit_code)
    assert unit is not None
    point = shape(unit.geometry).representative_point()
    return point.x, point.y


def position(lng: float, lat: float, when: str, crs: str = "wgs84", **more: Any) -> dict:
    return {"lng": lng, "lat": lat, "crs": crs, "at": when, **more}


def post(client: TestClient, who: str, positions: list[dict]) -> Any:
    headers = client.headers_for(who)  # type: ignore[attr-defined]
    return client.post(POSITIONS, json={"positions": positions}, headers=headers)


@pytest.fixture
def walked(client: TestClient, demo: Platform) -> dict[str, Any]:
    """A's and B's batches posted; A's sent twice."""
    (a, unit_a), (b, unit_b) = members(demo)
    lng, lat = inside(demo, unit_a)
    g_lng, g_lat = wgs84_to_gcj02(lng, lat)
    batch_a = [position(g_lng, g_lat, at(9, m), "gcj02", accuracy_m=8.5) for m in (0, 5, 10, 15)]
    batch_a.append(position(*OUTSIDE, at(9, 17)))
    first = post(client, a, batch_a)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "person": a,
        "received": 5,
        "stored": 5,
        "duplicates": 0,
        "outside": 1,
    }
    again = post(client, a, batch_a)
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 5
    lng_b, lat_b = inside(demo, unit_b)
    second = post(client, b, [position(lng_b, lat_b, at(9, m)) for m in (20, 25)])
    assert second.json()["stored"] == 2
    return {"a": a, "unit_a": unit_a, "b": b, "unit_b": unit_b, "point_a": (lng, lat)}


def test_coverage_per_unit(client: TestClient, walked: dict[str, Any]) -> None:
    answer = client.get(COVERAGE, params={"date": DAY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    units = {u["code"]: u for u in body["units"]}
    unit_a = units[walked["unit_a"]]
    assert unit_a["visited"] is True
    assert unit_a["minutes"] == 15.0 and unit_a["positions"] == 4
    assert unit_a["first_seen"].startswith("2020-06-24T09:00:00+08:00")
    assert unit_a["last_seen"].startswith("2020-06-24T09:15:00+08:00")
    [person] = unit_a["people"]
    assert person["number"] == walked["a"] and person["name"]  # administrators see names
    assert person["minutes"] == 15.0 and person["visits"] == 1
    assert units[walked["unit_b"]]["minutes"] == 5.0
    summary = body["summary"]
    assert summary["positions"] == 7 and summary["outside"] == 1 and summary["people"] == 2
    assert summary["visited"] == 2 and summary["not_visited"] == summary["units"] - 2
    unvisited = {u["code"] for u in body["not_visited"]}
    assert walked["unit_a"] not in unvisited and len(unvisited) == summary["units"] - 2
    assert all(not units[code]["visited"] and units[code]["people"] == [] for code in unvisited)
    people = {p["number"]: p for p in body["people"]}
    assert people[walked["a"]]["outside"] == 1 and people[walked["a"]]["positions"] == 5


def test_attendance_per_shift(client: TestClient, walked: dict[str, Any]) -> None:
    body = client.get(COVERAGE, params={"date": DAY, "grid": G1}).json()
    shifts = {s["shift"]: s for s in body["attendance"]}
    day, night = shifts["day"], shifts["night"]
    assert day["state"] == "running" and night["state"] == "running"  # 00:00–08:30 is over
    assert [w["start"][11:16] for w in day["windows"]] == ["08:30"]
    absent = {p["number"] for p in day["absent"]}
    assert walked["a"] not in absent and walked["b"] not in absent
    assert day["present"] == 2 and day["expected"] == 2 + len(absent)
    places = {p["unit_code"]: p for p in day["places"]}
    mine = {p["number"]: p for p in places[walked["unit_a"]]["people"]}
    assert mine[walked["a"]]["present"] is True and mine[walked["a"]]["seen_here"] is True
    others = [p for p in mine.values() if p["number"] != walked["a"]]
    assert others and not any(p["present"] for p in others)
    assert places[walked["unit_a"]]["present"] == 1
    assert places[None]["name"].endswith("street frontage")
    assert all(p["grid_code"] == G1 for p in day["places"])
    assert night["present"] == 0
    assert {u["grid_code"] for u in body["units"]} == {G1}


def test_map(client: TestClient, walked: dict[str, Any]) -> None:
    answer = client.get(f"{COVERAGE}.geojson", params={"date": DAY})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/geo+json")
    body = answer.json()
    assert body["type"] == "FeatureCollection" and body["chengyun"]["date"] == DAY
    units = {
        f["properties"]["code"]: f["properties"]
        for f in body["features"]
        if f["properties"]["layer"] == "unit"
    }
    assert units[walked["unit_a"]]["visited"] is True
    assert units[walked["unit_a"]]["minutes"] == 15.0
    assert units[walked["unit_a"]]["people"] == 1
    assert not all(u["visited"] for u in units.values())
    tracks = {
        f["properties"]["person"]: f
        for f in body["features"]
        if f["properties"]["layer"] == "track"
    }
    track_a = tracks[walked["a"]]
    assert track_a["geometry"]["type"] == "LineString"
    coordinates = track_a["geometry"]["coordinates"]
    assert len(coordinates) == 5 and coordinates[-1] == list(OUTSIDE)
    # stored in WGS-84: the GCJ-02 positions were converted back
    assert coordinates[0] == pytest.approx(list(walked["point_a"]), abs=1e-7)
    assert track_a["properties"]["units"][-1] is None


def test_coverage_of_a_day_without_positions(client: TestClient, walked: dict[str, Any]) -> None:
    body = client.get(COVERAGE, params={"date": "2020-06-23"}).json()
    assert body["summary"]["visited"] == 0 and body["people"] == []
    assert all(s["state"] == "over" and s["present"] == 0 for s in body["attendance"])
    today = client.get(COVERAGE).json()  # the default is today, by the platform's clock
    assert today["date"] == DAY and today["summary"]["positions"] == 7


def test_bad_batches_store_nothing(client: TestClient, demo: Platform, clock: DrivenClock) -> None:
    (a, unit_a), _ = members(demo)
    lng, lat = inside(demo, unit_a)
    ahead = (clock.now() + timedelta(minutes=6)).isoformat()
    answer = post(
        client,
        a,
        [
            position(lng, lat, at(9, 0)),
            position(0.0, 0.0, at(9, 1)),
            position(lng, lat, "2020-06-24T09:02:00"),
            position(lng, lat, ahead),
            position(lat, lng, at(9, 3)),  # swapped
            position(lng, lat, "0001-01-01T00:00:00+14:00"),  # a phone's clock reset
        ],
    )
    assert answer.status_code == 422, answer.text
    locations = [d["loc"] for d in answer.json()["detail"]]
    assert locations == [
        ["positions", 1],
        ["positions", 2, "at"],
        ["positions", 3, "at"],
        ["positions", 4],
        ["positions", 5, "at"],
    ]
    assert "nothing was stored" in answer.json()["message"]
    almost = (clock.now() + timedelta(minutes=5)).isoformat()
    assert post(client, a, [position(lng, lat, almost)]).json()["stored"] == 1
    assert client.get(COVERAGE).json()["summary"]["positions"] == 1  # only the last one

    too_many = [position(lng, lat, at(8, 0)) for _ in range(501)]
    assert post(client, a, too_many).status_code == 422
    empty = post(client, a, [])
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "positions"]
    crs = post(client, a, [position(lng, lat, at(9, 0), "mars")])
    assert crs.json()["detail"][0]["loc"] == ["body", "positions", 0, "crs"]


def test_a_full_batch_of_repeats_counts_once(client: TestClient, demo: Platform) -> None:
    (a, unit_a), _ = members(demo)
    lng, lat = inside(demo, unit_a)
    batch = [position(lng, lat, at(9, 0)) for _ in range(500)]
    assert post(client, a, batch).json() == {
        "person": a,
        "received": 500,
        "stored": 1,
        "duplicates": 499,
        "outside": 0,
    }


def test_bad_queries(client: TestClient, demo: Platform) -> None:
    grid = client.get(COVERAGE, params={"grid": "310118002999999"})
    assert grid.status_code == 422 and grid.json()["detail"][0]["loc"] == ["query", "grid"]
    day = client.get(COVERAGE, params={"date": "yesterday"})
    assert day.status_code == 422 and day.json()["detail"][0]["loc"] == ["query", "date"]
    for far in ("0001-01-01", "9999-12-31"):
        answer = client.get(f"{COVERAGE}.geojson", params={"date": far})
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["query", "date"]
    assert client.get(COVERAGE, params={"grid": ""}).status_code == 200


def test_who_may_post_and_read(
    client: TestClient, anonymous: TestClient, demo: Platform, walked: dict[str, Any]
) -> None:
    point = position(*walked["point_a"], at(9, 29))
    # administrators read but do not patrol; anonymous callers do neither
    admin = client.post(POSITIONS, json={"positions": [point]})
    assert admin.status_code == 403
    assert "positions.report" in admin.json()["message"]
    assert anonymous.post(POSITIONS, json={"positions": [point]}).status_code == 401
    assert anonymous.get(COVERAGE).status_code == 401
    # a patrol member reads coverage, with names masked (no contacts permission)
    patrol = client.get(COVERAGE, params={"date": DAY}, headers=client.headers_for(walked["b"]))  # type: ignore[attr-defined]
    assert patrol.status_code == 200
    names = [p["name"] for p in patrol.json()["people"]]
    assert names and all("*" in n for n in names)
    assessor = client.get(f"{COVERAGE}.geojson", headers=client.headers_for("assessor"))  # type: ignore[attr-defined]
    assert assessor.status_code == 200
    # the gateway (a system) neither posts positions nor reads coverage
    gateway = client.headers_for("gateway")  # type: ignore[attr-defined]
    assert client.post(POSITIONS, json={"positions": [point]}, headers=gateway).status_code == 403
    assert client.get(COVERAGE, headers=gateway).status_code == 403
    # an account allowed to post but linked to nobody is told so
    provision_accounts(
        demo.uow(),
        demo.clock,
        [NewAccount("patrol-without-person", None, "patrol_member", "grid", G1)],
    )
    with demo.uow() as uow:
        account = uow.accounts.by_username("patrol-without-person")
    assert account is not None
    raw, _ = issue_token(demo.uow(), demo.clock, account, "test")
    nobody = client.post(
        POSITIONS, json={"positions": [point]}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert nobody.status_code == 403
    assert nobody.json()["detail"][0]["type"] == "no_person"
