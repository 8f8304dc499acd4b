"""Territory on the map: grids, units and areas as GeoJSON; locate a position; import."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.geojson import (
    area_feature,
    feature_collection,
    grid_feature,
    territory_from_geojson,
    territory_to_geojson,
    unit_feature,
)
from chengyun.domain.access import Permission
from chengyun.domain.territory import Location
from chengyun.entrypoints.api.deps import PlatformDep, UowDep
from chengyun.entrypoints.api.security import requires
from chengyun.services.territory import current_territory, import_territory, set_go_live

router = APIRouter(prefix="/territory", tags=["territory 辖区"])
GEOJSON = "application/geo+json"


def _geojson(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=GEOJSON)


@router.get(
    "",
    dependencies=[Depends(requires(Permission.TERRITORY_READ))],
    summary="导出辖区 / Export the whole territory (import format)",
)
def export(uow: UowDep) -> JSONResponse:
    return _geojson(territory_to_geojson(current_territory(uow)))


class ImportSummary(BaseModel):
    revision: int
    grids: int
    units: int
    key_units: int
    areas: int


@router.put(
    "",
    dependencies=[Depends(requires(Permission.TERRITORY_WRITE))],
    response_model=ImportSummary,
    summary="导入辖区 / Import a territory GeoJSON (all or nothing)",
    responses={422: {"description": "every problem found, each naming its feature"}},
)
def replace(
    platform: PlatformDep,
    uow: UowDep,
    body: dict[str, Any] = Body(..., description="a territory FeatureCollection (WGS-84)"),
) -> ImportSummary:
    territory = territory_from_geojson(body)
    result = import_territory(uow, territory)
    platform.territory_index.invalidate()
    return ImportSummary(**result.__dict__)


class GoLiveIn(BaseModel):
    live_from: date = Field(description="上线日期 / the grid's go-live date, e.g. 2020-07-01")


class GridOut(BaseModel):
    code: str
    name: str
    live_from: date


@router.patch(
    "/grids/{grid_code}",
    dependencies=[Depends(requires(Permission.TERRITORY_WRITE))],
    response_model=GridOut,
    summary="设定网格上线日期 / Move a grid's go-live date",
    responses={404: {"description": "no such grid"}},
)
def set_grid_go_live(
    grid_code: Annotated[str, PathParam(max_length=15, pattern=r"^\d{15}$")],
    body: GoLiveIn,
    platform: PlatformDep,
    uow: UowDep,
) -> GridOut:
    grid = set_go_live(uow, grid_code, body.live_from)
    platform.territory_index.invalidate()
    return GridOut(code=grid.code, name=grid.name, live_from=grid.live_from)


@router.get(
    "/grids",
    dependencies=[Depends(requires(Permission.TERRITORY_READ))],
    summary="责任网格 / Responsibility grids (GeoJSON)",
)
def grids(uow: UowDep) -> JSONResponse:
    territory = current_territory(uow)
    features = []
    for grid in territory.grids:
        feature = grid_feature(grid)
        units = territory.units_of(grid.code)
        feature["properties"].update(
            kind="grid",
            grid_code=grid.code,
            key=any(u.key for u in units),
            units=len(units),
            key_units=sum(1 for u in units if u.key),
        )
        features.append(feature)
    return _geojson(feature_collection(features))


@router.get(
    "/units",
    dependencies=[Depends(requires(Permission.TERRITORY_READ))],
    summary="管理单元 / Management units (GeoJSON)",
)
def units(
    uow: UowDep,
    grid: str | None = Query(None, description="only the units of this grid code"),
    key: bool | None = Query(None, description="only key (true) or other (false) units"),
) -> JSONResponse:
    territory = current_territory(uow)
    live = {g.code: g.live_from.isoformat() for g in territory.grids}
    features = []
    for unit in territory.units:
        if (grid and unit.grid_code != grid) or (key is not None and unit.key != key):
            continue
        feature = unit_feature(unit)
        feature["properties"]["live_from"] = live[unit.grid_code]
        features.append(feature)
    return _geojson(feature_collection(features))


@router.get(
    "/areas",
    dependencies=[Depends(requires(Permission.TERRITORY_READ))],
    summary="街面与水系区域 / Street-frontage and waterway areas (GeoJSON)",
)
def areas(uow: UowDep) -> JSONResponse:
    return _geojson(feature_collection([area_feature(a) for a in current_territory(uow).areas]))


class Place(BaseModel):
    code: str
    name: str
    name_en: str = ""


class UnitPlace(Place):
    kind: str
    key: bool


class AreaPlace(Place):
    kind: str


class GridPlace(Place):
    live_from: str


class Position(BaseModel):
    lng: float
    lat: float
    crs: str


class Located(BaseModel):
    position: Position
    grid: GridPlace
    unit: UnitPlace
    areas: list[AreaPlace]
    street: bool


def located(location: Location, lng: float, lat: float) -> Located:
    g, u = location.grid, location.unit
    return Located(
        position=Position(lng=round(lng, 7), lat=round(lat, 7), crs="wgs84"),
        grid=GridPlace(
            code=g.code, name=g.name, name_en=g.name_en, live_from=g.live_from.isoformat()
        ),
        unit=UnitPlace(code=u.code, name=u.name, name_en=u.name_en, kind=u.kind.value, key=u.key),
        areas=[
            AreaPlace(code=a.code, name=a.name, name_en=a.name_en, kind=a.kind.value)
            for a in location.areas
        ],
        street=location.on_street,
    )


@router.get(
    "/locate",
    dependencies=[Depends(requires(Permission.TERRITORY_READ))],
    response_model=Located,
    summary="定位 / Which grid, unit and areas a position falls in",
    responses={422: {"description": "outside the sub-district, or not a position in China"}},
)
def locate(
    platform: PlatformDep,
    lng: float = Query(..., description="经度 longitude", allow_inf_nan=False),
    lat: float = Query(..., description="纬度 latitude", allow_inf_nan=False),
    crs: Crs = Query(Crs.WGS84, description="坐标系: wgs84 (GPS), gcj02 (phones in China), bd09"),
) -> Located:
    location = platform.territory_index.get().locate(lng, lat, crs)
    x, y = to_wgs84(lng, lat, crs)
    return located(location, x, y)
