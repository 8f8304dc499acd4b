"""Point location on a synthetic city-scale territory of 10,000 units.

Targets (issue: Foundation): a single ``locate`` median under 50 µs; bulk location
of 1,000,000 points under 3 s.

The baseline, in the same run and alternately with ``locate`` (each repeat times
``locate`` and then the baseline on the same points): shapely's own ``STRtree`` over
the same unit polygons (prepared, as the index prepares them), asked
``tree.query(Point(x, y), predicate="intersects")`` for each point — what locating a
pair of floats costs with nothing of the platform around it; and, for ``locate_many``,
the vectorised ``tree.query(shapely.points(xs, ys), predicate="intersects")`` over the
same 1,000,000 points. Printed and recorded: the baselines and, per repeat, ``locate``
over its baseline (``… / baseline``), which survives a noisy machine better than the
microseconds.

Quick trial without recording: ``python -m bench.locate --repeats 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import shapely
from shapely.geometry import Point, shape

from bench.record import Figure, print_or_record
from chengyun.adapters.geo.geojson import territory_from_geojson
from chengyun.adapters.geo.index import TerritoryIndex
from chengyun.demo.territory_builder import synthetic_territory
from chengyun.domain.errors import DomainError

CALLS = 20_000
BULK = 1_000_000


def run(repeats: int = 3) -> list[Figure]:
    data = synthetic_territory(10_000)
    territory = territory_from_geojson(data, tolerance_m2=1.0)
    index = TerritoryIndex(territory)
    polygons = [shape(u.geometry) for u in territory.units]
    shapely.prepare(polygons)
    tree = shapely.STRtree(polygons)
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
    single_bare: list[float] = []
    for _ in range(repeats):
        px = rng.uniform(lo_x, hi_x, CALLS).tolist()
        py = rng.uniform(lo_y, hi_y, CALLS).tolist()
        timings = []
        for x, y in zip(px, py, strict=True):
            start = time.perf_counter()
            with contextlib.suppress(DomainError):  # points in gaps around the square
                index.locate(x, y)
            timings.append(time.perf_counter() - start)
        single.append(statistics.median(timings) * 1e6)
        timings = []
        for x, y in zip(px, py, strict=True):
            start = time.perf_counter()
            tree.query(Point(x, y), predicate="intersects")
            timings.append(time.perf_counter() - start)
        single_bare.append(statistics.median(timings) * 1e6)
        print(
            f"  locate {single[-1]:.1f} µs, baseline (STRtree.query) {single_bare[-1]:.1f} µs; "
            f"locate/baseline {single[-1] / single_bare[-1]:.2f}",
            flush=True,
        )

    bulk: list[float] = []
    bulk_bare: list[float] = []
    for _ in range(repeats):
        bx = rng.uniform(lo_x, hi_x, BULK)
        by = rng.uniform(lo_y, hi_y, BULK)
        start = time.perf_counter()
        found = index.locate_many(bx, by)
        bulk.append(time.perf_counter() - start)
        assert (found >= 0).mean() > 0.5
        start = time.perf_counter()
        which, _ = tree.query(shapely.points(bx, by), predicate="intersects")
        bulk_bare.append(time.perf_counter() - start)
        assert len(which) > BULK // 2
        print(
            f"  locate_many {bulk[-1]:.2f} s, baseline (vectorised STRtree.query) "
            f"{bulk_bare[-1]:.2f} s; locate_many/baseline {bulk[-1] / bulk_bare[-1]:.2f}",
            flush=True,
        )
    reference = "— (reference)"
    return [
        Figure(
            f"locate, one point, 10,000 units (median of {CALLS:,} calls)",
            "µs",
            single,
            "< 50 µs",
            statistics.median(single) < 50,
        ),
        Figure(
            f"baseline: shapely STRtree.query(Point, predicate='intersects'), one point, "
            f"10,000 units (median of {CALLS:,} calls)",
            "µs",
            single_bare,
            reference,
            True,
        ),
        Figure(
            "locate / baseline",
            "×",
            [s / b for s, b in zip(single, single_bare, strict=True)],
            reference,
            True,
        ),
        Figure(
            f"locate_many, {BULK:,} points, 10,000 units",
            "s",
            bulk,
            "< 3 s",
            statistics.median(bulk) < 3,
        ),
        Figure(
            f"baseline: shapely STRtree.query(points, predicate='intersects'), {BULK:,} "
            "points, 10,000 units",
            "s",
            bulk_bare,
            reference,
            True,
        ),
        Figure(
            "locate_many / baseline",
            "×",
            [s / b for s, b in zip(bulk, bulk_bare, strict=True)],
            reference,
            True,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append to RESULTS.md")
    args = parser.parse_args()
    print_or_record(run(args.repeats), args.record)


if __name__ == "__main__":
    main()
