"""The shipped taxonomy (GB/T 30428.2 / CJ/T 214 + local extensions), its JSON file and
its spreadsheet exchange."""

from __future__ import annotations

import copy
import io
import json
from importlib import resources
from typing import Any

import pytest
from openpyxl import load_workbook

from chengyun.adapters.spreadsheets.taxonomy_xlsx import (
    HEADER_BY_FIELD,
    SHEET_TITLE,
    taxonomy_from_xlsx,
    taxonomy_to_xlsx,
)
from chengyun.adapters.taxonomy_file import (
    default_taxonomy_json,
    load_default_taxonomy,
    subclass_from_mapping,
    subclass_to_mapping,
    taxonomy_from_json,
    taxonomy_to_json,
)
from chengyun.domain.errors import InvalidInput
from chengyun.domain.forces import Department, TeamType
from chengyun.domain.taxonomy import (
    CaseKind,
    Sector,
    Stage,
    Taxonomy,
    TimeLimit,
    TimeUnit,
    Urgency,
)


def document() -> dict[str, Any]:
    return copy.deepcopy(default_taxonomy_json())


def index_of(data: dict[str, Any], code: str) -> int:
    return next(i for i, s in enumerate(data["subclasses"]) if s["code"] == code)


def problems_of(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(InvalidInput) as caught:
        taxonomy_from_json(data)
    return [(p.location, p.kind) for p in caught.value.problems]


def cell_values(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    values = {s.title: list(s.iter_rows(values_only=True)) for s in workbook.worksheets}
    workbook.close()
    return values


# ---------------------------------------------------------------- the shipped file


def test_the_shipped_file_loads_without_problems() -> None:
    taxonomy = load_default_taxonomy()
    assert isinstance(taxonomy, Taxonomy)
    assert len(taxonomy) >= 70
    assert load_default_taxonomy() is taxonomy  # cached


def test_the_file_names_its_source_and_is_sorted_utf8_with_indent_1() -> None:
    text = resources.files("chengyun.data").joinpath("taxonomy.json").read_text("utf-8")
    data = json.loads(text)
    assert list(data) == ["source", "version", "subclasses"]
    assert "GB/T 30428.2" in data["source"] and "CJ/T 214" in data["source"]
    assert data["version"]
    codes = [s["code"] for s in data["subclasses"]]
    assert codes == sorted(codes)
    assert len(set(codes)) == len(codes)
    assert text == json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def test_both_kinds_and_classes_01_to_06_are_present_for_each_kind() -> None:
    taxonomy = load_default_taxonomy()
    for kind in CaseKind:
        classes = {s.class_code for s in taxonomy if s.kind is kind}
        assert {"01", "02", "03", "04", "05", "06"} <= classes, kind
    events = {s.class_code: s.class_name_zh for s in taxonomy if s.kind is CaseKind.EVENT}
    assert events["07"] == "治安与社会面防控"
    assert events["08"] == "物业管理"


def test_each_class_has_one_name_per_kind() -> None:
    names: dict[tuple[CaseKind, str], set[tuple[str, str]]] = {}
    for s in load_default_taxonomy():
        names.setdefault((s.kind, s.class_code), set()).add((s.class_name_zh, s.class_name_en))
    assert all(len(v) == 1 for v in names.values()), names


def test_standard_codes_and_names() -> None:
    taxonomy = load_default_taxonomy()
    expected = {
        "C0101": "上水井盖",
        "C0102": "污水井盖",
        "C0103": "雨水井盖",
        "C0201": "停车场",
        "C0301": "公共厕所",
        "E0101": "私搭乱建",
        "E0102": "暴露垃圾",
        "E0103": "积存垃圾渣土",
        "E0501": "无照经营游商",
        "E0502": "流浪乞讨",
    }
    for code, name in expected.items():
        subclass = taxonomy.get(code)
        assert subclass is not None and subclass.name_zh == name, code


def test_every_sector_is_used() -> None:
    assert {s.sector for s in load_default_taxonomy()} == set(Sector)


def test_every_stage_is_limited() -> None:
    for s in load_default_taxonomy():
        assert set(s.limits) == set(Stage), s.code
        assert all(limit.amount > 0 for limit in s.limits.values()), s.code


def test_urgent_subclasses_are_on_scene_in_15_minutes_with_a_result_in_an_hour() -> None:
    urgent = [s for s in load_default_taxonomy() if s.urgency is Urgency.URGENT]
    assert len(urgent) >= 10
    for s in urgent:
        arrive, handle = s.limits[Stage.ARRIVE], s.limits[Stage.HANDLE]
        assert arrive.unit is TimeUnit.MINUTES and arrive.amount <= 15, s.code
        assert handle.unit is TimeUnit.MINUTES and handle.amount <= 60, s.code


def test_general_limits_follow_common_practice() -> None:
    for s in load_default_taxonomy():
        register = s.limits[Stage.REGISTER]
        assert register.unit is TimeUnit.MINUTES and 30 <= register.amount <= 60, s.code
        assert s.limits[Stage.CHECK] == TimeLimit(1, TimeUnit.WORKING_DAYS), s.code
        if s.urgency is Urgency.GENERAL:
            arrive = s.limits[Stage.ARRIVE]
            assert arrive.unit is TimeUnit.MINUTES and 30 <= arrive.amount <= 60, s.code


def test_rules_route_to_the_right_party() -> None:
    taxonomy = load_default_taxonomy()

    def responsible(code: str) -> Any:
        subclass = taxonomy.get(code)
        assert subclass is not None
        return subclass.responsible

    assert responsible("E0501") is Department.URBAN_MANAGEMENT  # unlicensed vendors
    assert responsible("E0101") is Department.URBAN_MANAGEMENT  # illegal construction
    assert responsible("E0506") is Department.CLEANING  # non-motor-vehicle parking
    assert responsible("E0604") is Department.MARKET  # food safety
    assert responsible("E0808") is Department.HOUSING  # property-service disputes
    assert responsible("E0502") is Department.SERVICE  # vagrancy and begging
    assert responsible("E0102") is TeamType.MAINTENANCE  # exposed rubbish
    assert responsible("E0801") is TeamType.PROPERTY  # untidy compound
    for code in ("C0101", "C0104", "E0401", "E0403", "E0803"):
        subclass = taxonomy.get(code)
        assert subclass is not None and subclass.urgency is Urgency.URGENT, code
    for s in taxonomy:
        if s.class_code == "01" and s.kind is CaseKind.COMPONENT and "井盖" in s.name_zh:
            assert s.urgency is Urgency.URGENT, s.code


# ---------------------------------------------------------------- JSON round trip


def test_json_round_trip_is_exact() -> None:
    data = document()
    taxonomy = taxonomy_from_json(data)
    again = taxonomy_to_json(taxonomy, source=data["source"], version=data["version"])
    assert again == data
    assert json.dumps(again, ensure_ascii=False, indent=1) == json.dumps(
        data, ensure_ascii=False, indent=1
    )
    assert taxonomy_from_json(again) == taxonomy


def test_one_subclass_round_trips_through_a_mapping() -> None:
    subclass = load_default_taxonomy().subclasses[0]
    parsed, problems = subclass_from_mapping(subclass_to_mapping(subclass))
    assert problems == []
    assert parsed == subclass


def test_labels_are_accepted_leniently_in_json() -> None:
    data = document()
    entry = data["subclasses"][index_of(data, "E0501")]
    entry.update(kind="事件", sector="City management", urgency="一般类", responsible="城管中队")
    entry["limits"]["handle"]["unit"] = "工作时"
    subclass = taxonomy_from_json(data).get("E0501")
    assert subclass is not None
    assert subclass.responsible is Department.URBAN_MANAGEMENT
    assert subclass.limits[Stage.HANDLE].unit is TimeUnit.WORKING_HOURS


# ---------------------------------------------------------------- bad JSON


def test_an_unknown_responsible_party_is_located() -> None:
    data = document()
    i = index_of(data, "E0501")
    data["subclasses"][i]["responsible"] = "fire_brigade"
    assert problems_of(data) == [(("subclasses", i, "responsible"), "reference")]


def test_a_code_with_a_bad_kind_letter_is_located() -> None:
    data = document()
    i = index_of(data, "C0101")
    data["subclasses"][i]["code"] = "X0101"
    assert problems_of(data) == [(("subclasses", i, "code"), "invalid")]


def test_a_negative_limit_is_located() -> None:
    data = document()
    i = index_of(data, "E0102")
    data["subclasses"][i]["limits"]["handle"]["amount"] = -2
    assert problems_of(data) == [(("subclasses", i, "limits", "handle"), "invalid")]


def test_a_duplicate_code_is_located() -> None:
    data = document()
    i = index_of(data, "E0102")
    data["subclasses"][i + 1]["code"] = "E0102"
    assert problems_of(data) == [(("subclasses", i + 1, "code"), "duplicate")]


def test_every_problem_is_reported_at_once() -> None:
    data = document()
    data["subclasses"][0]["urgency"] = "very"
    data["subclasses"][1]["limits"]["arrive"]["unit"] = "fortnights"
    del data["subclasses"][2]["limits"]["check"]
    data["subclasses"][3]["filing"] = " "
    data["subclasses"][4]["colour"] = "red"
    data["subclasses"][5]["class_code"] = "07"
    data["subclasses"][6]["limits"]["handle"]["amount"] = "2"
    assert problems_of(data) == [
        (("subclasses", 0, "urgency"), "invalid"),
        (("subclasses", 1, "limits", "arrive", "unit"), "invalid"),
        (("subclasses", 2, "limits", "check"), "missing"),
        (("subclasses", 3, "filing"), "missing"),
        (("subclasses", 4, "colour"), "unknown"),
        (("subclasses", 5, "class_code"), "invalid"),
        (("subclasses", 6, "limits", "handle", "amount"), "invalid"),
    ]


@pytest.mark.parametrize("data", [None, [], {"subclasses": {}}, {"items": []}])
def test_a_document_without_a_subclass_list_is_refused(data: Any) -> None:
    assert problems_of(data) == [(("subclasses",), "format")]


def test_a_subclass_that_is_not_an_object_is_located() -> None:
    assert problems_of({"subclasses": ["C0101"]}) == [(("subclasses", 0), "format")]


# ---------------------------------------------------------------- spreadsheet


def test_xlsx_round_trip() -> None:
    taxonomy = load_default_taxonomy()
    exported = taxonomy_to_xlsx(taxonomy)
    imported = taxonomy_from_xlsx(exported)
    assert imported == taxonomy
    assert cell_values(taxonomy_to_xlsx(imported)) == cell_values(exported)


def test_xlsx_writes_chinese_labels() -> None:
    rows = cell_values(taxonomy_to_xlsx(load_default_taxonomy()))[SHEET_TITLE]
    header, first = rows[0], rows[1]
    record = dict(zip(header, first, strict=True))
    assert record[HEADER_BY_FIELD["code"]] == "C0101"
    assert record[HEADER_BY_FIELD["kind"]] == "部件"
    assert record[HEADER_BY_FIELD["urgency"]] == "紧急类"
    assert record[HEADER_BY_FIELD["responsible"]] == "一体化养护公司"
    assert record[HEADER_BY_FIELD["arrive.amount"]] == 15
    assert record[HEADER_BY_FIELD["check.unit"]] == "工作日"
    vendors = next(r for r in rows if r[0] == "E0501")
    assert dict(zip(header, vendors, strict=True))[HEADER_BY_FIELD["responsible"]] == "城管中队"


def edited(changes: dict[tuple[int, str], Any]) -> bytes:
    """The exported workbook with cells (row, field) changed."""
    workbook = load_workbook(io.BytesIO(taxonomy_to_xlsx(load_default_taxonomy())))
    sheet = workbook[SHEET_TITLE]
    headers = [c.value for c in sheet[1]]
    for (row, field), value in changes.items():
        sheet.cell(row=row, column=headers.index(HEADER_BY_FIELD[field]) + 1).value = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_problems(data: bytes) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(InvalidInput) as caught:
        taxonomy_from_xlsx(data)
    return [(p.location, p.kind) for p in caught.value.problems]


def test_a_bad_unit_in_the_spreadsheet_is_located_by_row_and_header() -> None:
    data = edited({(5, "handle.unit"): "fortnights"})
    assert xlsx_problems(data) == [((SHEET_TITLE, 5, "处置时限单位 Handle unit"), "invalid")]


def test_spreadsheet_problems_are_all_listed() -> None:
    data = edited(
        {
            (2, "responsible"): "消防队",
            (3, "code"): "C0101",
            (4, "register.amount"): "soon",
            (6, "dispatch.amount"): None,
            (6, "dispatch.unit"): None,
            (7, "accept.amount"): 0,
        }
    )
    assert xlsx_problems(data) == [
        ((SHEET_TITLE, 2, HEADER_BY_FIELD["responsible"]), "reference"),
        ((SHEET_TITLE, 3, HEADER_BY_FIELD["code"]), "duplicate"),
        ((SHEET_TITLE, 4, HEADER_BY_FIELD["register.amount"]), "invalid"),
        ((SHEET_TITLE, 6, HEADER_BY_FIELD["dispatch.amount"]), "missing"),
        ((SHEET_TITLE, 7, HEADER_BY_FIELD["accept.amount"]), "invalid"),
    ]


def test_a_duplicate_row_is_located() -> None:
    data = edited({(3, "code"): "C0101"})
    assert xlsx_problems(data) == [((SHEET_TITLE, 3, HEADER_BY_FIELD["code"]), "duplicate")]


def test_the_spreadsheet_accepts_values_and_english_labels() -> None:
    data = edited(
        {
            (2, "kind"): "component",
            (2, "urgency"): "Urgent",
            (2, "responsible"): "Integrated maintenance company",
            (2, "check.unit"): "working_days",
            (2, "arrive.amount"): "15",
        }
    )
    assert taxonomy_from_xlsx(data) == load_default_taxonomy()


def test_a_file_that_is_not_a_workbook_is_refused() -> None:
    assert xlsx_problems(b"not a workbook") == [(("file",), "format")]


def test_a_workbook_without_the_taxonomy_sheet_is_refused() -> None:
    workbook = load_workbook(io.BytesIO(taxonomy_to_xlsx(load_default_taxonomy())))
    workbook[SHEET_TITLE].title = "Sheet9"
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert xlsx_problems(buffer.getvalue()) == [(("file",), "missing")]
