"""12345 hotline orders and the address gazetteer over HTTP. Thin: parse, call one
service, render.

The hotline (a ``system`` account with ``hotline.exchange``) sends orders and its
call-backs; the command centre's hotline desk (``integrations.manage``) signs, contacts,
reports results, returns, places waiting orders and keeps the gazetteer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.index import check_position
from chengyun.adapters.spreadsheets.hotline_xlsx import (
    entries_from_xlsx,
    entries_to_xlsx,
    orders_from_xlsx,
    orders_to_xlsx,
)
from chengyun.domain.access import CENTRE_ROLES, Permission, Principal
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.gazetteer import EntryKind, GazetteerEntry, Parity
from chengyun.domain.hotline import OrderAction, OrderStatus, Placement, allowed_actions, flags
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID, MAX_OFFSET
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.api.v1.cases import case_actor
from chengyun.services import gazetteer as gazetteer_service
from chengyun.services.hotline import (
    OrderIn,
    get_order,
    import_orders,
    list_orders,
    order_action,
    orders_between,
    place_order,
    placement_queue,
    receive_order,
)
from chengyun.services.hotline_store import OrderFilter, OrderRecord

router = APIRouter(tags=["hotline 12345热线"])
Hotline = Annotated[Principal | None, Depends(requires(Permission.HOTLINE_EXCHANGE))]
Desk = Annotated[Principal | None, Depends(requires(Permission.INTEGRATIONS_MANAGE))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX_BYTES = 10 * 1024 * 1024
NUMBER = Path(
    min_length=1,
    max_length=64,
    pattern=r"^[^\s/]+$",
    description="工单编号 / the hotline's order number",
)
NumberPath = Annotated[str, NUMBER]


# --- schemas ----------------------------------------------------------------------------------


class PositionIn(BaseModel):
    lng: float = Field(allow_inf_nan=False, description="经度 longitude")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude")
    crs: Crs = Field(Crs.WGS84, description="wgs84, gcj02 or bd09")


class CallerIn(BaseModel):
    name: str = Field("", max_length=40, description="来电人")
    phone: str = Field("", max_length=20, description="联系电话")


class OrderBody(BaseModel):
    """A 12345 work order as the hotline sends it."""

    order_number: str = Field(min_length=1, max_length=64, description="工单编号")
    received_at: datetime = Field(description="接收时间, with offset")
    deadline: datetime = Field(description="办理时限: first handling due by, with offset")
    urgent: bool = Field(False, description="紧急类工单")
    category: str = Field("", max_length=100, description="热线类别; matched to the taxonomy")
    subclass: str = Field("", max_length=5, description="小类代码 (e.g. E0507); wins over category")
    address: str = Field("", max_length=200, description="地址 as the caller gave it")
    position: PositionIn | None = Field(None, description="坐标, if the hotline has one")
    caller: CallerIn = Field(default_factory=lambda: CallerIn())
    content: str = Field(min_length=1, max_length=4000, description="诉求内容")


class CallbackBody(BaseModel):
    """The hotline's call-back (回访) of a replied order."""

    order_number: str = Field(min_length=1, max_length=64)
    callback_id: str = Field("", max_length=64, description="the hotline's id: a repeat is ignored")
    satisfied: bool = Field(description="市民是否满意")
    note: str = Field("", max_length=2000)
    deadline: datetime | None = Field(
        None, description="预警工单的新时限; default: the order's original span again"
    )


class ActionBody(BaseModel):
    note: str = Field("", max_length=2000, description="sign, contact: a note")
    result: str = Field("", max_length=2000, description="result: what was done (required)")
    reason: str = Field("", max_length=2000, description="return: why (required)")
    satisfied: bool | None = Field(None, description="callback: the caller is satisfied")
    deadline: datetime | None = Field(None, description="callback: the warning order's deadline")


class PlaceBody(BaseModel):
    lng: float = Field(allow_inf_nan=False)
    lat: float = Field(allow_inf_nan=False)
    crs: Crs = Field(Crs.WGS84)


