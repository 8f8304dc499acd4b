"""The monthly assessment (督查考核) over HTTP, on a month of cases driven through the API
with the driven clock.

July 2020 in grid 1 (live since 1 June), all in one management unit, China time:

    1 July   A  patrol, exposed rubbish → maintenance team; handled in 40 min, checked, closed
    1 July   D  patrol, public toilet with a safety hazard → cleaning company, urgent; on
                scene in 10 min, handled, checked, closed
    8 July   C  patrol, unlicensed hawker → urban-management squadron; the first check fails
                (rework), handled again, checked, closed
    8 July   E  hotline, unlicensed hawker → urban-management squadron; returned (退单),
                re-dispatched, handled, checked by the centre, closed
    20 July  B  hotline, exposed rubbish → maintenance team; never handled
    20 July  V  patrol, dirty road → maintenance team; voided as a false report
    20 July  S  patrol, rubbish solved on the spot (self-handled, sent to no one)
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from chengyun.adapters.reports.monthly import FIGURES_TITLE, RANKING_TITLES, SHEET_TITLES
from chengyun.clock import DrivenClock
from chengyun.domain.assessment import Family
from chengyun.domain.working_time import CHINA_TZ
from chengyun.entrypoints.cli import app
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import issue_token
from tests.factories import CENTRE, COMMANDER, G1, OPERATOR, do, files, patrol_member, png, submit
from tests.factories import report as report_body

AUGUST = datetime(2020, 8, 3, 10, 0, tzinfo=CHINA_TZ)


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2020, 7, day, hour, minute, tzinfo=CHINA_TZ)


def place(dlng: float) -> dict[str, float | str]:
    return {"lng": CENTRE[0] + dlng, "lat": CENTRE[1], "crs": "wgs84"}


def ok(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


@pytest.fixture
def lasting(client: TestClient, demo: Platform) -> TestClient:
    """The client with tokens that outlive the month the clock is driven through (the
    usual ones last 12 hours)."""
    cache: dict[str, dict[str, str]] = {}

    def auth(username: str) -> dict[str, str]:
        if username not in cache:
            with demo.uow() as uow:
                account = uow.accounts.by_username(username)
            assert account is not None, username
            raw, _ = issue_token(demo.uow(), demo.clock, account, "test", ttl=None)
            cache[username] = {"Authorization": f"Bearer {raw}"}
        return cache[username]

    client.headers.update(auth("test-admin"))
    client.headers_for = auth  # type: ignore[attr-defined]
    return client


@pytest.fixture
def july(lasting: TestClient, clock: DrivenClock) -> dict[str, Any]:
    """The cases of the module docstring; returns their unit and a few names."""
    client = lasting
    reporter = patrol_member(client)

    def report(**changes: Any) -> dict[str, Any]:
        return ok(submit(client, report_body(**{"observed_at": None, **changes})))

    def act(case: dict, action: str, actor: str, **body: Any) -> dict[str, Any]:
        return ok(do(client, case["id"], action, actor, **body))

    def holder(case: dict) -> str:
        return case["assignee"]["number"]

    clock.set(at(1, 9, 0))
    a = report(reporter=reporter, position=place(0.0002))
    d = report(reporter=reporter, subclass="C0301", hazard=True, position=place(-0.0002))
    assert (a["status"], d["status"], d["urgency"]) == ("dispatched", "dispatched", "urgent")
    clock.set(at(1, 9, 3))
    act(d, "accept", holder(d))
    clock.set(at(1, 9, 5))
    act(a, "accept", holder(a))
    clock.set(at(1, 9, 10))
    act(d, "arrive", holder(d))  # 10 minutes after dispatch
    clock.set(at(1, 9, 15))
    act(a, "arrive", holder(a))
    clock.set(at(1, 9, 40))
    act(a, "handle", holder(a), note="已清理 / cleared")
    act(d, "handle", holder(d), note="已设围挡 / fenced off")
    clock.set(at(1, 9, 50))
    act(a, "check", reporter, passed=True)
    act(d, "check", reporter, passed=True)
    clock.set(at(1, 9, 55))
    assert act(a, "close", OPERATOR)["status"] == "closed"
    assert act(d, "close", OPERATOR)["status"] == "closed"

    clock.set(at(8, 9, 0))
    c = report(reporter=reporter, subclass="E0501", position=place(0.0004))
    e = report(channel="hotline", subclass="E0501", position=place(-0.0004))
    clock.set(at(8, 9, 5))
    act(c, "accept", holder(c))
    clock.set(at(8, 9, 10))
    act(e, "return", holder(e), reason="不属于本人 / not mine")
    clock.set(at(8, 9, 11))
    e = act(e, "dispatch", OPERATOR)
    clock.set(at(8, 9, 15))
    act(e, "accept", holder(e))
    clock.set(at(8, 9, 30))
    act(c, "handle", holder(c), note="已劝离 / moved on")
    clock.set(at(8, 9, 40))
    assert act(c, "check", reporter, passed=False)["status"] == "dispatched"  # rework
    clock.set(at(8, 9, 45))
    act(c, "accept", holder(c))
    clock.set(at(8, 9, 50))
    act(e, "handle", holder(e), note="已取缔 / removed")
    clock.set(at(8, 10, 0))
    act(c, "handle", holder(c), note="已取缔 / removed")
    clock.set(at(8, 10, 10))
    act(c, "check", reporter, passed=True)
    act(e, "check", OPERATOR, passed=True)
    clock.set(at(8, 10, 15))
    assert act(c, "close", OPERATOR)["status"] == "closed"
    assert act(e, "close", OPERATOR)["status"] == "closed"

    clock.set(at(20, 9, 0))
    b = report(channel="hotline", position=place(0.0006))
    v = report(reporter=reporter, subclass="E0104", position=place(-0.0006))
    clock.set(at(20, 9, 10))
    act(v, "void", holder(v), reason="误报 / a false report")
    assert act(v, "approve_void", COMMANDER, approved=True)["status"] == "voided"
    clock.set(at(20, 10, 0))
    s = ok(
        submit(
            client,
            report_body(
                reporter=reporter, self_handled=True, observed_at=None, position=place(0.0008)
            ),
            files=files(png(), png(3, 3)),
        )
    )
    assert s["status"] == "closed"

    cases = [a, b, c, d, e, s, v]
    assert {x["grid"]["code"] for x in cases} == {G1}
    units = {x["unit"]["code"] for x in cases}
    assert len(units) == 1, units  # every case in one management unit
    clock.set(AUGUST)
    return {"unit": units.pop(), "unit_name": a["unit"]["name"], "grid_name": a["grid"]["name"]}


def ratio(numerator: int, denominator: int) -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator}


def figures(standing: dict) -> dict[str, Any]:
    return {
        c["indicator"]: (c["numerator"], c["denominator"], c["points"])
        for c in standing["components"]
    }


def by_code(ranking: list[dict]) -> dict[str, dict]:
    return {s["unit"]["code"]: s for s in ranking}


def test_the_rankings_of_the_month_and_the_figures_behind_them(
    client: TestClient, july: dict
) -> None:
    body = ok(client.get("/api/v1/assessment", params={"month": "2020-07"}))
    assert body["month"] == "2020-07"
    assert body["from"] == "2020-07-01T00:00:00+08:00"
    assert body["to"] == "2020-08-01T00:00:00+08:00"
    assert body["generated_at"] == "2020-08-03T10:00:00+08:00"
    assert body["sub_district"]["name"] == "盈浦街道"
    assert body["weights"]["default"] is True

    # Handling units, with the default weights 30 / 15 / 15 / 25 / 15.
    handling = body["handling"]
    assert len(handling) == 7
    cleaning, urban = handling[0], handling[1]
    assert (cleaning["rank"], cleaning["unit"]["code"]) == (1, "cleaning")
    # D: handled by its deadline 1/1 → 30; dispatched once, never returned: (1 − 0/1) × 15;
    # checked once, passed: (1 − 0/1) × 15; closed 1/1 → 25; on scene in 10 min 1/1 → 15
    assert figures(cleaning) == {
        "on_time_handling_rate": (1, 1, 30.0),
        "return_rate": (0, 1, 15.0),
        "rework_rate": (0, 1, 15.0),
        "closure_rate": (1, 1, 25.0),
        "urgent_on_time_arrival_rate": (1, 1, 15.0),
    }
    assert cleaning["score"] == 100.0 and cleaning["measured_weight"] == 100
    assert (urban["rank"], urban["unit"]["code"]) == (2, "urban_management")
    # C and E: both handled by their deadlines 2/2 → 30; returns 1 (E) of 3 dispatches
    # (C 1, E 2): (1 − 1/3) × 15 = 10; failed checks 1 (C) of 3 checks (C 2, E 1):
    # (1 − 1/3) × 15 = 10; closed 2/2 → 25; no urgent case: left out.
    # 75 earned of the 85 points measured: 75 / 85 × 100 = 88.235… → 88.24
    assert figures(urban) == {
        "on_time_handling_rate": (2, 2, 30.0),
        "return_rate": (1, 3, 10.0),
        "rework_rate": (1, 3, 10.0),
        "closure_rate": (2, 2, 25.0),
        "urgent_on_time_arrival_rate": (0, 0, None),
    }
    assert urban["score"] == 88.24 and urban["measured_weight"] == 85
    return_rate = urban["components"][1]
    assert return_rate["inverted"] is True and return_rate["value"] == pytest.approx(1 / 3)
    assert return_rate["credit"] == pytest.approx(2 / 3) and return_rate["weight"] == 15
    # the other five departments had nothing: no score, no rank, in their own order
    assert [(s["rank"], s["unit"]["code"], s["score"]) for s in handling[2:]] == [
        (None, code, None) for code in ("police", "market", "housing", "service", "safety")
    ]

    # Discovery units, with the default weights 30 / 35 / 15 / 20.
    discovery = body["discovery"]
    assert len(discovery) == 8 + 5 + 34  # team types, grids, units
    top = [(s["rank"], s["unit"]["type"], s["unit"]["code"], s["score"]) for s in discovery[:3]]
    # Grid 1 and the unit hold the same seven cases, so their workstations tie at
    # 60.67 and share the first rank; the reporter's team (grid supervisors) is third.
    assert top == [
        (1, "joint_workstation", G1, 60.67),
        (1, "community_workstation", july["unit"], 60.67),
        (3, "team", "grid_supervisor", 58.0),
    ]
    assert all(s["rank"] is None and s["score"] is None for s in discovery[3:])
    station = discovery[0]
    assert station["unit"]["name"] == july["grid_name"]
    # patrol reports A, C, D, S valid, V voided: 4/5 × 30 = 24; valid cases A, B, C, D,
    # E, S (V voided): found by own means A, C, D, S 4/6 × 35 = 23.33; missed (hotline
    # B, E) 2/6: (1 − 2/6) × 15 = 10; self-handled S 1/6 × 20 = 3.33.
    # 24 + 23.333… + 10 + 3.333… = 60.666… → 60.67
    assert figures(station) == {
        "valid_report_rate": (4, 5, 24.0),
        "first_discovery_rate": (4, 6, 23.33),
        "missed_report_rate": (2, 6, 10.0),
        "self_handled_share": (1, 6, 3.33),
    }
    assert figures(discovery[1]) == figures(station)
    team = discovery[2]
    # reported by the grid supervisor: A, C, D, S (valid) and V (voided); the hotline's
    # B and E have no reporting team. Valid reports 4/5 × 30 = 24; self-handled S of the
    # valid A, C, D, S: 1/4 × 20 = 5; first discovery and missed reports belong to areas,
    # not to the team that reported: left out. 29 earned of the 50 points measured → 58
    assert figures(team) == {
        "valid_report_rate": (4, 5, 24.0),
        "first_discovery_rate": (None, None, None),
        "missed_report_rate": (None, None, None),
        "self_handled_share": (1, 4, 5.0),
    }
    assert team["measured_weight"] == 50
    assert "per area" in team["components"][1]["note"]
    assert "per area" in team["components"][2]["note"]

    # the seed's targets over the key units (the unit is one) and the whole sub-district:
    # first discovery 4/6 < 85 %; due to be closed A, B, C, D, E, S, closed all but B:
    # 5/6 < 97 %
    targets = {(t["scope"], t["measure"]): t for t in body["targets"]}
    assert discovery[1]["unit"]["key"] is True
    for scope in ("key", "all"):
        first = targets[(scope, "first_discovery_rate")]
        closure = targets[(scope, "closure_rate")]
        assert (first["numerator"], first["denominator"], first["met"]) == (4, 6, False)
        assert (closure["numerator"], closure["denominator"], closure["met"]) == (5, 6, False)
        assert (first["target"], closure["target"]) == (0.85, 0.97)


def test_the_figures_agree_with_the_measures(client: TestClient, july: dict) -> None:
    """A department's components are the measures of its scope, numerator for numerator."""
    body = ok(client.get("/api/v1/assessment", params={"month": "2020-07"}))
    urban = by_code(body["handling"])["urban_management"]
    measures = ok(
        client.get(
            "/api/v1/measures",
            params={
                "from": "2020-07-01",
                "to": "2020-07-31",
                "scope": "department:urban_management",
            },
        )
    )["measures"]
    for component in urban["components"]:
        figure = measures[component["indicator"]]
        assert (component["numerator"], component["denominator"]) == (
            figure["numerator"],
            figure["denominator"],
        )


