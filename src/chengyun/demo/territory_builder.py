"""Builds the illustrative demo territory of the Yingpu sub-district (盈浦街道) as GeoJSON,
and synthetic city-scale territories for the point-location benchmarks.

Everything is laid out on a local metric plane (metres east and north of a centre), tiled
with Voronoi cells, then converted to WGS-84 and rounded to 6 decimals exactly once, so
neighbouring polygons keep identical shared vertices. Deterministic: fixed seeds, no network.
Run ``python -m chengyun.demo.territory_builder`` to rewrite ``data/territory.geojson``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LinearRing, LineString, MultiPoint, MultiPolygon, Polygon
from shapely.geometry import shape as from_geojson
from shapely.geometry.base import BaseGeometry

Coord = tuple[float, float]
Feature = dict[str, Any]

DATA_FILE = Path(__file__).parent / "data" / "territory.geojson"

SUB_DISTRICT = {"code": "310118002", "name": "盈浦街道", "name_en": "Yingpu Sub-district"}
ILLUSTRATIVE_NOTE = (
    "示意数据：边界为虚构，仅供演示 / Illustrative data: boundaries and names are invented "
    "for the demo; real boundaries are not public."
)

#: Metres per degree of latitude, and of longitude at the equator (the plane's scale).
METRES_PER_DEGREE_LAT = 110_540.0
METRES_PER_DEGREE_LNG_AT_EQUATOR = 111_320.0
#: Decimal places kept in the data file (about 0.1 m).
DECIMALS = 6
#: Largest gap or overlap, in m², that the tiling checks tolerate.
TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class LocalPlane:
    """An equirectangular plane in metres around (lng0, lat0), accurate enough over a city."""

    lng0: float
    lat0: float

    @property
    def metres_per_degree_lng(self) -> float:
        return math.cos(math.radians(self.lat0)) * METRES_PER_DEGREE_LNG_AT_EQUATOR

    def to_lnglat(self, x: float, y: float) -> Coord:
        """WGS-84 [lng, lat] of a point ``x`` metres east and ``y`` metres north, rounded."""
        return (
            round(self.lng0 + x / self.metres_per_degree_lng, DECIMALS),
            round(self.lat0 + y / METRES_PER_DEGREE_LAT, DECIMALS),
        )

    def square_metres(self, geometry: BaseGeometry) -> float:
        """Area in m² of a lng/lat geometry (the plane is affine, so areas scale exactly)."""
        return float(geometry.area) * self.metres_per_degree_lng * METRES_PER_DEGREE_LAT


# --- the demo layout -----------------------------------------------------------------------

#: Qingpu old town; the plane's origin.
DEMO_PLANE = LocalPlane(lng0=121.110, lat0=31.150)


@dataclass(frozen=True)
class GridPlan:
    """A responsibility grid as laid out: names, go-live date, whether its units are key."""

    name: str
    name_en: str
    live_from: str
    key: bool


@dataclass(frozen=True)
class UnitPlan:
    """A management unit as laid out: its Voronoi seed in metres from the old-town centre."""

    name: str
    name_en: str
    grid: int
    kind: str
    seed: Coord


@dataclass(frozen=True)
class AreaPlan:
    """A street frontage (centre line, half-width) or the ring waterway (closed centre line)."""

    name: str
    name_en: str
    kind: str
    line: tuple[Coord, ...]
    half_width: float


DEMO_GRIDS: tuple[GridPlan, ...] = (
    GridPlan("第一责任网格（城中）", "Grid 1 (Old Town)", "2020-06-01", key=True),
    GridPlan("第二责任网格（城东）", "Grid 2 (East Town)", "2020-07-01", key=True),
    GridPlan("第三责任网格（城南）", "Grid 3 (South Town)", "2020-07-01", key=True),
    GridPlan("第四责任网格（城北）", "Grid 4 (North)", "2020-07-15", key=False),
    GridPlan("第五责任网格（城西）", "Grid 5 (West)", "2020-08-01", key=False),
)

# Seeds are denser in the old town and sparse on the outskirts, so the centre's cells are
# small and the villages' large. The community serial (code digits 10-12) is the position.
DEMO_UNITS: tuple[UnitPlan, ...] = (
    # Grid 1: the old town inside the ring-city waterway.
    UnitPlan("城中居委会", "Chengzhong Community", 1, "community", (30, 40)),
    UnitPlan("东门居委会", "Dongmen Community", 1, "community", (600, 60)),
    UnitPlan("南门居委会", "Nanmen Community", 1, "community", (60, -560)),
    UnitPlan("西门居委会", "Ximen Community", 1, "community", (-560, -60)),
    UnitPlan("北门居委会", "Beimen Community", 1, "community", (80, 600)),
    UnitPlan("复兴社区居委会", "Fuxing Community", 1, "community", (-440, 470)),
    UnitPlan("盈中居委会", "Yingzhong Community", 1, "community", (470, -440)),
    # Grid 2: the new town east of the old town.
    UnitPlan("三元河居委会", "Sanyuanhe Community", 2, "community", (1150, 650)),
    UnitPlan("青安居委会", "Qing'an Community", 2, "community", (1200, -250)),
    UnitPlan("庆华居委会", "Qinghua Community", 2, "community", (1800, -750)),
    UnitPlan("华浦居委会", "Huapu Community", 2, "community", (1800, 250)),
    UnitPlan("新城居委会", "Xincheng Community", 2, "community", (2000, 1000)),
    UnitPlan("桂花园居委会", "Guihuayuan Community", 2, "community", (2300, -250)),
    # Grid 3: between the old town and the Dianpu River.
    UnitPlan("盈浦居委会", "Yingpu Community", 3, "community", (-450, -1250)),
    UnitPlan("淀浦居委会", "Dianpu Community", 3, "community", (-500, -1950)),
    UnitPlan("万寿居委会", "Wanshou Community", 3, "community", (350, -1300)),
    UnitPlan("湖滨居委会", "Hubin Community", 3, "community", (350, -1950)),
    UnitPlan("青湖居委会", "Qinghu Community", 3, "community", (1200, -1500)),
    UnitPlan("南苑居委会", "Nanyuan Community", 3, "community", (2150, -1750)),
    # Grid 4: the northern edge of town and two villages beyond it.
    UnitPlan("盈港居委会", "Yinggang Community", 4, "community", (-300, 1200)),
    UnitPlan("北苑居委会", "Beiyuan Community", 4, "community", (450, 1200)),
    UnitPlan("民乐居委会", "Minle Community", 4, "community", (-1100, 1100)),
    UnitPlan("怡澜居委会", "Yilan Community", 4, "community", (1200, 1300)),
    UnitPlan(
        "盈港东路筹备组", "Yinggang East Road Preparatory Group", 4, "community", (2050, 1600)
    ),
    UnitPlan("袁家村", "Yuanjia Village", 4, "rural", (-900, 2250)),
    UnitPlan("新桥村", "Xinqiao Village", 4, "rural", (1050, 2300)),
    # Grid 5: the western edge of town and three villages beyond it.
    UnitPlan("西部花苑居委会", "Xibu Huayuan Community", 5, "community", (-1250, 350)),
    UnitPlan("漕盈居委会", "Caoying Community", 5, "community", (-1250, -500)),
    UnitPlan("尚美居委会", "Shangmei Community", 5, "community", (-1650, -250)),
    UnitPlan(
        "淀山湖大道筹备组", "Dianshanhu Avenue Preparatory Group", 5, "community", (-1350, -1300)
    ),
    UnitPlan("秀泽居委会", "Xiuze Community", 5, "community", (-1550, 950)),
    UnitPlan("西大盈村", "Xidaying Village", 5, "rural", (-2650, 300)),
    UnitPlan("天一村", "Tianyi Village", 5, "rural", (-2250, 1850)),
    UnitPlan("南横村", "Nanheng Village", 5, "rural", (-2450, -1700)),
)


def _dianpu_river(x: float) -> float:
    """The northern bank of the Dianpu River (淀浦河), the southern boundary: y at ``x``."""
    return -2350.0 + 90.0 * math.sin(math.pi * (x + 3000.0) / 2900.0)


def _demo_outline() -> Polygon:
    """The sub-district's outer boundary on the plane, in metres."""
    west, east = -2900.0, 2350.0
    river = [(west + i * 250.0, _dianpu_river(west + i * 250.0)) for i in range(21)]
    river.append((east, _dianpu_river(east)))
    east_side = [(2500, -1300), (2450, -300), (2700, 600), (2500, 1400), (2650, 2000)]
    north_side = [(2000, 2550), (1200, 2550), (400, 2650), (-500, 2500), (-1300, 2700)]
    west_side = [(-2200, 2500), (-2750, 2000), (-2600, 1000), (-3050, 300), (-2800, -600)]
    west_side += [(-3100, -1500)]
    return Polygon([*river, *east_side, *north_side, *west_side])