class EventOut(BaseModel):
    action: str
    label: str
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str
    data: dict[str, Any]


class OrderOut(BaseModel):
    order_number: str
    status: str
    status_label: str
    received_at: datetime
    deadline: datetime
    urgent: bool
    category: str
    subclass: str
    address: str
    position: dict[str, float] | None
    placement: str
    placement_label: str
    confidence: float | None
    suggestion: dict[str, Any] | None
    case_id: int | None
    own_case_id: int | None
    merged: bool = Field(description="the order repeated a case the platform already held")
    caller: dict[str, str]
    content: str
    signed_at: datetime | None
    contact_due_at: datetime | None
    contacted_at: datetime | None
    handle_due_at: datetime | None
    replied_at: datetime | None
    result: str
    return_reason: str
    warnings: int
    flags: list[str]
    allowed_actions: list[str]


class OrderDetail(OrderOut):
    events: list[EventOut]


class OrderPage(BaseModel):
    total: int
    items: list[OrderOut]


class Imported(BaseModel):
    created: int
    unchanged: int


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def render(record: OrderRecord, now: datetime) -> OrderOut:
    order = record.order
    return OrderOut(
        order_number=order.number,
        status=order.status.value,
        status_label=order.status.label,
        received_at=order.received_at,
        deadline=order.deadline,
        urgent=order.urgent,
        category=order.category,
        subclass=order.subclass,
        address=order.address,
        position={"lng": order.position[0], "lat": order.position[1]} if order.position else None,
        placement=record.placement.value,
        placement_label=record.placement.label,
        confidence=record.confidence,
        suggestion=record.suggestion,
        case_id=record.case_id,
        own_case_id=record.own_case_id,
        merged=record.case_id is not None and record.case_id != record.own_case_id,
        caller={"name": order.caller_name, "phone": order.caller_phone},
        content=order.content,
        signed_at=order.signed_at,
        contact_due_at=order.contact_due_at,
        contacted_at=order.contacted_at,
        handle_due_at=order.handle_due_at,
        replied_at=order.replied_at,
        result=order.result,
        return_reason=order.return_reason,
        warnings=order.warnings,
        flags=sorted(f.value for f in flags(order, now)),
        allowed_actions=[a.value for a in allowed_actions(order)],
    )


def detail(record: OrderRecord, now: datetime) -> OrderDetail:
    return OrderDetail(
        **render(record, now).model_dump(),
        events=[
            EventOut(
                action=e.action.value,
                label=e.action.label,
                at=e.at,
                actor=e.actor,
                from_status=e.from_status.value if e.from_status else None,
                to_status=e.to_status.value,
                note=e.note,
                data={k: _plain(v) for k, v in e.data.items()},
            )
            for e in record.order.events
        ],
    )


def _wgs84(lng: float, lat: float, crs: Crs) -> tuple[float, float]:
    check_position(lng, lat)
    return to_wgs84(lng, lat, crs)


def _check_times(received_from: datetime | None, received_to: datetime | None) -> None:
    for name, value in (("from", received_from), ("to", received_to)):
        if value is not None and (value.tzinfo is None or not 1900 <= value.year <= 2200):
            raise InvalidInput(
                "时间须带时区且在1900至2200年之间 / times need a UTC offset and a year from "
                "1900 to 2200",
                [Problem(("query", name), "e.g. 2020-06-01T00:00:00+08:00", "invalid")],
            )


def _actor(principal: Principal | None) -> str:
    who = signed_in(principal)
    return who.person_number or who.username


# --- the hotline's side -----------------------------------------------------------------------