def test_weights_round_trip_and_change_the_scores(
    client: TestClient, demo: Platform, july: dict
) -> None:
    assessor = client.headers_for("assessor")  # type: ignore[attr-defined]
    defaults = ok(client.get("/api/v1/assessment/weights", headers=assessor))
    assert defaults["default"] is True and defaults["updated_by"] is None
    assert sum(defaults["handling"].values()) == 100
    first = defaults["indicators"]["handling"][0]
    assert (first["indicator"], first["inverted"]) == ("on_time_handling_rate", False)

    wanted = {
        "discovery": defaults["discovery"],
        "handling": {
            "on_time_handling_rate": 30,
            "return_rate": 15,
            "rework_rate": 12.5,
            "closure_rate": 42.5,
            "urgent_on_time_arrival_rate": 0,
        },
    }
    saved = ok(client.put("/api/v1/assessment/weights", json=wanted, headers=assessor))
    assert saved["handling"] == wanted["handling"] and saved["default"] is False
    assert saved["updated_by"] == "assessor"
    assert saved["updated_at"] == "2020-08-03T10:00:00+08:00"
    again = ok(client.get("/api/v1/assessment/weights"))
    assert (again["discovery"], again["handling"]) == (wanted["discovery"], wanted["handling"])

    body = ok(client.get("/api/v1/assessment", params={"month": "2020-07"}))
    assert body["weights"]["handling"] == wanted["handling"]
    urban = by_code(body["handling"])["urban_management"]
    # 30 + (1 − 1/3) × 15 + (1 − 1/3) × 12.5 + 42.5 = 30 + 10 + 8.33 + 42.5 = 90.833…
    # of the 100 points measured (urgent is worth nothing now) → 90.83
    assert urban["score"] == 90.83 and urban["measured_weight"] == 100

    # the change is in the audit log
    with demo.uow() as uow:
        changes = [r for r in uow.audit.records() if r.action == "assessment.weights"]
    assert [(r.actor, r.target, r.details["handling"]) for r in changes] == [
        ("assessor", "assessment_weights", wanted["handling"])
    ]