def _ring_waterway_line() -> tuple[Coord, ...]:
    """The centre line of the ring-city waterway (环城水系) around the old town."""
    points = []
    for i in range(72):
        theta = 2 * math.pi * i / 72
        r = 760.0 + 50.0 * math.sin(3 * theta) + 30.0 * math.cos(5 * theta + 1.0)
        points.append((round(20 + r * math.cos(theta), 1), round(10 + r * math.sin(theta), 1)))
    return tuple(points)


# Road centre lines run past the boundary and are clipped to it.
DEMO_AREAS: tuple[AreaPlan, ...] = (
    AreaPlan(
        "公园路街面",
        "Gongyuan Road frontage",
        "street",
        ((-3500, 120), (-1200, 200), (0, 260), (1400, 190), (3500, 330)),
        25.0,
    ),
    AreaPlan(
        "青松路街面",
        "Qingsong Road frontage",
        "street",
        ((1450, -3000), (1550, -800), (1600, 800), (1750, 3200)),
        25.0,
    ),
    AreaPlan(
        "城中路街面",
        "Chengzhong Road frontage",
        "street",
        ((-100, -3000), (-60, -900), (-20, 0), (60, 900), (150, 3200)),
        25.0,
    ),
    AreaPlan(
        "盈港路街面",
        "Yinggang Road frontage",
        "street",
        ((-3500, 1700), (-1000, 1800), (800, 1850), (3500, 1950)),
        25.0,
    ),
    AreaPlan(
        "淀山湖大道街面",
        "Dianshanhu Avenue frontage",
        "street",
        ((-3500, -950), (-1500, -1000), (800, -1000), (3500, -1150)),
        25.0,
    ),
    AreaPlan("环城水系", "Ring-city waterway", "waterway", _ring_waterway_line(), 15.0),
)


