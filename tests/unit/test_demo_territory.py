"""The demo territory data file and the generators behind it (chengyun.demo.territory_builder)."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date
from itertools import combinations
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from chengyun.demo.territory_builder import DATA_FILE, build_demo_territory, synthetic_territory
from chengyun.domain.territory import CODE_PATTERN, AreaKind, UnitKind

PREFIX = "310118002"
ONE_M2 = 1.0


def metric(geometry: BaseGeometry, lat0: float = 31.15) -> BaseGeometry:
    """The geometry on a local plane in metres: x = lng·cos(lat0)·111320, y = lat·110540."""
    factors = (math.cos(math.radians(lat0)) * 111_320.0, 110_540.0)
    return shapely.transform(geometry, lambda coords: coords * factors)


def layer(collection: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [f for f in collection["features"] if f["properties"]["layer"] == name]


def shapes(features: list[dict[str, Any]]) -> dict[str, BaseGeometry]:
    return {f["properties"]["code"]: shape(f["geometry"]) for f in features}


def overlapping_pairs(geometries: list[BaseGeometry]) -> list[tuple[int, int, float]]:
    """Pairs of geometries whose intersection is more than 1 m² (geometries in metres)."""
    tree = shapely.STRtree(geometries)
    first, second = tree.query(geometries, predicate="intersects")
    found = []
    for i, j in zip(first.tolist(), second.tolist(), strict=True):
        if i < j:
            area = geometries[i].intersection(geometries[j]).area
            if area > ONE_M2:
                found.append((i, j, area))
    return found


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return build_demo_territory()


def test_the_committed_data_file_is_what_the_builder_makes(demo: dict[str, Any]) -> None:
    text = DATA_FILE.read_text(encoding="utf-8")
    assert "盈浦街道" in text  # written with ensure_ascii=False
    assert json.loads(text) == demo


def test_the_file_says_which_sub_district_it_is_and_that_it_is_illustrative(
    demo: dict[str, Any],
) -> None:
    assert demo["type"] == "FeatureCollection"
    header = demo["chengyun"]
    assert header["sub_district"] == {
        "code": PREFIX,
        "name": "盈浦街道",
        "name_en": "Yingpu Sub-district",
    }
    assert header["illustrative"] is True
    assert "示意数据" in header["note"] and "Illustrative" in header["note"]


def test_features_are_grids_then_units_then_areas_each_sorted_by_code(
    demo: dict[str, Any],
) -> None:
    order = {"grid": 0, "unit": 1, "area": 2}
    keys = [(order[f["properties"]["layer"]], f["properties"]["code"]) for f in demo["features"]]
    assert keys == sorted(keys)
    for feature in demo["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_counts_match_the_plan(demo: dict[str, Any]) -> None:
    grids, units, areas = layer(demo, "grid"), layer(demo, "unit"), layer(demo, "area")
    assert len(grids) == 5
    assert len(units) == 34
    assert Counter(u["properties"]["kind"] for u in units) == {"community": 29, "rural": 5}
    key_units = [u["properties"] for u in units if u["properties"]["key"]]
    assert len(key_units) == 19
    assert all(u["kind"] == "community" for u in key_units)
    assert len({u["grid_code"] for u in key_units}) == 3
    kinds = Counter(a["properties"]["kind"] for a in areas)
    assert kinds["street"] >= 4
    assert kinds["waterway"] == 1


def test_a_grid_is_key_for_all_its_units_or_none(demo: dict[str, Any]) -> None:
    by_grid: dict[str, set[bool]] = {}
    for unit in layer(demo, "unit"):
        by_grid.setdefault(unit["properties"]["grid_code"], set()).add(unit["properties"]["key"])
    assert all(len(flags) == 1 for flags in by_grid.values())
    assert by_grid[f"{PREFIX}900001"] == {True}  # grid 1, the first to go live, is a key grid


def test_codes_names_and_kinds_follow_the_format(demo: dict[str, Any]) -> None:
    codes = [f["properties"]["code"] for f in demo["features"]]
    assert len(set(codes)) == len(codes)
    for feature in demo["features"]:
        properties = feature["properties"]
        assert CODE_PATTERN.match(properties["code"])
        assert properties["code"].startswith(PREFIX)
        assert properties["name"].strip() and properties["name_en"].strip()
    grid_codes = {g["properties"]["code"] for g in layer(demo, "grid")}
    assert grid_codes == {f"{PREFIX}900{n:03d}" for n in range(1, 6)}
    unit_codes = {u["properties"]["code"] for u in layer(demo, "unit")}
    assert unit_codes == {f"{PREFIX}{n:03d}001" for n in range(1, 35)}
    for unit in layer(demo, "unit"):
        assert unit["properties"]["grid_code"] in grid_codes
        UnitKind(unit["properties"]["kind"])
    for area in layer(demo, "area"):
        assert area["properties"]["code"][9:12] == "800"
        AreaKind(area["properties"]["kind"])


def test_grids_go_live_in_the_phased_rollout(demo: dict[str, Any]) -> None:
    live = {g["properties"]["code"][-1]: g["properties"]["live_from"] for g in layer(demo, "grid")}
    assert live == {
        "1": "2020-06-01",
        "2": "2020-07-01",
        "3": "2020-07-01",
        "4": "2020-07-15",
        "5": "2020-08-01",
    }
    assert all(date.fromisoformat(d) for d in live.values())


def test_villages_lie_on_the_outskirts(demo: dict[str, Any]) -> None:
    centre = metric(Point(121.110, 31.150))
    units = layer(demo, "unit")
    distance = {
        u["properties"]["code"]: metric(shape(u["geometry"])).centroid.distance(centre)
        for u in units
    }
    villages = [
        distance[u["properties"]["code"]] for u in units if u["properties"]["kind"] == "rural"
    ]
    keys = [distance[u["properties"]["code"]] for u in units if u["properties"]["key"]]
    assert min(villages) > 2_000.0
    assert min(villages) > sorted(keys)[len(keys) // 2]


def test_all_polygons_are_valid(demo: dict[str, Any]) -> None:
    for code, geometry in shapes(demo["features"]).items():
        assert geometry.is_valid, (code, shapely.is_valid_reason(geometry))
        assert not geometry.is_empty


def test_units_do_not_overlap(demo: dict[str, Any]) -> None:
    units = [metric(g) for g in shapes(layer(demo, "unit")).values()]
    assert overlapping_pairs(units) == []
    # The same check without the index, for all 561 pairs.
    assert all(a.intersection(b).area < ONE_M2 for a, b in combinations(units, 2))


def test_each_grid_is_the_union_of_its_units(demo: dict[str, Any]) -> None:
    units = layer(demo, "unit")
    for code, grid in shapes(layer(demo, "grid")).items():
        members = [shape(u["geometry"]) for u in units if u["properties"]["grid_code"] == code]
        union = metric(shapely.union_all(members))
        assert union.symmetric_difference(metric(grid)).area < ONE_M2, code
        assert isinstance(grid, Polygon), f"grid {code} is in one piece"


def test_grids_tile_the_territory_without_holes_or_overlaps(demo: dict[str, Any]) -> None:
    grids = [metric(g) for g in shapes(layer(demo, "grid")).values()]
    assert overlapping_pairs(grids) == []
    territory = shapely.union_all(grids)
    assert isinstance(territory, Polygon)
    assert len(territory.interiors) == 0
    assert 20e6 < territory.area < 30e6
    assert 0.99 < sum(g.area for g in grids) / territory.area < 1.01


def test_the_southern_boundary_follows_the_dianpu_river(demo: dict[str, Any]) -> None:
    territory = shapely.union_all(list(shapes(layer(demo, "grid")).values()))
    west, south, east, north = territory.bounds
    assert 31.125 < south < 31.130
    assert north > 31.17 and east - west > 0.05
    # Irregular, not a rectangle.
    assert territory.area < 0.9 * territory.envelope.area


def test_the_old_town_centre_lies_in_a_key_unit_of_grid_1(demo: dict[str, Any]) -> None:
    centre = Point(121.110, 31.150)
    hits = [u["properties"] for u in layer(demo, "unit") if shape(u["geometry"]).covers(centre)]
    assert len(hits) == 1
    assert hits[0]["key"] is True
    assert hits[0]["grid_code"] == f"{PREFIX}900001"


def test_units_vary_in_size_with_small_ones_in_the_centre_and_large_villages(
    demo: dict[str, Any],
) -> None:
    units = layer(demo, "unit")
    area = {u["properties"]["code"]: metric(shape(u["geometry"])).area for u in units}
    villages = [area[u["properties"]["code"]] for u in units if u["properties"]["kind"] == "rural"]
    keys = [area[u["properties"]["code"]] for u in units if u["properties"]["key"]]
    assert max(area.values()) > 3 * min(area.values())
    assert sum(villages) / len(villages) > 1.5 * sum(keys) / len(keys)


def test_areas_are_valid_and_inside_the_territory(demo: dict[str, Any]) -> None:
    territory = metric(shapely.union_all(list(shapes(layer(demo, "grid")).values())))
    for area in layer(demo, "area"):
        geometry = metric(shape(area["geometry"]))
        assert geometry.is_valid
        assert geometry.difference(territory).area < ONE_M2, area["properties"]["name"]
    first_street = next(a for a in layer(demo, "area") if a["properties"]["kind"] == "street")
    street = metric(shape(first_street["geometry"]))
    assert 40.0 < street.area / street.length * 2 < 60.0  # ~25 m each side of the road
    waterway = next(a for a in layer(demo, "area") if a["properties"]["kind"] == "waterway")
    ring = metric(shape(waterway["geometry"]))
    assert isinstance(ring, Polygon) and len(ring.interiors) == 1
    assert ring.exterior.distance(ring.interiors[0]) == pytest.approx(30.0, abs=3.0)


def test_a_synthetic_territory_tiles_its_square_with_valid_units() -> None:
    collection = synthetic_territory(1000)
    units = layer(collection, "unit")
    grids = layer(collection, "grid")
    assert len(units) == 1000
    assert 130 <= len(grids) <= 150
    geometries = [metric(shape(u["geometry"]), lat0=31.23) for u in units]
    assert all(g.is_valid for g in geometries)
    assert overlapping_pairs(geometries) == []
    assert {u["properties"]["grid_code"] for u in units} == {g["properties"]["code"] for g in grids}
    cover = shapely.union_all(geometries)
    assert isinstance(cover, Polygon) and len(cover.interiors) == 0
    assert cover.area == pytest.approx(cover.envelope.area, rel=1e-6)
    codes = [f["properties"]["code"] for f in collection["features"]]
    assert len(set(codes)) == len(codes) and all(CODE_PATTERN.match(c) for c in codes)


def test_a_synthetic_territory_is_deterministic() -> None:
    assert synthetic_territory(50, seed=3) == synthetic_territory(50, seed=3)
    assert synthetic_territory(50, seed=3) != synthetic_territory(50, seed=4)
