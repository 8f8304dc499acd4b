"""Cases over HTTP: intake from every channel, the list, one case with its timeline,
actions, photos. Thin: parse, call one service, render."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import to_json
from starlette.datastructures import UploadFile

from chengyun.adapters.calendar import warn_if_unknown
from chengyun.adapters.geo.crs import Crs, to_wgs84
from chengyun.adapters.geo.index import check_position
from chengyun.domain.access import (
    APPROVER_ROLES,
    CENTRE_ROLES,
    CaseView,
    Permission,
    Principal,
    ScopeKind,
    joint_departments,
    sees_case,
)
from chengyun.domain.cases import Action, Actor, Channel, allowed_actions
from chengyun.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from chengyun.domain.forces import Person
from chengyun.domain.points import normalise_phone
from chengyun.domain.taxonomy import Taxonomy
from chengyun.domain.territory import Territory
from chengyun.entrypoints.api.audit_trail import entry_for, written_with_change
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.errors import invalid_body
from chengyun.entrypoints.api.limits import MAX_ID, MAX_OFFSET
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform
from chengyun.services.accounts import AuditEntry
from chengyun.services.cases import (
    Report,
    ReportCommand,
    Reported,
    act,
    add_photos,
    request_hash,
    taxonomy_in_force,
)
from chengyun.services.points import citizen_in
from chengyun.services.records import (
    CaseFilter,
    CaseRecord,
    CaseSummary,
    DuplicateKey,
    PhotoRecord,
)
from chengyun.services.unit_of_work import UnitOfWork

router = APIRouter(tags=["cases 案件"])
Reporter = Annotated[Principal | None, Depends(requires(Permission.CASES_REPORT))]
Reader = Annotated[Principal | None, Depends(requires(Permission.CASES_READ))]
Worker = Annotated[Principal | None, Depends(requires(Permission.CASES_ACT))]
MAX_PHOTOS = 9


class PositionIn(BaseModel):
    lng: float = Field(allow_inf_nan=False, description="经度 longitude")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude")
    crs: Crs = Field(Crs.WGS84, description="wgs84, gcj02 (phones in China) or bd09")


class ComponentIn(BaseModel):
    object_code: str = Field("", max_length=16, description="部件标识码, 16 digits")
    owner: str = Field(
        "", max_length=100, description="权属/养护单位; a department routes the case"
    )


class CitizenIn(BaseModel):
    """The citizen behind a ``citizen_qr`` report, who earns points (积分) when it is
    registered."""

    phone: str = Field(max_length=20, description="11-digit mobile number")
    nickname: str | None = Field(None, max_length=40, description="shown masked")
    party_member: bool | None = Field(None, description="党员; omitted: keep what is stored")

    @field_validator("phone")
    @classmethod
    def _mobile(cls, value: str) -> str:
        try:
            return normalise_phone(value)
        except InvalidInput as error:
            raise ValueError(error.problems[0].message) from error


class CaseIn(BaseModel):
    """A report from any channel."""

    channel: Channel
    subclass: str = Field(max_length=5, description="taxonomy code, e.g. E0501")
    description: str = Field("", max_length=2000)
    position: PositionIn
    observed_at: datetime | None = Field(None, description="when it was found (with offset)")
    reporter: str | None = Field(None, max_length=64, description="person number (编号)")
    hazard: bool = Field(False, description="重大安全隐患 (components: makes the case urgent)")
    urgent: bool = Field(False, description="an urgent hotline order (紧急类工单)")
    address: str = Field("", max_length=200)
    component: ComponentIn | None = None
    due_at: datetime | None = Field(None, description="a hotline order's own deadline")
    self_handled: bool = Field(False, description="发现即处置: solved on the spot")
    citizen: CitizenIn | None = Field(None, description="citizen_qr only: who earns the points")


class Named(BaseModel):
    code: str
    name: str


class PersonRef(BaseModel):
    number: str
    name: str


class CaseOut(BaseModel):
    id: int
    number: str
    status: str
    status_label: str
    kind: str
    subclass: dict[str, str]
    channel: str
    urgency: str
    light: str
    grid: Named | None
    unit: Named | None
    areas: list[Named]
    position: dict[str, float] | None
    address: str
    description: str
    reporter: str | None
    reported_at: datetime
    assignee: PersonRef | None
    unassigned: bool
    escalation_level: str
    pre_launch: bool
    self_handled: bool
    deadlines: dict[str, datetime]
    version: int
    possible_duplicates: list[dict[str, Any]] = []
    dispatch_reason: str = ""


class EventOut(BaseModel):
    seq: int
    action: str
    label: str
    actor: str
    at: datetime
    from_status: str | None
    to_status: str
    note: str
    reason: str
    photos: list[str]
    position: dict[str, float] | None
    data: dict[str, Any]


class StageOut(BaseModel):
    stage: str
    label: str
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    done_at: datetime | None
    light: str


class NotificationOut(BaseModel):
    topic: str
    recipient: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    dead: bool
    last_error: str


class PhotoOut(BaseModel):
    id: str
    url: str
    content_type: str
    size: int


class CaseDetail(CaseOut):
    timeline: list[EventOut]
    stages: list[StageOut]
    notifications: list[NotificationOut]
    photos: list[PhotoOut]
    allowed_actions: list[str] = Field(description="what the signed-in person may do now")
    joint: dict[str, Any] | None = None
    agenda: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []


class CasePage(BaseModel):
    total: int
    items: list[CaseOut]


# --- rendering -------------------------------------------------------------------------------


class _Names:
    """Names for codes and numbers, gathered once per request."""

    def __init__(self, platform: Platform, taxonomy: Taxonomy, people: dict[str, Person]) -> None:
        self.grids, self.units, self.areas = _territory_names(platform)
        self.taxonomy = taxonomy
        self.people = people


_TerritoryNames = tuple[dict[str, str], dict[str, str], dict[str, str]]
#: The territory's names by code, kept with the index they were read from (a new index,
#: after an import, gets its own); one slot, so the index it holds is never reused.
_territory_names_of: tuple[object, _TerritoryNames] | None = None


def _territory_names(platform: Platform) -> _TerritoryNames:
    global _territory_names_of
    try:
        index = platform.territory_index.get()
    except InvalidInput:
        return {}, {}, {}
    held = _territory_names_of
    if held is not None and held[0] is index:
        return held[1]
    territory: Territory = index.territory
    names = (
        {g.code: g.name for g in territory.grids},
        {u.code: u.name for u in territory.units},
        {a.code: a.name for a in territory.areas},
    )
    _territory_names_of = (index, names)
    return names


def _fields(case: CaseSummary, names: _Names) -> dict[str, Any]:
    """``CaseOut``'s fields in its order, as plain values: for ``CaseDetail``, and as they
    are for the list (see ``list_cases``) and a new report's answer (``_take_report``)."""
    rule = names.taxonomy.get(case.subclass)
    person = names.people.get(case.assignee) if case.assignee else None
    return {
        "id": case.id,
        "number": case.number,
        "status": case.status.value,
        "status_label": case.status.label,
        "kind": case.kind.value,
        "subclass": {
            "code": case.subclass,
            "name_zh": rule.name_zh if rule else "",
            "name_en": rule.name_en if rule else "",
        },
        "channel": case.channel.value,
        "urgency": case.urgency.value,
        "light": case.light.value,
        "grid": {"code": case.grid_code, "name": names.grids.get(case.grid_code, "")}
        if case.grid_code
        else None,
        "unit": {"code": case.unit_code, "name": names.units.get(case.unit_code, "")}
        if case.unit_code
        else None,
        "areas": [{"code": a, "name": names.areas.get(a, "")} for a in case.area_codes],
        "position": {"lng": case.position[0], "lat": case.position[1]} if case.position else None,
        "address": case.address,
        "description": case.description,
        "reporter": case.reporter,
        "reported_at": case.reported_at,
        "assignee": {"number": case.assignee, "name": person.name if person else ""}
        if case.assignee
        else None,
        "unassigned": case.unassigned,
        "escalation_level": case.escalation_level.value,
        "pre_launch": case.pre_launch,
        "self_handled": case.self_handled,
        "deadlines": case.deadlines,
        "version": case.version,
        "possible_duplicates": list(case.possible_duplicates),
        "dispatch_reason": case.dispatch_reason,
    }