# --- geometry ------------------------------------------------------------------------------


def _rounded_ring(coords: Iterable[Sequence[float]], plane: LocalPlane) -> list[Coord]:
    """A ring's vertices on ``plane`` as rounded lng/lat, without the closing repeat and
    without the repeats that rounding makes of vertices closer than ~0.1 m."""
    ring: list[Coord] = []
    for x, y, *_ in coords:
        point = plane.to_lnglat(x, y)
        if not ring or ring[-1] != point:
            ring.append(point)
    while len(ring) > 1 and ring[-1] == ring[0]:
        ring.pop()
    return ring


def _rounded_polygon(polygon: Polygon, plane: LocalPlane) -> Polygon | None:
    """The polygon in rounded lng/lat; None when it is too small to survive rounding (its
    neighbours' rings then pass through the same rounded points, so no gap opens)."""
    shell = _rounded_ring(polygon.exterior.coords, plane)
    if len(shell) < 3:
        return None
    holes = [_rounded_ring(hole.coords, plane) for hole in polygon.interiors]
    return Polygon(shell, [hole for hole in holes if len(hole) >= 3])


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """The polygonal parts of a geometry (an intersection may also yield lines or points)."""
    return [part for part in shapely.get_parts(geometry) if isinstance(part, Polygon)]


@dataclass(frozen=True)
class Tiling:
    """Voronoi units clipped to an outline, and overlay areas cut from the same faces."""

    units: list[Polygon | MultiPolygon]
    overlays: list[Polygon | MultiPolygon]