def test_bad_weights_are_refused_with_located_problems(client: TestClient, demo: Platform) -> None:
    weights = ok(client.get("/api/v1/assessment/weights"))
    body = {
        "discovery": {**weights["discovery"], "self_handled_share": 25},  # sums to 105
        "handling": {**weights["handling"], "return_rate": -15, "speed": 3},
    }
    answer = client.put("/api/v1/assessment/weights", json=body)
    assert answer.status_code == 422, answer.text
    located = {(tuple(d["loc"]), d["type"]) for d in answer.json()["detail"]}
    assert located == {
        (("body", "discovery"), "sum"),
        (("body", "handling", "return_rate"), "range"),
        (("body", "handling", "speed"), "unknown"),
    }
    assert ok(client.get("/api/v1/assessment/weights"))["default"] is True  # nothing saved


def test_who_may_change_the_weights(client: TestClient, demo: Platform) -> None:
    weights = ok(client.get("/api/v1/assessment/weights"))
    document = {"discovery": weights["discovery"], "handling": weights["handling"]}
    member = client.headers_for(patrol_member(client))  # type: ignore[attr-defined]
    refused = client.put("/api/v1/assessment/weights", json=document, headers=member)
    assert refused.status_code == 403
    assert refused.json()["detail"][0]["msg"] == "assessment.manage"
    assert client.get("/api/v1/assessment", headers=member).status_code == 403  # no measures.read
    assessor = client.headers_for("assessor")  # type: ignore[attr-defined]
    assert (
        client.put("/api/v1/assessment/weights", json=document, headers=assessor).status_code == 200
    )
    operator = client.headers_for(OPERATOR)  # type: ignore[attr-defined]
    assert client.get("/api/v1/assessment", headers=operator).status_code == 200
    assert (
        client.put("/api/v1/assessment/weights", json=document, headers=operator).status_code == 403
    )


