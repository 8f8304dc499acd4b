"""Liveness and readiness: is the database reachable and its schema current?"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from chengyun.adapters.db.unit_of_work import Replica
from chengyun.domain.access import Permission
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires

router = APIRouter(tags=["health 健康检查"])


class Health(BaseModel):
    status: str
    database: str
    replica: str | None = None
    """With a read replica configured: ``ok``, or why its reads last found it down (it did
    not answer, or was too far behind the primary) — its screens then read from the
    primary, and the service is still ``ok``."""


@router.get(
    "/health",
    dependencies=[Depends(requires(Permission.PUBLIC))],
    response_model=Health,
    responses={503: {"model": Health, "description": "a dependency is down; the field says which"}},
    summary="服务健康 / Service health",
)
def health(platform: PlatformDep) -> JSONResponse:
    try:
        with platform.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver error means: not ready
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    answer = {"status": "ok", "database": "ok"}
    if platform.replica is not None:
        answer["replica"] = _replica(platform.replica)
    return JSONResponse(answer)


def _replica(replica: Replica) -> str:
    """The read replica as its reads last found it. Not asked here: a replica that does
    not answer would hold the check for its connection timeout, and a load balancer might
    then take this server out for a replica's outage, which its screens ride out."""
    if not replica.down:
        return "ok"
    return f"down ({replica.error}): reading from the primary / 副本不可用，改从主库读取"