def _plain(value: Any) -> Any:
    from chengyun.adapters.db.case_repository import plain

    return plain(value)


def case_actor(principal: Principal) -> Actor:
    """The case-domain actor of a signed-in principal: the person, with the capabilities
    of their role."""
    number = principal.person_number
    if number is None:
        raise Forbidden(
            "此账号不是人员账号，不能办理案件 / this account is not a person's: sign in as a "
            "member of the forces to act on cases",
            [Problem(("account",), principal.username, "no_person")],
        )
    return Actor(
        number, centre=principal.role in CENTRE_ROLES, approver=principal.role in APPROVER_ROLES
    )


def view_of(record: CaseRecord) -> CaseView:
    case = record.case
    return CaseView(
        case.grid_code,
        case.unit_code,
        case.assignee,
        case.reporter,
        record.extra.get("responsible"),
        tuple(case.handlers),
        joint_departments(case.joint),
    )


def _visible(platform: Platform, principal: Principal, case_id: int) -> None:
    """Raises unless there is such a case and ``principal`` may see it (reading the few
    columns that decides, not the case with its events)."""
    with platform.uow(reading=True) as uow:
        view = uow.cases.view(case_id)
    _may_see(principal, case_id, view)


def _seen(principal: Principal, case_id: int, record: CaseRecord | None) -> CaseRecord:
    """The case, if there is one and ``principal`` may see it."""
    _may_see(principal, case_id, None if record is None else view_of(record))
    assert record is not None
    return record


