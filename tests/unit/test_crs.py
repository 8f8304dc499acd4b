"""Coordinate-system conversions: WGS-84, GCJ-02 (火星坐标) and BD-09 (百度)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chengyun.adapters.geo.crs import (
    Crs,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    from_wgs84_many,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    to_wgs84_many,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

TOLERANCE_M = 0.5
EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance in metres between two ``(lng, lat)`` points."""
    lng1, lat1 = map(math.radians, a)
    lng2, lat2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


# Published reference pairs, all as (lng, lat). The sources list (lat, lng) in
# places; they are reordered here.

# WGS-84 -> GCJ-02
WGS84_GCJ02 = [
    # googollee/eviltransform, go/transform_test.go and python/test.py: "shanghai" (Pudong)
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    # googollee/eviltransform, same tests: "shenzhen"
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    # googollee/eviltransform, same tests: "beijing"
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    # wandergis/coordtransform, README.md: wgs84togcj02(116.404, 39.915)
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    # Glatzel/pyxis, python/tests/test_crypto.py: near Shanghai (Jinshan / Pinghu)
    ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705)),
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ02 [123, 45] -> WGS84
    ((122.99395597, 44.99804071), (123.0, 45.0)),
]

# GCJ-02 -> BD-09
GCJ02_BD09 = [
    # wandergis/coordtransform, README.md: gcj02tobd09(116.404, 39.915)
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    # Glatzel/pyxis, python/tests/test_crypto.py: near Shanghai (Jinshan / Pinghu)
    ((121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035)),
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ02 [123, 45] -> BD09
    ((123.0, 45.0), (123.00636499, 45.00636899)),
    # hujiulong/gcoord, test/fixtures/china-cities.json: 驻马店市
    ((114.022306, 33.0115324), (114.0287781, 33.0176697)),
    # hujiulong/gcoord, test/fixtures/china-cities.json: 沈阳市
    ((123.4314787, 41.8057023), (123.438095, 41.8114013)),
]

# BD-09 -> GCJ-02
BD09_GCJ02 = [
    # wandergis/coordtransform, README.md: bd09togcj02(116.404, 39.915); that
    # library uses the closed-form inverse, about 5 cm from the exact one here.
    ((116.404, 39.915), (116.39762729119315, 39.90865673957631)),
]

# WGS-84 -> BD-09
WGS84_BD09 = [
    # dromara/hutool, CoordinateUtilTest.java wgs84toBd09Test2 (values from tool.lu)
    ((122.99395597, 44.99804071), (123.00636516028885, 45.0063690918959)),
    # Glatzel/pyxis, python/tests/test_crypto.py
    ((121.0917077, 30.6107779), (121.10271732371203, 30.61484572185035)),
]

QINGPU = (121.11, 31.15)


