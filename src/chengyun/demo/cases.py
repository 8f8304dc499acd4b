"""A morning's worth of sample cases for the demo, reported through the same service a
phone or a feed uses, so a newcomer finds open cases on the list (illustrative)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from shapely.geometry import Point, shape

from chengyun.domain.cases import Channel
from chengyun.domain.forces import Post, Roster
from chengyun.domain.territory import Territory
from chengyun.services.cases import CaseEnvironment, ReportCommand, report_case
from chengyun.services.unit_of_work import UnitOfWork

SAMPLES: tuple[tuple[Channel, str, str], ...] = (
    (Channel.PATROL, "E0102", "人行道上有暴露垃圾 / rubbish left on the pavement"),
    (Channel.PATROL, "E0504", "沿街商铺店外经营 / shop trading on the pavement"),
    (Channel.VIDEO_AI, "E0504", "算法识别：占道经营 / algorithm: street trading"),
    (Channel.CITIZEN_QR, "E0101", "小区门口私搭乱建 / illegal structure at the gate"),
    (Channel.HOTLINE, "E0102", "12345：垃圾未清运 / 12345: rubbish not collected"),
    (Channel.PATROL, "C0101", "上水井盖缺失 / water manhole cover missing"),
    (Channel.INSPECTION, "E0101", "督查发现违章搭建 / inspection: illegal structure"),
    (Channel.POLICE_DIVERSION, "E0102", "110 非警务：垃圾堆放 / 110 diversion: rubbish dumped"),
)


def seed_cases(
    uow_factory: Callable[[], UnitOfWork],
    env: CaseEnvironment,
    territory: Territory,
    roster: Roster,
    count: int = 24,
    seed: int = 7,
) -> int:
    """Report ``count`` sample cases at random places in live grids over the last hours."""
    rng = random.Random(seed)
    now = env.clock.now()
    patrol = sorted(p.number for p in roster.people if p.post is Post.PATROL)
    live = {g.code for g in territory.grids if g.is_live(now.date())}
    units = [u for u in territory.units if u.grid_code in live]
    made = 0
    for i in range(count):
        channel, subclass, description = SAMPLES[i % len(SAMPLES)]
        unit = rng.choice(units)
        area = shape(unit.geometry)
        point = area.representative_point()
        for _ in range(50):  # a random spot in the unit, so reports do not pile up
            x0, y0, x1, y1 = area.bounds
            candidate = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
            if area.contains(candidate):
                point = candidate
                break
        reporter = rng.choice(patrol) if channel in (Channel.PATROL, Channel.INSPECTION) else None
        command = ReportCommand(
            channel=channel,
            subclass=subclass,
            lng=point.x,
            lat=point.y,
            description=description,
            observed_at=now - timedelta(minutes=rng.randint(1, 240)),
            reporter=reporter,
            hazard=subclass.startswith("C"),
            address=f"{unit.name}（示意 / illustrative）",
        )
        report_case(uow_factory(), env, command)
        made += 1
    return made
