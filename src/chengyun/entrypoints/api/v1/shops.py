"""The shop registry over HTTP (市民扫码店铺): list, register, change, re-issue a poster's
token, and the printable posters. Thin: parse, call one service, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.index import check_position
from chengyun.adapters.reports.posters import PDF, Poster, filename, posters_pdf
from chengyun.adapters.spreadsheets.shops_xlsx import (
    HEADER_BY_FIELD,
    XLSX,
    shops_from_xlsx,
    shops_to_xlsx,
)
from chengyun.domain.access import Permission, Principal
from chengyun.domain.errors import Conflict, InvalidInput, NotFound, Problem
from chengyun.domain.shops import MAX_ADDRESS, MAX_CODE, MAX_NAME, Shop
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.security import requires
from chengyun.entrypoints.platform import Platform
from chengyun.services.shops import (
    ShopChanges,
    ShopIn,
    citizen_url,
    get_shop,
    import_shops,
    list_shops,
    register_shop,
    reissue_token,
    report_counts,
    shop_token,
    update_shop,
)

router = APIRouter(prefix="/shops", tags=["shops 市民扫码店铺"])
Reader = Annotated[Principal | None, Depends(requires(Permission.TERRITORY_READ))]
Manager = Annotated[Principal | None, Depends(requires(Permission.INTEGRATIONS_MANAGE))]
ShopId = Annotated[int, Path(ge=1, le=MAX_ID)]
UnitCode = Annotated[str | None, Query(max_length=15, description="管理单元编码 unit code")]


class PositionIn(BaseModel):
    lng: float = Field(allow_inf_nan=False, description="经度 longitude")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude")
    crs: Crs = Field(Crs.WGS84, description="wgs84, gcj02 (phones in China) or bd09")


class ShopCreate(BaseModel):
    """A shop to register; its position must be inside the sub-district."""

    code: str = Field(
        "", max_length=MAX_CODE, description="店铺编号; empty: the next S00001-style code"
    )
    name: str = Field(max_length=MAX_NAME, description="店铺名称")
    address: str = Field("", max_length=MAX_ADDRESS, description="地址")
    position: PositionIn
    active: bool = True


class ShopUpdate(BaseModel):
    """What to change; fields left out keep their value."""

    name: str | None = Field(None, max_length=MAX_NAME)
    address: str | None = Field(None, max_length=MAX_ADDRESS)
    position: PositionIn | None = None
    active: bool | None = Field(None, description="false: the shop's QR code stops working")


class ShopOut(BaseModel):
    id: int
    code: str
    name: str
    address: str
    position: dict[str, float] = Field(description="WGS-84 {lng, lat}")
    grid_code: str
    unit_code: str
    active: bool
    key_version: int = Field(description="goes up when the token is re-issued")
    token_expires_at: datetime
    reports: int = Field(description="citizen reports made from this shop's code")
    url: str | None = Field(
        description="the address in the QR code (integrations.manage only, else null)"
    )
    poster: str = Field(description="where to download the poster (PDF)")
    created_at: datetime
    updated_at: datetime


class ShopPage(BaseModel):
    total: int
    items: list[ShopOut]


def _out(platform: Platform, shop: Shop, reports: int, manager: bool) -> ShopOut:
    assert shop.id is not None and shop.created_at and shop.updated_at
    url = (
        citizen_url(
            platform.settings.public_base_url, shop_token(platform.settings.secret_key, shop)
        )
        if manager
        else None
    )
    return ShopOut(
        id=shop.id,
        code=shop.code,
        name=shop.name,
        address=shop.address,
        position={"lng": shop.lng, "lat": shop.lat},
        grid_code=shop.grid_code,
        unit_code=shop.unit_code,
        active=shop.active,
        key_version=shop.key_version,
        token_expires_at=shop.token_expires_at,
        reports=reports,
        url=url,
        poster=f"/api/v1/shops/{shop.id}/poster.pdf",
        created_at=shop.created_at,
        updated_at=shop.updated_at,
    )


def _one(platform: Platform, shop: Shop) -> ShopOut:
    assert shop.id is not None
    counts = report_counts(platform.uow(), [shop.id])
    return _out(platform, shop, counts[shop.id], manager=True)


def _wgs84(position: PositionIn) -> tuple[float, float]:
    check_position(position.lng, position.lat)
    return to_wgs84(position.lng, position.lat, position.crs)


def poster_for(platform: Platform, shop: Shop) -> Poster:
    """What the poster of ``shop`` shows (its current token's address)."""
    try:
        sub_district = platform.territory_index.get().territory.sub_district.name
    except InvalidInput:  # no territory loaded: the poster goes without the name
        sub_district = ""
    token = shop_token(platform.settings.secret_key, shop)
    return Poster(
        shop.code,
        shop.name,
        shop.address,
        citizen_url(platform.settings.public_base_url, token),
        shop.token_expires_at,
        sub_district,
    )


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type=PDF,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("", response_model=ShopPage, summary="店铺列表 / The shop registry")
def shops(
    platform: PlatformDep,
    principal: Reader,
    unit: UnitCode = None,
    active: Annotated[bool | None, Query(description="true: only shops whose code works")] = None,
) -> ShopPage:
    found = list_shops(platform.uow(), unit, active_only=bool(active))
    if active is False:
        found = [s for s in found if not s.active]
    counts = report_counts(platform.uow(), [s.id for s in found if s.id is not None])
    manager = principal is not None and principal.may(Permission.INTEGRATIONS_MANAGE)
    return ShopPage(
        total=len(found),
        items=[_out(platform, s, counts.get(s.id or 0, 0), manager) for s in found],
    )


@router.post(
    "",
    response_model=ShopOut,
    status_code=201,
    summary="登记店铺 / Register a shop (its first QR token is issued)",
    responses={422: {"description": "what is wrong, naming the field"}},
)
def create_shop(platform: PlatformDep, principal: Manager, body: ShopCreate) -> ShopOut:
    lng, lat = _wgs84(body.position)
    shop = register_shop(
        platform.uow(),
        platform.clock,
        platform,
        platform.settings.shop_token_days,
        ShopIn(body.name, body.address, lng, lat, body.code, body.active),
    )
    return _one(platform, shop)


@router.get(
    "/posters.pdf",
    response_class=Response,
    summary="批量打印海报 / The posters of every active shop (of a unit), one A5 page each",
    responses={200: {"content": {PDF: {}}}, 404: {"description": "no active shop there"}},
)
def unit_posters(platform: PlatformDep, principal: Manager, unit: UnitCode = None) -> Response:
    found = list_shops(platform.uow(), unit, active_only=True)
    if not found:
        raise NotFound(
            f"{'管理单元 ' + unit + ' ' if unit else ''}没有启用的店铺 / no active shop"
            + (f" in unit {unit}" if unit else "")
        )
    content = posters_pdf([poster_for(platform, s) for s in found])
    return _pdf(
        content, f"posters-{unit or 'all'}.pdf" if (unit or "").isalnum() else "posters.pdf"
    )


@router.get(
    "/export.xlsx",
    response_class=Response,
    summary="导出店铺表 / The registry as .xlsx (bilingual headers; import with the CLI)",
    responses={200: {"content": {XLSX: {}}}},
)
def export_shops(platform: PlatformDep, principal: Manager) -> Response:
    found = list_shops(platform.uow())
    secret, base = platform.settings.secret_key, platform.settings.public_base_url
    urls = {s.code: citizen_url(base, shop_token(secret, s)) for s in found}
    return Response(
        shops_to_xlsx(found, urls),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="shops.xlsx"'},
    )


class ShopsImportedOut(BaseModel):
    created: int
    updated: int


MAX_XLSX_BYTES = 10 * 1024 * 1024


@router.post(
    "/import.xlsx",
    response_model=ShopsImportedOut,
    summary="导入店铺表 / Add or update shops from an .xlsx, matched by code (all or nothing)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_sheet(
    platform: PlatformDep,
    principal: Manager,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
) -> ShopsImportedOut:
    data = await file.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise InvalidInput(
            "文件过大 / file too large",
            [Problem(("file",), "the workbook may be at most 10 MB", "size")],
        )
    sheet = shops_from_xlsx(data)
    done = await run_in_threadpool(
        import_shops,
        platform.uow(),
        platform.clock,
        platform,
        platform.settings.shop_token_days,
        sheet.rows,
        sheet.problems,
        HEADER_BY_FIELD,
    )
    return ShopsImportedOut(created=done.created, updated=done.updated)


@router.get("/{shop_id}", response_model=ShopOut, summary="店铺 / One shop")
def one_shop(platform: PlatformDep, principal: Reader, shop_id: ShopId) -> ShopOut:
    shop = get_shop(platform.uow(), shop_id)
    counts = report_counts(platform.uow(), [shop_id])
    manager = principal is not None and principal.may(Permission.INTEGRATIONS_MANAGE)
    return _out(platform, shop, counts[shop_id], manager)


@router.patch(
    "/{shop_id}",
    response_model=ShopOut,
    summary="修改店铺 / Change a shop (a new position is located again)",
    responses={404: {"description": "no such shop"}, 422: {"description": "what is wrong"}},
)
def change_shop(
    platform: PlatformDep, principal: Manager, shop_id: ShopId, body: ShopUpdate
) -> ShopOut:
    lng, lat = _wgs84(body.position) if body.position else (None, None)
    shop = update_shop(
        platform.uow(),
        platform.clock,
        platform,
        shop_id,
        ShopChanges(body.name, body.address, lng, lat, body.active),
    )
    return _one(platform, shop)


@router.post(
    "/{shop_id}/token",
    response_model=ShopOut,
    summary="换发二维码 / Re-issue the shop's token: every poster printed before stops working",
    responses={404: {"description": "no such shop"}},
)
def reissue(platform: PlatformDep, principal: Manager, shop_id: ShopId) -> ShopOut:
    shop = reissue_token(platform.uow(), platform.clock, shop_id, platform.settings.shop_token_days)
    return _one(platform, shop)


@router.get(
    "/{shop_id}/poster.pdf",
    response_class=Response,
    summary="海报 / The shop's printable A5 poster with its QR code (PDF)",
    responses={200: {"content": {PDF: {}}}, 404: {"description": "no such shop"}},
)
def poster(platform: PlatformDep, principal: Manager, shop_id: ShopId) -> Response:
    shop = get_shop(platform.uow(), shop_id)
    if not shop.active:
        raise Conflict(
            "店铺已停用，二维码不可用 / the shop is inactive: its QR code would not work",
            [Problem(("shop_id",), 'activate it first: PATCH {"active": true}', "inactive")],
        )
    return _pdf(posters_pdf([poster_for(platform, shop)], shop.name), filename(shop.code))
