"""The outbox for operators (发件箱): pending, failing and dead messages with their last
error, and replaying dead letters once the peer is back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from chengyun.domain.access import Permission, Principal
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.limits import MAX_ID, MAX_OFFSET
from chengyun.entrypoints.api.security import requires, signed_in
from chengyun.services.district_records import OutboxEntry
from chengyun.services.outbox_admin import list_messages, replay, replay_dead

router = APIRouter(tags=["outbox 发件箱"])
Manager = Annotated[Principal | None, Depends(requires(Permission.INTEGRATIONS_MANAGE))]


class OutboxItemOut(BaseModel):
    id: int
    topic: str = Field(description="what kind of message; its first segment picks the peer")
    recipient: str
    case_id: int | None
    state: str = Field(description="pending, failing, dead or delivered")
    attempts: int
    last_error: str
    created_at: datetime
    available_at: datetime = Field(description="when it is (or was) next tried")
    delivered_at: datetime | None
    payload: dict[str, Any]


class OutboxPageOut(BaseModel):
    total: int
    counts: dict[str, int] = Field(description="how many are dead, failing and pending")
    items: list[OutboxItemOut]


class ReplayedOut(BaseModel):
    replayed: int
    ids: list[int]


def item_out(entry: OutboxEntry) -> OutboxItemOut:
    return OutboxItemOut(
        id=entry.id,
        topic=entry.topic,
        recipient=entry.recipient,
        case_id=entry.case_id,
        state=entry.state,
        attempts=entry.attempts,
        last_error=entry.last_error,
        created_at=entry.created_at,
        available_at=entry.available_at,
        delivered_at=entry.delivered_at,
        payload=entry.payload,
    )


@router.get(
    "/outbox",
    response_model=OutboxPageOut,
    summary="发件箱 / Outbox messages by state (dead letters, failing, pending, delivered)",
)
def get_outbox(
    platform: PlatformDep,
    principal: Manager,
    state: Annotated[
        Literal["dead", "failing", "pending", "delivered"],
        Query(description="dead: gave up; failing: will retry; pending: not yet delivered"),
    ] = "dead",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> OutboxPageOut:
    found = list_messages(platform.uow(), state, limit, offset)
    return OutboxPageOut(
        total=found.total, counts=found.counts, items=[item_out(e) for e in found.items]
    )


@router.post(
    "/outbox/replay-dead",
    response_model=ReplayedOut,
    summary="重发全部死信 / Replay every dead letter (attempts reset, due now)",
)
def post_replay_dead(platform: PlatformDep, principal: Manager) -> ReplayedOut:
    ids = replay_dead(platform.uow(), platform.clock, signed_in(principal).username)
    return ReplayedOut(replayed=len(ids), ids=ids)


@router.post(
    "/outbox/{message_id}/replay",
    response_model=ReplayedOut,
    summary="重发 / Replay one undelivered message (attempts reset, due now)",
    responses={
        404: {"description": "no such message"},
        409: {"description": "it was delivered already"},
    },
)
def post_replay(
    platform: PlatformDep,
    principal: Manager,
    message_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> ReplayedOut:
    entry = replay(platform.uow(), platform.clock, signed_in(principal).username, message_id)
    return ReplayedOut(replayed=1, ids=[entry.id])
