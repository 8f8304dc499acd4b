"""Liveness and readiness: is the database reachable and its schema current?"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from chengyun.domain.access import Permission
from chengyun.entrypoints.api.deps import PlatformDep
from chengyun.entrypoints.api.security import requires

router = APIRouter(tags=["health 健康检查"])


class Health(BaseModel):
    status: str
    database: str


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
    return JSONResponse({"status": "ok", "database": "ok"})