def _may_see(principal: Principal, case_id: int, view: CaseView | None) -> None:
    if view is None:
        raise NotFound(f"没有编号为 {case_id} 的案件 / no case with id {case_id}")
    if not sees_case(principal, view):
        raise Forbidden(
            "不在您的范围内 / this case is outside your scope",
            [
                Problem(
                    ("case_id",),
                    f"{principal.role.en} of {principal.scope_kind.value} "
                    f"{principal.scope_code or ''}".strip(),
                    "scope",
                )
            ],
        )


def _visibility(principal: Principal) -> dict[str, Any]:
    if principal.scope_kind is ScopeKind.SUB_DISTRICT:
        return {}
    return {
        "visible_scope": (principal.scope_kind.value, principal.scope_code),
        "visible_person": principal.person_number,
    }


def case_detail(platform: Platform, principal: Principal, case_id: int) -> CaseDetail:
    """One case as its page shows it (``CaseDetail``)."""
    return CaseDetail.model_validate(_detail_values(platform, case_id, principal))


def _detail(platform: Platform, case_id: int, principal: Principal) -> Response:
    """``CaseDetail`` as plain values serialised as FastAPI would serialise the model (see
    ``list_cases``): building, re-validating and dumping the models of a case with its
    timeline cost about a tenth of the request."""
    values = _detail_values(platform, case_id, principal)
    return Response(to_json(values), media_type="application/json")


