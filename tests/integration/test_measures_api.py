"""The measures over HTTP, on real cases driven through the API with the driven clock.

The story, on Wednesday 24 June 2020 in grid 1 (live since 1 June), clock in China time:

    09:30  A  patrol report (found 09:20), dispatched at once           own means
    09:30  F  patrol, component with a safety hazard: urgent             own means
    09:35  B  hotline order at A's place; returned, then merged into A   counted once, via A
    09:40  C  hotline order elsewhere; returned and re-dispatched,
              extension approved, never handled                          found by the hotline
    09:40  D  patrol report, voided                                      not counted
    09:40  E  report in grid 5, not live until July                      pre-launch, not counted
    09:40  F  on scene (10 min after dispatch)    10:20 F handled (50 min)
    09:45  A  accepted, 09:50 on scene, 10:30 handled, 10:35 check fails (rework),
    10:40  A  accepted again, 10:50 handled, 10:55 checked, 11:00 closed
    11:00  S  patrol problem solved on the spot (self-handled)          own means, closed
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from shapely.geometry import shape

from chengyun.adapters.db import tables as t
from chengyun.adapters.db.case_measures import rebuild_profiles
from chengyun.clock import DrivenClock
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.platform import Platform
from tests.factories import CENTRE, COMMANDER, G1, OPERATOR, do, files, patrol_member, png, submit
from tests.factories import report as report_body


def at(hour: int, minute: int) -> datetime:
    return datetime(2020, 6, 24, hour, minute, tzinfo=CHINA_TZ)


def place(dlng: float) -> dict[str, float | str]:
    return {"lng": CENTRE[0] + dlng, "lat": CENTRE[1], "crs": "wgs84"}


def ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


@pytest.fixture
def story(client: TestClient, demo: Platform, clock: DrivenClock, demo_geojson: dict) -> dict:
    """The cases of the module docstring; returns their ids by letter."""
    reporter = patrol_member(client)

    def report(**changes: Any) -> dict[str, Any]:
        return ok(submit(client, report_body(**{"observed_at": None, **changes})))

    def act(case: dict, action: str, actor: str, **body: Any) -> dict[str, Any]:
        return ok(do(client, case["id"], action, actor, **body))

    clock.set(at(9, 30))
    a = report(reporter=reporter, observed_at="2020-06-24T09:20:00+08:00")
    f = report(reporter=reporter, subclass="C0301", hazard=True, position=place(-0.003))
    assert (a["status"], f["status"], f["urgency"]) == ("dispatched", "dispatched", "urgent")

    clock.set(at(9, 35))
    b = report(channel="hotline", position=place(0.0001))
    assert b["possible_duplicates"][0]["id"] == a["id"]
    clock.set(at(9, 36))
    act(b, "return", b["assignee"]["number"], reason="重复工单 / the same as a patrol case")
    clock.set(at(9, 37))
    assert act(b, "merge", OPERATOR, into=a["id"])["status"] == "merged"

    clock.set(at(9, 38))
    act(f, "accept", f["assignee"]["number"])

    clock.set(at(9, 40))
    act(f, "arrive", f["assignee"]["number"])
    c = report(channel="hotline", position=place(0.002))
    d = report(reporter=reporter, subclass="E0501", position=place(-0.002))
    grid5 = next(
        x
        for x in demo_geojson["features"]
        if x["properties"]["layer"] == "unit" and x["properties"]["grid_code"].endswith("900005")
    )
    point = shape(grid5["geometry"]).representative_point()
    e = report(reporter=reporter, position={"lng": point.x, "lat": point.y, "crs": "wgs84"})
    assert e["pre_launch"] is True
    assert c["grid"]["code"] == d["grid"]["code"] == G1
    act(d, "void", d["assignee"]["number"], reason="误报 / a false report")
    assert act(d, "approve_void", COMMANDER, approved=True)["status"] == "voided"

    clock.set(at(9, 42))
    act(c, "return", c["assignee"]["number"], reason="不属于本队 / not ours")
    clock.set(at(9, 43))
    c = act(c, "dispatch", OPERATOR)
    clock.set(at(9, 44))
    act(c, "accept", c["assignee"]["number"])
    act(c, "request_extension", c["assignee"]["number"], minutes=60, reason="等材料 / parts")
    act(c, "approve_extension", COMMANDER, approved=True)

    handler = a["assignee"]["number"]
    clock.set(at(9, 45))
    act(a, "accept", handler)
    clock.set(at(9, 50))
    act(a, "arrive", handler)
    clock.set(at(10, 20))
    act(f, "handle", f["assignee"]["number"], note="已设围挡 / fenced off")
    clock.set(at(10, 30))
    act(a, "handle", handler, note="已清理 / cleared")
    clock.set(at(10, 35))
    assert act(a, "check", reporter, passed=False)["status"] == "dispatched"  # rework
    clock.set(at(10, 40))
    act(a, "accept", handler)
    clock.set(at(10, 50))
    act(a, "handle", handler, note="已彻底清理 / cleared properly")
    clock.set(at(10, 55))
    act(a, "check", reporter, passed=True)
    clock.set(at(11, 0))
    assert act(a, "close", OPERATOR)["status"] == "closed"
    s = ok(
        submit(
            client,
            report_body(
                reporter=reporter, self_handled=True, observed_at=None, position=place(-0.001)
            ),
            files=files(png(), png(3, 3)),
        )
    )
    assert s["status"] == "closed"
    clock.set(at(11, 5))
    return {k: v["id"] for k, v in dict(a=a, b=b, c=c, d=d, e=e, f=f, s=s).items()} | {
        "reporter": reporter
    }


def ratio(numerator: int, denominator: int) -> dict:
    return {"value": numerator / denominator, "numerator": numerator, "denominator": denominator}


EXPECTED = {
    # found in June, valid: A, F, C, S (B merged into A, D voided, E pre-launch)
    "first_discovery_rate": ratio(3, 4),  # A, F, S
    # due to be closed in June: A (12:35 after the rework), F (10:30), C (12:43), S (11:00)
    "closure_rate": ratio(2, 4),  # A and S are closed
    "urgent_on_time_arrival_rate": ratio(1, 1),  # F: 10 minutes
    "urgent_on_time_initial_result_rate": ratio(1, 1),  # F: 50 minutes
    "on_time_handling_rate": ratio(2, 3),  # A and F by their deadlines, C not handled
    "on_time_closure_rate": ratio(2, 4),  # A (handled 10:50, due 12:35) and S
    # dispatches A 1 + F 1 + C 2 = 4; returns: C 1 (B's return went with B)
    "return_rate": ratio(1, 4),
    "rework_rate": ratio(1, 2),  # A: one failed check of two
    "extension_rate": ratio(1, 3),  # C of the dispatched A, F, C
    "valid_report_rate": ratio(3, 4),  # patrol A, F, S valid; D voided (E pre-launch)
    "missed_report_rate": ratio(1, 4),  # C, by the hotline
    "on_time_registration_rate": ratio(3, 3),  # A, F, C registered at once
    "on_time_dispatch_rate": ratio(3, 3),  # A, F at once; C re-dispatched in a minute
    "dispatch_accuracy": ratio(3, 4),  # (4 − 1) / 4
    "intelligent_discovery_share": {"value": 0.0, "numerator": 0, "denominator": 4},
    "self_handled_share": ratio(1, 4),  # S
    # from dispatch to handled: F 50 minutes, A 80 minutes (09:30 → 10:50)
    # mean (50 + 80) / 2 = 65; p90 rank ⌈0.9·2⌉ = 2 → 80
    "handling_time": {"mean_minutes": 65.0, "p90_minutes": 80.0, "count": 2},
}


def test_the_figures_of_the_month(client: TestClient, story: dict) -> None:
    answer = client.get("/api/v1/measures")  # default: the current month in China time
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["from"] == "2020-06-01T00:00:00+08:00"
    assert body["to"] == "2020-07-01T00:00:00+08:00"
    assert body["scope"] == "all"
    assert body["targets"] == {"first_discovery_rate": 0.85, "closure_rate": 0.97}
    assert "groups" not in body
    assert list(body["measures"]) == list(EXPECTED)
    assert body["measures"] == EXPECTED

    # the same for the day, for grid 1, and nothing for the next day
    same = client.get(
        "/api/v1/measures", params={"from": "2020-06-24", "to": "2020-06-24", "scope": f"grid:{G1}"}
    ).json()
    assert same["measures"] == EXPECTED and same["to"] == "2020-06-25T00:00:00+08:00"
    later = client.get("/api/v1/measures", params={"from": "2020-06-25T00:00:00+08:00"}).json()
    assert later["measures"]["first_discovery_rate"] == {
        "value": None,
        "numerator": 0,
        "denominator": 0,
    }
    assert later["measures"]["handling_time"] == {
        "mean_minutes": None,
        "p90_minutes": None,
        "count": 0,
    }


def test_scopes_and_breakdowns(client: TestClient, story: dict) -> None:
    hotline = client.get("/api/v1/measures", params={"scope": "channel:hotline"}).json()
    assert hotline["measures"]["first_discovery_rate"] == ratio(0, 1)  # C; B is merged
    mine = client.get("/api/v1/measures", params={"scope": f"person:{story['reporter']}"}).json()
    assert mine["measures"]["valid_report_rate"] == ratio(3, 4)

    by_channel = client.get("/api/v1/measures", params={"group_by": "channel"}).json()
    assert "measures" not in by_channel and by_channel["group_by"] == "channel"
    groups = {g["key"]: g for g in by_channel["groups"]}
    assert list(groups) == ["hotline", "patrol"]
    assert groups["patrol"]["label"] == "巡查上报 Patrol report"
    assert groups["patrol"]["measures"]["first_discovery_rate"] == ratio(3, 3)
    assert groups["hotline"]["measures"]["return_rate"] == ratio(1, 2)

    by_day = client.get("/api/v1/measures", params={"group_by": "day"}).json()["groups"]
    assert len(by_day) == 30 and by_day[0]["key"] == "2020-06-01"
    assert by_day[23]["key"] == "2020-06-24"
    assert by_day[23]["measures"] == EXPECTED
    assert by_day[24]["measures"]["closure_rate"]["denominator"] == 0

    by_grid = client.get("/api/v1/measures", params={"group_by": "grid"}).json()["groups"]
    assert by_grid[0]["key"] == G1
    assert by_grid[0]["label"] and by_grid[0]["label"] != G1


def test_the_cases_behind_a_figure(client: TestClient, story: dict) -> None:
    def behind(measure: str, part: str = "numerator") -> dict:
        answer = client.get("/api/v1/measures/cases", params={"measure": measure, "part": part})
        assert answer.status_code == 200, answer.text
        return answer.json()

    found = behind("first_discovery_rate")
    assert [i["id"] for i in found["items"]] == sorted([story["a"], story["f"], story["s"]])
    assert found["sum"] == found["total"] == 3 and found["part"] == "numerator"
    assert all(i["number"] for i in found["items"]) and "minutes" not in found["items"][0]
    valid = behind("first_discovery_rate", "denominator")
    assert {i["id"] for i in valid["items"]} == {story[k] for k in "afcs"}
    dispatched = behind("dispatch_accuracy", "denominator")
    assert {i["id"]: i["weight"] for i in dispatched["items"]} == {
        story["a"]: 1,
        story["f"]: 1,
        story["c"]: 2,
    }
    assert dispatched["sum"] == 4
    times = behind("handling_time")
    assert {i["id"]: i["minutes"] for i in times["items"]} == {story["a"]: 80.0, story["f"]: 50.0}
    page = client.get(
        "/api/v1/measures/cases",
        params={"measure": "first_discovery_rate", "limit": 1, "offset": 1},
    ).json()
    assert page["total"] == 3 and [i["id"] for i in page["items"]] == [found["items"][1]["id"]]


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/api/v1/measures", {"scope": "everything"}, "scope"),
        ("/api/v1/measures", {"scope": "grid:12"}, "scope"),
        ("/api/v1/measures", {"group_by": "week"}, "group_by"),
        ("/api/v1/measures", {"from": "2020-06-24T08:00:00"}, "from"),
        ("/api/v1/measures", {"to": "yesterday"}, "to"),
        ("/api/v1/measures", {"from": "2020-06-10", "to": "2020-06-01"}, "to"),
        ("/api/v1/measures/cases", {"measure": "happiness"}, "measure"),
        ("/api/v1/measures/cases", {"measure": "closure_rate", "part": "both"}, "part"),
        ("/api/v1/measures/cases", {"measure": "closure_rate", "limit": 0}, "limit"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, demo: Platform, path: str, params: dict, where: str
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["query", where]


def test_people_of_a_unit_see_their_unit(client: TestClient, story: dict) -> None:
    leader = client.get("/api/v1/people", params={"post": "unit_leader", "limit": 1}).json()
    number = leader["items"][0]["number"]
    unit = next(a["unit_code"] for a in leader["items"][0]["assignments"] if a["unit_code"])
    headers = client.headers_for(number)  # type: ignore[attr-defined]
    own = client.get("/api/v1/measures", headers=headers)
    assert own.status_code == 200, own.text
    assert own.json()["scope"] == f"unit:{unit}"
    wider = client.get("/api/v1/measures", params={"scope": "all"}, headers=headers)
    assert wider.status_code == 403
    assert wider.json()["detail"][0]["loc"] == ["query", "scope"]
    drill = client.get(
        "/api/v1/measures/cases", params={"measure": "closure_rate"}, headers=headers
    )
    assert drill.status_code == 200 and drill.json()["scope"] == f"unit:{unit}"


def test_reading_measures_needs_signing_in(anonymous: TestClient, demo: Platform) -> None:
    assert anonymous.get("/api/v1/measures").status_code == 401


def test_periods_default_to_the_month(client: TestClient, demo: Platform) -> None:
    only_to = client.get("/api/v1/measures", params={"to": "2020-07-15"}).json()
    assert (only_to["from"], only_to["to"]) == (
        "2020-07-01T00:00:00+08:00",
        "2020-07-16T00:00:00+08:00",
    )
    only_from = client.get("/api/v1/measures", params={"from": "2020-06-20"}).json()
    assert only_from["to"] == "2020-07-01T00:00:00+08:00"  # the end of the current month
    utc = client.get(
        "/api/v1/measures",
        params={"from": "2020-06-23T16:00:00Z", "to": "2020-06-24T16:00:00Z"},
    ).json()
    assert (utc["from"], utc["to"]) == ("2020-06-24T00:00:00+08:00", "2020-06-25T00:00:00+08:00")


def test_the_profiles_saved_with_the_cases_are_those_their_facts_give(
    client: TestClient, story: dict, demo: Platform
) -> None:
    """What the repository writes on every save equals a rebuild from the facts columns
    (what the migration and ``chengyun measures rebuild`` do)."""
    table = t.case_measures

    def profiles() -> list[dict[str, Any]]:
        with demo.engine.connect() as connection:
            rows = connection.execute(sa.select(table).order_by(table.c.case_id))
            return [dict(r._mapping) for r in rows]

    saved = profiles()
    with demo.engine.connect() as connection:
        cases = connection.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one()
    assert len(saved) == cases >= 7
    assert any(row["bits"] for row in saved) and any(row["handling_us"] for row in saved)
    with demo.engine.begin() as connection:
        assert rebuild_profiles(connection) == cases
    assert profiles() == saved