def voronoi_tiling(
    outline: Polygon,
    seeds: Sequence[Coord],
    plane: LocalPlane,
    overlays: Sequence[BaseGeometry] = (),
) -> Tiling:
    """The Voronoi cells of ``seeds`` clipped to ``outline`` (all in metres), and the parts
    of each overlay polygon inside it, as lng/lat geometries with rounded vertices;
    index-aligned with ``seeds`` and ``overlays``.

    The diagram's edges, the outline and the overlays' boundaries are noded together
    *before* rounding, into faces that each lie in one cell and wholly in or out of each
    overlay. Each face is rounded vertex by vertex, and units and overlays are unions of
    rounded faces. A vertex shared by neighbouring faces is one and the same coordinate
    pair in both, so it rounds identically: the units keep no gaps and no overlaps, and an
    overlay lies exactly inside the outline. A cell cut in two by a concave outline
    becomes a MultiPolygon.
    """
    frame = shapely.box(*outline.buffer(1_000.0).bounds)
    edges = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=frame, only_edges=True)
    boundaries = [overlay.boundary for overlay in overlays]
    linework = shapely.union_all([edges, outline.exterior, *boundaries])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    inner_points = shapely.point_on_surface(faces)
    inside = shapely.contains(outline, inner_points)
    rounded = [_rounded_polygon(face, plane) for face in faces[inside]]
    kept = [index for index, face in enumerate(rounded) if face is not None]
    faces_kept = [face for face in rounded if face is not None]
    inner_points = inner_points[inside][kept]
    owners = shapely.STRtree(shapely.points(seeds)).nearest(inner_points)
    unit_faces: list[list[Polygon]] = [[] for _ in seeds]
    for face, owner in zip(faces_kept, owners, strict=True):
        unit_faces[int(owner)].append(face)
    for index, cell in enumerate(unit_faces):
        if not cell:
            raise ValueError(f"seed {index} at {seeds[index]} has no cell inside the outline")
    overlay_shapes: list[Polygon | MultiPolygon] = []
    for overlay in overlays:
        covered = shapely.contains(overlay, inner_points)
        pieces = [face for face, is_in in zip(faces_kept, covered, strict=True) if is_in]
        overlay_shapes.append(_union(pieces) if pieces else MultiPolygon())
    return Tiling([_union(cell) for cell in unit_faces], overlay_shapes)


def _union(geometries: Sequence[BaseGeometry]) -> Polygon | MultiPolygon:
    if len(geometries) == 1 and isinstance(geometries[0], Polygon | MultiPolygon):
        return geometries[0]
    union = shapely.union_all(geometries)
    if isinstance(union, Polygon | MultiPolygon):
        return union
    return MultiPolygon(_polygons(union))


# --- GeoJSON -------------------------------------------------------------------------------


def _canonical_ring(
    coords: Iterable[Sequence[float]], counter_clockwise: bool
) -> list[list[float]]:
    """A closed GeoJSON ring that starts at its smallest vertex and turns the RFC 7946 way
    (exteriors counter-clockwise, holes clockwise), so the output does not depend on where
    GEOS happens to start a ring."""
    ring = [(round(float(c[0]), DECIMALS), round(float(c[1]), DECIMALS)) for c in coords]
    if ring and ring[0] == ring[-1]:
        ring.pop()
    twice_area = sum(
        x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True)
    )
    if (twice_area > 0) != counter_clockwise:
        ring.reverse()
    start = ring.index(min(ring))
    ring = ring[start:] + ring[:start]
    return [[x, y] for x, y in [*ring, ring[0]]]


def _polygon_coordinates(polygon: Polygon) -> list[list[list[float]]]:
    holes = sorted(_canonical_ring(hole.coords, False) for hole in polygon.interiors)
    return [_canonical_ring(polygon.exterior.coords, True), *holes]


def geojson_geometry(geometry: BaseGeometry) -> dict[str, Any]:
    """A Polygon or MultiPolygon as a GeoJSON geometry with canonical rings and part order."""
    parts = _polygons(geometry)
    if len(parts) == 1:
        return {"type": "Polygon", "coordinates": _polygon_coordinates(parts[0])}
    return {"type": "MultiPolygon", "coordinates": sorted(_polygon_coordinates(p) for p in parts)}


def _feature(properties: dict[str, Any], geometry: BaseGeometry) -> Feature:
    return {"type": "Feature", "properties": properties, "geometry": geojson_geometry(geometry)}


def _collection(
    sub_district: dict[str, str], note: str, features: Iterable[Feature]
) -> dict[str, Any]:
    layer_order = {"grid": 0, "unit": 1, "area": 2}
    ordered = sorted(
        features, key=lambda f: (layer_order[f["properties"]["layer"]], f["properties"]["code"])
    )
    return {
        "type": "FeatureCollection",
        "chengyun": {"sub_district": dict(sub_district), "illustrative": True, "note": note},
        "features": ordered,
    }


# --- checks --------------------------------------------------------------------------------