def _detail_values(platform: Platform, case_id: int, principal: Principal) -> dict[str, Any]:
    with platform.uow(reading=True) as uow:
        found, photos, deliveries = uow.cases.get_for_page(case_id) or (None, [], [])
        record = _seen(principal, case_id, found)
        taxonomy = taxonomy_in_force(uow, platform.cases)
        roster = uow.forces.roster()
        allowed: list[str] = []
        if principal.person_number and principal.may(Permission.CASES_ACT):
            allowed = [a.value for a in allowed_actions(record.case, case_actor(principal))]
        # nothing written: the unit of work ends with a COMMIT, not a ROLLBACK, which would
        # make psycopg forget the connection's prepared statements (and PostgreSQL parse and
        # plan every query of the next request again: about half a page's time)
    case = record.case
    people = {p.number: p for p in roster.people if p.number == case.assignee}
    names = _Names(platform, taxonomy, people)
    now = platform.clock.now()
    return {
        **_fields(CaseSummary.of(record), names),
        "timeline": [
            {
                "seq": e.seq,
                "action": e.action.value,
                "label": e.action.label,
                "actor": e.actor,
                "at": e.at,
                "from_status": e.from_status.value if e.from_status else None,
                "to_status": e.to_status.value,
                "note": e.note,
                "reason": e.reason,
                "photos": [f"/api/v1/cases/{case_id}/photos/{p}" for p in e.photos],
                "position": {"lng": e.position[0], "lat": e.position[1]} if e.position else None,
                "data": _plain(e.data),
            }
            for e in case.events
        ],
        "stages": [
            {
                "stage": s.value,
                "label": s.label,
                "started_at": c.deadline.started_at,
                "warn_at": c.deadline.warn_at,
                "due_at": c.deadline.due_at,
                "done_at": c.done_at,
                "light": c.deadline.light(c.done_at or now).value,
            }
            for s, c in record.clocks.stages.items()
        ],
        "notifications": [
            {
                "topic": d.topic,
                "recipient": d.recipient,
                "created_at": d.created_at,
                "delivered_at": d.delivered_at,
                "attempts": d.attempts,
                "dead": d.dead,
                "last_error": d.last_error,
            }
            for d in deliveries
        ],
        "photos": [photo_out(p, case_id).model_dump() for p in photos],
        "allowed_actions": allowed,
        "joint": _plain(case.joint),
        "agenda": _plain(case.agenda),
        "duplicates": _plain(case.duplicates),
    }


# --- intake ----------------------------------------------------------------------------------


def photo_out(photo: PhotoRecord, case_id: int) -> PhotoOut:
    return PhotoOut(
        id=photo.id,
        url=f"/api/v1/cases/{case_id}/photos/{photo.id}",
        content_type=photo.content_type,
        size=photo.size,
    )


async def _store_photos(
    platform: Platform, files: list[UploadFile], case_id: int
) -> list[PhotoRecord]:
    """Check, clean and store uploaded photos; their records (not yet attached)."""
    if len(files) > MAX_PHOTOS:
        raise InvalidInput(
            "照片过多 / too many photos",
            [Problem(("photos",), f"at most {MAX_PHOTOS} photos", "count")],
        )
    records = []
    for i, upload in enumerate(files):
        stored = platform.photos.save(await upload.read(), f"photos[{i}]")
        records.append(
            PhotoRecord(
                uuid.uuid4().hex,
                case_id,
                stored.content_type,
                stored.size,
                stored.sha256,
                platform.clock.now(),
            )
        )
    return records


async def _read_report(
    request: Request, platform: Platform
) -> tuple[CaseIn, list[tuple[str, PhotoRecord]], str]:
    """The report and its photos from JSON or multipart, and a hash of what was sent."""
    content_type = request.headers.get("content-type", "")
    uploads: list[tuple[str, PhotoRecord]] = []
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=MAX_PHOTOS + 2, max_fields=20) as form:
            part = form.get("case")
            raw = await part.read() if isinstance(part, UploadFile) else (part or "").encode()
            files = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
            stored = await _store_photos(platform, files, case_id=0)
            uploads = [(f.filename or "", p) for f, p in zip(files, stored, strict=True)]
            digests = [p.sha256 for p in stored]
        body_for_hash = raw + b"|" + ",".join(digests).encode()
    else:
        raw = await request.body()
        body_for_hash = raw
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"JSON decode error: {exc}", "type": "json_invalid"}]
        ) from exc
    try:
        report = CaseIn.model_validate(data)
    except ValidationError as error:
        raise invalid_body(error) from error
    if isinstance(data, dict):
        body_for_hash = json.dumps(data, sort_keys=True, ensure_ascii=False).encode() + (
            body_for_hash[len(raw) :] if uploads else b""
        )
    return report, uploads, request_hash(body_for_hash)


