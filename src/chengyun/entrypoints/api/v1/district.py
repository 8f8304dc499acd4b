"""The district link over HTTP (区级平台对接): the one endpoint linked platforms post their
messages to, and sending a case down to a sub-district. Protocol:
docs/integrations/district.md."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from chengyun.adapters.geo.index import check_position
from chengyun.domain.access import CENTRE_ROLES, Permission, Principal
from chengyun.domain.errors import Forbidden, Problem
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.entrypoints.platform import Platform
from chengyun.services.district import (
    CaseContent,
    Incoming,
    LinkConfig,
    StatusContent,
    receive,
    send_down,
)

router = APIRouter(tags=["district 区平台对接"])
Exchanger = Annotated[Principal | None, Depends(requires(Permission.DISTRICT_EXCHANGE))]
Worker = Annotated[Principal | None, Depends(requires(Permission.CASES_ACT))]

MESSAGE_ID = r"^[0-9A-Za-z_.:\-]+$"
CODE = r"^[0-9A-Za-z_\-]+$"


class PositionIn(BaseModel):
    lng: float = Field(allow_inf_nan=False, description="经度 longitude (WGS-84)")
    lat: float = Field(allow_inf_nan=False, description="纬度 latitude (WGS-84)")
    crs: Literal["wgs84"] = Field("wgs84", description="always wgs84 on the district link")


class CaseIn(BaseModel):
    """The case of a ``case.up`` (escalated by a sub-district) or ``case.down`` (sent down
    by the district) message."""

    model_config = ConfigDict(extra="ignore")

    number: str = Field(
        min_length=1, max_length=64, description="the sender's case number: the reference"
    )
    subclass: str = Field(min_length=1, max_length=5, description="taxonomy code, e.g. E0102")
    kind: str = Field("", max_length=20, description="component or event (informative)")
    urgency: str = Field("", max_length=20, description="the sender's urgency (informative)")
    hazard: bool = Field(False, description="重大安全隐患")
    description: str = Field("", max_length=2000)
    address: str = Field("", max_length=200)
    position: PositionIn
    reported_at: AwareDatetime | None = Field(None, description="when the sender recorded it")
    deadlines: dict[str, AwareDatetime] = Field(
        default_factory=dict,
        max_length=10,
        description="the sender's open stage deadlines; on case.down, `handle` is binding",
    )
    reason: str = Field("", max_length=1000, description="why it is sent (escalation, note)")
    photos: list[Annotated[str, Field(max_length=500)]] = Field(
        default_factory=list, max_length=9, description="photo URLs, or omitted"
    )


class StatusIn(BaseModel):
    """The case of a ``status`` message: how a case the receiver sent stands at the sender."""

    model_config = ConfigDict(extra="ignore")

    reference: str = Field(
        min_length=1, max_length=64, description="the receiver's case number (as it sent it)"
    )
    number: str = Field(min_length=1, max_length=64, description="the sender's own case number")
    status: Literal["accepted", "handled", "closed", "returned"]
    result: str = Field("", max_length=2000, description="处置结果 / result, or why returned")
    at: AwareDatetime | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_id: str = Field(
        min_length=1, max_length=120, pattern=MESSAGE_ID, description="unique per sender"
    )
    sent_at: AwareDatetime
    sender: str = Field(
        alias="from",
        min_length=1,
        max_length=32,
        pattern=CODE,
        description="the sender's platform code (matches its account's scope code)",
    )


class CaseMessageIn(_Envelope):
    kind: Literal["case.up", "case.down"]
    case: CaseIn


class StatusMessageIn(_Envelope):
    kind: Literal["status"]
    case: StatusIn


MessageIn = Annotated[CaseMessageIn | StatusMessageIn, Field(discriminator="kind")]


class CaseRefOut(BaseModel):
    reference: str = Field(description="the receiver's case number")
    status: str = Field(description="the receiver's case status")


class AnswerOut(BaseModel):
    message_id: str
    kind: str
    received_at: str = Field(description="when it was first received (ISO 8601)")
    case: CaseRefOut
    note: str = ""


def link_config(platform: Platform) -> LinkConfig:
    settings = platform.settings
    return LinkConfig(
        settings.district_code,
        upstream=bool(settings.district_url),
        peers=frozenset(settings.district_peers),
    )


def _incoming(message: CaseMessageIn | StatusMessageIn) -> Incoming:
    content: CaseContent | StatusContent
    if isinstance(message, StatusMessageIn):
        s = message.case
        content = StatusContent(s.reference, s.number, s.status, s.result, s.at)
    else:
        c = message.case
        check_position(c.position.lng, c.position.lat)
        content = CaseContent(
            number=c.number,
            subclass=c.subclass,
            lng=c.position.lng,
            lat=c.position.lat,
            description=c.description,
            address=c.address,
            reported_at=c.reported_at,
            due_at=c.deadlines.get("handle"),
            hazard=c.hazard,
            reason=c.reason,
            photos=tuple(c.photos),
        )
    return Incoming(message.message_id, message.kind, message.sender, message.sent_at, content)


@router.post(
    "/district/messages",
    response_model=AnswerOut,
    summary="区平台消息 / A message from a linked platform (case.up, case.down, status)",
    responses={
        403: {"description": "the sender is not linked, or `from` is not this account's code"},
        404: {"description": "a status names a case this platform does not have"},
        409: {"description": "the message_id was used for another message"},
        422: {"description": "what is wrong, naming the field"},
    },
)
def post_message(platform: PlatformDep, principal: Exchanger, message: MessageIn) -> JSONResponse:
    """Idempotent on ``(from, message_id)``: a repeat answers exactly as the first time
    (with ``Idempotent-Replayed: true``) and changes nothing."""
    who = signed_in(principal)
    if not who.scope_code or who.scope_code != message.sender:
        raise Forbidden(
            f"账号 {who.username} 不能代表 {message.sender} / the account {who.username} does "
            f"not speak for {message.sender}: its scope code must be the sender's code",
            [Problem(("body", "from"), who.scope_code or "no scope code", "peer")],
        )
    answer = receive(platform.uow(), platform.cases, link_config(platform), _incoming(message))
    return JSONResponse(
        answer.body, headers={"Idempotent-Replayed": "true"} if answer.replayed else None
    )


class SendDownIn(BaseModel):
    to: str = Field(min_length=1, max_length=32, pattern=CODE, description="sub-district code")
    note: str = Field("", max_length=1000, description="what the sub-district should do")


class SentOut(BaseModel):
    message_id: str
    to: str


@router.post(
    "/district/cases/{case_id}/send-down",
    response_model=SentOut,
    status_code=202,
    summary="下派 / Send a case down to a sub-district (the district's command centre)",
    responses={
        403: {"description": "only the command centre sends cases down"},
        404: {"description": "no such case"},
        409: {"description": "closed, or already with that sub-district"},
        422: {"description": "an unknown sub-district"},
    },
)
def post_send_down(
    platform: PlatformDep,
    principal: Worker,
    case_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: SendDownIn,
) -> SentOut:
    who = signed_in(principal)
    if who.role not in CENTRE_ROLES:
        raise Forbidden(
            "仅城运中心可下派 / only the command centre sends cases down",
            [Problem(("role",), who.role.value, "not_centre")],
        )
    message_id = send_down(
        platform.uow(),
        platform.clock,
        link_config(platform),
        case_id,
        body.to,
        who.username,
        body.note,
    )
    return SentOut(message_id=message_id, to=body.to)
