"""Version 1 of the HTTP API, under ``/api/v1``."""

from fastapi import APIRouter

from chengyun.entrypoints.api.v1 import (
    assessment,
    auth,
    cases,
    coverage,
    district,
    duty,
    forces,
    health,
    hotline,
    measures,
    outbox,
    points,
    shops,
    taxonomy,
    territory,
    vision,
)

router = APIRouter(prefix="/api/v1")
for module in (
    health,
    auth,
    territory,
    forces,
    duty,
    cases,
    taxonomy,
    measures,
    assessment,
    coverage,
    points,
    # the integrations
    vision,
    hotline,
    district,
    outbox,
    shops,
):
    router.include_router(module.router)