async def _take_report(
    platform: Platform,
    report: CaseIn,
    command: ReportCommand,
    idempotency_key: str | None,
    body_hash: str,
    audit: AuditEntry | None,
) -> tuple[Reported, bytes]:
    """The case the report makes (or the stored one, for a key seen before) and the
    answer's body (``CaseOut``'s fields as JSON, as the list gives them: pydantic's
    serializer without a model to build, on intake's every answer). The report is written
    by the process's group commit, with the citizen's record (a QR-code report's) in the
    case's transaction."""
    with_case = None
    citizen = report.citizen
    if citizen is not None and report.channel is Channel.CITIZEN_QR:
        clock = platform.clock

        def with_case(uow: UnitOfWork, command: ReportCommand) -> ReportCommand:
            found = citizen_in(uow, clock, citizen.phone, citizen.nickname, citizen.party_member)
            return replace(command, extra={**command.extra, "citizen_id": found.id})

    taken = Report(command, idempotency_key, body_hash, audit, with_case)
    try:
        result = await asyncio.wrap_future(platform.group_commit.submit(taken))
    except DuplicateKey:  # another process stored the key between look-up and insert
        result = await asyncio.wrap_future(platform.group_commit.submit(taken))
    taxonomy, assignee = result.taxonomy, result.assignee
    if taxonomy is None:  # the key was seen: the stored case, named as things stand now
        with platform.uow(reading=True) as uow:
            taxonomy = taxonomy_in_force(uow, platform.cases)
            assignee = uow.forces.get(result.record.case.assignee or "")
    names = _Names(platform, taxonomy, {assignee.number: assignee} if assignee else {})
    return result, to_json(_fields(CaseSummary.of(result.record), names))


#: The longest Idempotency-Key taken.
MAX_IDEMPOTENCY_KEY = 200


def _idempotency_key(request: Request) -> str | None:
    """The report's ``Idempotency-Key`` header, if sent (at most ``MAX_IDEMPOTENCY_KEY``
    characters)."""
    key = request.headers.get("idempotency-key")
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(
            f"Idempotency-Key 过长 / the Idempotency-Key is too long ({len(key)} characters)",
            [
                Problem(
                    ("header", "Idempotency-Key"),
                    f"at most {MAX_IDEMPOTENCY_KEY} characters",
                    "too_long",
                )
            ],
        )
    return key