@pytest.mark.parametrize(
    ("path", "params", "where"),
    [
        ("/api/v1/assessment", {"month": "2020-13"}, "month"),
        ("/api/v1/assessment", {"month": "July"}, "month"),
        ("/api/v1/reports/monthly", {"month": "2020/07"}, "month"),
        ("/api/v1/reports/monthly", {"month": "2020-07", "format": "docx"}, "format"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, demo: Platform, path: str, params: dict, where: str
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["query", where]


def test_the_month_defaults_to_the_current_one(client: TestClient, demo: Platform) -> None:
    body = ok(client.get("/api/v1/assessment"))  # the clock stands on 24 June 2020
    assert body["month"] == "2020-06"
    assert all(s["rank"] is None for s in body["discovery"] + body["handling"])


def test_the_monthly_workbook(client: TestClient, july: dict) -> None:
    answer = client.get("/api/v1/reports/monthly", params={"month": "2020-07", "format": "xlsx"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert 'filename="monthly-assessment-2020-07.xlsx"' in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == list(SHEET_TITLES)

    summary = [row for row in book[SHEET_TITLES[0]].iter_rows(values_only=True) if any(row)]
    assert "盈浦街道" in summary[0][0] and "2020年7月" in summary[0][0]
    targets = {(r[0], r[1]): r for r in summary if r[6] in ("达标 met", "未达标 not met")}
    key_first = targets[("先行发现率 First-discovery rate", "重点管理单元 Key units")]
    assert key_first[2:] == (0.85, pytest.approx(4 / 6), 4, 6, "未达标 not met")
    key_closure = targets[("结案率 Closure rate", "重点管理单元 Key units")]
    assert key_closure[2:] == (0.97, pytest.approx(5 / 6), 5, 6, "未达标 not met")

    handling = book[RANKING_TITLES[Family.HANDLING]]
    rows = list(handling.iter_rows(values_only=True))
    assert rows[0][:6] == (
        "名次 Rank",
        "类型 Type",
        "编号 Code",
        "名称 Name",
        "重点 Key",
        "综合得分 Score",
    )
    assert rows[1][:6] == (1, "职能部门", "cleaning", "凌浦保洁（街面非机动车管理）", None, 100)
    assert rows[2][0] == 2 and rows[2][2] == "urban_management" and rows[2][5] == 88.24
    assert rows[2][6:] == (30, 10, 10, 25, None, 85)  # points of each indicator, then weight
    assert len(rows) == 1 + 7
    discovery = list(book[RANKING_TITLES[Family.DISCOVERY]].iter_rows(values_only=True))
    assert [(r[0], r[2], r[5]) for r in discovery[1:4]] == [
        (1, G1, 60.67),
        (1, july["unit"], 60.67),
        (3, "grid_supervisor", 58),
    ]
    assert discovery[2][4] == "★"  # a key unit
    for family in Family:  # a native bar chart of the scores on each ranking sheet
        assert len(book[RANKING_TITLES[family]]._charts) == 1

    behind = list(book[FIGURES_TITLE].iter_rows(values_only=True))
    header = behind[0]
    rows_of = [dict(zip(header, r, strict=True)) for r in behind[1:]]
    urban_return = next(
        r
        for r in rows_of
        if r["编号 Code"] == "urban_management" and r["指标 Indicator"] == "退单率 Return rate"
    )
    assert (urban_return["分子 Numerator"], urban_return["分母 Denominator"]) == (1, 3)
    assert urban_return["权重 Weight"] == 15 and urban_return["得分 Points"] == 10
    # every component of every unit: 47 × 4 + 7 × 5
    assert len(rows_of) == 47 * 4 + 7 * 5


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_the_printable_report(client: TestClient, july: dict, tmp_path: Path) -> None:
    answer = client.get("/api/v1/reports/monthly", params={"month": "2020-07", "format": "pdf"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="monthly-assessment-2020-07.pdf"' in answer.headers["content-disposition"]
    pdf = answer.content
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 10_000
    # page 1: title, targets and their chart, weights; pages 2–3: the 47 discovery units
    # (chart and a table that runs over); page 4: the 7 departments
    assert _pages(pdf) == 4
    assert b"STSong-Light" in pdf  # the built-in CID font: no system fonts needed
    again = client.get("/api/v1/reports/monthly", params={"month": "2020-07", "format": "pdf"})
    assert again.content == pdf  # the same month, the same file

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: the text layer is not checked")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "盈浦街道城运中心督查考核月报",
        "2020年7月",
        july["unit_name"],
        july["grid_name"],
        "一体化养护公司",
        "城管中队",
        "公安派出所",
        "88.24",
        "60.67",
    ):
        assert name in text, name


def test_the_report_from_the_command_line(
    july: dict, db: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHENGYUN_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    out = tmp_path / "reports"
    result = runner.invoke(app, ["report", "monthly", "--month", "2020-07", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        "2020-07" in result.output and "3/47 discovery units, 2/7 handling units" in result.output
    )
    workbook = out / "monthly-assessment-2020-07.xlsx"
    document = out / "monthly-assessment-2020-07.pdf"
    assert load_workbook(workbook).sheetnames == list(SHEET_TITLES)
    assert document.read_bytes().startswith(b"%PDF-") and _pages(document.read_bytes()) == 4

    bad = runner.invoke(app, ["report", "monthly", "--month", "2020-13", "--out", str(out)])
    assert bad.exit_code == 1 and "2020-13" in bad.output
    missing = runner.invoke(app, ["report", "monthly"])
    assert missing.exit_code == 2  # --month is required
