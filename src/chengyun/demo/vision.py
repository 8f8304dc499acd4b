"""Demo cameras and the shipped scene mapping (illustrative): a dozen cameras spread over
the demo sub-district's units, so the video-algorithm intake can be tried at once."""

from __future__ import annotations

from shapely.geometry import shape

from chengyun.clock import Clock, SystemClock
from chengyun.domain.territory import Territory
from chengyun.domain.vision import DEFAULT_SCENES, Camera
from chengyun.services.unit_of_work import UnitOfWork

#: GB/T 28181-style 20-digit ids: area code, then "132" (a network camera), then a serial.
CAMERA_PREFIX = "31011800201320"
OWNERS = ("街道城运中心 Command centre", "公安分局 Police", "城管中队 Urban management")


def demo_cameras(territory: Territory, count: int = 12) -> list[Camera]:
    """``count`` cameras, one per unit, taken evenly over the units ordered by code, each
    at a point inside its unit."""
    units = sorted(territory.units, key=lambda u: u.code)
    if not units:
        return []
    step = max(len(units) / count, 1.0)
    chosen = [units[int(i * step)] for i in range(min(count, len(units)))]
    cameras = []
    for n, unit in enumerate(chosen, start=1):
        point = shape(unit.geometry).representative_point()
        cameras.append(
            Camera(
                camera_id=f"{CAMERA_PREFIX}{n:06d}",
                name=f"{unit.name}{n}号探头",
                lng=round(point.x, 7),
                lat=round(point.y, 7),
                grid_code=unit.grid_code,
                unit_code=unit.code,
                address=f"{unit.name}（示意）",
                owner=OWNERS[n % len(OWNERS)],
            )
        )
    return cameras


def seed_vision(uow: UnitOfWork, territory: Territory, clock: Clock | None = None) -> int:
    """Store the demo cameras and the shipped scene mapping; returns how many cameras."""
    now = (clock or SystemClock()).now()
    cameras = demo_cameras(territory)
    with uow:
        uow.vision.save_cameras(cameras, now)
        if uow.vision.scenes() is None:
            uow.vision.replace_scenes(sorted(DEFAULT_SCENES, key=lambda m: m.code), now)
        uow.commit()
    return len(cameras)
