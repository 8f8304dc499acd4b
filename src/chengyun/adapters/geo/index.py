"""Point location (定位): a position → its grid, unit and areas, on an STRtree index.

The index is pure and in memory; it is built once from the territory and shared by
the requests of a process (``TerritoryIndexCache`` rebuilds it when the territory
changes). A point outside every unit is an error, never a nearest guess.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point, shape

from chengyun.adapters.geo.crs import Crs, out_of_china, to_wgs84
from chengyun.domain.errors import InvalidInput, OutsideTerritory, Problem
from chengyun.domain.territory import Location, Territory


def check_position(lng: float, lat: float) -> None:
    """Refuse positions that cannot be in China (such as 0, 0) with a clear reason."""
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise InvalidInput(
            "坐标越界 / position out of range",
            [
                Problem(
                    ("position",),
                    f"经度须在 -180..180、纬度须在 -90..90 之间 / lng must be in "
                    f"-180..180 and lat in -90..90, got ({lng}, {lat})",
                )
            ],
        )
    if out_of_china(lng, lat):
        raise InvalidInput(
            "坐标不在中国境内 / the position cannot be in China",
            [
                Problem(
                    ("position",),
                    f"({lng}, {lat}) 不在中国境内，请检查经纬度是否颠倒或为空 / "
                    f"({lng}, {lat}) is not in China: check that lng and lat are "
                    "not swapped or zero",
                    "not_in_china",
                )
            ],
        )


class TerritoryIndex:
    """An STRtree over the units (and one over the areas) of a territory."""

    def __init__(self, territory: Territory, revision: int = 0) -> None:
        self.territory = territory
        self.revision = revision
        self._units = list(territory.units)
        self._grids = {g.code: g for g in territory.grids}
        unit_shapes = [shape(u.geometry) for u in self._units]
        area_shapes = [shape(a.geometry) for a in territory.areas]
        shapely.prepare(unit_shapes)
        shapely.prepare(area_shapes)
        self._unit_tree = shapely.STRtree(unit_shapes)
        self._area_tree = shapely.STRtree(area_shapes)

    def locate(self, lng: float, lat: float, crs: Crs = Crs.WGS84) -> Location:
        """Where a position falls; ``OutsideTerritory`` when it is in no unit."""
        check_position(lng, lat)
        x, y = to_wgs84(lng, lat, crs)
        point = Point(x, y)
        hits = self._unit_tree.query(point, predicate="intersects")
        if len(hits) == 0:
            raise OutsideTerritory(
                "位置不在本街道辖区内 / the position is outside the sub-district",
                [
                    Problem(
                        ("position",),
                        f"({lng}, {lat}, {crs.value}) 不在 "
                        f"{self.territory.sub_district.name} 的任何管理单元内 / "
                        f"is in none of the sub-district's units",
                        "outside",
                    )
                ],
            )
        unit = self._units[int(hits.min())]  # on a shared edge: the lower code, deterministically
        area_hits = sorted(self._area_tree.query(point, predicate="intersects").tolist())
        areas = tuple(self.territory.areas[i] for i in area_hits)
        return Location(grid=self._grids[unit.grid_code], unit=unit, areas=areas)

    def locate_many(self, lngs: NDArray[np.float64], lats: NDArray[np.float64]) -> NDArray[np.intp]:
        """Bulk location of WGS-84 points: for each, the index of its unit in
        ``territory.units`` (sorted by code), or -1 outside the territory."""
        points = shapely.points(lngs, lats)
        which, unit = self._unit_tree.query(points, predicate="intersects")
        result = np.full(len(points), np.iinfo(np.intp).max, dtype=np.intp)
        np.minimum.at(result, which, unit)
        result[result == np.iinfo(np.intp).max] = -1
        return result


class TerritoryIndexCache:
    """The process's current index, rebuilt when the stored territory's revision changes.

    The revision is read at most once every ``refresh_seconds`` so that another process's
    import is seen soon without a query per request.
    """

    def __init__(
        self,
        load: Callable[[], tuple[Territory | None, int]],
        read_revision: Callable[[], int],
        refresh_seconds: float = 5.0,
    ) -> None:
        self._load = load
        self._read_revision = read_revision
        self._refresh = refresh_seconds
        self._index: TerritoryIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._index = None

    def fresh(self) -> bool:
        """Whether ``get`` answers from memory now: an index loaded and checked within
        ``refresh_seconds`` (no query, no wait for another thread's reload)."""
        return self._index is not None and time.monotonic() - self._checked < self._refresh

    def get(self) -> TerritoryIndex:
        """The current index; ``NotFound``-style ``InvalidInput`` if no territory is loaded."""
        now = time.monotonic()
        index = self._index
        if index is not None and now - self._checked < self._refresh:
            return index
        with self._lock:
            if self._index is not None and self._read_revision() == self._index.revision:
                self._checked = now
                return self._index
            territory, revision = self._load()
            if territory is None:
                raise InvalidInput(
                    "尚未导入辖区数据 / no territory has been imported yet",
                    [
                        Problem(
                            ("territory",),
                            "先运行 chengyun territory import FILE.geojson / "
                            "run `chengyun territory import FILE.geojson` first",
                            "missing",
                        )
                    ],
                )
            self._index = TerritoryIndex(territory, revision)
            self._checked = now
            return self._index
