"""Use cases of the territory: import it (all or nothing), export it, move a grid's
go-live date."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from chengyun.domain.errors import InvalidInput, NotFound, Problem
from chengyun.domain.territory import ResponsibilityGrid, Territory
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


def set_go_live(uow: UnitOfWork, grid_code: str, day: date) -> ResponsibilityGrid:
    """Move a grid's go-live date (上线日期): reports in it before that day are pre-launch
    and left out of the measures. Cases already reported keep the flag they were given."""
    with uow:
        territory = uow.territory.get()
        grid = territory.grid(grid_code) if territory is not None else None
        if territory is None or grid is None:
            raise NotFound(
                f"没有该责任网格 / no grid {grid_code}",
                [Problem(("path", "grid_code"), f"no grid {grid_code!r}", "unknown")],
            )
        changed = replace(grid, live_from=day)
        grids = tuple(changed if g.code == grid_code else g for g in territory.grids)
        uow.territory.replace(replace(territory, grids=grids))
        uow.commit()
    return changed


def current_territory(uow: UnitOfWork) -> Territory:
    with uow.reader() as uow:
        territory = uow.territory.get()
    if territory is None:
        raise NotFound(
            "尚未导入辖区数据 / no territory has been imported yet",
            [Problem(("territory",), "run `chengyun territory import FILE.geojson`", "missing")],
        )
    return territory
