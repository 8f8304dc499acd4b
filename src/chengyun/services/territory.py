"""Use cases of the territory: import it (all or nothing), export it."""

from __future__ import annotations

from dataclasses import dataclass

from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.territory import Territory
from chengyun.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class TerritoryImported:
    revision: int
    grids: int
    units: int
    key_units: int
    areas: int


def import_territory(uow: UnitOfWork, territory: Territory) -> TerritoryImported:
    """Replace the stored territory with a validated one, in one transaction.

    Refused when it would strand assignments of the force tables on grids or units
    that no longer exist."""
    with uow:
        stranded = uow.forces.count_assignments_outside(
            {g.code for g in territory.grids}, {u.code for u in territory.units}
        )
        if stranded:
            raise InvalidInput(
                "新辖区缺少力量表仍在使用的网格或管理单元，未导入 / the new territory drops grids "
                "or units that the force tables still use; nothing was imported",
                [
                    Problem(
                        ("features",),
                        f"{stranded} 条人员分配指向被删除的网格或单元，请先调整力量表 / "
                        f"{stranded} assignment(s) point at removed grids or "
                        "units: update the force tables first",
                        "reference",
                    )
                ],
            )
        revision = uow.territory.replace(territory)
        uow.commit()
    return TerritoryImported(
        revision=revision,
        grids=len(territory.grids),
        units=len(territory.units),
        key_units=sum(1 for u in territory.units if u.key),
        areas=len(territory.areas),
    )


def current_territory(uow: UnitOfWork) -> Territory:
    with uow:
        territory = uow.territory.get()
    if territory is None:
        raise NotFound(
            "尚未导入辖区数据 / no territory has been imported yet",
            [Problem(("territory",), "run `chengyun territory import FILE.geojson`", "missing")],
        )
    return territory
