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
# cases first: a request is matched against the routes in this order (each costs a few
# microseconds), and intake, the case list and the case page are the busiest by far
for module in (
    cases,
    health,
    auth,
    territory,
    forces,
    duty,
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
