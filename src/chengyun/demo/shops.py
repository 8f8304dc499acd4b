"""The demo sub-district's shops with citizen QR posters (illustrative names and places):
ten shops in ten management units, one near the middle of each."""

from __future__ import annotations

from shapely.geometry import shape

from chengyun.adapters.geo.index import TerritoryIndex
from chengyun.clock import Clock
from chengyun.domain.errors import DomainError
from chengyun.domain.shops import DEFAULT_TOKEN_DAYS, Shop
from chengyun.domain.territory import Territory
from chengyun.services.shops import (
    ShopIn,
    citizen_url,
    import_shops,
    list_shops,
    shop_token,
)
from chengyun.services.unit_of_work import UnitOfWork

#: (name, street) of the demo shops, one per unit (示例，非真实店铺 / illustrative).
DEMO_SHOPS = (
    ("好邻居便利店", "城中路"),
    ("东门生鲜超市", "东门路"),
    ("南门早餐铺", "南门街"),
    ("西门五金店", "西门路"),
    ("北门药房", "北门街"),
    ("复兴面包房", "复兴路"),
    ("盈中水果店", "盈中路"),
    ("三元河茶馆", "三元河路"),
    ("青安理发店", "青安路"),
    ("庆华文具店", "庆华路"),
)


def seed_shops(
    uow: UnitOfWork, clock: Clock, territory: Territory, token_days: int = DEFAULT_TOKEN_DAYS
) -> int:
    """Register the demo shops (codes S00001…S00010); safe to run twice. How many were
    added."""
    index = TerritoryIndex(territory)
    rows = []
    places = zip(DEMO_SHOPS, territory.units, strict=False)  # the first units, one shop each
    for number, ((name, street), unit) in enumerate(places, start=1):
        point = shape(unit.geometry).representative_point()
        rows.append(
            (
                ("demo", number),
                ShopIn(
                    name=name,
                    address=f"{street}{number * 8 + 1}号（示例）",
                    lng=round(point.x, 6),
                    lat=round(point.y, 6),
                    code=f"S{number:05d}",
                ),
            )
        )
    return import_shops(uow, clock, index, token_days, rows).created


def demo_citizen_url(uow: UnitOfWork, secret: str, base_url: str) -> str | None:
    """The citizen page of the first demo shop, for ``chengyun demo`` to print."""
    try:
        shops: list[Shop] = list_shops(uow, active_only=True)
    except DomainError:
        return None
    return citizen_url(base_url, shop_token(secret, shops[0])) if shops else None
