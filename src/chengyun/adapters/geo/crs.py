"""Convert map positions between coordinate systems: phones in China report GCJ-02
(“火星坐标”), Baidu uses BD-09, and the platform stores WGS-84.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from chengyun.domain.labels import Labelled

FloatArray = npt.NDArray[np.float64]
Point = tuple[float, float]
Points = tuple[FloatArray, FloatArray]

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
# Baidu's constant for the BD-09 offset.
_X_PI = math.pi * 3000.0 / 180.0
# The inverse transforms iterate until the forward transform of the answer is
# this close (degrees, about 0.01 mm) to the input; each step gains 2.5 digits or more.
_INVERSE_TOLERANCE = 1e-10
_INVERSE_MAX_STEPS = 30


class Crs(Labelled):
    """A coordinate reference system a longitude/latitude pair can be given in."""

    WGS84 = "wgs84", "WGS-84（GPS）", "WGS-84 (GPS)"
    GCJ02 = "gcj02", "GCJ-02（国测局）", "GCJ-02 (China)"
    BD09 = "bd09", "BD-09（百度）", "BD-09 (Baidu)"


def out_of_china(lng: float, lat: float) -> bool:
    """Whether the point lies outside the rough rectangle where GCJ-02 and BD-09 apply.

    Outside it all three systems coincide (the behaviour of the reference
    implementations, e.g. googollee/eviltransform).
    """
    return lng < 72.004 or lng > 137.8347 or lat < 0.8293 or lat > 55.8271


# Scalar versions (standard library only).


def _gcj02_offset(lng: float, lat: float) -> Point:
    """The GCJ-02 shift (degrees of longitude, latitude) at a WGS-84 point."""
    x = lng - 105.0
    y = lat - 35.0
    pi = math.pi
    root = math.sqrt(abs(x))
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * root
        + common
        + (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    d_lng = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * root
        + common
        + (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * pi)
    return d_lng, d_lat


def _gcj02_unbounded(lng: float, lat: float) -> Point:
    d_lng, d_lat = _gcj02_offset(lng, lat)
    return lng + d_lng, lat + d_lat


def _bd09_unbounded(lng: float, lat: float) -> Point:
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert(forward: Callable[[float, float], Point], lng: float, lat: float) -> Point:
    """The point that ``forward`` maps to ``(lng, lat)``, by fixed-point iteration.

    Suits transforms that move points by a small, slowly varying offset: the
    error shrinks by a factor of several hundred on each step.
    """
    x, y = lng, lat
    for _ in range(_INVERSE_MAX_STEPS):
        f_lng, f_lat = forward(x, y)
        err_lng = f_lng - lng
        err_lat = f_lat - lat
        if abs(err_lng) < _INVERSE_TOLERANCE and abs(err_lat) < _INVERSE_TOLERANCE:
            break
        x -= err_lng
        y -= err_lat
    return x, y


def wgs84_to_gcj02(lng: float, lat: float) -> Point:
    """WGS-84 to GCJ-02."""
    if out_of_china(lng, lat):
        return lng, lat
    return _gcj02_unbounded(lng, lat)


def gcj02_to_wgs84(lng: float, lat: float) -> Point:
    """GCJ-02 to WGS-84, inverted by iteration (round-trip error below 1e-10 degrees).

    The published one-step inverse is off by up to several metres.
    """
    if out_of_china(lng, lat):
        return lng, lat
    return _invert(_gcj02_unbounded, lng, lat)


def gcj02_to_bd09(lng: float, lat: float) -> Point:
    """GCJ-02 to BD-09 (Baidu's published formula)."""
    if out_of_china(lng, lat):
        return lng, lat
    return _bd09_unbounded(lng, lat)


def bd09_to_gcj02(lng: float, lat: float) -> Point:
    """BD-09 to GCJ-02, inverted by iteration (round-trip error below 1e-10 degrees).

    The published closed-form inverse is off by up to about 2e-6 degrees (0.2 m).
    """
    if out_of_china(lng, lat):
        return lng, lat
    return _invert(_bd09_unbounded, lng, lat)


def wgs84_to_bd09(lng: float, lat: float) -> Point:
    """WGS-84 to BD-09, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lng, lat))


def bd09_to_wgs84(lng: float, lat: float) -> Point:
    """BD-09 to WGS-84, through GCJ-02."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lng, lat))


def to_wgs84(lng: float, lat: float, crs: Crs) -> Point:
    """A point given in ``crs`` as WGS-84 ``(lng, lat)``."""
    match crs:
        case Crs.WGS84:
            return lng, lat
        case Crs.GCJ02:
            return gcj02_to_wgs84(lng, lat)
        case Crs.BD09:
            return bd09_to_wgs84(lng, lat)
    raise ValueError(f"unknown coordinate system: {crs!r}")


def from_wgs84(lng: float, lat: float, crs: Crs) -> Point:
    """A WGS-84 point as ``(lng, lat)`` in ``crs``."""
    match crs:
        case Crs.WGS84:
            return lng, lat
        case Crs.GCJ02:
            return wgs84_to_gcj02(lng, lat)
        case Crs.BD09:
            return wgs84_to_bd09(lng, lat)
    raise ValueError(f"unknown coordinate system: {crs!r}")


# Vectorised versions: the same formulas and steps, element by element, on float64 arrays.


def _as_pair(lngs: npt.ArrayLike, lats: npt.ArrayLike) -> Points:
    lng = np.asarray(lngs, dtype=np.float64)
    lat = np.asarray(lats, dtype=np.float64)
    if lng.shape != lat.shape:
        raise ValueError(f"longitudes {lng.shape} and latitudes {lat.shape} differ in shape")
    return lng, lat


def out_of_china_many(lngs: FloatArray, lats: FloatArray) -> npt.NDArray[np.bool_]:
    """:func:`out_of_china` for arrays."""
    lng, lat = _as_pair(lngs, lats)
    return (lng < 72.004) | (lng > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj02_offset_many(lng: FloatArray, lat: FloatArray) -> Points:
    x = lng - 105.0
    y = lat - 35.0
    pi = math.pi
    root = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * root
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    d_lng = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * root
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    return d_lng, d_lat


def _gcj02_unbounded_many(lng: FloatArray, lat: FloatArray) -> Points:
    d_lng, d_lat = _gcj02_offset_many(lng, lat)
    return lng + d_lng, lat + d_lat


def _bd09_unbounded_many(lng: FloatArray, lat: FloatArray) -> Points:
    z = np.sqrt(lng * lng + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lng) + 0.000003 * np.cos(lng * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert_many(
    forward: Callable[[FloatArray, FloatArray], Points],
) -> Callable[[FloatArray, FloatArray], Points]:
    """:func:`_invert` for arrays: each element stops once its own error is within tolerance."""

    def inverse(lng: FloatArray, lat: FloatArray) -> Points:
        x = lng.copy()
        y = lat.copy()
        active = np.isfinite(lng) & np.isfinite(lat)
        for _ in range(_INVERSE_MAX_STEPS):
            f_lng, f_lat = forward(x, y)
            err_lng = f_lng - lng
            err_lat = f_lat - lat
            active &= (np.abs(err_lng) >= _INVERSE_TOLERANCE) | (
                np.abs(err_lat) >= _INVERSE_TOLERANCE
            )
            if not active.any():
                break
            x = np.where(active, x - err_lng, x)
            y = np.where(active, y - err_lat, y)
        return x, y

    return inverse


def _inside_china_only(
    transform: Callable[[FloatArray, FloatArray], Points], lng: FloatArray, lat: FloatArray
) -> Points:
    """Apply ``transform`` to the points inside China; copy the others unchanged."""
    inside = ~out_of_china_many(lng, lat)
    out_lng = lng.copy()
    out_lat = lat.copy()
    if inside.any():
        out_lng[inside], out_lat[inside] = transform(lng[inside], lat[inside])
    return out_lng, out_lat


_STEPS_TO_WGS84: dict[Crs, list[Callable[[FloatArray, FloatArray], Points]]] = {
    Crs.WGS84: [],
    Crs.GCJ02: [_invert_many(_gcj02_unbounded_many)],
    Crs.BD09: [_invert_many(_bd09_unbounded_many), _invert_many(_gcj02_unbounded_many)],
}
_STEPS_FROM_WGS84: dict[Crs, list[Callable[[FloatArray, FloatArray], Points]]] = {
    Crs.WGS84: [],
    Crs.GCJ02: [_gcj02_unbounded_many],
    Crs.BD09: [_gcj02_unbounded_many, _bd09_unbounded_many],
}


def _run_steps(
    steps: list[Callable[[FloatArray, FloatArray], Points]], lngs: FloatArray, lats: FloatArray
) -> Points:
    lng, lat = _as_pair(lngs, lats)
    lng, lat = lng.copy(), lat.copy()  # the result never shares memory with the input
    for step in steps:
        lng, lat = _inside_china_only(step, lng, lat)
    return lng, lat


def to_wgs84_many(lngs: FloatArray, lats: FloatArray, crs: Crs) -> Points:
    """:func:`to_wgs84` for arrays of longitudes and latitudes (new arrays are returned)."""
    return _run_steps(_STEPS_TO_WGS84[Crs(crs)], lngs, lats)


def from_wgs84_many(lngs: FloatArray, lats: FloatArray, crs: Crs) -> Points:
    """:func:`from_wgs84` for arrays of longitudes and latitudes (new arrays are returned)."""
    return _run_steps(_STEPS_FROM_WGS84[Crs(crs)], lngs, lats)