def report_command(
    report: CaseIn, who: Principal, uploads: Sequence[tuple[str, PhotoRecord]] = ()
) -> tuple[CaseIn, ReportCommand]:
    """What ``POST /api/v1/cases`` asks of the case service for ``report`` sent by ``who``
    with its stored ``uploads``: the report as taken (a member reports as themself) and its
    command. Raises the 403 or 422 that says what to change."""
    if who.person_number:
        if (
            report.reporter
            and report.reporter != who.person_number
            and (who.role not in CENTRE_ROLES)
        ):
            raise Forbidden(
                "只能以本人名义上报 / you can only report as yourself",
                [
                    Problem(
                        ("body", "reporter"), f"leave it out or use {who.person_number}", "not_you"
                    )
                ],
            )
        report = report.model_copy(update={"reporter": report.reporter or who.person_number})
    check_position(report.position.lng, report.position.lat)
    lng, lat = to_wgs84(report.position.lng, report.position.lat, report.position.crs)
    ids = [p.id for _, p in uploads]
    before: tuple[str, ...]
    after: tuple[str, ...]
    photos: tuple[str, ...]
    if report.self_handled:
        # before/after photos: the first half before, the rest after (at least one each)
        half = max(1, len(ids) // 2)
        before, after, photos = tuple(ids[:half]), tuple(ids[half:]), ()
    else:
        before, after, photos = (), (), tuple(ids)
    if report.observed_at is not None and report.observed_at.tzinfo is None:
        raise InvalidInput(
            "时间须带时区 / observed_at needs a UTC offset",
            [
                Problem(
                    ("body", "observed_at"), "write it like 2020-06-24T09:30:00+08:00", "timezone"
                )
            ],
        )
    command = ReportCommand(
        channel=report.channel,
        subclass=report.subclass.strip().upper(),
        lng=lng,
        lat=lat,
        description=report.description,
        observed_at=report.observed_at,
        reporter=report.reporter,
        hazard=report.hazard,
        urgent=report.urgent,
        address=report.address,
        component=report.component.model_dump() if report.component else None,
        due_at=report.due_at,
        photos=photos,
        uploads=tuple(p for _, p in uploads),
        self_handled=report.self_handled,
        before_photos=before,
        after_photos=after,
        extra={
            "crs_in": report.position.crs.value,
            "position_in": [report.position.lng, report.position.lat],
        },
    )
    return report, command


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    summary="上报案件 / Report a case (any channel; JSON, or multipart with photos)",
    responses={
        200: {"model": CaseOut, "description": "the same Idempotency-Key and body again"},
        409: {"description": "the Idempotency-Key was used for a different report"},
        422: {"description": "what is wrong, naming the field"},
    },
    openapi_extra={
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY},
                "description": "client-chosen key; a retry returns the same case",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CaseIn"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["case"],
                        "properties": {
                            "case": {"type": "string", "description": "the CaseIn JSON"},
                            "photos": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                        },
                    }
                },
            },
        },
    },
)
async def create_case(request: Request, principal: Reporter) -> Response:
    # the platform and the Idempotency-Key are read here, not declared as parameters:
    # FastAPI solves each declared parameter on every request (its solving of a report's
    # took 250-280 µs with them, 150-190 without; in process, alternated runs)
    platform: Platform = request.app.state.platform
    idempotency_key = _idempotency_key(request)
    report, uploads, body_hash = await _read_report(request, platform)
    report, command = report_command(report, signed_in(principal), uploads)
    warn_if_unknown(platform.calendar, (report.observed_at or platform.clock.now()).date())
    # a new case's audit record is written in its transaction, not after it by the middleware
    audit = entry_for(request.scope, 201)
    result, body = await _take_report(platform, report, command, idempotency_key, body_hash, audit)
    if result.created:
        written_with_change(request)
    return Response(
        body,
        media_type="application/json",
        status_code=201 if result.created else 200,
        headers={
            "Location": f"/api/v1/cases/{result.record.id}",
            **({} if result.created else {"Idempotent-Replayed": "true"}),
        },
    )


# --- reading ---------------------------------------------------------------------------------


