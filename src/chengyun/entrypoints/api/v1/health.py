"""Liveness and readiness: is the database reachable and its schema current?"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from chengyun.domain.access import Permission
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires
from chengyun.entrypoints.platform import Platform

router = APIRouter(tags=["health 健康检查"])


class Health(BaseModel):
    status: str
    database: str
    replica: str | None = None
    """With a read replica configured: ``ok``, or why it is down (it does not answer, or is
    too far behind the primary) — its screens then read from the primary, and the service
    is still ``ok``."""


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
        answer["replica"] = _replica(platform)
    return JSONResponse(answer)


def _replica(platform: Platform) -> str:
    """Whether the read replica answers; tried only when its reads would try it (not
    within ``read_replica_retry_seconds`` of finding it down)."""
    replica = platform.replica
    assert replica is not None
    if replica.worth_trying():
        try:
            with platform.read_engine.connect() as connection:
                if not replica.behind(connection):  # how far behind, when it is time to ask
                    connection.execute(sa.text("SELECT 1"))
                    replica.answered()
                    return "ok"
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            replica.failed(error)
    return f"down ({replica.error}): reading from the primary / 副本不可用，改从主库读取"
