"""Point location on a synthetic city-scale territory of 10,000 units.

Targets (issue: Foundation): a single ``locate`` median under 50 µs; bulk location
of 1,000,000 points under 3 s.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np

from bench.record import Figure
from chengyun.adapters.geo.geojson import territory_from_geojson
from chengyun.adapters.geo.index import TerritoryIndex
from chengyun.demo.territory_builder import synthetic_territory
from chengyun.domain.errors import DomainError


def run(repeats: int = 3) -> list[Figure]:
    data = synthetic_territory(10_000)
    territory = territory_from_geojson(data, tolerance_m2=1.0)
    index = TerritoryIndex(territory)
    xs = [
        c
        for u in data["features"]
        if u["properties"]["layer"] == "unit"
        for c in u["geometry"]["coordinates"][0][:1]
    ]
    lngs = np.array([p[0] for p in xs])
    lats = np.array([p[1] for p in xs])
    rng = np.random.default_rng(1)
    lo_x, hi_x, lo_y, hi_y = lngs.min(), lngs.max(), lats.min(), lats.max()

    single: list[float] = []
    for _ in range(repeats):
        px = rng.uniform(lo_x, hi_x, 20_000)
        py = rng.uniform(lo_y, hi_y, 20_000)
        timings = []
        for x, y in zip(px.tolist(), py.tolist(), strict=True):
            start = time.perf_counter()
            with contextlib.suppress(DomainError):  # points in gaps around the square
                index.locate(x, y)
            timings.append(time.perf_counter() - start)
        single.append(statistics.median(timings) * 1e6)

    bulk: list[float] = []
    for _ in range(repeats):
        px = rng.uniform(lo_x, hi_x, 1_000_000)
        py = rng.uniform(lo_y, hi_y, 1_000_000)
        start = time.perf_counter()
        found = index.locate_many(px, py)
        bulk.append(time.perf_counter() - start)
        assert (found >= 0).mean() > 0.5
    return [
        Figure(
            "locate, one point, 10,000 units (median of 20,000 calls)",
            "µs",
            single,
            "< 50 µs",
            statistics.median(single) < 50,
        ),
        Figure(
            "locate_many, 1,000,000 points, 10,000 units",
            "s",
            bulk,
            "< 3 s",
            statistics.median(bulk) < 3,
        ),
    ]
