"""Fill a fresh database with the demo sub-district: its territory and its forces."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from chengyun.adapters.geo.geojson import territory_from_geojson
from chengyun.adapters.passwords import shared_hash
from chengyun.clock import Clock, SystemClock
from chengyun.demo.hotline import seed_demo_gazetteer
from chengyun.demo.open311 import seed_open311
from chengyun.demo.roster import demo_roster
from chengyun.demo.shops import seed_shops
from chengyun.demo.vision import seed_vision
from chengyun.domain.access import Role, ScopeKind
from chengyun.domain.forces import Shift
from chengyun.services.accounts import accounts_for_people, provision_accounts
from chengyun.services.forces import import_roster
from chengyun.services.records import NewAccount
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


#: The password of every demo account (the demo database only; printed at start).
DEMO_PASSWORD = "chengyun-demo"
#: The account other systems (hotline, video algorithms, the district) use in the demo.
DEMO_GATEWAY = "gateway"


def load_demo(uow: UnitOfWork, clock: Clock | None = None) -> DemoLoaded:
    territory = territory_from_geojson(demo_territory_geojson())
    summary = import_territory(uow, territory)
    roster = demo_roster(territory)
    import_roster(uow, roster, list(Shift))
    password = shared_hash(DEMO_PASSWORD)
    provision_accounts(
        uow,
        clock or SystemClock(),
        [
            NewAccount(
                "admin",
                password,
                Role.ADMINISTRATOR.value,
                ScopeKind.SUB_DISTRICT.value,
                display_name="系统管理员 Administrator",
            ),
            NewAccount(
                DEMO_GATEWAY,
                password,
                Role.SYSTEM.value,
                ScopeKind.SUB_DISTRICT.value,
                display_name="对接网关 Integration gateway",
            ),
            NewAccount(
                "assessor",
                password,
                Role.ASSESSOR.value,
                ScopeKind.SUB_DISTRICT.value,
                display_name="考核人员 Assessor",
            ),
            *accounts_for_people(roster, password),
        ],
    )
    # integrations: each peer seeds its demo data below (applications, shops, cameras, …)
    seed_vision(uow, territory, clock)
    seed_shops(uow, clock or SystemClock(), territory)
    seed_open311(uow, clock or SystemClock())
    seed_demo_gazetteer(uow, clock)
    return DemoLoaded(
        grids=summary.grids,
        units=summary.units,
        key_units=summary.key_units,
        people=len(roster.people),
        assignments=len(roster.assignments),
    )
