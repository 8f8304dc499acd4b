"""Territory GeoJSON (WGS-84) in and out, with every geometric check done before import.

The format is one FeatureCollection whose features carry ``layer`` (grid, unit,
area) and their codes; the sub-district travels in the ``chengyun`` foreign member.
``territory_from_geojson`` reports every problem it finds at once, naming the
feature, and returns nothing unless the whole file is sound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.territory import (
    Area,
    AreaKind,
    Layer,
    ManagementUnit,
    ResponsibilityGrid,
    SubDistrict,
    Territory,
    UnitKind,
    structural_problems,
)

#: Overlaps and slivers smaller than this (square metres) are rounding, not errors.
DEFAULT_TOLERANCE_M2 = 1.0
METRES_PER_DEGREE_LAT = 110_540.0
METRES_PER_DEGREE_LNG_AT_EQUATOR = 111_320.0


def to_metres(geometry: BaseGeometry, lat0: float) -> BaseGeometry:
    """A local equirectangular projection, exact enough for areas of a district."""
    kx = METRES_PER_DEGREE_LNG_AT_EQUATOR * math.cos(math.radians(lat0))
    return shapely.transform(geometry, lambda xy: xy * [kx, METRES_PER_DEGREE_LAT])


def territory_from_geojson(data: Any, *, tolerance_m2: float = DEFAULT_TOLERANCE_M2) -> Territory:
    """Parse and validate a territory FeatureCollection; raise ``InvalidInput`` listing
    every problem (malformed structure, invalid or unclosed polygons, units outside
    their grid, overlapping units or grids)."""
    problems: list[Problem] = []
    if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
        raise InvalidInput(
            "不是GeoJSON要素集合 / not a GeoJSON FeatureCollection",
            [
                Problem(
                    ("type",),
                    '顶层须为 {"type": "FeatureCollection", ...} / the top '
                    "level must be a FeatureCollection object",
                )
            ],
        )
    features = data.get("features")
    if not isinstance(features, list):
        raise InvalidInput(
            "缺少要素列表 / the FeatureCollection has no features list",
            [Problem(("features",), "features must be a list")],
        )
    meta = _mapping(data.get("chengyun"))
    sd = _mapping(meta.get("sub_district"))
    if not sd or not str(sd.get("code", "")).strip() or not str(sd.get("name", "")).strip():
        problems.append(
            Problem(
                ("chengyun", "sub_district"),
                "缺少街道信息 / missing the sub-district: add "
                '"chengyun": {"sub_district": {"code": "…", "name": "…"}} at the top level',
                "missing",
            )
        )

    grids: list[ResponsibilityGrid] = []
    units: list[ManagementUnit] = []
    areas: list[Area] = []
    shapes: dict[tuple[str, str], tuple[int, BaseGeometry]] = {}
    for index, feature in enumerate(features):
        parsed = _parse_feature(index, feature, problems)
        if parsed is None:
            continue
        item, geometry = parsed
        if isinstance(item, ResponsibilityGrid):
            grids.append(item)
            shapes[("grid", item.code)] = (index, geometry)
        elif isinstance(item, ManagementUnit):
            units.append(item)
            shapes[("unit", item.code)] = (index, geometry)
        else:
            areas.append(item)
            shapes[("area", item.code)] = (index, geometry)

    territory = Territory(
        sub_district=SubDistrict(
            str(sd.get("code", "")), str(sd.get("name", "")), str(sd.get("name_en", ""))
        ),
        grids=tuple(sorted(grids, key=lambda g: g.code)),
        units=tuple(sorted(units, key=lambda u: u.code)),
        areas=tuple(sorted(areas, key=lambda a: a.code)),
        illustrative=bool(meta.get("illustrative", False)),
        note=str(meta.get("note", "")),
    )
    feature_index = {(layer, code): i for (layer, code), (i, _) in shapes.items()}
    for problem in structural_problems(territory):
        key = tuple(str(part) for part in problem.location[:2])
        i = feature_index.get(key) if len(key) == 2 else None
        where = ("features", i, *problem.location[2:]) if i is not None else problem.location
        problems.append(Problem(where, problem.message, problem.kind))
    if not problems:
        problems.extend(_geometric_problems(territory, shapes, tolerance_m2))
    if problems:
        raise InvalidInput(
            f"辖区数据有 {len(problems)} 处问题，未导入任何内容 / the territory has "
            f"{len(problems)} problem(s); nothing was imported",
            problems,
        )
    return territory


def _parse_feature(
    index: int, feature: Any, problems: list[Problem]
) -> tuple[ResponsibilityGrid | ManagementUnit | Area, BaseGeometry] | None:
    where: tuple[str | int, ...] = ("features", index)
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        problems.append(Problem(where, "不是GeoJSON要素 / not a GeoJSON Feature object"))
        return None
    props = feature.get("properties")
    if not isinstance(props, Mapping):
        problems.append(Problem((*where, "properties"), "缺少属性 / properties missing", "missing"))
        return None
    count = len(problems)
    try:
        layer = Layer.parse(str(props.get("layer", "")))
    except ValueError as exc:
        problems.append(Problem((*where, "properties", "layer"), str(exc)))
        return None
    code = str(props.get("code", "")).strip()
    name = str(props.get("name", "")).strip()
    name_en = str(props.get("name_en", "") or "").strip()
    geometry = _parse_geometry((*where, "geometry"), feature.get("geometry"), problems)

    item: ResponsibilityGrid | ManagementUnit | Area | None = None
    raw_geometry = _mapping(feature.get("geometry"))
    if layer is Layer.GRID:
        live_from = _parse_date(
            (*where, "properties", "live_from"), props.get("live_from"), problems
        )
        if live_from is not None:
            item = ResponsibilityGrid(code, name, live_from, raw_geometry, name_en)
    elif layer is Layer.UNIT:
        kind = _parse_enum((*where, "properties", "kind"), UnitKind, props.get("kind"), problems)
        key = props.get("key", False)
        if not isinstance(key, bool):
            problems.append(
                Problem(
                    (*where, "properties", "key"),
                    f"key 须为 true 或 false / key must be true or false, got {key!r}",
                )
            )
        grid_code = str(props.get("grid_code", "")).strip()
        if not grid_code:
            problems.append(
                Problem(
                    (*where, "properties", "grid_code"),
                    "缺少所属网格 / grid_code is missing",
                    "missing",
                )
            )
        if kind is not None:
            item = ManagementUnit(code, name, grid_code, kind, bool(key), raw_geometry, name_en)
    else:
        area_kind = _parse_enum(
            (*where, "properties", "kind"), AreaKind, props.get("kind"), problems
        )
        if area_kind is not None:
            item = Area(code, name, area_kind, raw_geometry, name_en)
    if item is None or geometry is None or len(problems) > count:
        return None
    return item, geometry


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _parse_enum(
    where: tuple[str | int, ...],
    enum: type[UnitKind] | type[AreaKind],
    value: Any,
    problems: list[Problem],
) -> Any:
    try:
        return enum.parse(str(value or ""))
    except ValueError as exc:
        problems.append(Problem(where, str(exc)))
        return None


def _parse_date(where: tuple[str | int, ...], value: Any, problems: list[Problem]) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(
            Problem(where, f"日期须为 YYYY-MM-DD / a date like 2020-06-01 is needed, got {value!r}")
        )
        return None


def _parse_geometry(
    where: tuple[str | int, ...], geometry: Any, problems: list[Problem]
) -> BaseGeometry | None:
    if not isinstance(geometry, Mapping) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        problems.append(
            Problem(
                where,
                "几何须为 Polygon 或 MultiPolygon / geometry must be a Polygon or MultiPolygon",
            )
        )
        return None
    polygons = geometry.get("coordinates")
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    if not isinstance(polygons, list) or not polygons:
        problems.append(Problem((*where, "coordinates"), "坐标为空 / no coordinates", "missing"))
        return None
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            problems.append(Problem((*where, "coordinates", p), "多边形为空 / empty polygon"))
            return None
        for r, ring in enumerate(rings):
            ring_where = (*where, "coordinates", p, r)
            if not isinstance(ring, list) or len(ring) < 4:
                problems.append(
                    Problem(ring_where, "环至少需要4个点 / a ring needs at least 4 positions")
                )
                return None
            for k, position in enumerate(ring):
                if not (
                    isinstance(position, list | tuple)
                    and len(position) >= 2
                    and all(isinstance(v, int | float) and math.isfinite(v) for v in position[:2])
                ):
                    problems.append(
                        Problem(
                            (*ring_where, k),
                            f"坐标须为 [经度, 纬度] / a position "
                            f"must be [lng, lat], got {position!r}",
                        )
                    )
                    return None
                lng, lat = position[0], position[1]
                if not (-180 <= lng <= 180 and -90 <= lat <= 90):
                    problems.append(
                        Problem(
                            (*ring_where, k), f"经纬度越界 / [lng, lat] out of range: {position!r}"
                        )
                    )
                    return None
            if list(ring[0][:2]) != list(ring[-1][:2]):
                problems.append(
                    Problem(
                        ring_where,
                        "环未闭合：首尾坐标须相同 / ring is not closed: "
                        "the first and last positions must be equal",
                        "unclosed",
                    )
                )
                return None
    try:
        built = shape(geometry)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        problems.append(Problem(where, f"无法构造几何 / cannot build the geometry: {exc}"))
        return None
    if not built.is_valid:
        problems.append(
            Problem(
                where,
                f"多边形无效 / invalid polygon: {explain_validity(built)}",
                "invalid_geometry",
            )
        )
        return None
    return built


def _geometric_problems(
    territory: Territory,
    shapes: Mapping[tuple[str, str], tuple[int, BaseGeometry]],
    tolerance_m2: float,
) -> list[Problem]:
    problems: list[Problem] = []
    everything = [g for _, g in shapes.values()]
    lat0 = shapely.union_all(everything).centroid.y if everything else 0.0
    metric = {key: (i, to_metres(g, lat0)) for key, (i, g) in shapes.items()}

    for unit in territory.units:
        i, ug = metric[("unit", unit.code)]
        _, gg = metric[("grid", unit.grid_code)]
        outside = ug.difference(gg).area
        if outside > tolerance_m2:
            problems.append(
                Problem(
                    ("features", i, "geometry"),
                    f"管理单元 {unit.code} 有 {outside:.0f} m² 超出所属网格 "
                    f"{unit.grid_code} / unit {unit.code} extends {outside:.0f} m² "
                    f"outside its grid {unit.grid_code}",
                    "outside_grid",
                )
            )
    for layer in ("unit", "grid"):
        keys = sorted(k for k in metric if k[0] == layer)
        geoms = [metric[k][1] for k in keys]
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        for a, b in zip(left.tolist(), right.tolist(), strict=True):
            if a >= b:
                continue
            overlap = geoms[a].intersection(geoms[b]).area
            if overlap > tolerance_m2:
                i = metric[keys[b]][0]
                name = "管理单元" if layer == "unit" else "责任网格"
                problems.append(
                    Problem(
                        ("features", i, "geometry"),
                        f"{name} {keys[b][1]} 与 {keys[a][1]} 重叠 {overlap:.0f} m² / "
                        f"{layer} {keys[b][1]} overlaps {keys[a][1]} by "
                        f"{overlap:.0f} m²",
                        "overlap",
                    )
                )
    return problems


def _geometry_json(geometry: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


def grid_feature(grid: ResponsibilityGrid) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "layer": "grid",
            "code": grid.code,
            "name": grid.name,
            "name_en": grid.name_en,
            "live_from": grid.live_from.isoformat(),
        },
        "geometry": _geometry_json(grid.geometry),
    }


def unit_feature(unit: ManagementUnit) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "layer": "unit",
            "code": unit.code,
            "name": unit.name,
            "name_en": unit.name_en,
            "grid_code": unit.grid_code,
            "kind": unit.kind.value,
            "key": unit.key,
        },
        "geometry": _geometry_json(unit.geometry),
    }


def area_feature(area: Area) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "layer": "area",
            "code": area.code,
            "name": area.name,
            "name_en": area.name_en,
            "kind": area.kind.value,
        },
        "geometry": _geometry_json(area.geometry),
    }


def feature_collection(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def territory_to_geojson(territory: Territory) -> dict[str, Any]:
    """The whole territory in the import format: ``territory_from_geojson`` reads it back."""
    sd = territory.sub_district
    features = (
        [grid_feature(g) for g in territory.grids]
        + [unit_feature(u) for u in territory.units]
        + [area_feature(a) for a in territory.areas]
    )
    return {
        "type": "FeatureCollection",
        "chengyun": {
            "sub_district": {"code": sd.code, "name": sd.name, "name_en": sd.name_en},
            "illustrative": territory.illustrative,
            "note": territory.note,
        },
        "features": features,
    }