@router.post(
    "/hotline/orders",
    response_model=OrderDetail,
    status_code=201,
    summary="接收12345工单 / Receive a 12345 hotline order (idempotent on its number)",
    responses={
        200: {"model": OrderDetail, "description": "the same order again: the same answer"},
        409: {"description": "the number was received with different content"},
        422: {"description": "what is wrong, naming the field"},
    },
)
def receive(platform: PlatformDep, principal: Hotline, body: OrderBody) -> JSONResponse:
    lng = lat = None
    if body.position is not None:
        lng, lat = _wgs84(body.position.lng, body.position.lat, body.position.crs)
    given = OrderIn(
        number=body.order_number,
        received_at=body.received_at,
        deadline=body.deadline,
        content=body.content,
        urgent=body.urgent,
        category=body.category,
        subclass=body.subclass,
        address=body.address,
        lng=lng,
        lat=lat,
        caller_name=body.caller.name,
        caller_phone=body.caller.phone,
    )
    result = receive_order(platform.uow(), platform.cases, given, _actor(principal))
    return JSONResponse(
        detail(result.record, platform.clock.now()).model_dump(mode="json"),
        status_code=201 if result.created else 200,
    )


@router.post(
    "/hotline/callbacks",
    response_model=OrderDetail,
    summary="回访结果 / The hotline's call-back: satisfied closes, dissatisfied makes a "
    "warning order",
    responses={409: {"description": "the order has no result to call back on"}},
)
def callback(platform: PlatformDep, principal: Hotline, body: CallbackBody) -> OrderDetail:
    params: dict[str, Any] = {
        "satisfied": body.satisfied,
        "note": body.note,
        "callback_id": body.callback_id,
    }
    if body.deadline is not None:
        params["deadline"] = body.deadline
    record = order_action(
        platform.uow(),
        platform.cases,
        body.order_number.strip(),
        OrderAction.CALLBACK,
        _actor(principal),
        params,
    )
    return detail(record, platform.clock.now())


# --- the command centre's hotline desk --------------------------------------------------------


