"""Video algorithms over HTTP (视频智能发现): alert intake (JSON or multipart with a
snapshot), the camera registry and scene mapping, verdicts and precision. Thin: parse,
call one service, render."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.index import check_position
from chengyun.adapters.photos import MAX_PHOTO_BYTES
from chengyun.adapters.spreadsheets.cameras_xlsx import cameras_from_xlsx, cameras_to_xlsx
from chengyun.domain.access import Permission, Principal
from chengyun.domain.cases import Actor
from chengyun.domain.errors import InvalidInput, Problem
from chengyun.domain.vision import (
    SOURCE,
    Alert,
    AlertEvent,
    AlertOutcome,
    Camera,
    PrecisionRow,
    SceneMapping,
    Verdict,
)
from chengyun.domain.working_time import as_china_time
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.errors import invalid_body
from chengyun.entrypoints.api.limits import MAX_ID, MAX_OFFSET
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.api.v1.cases import case_actor
from chengyun.entrypoints.platform import Platform
from chengyun.services import vision
from chengyun.services.records import CaseRecord, PhotoRecord
from chengyun.services.vision_store import AlertFilter

router = APIRouter(prefix="/vision", tags=["vision 视频智能发现"])
Algorithm = Annotated[Principal | None, Depends(requires(Permission.VISION_REPORT))]
Manager = Annotated[Principal | None, Depends(requires(Permission.INTEGRATIONS_MANAGE))]
Measures = Annotated[Principal | None, Depends(requires(Permission.MEASURES_READ))]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX_BYTES = 10 * 1024 * 1024
#: A base64 snapshot no larger than the photo limit once decoded.
MAX_BASE64 = (MAX_PHOTO_BYTES + 2) // 3 * 4 + 100
ALERT_FIELDS = ("source", "alert_id", "camera_id", "scene", "event", "occurred_at", "confidence")

Coordinate = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]


# --- models ----------------------------------------------------------------------------------


class AlertIn(BaseModel):
    """An alert from a video algorithm (JSON; in multipart the same fields as form fields
    and the snapshot as the file ``snapshot``)."""

    source: str = Field(
        min_length=1,
        max_length=40,
        pattern=SOURCE.pattern,
        description="算法来源 / the algorithm or its server, e.g. hik-ai",
    )
    alert_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$",
        description="告警编号 / the algorithm's own id of the alert: repeats are answered once",
    )
    camera_id: str = Field(min_length=1, max_length=64, description="摄像头编号 / camera id")
    scene: str = Field(
        min_length=1, max_length=40, description="场景代码 / scene code, e.g. street_vending"
    )
    event: AlertEvent = Field(
        AlertEvent.ALERT, description="alert 告警, or cleared 场景消除 (proposes closure)"
    )
    occurred_at: AwareDatetime = Field(description="when the algorithm saw it (with offset)")
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False, description="置信度 0..1")
    bbox: list[Coordinate] | None = Field(
        None,
        min_length=4,
        max_length=4,
        description="目标框 / bounding box [x, y, width, height] in snapshot pixels",
    )
    snapshot: str | None = Field(
        None,
        max_length=MAX_BASE64,
        description="抓拍图 / base64 JPEG, PNG or WebP (JSON only); required for an alert",
    )


class CaseRef(BaseModel):
    id: int
    number: str
    status: str
    status_label: str


class AlertOut(BaseModel):
    id: int
    source: str
    alert_id: str
    camera_id: str
    scene: str
    subclass: str
    event: str
    occurred_at: datetime
    received_at: datetime
    confidence: float
    bbox: list[float] | None
    outcome: str
    outcome_label: str
    case_id: int | None = Field(description="the case it opened or joined (or was merged into)")
    opened_case_id: int | None = Field(description="the case record this alert opened itself")
    snapshot_url: str | None
    case: CaseRef | None = None


class AlertPage(BaseModel):
    total: int
    items: list[AlertOut]


class CameraIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="名称 / name")
    lng: float = Field(allow_inf_nan=False, description="经度 longitude")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude")
    crs: Crs = Field(Crs.WGS84, description="wgs84, gcj02 or bd09")
    address: str = Field("", max_length=200)
    owner: str = Field("", max_length=100, description="权属单位 / who runs the camera")
    unit_code: str | None = Field(
        None, max_length=15, description="管理单元; empty: taken from the position"
    )
    active: bool = Field(
        True, description="停用的摄像头的告警被拒绝 / an inactive camera's alerts are refused"
    )


class CameraOut(BaseModel):
    camera_id: str
    name: str
    lng: float
    lat: float
    grid_code: str | None
    unit_code: str | None
    address: str
    owner: str
    active: bool


class CameraPage(BaseModel):
    total: int
    items: list[CameraOut]


class CamerasImported(BaseModel):
    cameras: int


class SceneIn(BaseModel):
    subclass: str = Field(min_length=5, max_length=5, description="小类代码 e.g. E0501")
    name_zh: str = Field(min_length=1, max_length=60)
    name_en: str = Field("", max_length=100)
    min_confidence: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    active: bool = True


class SceneOut(BaseModel):
    code: str
    subclass: str
    name_zh: str
    name_en: str
    min_confidence: float
    active: bool


class ScenePage(BaseModel):
    shipped: bool = Field(description="the shipped default mapping is in force")
    items: list[SceneOut]


class VerdictIn(BaseModel):
    note: str = Field("", max_length=500)


class VerdictOut(BaseModel):
    case_id: int
    verdict: str
    verdict_label: str
    actor: str
    at: datetime
    note: str
    case: CaseRef
    void_pending: bool = Field(description="a void request waits for an approver")


class PrecisionOut(BaseModel):
    source: str
    scene: str | None
    scene_name: str
    alerts: int
    cases: int
    confirmed: int
    false_alarms: int
    pending: int
    precision: float | None = Field(description="confirmed / (confirmed + false alarms)")


class PrecisionPage(BaseModel):
    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    scenes: list[PrecisionOut]
    algorithms: list[PrecisionOut]


# --- rendering -------------------------------------------------------------------------------


def _case_ref(record: CaseRecord | None) -> CaseRef | None:
    if record is None:
        return None
    case = record.case
    return CaseRef(
        id=record.id, number=case.number, status=case.status.value, status_label=case.status.label
    )


def alert_out(alert: Alert, record: CaseRecord | None = None) -> AlertOut:
    assert alert.id is not None
    holder = alert.opened_case_id or alert.case_id
    return AlertOut(
        id=alert.id,
        source=alert.source,
        alert_id=alert.alert_id,
        camera_id=alert.camera_id,
        scene=alert.scene,
        subclass=alert.subclass,
        event=alert.event.value,
        occurred_at=as_china_time(alert.occurred_at),
        received_at=as_china_time(alert.received_at),
        confidence=alert.confidence,
        bbox=list(alert.bbox) if alert.bbox else None,
        outcome=alert.outcome.value,
        outcome_label=alert.outcome.label,
        case_id=alert.case_id,
        opened_case_id=alert.opened_case_id,
        snapshot_url=f"/api/v1/cases/{holder}/photos/{alert.photo_id}"
        if alert.photo_id and holder
        else None,
        case=_case_ref(record),
    )


def camera_out(camera: Camera) -> CameraOut:
    return CameraOut(
        camera_id=camera.camera_id,
        name=camera.name,
        lng=camera.lng,
        lat=camera.lat,
        grid_code=camera.grid_code,
        unit_code=camera.unit_code,
        address=camera.address,
        owner=camera.owner,
        active=camera.active,
    )


def scene_out(mapping: SceneMapping) -> SceneOut:
    return SceneOut(
        code=mapping.code,
        subclass=mapping.subclass,
        name_zh=mapping.name_zh,
        name_en=mapping.name_en,
        min_confidence=mapping.min_confidence,
        active=mapping.active,
    )


def _who(principal: Principal | None) -> str:
    who = signed_in(principal)
    return who.person_number or who.username


# --- alert intake ----------------------------------------------------------------------------


def _decode(text: str) -> bytes:
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            "抓拍图不是有效的 base64 / the snapshot is not valid base64",
            [Problem(("body", "snapshot"), f"{exc}", "base64")],
        ) from exc


async def _read_alert(request: Request) -> tuple[AlertIn, bytes | None]:
    """The alert and its snapshot bytes from JSON or multipart."""
    content_type = request.headers.get("content-type", "")
    snapshot: bytes | None = None
    data: Any
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=2, max_fields=20) as form:
            data = {k: v for k, v in form.items() if isinstance(v, str) and k != "snapshot"}
            part = form.get("snapshot")
            if part is not None and not isinstance(part, str):
                snapshot = await part.read(MAX_PHOTO_BYTES + 1)
            elif isinstance(part, str) and part:
                snapshot = _decode(part)
        if isinstance(data.get("bbox"), str):
            text = data["bbox"].strip()
            # "[x, y, w, h]" or "x,y,w,h"; anything else the model refuses, naming bbox
            with contextlib.suppress(json.JSONDecodeError):
                data["bbox"] = json.loads(text) if text.startswith("[") else text.split(",")
            if text == "":
                data["bbox"] = None
    else:
        raw = await request.body()
        try:
            data = json.loads(raw or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RequestValidationError(
                [{"loc": ("body",), "msg": f"JSON decode error: {exc}", "type": "json_invalid"}]
            ) from exc
    try:
        alert = AlertIn.model_validate(data)
    except ValidationError as error:
        raise invalid_body(error) from error
    if snapshot is None and alert.snapshot:
        snapshot = _decode(alert.snapshot)
    return alert, snapshot


def _store_snapshot(platform: Platform, data: bytes) -> PhotoRecord:
    stored = platform.photos.save(data, "snapshot")
    return PhotoRecord(
        uuid.uuid4().hex, 0, stored.content_type, stored.size, stored.sha256, platform.clock.now()
    )


@router.post(
    "/alerts",
    status_code=201,
    response_model=AlertOut,
    summary="上报视频告警 / Post a video-algorithm alert (JSON with base64 snapshot, or "
    "multipart with the file `snapshot`)",
    responses={
        200: {"model": AlertOut, "description": "the same alert again (same source and id)"},
        409: {"description": "the alert id was already used for a different alert"},
        422: {"description": "what is wrong, naming the field (unknown camera_id, scene …)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/AlertIn"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [
                            "source",
                            "alert_id",
                            "camera_id",
                            "scene",
                            "occurred_at",
                            "confidence",
                        ],
                        "properties": {
                            **{name: {"type": "string"} for name in ALERT_FIELDS},
                            "bbox": {"type": "string", "description": "[x, y, width, height]"},
                            "snapshot": {"type": "string", "format": "binary"},
                        },
                    }
                },
            },
        }
    },
)
async def post_alert(request: Request, platform: PlatformDep, principal: Algorithm) -> JSONResponse:
    signed_in(principal)
    alert, snapshot = await _read_alert(request)
    if snapshot is None and alert.event is AlertEvent.ALERT:
        raise InvalidInput(
            "告警须附抓拍图 / an alert needs its snapshot",
            [
                Problem(
                    ("body", "snapshot"),
                    "base64 `snapshot` in JSON, or the file `snapshot` in multipart",
                    "missing",
                )
            ],
        )
    fields = alert.model_dump(mode="json", exclude={"snapshot"})
    # the same alert written another way (offset, letter case) is the same alert
    fields["occurred_at"] = alert.occurred_at.astimezone(UTC).isoformat()
    fields["scene"] = alert.scene.strip().lower()
    digest = hashlib.sha256(snapshot).hexdigest() if snapshot is not None else ""
    body_hash = hashlib.sha256(
        (json.dumps(fields, sort_keys=True) + "|" + digest).encode()
    ).hexdigest()
    stored = _store_snapshot(platform, snapshot) if snapshot is not None else None
    receipt = vision.receive_alert(
        platform.uow(),
        platform.cases,
        vision.AlertCommand(
            source=alert.source,
            alert_id=alert.alert_id,
            camera_id=alert.camera_id,
            scene=alert.scene,
            occurred_at=alert.occurred_at,
            confidence=alert.confidence,
            event=alert.event,
            bbox=(alert.bbox[0], alert.bbox[1], alert.bbox[2], alert.bbox[3])
            if alert.bbox
            else None,
            snapshot=stored,
        ),
        join_window=timedelta(minutes=platform.settings.vision_join_minutes),
        body_hash=body_hash,
    )
    body = alert_out(receipt.alert, receipt.case).model_dump(mode="json")
    return JSONResponse(
        body,
        status_code=201 if receipt.created else 200,
        headers={
            "Location": f"/api/v1/vision/alerts/{receipt.alert.id}",
            **({} if receipt.created else {"Idempotent-Replayed": "true"}),
        },
    )


# --- alerts: reading and verdicts ------------------------------------------------------------


@router.get("/alerts", response_model=AlertPage, summary="视频告警 / Alerts received, newest first")
def list_alerts(
    platform: PlatformDep,
    principal: Manager,
    source: Annotated[str | None, Query(max_length=40)] = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    scene: Annotated[str | None, Query(max_length=40)] = None,
    event: AlertEvent | None = None,
    outcome: AlertOutcome | None = None,
    case_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> AlertPage:
    where = AlertFilter(
        source=source,
        camera_id=camera_id,
        scene=scene.strip().lower() if scene else None,
        event=event,
        outcome=outcome,
        case_id=case_id,
        occurred_from=start,
        occurred_to=end,
    )
    total, found = vision.alerts(platform.uow(), where, limit, offset)
    return AlertPage(total=total, items=[alert_out(a) for a in found])


@router.get("/alerts/{id}", response_model=AlertOut, summary="一条告警 / One alert")
def get_alert(
    platform: PlatformDep, principal: Manager, id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> AlertOut:
    found = vision.alert(platform.uow(), id)
    record = None
    if found.case_id is not None:
        with platform.uow(reading=True) as uow:
            record = uow.cases.get(found.case_id)
    return alert_out(found, record)


def _verdict_out(judged: vision.Judged) -> VerdictOut:
    verdict = judged.verdict
    case = _case_ref(judged.case)
    assert case is not None
    return VerdictOut(
        case_id=verdict.case_id,
        verdict=verdict.verdict.value,
        verdict_label=verdict.verdict.label,
        actor=verdict.actor,
        at=as_china_time(verdict.at),
        note=verdict.note,
        case=case,
        void_pending=judged.case.case.void_pending is not None,
    )


def _judge_actor(principal: Principal | None, verdict: Verdict) -> Actor:
    who = signed_in(principal)
    if verdict is Verdict.FALSE_ALARM or who.person_number:
        return case_actor(who)  # voiding needs a person of the forces
    return Actor(who.username)


def _judge_alert(
    platform: Platform,
    principal: Principal | None,
    alert_id: int,
    verdict: Verdict,
    body: VerdictIn | None,
) -> VerdictOut:
    actor = _judge_actor(principal, verdict)
    note = body.note.strip() if body else ""
    return _verdict_out(
        vision.judge_alert(platform.uow(), platform.cases, alert_id, verdict, actor, note)
    )


@router.post(
    "/alerts/{id}/false-alarm",
    response_model=VerdictOut,
    summary="标记误报 / Mark the case of an alert a false alarm (requests voiding it)",
    responses={409: {"description": "the alert went to no case, or it was judged otherwise"}},
)
def false_alarm(
    platform: PlatformDep,
    principal: Manager,
    id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: VerdictIn | None = None,
) -> VerdictOut:
    return _judge_alert(platform, principal, id, Verdict.FALSE_ALARM, body)


@router.post(
    "/alerts/{id}/confirm",
    response_model=VerdictOut,
    summary="确认属实 / Confirm the case of an alert as real",
    responses={409: {"description": "the alert went to no case, or it was judged otherwise"}},
)
def confirm(
    platform: PlatformDep,
    principal: Manager,
    id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: VerdictIn | None = None,
) -> VerdictOut:
    return _judge_alert(platform, principal, id, Verdict.CONFIRMED, body)


@router.post(
    "/cases/{case_id}/verdict/{verdict}",
    response_model=VerdictOut,
    summary="研判案件 / Judge an algorithm-found case: confirmed or false_alarm",
    responses={409: {"description": "not an algorithm-found case, or judged otherwise"}},
)
def judge_case(
    platform: PlatformDep,
    principal: Manager,
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    verdict: Verdict,
    body: VerdictIn | None = None,
) -> VerdictOut:
    actor = _judge_actor(principal, verdict)
    note = body.note.strip() if body else ""
    return _verdict_out(
        vision.judge_case(platform.uow(), platform.cases, case_id, verdict, actor, note)
    )


# --- precision -------------------------------------------------------------------------------


def _precision_out(row: PrecisionRow, names: dict[str, SceneMapping]) -> PrecisionOut:
    mapping = names.get(row.scene or "")
    return PrecisionOut(
        source=row.source,
        scene=row.scene,
        scene_name=f"{mapping.name_zh} {mapping.name_en}".strip() if mapping else "",
        alerts=row.alerts,
        cases=row.cases,
        confirmed=row.confirmed,
        false_alarms=row.false_alarms,
        pending=row.pending,
        precision=row.precision,
    )


@router.get(
    "/precision",
    response_model=PrecisionPage,
    response_model_by_alias=True,
    summary="算法准确率 / Precision per algorithm and scene: confirmed / (confirmed + false "
    "alarms), for alerts that occurred in [from, to)",
)
def precision(
    platform: PlatformDep,
    principal: Measures,
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="default: 30 days before `to`")
    ] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="default: now")] = None,
) -> PrecisionPage:
    end = end or platform.clock.now() + timedelta(seconds=1)  # alerts of this very moment too
    start = start or end - timedelta(days=30)
    report = vision.precision_report(platform.uow(), start, end)
    return PrecisionPage(
        start=report.start,
        end=report.end,
        scenes=[_precision_out(r, report.names) for r in report.scenes],
        algorithms=[_precision_out(r, report.names) for r in report.algorithms],
    )


# --- cameras ---------------------------------------------------------------------------------


@router.get("/cameras", response_model=CameraPage, summary="摄像头台账 / The camera registry")
def list_cameras(platform: PlatformDep, principal: Manager) -> CameraPage:
    found = vision.cameras(platform.uow())
    return CameraPage(total=len(found), items=[camera_out(c) for c in found])


@router.get(
    "/cameras.xlsx",
    summary="导出摄像头台账 / Export the camera registry (.xlsx)",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
)
def export_cameras(
    platform: PlatformDep,
    principal: Manager,
    template: bool = Query(False, description="a blank template"),
) -> Response:
    found = [] if template else vision.cameras(platform.uow())
    return Response(
        cameras_to_xlsx(found),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="cameras.xlsx"'},
    )


@router.post(
    "/cameras.xlsx",
    response_model=CamerasImported,
    summary="导入摄像头台账 / Import cameras (.xlsx, all or nothing; same ids are updated)",
    responses={422: {"description": "every problem as sheet / row / column / message"}},
)
async def import_cameras(
    platform: PlatformDep,
    principal: Manager,
    file: Annotated[UploadFile, File(description="the .xlsx workbook")],
) -> CamerasImported:
    data = await file.read(MAX_XLSX_BYTES + 1)
    if len(data) > MAX_XLSX_BYTES:
        raise InvalidInput(
            "文件过大 / file too large",
            [Problem(("file",), "the workbook may be at most 10 MB", "size")],
        )
    rows = cameras_from_xlsx(data)
    count = vision.import_cameras(platform.uow(), platform.cases, rows, _who(principal))
    return CamerasImported(cameras=count)


CameraId = Annotated[str, Path(min_length=1, max_length=64, description="摄像头编号")]


@router.get("/cameras/{camera_id}", response_model=CameraOut, summary="一个摄像头 / One camera")
def get_camera(platform: PlatformDep, principal: Manager, camera_id: CameraId) -> CameraOut:
    return camera_out(vision.camera(platform.uow(), camera_id))


@router.put(
    "/cameras/{camera_id}",
    response_model=CameraOut,
    summary="登记或修改摄像头 / Register or change a camera (its grid and unit come from "
    "the position)",
)
def put_camera(
    platform: PlatformDep, principal: Manager, camera_id: CameraId, body: CameraIn
) -> CameraOut:
    check_position(body.lng, body.lat)
    lng, lat = to_wgs84(body.lng, body.lat, body.crs)
    saved = vision.save_camera(
        platform.uow(),
        platform.cases,
        Camera(
            camera_id=camera_id,
            name=body.name.strip(),
            lng=round(lng, 7),
            lat=round(lat, 7),
            unit_code=body.unit_code or None,
            address=body.address.strip(),
            owner=body.owner.strip(),
            active=body.active,
        ),
        _who(principal),
    )
    return camera_out(saved)


@router.delete(
    "/cameras/{camera_id}",
    status_code=204,
    response_class=Response,
    summary="删除摄像头 / Delete a camera that never alerted (else switch it off)",
    responses={409: {"description": "the camera has alerts: set active to false instead"}},
)
def delete_camera(platform: PlatformDep, principal: Manager, camera_id: CameraId) -> Response:
    vision.delete_camera(platform.uow(), platform.clock, camera_id, _who(principal))
    return Response(status_code=204)


# --- scenes ----------------------------------------------------------------------------------


@router.get("/scenes", response_model=ScenePage, summary="场景映射 / Scene code → subclass")
def list_scenes(platform: PlatformDep, principal: Manager) -> ScenePage:
    mappings, shipped = vision.scenes(platform.uow())
    return ScenePage(shipped=shipped, items=[scene_out(m) for m in mappings])


SceneCode = Annotated[str, Path(min_length=1, max_length=40, description="场景代码")]


@router.put(
    "/scenes/{code}",
    response_model=SceneOut,
    summary="设置场景映射 / Map a scene code to a subclass (threshold, on/off)",
)
def put_scene(
    platform: PlatformDep, principal: Manager, code: SceneCode, body: SceneIn
) -> SceneOut:
    saved = vision.save_scene(
        platform.uow(),
        platform.cases,
        SceneMapping(
            code=code,
            subclass=body.subclass.strip(),
            name_zh=body.name_zh.strip(),
            name_en=body.name_en.strip(),
            min_confidence=body.min_confidence,
            active=body.active,
        ),
        _who(principal),
    )
    return scene_out(saved)


@router.delete(
    "/scenes/{code}",
    status_code=204,
    response_class=Response,
    summary="删除场景映射 / Remove a scene mapping (its alerts are then refused)",
)
def delete_scene(platform: PlatformDep, principal: Manager, code: SceneCode) -> Response:
    vision.delete_scene(platform.uow(), platform.clock, code, _who(principal))
    return Response(status_code=204)
