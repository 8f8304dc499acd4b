"""The shop registry and the citizen reports made from its QR codes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from chengyun.adapters.db.tables_shops import citizen_reports, shops
from chengyun.domain.shops import CitizenReport, Shop


def _shop(row: Any) -> Shop:
    return Shop(
        code=row.code,
        name=row.name,
        address=row.address,
        lng=row.lng,
        lat=row.lat,
        grid_code=row.grid_code,
        unit_code=row.unit_code,
        key_version=row.key_version,
        token_expires_at=row.token_expires_at,
        active=bool(row.active),
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _report(row: Any) -> CitizenReport:
    return CitizenReport(row.follow_token, row.case_id, row.shop_id, row.citizen_id, row.created_at)


def _values(shop: Shop) -> dict[str, Any]:
    return {
        "code": shop.code,
        "name": shop.name,
        "address": shop.address,
        "lng": shop.lng,
        "lat": shop.lat,
        "grid_code": shop.grid_code,
        "unit_code": shop.unit_code,
        "key_version": shop.key_version,
        "token_expires_at": shop.token_expires_at,
        "active": shop.active,
        "created_at": shop.created_at,
        "updated_at": shop.updated_at,
    }


class SqlShopRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    def all(self, unit_code: str | None = None, active_only: bool = False) -> list[Shop]:
        query = sa.select(shops).order_by(shops.c.code)
        if unit_code is not None:
            query = query.where(shops.c.unit_code == unit_code)
        if active_only:
            query = query.where(shops.c.active.is_(True))
        return [_shop(r) for r in self.connection.execute(query)]

    def get(self, shop_id: int, *, for_update: bool = False) -> Shop | None:
        query = sa.select(shops).where(shops.c.id == shop_id)
        if for_update and self.dialect == "postgresql":
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _shop(row) if row else None

    def by_code(self, code: str) -> Shop | None:
        row = self.connection.execute(sa.select(shops).where(shops.c.code == code)).first()
        return _shop(row) if row else None

    def codes(self) -> list[str]:
        return [str(c) for c in self.connection.execute(sa.select(shops.c.code)).scalars()]

    def add(self, shop: Shop) -> Shop:
        values = _values(shop)
        shop_id = self.connection.execute(
            shops.insert().values(**values).returning(shops.c.id)
        ).scalar_one()
        found = self.get(int(shop_id))
        assert found is not None
        return found

    def save(self, shop: Shop) -> None:
        assert shop.id is not None, "the shop has not been added"
        values = _values(shop)
        values.pop("created_at")
        self.connection.execute(shops.update().where(shops.c.id == shop.id).values(**values))

    def add_report(self, report: CitizenReport) -> None:
        self.connection.execute(
            citizen_reports.insert().values(
                follow_token=report.follow_token,
                case_id=report.case_id,
                shop_id=report.shop_id,
                citizen_id=report.citizen_id,
                created_at=report.created_at,
            )
        )

    def report(self, follow_token: str) -> CitizenReport | None:
        row = self.connection.execute(
            sa.select(citizen_reports).where(citizen_reports.c.follow_token == follow_token)
        ).first()
        return _report(row) if row else None

    def report_for_case(self, case_id: int) -> CitizenReport | None:
        row = self.connection.execute(
            sa.select(citizen_reports).where(citizen_reports.c.case_id == case_id)
        ).first()
        return _report(row) if row else None

    def count_reports(self, shop_ids: Sequence[int]) -> dict[int, int]:
        counts = dict.fromkeys(shop_ids, 0)
        if not counts:
            return counts
        rows = self.connection.execute(
            sa.select(citizen_reports.c.shop_id, sa.func.count())
            .where(citizen_reports.c.shop_id.in_(list(counts)))
            .group_by(citizen_reports.c.shop_id)
        )
        counts.update({int(shop_id): int(count) for shop_id, count in rows})
        return counts