@router.get(
    "/hotline/orders",
    response_model=OrderPage,
    summary="工单列表 / Hotline orders, filtered",
)
def orders(
    platform: PlatformDep,
    _: Desk,
    status: Annotated[list[OrderStatus] | None, Query()] = None,
    placement: Placement | None = None,
    received_from: Annotated[datetime | None, Query(alias="from")] = None,
    received_to: Annotated[datetime | None, Query(alias="to")] = None,
    q: Annotated[str | None, Query(max_length=100, description="number or address text")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OrderPage:
    _check_times(received_from, received_to)
    where = OrderFilter(
        status=tuple(s.value for s in status or ()),
        placement=placement.value if placement else None,
        received_from=received_from,
        received_to=received_to,
        text=q.strip() if q and q.strip() else None,
    )
    total, records = list_orders(platform.uow(), where, limit, offset)
    now = platform.clock.now()
    return OrderPage(total=total, items=[render(r, now) for r in records])


@router.get(
    "/hotline/placement-queue",
    response_model=list[OrderOut],
    summary="待定位工单 / Orders waiting to be placed on the map, oldest first",
)
def queue(platform: PlatformDep, _: Desk) -> list[OrderOut]:
    now = platform.clock.now()
    return [render(r, now) for r in placement_queue(platform.uow())]


@router.get(
    "/hotline/export.xlsx",
    response_class=Response,
    summary="导出工单 / Export the orders received in [from, to) as .xlsx",
    responses={200: {"content": {XLSX: {}}}},
)
def export_orders(
    platform: PlatformDep,
    _: Desk,
    received_from: Annotated[datetime | None, Query(alias="from")] = None,
    received_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    _check_times(received_from, received_to)
    records = orders_between(platform.uow(), received_from, received_to)
    return Response(
        orders_to_xlsx(records, platform.clock.now()),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="hotline-orders.xlsx"'},
    )


async def _workbook(file: UploadFile) -> bytes:
    data = await file.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise InvalidInput(
            "文件过大 / file too large",
            [Problem(("file",), "the workbook may be at most 10 MB", "size")],
        )
    return data


@router.post(
    "/hotline/import.xlsx",
    response_model=Imported,
    summary="导入工单表 / Receive the orders of an .xlsx (checked as a whole first)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_sheet(
    platform: PlatformDep,
    principal: Desk,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
) -> Imported:
    sheet, rows = orders_from_xlsx(await _workbook(file))
    done = import_orders(platform.uow(), platform.cases, rows, sheet, actor=_actor(principal))
    return Imported(created=done.created, unchanged=done.unchanged)


@router.get(
    "/hotline/orders/{number}",
    response_model=OrderDetail,
    summary="工单详情 / One order with its steps and lateness",
)
def order(platform: PlatformDep, _: Desk, number: NumberPath) -> OrderDetail:
    return detail(get_order(platform.uow(), number), platform.clock.now())


@router.post(
    "/hotline/orders/{number}/place",
    response_model=OrderDetail,
    summary="人工定位 / Place a waiting order on the map; its case is filed then",
    responses={409: {"description": "the order is already placed, or returned"}},
)
def place(
    platform: PlatformDep, principal: Desk, number: NumberPath, body: PlaceBody
) -> OrderDetail:
    lng, lat = _wgs84(body.lng, body.lat, body.crs)
    record = place_order(platform.uow(), platform.cases, number, lng, lat, _actor(principal))
    return detail(record, platform.clock.now())


@router.post(
    "/hotline/orders/{number}/{action}",
    response_model=OrderDetail,
    summary="办理工单 / Sign, contact the caller, report the result, record a call-back, or "
    "return the order",
    responses={
        409: {"description": "not allowed in the order's status; `detail` lists what is"},
        422: {"description": "a required reason or result is missing"},
    },
)
def take_action(
    platform: PlatformDep,
    principal: Desk,
    number: NumberPath,
    action: Literal["sign", "contact", "result", "callback", "return"],
    body: ActionBody | None = None,
) -> OrderDetail:
    given = body or ActionBody()
    params: dict[str, Any] = {
        "note": given.note,
        "result": given.result,
        "reason": given.reason,
    }
    if given.satisfied is not None:
        params["satisfied"] = given.satisfied
    if given.deadline is not None:
        params["deadline"] = given.deadline
    who = signed_in(principal)
    centre = who.person_number is not None and who.role in CENTRE_ROLES
    record = order_action(
        platform.uow(),
        platform.cases,
        number,
        OrderAction(action),
        _actor(principal),
        params,
        case_actor(who) if centre else None,
    )
    return detail(record, platform.clock.now())


# --- the gazetteer ----------------------------------------------------------------------------


class EntryIn(BaseModel):
    """A gazetteer entry: a road's number range (from ``position`` to ``end``), or a
    landmark, compound or shop at ``position``."""

    kind: EntryKind
    name: str = Field(min_length=1, max_length=100)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    position: PositionIn
    end: PositionIn | None = Field(None, description="roads: where the range ends")
    first: int = Field(0, ge=0, le=99_999, description="roads: the first house number")
    last: int = Field(0, ge=0, le=99_999, description="roads: the last house number")
    parity: Parity = Parity.ALL
    note: str = Field("", max_length=200)


class EntryOut(BaseModel):
    id: int
    kind: str
    kind_label: str
    name: str
    aliases: list[str]
    position: dict[str, float]
    end: dict[str, float] | None
    first: int
    last: int
    parity: str
    note: str


class ResolveOut(BaseModel):
    text: str
    found: bool
    position: dict[str, float] | None
    confidence: float | None
    entry_id: int | None
    entry_name: str | None
    how: str | None


class EntriesImported(BaseModel):
    added: int
    updated: int


def _entry(body: EntryIn, entry_id: int | None = None) -> GazetteerEntry:
    lng, lat = _wgs84(body.position.lng, body.position.lat, body.position.crs)
    end = _wgs84(body.end.lng, body.end.lat, body.end.crs) if body.end else None
    return GazetteerEntry(
        kind=body.kind,
        name=body.name.strip(),
        position=(lng, lat),
        aliases=tuple(a.strip() for a in body.aliases),
        end=end,
        first=body.first,
        last=body.last,
        parity=body.parity,
        note=body.note,
        id=entry_id,
    )


def entry_out(entry: GazetteerEntry) -> EntryOut:
    assert entry.id is not None
    return EntryOut(
        id=entry.id,
        kind=entry.kind.value,
        kind_label=entry.kind.label,
        name=entry.name,
        aliases=list(entry.aliases),
        position={"lng": entry.position[0], "lat": entry.position[1]},
        end={"lng": entry.end[0], "lat": entry.end[1]} if entry.end else None,
        first=entry.first,
        last=entry.last,
        parity=entry.parity.value,
        note=entry.note,
    )


EntryId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get(
    "/gazetteer",
    response_model=list[EntryOut],
    summary="地名地址库 / Gazetteer entries",
)
def entries(platform: PlatformDep, _: Desk, kind: EntryKind | None = None) -> list[EntryOut]:
    return [entry_out(e) for e in gazetteer_service.list_entries(platform.uow(), kind)]


@router.post(
    "/gazetteer",
    response_model=EntryOut,
    status_code=201,
    summary="新增地名 / Add a gazetteer entry",
    responses={409: {"description": "the same kind, name and range exists"}},
)
def add(platform: PlatformDep, _: Desk, body: EntryIn) -> EntryOut:
    return entry_out(gazetteer_service.add_entry(platform.uow(), platform.clock, _entry(body)))


@router.get(
    "/gazetteer/resolve",
    response_model=ResolveOut,
    summary="地址解析 / Where the gazetteer puts an address (and how sure it is)",
)
def resolve(
    platform: PlatformDep,
    _: Desk,
    text: Annotated[str, Query(min_length=1, max_length=200)],
) -> ResolveOut:
    found = gazetteer_service.best_match(platform.uow(), text)
    if found is None:
        return ResolveOut(
            text=text,
            found=False,
            position=None,
            confidence=None,
            entry_id=None,
            entry_name=None,
            how=None,
        )
    return ResolveOut(
        text=text,
        found=found.confidence >= gazetteer_service.MIN_CONFIDENCE,
        position={"lng": found.lng, "lat": found.lat},
        confidence=found.confidence,
        entry_id=found.entry_id,
        entry_name=found.entry_name,
        how=found.how,
    )


@router.get(
    "/gazetteer.xlsx",
    response_class=Response,
    summary="导出地名地址库 / Export the gazetteer (.xlsx)",
    responses={200: {"content": {XLSX: {}}}},
)
def export_entries(platform: PlatformDep, _: Desk) -> Response:
    return Response(
        entries_to_xlsx(gazetteer_service.list_entries(platform.uow())),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="gazetteer.xlsx"'},
    )


@router.post(
    "/gazetteer.xlsx",
    response_model=EntriesImported,
    summary="导入地名地址库 / Add or update entries from an .xlsx (all or nothing)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_entries(
    platform: PlatformDep,
    _: Desk,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
) -> EntriesImported:
    sheet, rows = entries_from_xlsx(await _workbook(file))
    added, updated = gazetteer_service.import_entries(platform.uow(), platform.clock, rows, sheet)
    return EntriesImported(added=added, updated=updated)


@router.get("/gazetteer/{entry_id}", response_model=EntryOut, summary="地名条目 / One entry")
def entry(platform: PlatformDep, _: Desk, entry_id: EntryId) -> EntryOut:
    return entry_out(gazetteer_service.get_entry(platform.uow(), entry_id))


@router.put("/gazetteer/{entry_id}", response_model=EntryOut, summary="修改地名 / Change an entry")
def change(platform: PlatformDep, _: Desk, entry_id: EntryId, body: EntryIn) -> EntryOut:
    return entry_out(
        gazetteer_service.update_entry(platform.uow(), platform.clock, _entry(body, entry_id))
    )


@router.delete(
    "/gazetteer/{entry_id}", status_code=204, response_class=Response, summary="删除地名 / Delete"
)
def delete(platform: PlatformDep, _: Desk, entry_id: EntryId) -> Response:
    gazetteer_service.delete_entry(platform.uow(), entry_id)
    return Response(status_code=204)
