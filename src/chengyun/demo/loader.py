"""Fill a fresh database with the demo sub-district: its territory and its forces."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from chengyun.adapters.geo.geojson import territory_from_geojson
from chengyun.demo.roster import demo_roster
from chengyun.domain.forces import Shift
from chengyun.services.forces import import_roster
from chengyun.services.territory import import_territory
from chengyun.services.unit_of_work import UnitOfWork


def demo_territory_geojson() -> dict[str, Any]:
    text = resources.files("chengyun.demo").joinpath("data/territory.geojson").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class DemoLoaded:
    grids: int
    units: int
    key_units: int
    people: int
    assignments: int


def load_demo(uow: UnitOfWork) -> DemoLoaded:
    territory = territory_from_geojson(demo_territory_geojson())
    summary = import_territory(uow, territory)
    roster = demo_roster(territory)
    import_roster(uow, roster, list(Shift))
    return DemoLoaded(
        grids=summary.grids,
        units=summary.units,
        key_units=summary.key_units,
        people=len(roster.people),
        assignments=len(roster.assignments),
    )