def tiling_problems(collection: dict[str, Any], plane: LocalPlane) -> list[str]:
    """What is wrong with a collection's tiling: invalid polygons, units that overlap or
    leave their grid, grids that are not the union of their units, a territory with holes,
    areas outside the territory. Empty when all is well (within ``TOLERANCE_M2``)."""
    problems: list[str] = []
    grids: dict[str, BaseGeometry] = {}
    units: list[tuple[str, str, BaseGeometry]] = []
    areas: list[tuple[str, BaseGeometry]] = []
    for feature in collection["features"]:
        properties, shape = feature["properties"], from_geojson(feature["geometry"])
        if not shape.is_valid:
            problems.append(f"{properties['code']}: {shapely.is_valid_reason(shape)}")
        if properties["layer"] == "grid":
            grids[properties["code"]] = shape
        elif properties["layer"] == "unit":
            units.append((properties["code"], properties["grid_code"], shape))
        else:
            areas.append((properties["code"], shape))
    if problems:
        return problems
    shapes = [shape for _, _, shape in units]
    tree = shapely.STRtree(shapes)
    first, second = tree.query(shapes, predicate="intersects")
    pairs = [(int(i), int(j)) for i, j in zip(first, second, strict=True) if i < j]
    overlaps = shapely.intersection([shapes[i] for i, _ in pairs], [shapes[j] for _, j in pairs])
    for (i, j), overlap in zip(pairs, overlaps, strict=True):
        if plane.square_metres(overlap) > TOLERANCE_M2:
            problems.append(f"units {units[i][0]} and {units[j][0]} overlap")
    for code, grid in grids.items():
        members = [shape for _, grid_code, shape in units if grid_code == code]
        if not members:
            problems.append(f"grid {code} has no units")
            continue
        difference = shapely.symmetric_difference(_union(members), grid)
        if plane.square_metres(difference) > TOLERANCE_M2:
            problems.append(f"grid {code} is not the union of its units")
    if unknown := {grid_code for _, grid_code, _ in units} - grids.keys():
        problems.append(f"units in unknown grids {sorted(unknown)}")
    territory = _union(list(grids.values()))
    if any(len(part.interiors) for part in _polygons(territory)):
        problems.append("the territory has holes")
    for code, area in areas:
        if plane.square_metres(area.difference(territory)) > TOLERANCE_M2:
            problems.append(f"area {code} reaches outside the territory")
    return problems


def _checked(collection: dict[str, Any], plane: LocalPlane) -> dict[str, Any]:
    if problems := tiling_problems(collection, plane):
        raise ValueError("territory does not tile: " + "; ".join(problems[:10]))
    return collection


# --- builders ------------------------------------------------------------------------------


def _unit_code(prefix: str, serial: int) -> str:
    return f"{prefix}{serial:03d}001"


def _area_shape(area: AreaPlan) -> Polygon:
    """An area's polygon on the plane: a road buffered each side, or a ring of water."""
    if area.kind == "waterway":
        return LinearRing(area.line).buffer(area.half_width, quad_segs=4)
    return LineString(area.line).buffer(area.half_width, cap_style="flat", quad_segs=4)


def build_demo_territory() -> dict[str, Any]:
    """The illustrative Yingpu territory as a GeoJSON FeatureCollection (see module doc)."""
    prefix = SUB_DISTRICT["code"]
    tiling = voronoi_tiling(
        _demo_outline(),
        [plan.seed for plan in DEMO_UNITS],
        DEMO_PLANE,
        [_area_shape(area) for area in DEMO_AREAS],
    )
    features: list[Feature] = []
    for serial, (plan, tile) in enumerate(zip(DEMO_UNITS, tiling.units, strict=True), start=1):
        properties = {
            "layer": "unit",
            "code": _unit_code(prefix, serial),
            "name": plan.name,
            "name_en": plan.name_en,
            "grid_code": f"{prefix}900{plan.grid:03d}",
            "kind": plan.kind,
            "key": DEMO_GRIDS[plan.grid - 1].key,
        }
        features.append(_feature(properties, tile))
    for serial, grid in enumerate(DEMO_GRIDS, start=1):
        members = [
            tile for plan, tile in zip(DEMO_UNITS, tiling.units, strict=True) if plan.grid == serial
        ]
        properties = {
            "layer": "grid",
            "code": f"{prefix}900{serial:03d}",
            "name": grid.name,
            "name_en": grid.name_en,
            "live_from": grid.live_from,
        }
        features.append(_feature(properties, _union(members)))
    for serial, (area, shape) in enumerate(zip(DEMO_AREAS, tiling.overlays, strict=True), start=1):
        properties = {
            "layer": "area",
            "code": f"{prefix}800{serial:03d}",
            "name": area.name,
            "name_en": area.name_en,
            "kind": area.kind,
        }
        features.append(_feature(properties, shape))
    return _checked(_collection(SUB_DISTRICT, ILLUSTRATIVE_NOTE, features), DEMO_PLANE)