@router.get(
    "/cases",
    response_model=CasePage,
    summary="案件列表 / Cases, filtered and paged",
)
def list_cases(
    platform: PlatformDep,
    principal: Reader,
    status: Annotated[list[str] | None, Query(description="one or more statuses")] = None,
    open: Annotated[bool, Query(description="only open cases")] = False,
    grid: str | None = None,
    unit: str | None = None,
    area: str | None = None,
    urgency: str | None = None,
    channel: Channel | None = None,
    subclass: str | None = None,
    assignee: str | None = None,
    light: Annotated[str | None, Query(pattern="^(green|yellow|red)$")] = None,
    unassigned: bool | None = Query(None, description="the no-one-on-duty queue"),
    q: Annotated[
        str | None, Query(max_length=100, description="text in number, description or address")
    ] = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    where = CaseFilter(
        status=tuple(status or ()),
        grid_code=grid,
        unit_code=unit,
        area_code=area,
        urgency=urgency,
        channel=channel.value if channel else None,
        subclass=subclass,
        assignee=assignee,
        light=light,
        text=q,
        reported_from=reported_from,
        reported_to=reported_to,
        open_only=open,
        unassigned=unassigned,
        **_visibility(signed_in(principal)),
    )
    with platform.read_uow() as uow:
        total, cases = uow.cases.summaries(where, limit, offset)
        taxonomy = taxonomy_in_force(uow, platform.cases)
        roster = uow.forces.roster() if cases else None
    people = {p.number: p for p in roster.people} if roster else {}
    names = _Names(platform, taxonomy, people)
    # a ``CasePage`` made of plain values, serialised as FastAPI would serialise the model:
    # building and validating 50 models a page cost more than reading the page
    page = {"total": total, "items": [_fields(c, names) for c in cases]}
    return Response(to_json(page), media_type="application/json")


@router.get(
    "/cases/{case_id}",
    response_model=CaseDetail,
    summary="案件详情 / One case with its timeline, clocks, notifications and photos",
)
def get_case(
    platform: PlatformDep, principal: Reader, case_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    return _detail(platform, case_id, signed_in(principal))


@router.post(
    "/cases/{case_id}/actions/{action}",
    response_model=CaseDetail,
    summary="办理 / Take an action on a case",
    responses={
        409: {"description": "not allowed now or for this actor; `allowed` lists what is"},
        422: {"description": "a parameter is missing or wrong"},
    },
)
def take_action(
    platform: PlatformDep,
    principal: Worker,
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    action: Action,
    body: dict[str, Any] | None = None,
    if_match: Annotated[
        str | None, Header(alias="If-Match", description="the case version you saw")
    ] = None,
) -> Response:
    params = dict(body or {})
    if "position" in params and isinstance(params["position"], dict):
        position = PositionIn.model_validate(params["position"])
        check_position(position.lng, position.lat)
        params["position"] = to_wgs84(position.lng, position.lat, position.crs)
    expected = None
    if if_match:
        try:
            expected = int(if_match.strip('"W/ '))
        except ValueError as exc:
            raise InvalidInput(
                "If-Match 须为版本号 / If-Match must be a version number",
                [Problem(("header", "If-Match"), "e.g. 7", "format")],
            ) from exc
    who = signed_in(principal)
    act(
        platform.uow(),
        platform.cases,
        case_id,
        action,
        case_actor(who),
        params,
        expected,
        may_see=lambda record: _seen(who, case_id, record),
    )
    return _detail(platform, case_id, who)


class PhotosAdded(BaseModel):
    photos: list[PhotoOut]


@router.post(
    "/cases/{case_id}/photos",
    response_model=PhotosAdded,
    status_code=201,
    summary="追加照片 / Add photos to a case (then name them in an action)",
)
async def upload_photos(
    request: Request,
    platform: PlatformDep,
    principal: Worker,
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> PhotosAdded:
    _visible(platform, signed_in(principal), case_id)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput(
            "须以 multipart/form-data 上传 / send multipart/form-data",
            [Problem(("body",), "with one or more `photos` files", "format")],
        )
    async with request.form(max_files=MAX_PHOTOS + 1) as form:
        files = [f for f in form.getlist("photos") if isinstance(f, UploadFile)]
        if not files:
            raise InvalidInput(
                "没有照片 / no photos", [Problem(("photos",), "add `photos` files", "missing")]
            )
        records = await _store_photos(platform, files, case_id)
    attached = add_photos(platform.uow(), platform.clock, case_id, records)
    return PhotosAdded(photos=[photo_out(p, case_id) for p in attached])


@router.get(
    "/cases/{case_id}/photos/{photo_id}",
    response_class=Response,
    summary="照片 / A photo of a case",
)
def get_photo(
    platform: PlatformDep,
    principal: Reader,
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    photo_id: Annotated[str, Path(max_length=64)],
) -> FileResponse:
    # the case (whether it is the reader's to see) and the photo in one reading unit of work
    with platform.uow(reading=True) as uow:
        view = uow.cases.view(case_id)
        photo = uow.cases.photo(photo_id) if view is not None else None
    _may_see(signed_in(principal), case_id, view)
    if photo is None or photo.case_id != case_id:
        raise NotFound(f"没有这张照片 / no photo {photo_id} on case {case_id}")
    path = platform.photos.open(photo.sha256, photo.content_type)
    if not path.exists():
        raise NotFound(f"照片文件缺失 / the file of photo {photo_id} is missing")
    return FileResponse(path, media_type=photo.content_type)