@pytest.mark.parametrize(("wgs", "gcj"), WGS84_GCJ02)
def test_wgs84_to_gcj02_matches_reference(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert distance_m(wgs84_to_gcj02(*wgs), gcj) < TOLERANCE_M


@pytest.mark.parametrize(("wgs", "gcj"), WGS84_GCJ02)
def test_gcj02_to_wgs84_matches_reference(
    wgs: tuple[float, float], gcj: tuple[float, float]
) -> None:
    assert distance_m(gcj02_to_wgs84(*gcj), wgs) < TOLERANCE_M


@pytest.mark.parametrize(("gcj", "bd"), GCJ02_BD09)
def test_gcj02_to_bd09_matches_reference(gcj: tuple[float, float], bd: tuple[float, float]) -> None:
    assert distance_m(gcj02_to_bd09(*gcj), bd) < TOLERANCE_M
    assert distance_m(bd09_to_gcj02(*bd), gcj) < TOLERANCE_M


@pytest.mark.parametrize(("bd", "gcj"), BD09_GCJ02)
def test_bd09_to_gcj02_matches_reference(bd: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert distance_m(bd09_to_gcj02(*bd), gcj) < TOLERANCE_M


@pytest.mark.parametrize(("wgs", "bd"), WGS84_BD09)
def test_wgs84_to_bd09_matches_reference(wgs: tuple[float, float], bd: tuple[float, float]) -> None:
    assert distance_m(wgs84_to_bd09(*wgs), bd) < TOLERANCE_M
    assert distance_m(bd09_to_wgs84(*bd), wgs) < TOLERANCE_M


def test_gcj02_shift_in_qingpu_is_hundreds_of_metres() -> None:
    shift = distance_m(wgs84_to_gcj02(*QINGPU), QINGPU)
    assert 300 < shift < 700
    assert distance_m(gcj02_to_wgs84(*wgs84_to_gcj02(*QINGPU)), QINGPU) < 1e-3


def test_inverse_is_exact_not_one_step() -> None:
    # The forward transform of the inverse lands back on the input within 1e-7 degrees.
    for _, gcj in WGS84_GCJ02:
        back = wgs84_to_gcj02(*gcj02_to_wgs84(*gcj))
        assert abs(back[0] - gcj[0]) < 1e-7
        assert abs(back[1] - gcj[1]) < 1e-7
    for _, bd in GCJ02_BD09:
        back = gcj02_to_bd09(*bd09_to_gcj02(*bd))
        assert abs(back[0] - bd[0]) < 1e-7
        assert abs(back[1] - bd[1]) < 1e-7


# Round trips across China.

china_lng = st.floats(min_value=73.0, max_value=135.0)
china_lat = st.floats(min_value=18.0, max_value=53.5)


@given(china_lng, china_lat)
def test_round_trip_gcj02_in_china(lng: float, lat: float) -> None:
    assert distance_m(gcj02_to_wgs84(*wgs84_to_gcj02(lng, lat)), (lng, lat)) < TOLERANCE_M


@given(china_lng, china_lat)
def test_round_trip_bd09_in_china(lng: float, lat: float) -> None:
    assert distance_m(bd09_to_wgs84(*wgs84_to_bd09(lng, lat)), (lng, lat)) < TOLERANCE_M


@pytest.mark.parametrize("crs", list(Crs))
def test_round_trip_on_a_one_degree_grid(crs: Crs) -> None:
    worst = 0.0
    for lng in range(73, 136):
        for lat in range(18, 54):
            point = (float(lng), float(lat))
            worst = max(worst, distance_m(to_wgs84(*from_wgs84(*point, crs), crs), point))
    assert worst < 1e-3  # far inside the 0.5 m budget: the inverses are iterated


# Outside China every system is WGS-84, exactly.

outside_china = st.one_of(
    st.tuples(
        st.floats(min_value=-180.0, max_value=72.004, exclude_max=True),
        st.floats(min_value=-90.0, max_value=90.0),
    ),
    st.tuples(
        st.floats(min_value=137.8347, max_value=180.0, exclude_min=True),
        st.floats(min_value=-90.0, max_value=90.0),
    ),
    st.tuples(
        st.floats(min_value=-180.0, max_value=180.0),
        st.floats(min_value=-90.0, max_value=0.8293, exclude_max=True),
    ),
    st.tuples(
        st.floats(min_value=-180.0, max_value=180.0),
        st.floats(min_value=55.8271, max_value=90.0, exclude_min=True),
    ),
)


@given(outside_china)
def test_identity_outside_china(point: tuple[float, float]) -> None:
    assert out_of_china(*point)
    for crs in Crs:
        assert from_wgs84(*point, crs) == point
        assert to_wgs84(*point, crs) == point
    assert gcj02_to_wgs84(*wgs84_to_gcj02(*point)) == point
    assert bd09_to_wgs84(*wgs84_to_bd09(*point)) == point


def test_out_of_china_rectangle() -> None:
    assert not out_of_china(*QINGPU)
    assert not out_of_china(116.404, 39.915)
    assert out_of_china(2.35, 48.86)  # Paris
    assert out_of_china(139.69, 35.69)  # Tokyo
    assert out_of_china(100.0, 60.0)


# Vectorised versions agree with the scalar ones.


def _random_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lngs = rng.uniform(60.0, 150.0, n)  # includes points on both sides of the rectangle
    lats = rng.uniform(-5.0, 60.0, n)
    return lngs, lats


@pytest.mark.parametrize("crs", list(Crs))
def test_to_wgs84_many_agrees_with_scalar(crs: Crs) -> None:
    lngs, lats = _random_points(3000, seed=20240601)
    out_lngs, out_lats = to_wgs84_many(lngs, lats, crs)
    expected = np.array(
        [to_wgs84(float(x), float(y), crs) for x, y in zip(lngs, lats, strict=True)]
    )
    assert np.max(np.abs(out_lngs - expected[:, 0])) < 1e-9
    assert np.max(np.abs(out_lats - expected[:, 1])) < 1e-9


@pytest.mark.parametrize("crs", list(Crs))
def test_from_wgs84_many_agrees_with_scalar(crs: Crs) -> None:
    lngs, lats = _random_points(3000, seed=7)
    out_lngs, out_lats = from_wgs84_many(lngs, lats, crs)
    expected = np.array(
        [from_wgs84(float(x), float(y), crs) for x, y in zip(lngs, lats, strict=True)]
    )
    assert np.max(np.abs(out_lngs - expected[:, 0])) < 1e-9
    assert np.max(np.abs(out_lats - expected[:, 1])) < 1e-9


def test_to_wgs84_many_does_not_modify_or_share_its_input() -> None:
    lngs = np.array([121.11, 2.35])
    lats = np.array([31.15, 48.86])
    for crs in Crs:
        out_lngs, out_lats = to_wgs84_many(lngs, lats, crs)
        out_lngs[:] = 0.0
        out_lats[:] = 0.0
    assert lngs.tolist() == [121.11, 2.35]
    assert lats.tolist() == [31.15, 48.86]


def test_to_wgs84_many_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        to_wgs84_many(np.zeros(3), np.zeros(2), Crs.GCJ02)


def test_crs_labels() -> None:
    assert str(Crs.GCJ02) == "gcj02"
    assert Crs.BD09.zh == "BD-09（百度）"
    assert Crs.WGS84.en == "WGS-84 (GPS)"
    assert Crs.parse("GCJ-02 (China)") is Crs.GCJ02