#: The synthetic city's centre (People's Square, Shanghai) and its mean unit size.
SYNTHETIC_PLANE = LocalPlane(lng0=121.470, lat0=31.230)
SYNTHETIC_UNIT_SIDE_M = 700.0
SYNTHETIC_SUB_DISTRICT = {"code": "310000000", "name": "合成城区", "name_en": "Synthetic city"}
SYNTHETIC_NOTE = "合成数据，仅供基准测试 / Synthetic data for benchmarks; not a real place."
SYNTHETIC_ROAD_SPACING_M = 10_000.0


def _synthetic_seeds(n: int, side: float, rng: random.Random) -> list[Coord]:
    """``n`` distinct seeds in the square, denser towards the centre as in a real city."""
    seeds: set[Coord] = set()
    ordered: list[Coord] = []
    while len(ordered) < n:
        x = round(rng.uniform(-side / 2, side / 2), 1)
        y = round(rng.uniform(-side / 2, side / 2), 1)
        density = 0.25 + 0.75 * math.exp(-((x * x + y * y) / (0.35 * side) ** 2))
        if rng.random() < density and (x, y) not in seeds:
            seeds.add((x, y))
            ordered.append((x, y))
    return ordered


def synthetic_territory(n_units: int, seed: int = 1) -> dict[str, Any]:
    """A synthetic city of ``n_units`` Voronoi units grouped into about ``n_units / 7``
    grids, on a square around Shanghai, with a lattice of street frontages; in the demo
    file's format. Same arguments, same result."""
    if n_units < 2:
        raise ValueError("a synthetic territory needs at least 2 units")
    rng = random.Random(seed)
    side = math.sqrt(n_units) * SYNTHETIC_UNIT_SIDE_M
    half = side / 2
    outline = Polygon([(-half, -half), (half, -half), (half, half), (-half, half)])
    seeds = _synthetic_seeds(n_units, side, rng)
    n_roads = max(1, int(side // SYNTHETIC_ROAD_SPACING_M))
    roads: list[Polygon] = []
    for index in range(2 * n_roads):
        offset = -half + side * (index % n_roads + 0.5) / n_roads
        ends = [(-half - 100.0, offset), (half + 100.0, offset)]
        line = LineString(ends if index < n_roads else [(y, x) for x, y in ends])
        roads.append(line.buffer(25.0, cap_style="flat"))
    tiling = voronoi_tiling(outline, seeds, SYNTHETIC_PLANE, roads)
    n_grids = max(1, round(n_units / 7))
    # Each unit joins the grid whose centre (one of the random seeds) is nearest to its own.
    grid_of = shapely.STRtree(shapely.points(seeds[:n_grids])).nearest(shapely.points(seeds))
    members: list[list[BaseGeometry]] = [[] for _ in range(n_grids)]
    features: list[Feature] = []
    for index, (tile, grid) in enumerate(zip(tiling.units, grid_of, strict=True)):
        members[int(grid)].append(tile)
        properties = {
            "layer": "unit",
            "code": f"31{index + 1:010d}001",
            "name": f"单元{index + 1}",
            "name_en": f"Unit {index + 1}",
            "grid_code": f"31{int(grid) + 1:010d}900",
            "kind": "community" if index % 8 else "rural",
            "key": int(grid) % 3 == 0,
        }
        features.append(_feature(properties, tile))
    for index, grid_members in enumerate(members):
        properties = {
            "layer": "grid",
            "code": f"31{index + 1:010d}900",
            "name": f"网格{index + 1}",
            "name_en": f"Grid {index + 1}",
            "live_from": "2020-06-01",
        }
        features.append(_feature(properties, shapely.coverage_union_all(grid_members)))
    for index, shape in enumerate(tiling.overlays):
        properties = {
            "layer": "area",
            "code": f"31{index + 1:010d}800",
            "name": f"道路{index + 1}街面",
            "name_en": f"Road {index + 1} frontage",
            "kind": "street",
        }
        features.append(_feature(properties, shape))
    return _collection(SYNTHETIC_SUB_DISTRICT, SYNTHETIC_NOTE, features)


def dumps(collection: dict[str, Any]) -> str:
    """The collection as UTF-8 JSON text with one feature a line, stable byte for byte."""
    head = {key: value for key, value in collection.items() if key != "features"}
    lines = [
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in collection["features"]
    ]
    head_text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    return head_text[:-1] + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def main() -> None:
    """Rewrite the demo data file from :func:`build_demo_territory`."""
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    DATA_FILE.write_text(dumps(build_demo_territory()), encoding="utf-8")
    print(f"wrote {DATA_FILE}")


if __name__ == "__main__":
    main()
