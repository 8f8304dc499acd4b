"""The territory (辖区): sub-district → responsibility grids → management units, and areas.

Geometry is carried as GeoJSON mappings (WGS-84) and is not interpreted here;
the geometric checks live in ``adapters.geo``. This module holds the structure
and the rules that need no geometry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chengyun.domain.errors import Problem
from chengyun.domain.labels import Labelled

#: Unit-grid style codes after GB/T 30428.1: 6-digit county code + 3-digit
#: sub-district + 3-digit community + 3-digit serial.
CODE_PATTERN = re.compile(r"^\d{15}$")

Geometry = Mapping[str, Any]


class UnitKind(Labelled):
    """Kind of management unit (管理单元类型)."""

    COMMUNITY = "community", "小区（居委/筹备组）", "Residential community"
    RURAL = "rural", "农村（村）", "Village"


class AreaKind(Labelled):
    """Kind of cross-cutting area (区域类型)."""

    STREET = "street", "街面", "Street frontage"
    WATERWAY = "waterway", "水系", "Waterway"


class Layer(Labelled):
    """Which level of the territory a feature describes."""

    GRID = "grid", "责任网格", "Responsibility grid"
    UNIT = "unit", "管理单元", "Management unit"
    AREA = "area", "区域", "Area"


@dataclass(frozen=True)
class SubDistrict:
    """The sub-district (街道) the platform runs."""

    code: str
    name: str
    name_en: str = ""


@dataclass(frozen=True)
class ResponsibilityGrid:
    """Responsibility grid (责任网格), drawn on a police beat; goes live on ``live_from``."""

    code: str
    name: str
    live_from: date
    geometry: Geometry = field(compare=False, repr=False)
    name_en: str = ""

    def is_live(self, on: date) -> bool:
        """Whether the grid's cases count and are auto-dispatched on ``on``."""
        return on >= self.live_from


@dataclass(frozen=True)
class ManagementUnit:
    """Management unit (管理单元): a residential committee, preparatory group or village."""

    code: str
    name: str
    grid_code: str
    kind: UnitKind
    key: bool
    geometry: Geometry = field(compare=False, repr=False)
    name_en: str = ""


@dataclass(frozen=True)
class Area:
    """An area that cuts across units (区域): street frontage or a waterway."""

    code: str
    name: str
    kind: AreaKind
    geometry: Geometry = field(compare=False, repr=False)
    name_en: str = ""


@dataclass(frozen=True)
class Territory:
    """The whole territory as one value: what is imported, exported and located in."""

    sub_district: SubDistrict
    grids: tuple[ResponsibilityGrid, ...]
    units: tuple[ManagementUnit, ...]
    areas: tuple[Area, ...] = ()
    illustrative: bool = False
    note: str = ""

    def grid(self, code: str) -> ResponsibilityGrid | None:
        return next((g for g in self.grids if g.code == code), None)

    def unit(self, code: str) -> ManagementUnit | None:
        return next((u for u in self.units if u.code == code), None)

    def units_of(self, grid_code: str) -> tuple[ManagementUnit, ...]:
        return tuple(u for u in self.units if u.grid_code == grid_code)


@dataclass(frozen=True)
class Location:
    """Where a position falls: its grid, unit and the areas it lies in."""

    grid: ResponsibilityGrid
    unit: ManagementUnit
    areas: tuple[Area, ...] = ()

    @property
    def on_street(self) -> bool:
        """Street-frontage positions go to the grid's joint-duty workstation."""
        return any(a.kind is AreaKind.STREET for a in self.areas)


def structural_problems(territory: Territory) -> list[Problem]:
    """Every rule that needs no geometry: codes well-formed and unique, units in known
    grids, at least one grid. The locations name the feature's kind and code."""
    problems: list[Problem] = []
    if not territory.grids:
        problems.append(Problem(("features",), "没有责任网格 / no grid features", "missing"))
    seen: dict[str, str] = {}

    def check_code(layer: str, code: str, name: str) -> None:
        where = (layer, code or name or "?")
        if not CODE_PATTERN.match(code):
            problems.append(
                Problem(
                    (*where, "code"),
                    f"编号须为15位数字 / code must be 15 digits (GB/T 30428.1 style), got {code!r}",
                    "code",
                )
            )
        if code in seen:
            problems.append(
                Problem(
                    (*where, "code"),
                    f"编号重复 / duplicate code {code} (also used by a {seen[code]})",
                    "duplicate",
                )
            )
        seen[code] = layer
        if not name.strip():
            problems.append(Problem((*where, "name"), "名称为空 / name is empty", "missing"))

    for grid in territory.grids:
        check_code("grid", grid.code, grid.name)
    grid_codes = {g.code for g in territory.grids}
    for unit in territory.units:
        check_code("unit", unit.code, unit.name)
        if unit.grid_code not in grid_codes:
            problems.append(
                Problem(
                    ("unit", unit.code, "grid_code"),
                    f"所属网格 {unit.grid_code!r} 不存在 / unknown grid code {unit.grid_code!r}",
                    "reference",
                )
            )
    for area in territory.areas:
        check_code("area", area.code, area.name)
    return problems


def key_units(units: Iterable[ManagementUnit]) -> list[ManagementUnit]:
    """The key units (重点挂图作战单元), where the KPI targets apply first."""
    return [u for u in units if u.key]
