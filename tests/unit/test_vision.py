"""The video-algorithm rules: scene mapping, joining repeated alerts, precision; and the
camera sheet's round trip."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from chengyun.adapters.spreadsheets.cameras_xlsx import cameras_from_xlsx, cameras_to_xlsx
from chengyun.adapters.taxonomy_file import load_default_taxonomy
from chengyun.domain.cases import CaseStatus
from chengyun.domain.errors import InvalidInput
from chengyun.domain.vision import (
    DEFAULT_SCENES,
    AlertFact,
    AlertOutcome,
    Camera,
    OpenEpisode,
    SceneMapping,
    Verdict,
    admission,
    camera_problems,
    case_to_join,
    normal_scene,
    outcome_of,
    precision,
    precision_table,
    scene_problems,
)
from chengyun.domain.working_time import CHINA_TZ

T0 = datetime(2020, 6, 24, 9, 30, tzinfo=CHINA_TZ)
WINDOW = timedelta(minutes=30)


def test_the_shipped_mapping_points_at_real_subclasses() -> None:
    taxonomy = load_default_taxonomy()
    names = {m.code: (m.subclass, m.name_zh) for m in DEFAULT_SCENES}
    assert names["street_vending"] == ("E0501", "占道经营")
    assert names["exposed_rubbish"] == ("E0102", "暴露垃圾")
    assert names["piled_materials"] == ("E0507", "乱堆物料")
    assert names["car_parking"] == ("E0505", "机动车乱停放")
    assert names["bike_parking"] == ("E0506", "非机动车乱停放")
    assert names["outside_shop"] == ("E0504", "出店经营")
    assert names["laundry"] == ("E0511", "乱晾晒")
    assert len(names) == len(DEFAULT_SCENES)
    for mapping in DEFAULT_SCENES:
        assert scene_problems(mapping, lambda c: taxonomy.get(c) is not None) == [], mapping
        assert normal_scene(mapping.code) == mapping.code


def test_scene_problems_name_each_field() -> None:
    bad = SceneMapping("Bad Code!", "X12", "", "", min_confidence=1.5)
    fields = {p.location[0] for p in scene_problems(bad, lambda c: True)}
    assert fields == {"code", "subclass", "name_zh", "min_confidence"}
    unknown = SceneMapping("ghost", "E9999", "鬼", "Ghost")
    [problem] = scene_problems(unknown, lambda c: False)
    assert problem.location == ("subclass",) and problem.kind == "unknown"


def test_camera_problems() -> None:
    good = Camera("31011800201320000001", "路口", 121.11, 31.15)
    assert camera_problems(good) == []
    bad = Camera("摄像头 1", "", float("nan"), 91.0, address="x" * 201)
    fields = {p.location[0] for p in camera_problems(bad)}
    assert fields == {"camera_id", "name", "lng", "lat", "address"}


def test_alerts_join_the_open_case_within_a_rolling_window() -> None:
    episode = OpenEpisode(7, T0, case_open=True)
    assert case_to_join(None, T0, WINDOW) is None
    assert case_to_join(episode, T0 + timedelta(minutes=30), WINDOW) == 7
    assert case_to_join(episode, T0 + timedelta(minutes=31), WINDOW) is None
    assert case_to_join(episode, T0 - timedelta(minutes=10), WINDOW) == 7  # late delivery
    closed = OpenEpisode(7, T0, case_open=False)
    assert case_to_join(closed, T0 + timedelta(minutes=1), WINDOW) is None


@given(minutes=st.integers(min_value=-600, max_value=600), window=st.integers(1, 120))
def test_joining_is_symmetric_and_bounded(minutes: int, window: int) -> None:
    episode = OpenEpisode(1, T0, case_open=True)
    joined = case_to_join(episode, T0 + timedelta(minutes=minutes), timedelta(minutes=window))
    assert (joined == 1) == (abs(minutes) <= window)


def test_admission() -> None:
    mapping = SceneMapping("street_vending", "E0501", "占道经营", "", min_confidence=0.8)
    assert admission(mapping, 0.8) is None
    assert admission(mapping, 0.79) is AlertOutcome.BELOW_THRESHOLD
    off = SceneMapping("laundry", "E0511", "乱晾晒", "", active=False)
    assert admission(off, 1.0) is AlertOutcome.SCENE_OFF


def test_outcome_of_a_case() -> None:
    assert outcome_of(CaseStatus.DISPATCHED, None) is None
    assert outcome_of(CaseStatus.HANDLED, None) is Verdict.CONFIRMED
    assert outcome_of(CaseStatus.CLOSED, None) is Verdict.CONFIRMED
    assert outcome_of(CaseStatus.CLOSED, Verdict.FALSE_ALARM) is Verdict.FALSE_ALARM
    assert outcome_of(CaseStatus.VOIDED, None) is None  # voided for another reason
    assert outcome_of(None, Verdict.CONFIRMED) is Verdict.CONFIRMED


def test_precision_arithmetic() -> None:
    assert precision(0, 0) is None
    assert precision(3, 1) == 0.75
    assert precision(0, 2) == 0.0
    assert precision(2, 1) == 0.6667


def test_precision_table_counts_each_case_once_per_row() -> None:
    facts = [
        AlertFact("hik-ai", "street_vending", 1, 5, CaseStatus.CLOSED),
        AlertFact("hik-ai", "street_vending", 2, 1, CaseStatus.DISPATCHED, Verdict.FALSE_ALARM),
        AlertFact("hik-ai", "street_vending", 3, 2, CaseStatus.DISPATCHED),
        AlertFact("hik-ai", "street_vending", None, 4),  # below threshold, no case
        AlertFact("hik-ai", "outside_shop", 1, 1, CaseStatus.CLOSED),  # the same case
        AlertFact("dahua", "exposed_rubbish", 9, 1, CaseStatus.REGISTERED, Verdict.CONFIRMED),
    ]
    scenes, sources = precision_table(facts)
    rows = {(r.source, r.scene): r for r in scenes}
    vending = rows[("hik-ai", "street_vending")]
    assert (vending.alerts, vending.cases, vending.confirmed, vending.false_alarms) == (12, 3, 1, 1)
    assert vending.pending == 1 and vending.precision == 0.5
    assert rows[("hik-ai", "outside_shop")].precision == 1.0
    totals = {r.source: r for r in sources}
    assert [r.source for r in sources] == ["dahua", "hik-ai"]
    assert totals["hik-ai"].cases == 3 and totals["hik-ai"].alerts == 13
    assert totals["dahua"].precision == 1.0 and totals["dahua"].scene is None


def test_camera_sheet_round_trip() -> None:
    cameras = [
        Camera("CAM-2", "二号", 121.1, 31.15, "310118002900001", "310118002001001", "路口", "公安"),
        Camera("CAM-1", "一号", 121.2, 31.16, active=False),
    ]
    rows = cameras_from_xlsx(cameras_to_xlsx(cameras))
    assert [where for where, _ in rows] == [("摄像头 Cameras", 2), ("摄像头 Cameras", 3)]
    back = {c.camera_id: c for _, c in rows}
    assert back["CAM-1"].active is False and back["CAM-1"].lng == 121.2
    assert back["CAM-2"].unit_code == "310118002001001" and back["CAM-2"].owner == "公安"
    assert back["CAM-2"].grid_code is None  # the grid comes from the position on import


def test_camera_sheet_headers_in_either_language_and_gcj02() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Camera ID", "名称", "Longitude", "纬度", "CRS"])
    sheet.append(["CAM-9", "九号", 121.11, 31.15, "gcj02"])
    sheet.append([None, None, None, None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    [(where, camera)] = cameras_from_xlsx(buffer.getvalue())
    assert where == ("Sheet", 2) and camera.camera_id == "CAM-9"
    assert camera.lng != 121.11 and abs(camera.lng - 121.11) < 0.01  # shifted back to WGS-84


def test_camera_sheet_problems_are_located() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["编号 Camera ID", "名称 Name", "经度 Longitude"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(InvalidInput) as missing:
        cameras_from_xlsx(buffer.getvalue())
    assert "纬度 Latitude" in missing.value.problems[0].message
    sheet.cell(row=1, column=4, value="纬度 Latitude")
    sheet.cell(row=1, column=5, value="启用 Active")
    sheet.append(["A", "甲", "x", 31.1, "也许"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    with pytest.raises(InvalidInput) as bad:
        cameras_from_xlsx(buffer.getvalue())
    assert [p.location for p in bad.value.problems] == [
        ("Sheet", 2, "经度 Longitude"),
        ("Sheet", 2, "启用 Active"),
    ]
    with pytest.raises(InvalidInput):
        cameras_from_xlsx(b"PK not really")
    assert load_workbook(io.BytesIO(cameras_to_xlsx([]))).worksheets[0].max_row == 1
