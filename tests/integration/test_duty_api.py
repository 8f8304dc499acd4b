"""GET /api/v1/duty: who is on duty per grid, by day, at night and on holidays."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chengyun.entrypoints.platform import Platform


def board(client: TestClient, at: str) -> dict:
    answer = client.get("/api/v1/duty", params={"at": at})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_day_board_has_someone_everywhere(client: TestClient, demo: Platform) -> None:
    day = board(client, "2020-06-24T10:00:00+08:00")
    assert day["shift"] == "day"
    assert day["commander"]["post"] == "duty_commander"
    assert len(day["grids"]) == 5
    for grid in day["grids"]:
        assert grid["chiefs"] and len(grid["deputies"]) >= 1 and grid["station_chiefs"]
        assert grid["street"], grid["code"]
        assert all(u["on_duty"] and u["leader"] for u in grid["units"])
        assert all(d["on_duty"] for d in grid["departments"]), grid["code"]
        assert not any(p["standby"] for d in grid["departments"] for p in d["on_duty"])
    assert [g["live"] for g in day["grids"]] == [True, False, False, False, False]


def test_night_board_follows_the_seed(client: TestClient, demo: Platform) -> None:
    night = board(client, "2020-06-24T22:00:00+08:00")
    assert night["shift"] == "night"
    for grid in night["grids"]:
        assert {p["team"] for p in grid["street"]} <= {"social_security", "third_party"}
        for unit in grid["units"]:
            assert unit["on_duty"], unit["code"]
            assert {p["team"] for p in unit["on_duty"]} <= {"property", "social_security"}
        standby = [p for d in grid["departments"] for p in d["on_duty"]]
        assert len({d["department"] for d in grid["departments"] if d["on_duty"]}) == 7
        assert standby and all(p["standby"] for p in standby)


def test_a_holiday_morning_is_night_mode(client: TestClient, demo: Platform) -> None:
    assert board(client, "2020-06-25T10:00:00+08:00")["shift"] == "night"  # Dragon Boat Festival
    assert board(client, "2020-06-28T10:00:00+08:00")["shift"] == "day"  # swapped working Sunday
    assert board(client, "2020-08-03T10:00:00+08:00")["grids"][4]["live"] is True


def test_bad_times_are_refused(client: TestClient, demo: Platform) -> None:
    naive = client.get("/api/v1/duty", params={"at": "2020-06-24T10:00:00"})
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "at"]
    garbage = client.get("/api/v1/duty", params={"at": "yesterday"})
    assert garbage.status_code == 422


def test_default_is_the_platform_clock(client: TestClient, demo: Platform) -> None:
    now = client.get("/api/v1/duty").json()
    assert now["at"].startswith("2020-06-24T09:30")
    assert now["shift"] == "day"
