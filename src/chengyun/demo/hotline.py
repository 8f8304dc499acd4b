"""The demo gazetteer (示意地名地址库): the demo territory's roads with house-number ranges,
its residential compounds, landmarks and a few shops. Invented, like the territory."""

from __future__ import annotations

import math
from itertools import pairwise

from shapely.geometry import LineString

from chengyun.clock import Clock, SystemClock
from chengyun.demo.territory_builder import DEMO_AREAS, DEMO_PLANE, DEMO_UNITS, _demo_outline
from chengyun.domain.gazetteer import EntryKind, GazetteerEntry, Parity
from chengyun.services.unit_of_work import UnitOfWork

#: How far each side's numbers sit from the road's centre line, in metres.
SIDE_OFFSET_M = 12.0
#: House numbers per side on one segment of a road (odd 1-99, then 101-199, …).
NUMBERS_PER_SEGMENT = 100

#: Road name → its aliases (the areas are named "<road>街面").
_ALIASES: dict[str, tuple[str, ...]] = {
    "淀山湖大道": ("淀山湖大街",),
    "城中路": ("城中北路", "城中南路"),
}

#: Compounds (小区) beside some units' committee seeds: unit name → compounds.
_COMPOUNDS: dict[str, tuple[str, ...]] = {
    "城中居委会": ("城中新苑",),
    "东门居委会": ("东门花园",),
    "南门居委会": ("南门公寓",),
    "北门居委会": ("北门新村",),
    "复兴社区居委会": ("复兴小区",),
    "盈中居委会": ("盈中小区",),
    "三元河居委会": ("三元河苑",),
    "桂花园居委会": ("桂花园小区",),
    "万寿居委会": ("万寿新村",),
    "湖滨居委会": ("湖滨花园",),
    "青湖居委会": ("青湖苑",),
    "北苑居委会": ("北苑小区",),
}

#: Shops and landmarks: name, aliases, kind, position in metres from the plane's origin.
_PLACES: tuple[tuple[str, tuple[str, ...], EntryKind, tuple[float, float]], ...] = (
    ("盈浦街道城运中心", ("城运中心",), EntryKind.LANDMARK, (120.0, -60.0)),
    ("城中公园", (), EntryKind.LANDMARK, (-260.0, 150.0)),
    ("盈浦菜市场", ("盈浦农贸市场",), EntryKind.LANDMARK, (-420.0, -1180.0)),
    ("青浦万达茂", ("万达茂",), EntryKind.LANDMARK, (1300.0, 420.0)),
    ("华联超市城中店", ("城中华联",), EntryKind.SHOP, (10.0, 320.0)),
    ("老城厢面馆", (), EntryKind.SHOP, (-80.0, -420.0)),
    ("青松药房", (), EntryKind.SHOP, (1560.0, -300.0)),
)


def _road_name(area_name: str) -> str:
    return area_name.removesuffix("街面")


def _offset(
    a: tuple[float, float], b: tuple[float, float], side: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length * side, dx / length * side
    return (a[0] + nx, a[1] + ny), (b[0] + nx, b[1] + ny)


def demo_gazetteer() -> list[GazetteerEntry]:
    """Every demo entry: odd numbers on the left of each road's direction, even numbers
    on the right, one range per segment between the road's vertices inside the territory."""
    outline = _demo_outline()
    found: list[GazetteerEntry] = []
    for area in DEMO_AREAS:
        if area.kind != "street":
            continue
        road = _road_name(area.name)
        inside = LineString(area.line).intersection(outline)
        parts = getattr(inside, "geoms", [inside])
        longest = max(parts, key=lambda g: g.length)
        points = [(float(x), float(y)) for x, y in longest.coords]
        for index, (a, b) in enumerate(pairwise(points)):
            base = index * NUMBERS_PER_SEGMENT
            for parity, side, first, last in (
                (Parity.ODD, SIDE_OFFSET_M, base + 1, base + NUMBERS_PER_SEGMENT - 1),
                (Parity.EVEN, -SIDE_OFFSET_M, base + 2, base + NUMBERS_PER_SEGMENT),
            ):
                start, end = _offset(a, b, side)
                found.append(
                    GazetteerEntry(
                        kind=EntryKind.ROAD,
                        name=road,
                        aliases=_ALIASES.get(road, ()),
                        position=DEMO_PLANE.to_lnglat(*start),
                        end=DEMO_PLANE.to_lnglat(*end),
                        first=first,
                        last=last,
                        parity=parity,
                        note="示意数据 / illustrative",
                    )
                )
    for unit in DEMO_UNITS:
        x, y = unit.seed
        found.append(
            GazetteerEntry(
                kind=EntryKind.LANDMARK,
                name=unit.name,
                position=DEMO_PLANE.to_lnglat(x, y),
                note="居委会/村委会 / committee office",
            )
        )
        for number, compound in enumerate(_COMPOUNDS.get(unit.name, ()), 1):
            found.append(
                GazetteerEntry(
                    kind=EntryKind.COMPOUND,
                    name=compound,
                    position=DEMO_PLANE.to_lnglat(x + 60.0 * number, y - 40.0 * number),
                    note="示意数据 / illustrative",
                )
            )
    for name, aliases, kind, (x, y) in _PLACES:
        found.append(
            GazetteerEntry(
                kind=kind,
                name=name,
                aliases=aliases,
                position=DEMO_PLANE.to_lnglat(x, y),
                note="示意数据 / illustrative",
            )
        )
    return found


def seed_demo_gazetteer(uow: UnitOfWork, clock: Clock | None = None) -> int:
    """Store the demo gazetteer (entries already there are updated); returns the count."""
    entries = demo_gazetteer()
    with uow:
        now = (clock or SystemClock()).now()
        for entry in entries:
            uow.hotline.upsert_entry(entry, now)
        uow.commit()
    return len(entries)
